-- A per-model or per-provider markup (the vars, or a what-if scenario) whose key names no model or provider of the
-- catalog would silently apply to nothing: a typo in `model_markup_percentage: {"openai/gpt4o": 20}` fails here.
{{ config(meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
{%- set keys = [] %}
{%- for policy in [pricing_policy()] + scenario_pricing_policies() %}
    {%- for key in policy['model_markup_percentage'] %}{% do keys.append((policy['name'], 'model', key)) %}{% endfor %}
    {%- for key in policy['provider_markup_percentage'] %}{% do keys.append((policy['name'], 'provider', key)) %}{% endfor %}
{%- endfor %}
with markup_keys as (
    {%- if keys %}
    select * from (values
        {%- for policy, kind, key in keys %}
        ('{{ policy }}', '{{ kind }}', '{{ key }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as markup_keys (policy, kind, markup_key)
    {%- else %}
    select cast(null as string) as policy, cast(null as string) as kind, cast(null as string) as markup_key
    where false
    {%- endif %}
),

catalog as (
    select * from {{ ref('model_catalog') }}
)

select *
from markup_keys
where (kind = 'model' and markup_key not in (select model from catalog))
    or (kind = 'provider' and markup_key not in (select provider from catalog))
