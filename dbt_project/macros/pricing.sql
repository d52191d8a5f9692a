{#-
    The pricing steps of docs/pricing-rules.md as per-row SQL expressions, shared by the real pricing
    (int_requests_priced, int_requests_trial_applied, int_requests_charged) and the what-if scenarios
    (pricing_scenario_comparison). Each macro reads columns of the row by their standard names; the knobs are
    passed in as SQL expressions (a literal from a policy, or a column of a scenario row).
-#}

{#- Step 3: the provider's cost. Each token goes to the most specific price the row has (a missing price means the
    parent's): cached input at the cache-read price (else input); cache writes with a 1-hour lifetime at the 1h
    cache-write price (else the cache-write price, else input); other cache writes at the cache-write price (else
    input); the rest of the prompt at the input price; reasoning tokens at the reasoning price (else output), the rest
    of the output at the output price. Every token is counted once. Exact: the sum of tokens x price (a price has at
    most 12 decimals) is taken in integer units of 1e-18 USD, then divided by 1e6 to pico-dollars rounded half to
    even (a price with at most 6 decimals, as every price of the catalog today, divides exactly). The expression
    below is that sum in 1e-18 USD; it needs the columns *_units: each price of the row already as price_units()
    (effective price: the parent's where the row has none), computed once per catalog row. -#}
{% macro provider_cost_x1e18_expr() -%}
    {{ provider_cost_sum_expr('units') }}
{%- endmacro %}

{#- The same sum over the row's price columns *_<suffix> (units: 1e-12 USD per 1M tokens, the sum in 1e-18 USD;
    micro: 1e-6 USD per 1M tokens, the sum in pico-dollars). -#}
{% macro provider_cost_sum_expr(suffix) -%}
    (input_tokens - coalesce(cached_tokens, 0) - coalesce(cache_creation_tokens, 0)) * input_{{ suffix }}
        + coalesce(cached_tokens, 0) * cache_read_{{ suffix }}
        + (coalesce(cache_creation_tokens, 0) - coalesce(cache_creation_1h_tokens, 0)) * cache_write_{{ suffix }}
        + coalesce(cache_creation_1h_tokens, 0) * cache_write_1h_{{ suffix }}
        + (output_tokens - coalesce(reasoning_tokens, 0)) * output_{{ suffix }}
        + coalesce(reasoning_tokens, 0) * reasoning_{{ suffix }}
{%- endmacro %}

{#- Step 3 in USD (DECIMAL(38,12)), for a billed request with a catalog row: the sum above in 1e-18 USD divided by
    1e6, rounded half to even. Speed: when every price of the row has at most 6 decimals (is_micro_priced: the
    row's *_micro prices, BIGINT micro-dollars per 1M tokens, divide exactly) and every token count lies in
    [0, 1e9], the cost in pico-dollars is the sum of tokens x micro-price, exact in 64-bit integers (below
    8e18 with prices up to $1,000 per 1M tokens) and needing no division: the same integer, many times faster than
    the 128-bit sum and its division (almost every request). Needs the columns of catalog_price_units. -#}
{% macro provider_cost_usd_expr() -%}
    case
        when is_micro_priced
            and input_tokens between 0 and 1000000000 and output_tokens between 0 and 1000000000
            and coalesce(cached_tokens, 0) between 0 and 1000000000
            and coalesce(cache_creation_tokens, 0) between 0 and 1000000000
            and coalesce(cache_creation_1h_tokens, 0) between 0 and 1000000000
            and coalesce(reasoning_tokens, 0) between 0 and 1000000000
            then {{ units_to_usd(provider_cost_sum_expr('micro')) }}
        else {{ units_to_usd(divide_half_even(provider_cost_sum_expr('units'), 'cast(1000000 as ' ~ int128() ~ ')')) }}
    end
{%- endmacro %}

{#- A price in units (price_units) as BIGINT micro-dollars per 1M tokens, when it has at most 6 decimals and lies in
    [0, $1,000] per 1M tokens; else null (the row is then priced with 128-bit integers). -#}
{% macro price_micro(units) -%}
    case when {{ units }} % 1000000 = 0 and {{ units }} between 0 and 1000000000000000
        then cast({{ floor_div(units, '1000000') }} as bigint) end
{%- endmacro %}

{#- A price per 1M tokens (at most 12 decimals) as an exact HUGEINT count of 1e-12 USD. -#}
{% macro price_units(expr) -%}
    cast(cast({{ expr }} as decimal(38, 12)) * 1000000000000 as {{ int128() }})
{%- endmacro %}

{#- The request's time (a UTC timestamp) lies in the time-of-day window [start, end) in `zone`; a window whose end is
    earlier than its start wraps past midnight. -#}
{% macro in_time_window(utc_column, start_column, end_column, zone_column) -%}
    {%- set local_time = "cast(" ~ utc_to_local(utc_column, zone_column) ~ " as time)" -%}
    (case
        when {{ start_column }} <= {{ end_column }}
            then {{ local_time }} >= {{ start_column }} and {{ local_time }} < {{ end_column }}
        else {{ local_time }} >= {{ start_column }} or {{ local_time }} < {{ end_column }}
    end)
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
    needs provider_cost_units (usd_to_units of provider_cost_usd) and the markup factor. -#}
{% macro marked_up_units_x1e6_expr(markup_factor) -%}
    (provider_cost_units * {{ markup_factor }})
{%- endmacro %}

{#- Below this cost in pico-dollars ($0.4194304) the cost marked up (factor at most 11,000,000, markup 1000%) and
    twice any remainder fit in a BIGINT: such a request (almost every one) is rounded with 64-bit integers, the
    others with HUGEINTs. Same integers, same result; 64-bit division is many times faster. -#}
{% macro small_cost_units() -%}419430400000{%- endmacro %}

{#- Needs the columns provider_cost_units, markup_factor_units and marked_up_units_x1e6. -#}
{% macro list_units_expr() -%}
    case
        when provider_cost_units < {{ small_cost_units() }}
            then {{ divide_half_even('cast(provider_cost_units as bigint) * markup_factor_units', '1000000') }}
        else {{ divide_half_even('marked_up_units_x1e6', '1000000') }}
    end
{%- endmacro %}

{#- The charge for the chargeable share of the tokens (the whole when total_tokens is 0). Needs the columns of
    list_units_expr, chargeable_tokens and total_tokens. When every token is chargeable (most requests: the trial is
    used up) the share is 1 and the charge is the list amount, marked_up / 1e6, with the same rounding: that
    division is taken instead of the general one (same rational number, same result). -#}
{% macro charge_units_expr() -%}
    case
        when total_tokens = 0 or chargeable_tokens = total_tokens
            then {{ list_units_expr() | indent(12) }}
        else {{ divide_half_even(
            'marked_up_units_x1e6 * chargeable_tokens', 'cast(1000000 as ' ~ int128() ~ ') * total_tokens') }}
    end
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
        cast({{ utc_to_local(column, "'" ~ zone ~ "'") }} as date)
    {%- endif -%}
{%- endmacro %}

{#- Every pricing policy as a row of int_pricing_policy_daily: the current pricing (the vars), named
    `(current pricing)` (a scenario name is a lower-case id, so none can take it), then each what-if scenario. -#}
{% macro pricing_policies() -%}
    {%- set current = pricing_policy() -%}
    {%- do current.update({'name': '(current pricing)'}) -%}
    {%- do return([current] + scenario_pricing_policies()) -%}
{%- endmacro %}

{#- The distinct sets of knobs among `policies` (pricing_policies()): policies with the same knobs (the current pricing
    and the default scenario `current`) are priced once. Returns {knob_sets: one policy per distinct set, in order of
    first use; policy_sets: each policy's set (index into knob_sets); markups: (set, 'model' or 'provider', key,
    markup factor units) for every per-model and per-provider markup of each set}. -#}
{% macro policy_knob_sets(policies) -%}
    {%- set knob_sets = [] -%}
    {%- set knob_keys = [] -%}
    {%- set policy_sets = [] -%}
    {%- for policy in policies -%}
        {%- set key = tojson({'markup': policy['markup_percentage'], 'provider': policy['provider_markup_percentage'],
                              'model': policy['model_markup_percentage'], 'minimum': policy['minimum_charge_usd'],
                              'trial': policy['free_trial_tokens']}, sort_keys=true) -%}
        {%- if key not in knob_keys -%}
            {%- do knob_keys.append(key) -%}
            {%- do knob_sets.append(policy) -%}
        {%- endif -%}
        {%- do policy_sets.append(knob_keys.index(key)) -%}
    {%- endfor -%}
    {%- set markups = [] -%}
    {%- for policy in knob_sets -%}
        {%- set knob_set = loop.index0 -%}
        {%- for key in policy['model_markup_percentage'] | sort -%}
            {%- do markups.append((knob_set, 'model', key, markup_factor_units(policy['model_markup_percentage'][key]))) -%}
        {%- endfor -%}
        {%- for key in policy['provider_markup_percentage'] | sort -%}
            {%- do markups.append((knob_set, 'provider', key,
                                   markup_factor_units(policy['provider_markup_percentage'][key]))) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do return({'knob_sets': knob_sets, 'policy_sets': policy_sets, 'markups': markups}) -%}
{%- endmacro %}

{#- The rows of the catalog (`catalog`) with their prices as exact integer units (price_units: the effective price,
    the parent's where the row has none) and, where they divide exactly, as BIGINT micro-dollars (*_micro, all six:
    is_micro_priced; see provider_cost_usd_expr), computed once per catalog row, not per request, and each row's
    number `price_cell`. -#}
{% macro catalog_price_units(catalog) -%}
{%- set prices = {
    'input': 'input_price_per_1m_usd',
    'output': 'output_price_per_1m_usd',
    'cache_read': 'coalesce(cache_read_price_per_1m_usd, input_price_per_1m_usd)',
    'cache_write': 'coalesce(cache_write_price_per_1m_usd, input_price_per_1m_usd)',
    'cache_write_1h': 'coalesce(cache_write_1h_price_per_1m_usd, cache_write_price_per_1m_usd, input_price_per_1m_usd)',
    'reasoning': 'coalesce(reasoning_price_per_1m_usd, output_price_per_1m_usd)',
} -%}
select
    *,
    {%- for name in prices %}
    {{ price_micro(name ~ '_units') }} as {{ name }}_micro,
    {%- endfor %}
    {% for name in prices %}{{ name }}_micro is not null{{ ' and ' if not loop.last }}{% endfor %} as is_micro_priced
from (
    select
        *,
        -- a row's rank for a request: its own service tier before `any`, then the highest long-context tier
        row_number() over (order by model, valid_from, service_tier, window_start, input_tokens_above) as price_cell,
        {%- for name, expr in prices.items() %}
        {{ price_units(expr) }} as {{ name }}_units{{ "," if not loop.last }}
        {%- endfor %}
    from {{ catalog }}
) as priced_rows
{%- endmacro %}

{#- Steps 4 to 7 under knob sets (policy_knob_sets()): CTEs over `requests` (the name of a CTE of request rows with
    provider_cost_usd, is_billed, has_price, total_tokens, model, provider, is_trial_eligible and
    trial_tokens_before), the last one `policy_charged`: one row per request and set (`knob_set`, 0 the first), with
    its trial tokens and charges in pico-dollars and in USD. The one pricing path: int_requests_policy_charged prices
    every set with it, int_requests_trial_applied the current pricing (one set), stored. Charges are rounded half to
    even on integer pico-dollars (money.sql). -#}
{% macro policy_charged_ctes(requests, sets) -%}
{%- set knob_sets, markups = sets['knob_sets'], sets['markups'] -%}
costed as (
    -- the cost in integer pico-dollars once per request, before the knob sets multiply the rows
    select
        *,
        {{ usd_to_units('provider_cost_usd') }} as provider_cost_units
    from {{ requests }}
),

knob_sets as (
    select * from (values
        {%- for policy in knob_sets %}
        ({{ loop.index0 }}, {{ markup_factor_units(policy['markup_percentage']) }},
         {{ usd_to_units(minimum_charge_usd(policy['minimum_charge_usd'], 'pricing_scenarios.' ~ policy['name'])) }},
         cast({{ policy['free_trial_tokens'] }} as bigint)){{ "," if not loop.last }}
        {%- endfor %}
    ) as knob_sets (knob_set, set_markup_factor_units, set_minimum_units, set_free_trial_tokens)
),
{%- if markups %}

policy_markups as (
    -- per-model and per-provider markups of each set: the model's wins over the provider's over the set's own
    select * from (values
        {%- for name, kind, key, factor in markups %}
        ({{ name }}, '{{ kind }}', '{{ key }}', {{ factor }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as policy_markups (knob_set, kind, markup_key, markup_factor_units)
),
{%- endif %}

policy_requests as (
    select
        costed.*,
        knob_sets.*,
        {%- if markups %}
        coalesce(model_markups.markup_factor_units, provider_markups.markup_factor_units,
                 knob_sets.set_markup_factor_units) as markup_factor_units,
        {%- else %}
        knob_sets.set_markup_factor_units as markup_factor_units,
        {%- endif %}
        {{ trial_tokens_expr('knob_sets.set_free_trial_tokens') }} as trial_tokens
    from costed
    cross join knob_sets
    {%- if markups %}
    left join policy_markups as model_markups
        on model_markups.kind = 'model' and model_markups.knob_set = knob_sets.knob_set
        and model_markups.markup_key = costed.model
    left join policy_markups as provider_markups
        on provider_markups.kind = 'provider' and provider_markups.knob_set = knob_sets.knob_set
        and provider_markups.markup_key = costed.provider
    {%- endif %}
),

policy_trial as (
    select
        *,
        {{ chargeable_tokens_expr() }} as chargeable_tokens,
        {{ is_trial_covered_expr('set_free_trial_tokens') }} as is_trial_covered,
        {{ marked_up_units_x1e6_expr('markup_factor_units') }} as marked_up_units_x1e6
    from policy_requests
),

policy_rounded as (
    select
        *,
        {{ list_units_expr() }} as list_units,
        {{ charge_units_expr() }} as charge_units
    from policy_trial
),

policy_units as (
    -- steps 5 and 7 in pico-dollars (the minimum applies to billed, priced requests the trial does not cover)
    select
        * except (marked_up_units_x1e6, list_units, charge_units),
        case
            when not is_billed then 0
            when not has_price then null
            when is_trial_covered then 0
            else greatest(charge_units, set_minimum_units)
        end as user_charge_units,
        case
            when not is_billed then 0
            when not has_price then null
            else greatest(list_units, set_minimum_units)
        end as list_charge_units,
        coalesce(is_billed and has_price and not is_trial_covered and charge_units < set_minimum_units, false)
            as is_minimum_charge
    from policy_rounded
),

policy_charged as (
    -- the same in USD (DECIMAL(38,12)), for readers of one request's charge (int_requests_charged)
    select
        *,
        cast((markup_factor_units - 1000000) * 0.0001 as decimal(9, 4)) as markup_percentage,
        cast({{ units_to_usd('user_charge_units') }} as decimal(38, 12)) as user_charge_usd,
        cast({{ units_to_usd('list_charge_units') }} as decimal(38, 12)) as list_charge_usd,
        cast({{ units_to_usd('user_charge_units - provider_cost_units') }} as decimal(38, 12)) as markup_usd,
        cast({{ units_to_usd('list_charge_units - user_charge_units') }} as decimal(38, 12)) as trial_credit_usd
    from policy_units
),
{%- endmacro %}

{#- The columns policy_charged_ctes adds that only its own steps need (the knob set's values, the pico-dollars). -#}
{% macro policy_working_columns() -%}
    knob_set, set_markup_factor_units, set_minimum_units, set_free_trial_tokens, provider_cost_units,
    markup_factor_units, user_charge_units, list_charge_units
{%- endmacro %}

{#- The columns int_requests_trial_applied holds for the current pricing: the trial's and the charges. -#}
{% macro current_charge_columns() -%}
    trial_tokens, chargeable_tokens, is_trial_covered, is_minimum_charge, markup_percentage, user_charge_usd,
    list_charge_usd, markup_usd, trial_credit_usd
{%- endmacro %}
