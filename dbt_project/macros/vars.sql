{#-
    Every dbt var of the project, checked in this one file before any SQL runs (`validate_vars`, the on-run-start
    hook of dbt_project.yml): an unknown var name, or a value that is not a plain number in its range, stops the
    build with a message naming the var and what to do, and nothing is built.
    Values are turned into exact SQL literals here: money never passes through a float.
    Patterns are checked with `re.fullmatch`, never `re.match` with `$`: `$` also matches before a final newline, so
    a key like "anthropic\n" would pass and silently never match its provider.

    A *pricing policy* is the set of knobs that prices a request after its provider cost is known: the markup
    (global, per provider, per model: most specific wins), the minimum charge and the trial size. The real pricing
    uses `pricing_policy()` (the vars); each what-if scenario of `pricing_scenarios` is a policy too
    (`scenario_pricing_policies()`), priced by the same macros (macros/pricing.sql).
-#}

{% macro _plain_number(name, value, max_scale) -%}
    {%- set text = (value | string) | trim -%}
    {%- if value is boolean or value is none
          or not modules.re.fullmatch('[0-9]+([.][0-9]+)?', text) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ (value | string)[:60] ~ " is not a plain non-negative number. "
            ~ ("Set it to a number like 25" if '.' in name else "Set it like --vars '{" ~ name ~ ": 25}'")
            ~ " (decimals with a dot, no exponent, no quotes needed).") }}
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

{#- A map of markups, {key: percent}, keys checked against `pattern` (they end up in SQL string literals).
    Returns {key: validated percent text}. -#}
{% macro _markup_map(name, value, pattern, example) -%}
    {%- if value is none or value == '' -%}
        {%- do return({}) -%}
    {%- endif -%}
    {%- if value is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ (value | string)[:60] ~ " is not a map. Set it like --vars '{"
            ~ name ~ ": {" ~ example ~ ": 30}}'.") }}
    {%- endif -%}
    {%- set checked = {} -%}
    {%- for key, percent in value.items() -%}
        {%- if key is not string or not modules.re.fullmatch(pattern, key) -%}
            {#- shown as JSON when it holds a newline or the like, so that the message shows it -#}
            {%- set shown = key | string if tojson(key | string)[1:-1] == key | string else tojson(key | string) -%}
            {{ exceptions.raise_compiler_error(
                "dbt var '" ~ name ~ "' has the key " ~ shown[:60] ~ ", which is not a lower-case id like "
                ~ example ~ ". Use the ids of model_catalog (`provider` or `model`), with no spaces or newlines.") }}
        {%- endif -%}
        {%- do checked.update({key: markup_percentage_text(percent, name ~ '.' ~ key)}) -%}
    {%- endfor -%}
    {%- do return(checked) -%}
{%- endmacro %}

{% macro provider_markup_percentages(value=none, name='provider_markup_percentage') -%}
    {%- do return(_markup_map(name, var('provider_markup_percentage', {}) if value is none else value,
                              '[a-z0-9][a-z0-9_.-]*', 'anthropic')) -%}
{%- endmacro %}

{% macro model_markup_percentages(value=none, name='model_markup_percentage') -%}
    {%- do return(_markup_map(name, var('model_markup_percentage', {}) if value is none else value,
                              '[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.:-]*', '"openai/gpt-4o"')) -%}
{%- endmacro %}

{#- `trial_start_date`: empty (every user gets the trial) or a real date YYYY-MM-DD. Returns the text or none. -#}
{% macro trial_start_date(value=none, name='trial_start_date') -%}
    {%- set raw = var('trial_start_date', none) if value is none else value -%}
    {%- if raw is none or (raw | string | trim) in ('', 'none', 'None', 'null') -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set text = raw | string | trim -%}
    {%- set match = modules.re.fullmatch('([0-9]{4})-([0-9]{2})-([0-9]{2})', text) -%}
    {%- set ns = namespace(ok=false) -%}
    {%- if match -%}
        {%- set year, month, day = match.group(1) | int, match.group(2) | int, match.group(3) | int -%}
        {%- set ns.ok = _is_calendar_day(year, month, day) -%}
    {%- endif -%}
    {%- if not ns.ok -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ text[:60] ~ " is not a date. Set it like --vars '{" ~ name
            ~ ": \"2026-01-01\"}' (users who signed up on or after that UTC day get the trial), or leave it empty.") }}
    {%- endif -%}
    {%- do return(text) -%}
{%- endmacro %}

{#- `reporting_timezone`: an IANA time zone name (checked against the tz database); the daily marts' `date`. -#}
{% macro reporting_timezone(value=none, name='reporting_timezone') -%}
    {%- set text = ((var('reporting_timezone', 'UTC') if value is none else value) | string) | trim -%}
    {%- if text not in modules.pytz.all_timezones_set -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ text[:60] ~ " is not a time zone name of the tz database. "
            ~ "Set it like --vars '{" ~ name ~ ": Europe/Berlin}' (default UTC).") }}
    {%- endif -%}
    {%- do return(text) -%}
{%- endmacro %}

{#- One of `partition_start` / `partition_end`: a UTC date or date and time `YYYY-MM-DD[THH:MM:SS]` (a space
    for the T is fine: YAML turns an unquoted 2026-11-20T00:00:00 into a datetime, written with a space), a real
    calendar day and time. Returns it as `YYYY-MM-DDTHH:MM:SS`, the text that goes into SQL. -#}
{% macro _partition_bound(name, value) -%}
    {%- set text = (value | string) | trim -%}
    {%- set match = modules.re.fullmatch('([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2}))?',
                                         text) -%}
    {%- set ns = namespace(ok=false) -%}
    {%- if match -%}
        {%- set year, month, day = match.group(1) | int, match.group(2) | int, match.group(3) | int -%}
        {%- set clock = [match.group(4) or '00', match.group(5) or '00', match.group(6) or '00'] -%}
        {%- set ns.ok = clock[0] | int <= 23 and clock[1] | int <= 59 and clock[2] | int <= 59
                        and _is_calendar_day(year, month, day) -%}
    {%- endif -%}
    {%- if not ns.ok -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ tojson(value | string)[:80] ~ " is not a UTC date or date and time. Set "
            ~ "it like 2026-11-20 or 2026-11-20T00:00:00 (YYYY-MM-DD[THH:MM:SS]); Dagster sets partition_start "
            ~ "and partition_end itself for partitioned runs.") }}
    {%- endif -%}
    {%- do return(text[:10] ~ 'T' ~ clock | join(':')) -%}
{%- endmacro %}

{#- The partitions being materialized: `partition_start` (inclusive) and `partition_end` (exclusive), both empty
    (no window: returns none) or both set, start before end. Returns [start, end] as `YYYY-MM-DDTHH:MM:SS`. -#}
{% macro partition_window() -%}
    {%- set start = var('partition_start', none) -%}
    {%- set end = var('partition_end', none) -%}
    {%- set start_given = start is not none and (start | string | trim) != '' -%}
    {%- set end_given = end is not none and (end | string | trim) != '' -%}
    {%- if not start_given and not end_given -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- if not (start_given and end_given) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ ('partition_end' if start_given else 'partition_start') ~ "' is missing while '"
            ~ ('partition_start' if start_given else 'partition_end') ~ "' is set: give both (start inclusive, "
            ~ "end exclusive, e.g. --vars '{partition_start: \"2026-11-20\", partition_end: \"2026-11-21\"}') "
            ~ "or neither.") }}
    {%- endif -%}
    {%- set window = [_partition_bound('partition_start', start), _partition_bound('partition_end', end)] -%}
    {%- if window[0] >= window[1] -%}
        {{ exceptions.raise_compiler_error(
            "dbt var 'partition_end' = " ~ window[1] ~ " is not after partition_start = " ~ window[0]
            ~ ": the window is [partition_start, partition_end), end exclusive.") }}
    {%- endif -%}
    {%- do return(window) -%}
{%- endmacro %}

{#- The real pricing policy: the vars. -#}
{% macro pricing_policy() -%}
    {%- do return({
        'name': 'current',
        'markup_percentage': markup_percentage_text(),
        'provider_markup_percentage': provider_markup_percentages(),
        'model_markup_percentage': model_markup_percentages(),
        'minimum_charge_usd': _plain_number('minimum_charge_usd', var('minimum_charge_usd'), 12),
        'free_trial_tokens': free_trial_tokens(),
    }) -%}
{%- endmacro %}

{#- The what-if scenarios of `pricing_scenarios`, each a complete policy: a knob a scenario leaves out takes the
    current value (the var). Names are unique lower-case ids. -#}
{% macro scenario_pricing_policies() -%}
    {%- set scenarios = var('pricing_scenarios', []) -%}
    {%- if scenarios is none -%}{%- set scenarios = [] -%}{%- endif -%}
    {%- if scenarios is string or scenarios is mapping or scenarios is not sequence -%}
        {{ exceptions.raise_compiler_error(
            "dbt var 'pricing_scenarios' is not a list. Set it like --vars '{pricing_scenarios: "
            ~ "[{name: markup_30, markup_percentage: 30}]}'.") }}
    {%- endif -%}
    {%- set known = ['name', 'description', 'markup_percentage', 'provider_markup_percentage',
                     'model_markup_percentage', 'minimum_charge_usd', 'free_trial_tokens'] -%}
    {%- set current = pricing_policy() -%}
    {%- set policies = [] -%}
    {%- set names = [] -%}
    {%- for scenario in scenarios -%}
        {%- set where = "pricing_scenarios[" ~ loop.index0 ~ "]" -%}
        {%- if scenario is not mapping -%}
            {{ exceptions.raise_compiler_error(where ~ " is not a map like {name: markup_30, markup_percentage: 30}.") }}
        {%- endif -%}
        {%- for key in scenario -%}
            {%- if key not in known -%}
                {{ exceptions.raise_compiler_error(
                    where ~ " has the unknown key '" ~ key ~ "'; known keys: " ~ known | join(', ') ~ ".") }}
            {%- endif -%}
        {%- endfor -%}
        {%- set scenario_name = scenario.get('name') -%}
        {%- if scenario_name is not string or not modules.re.fullmatch('[a-z][a-z0-9_]{0,62}', scenario_name) -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'pricing_scenarios': " ~ where ~ " needs a name: a lower-case id like markup_30 (letters, "
                ~ "digits, _; no spaces or newlines), got " ~ tojson(scenario_name)[:80] ~ ".") }}
        {%- endif -%}
        {%- if scenario_name in names -%}
            {{ exceptions.raise_compiler_error("pricing_scenarios has the name '" ~ scenario_name ~ "' twice.") }}
        {%- endif -%}
        {%- do names.append(scenario_name) -%}
        {%- set prefix = "pricing_scenarios." ~ scenario_name ~ "." -%}
        {%- do policies.append({
            'name': scenario_name,
            'markup_percentage': markup_percentage_text(scenario['markup_percentage'], prefix ~ 'markup_percentage')
                if 'markup_percentage' in scenario else current['markup_percentage'],
            'provider_markup_percentage': provider_markup_percentages(
                    scenario['provider_markup_percentage'] or {}, prefix ~ 'provider_markup_percentage')
                if 'provider_markup_percentage' in scenario else current['provider_markup_percentage'],
            'model_markup_percentage': model_markup_percentages(
                    scenario['model_markup_percentage'] or {}, prefix ~ 'model_markup_percentage')
                if 'model_markup_percentage' in scenario else current['model_markup_percentage'],
            'minimum_charge_usd': _plain_number(prefix ~ 'minimum_charge_usd', scenario['minimum_charge_usd'], 12)
                if 'minimum_charge_usd' in scenario else current['minimum_charge_usd'],
            'free_trial_tokens': free_trial_tokens(scenario['free_trial_tokens'], prefix ~ 'free_trial_tokens')
                if 'free_trial_tokens' in scenario else current['free_trial_tokens'],
        }) -%}
        {%- do _check_range(prefix ~ 'minimum_charge_usd', policies[-1]['minimum_charge_usd'], 0, 100) -%}
    {%- endfor -%}
    {%- do return(policies) -%}
{%- endmacro %}

{#- Every var this project reads, the one list: dbt_project.yml's vars, plus the data directory (given by the Dagster
    dbt asset: ingest/settings.py, read by profiles.yml), the partition window (set for a re-pricing by hand) and the
    size of a large query's pieces (created_at_range_rows, macros/created_at_ranges.sql; a default there). -#}
{% macro known_vars() -%}
    {%- do return(['alert_thresholds_percent', 'cost_drift_tolerance', 'created_at_range_rows', 'data_dir',
                   'free_trial_tokens', 'markup_percentage', 'minimum_charge_usd', 'model_markup_percentage', 'partition_end',
                   'partition_start', 'pricing_scenarios', 'projection_days_per_month', 'projection_top_models',
                   'projection_window_days', 'provider_markup_percentage', 'reporting_timezone',
                   'trial_start_date']) -%}
{%- endmacro %}

{#- A var given on the command line (--vars, or the dbt asset's run config `dbt_vars`) that the project does not
    read is a typo (`markup_percent` for `markup_percentage`): it would be ignored and the build would bill with the
    default. Stop instead, naming it and the valid names, as an unknown key of a pricing scenario does. -#}
{% macro _check_var_names() -%}
    {%- set given = invocation_args_dict.get('vars') or {} -%}
    {%- if given is string -%}{%- set given = fromyaml(given) or {} -%}{%- endif -%}
    {%- set unknown = [] -%}
    {%- for name in given if name not in known_vars() -%}
        {%- do unknown.append(name | string) -%}
    {%- endfor -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error(
            "unknown dbt var '" ~ (unknown | sort | join("', '"))[:200] ~ "' (--vars or the dbt asset's "
            ~ "dbt_vars): nothing was built. Valid names: " ~ known_vars() | join(', ') ~ ".") }}
    {%- endif -%}
{%- endmacro %}

{#- The drift the reconciliation test gateway_cost_matches_provider_cost (tests/singular) tolerates between the
    gateway's own cost and ours, per model and UTC day: a relative amount, 0..10 (0.05 = 5%). -#}
{% macro cost_drift_tolerance(value=none, name='cost_drift_tolerance') -%}
    {%- set text = _plain_number(name, var('cost_drift_tolerance') if value is none else value, 6) -%}
    {%- do _check_range(name, text, 0, 10) -%}
    {{- text -}}
{%- endmacro %}

{#- Every var checked, before any model runs (on-run-start in dbt_project.yml): an unknown name or a bad value stops
    the build with nothing changed. -#}
{% macro validate_vars() -%}
    {%- do _check_var_names() -%}
    {%- do markup_factor_units() -%}
    {%- do minimum_charge_usd() -%}
    {%- do free_trial_tokens() -%}
    {%- do provider_markup_percentages() -%}
    {%- do model_markup_percentages() -%}
    {%- do trial_start_date() -%}
    {%- do reporting_timezone() -%}
    {%- do scenario_pricing_policies() -%}
    {%- do partition_window() -%}
    {%- do cost_drift_tolerance() -%}
    {%- do created_at_range_rows() -%}
    {%- do alert_thresholds() -%}
    {%- for name in ['projection_days_per_month', 'projection_window_days', 'projection_top_models'] -%}
        {%- do projection_count(name) -%}
    {%- endfor -%}
    select 1 as vars_are_valid
{%- endmacro %}

{#- Whether year-month-day is a real calendar day between 1970 and 2200. -#}
{% macro _is_calendar_day(year, month, day) -%}
    {%- if year >= 1970 and year <= 2200 and month >= 1 and month <= 12 and day >= 1 -%}
        {%- set first_of_next = modules.datetime.date(year + (1 if month == 12 else 0), month % 12 + 1, 1) -%}
        {%- do return(day <= (first_of_next - modules.datetime.timedelta(days=1)).day) -%}
    {%- endif -%}
    {%- do return(false) -%}
{%- endmacro %}

{#- The alert thresholds of billing_alerts (var alert_thresholds_percent): a list of whole percents, 1..9999.
    Checked at run start (validate_vars) and where billing_alerts reads them. -#}
{% macro alert_thresholds() -%}
    {%- set thresholds = var('alert_thresholds_percent') -%}
    {%- if thresholds is string or thresholds is number or thresholds | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "dbt var 'alert_thresholds_percent' = " ~ (thresholds | string)[:60] ~ " must be a list of whole percents, "
            ~ "e.g. --vars '{alert_thresholds_percent: [80, 100]}'.") }}
    {%- endif -%}
    {%- for threshold in thresholds -%}
        {%- if not modules.re.fullmatch('[1-9][0-9]{0,3}', threshold | string) -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'alert_thresholds_percent' has " ~ (threshold | string)[:20]
                ~ ": each threshold must be a whole percent, 1..9999.") }}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(thresholds) -%}
{%- endmacro %}

{#- A whole-number var of the observed projections (projection_window_days, projection_days_per_month,
    projection_top_models), 1..9999, as SQL text. Checked at run start (validate_vars) and where the projections read
    them. -#}
{% macro projection_count(name) -%}
    {%- set value = var(name) | string | trim -%}
    {%- if not modules.re.fullmatch('[1-9][0-9]{0,3}', value) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ value[:40] ~ " must be a whole number, 1..9999; "
            ~ "set it like --vars '{" ~ name ~ ": 30}'.") }}
    {%- endif -%}
    {%- do return(value) -%}
{%- endmacro %}
