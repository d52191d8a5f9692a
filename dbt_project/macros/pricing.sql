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
    even (a price with at most 6 decimals, as every price of the catalog today, divides exactly). -#}
{% macro provider_cost_usd_expr() -%}
    {%- set in_p = price_units('input_price_per_1m_usd') -%}
    {%- set out_p = price_units('output_price_per_1m_usd') -%}
    case
        when not is_billed then cast(0 as decimal(38, 12))
        when has_price then {{ units_to_usd(divide_half_even(
            '(input_tokens - coalesce(cached_tokens, 0) - coalesce(cache_creation_tokens, 0)) * ' ~ in_p
            ~ ' + coalesce(cached_tokens, 0) * ' ~ price_units('coalesce(cache_read_price_per_1m_usd, input_price_per_1m_usd)')
            ~ ' + (coalesce(cache_creation_tokens, 0) - coalesce(cache_creation_1h_tokens, 0)) * '
            ~ price_units('coalesce(cache_write_price_per_1m_usd, input_price_per_1m_usd)')
            ~ ' + coalesce(cache_creation_1h_tokens, 0) * '
            ~ price_units('coalesce(cache_write_1h_price_per_1m_usd, cache_write_price_per_1m_usd, input_price_per_1m_usd)')
            ~ ' + (output_tokens - coalesce(reasoning_tokens, 0)) * ' ~ out_p
            ~ ' + coalesce(reasoning_tokens, 0) * ' ~ price_units('coalesce(reasoning_price_per_1m_usd, output_price_per_1m_usd)'),
            'cast(1000000 as hugeint)')) }}
    end
{%- endmacro %}

{#- A price per 1M tokens (at most 12 decimals) as an exact HUGEINT count of 1e-12 USD. -#}
{% macro price_units(expr) -%}
    cast(cast({{ expr }} as decimal(38, 12)) * 1000000000000 as hugeint)
{%- endmacro %}

{#- The request's time (a UTC timestamp) lies in the time-of-day window [start, end) in `zone`; a window whose end is
    earlier than its start wraps past midnight. -#}
{% macro in_time_window(utc_column, start_column, end_column, zone_column) -%}
    {%- set local_time = "cast(timezone(" ~ zone_column ~ ", timezone('UTC', " ~ utc_column ~ ")) as time)" -%}
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
