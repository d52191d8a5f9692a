{#-
    The pricing steps of docs/pricing-rules.md as per-row SQL expressions, shared by the real pricing
    (int_requests_priced, int_requests_trial_applied, int_requests_charged) and the what-if scenarios
    (pricing_scenario_comparison). Each macro reads columns of the row by their standard names; the knobs are
    passed in as SQL expressions (a literal from a policy, or a column of a scenario row).
-#}

{#- Step 3: the provider's cost. The cached part of the prompt is priced at the cache-read price, cache writes at
    the cache-write price, the rest of the prompt at the input price (a missing cache price means the input price);
    reasoning tokens are part of the output, priced at the reasoning price where the model has one, else as output.
    Every token is counted once. Exact: prices have at most 6 decimals, so the sum x 1e-6 has at most 12. -#}
{% macro provider_cost_usd_expr() -%}
    case
        when not is_billed then cast(0 as decimal(38, 12))
        when has_price then cast(
            (
                (input_tokens - coalesce(cached_tokens, 0) - coalesce(cache_creation_tokens, 0))
                    * input_price_per_1m_usd
                + coalesce(cached_tokens, 0) * coalesce(cache_read_price_per_1m_usd, input_price_per_1m_usd)
                + coalesce(cache_creation_tokens, 0) * coalesce(cache_write_price_per_1m_usd, input_price_per_1m_usd)
                + (output_tokens - coalesce(reasoning_tokens, 0)) * output_price_per_1m_usd
                + coalesce(reasoning_tokens, 0) * coalesce(reasoning_price_per_1m_usd, output_price_per_1m_usd)
            ) * cast(0.000001 as decimal(7, 6))
            as decimal(38, 12)
        )
    end
{%- endmacro %}

{#- Step 4: the user's trial allowance (0 when not eligible), then the request's trial tokens. Needs the columns
    is_trial_eligible and trial_tokens_before (the user's running sum of earlier billed, priced tokens). -#}
{% macro trial_allowance_expr(free_trial_tokens) -%}
    (case when is_trial_eligible then {{ free_trial_tokens }} else 0 end)
{%- endmacro %}

{% macro trial_tokens_expr(free_trial_tokens) -%}
    cast(case
        when is_billed and has_price
            then least(total_tokens, greatest(0, {{ trial_allowance_expr(free_trial_tokens) }} - trial_tokens_before))
        else 0
    end as bigint)
{%- endmacro %}

{#- Needs the column trial_tokens. -#}
{% macro chargeable_tokens_expr() -%}
    cast(case when is_billed and has_price then total_tokens - trial_tokens else 0 end as bigint)
{%- endmacro %}

{% macro is_trial_covered_expr(free_trial_tokens) -%}
    (is_billed and has_price
        and trial_tokens_before < {{ trial_allowance_expr(free_trial_tokens) }}
        and total_tokens - trial_tokens = 0)
{%- endmacro %}

{#- The markup of a request as (100 + percent) x 10,000: the model's markup, else its provider's, else the global
    one (a policy from pricing_policy() or scenario_pricing_policies()). -#}
{% macro markup_factor_expr(policy, provider_column='provider', model_column='model') -%}
    {%- set models = policy['model_markup_percentage'] -%}
    {%- set providers = policy['provider_markup_percentage'] -%}
    {%- set default = markup_factor_units(policy['markup_percentage']) -%}
    {%- if not models and not providers -%}
        {{ default }}
    {%- else -%}
        (case
        {%- for key in models | sort %}
            when {{ model_column }} = '{{ key }}' then {{ markup_factor_units(models[key]) }}
        {%- endfor %}
        {%- for key in providers | sort %}
            when {{ provider_column }} = '{{ key }}' then {{ markup_factor_units(providers[key]) }}
        {%- endfor %}
            else {{ default }}
        end)
    {%- endif -%}
{%- endmacro %}

{#- Steps 5 and 7 before the minimum, in integer pico-dollars rounded half to even. The cost marked up, x 1e6:
    needs provider_cost_usd. -#}
{% macro marked_up_units_x1e6_expr(markup_factor) -%}
    ({{ usd_to_units('provider_cost_usd') }} * {{ markup_factor }})
{%- endmacro %}

{#- Needs the column marked_up_units_x1e6. -#}
{% macro list_units_expr() -%}
    {{ divide_half_even('marked_up_units_x1e6', '1000000') }}
{%- endmacro %}

{#- The charge for the chargeable share of the tokens (the whole when total_tokens is 0). Needs the columns
    marked_up_units_x1e6, chargeable_tokens and total_tokens. -#}
{% macro charge_units_expr() -%}
    {{ divide_half_even(
        'marked_up_units_x1e6 * (case when total_tokens = 0 then 1 else chargeable_tokens end)',
        'cast(1000000 as hugeint) * (case when total_tokens = 0 then 1 else total_tokens end)') }}
{%- endmacro %}

{#- Step 5: needs is_billed, has_price, is_trial_covered and charge_units. -#}
{% macro user_charge_usd_expr(minimum_charge) -%}
    case
        when not is_billed then cast(0 as decimal(38, 12))
        when not has_price then null
        when is_trial_covered then cast(0 as decimal(38, 12))
        else greatest({{ units_to_usd('charge_units') }}, {{ minimum_charge }})
    end
{%- endmacro %}

{#- Step 7: needs is_billed, has_price and list_units. -#}
{% macro list_charge_usd_expr(minimum_charge) -%}
    case
        when not is_billed then cast(0 as decimal(38, 12))
        when not has_price then null
        else greatest({{ units_to_usd('list_units') }}, {{ minimum_charge }})
    end
{%- endmacro %}

{#- A billed request that pays the minimum because its marked-up charge is below it. -#}
{% macro hits_minimum_charge_expr(minimum_charge) -%}
    coalesce(is_billed and has_price and not is_trial_covered
        and {{ units_to_usd('charge_units') }} < {{ minimum_charge }}, false)
{%- endmacro %}

{#- The `date` of the daily marts: the day of a UTC timestamp in `reporting_timezone` (default UTC). -#}
{% macro reporting_date(column) -%}
    {%- set zone = reporting_timezone() -%}
    {%- if zone == 'UTC' -%}
        cast({{ column }} as date)
    {%- else -%}
        cast(({{ column }} at time zone 'UTC') at time zone '{{ zone }}' as date)
    {%- endif -%}
{%- endmacro %}
