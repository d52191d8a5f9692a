{#-
    Exact money arithmetic. DuckDB divides DECIMALs into DOUBLE, so every division of money is done on integers
    counted in 1e-12 USD (pico-dollars) and rounded half to even, as pricing-rules.md asks.
-#}

{#- USD DECIMAL(38,12) -> HUGEINT pico-dollars (exact: the scale is 12). -#}
{% macro usd_to_units(expr) -%}
    cast(cast({{ expr }} as decimal(38, 12)) * 1000000000000 as {{ int128() }})
{%- endmacro %}

{#- HUGEINT pico-dollars -> USD DECIMAL(38,12). -#}
{% macro units_to_usd(expr) -%}
    (cast({{ expr }} as decimal(38, 0)) * cast(0.000000000001 as decimal(38, 12)))
{%- endmacro %}

{#- numerator / denominator (non-negative HUGEINTs, denominator > 0), rounded half to even. -#}
{% macro divide_half_even(numerator, denominator) -%}
    (
        {{ floor_div(numerator, denominator) }}
        + case
            when 2 * (({{ numerator }}) % ({{ denominator }})) > ({{ denominator }}) then 1
            when 2 * (({{ numerator }}) % ({{ denominator }})) = ({{ denominator }})
                and {{ floor_div(numerator, denominator) }} % 2 = 1 then 1
            else 0
        end
    )
{%- endmacro %}

{#- numerator / denominator (HUGEINTs, denominator > 0, numerator of any sign), rounded half to even. -#}
{% macro divide_half_even_signed(numerator, denominator) -%}
    (
        case
            when ({{ numerator }}) < 0 then -{{ divide_half_even('-(' ~ numerator ~ ')', denominator) }}
            else {{ divide_half_even(numerator, denominator) }}
        end
    )
{%- endmacro %}
