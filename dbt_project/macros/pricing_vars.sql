{#-
    The pricing knobs, read from dbt vars and checked before any SQL runs (see `on-run-start` in dbt_project.yml).
    A value that is not a plain number in its range stops the build with a message naming the var and what to do.
    Values are turned into exact SQL literals here: money never passes through a float.
-#}

{% macro _plain_number(name, value, max_scale) -%}
    {%- set text = (value | string) | trim -%}
    {%- if value is boolean or value is none
          or not modules.re.match('^[0-9]+(\.[0-9]+)?$', text) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ (value | string)[:60] ~ " is not a plain non-negative number. "
            ~ "Set it like --vars '{" ~ name ~ ": 25}' (decimals with a dot, no exponent, no quotes needed).") }}
    {%- endif -%}
    {%- set parts = text.split('.') -%}
    {%- if parts | length > 1 and (parts[1] | length) > max_scale -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ text ~ " has more than " ~ max_scale ~ " decimal places; round it.") }}
    {%- endif -%}
    {{- text -}}
{%- endmacro %}

{% macro _check_range(name, text, low, high) -%}
    {%- set parts = text.split('.') -%}
    {%- set whole = parts[0] | int -%}
    {%- set has_fraction = parts | length > 1 and (parts[1] | replace('0', '')) != '' -%}
    {%- if whole < low or whole > high or (whole == high and has_fraction) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ text ~ " is outside the sane range " ~ low ~ ".." ~ high ~ ".") }}
    {%- endif -%}
{%- endmacro %}

{% macro markup_percentage_text(value=none, name='markup_percentage') -%}
    {%- set text = _plain_number(name, var('markup_percentage') if value is none else value, 4) -%}
    {%- do _check_range(name, text, 0, 1000) -%}
    {{- text -}}
{%- endmacro %}

{#- (100 + markup) x 10,000 as an integer: the charge is cost x this / 1,000,000, exactly. -#}
{% macro markup_factor_units(value=none, name='markup_percentage') -%}
    {%- set parts = markup_percentage_text(value, name).split('.') -%}
    {%- set fraction = ((parts[1] if parts | length > 1 else '') ~ '0000')[:4] -%}
    {{- (100 + parts[0] | int) * 10000 + fraction | int -}}
{%- endmacro %}

{% macro minimum_charge_usd(value=none, name='minimum_charge_usd') -%}
    {%- set text = _plain_number(name, var('minimum_charge_usd') if value is none else value, 12) -%}
    {%- do _check_range(name, text, 0, 100) -%}
    cast('{{ text }}' as decimal(38, 12))
{%- endmacro %}

{% macro free_trial_tokens(value=none, name='free_trial_tokens') -%}
    {%- set text = _plain_number(name, var('free_trial_tokens') if value is none else value, 0) -%}
    {%- if '.' in text -%}
        {{ exceptions.raise_compiler_error("dbt var '" ~ name ~ "' = " ~ text ~ " must be a whole number of tokens.") }}
    {%- endif -%}
    {%- do _check_range(name, text, 0, 1000000000) -%}
    {{- text | int -}}
{%- endmacro %}

{% macro validate_pricing_vars() -%}
    {%- do markup_factor_units() -%}
    {%- do minimum_charge_usd() -%}
    {%- do free_trial_tokens() -%}
    select 1 as pricing_vars_are_valid
{%- endmacro %}
