"""The user pages as rendered before they were built in one DuckDB query (user_pages.py at commit 5872a34, verbatim
below this docstring): the reference that tests/assets/test_user_pages.py compares every page with, byte for byte."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import html
import inspect
import io
import json
import os
import secrets
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
from plotly.offline import get_plotlyjs

from dagster_project.publish.dashboard import CSS, PARTIAL, usd, usd_exact
from dagster_project.publish.files import write_text_atomic

PAGES_DIR = "user_pages"
KEY_FILE = "user_pages.key"
INDEX_FILE = "user_pages.csv"
STATE_FILE = "user_pages.state.json"
PLOTLY_FILE = "plotly.min.js"
ALERT_WORDS = {"tokens": "tokens", "spend": "spend", "trial": "free trial"}


def pages_dir(data_dir: Path) -> Path:
    return Path(data_dir) / PAGES_DIR


def page_key(data_dir: Path) -> bytes:
    """The secret of the page names: `<data dir>/user_pages.key`, made once (32 random bytes, mode 0600)."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def page_name(key: bytes, user_id: str) -> str:
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32] + ".html"


@dataclass(frozen=True)
class PagesWritten:
    folder: Path
    pages: int
    rewritten: int
    removed: int
    rendered: int = 0  # pages rendered (their users' fingerprints changed); rewritten: of them, the bytes changed


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or None)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _percent(used: int | Decimal, quota: int | Decimal | None) -> str:
    if not quota:
        return "no quota"
    return f"{Decimal(used) * 100 / Decimal(quota):.1f}%"


def _alert_text(alert: dict) -> str:
    if alert["metric"] == "trial":
        return f"free trial used up ({alert['used_tokens']:,} tokens)"
    if alert["metric"] == "tokens":
        return (f"{alert['threshold_percent']}% of the monthly token quota reached ({alert['used_tokens']:,} of "
                f"{alert['quota_tokens']:,} tokens in {alert['period_month']})")
    return (f"{alert['threshold_percent']}% of the monthly spend quota reached ({usd(alert['used_spend_usd'])} of "
            f"{usd(alert['quota_spend_usd'])} in {alert['period_month']})")


PAGE_SCRIPT = """
(function () {
  var d = JSON.parse(document.getElementById('user-data').textContent);
  // spend and tokens start at 0; an axis whose every value is 0 (a trial-only user's spend) is 0..1, not -1..1
  function axis(values, extra) {
    var zero = !values.some(function (v) { return v > 0; });
    return Object.assign(zero ? {range: [0, 1]} : {rangemode: 'tozero'}, extra);
  }
  Plotly.newPlot('chart-user', [
    {type: 'bar', x: d.dates, y: d.spent, name: 'spent (USD)', marker: {color: '#2563eb', opacity: d.opacity}},
    {type: 'scatter', mode: 'lines+markers', x: d.dates, y: d.tokens, name: 'tokens', yaxis: 'y2',
     line: {color: '#a855f7'}}
  ], {
    title: {text: 'Your spending per day', x: 0.01}, height: 380,
    margin: {l: 60, r: 60, t: 50, b: 50}, legend: {orientation: 'h', y: -0.18},
    xaxis: {type: 'category', title: {text: 'UTC day'}},
    yaxis: axis(d.spent, {title: {text: 'USD'}, tickformat: '$,.2f'}),
    yaxis2: axis(d.tokens, {title: {text: 'tokens'}, overlaying: 'y', side: 'right'})
  }, {displaylogo: false, responsive: true});
})();
"""


def render_user_page(user: dict, alerts: list[dict]) -> str:
    """One user's page from that user's rows alone (no time of generation: an unchanged page stays byte-identical).
    `user` is a row of user_spending with the day parts that DAYS_SQL made of the user's rows of user_spending_daily:
    `day_rows` (the table's rows, newest day first), `series` (the chart's JSON) and `last_day` (its label)."""
    name = user["email"] or user["user_id"]
    month = user["quota_month"]
    kpis = [
        ("spent in all", usd(user["spent_usd"]), usd_exact(user["spent_usd"])),
        (f"spent in {month}", usd(user["month_spent_usd"]), usd_exact(user["month_spent_usd"])),
        ("free-trial tokens left", f"{user['trial_tokens_left']:,} of {user['trial_allowance_tokens']:,}", ""),
        (f"token quota used in {month}", _percent(user["month_tokens"], user["monthly_token_quota"]),
         f"{user['month_tokens']:,} of {user['monthly_token_quota'] or 0:,} tokens"),
        (f"spend quota used in {month}", _percent(user["month_spent_usd"], user["monthly_spend_quota_usd"]),
         f"{usd(user['month_spent_usd'])} of {usd(user['monthly_spend_quota_usd'] or Decimal(0))}"),
    ]
    kpi_boxes = "".join(
        f'<div class="kpi" title="{html.escape(title)}"><b>{html.escape(value)}</b><span>{html.escape(label)}</span>'
        "</div>" for label, value, title in kpis
    )
    alert_items = "".join(
        f"<li>{html.escape(alert['crossed_at'].strftime('%Y-%m-%d %H:%M'))} UTC: {html.escape(_alert_text(alert))}</li>"
        for alert in alerts
    ) or "<li>none</li>"
    through = f"up to {user['last_day']}" if user["last_day"] else "no requests yet"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<title>Your AI usage</title><style>{CSS}</style><script src="{PLOTLY_FILE}"></script></head>
<body><header><h1>Your AI usage</h1>
<p id="user-name">{html.escape(name)} ({html.escape(user["plan"] or "no plan")}): {user["requests"]:,} requests,
{int(user["total_tokens"]):,} tokens, {html.escape(through)} (UTC days; amounts to the cent, exact on hover).</p>
</header><main><div class="kpis" id="kpis">{kpi_boxes}</div>
<section id="alerts"><h2>Alerts</h2><ul>{alert_items}</ul></section>
<section><div id="chart-user"></div>
<script type="application/json" id="user-data">{user["series"]}</script><script>{PAGE_SCRIPT}</script>
<p class="note">A day without requests shows 0; a day marked{html.escape(PARTIAL)} is today, its figures the hours so
far.</p>
<table><thead><tr><th>day</th><th>requests</th><th>tokens</th><th>of them paid by the trial</th><th>spent</th>
</tr></thead><tbody>{user["day_rows"]}</tbody></table></section>
</main></body></html>
"""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def usd_sql(column: str) -> str:
    """The SQL of dashboard.usd(column): `$1,234.57`, `-$0.40`; rounded to the cent half to even, as Python's
    Decimal formats (exact decimal arithmetic: no float on the way)."""
    cents = f"(abs({column}) * 100)"
    whole = f"floor({cents})"
    rounded = (f"cast({whole} + case when {cents} - {whole} > 0.5 or ({cents} - {whole} = 0.5 and {whole} % 2 = 1) "
               "then 1 else 0 end as hugeint)")
    return (f"(case when {column} < 0 then '-' else '' end || '$' || format('{{:,}}', {rounded} // 100) || '.' "
            f"|| lpad(cast({rounded} % 100 as varchar), 2, '0'))")


def usd_exact_sql(column: str) -> str:
    """The SQL of dashboard.usd_exact(column) for a DECIMAL with a scale: every digit, no trailing zero (`0.1145`,
    `3`, `0`)."""
    return f"rtrim(rtrim(cast({column} as varchar), '0'), '.')"


def _days_sql(users_filter: str, source: str = "user_spending_daily") -> str:
    """Per user: the rows of the page's table (newest day first), the chart's data as JSON (json.dumps' spelling:
    floats as Python's repr, which DuckDB's shortest round-trip spelling of a double is) and the last day's label,
    from user_spending_daily. Built in DuckDB: a page has a row per day and a run renders every user's page."""
    label = f"(cast(date as varchar) || case when is_partial_day then {_sql_text(PARTIAL)} else '' end)"
    row = (f"""'<tr><td>' || {label} || '</td><td class="num">' || format('{{:,}}', requests) """
           f"""|| '</td><td class="num">' || format('{{:,}}', total_tokens) || '</td><td class="num">' """
           f"""|| format('{{:,}}', trial_tokens) || '</td><td class="num" title="' || {usd_exact_sql('spent_usd')} """
           f"""|| ' USD, exact">' || {usd_sql('spent_usd')} || '</td></tr>'""")
    # the decimal's text to a double: correctly rounded, as Python's float(Decimal) is
    spent = "cast(cast(cast(spent_usd as varchar) as double) as varchar)"
    opacity = "case when is_partial_day then '0.45' else '1.0' end"
    # one ordered aggregate (a list of each day's parts, by date), then strings of its parts: ordered string_aggs
    # would sort each user's days once per aggregate
    return f"""
        select user_id,
               array_to_string(list_reverse(list_transform(days, lambda d: d.html_row)), '') as day_rows,
               '{{"dates": [' || array_to_string(list_transform(days, lambda d: '"' || d.label || '"'), ', ')
               || '], "spent": [' || array_to_string(list_transform(days, lambda d: d.spent), ', ')
               || '], "tokens": [' || array_to_string(list_transform(days, lambda d: d.tokens), ', ')
               || '], "opacity": [' || array_to_string(list_transform(days, lambda d: d.opacity), ', ') || ']}}'
               as series,
               days[-1].label as last_day
        from (
            select user_id,
                   list({{'html_row': {row}, 'label': {label}, 'spent': {spent},
                          'tokens': cast(total_tokens as varchar), 'opacity': {opacity}}} order by date) as days
            from {source} {users_filter}
            group by user_id
        )
    """


NO_DAYS = '{"dates": [], "spent": [], "tokens": [], "opacity": []}'


def _write_if_changed(path: Path | str, text: str) -> bool:
    """Write `text` to `path` unless it holds it already; atomically (temporary file, then rename) but without the
    fsync of write_atomic: a run writes one page per user, and a page lost to a crash is written again next run.
    Plain os calls on str paths: a run may write some 15,000 pages."""
    path = os.fspath(path)
    data = text.encode("utf-8")
    try:
        if os.stat(path).st_size == len(data):
            with open(path, "rb") as f:
                if f.read() == data:
                    return False
    except FileNotFoundError:
        pass
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # whatever the umask: the pages are for others to read
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


# The columns a page is rendered from (render_user_page): the fingerprint covers exactly these.
USER_COLUMNS = ("user_id, email, plan, requests, total_tokens, spent_usd, trial_allowance_tokens, trial_tokens_left, "
                "quota_month, month_tokens, month_spent_usd, monthly_token_quota, monthly_spend_quota_usd")
DAY_COLUMNS = "user_id, date, is_partial_day, requests, total_tokens, trial_tokens, spent_usd"
ALERT_COLUMNS = ("user_id, alert_type, metric, threshold_percent, period_month, quota_tokens, quota_spend_usd, "
                 "used_tokens, used_spend_usd, crossed_at")


def template_version() -> str:
    """Changes with the page's code, style or script: every page is rendered again."""
    source = "".join([inspect.getsource(render_user_page), inspect.getsource(_alert_text), PAGE_SCRIPT, CSS, PARTIAL,
                      USER_COLUMNS, DAY_COLUMNS, ALERT_COLUMNS, _days_sql(""), usd_sql("x"), usd_exact_sql("x")])
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


# The marts a page is made of, copied once per run into temporary tables (`_read_marts`): the fingerprints and every
# batch of pages read these, so each view (a spine of every user's days, their sums) is evaluated once, not once for
# the fingerprints and again for each batch.
USERS_COPY, DAYS_COPY, ALERTS_COPY = "pages_users", "pages_days", "pages_alerts"


def _read_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Copy the columns pages are made of from user_spending, user_spending_daily and user_alerts into temporary
    tables of this connection (read-only connections may hold them)."""
    for copy, columns, mart in ((USERS_COPY, USER_COLUMNS, "user_spending"), (DAYS_COPY, DAY_COLUMNS,
                                "user_spending_daily"), (ALERTS_COPY, ALERT_COLUMNS, "user_alerts")):
        con.execute(f"create or replace temp table {copy} as select {columns} from {mart}")


def _drop_copies(con: duckdb.DuckDBPyConnection) -> None:
    for copy in (USERS_COPY, DAYS_COPY, ALERTS_COPY):
        con.execute(f"drop table if exists {copy}")


def _fingerprints(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, str]]:
    """(user_id, email, fingerprint of every row the user's page is made of), one query over the copies of the marts
    (`_read_marts`), in user_id order."""
    return con.execute(f"""
        with users as (select {USER_COLUMNS} from {USERS_COPY}),
        days as (
            select user_id, bit_xor(hash({DAY_COLUMNS})) as h from {DAYS_COPY} group by user_id
        ),
        alerts as (
            select user_id, bit_xor(hash({ALERT_COLUMNS})) as h from {ALERTS_COPY} group by user_id
        )
        select users.user_id, users.email,
               cast(hash({', '.join('users.' + c.strip() for c in USER_COLUMNS.split(','))}) as varchar) || '-'
               || coalesce(cast(days.h as varchar), '') || '-' || coalesce(cast(alerts.h as varchar), '')
        from users
        left join days using (user_id)
        left join alerts using (user_id)
        order by users.user_id
    """).fetchall()


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) and isinstance(state.get("users"), dict) else {}
    except (FileNotFoundError, ValueError):  # none yet, or damaged: render every page
        return {}


# Pages are read and rendered this many users at a time: DuckDB's memory (its per-user string aggregates do not
# spill) and Python's (the pages' text) stay bounded whatever the number of users (151,515 at 10M requests).
RENDER_BATCH_USERS = 20_000


def _render_batch(con: duckdb.DuckDBPyConnection, users: list[str], *, every: bool) -> list[tuple[str, str]]:
    """(user_id, page) of the given users, in user_id order, from the copies of the marts (`_read_marts`); `every`:
    they are all the users of user_spending."""
    only = "" if every else "where user_id in (select unnest($users))"  # a hash join, whatever the number
    params = {} if every else {"users": users}
    rows = _rows(con, f"""
        with days as ({_days_sql(only, DAYS_COPY)}),
        users as (select {USER_COLUMNS} from {USERS_COPY} {only})
        select users.*, coalesce(days.day_rows, '') as day_rows,
               coalesce(days.series, {_sql_text(NO_DAYS)}) as series, days.last_day
        from users left join days using (user_id)
        order by users.user_id
    """, params)
    alerts: dict[str, list[dict]] = defaultdict(list)
    for row in _rows(con, f"select {ALERT_COLUMNS} from {ALERTS_COPY} {only} order by user_id, crossed_at desc, "
                          "alert_type", params):
        alerts[row["user_id"]].append(row)
    return [(user["user_id"], render_user_page(user, alerts[user["user_id"]])) for user in rows]


def write_user_pages(con: duckdb.DuckDBPyConnection, data_dir: Path) -> PagesWritten:
    """One page per user of user_spending under `<data dir>/user_pages/`, plus the index of links for whoever sends
    them (`<data dir>/user_pages.csv`, outside the folder). Renders only the pages that can have changed (module
    docstring)."""
    folder = pages_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(".*.tmp"):  # pages of a run killed half-way
        leftover.unlink(missing_ok=True)
    key = page_key(data_dir)
    state_path = Path(data_dir) / STATE_FILE
    state = _read_state(state_path)
    version = template_version()
    previous = state.get("users", {}) if state.get("template") == version else {}
    _read_marts(con)
    try:
        return _write_pages(con, data_dir, folder, key, state_path, previous, version)
    finally:
        _drop_copies(con)


def _write_pages(con: duckdb.DuckDBPyConnection, data_dir: Path, folder: Path, key: bytes, state_path: Path,
                 previous: dict, version: str) -> PagesWritten:
    fingerprints = _fingerprints(con)
    names = {user_id: page_name(key, user_id) for user_id, _, _ in fingerprints}
    present = set(os.listdir(folder))  # one listing, not a stat per user
    to_render = {user_id for user_id, _, fingerprint in fingerprints
                 if previous.get(user_id) != fingerprint or names[user_id] not in present}
    _write_if_changed(folder / PLOTLY_FILE, get_plotlyjs())
    rewritten = rendered = 0
    order = sorted(to_render)
    for start in range(0, len(order), RENDER_BATCH_USERS):
        batch = order[start:start + RENDER_BATCH_USERS]
        pages = _render_batch(con, batch, every=len(batch) == len(fingerprints))
        for user_id, text in pages:
            rewritten += _write_if_changed(os.path.join(folder, names[user_id]), text)
        rendered += len(pages)
    written, index = set(names.values()), io.StringIO()
    links = csv.writer(index)
    links.writerow(["user_id", "email", "page"])
    links.writerows([user_id, email or "", f"{PAGES_DIR}/{names[user_id]}"] for user_id, email, _ in fingerprints)
    removed = 0
    for name in present:
        if name.endswith(".html") and name not in written:
            (folder / name).unlink(missing_ok=True)
            removed += 1
    write_text_atomic(Path(data_dir) / INDEX_FILE, index.getvalue(), mode=0o600)
    write_text_atomic(state_path, json.dumps({"template": version, "users": {u: fp for u, _, fp in fingerprints}}),
                      mode=0o600)
    return PagesWritten(folder, len(written), rewritten, removed, rendered=rendered)
