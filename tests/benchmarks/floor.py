"""The floor: one DuckDB process that lands and prices the gateway logs with the warehouse's rules, in as few
passes as it can. What the project is measured against.

    python -m tests.benchmarks.floor DATA_DIR [--extra FILE] [--db PATH] [--out totals.json]

Landing (one pass over the files, one over the validated rows): ``read_json`` with explicit (JSON) columns, the
contract's checks (ingest/contracts/gateway-log-v1.md) as SQL, keep-first dedupe by id in landing order (files by
name, lines in order; a repeat with other content is a conflict, quarantined). Pricing (one statement): the dated
catalog join read from dbt_project/seeds/*.csv (aliases from their valid_from, validity range, time-of-day window,
service tier else ``any``, highest long-context tier below the prompt), every token type at its own price, the
free trial in each user's lifetime order (created_at, id), markup and minimum, money in integer pico-dollars
rounded half to even (pricing-rules.md); then the two daily aggregates (per user per day, per day).

Prints (or writes) a JSON object: the totals that the benchmark compares, and the CPU seconds (user + sys of this
process, DuckDB's threads included) of the landing and the pricing phase.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "dbt_project" / "seeds"
MARKUP_PERCENT = 25
MINIMUM_UNITS = 1_000_000_000  # $0.001 in pico-dollars
FREE_TRIAL_TOKENS = 100_000
TOKENS = ("native_tokens_prompt", "native_tokens_completion", "native_tokens_cached", "native_tokens_cache_creation",
          "native_tokens_reasoning", "native_tokens_cache_creation_1h")


def gateway_files(data_dir: Path) -> list[Path]:
    folder = Path(data_dir) / "raw" / "gateway"
    return sorted((p for p in folder.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")) and p.is_file()),
                  key=lambda p: p.name)


# The timestamp shapes the floor accepts (RFC 3339 with an offset; Python's fromisoformat accepts a few more).
RFC3339 = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})"


def _int(field: str) -> str:
    return f"case when json_type({field}) in ('UBIGINT', 'BIGINT') then cast({field} as bigint) end"


def landing_sql(files: list[Path], now: datetime) -> str:
    columns = ", ".join(f"{name}: 'JSON'" for name in
                        ("id", "created_at", "user_id", "model", "status_code", *TOKENS, "service_tier", "total_cost"))
    file_list = "[" + ", ".join(f"'{path}'" for path in files) + "]"
    limit = (now + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f")
    tokens = ",\n".join(f"        {_int(t)} as {t}, json_type({t}) as {t}_type" for t in TOKENS)
    checks_tokens = "\n".join(
        f"""            when {t}_type is not null and {t}_type <> 'NULL' and {t} is null then 'wrong_type'
            when {t} < 0 then 'negative_tokens'
            when {t} > 10000000 then 'absurd_tokens'""" for t in TOKENS)
    return f"""
create or replace temp table lines as
select * from read_json({file_list}, format = 'newline_delimited', ignore_errors = true, columns = {{{columns}}});

create or replace temp table typed as
with raw as (
    select
        rowid as seq,
        (id is null and created_at is null and user_id is null and model is null
            and native_tokens_prompt is null) as is_empty,
        json_type(id) as id_type, id ->> '$' as id,
        json_type(created_at) as created_at_type, created_at ->> '$' as created_at_text,
        json_type(user_id) as user_id_type, trim(user_id ->> '$', E' \\t\\n\\r\\x0B\\x0C') as user_id,
        json_type(model) as model_type, model ->> '$' as model,
        json_type(status_code) as status_code_type, {_int('status_code')} as status_code,
{tokens},
        json_type(service_tier) as service_tier_type, service_tier ->> '$' as service_tier,
        json_type(total_cost) as total_cost_type, total_cost
    from lines
),
parsed as (
    select
        *,
        case when regexp_full_match(created_at_text, '{RFC3339}')
            then try_cast(try_cast(created_at_text as timestamptz) at time zone 'UTC' as timestamp)
        end as created_at
    from raw
)
select
    *,
    case
        when is_empty then 'not_json_or_not_object'
        when id_type is null or id_type = 'NULL' then 'missing_field'
        when id_type <> 'VARCHAR' then 'wrong_type'
        when trim(id) = '' or length(id) > 128 then 'out_of_range'
        when regexp_matches(id, '[\\x00-\\x1f\\x7f]') then 'bad_characters'
        when created_at_type is null or created_at_type = 'NULL' then 'missing_field'
        when created_at_type <> 'VARCHAR' then 'wrong_type'
        when created_at is null then 'bad_timestamp'
        when created_at > timestamp '{limit}' then 'future_timestamp'
        when created_at < timestamp '2000-01-01' then 'out_of_range'
        when user_id_type is null or user_id_type = 'NULL' then 'missing_field'
        when user_id_type <> 'VARCHAR' then 'wrong_type'
        when user_id = '' or length(user_id) > 256 then 'out_of_range'
        when regexp_matches(user_id, '[\\x00-\\x1f\\x7f]') then 'bad_characters'
        when model_type is null or model_type = 'NULL' then 'missing_field'
        when model_type <> 'VARCHAR' then 'wrong_type'
        when trim(model) = '' or length(model) > 200 then 'out_of_range'
        when regexp_matches(model, '[\\x00-\\x1f\\x7f]') then 'bad_characters'
        when not regexp_full_match(model, '[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:@+/-]*')
            then 'bad_model_id'
        when status_code_type is not null and status_code_type <> 'NULL' and status_code is null then 'wrong_type'
        when coalesce(status_code, 200) not between 100 and 599 then 'out_of_range'
        when native_tokens_prompt_type is null or native_tokens_prompt_type = 'NULL' then 'missing_field'
        when native_tokens_completion_type is null or native_tokens_completion_type = 'NULL' then 'missing_field'
{checks_tokens}
        when coalesce(native_tokens_cached, 0) > native_tokens_prompt then 'cached_exceeds_prompt'
        when coalesce(native_tokens_cache_creation, 0) > native_tokens_prompt - coalesce(native_tokens_cached, 0)
            then 'cache_creation_exceeds_prompt'
        when coalesce(native_tokens_reasoning, 0) > native_tokens_completion then 'reasoning_exceeds_completion'
        when coalesce(native_tokens_cache_creation_1h, 0) > coalesce(native_tokens_cache_creation, 0)
            then 'cache_creation_1h_exceeds_cache_creation'
        when service_tier_type is not null and service_tier_type not in ('NULL', 'VARCHAR') then 'wrong_type'
        when service_tier_type = 'VARCHAR' and not regexp_full_match(service_tier, '[a-z0-9][a-z0-9_-]{{0,31}}')
            then 'bad_service_tier'
        when total_cost_type is not null and total_cost_type not in ('NULL', 'UBIGINT', 'BIGINT', 'DOUBLE')
            then 'wrong_type'
        when total_cost_type in ('UBIGINT', 'BIGINT', 'DOUBLE')
            and not (cast(total_cost as double) >= 0 and cast(total_cost as double) < 1e12) then 'out_of_range'
    end as reason
from parsed;

create or replace table requests as
select
    id as request_id,
    created_at,
    user_id,
    model,
    coalesce(status_code, 200) as status_code,
    native_tokens_prompt as input_tokens,
    native_tokens_completion as output_tokens,
    coalesce(native_tokens_cached, 0) as cached_tokens,
    coalesce(native_tokens_cache_creation, 0) as cache_creation_tokens,
    coalesce(native_tokens_reasoning, 0) as reasoning_tokens,
    coalesce(native_tokens_cache_creation_1h, 0) as cache_creation_1h_tokens,
    coalesce(service_tier, 'default') as service_tier,
    try_cast(cast(total_cost as varchar) as decimal(38, 12)) as gateway_cost_usd,
    seq
from typed
where reason is null
qualify row_number() over (partition by id order by seq) = 1;
"""


LANDING_COUNTS_SQL = """
with valid as (
    select
        seq,
        row_number() over (partition by id order by seq) as occurrence,
        first_value(hash(created_at, user_id, model, coalesce(status_code, 200), native_tokens_prompt,
            native_tokens_completion, coalesce(native_tokens_cached, 0), coalesce(native_tokens_cache_creation, 0),
            coalesce(native_tokens_reasoning, 0), coalesce(native_tokens_cache_creation_1h, 0), service_tier))
            over (partition by id order by seq) as first_hash,
        hash(created_at, user_id, model, coalesce(status_code, 200), native_tokens_prompt,
            native_tokens_completion, coalesce(native_tokens_cached, 0), coalesce(native_tokens_cache_creation, 0),
            coalesce(native_tokens_reasoning, 0), coalesce(native_tokens_cache_creation_1h, 0), service_tier)
            as row_hash
    from typed
    where reason is null
)
select
    (select count(*) from typed) as lines_read,
    count(*) filter (where occurrence = 1) as accepted,
    count(*) filter (where occurrence > 1 and row_hash = first_hash) as duplicates,
    (select count(*) from typed where reason is not null)
        + count(*) filter (where occurrence > 1 and row_hash <> first_hash) as quarantined
from valid
"""


def pricing_sql() -> str:
    factor_num, factor_den = 100 + MARKUP_PERCENT, 100
    return f"""
create or replace temp table prices as
select
    model, service_tier,
    cast(nullif(window_start, '') as time) as window_start,
    cast(nullif(window_end, '') as time) as window_end,
    nullif(window_timezone, '') as window_timezone,
    cast(nullif(input_tokens_above, '') as bigint) as input_tokens_above,
    cast(cast(input_price_per_1m_usd as decimal(38, 12)) * 1000000000000 as hugeint) as p_in,
    cast(cast(output_price_per_1m_usd as decimal(38, 12)) * 1000000000000 as hugeint) as p_out,
    cast(cast(nullif(cache_read_price_per_1m_usd, '') as decimal(38, 12)) * 1000000000000 as hugeint) as p_read,
    cast(cast(nullif(cache_write_price_per_1m_usd, '') as decimal(38, 12)) * 1000000000000 as hugeint) as p_write,
    cast(cast(nullif(cache_write_1h_price_per_1m_usd, '') as decimal(38, 12)) * 1000000000000 as hugeint) as p_1h,
    cast(cast(nullif(reasoning_price_per_1m_usd, '') as decimal(38, 12)) * 1000000000000 as hugeint) as p_reason,
    cast(valid_from as date) as valid_from,
    cast(nullif(valid_to, '') as date) as valid_to
from read_csv('{SEEDS / "model_prices.csv"}', header = true, all_varchar = true);

create or replace temp table aliases as
select alias, model, cast(nullif(valid_from, '') as date) as valid_from
from read_csv('{SEEDS / "model_aliases.csv"}', header = true, all_varchar = true);

create or replace table priced as
with resolved as (
    select
        requests.*,
        coalesce(aliases.model, requests.model) as catalog_model,
        input_tokens + output_tokens as total_tokens,
        status_code between 200 and 299 as is_billed
    from requests
    left join aliases
        on requests.model = aliases.alias and (aliases.valid_from is null or requests.created_at >= aliases.valid_from)
),
best as (
    select
        resolved.request_id,
        arg_max(
            struct_pack(p_in := prices.p_in, p_out := prices.p_out, p_read := prices.p_read,
                        p_write := prices.p_write, p_1h := prices.p_1h, p_reason := prices.p_reason),
            (prices.service_tier = resolved.service_tier, coalesce(prices.input_tokens_above, -1))
        ) as p
    from resolved
    inner join prices
        on resolved.catalog_model = prices.model
        and resolved.created_at >= prices.valid_from
        and (prices.valid_to is null or resolved.created_at < prices.valid_to)
        and (prices.service_tier = resolved.service_tier or prices.service_tier = 'any')
        and (prices.input_tokens_above is null or resolved.input_tokens > prices.input_tokens_above)
        and (prices.window_start is null or (
            case when prices.window_start <= prices.window_end
                then cast(timezone(prices.window_timezone, timezone('UTC', resolved.created_at)) as time)
                        >= prices.window_start
                    and cast(timezone(prices.window_timezone, timezone('UTC', resolved.created_at)) as time)
                        < prices.window_end
                else cast(timezone(prices.window_timezone, timezone('UTC', resolved.created_at)) as time)
                        >= prices.window_start
                    or cast(timezone(prices.window_timezone, timezone('UTC', resolved.created_at)) as time)
                        < prices.window_end
            end))
    group by resolved.request_id
),
costed as (
    select
        resolved.*,
        best.p is not null as has_price,
        case when not is_billed or best.p is null then cast(0 as hugeint) else (
            (input_tokens - cached_tokens - cache_creation_tokens) * p.p_in
            + cached_tokens * coalesce(p.p_read, p.p_in)
            + (cache_creation_tokens - cache_creation_1h_tokens) * coalesce(p.p_write, p.p_in)
            + cache_creation_1h_tokens * coalesce(p.p_1h, p.p_write, p.p_in)
            + (output_tokens - reasoning_tokens) * p.p_out
            + reasoning_tokens * coalesce(p.p_reason, p.p_out)
        ) end as cost_x1e6
    from resolved
    left join best using (request_id)
),
rounded as (
    select
        * exclude (cost_x1e6),
        cost_x1e6 // 1000000 + case
            when 2 * (cost_x1e6 % 1000000) > 1000000 then 1
            when 2 * (cost_x1e6 % 1000000) = 1000000 and (cost_x1e6 // 1000000) % 2 = 1 then 1 else 0
        end as cost_units
    from costed
    where has_price or not is_billed
),
trial as (
    select
        *,
        coalesce(sum(total_tokens) filter (where is_billed) over (
            partition by user_id order by created_at, request_id
            rows between unbounded preceding and 1 preceding), 0) as before
    from rounded
),
tokens as (
    select
        *,
        case when is_billed then least(total_tokens, greatest(0, {FREE_TRIAL_TOKENS} - before)) else 0 end
            as trial_tokens,
        cost_units * {factor_num} as marked_x{factor_den}
    from trial
),
charged as (
    select
        *,
        case when is_billed then total_tokens - trial_tokens else 0 end as chargeable_tokens,
        is_billed and before < {FREE_TRIAL_TOKENS} and total_tokens - trial_tokens = 0 as is_trial_covered,
        -- numerator / denominator rounded half to even, on integers
        marked_x{factor_den} * (case when total_tokens = 0 then 1 else total_tokens - trial_tokens end) as num,
        cast({factor_den} as hugeint) * (case when total_tokens = 0 then 1 else total_tokens end) as den
    from tokens
),
final as (
    select
        request_id, user_id, model, created_at, is_billed, total_tokens, trial_tokens, chargeable_tokens,
        cost_units,
        case when not is_billed then 0
            else greatest(marked_x{factor_den} // {factor_den} + case
                when 2 * (marked_x{factor_den} % {factor_den}) > {factor_den} then 1
                when 2 * (marked_x{factor_den} % {factor_den}) = {factor_den}
                    and (marked_x{factor_den} // {factor_den}) % 2 = 1 then 1 else 0 end, {MINIMUM_UNITS})
        end as list_units,
        case when not is_billed or is_trial_covered then 0
            else greatest(num // den + case
                when 2 * (num % den) > den then 1
                when 2 * (num % den) = den and (num // den) % 2 = 1 then 1 else 0 end, {MINIMUM_UNITS})
        end as charge_units
    from charged
)
select * from final;

create or replace table user_daily as
select
    user_id, cast(created_at as date) as date, count(*) as requests,
    count(*) filter (where is_billed) as billed_requests,
    sum(total_tokens) as total_tokens, sum(trial_tokens) as trial_tokens,
    sum(cost_units) as provider_cost_units, sum(charge_units) as charge_units,
    sum(charge_units - cost_units) as markup_units, sum(list_units - charge_units) as trial_credit_units
from priced
group by all;

create or replace table daily as
select
    cast(created_at as date) as date, count(*) as requests,
    count(*) filter (where is_billed) as billed_requests,
    sum(total_tokens) as total_tokens, sum(trial_tokens) as trial_tokens,
    sum(cost_units) as provider_cost_units, sum(charge_units) as revenue_units,
    sum(charge_units - cost_units) as profit_units, sum(list_units - charge_units) as trial_credit_units,
    count(distinct user_id) as active_users
from priced
group by all;
"""


def usd(units: int) -> str:
    """Pico-dollars as a USD string with 12 decimals (exact)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), 10**12)
    return f"{sign}{whole}.{frac:012d}"


TOTALS_SQL = """
select
    (select sum(requests) from daily), (select sum(billed_requests) from daily),
    (select sum(total_tokens) from daily), (select sum(trial_tokens) from daily),
    (select sum(provider_cost_units) from daily), (select sum(revenue_units) from daily),
    (select sum(profit_units) from daily), (select sum(trial_credit_units) from daily),
    (select sum(charge_units) from user_daily), (select sum(trial_tokens) from user_daily)
"""


def totals_from(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute(TOTALS_SQL).fetchone()
    days = con.execute("select date, revenue_units, provider_cost_units, requests from daily order by date").fetchall()
    return {
        "requests": int(row[0]), "billed_requests": int(row[1]), "total_tokens": int(row[2]),
        "trial_tokens": int(row[3]), "provider_cost_usd": usd(row[4]), "revenue_usd": usd(row[5]),
        "profit_usd": usd(row[6]), "trial_credit_usd": usd(row[7]),
        "user_daily_charge_usd": usd(row[8]), "user_daily_trial_tokens": int(row[9]),
        "daily": {str(d): [usd(rev), usd(cost), int(n)] for d, rev, cost, n in days},
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(data_dir: Path, extra: list[Path] = (), db: Path | None = None, now: datetime | None = None) -> dict:
    files = gateway_files(data_dir) + [Path(p) for p in extra]
    con = duckdb.connect(str(db) if db else ":memory:")
    con.execute("set TimeZone = 'UTC'")
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    cpu, wall = _cpu(), time.perf_counter()
    con.execute(landing_sql(files, now))
    landing_cpu, landing_wall = _cpu() - cpu, time.perf_counter() - wall
    counts = con.execute(LANDING_COUNTS_SQL).fetchone()  # bookkeeping for the check, not timed
    cpu, wall = _cpu(), time.perf_counter()
    con.execute(pricing_sql())
    pricing_cpu, pricing_wall = _cpu() - cpu, time.perf_counter() - wall
    totals = totals_from(con)
    totals["landing"] = dict(zip(("lines_read", "accepted", "duplicates", "quarantined"), map(int, counts),
                                 strict=True))
    con.close()
    return {"totals": totals, "phases": {"landing": {"cpu": landing_cpu, "wall": landing_wall},
                                         "pricing": {"cpu": pricing_cpu, "wall": pricing_wall}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--extra", type=Path, action="append", default=[])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.data_dir, args.extra, args.db)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
