"""Each user's own spending page: one HTML file per user that holds that user's figures and nobody else's.

    <data dir>/user_pages/<token>.html   one page per user: spend, trial left, quota use this month, alerts, per day
    <data dir>/user_pages/plotly.min.js  the chart library the pages load (relative: the folder works offline)
    <data dir>/user_pages.key            the secret the tokens are made from (mode 0600; delete it to change every link)
    <data dir>/user_pages.csv            user_id, email, page: which link to send to whom (mode 0600)
    <data dir>/user_pages.state.json     the template version and each user's fingerprint the pages were rendered from

The file name is `HMAC-SHA256(key, user_id)`, 32 hex digits: a link cannot be guessed from a user id, and it stays
the same from run to run (a user's bookmark keeps working). Nothing links to the pages: serve the folder without a
directory listing (or mail each user their file). A page is built from the user's rows alone (the marts
user_spending, user_spending_daily and user_alerts: dbt_project/models/marts/reporting), so it cannot show another
user's figures. A page whose content did not change is not rewritten; a page no user has any more is removed.

Only the pages that can have changed are rendered: one query fingerprints each user's rows of the three marts (the
day's partial-day flag and the quota month included, so a new day or month changes them); a user whose fingerprint
equals the one stored at the last render, whose page exists and whose template version is unchanged keeps the page
as it is, unread. The state is written after the pages: a run killed half-way renders them again next time. The
marts are views (user_spending_daily builds every user's spine of days), so a run reads each of them once, into a
temporary table that the fingerprints and every batch of pages read.

A new day changes the page of every user with a request that day (a page runs to its user's last day, and that
day's partial-day flag is in the fingerprint); a new month, or a change of the template, every page. Each page is
built whole by one DuckDB query (`_page_sql`: the header, the alerts, the table's rows and the chart's JSON) in the
spelling of the Python helpers (`usd`, `usd_exact`, `_percent`, `{:,}`, html.escape, json.dumps); Python encodes
and writes the files. Where a part of a page is NULL (a NULL figure, which Python spells its own way) or past the
range in which the SQL's percentages are exactly Python's, the SQL gives no page and render_user_page renders it.
A page not in the folder's listing is written without a look at the old one. At 1M requests (14,829 users, 30
days) rendering every page costs about 1.9 CPU s of user time (the Python rendering before: 2.7): copying the
marts about 0.45, the pages' query about 1.2; plus the kernel's time to write 14,829 files (127 MB: 1 to 9 CPU s
on a busy, nearly full ext4 disk, 0.4 on tmpfs). At 5M (74,084 users, 4 batches) 9.7 user + 3.9 system CPU s
(before: 14.9 + 10.7); rendering them all again over unchanged files, 10.8 (before: 17.5).
"""

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


# The page: literal text and, between each two pieces, a field (render_user_page in Python, `_page_sql` in DuckDB
# fill them in the same spelling). No time of generation: an unchanged page stays byte-identical.
PAGE_PIECES = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<title>Your AI usage</title><style>""" + CSS + f"""</style><script src="{PLOTLY_FILE}"></script></head>
<body><header><h1>Your AI usage</h1>
<p id="user-name">""", "name", " (", "plan", "): ", "requests", " requests,\n", "tokens", " tokens, ", "through",
    """ (UTC days; amounts to the cent, exact on hover).</p>
</header><main><div class="kpis" id="kpis">""", "kpis", """</div>
<section id="alerts"><h2>Alerts</h2><ul>""", "alerts", """</ul></section>
<section><div id="chart-user"></div>
<script type="application/json" id="user-data">""", "series", "</script><script>" + PAGE_SCRIPT + f"""</script>
<p class="note">A day without requests shows 0; a day marked{html.escape(PARTIAL)} is today, its figures the hours so
far.</p>
<table><thead><tr><th>day</th><th>requests</th><th>tokens</th><th>of them paid by the trial</th><th>spent</th>
</tr></thead><tbody>""", "day_rows", """</tbody></table></section>
</main></body></html>
""")


def _kpis(user: dict) -> list[tuple[str, str, str]]:
    """(label, value, title) of the page's headline boxes."""
    month = user["quota_month"]
    return [
        ("spent in all", usd(user["spent_usd"]), usd_exact(user["spent_usd"])),
        (f"spent in {month}", usd(user["month_spent_usd"]), usd_exact(user["month_spent_usd"])),
        ("free-trial tokens left", f"{user['trial_tokens_left']:,} of {user['trial_allowance_tokens']:,}", ""),
        (f"token quota used in {month}", _percent(user["month_tokens"], user["monthly_token_quota"]),
         f"{user['month_tokens']:,} of {user['monthly_token_quota'] or 0:,} tokens"),
        (f"spend quota used in {month}", _percent(user["month_spent_usd"], user["monthly_spend_quota_usd"]),
         f"{usd(user['month_spent_usd'])} of {usd(user['monthly_spend_quota_usd'] or Decimal(0))}"),
    ]


def render_user_page(user: dict, alerts: list[dict]) -> str:
    """One user's page from that user's rows alone, in Python: the pages whose SQL spelling `_page_sql` leaves to
    Python (a NULL where Python has a spelling of its own, figures past the exact range of its percentages).
    `user` is a row of user_spending with the day parts of `_days_sql`: `day_rows` (the table's rows, newest day
    first), `series` (the chart's JSON) and `last_day` (its label)."""
    fields = {
        "name": html.escape(user["email"] or user["user_id"]),
        "plan": html.escape(user["plan"] or "no plan"),
        "requests": f"{user['requests']:,}",
        "tokens": f"{int(user['total_tokens']):,}",
        "through": html.escape(f"up to {user['last_day']}" if user["last_day"] else "no requests yet"),
        "kpis": "".join(
            f'<div class="kpi" title="{html.escape(title)}"><b>{html.escape(value)}</b>'
            f"<span>{html.escape(label)}</span></div>" for label, value, title in _kpis(user)
        ),
        "alerts": "".join(
            f"<li>{html.escape(alert['crossed_at'].strftime('%Y-%m-%d %H:%M'))} UTC: "
            f"{html.escape(_alert_text(alert))}</li>" for alert in alerts
        ) or "<li>none</li>",
        "series": user["series"],
        "day_rows": user["day_rows"],
    }
    return "".join(piece if i % 2 == 0 else fields[piece] for i, piece in enumerate(PAGE_PIECES))


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


def usd_or_null_sql(column: str) -> str:
    """usd_sql(column), or NULL (the page is rendered in Python) from 10^24 on, where usd_sql's cents overflow
    DuckDB's DECIMAL(38)."""
    return f"case when abs({column}) < 1000000000000000000000000 then {usd_sql(column)} end"


def usd_exact_sql(column: str) -> str:
    """The SQL of dashboard.usd_exact(column) for a DECIMAL with a scale: every digit, no trailing zero (`0.1145`,
    `3`, `0`)."""
    return f"rtrim(rtrim(cast({column} as varchar), '0'), '.')"


def int_sql(column: str) -> str:
    """The SQL of f"{column:,}" for an integer."""
    return f"format('{{:,}}', {column})"


def html_escape_sql(text: str) -> str:
    """The SQL of html.escape(text) (quotes included)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        text = f"replace({text}, {_sql_text(char)}, {_sql_text(entity)})"
    return text


def percent_sql(used: str, quota: str, scale: int, below: str | None = None) -> str:
    """The SQL of _percent(used, quota) for integers (`scale` 0) or DECIMALs of `scale` digits: the exact quotient
    rounded half to even to one decimal, as Python's Decimal formats it. Python's Decimal divides to 28 significant
    digits first: the two roundings agree while `used` < `below` (then no 28-digit quotient can land on a tie that
    the exact one is not on); past it, or for a negative figure, NULL: the page is rendered in Python."""
    def whole(column: str) -> str:
        return f"cast({column} as hugeint)" if not scale else f"cast({column} * {10 ** scale} as hugeint)"
    n, q = f"({whole(used)} * 1000)", whole(quota)
    bounds = f"and {used} < {below} and {quota} < {below} " if below else ""
    rounded = f"(({n} // {q}) + case when 2 * ({n} % {q}) > {q} or (2 * ({n} % {q}) = {q} and ({n} // {q}) % 2 = 1) " \
              "then 1 else 0 end)"
    return (f"case when {quota} is null or {quota} = 0 then 'no quota' "
            f"when {used} >= 0 and {quota} > 0 {bounds}"
            f"then cast({rounded} // 10 as varchar) || '.' || cast({rounded} % 10 as varchar) || '%' end")


def _days_sql(users_filter: str, source: str) -> str:
    """Per user: the rows of the page's table (newest day first), the chart's data as JSON (json.dumps' spelling:
    floats as Python's repr, which DuckDB's shortest round-trip spelling of a double is) and the last day's label,
    from the list of each user's days ordered by date. Built in DuckDB: a page has a row per day and a run renders
    every user's page. The strings are made from that list, not aggregated: an ordered aggregate of strings costs
    more than the strings (1M requests: 1.8 CPU s, the list of figures 0.3)."""
    def label(d: str) -> str:
        return f"(cast({d}.date as varchar) || case when {d}.is_partial_day then {_sql_text(PARTIAL)} else '' end)"
    # one concat, not a chain of || (each of which copies the row so far); NULL as the || chain would be (concat
    # skips a NULL): the row is left out, as array_to_string leaves it
    row = (f"""case when d.date is null or d.requests is null or d.total_tokens is null or d.trial_tokens is null """
           f"""or d.spent_usd is null then null else concat('<tr><td>', cast(d.date as varchar), """
           f"""case when d.is_partial_day then {_sql_text(PARTIAL)} else '' end, '</td><td class="num">', """
           f"""{int_sql('d.requests')}, '</td><td class="num">', """
           f"""{int_sql('d.total_tokens')}, '</td><td class="num">', {int_sql('d.trial_tokens')}, """
           f"""'</td><td class="num" title="', {usd_exact_sql('d.spent_usd')}, ' USD, exact">', """
           f"""{usd_sql('d.spent_usd')}, '</td></tr>') end""")
    # the decimal's text to a double: correctly rounded, as Python's float(Decimal) is
    spent = "cast(cast(cast(d.spent_usd as varchar) as double) as varchar)"
    opacity = "case when d.is_partial_day then '0.45' else '1.0' end"
    # the user's days in one list, ordered by date: the only sort, on the days' figures, before any string is made
    day_fields = ", ".join(f"'{column.strip()}': {column.strip()}" for column in DAY_COLUMNS.split(",")[1:])
    return f"""
        select user_id,
               array_to_string(list_reverse(list_transform(days, lambda d: {row})), '') as day_rows,
               '{{"dates": [' || array_to_string(list_transform(days, lambda d: '"' || {label('d')} || '"'), ', ')
               || '], "spent": [' || array_to_string(list_transform(days, lambda d: {spent}), ', ')
               || '], "tokens": [' || array_to_string(list_transform(days, lambda d: cast(d.total_tokens as varchar)),
                                                      ', ')
               || '], "opacity": [' || array_to_string(list_transform(days, lambda d: {opacity}), ', ') || ']}}'
               as series,
               {label('(days[-1])')} as last_day
        from (
            select user_id, list({{{day_fields}}} order by date) as days from {source} {users_filter} group by user_id
        )
    """


NO_DAYS = '{"dates": [], "spent": [], "tokens": [], "opacity": []}'


def _alerts_sql(users_filter: str, source: str) -> str:
    """Per user with alerts: the page's list items (newest first), as render_user_page spells them; NULL when one of
    them has a NULL that Python spells its own way (the page is then rendered in Python)."""
    threshold = "cast(threshold_percent as varchar)"
    text = f"""case when metric = 'trial' then 'free trial used up (' || {int_sql('used_tokens')} || ' tokens)'
        when metric = 'tokens' then {threshold} || '% of the monthly token quota reached ('
            || {int_sql('used_tokens')} || ' of ' || {int_sql('quota_tokens')} || ' tokens in ' || period_month || ')'
        else {threshold} || '% of the monthly spend quota reached (' || {usd_or_null_sql('used_spend_usd')}
            || ' of ' || {usd_or_null_sql('quota_spend_usd')} || ' in ' || period_month || ')' end"""
    # strftime's year: four digits (Python's spelling of other years is its own)
    at = "case when year(crossed_at) between 1000 and 9999 then strftime(crossed_at, '%Y-%m-%d %H:%M') end"
    item = f"'<li>' || {html_escape_sql(at)} || ' UTC: ' || {html_escape_sql(text)} || '</li>'"
    return f"""
        select user_id,
               case when count(item) = count(*) then string_agg(item, '' order by crossed_at desc, alert_type) end
               as alert_items
        from (select user_id, crossed_at, alert_type, {item} as item from {source} {users_filter})
        group by user_id
    """


def _page_sql(users_filter: str) -> str:
    """(user_id, page) of the users in `users_filter`, from the copies of the marts (`_read_marts`): the whole page
    in one DuckDB query, in render_user_page's spelling. `page` is NULL where a part is NULL (a figure that Python
    spells its own way, or that the SQL leaves to Python): render_user_page renders those."""
    month = "quota_month"
    kpis = [
        ("'spent in all'", usd_or_null_sql("spent_usd"), usd_exact_sql("spent_usd")),
        (f"'spent in ' || {month}", usd_or_null_sql("month_spent_usd"), usd_exact_sql("month_spent_usd")),
        ("'free-trial tokens left'",
         f"{int_sql('trial_tokens_left')} || ' of ' || {int_sql('trial_allowance_tokens')}", "''"),
        (f"'token quota used in ' || {month}", percent_sql("month_tokens", "monthly_token_quota", 0),
         f"{int_sql('month_tokens')} || ' of ' || {int_sql('coalesce(monthly_token_quota, 0)')} || ' tokens'"),
        (f"'spend quota used in ' || {month}",
         percent_sql("month_spent_usd", "monthly_spend_quota_usd", 12, "1000000000000"),
         f"{usd_or_null_sql('month_spent_usd')} || ' of ' "
         f"|| {usd_or_null_sql('coalesce(monthly_spend_quota_usd, 0)')}"),
    ]
    kpi_parts = []
    for label, value, title in kpis:
        kpi_parts += ["'<div class=\"kpi\" title=\"'", html_escape_sql(title), "'\"><b>'", html_escape_sql(value),
                      "'</b><span>'", html_escape_sql(label), "'</span></div>'"]
    fields = {
        "name": html_escape_sql("coalesce(nullif(email, ''), user_id)"),
        "plan": html_escape_sql("coalesce(nullif(plan, ''), 'no plan')"),
        "requests": int_sql("requests"),
        "tokens": int_sql("total_tokens"),
        "through": html_escape_sql("case when coalesce(last_day, '') = '' then 'no requests yet' "
                                   "else 'up to ' || last_day end"),
        "kpis": " || ".join(kpi_parts),
        "alerts": "case when has_alerts then alert_items else '<li>none</li>' end",
        "series": f"coalesce(series, {_sql_text(NO_DAYS)})",
        "day_rows": "coalesce(day_rows, '')",
    }
    names = [piece for i, piece in enumerate(PAGE_PIECES) if i % 2]
    # each field once, then one concat of the pieces (a chain of || would copy the growing page once per piece)
    concat = ", ".join(_sql_text(piece) if i % 2 == 0 else f"f_{piece}" for i, piece in enumerate(PAGE_PIECES))
    return f"""
        with days as ({_days_sql(users_filter, DAYS_COPY)}),
        alerts as ({_alerts_sql(users_filter, ALERTS_COPY)}),
        fields as (
            select users.user_id, {", ".join(f"{fields[name]} as f_{name}" for name in names)}
            from (select {USER_COLUMNS} from {USERS_COPY} {users_filter}) as users
            left join days using (user_id)
            left join (select *, true as has_alerts from alerts) as alerts using (user_id)
        )
        select user_id,
               case when {" or ".join(f"f_{name} is null" for name in names)} then null else concat({concat}) end
               as page
        from fields
        order by user_id
    """


def _write_page(path: str, data: bytes, *, exists: bool) -> bool:
    """Write `data` to `path` unless it holds it already (`exists`: the file was in the folder's listing; if not, it
    is not looked at); atomically (temporary file, then rename) but without the fsync of write_atomic: a run writes
    one page per user, and a page lost to a crash is written again next run. Plain os calls on str paths: a run may
    write some 75,000 pages."""
    if exists:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        else:
            try:  # a short read only rewrites the page
                same = os.fstat(fd).st_size == len(data) and os.read(fd, len(data) + 1) == data
            finally:
                os.close(fd)
            if same:
                return False
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask: the pages are for others to read
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
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
    source = "".join([inspect.getsource(render_user_page), inspect.getsource(_kpis), inspect.getsource(_alert_text),
                      *PAGE_PIECES, PARTIAL, USER_COLUMNS, DAY_COLUMNS, ALERT_COLUMNS, _page_sql(""),
                      inspect.getsource(usd), inspect.getsource(usd_exact), inspect.getsource(_percent)])
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


# The marts a page is made of, copied once per run into temporary tables (`_read_marts`): the fingerprints and every
# batch of pages read these, so each view (a spine of every user's days, their sums) is evaluated once, not once for
# the fingerprints and again for each batch.
USERS_COPY, DAYS_COPY, ALERTS_COPY = "pages_users", "pages_days", "pages_alerts"


def _read_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Copy the columns pages are made of from user_spending, user_spending_daily and user_alerts into temporary
    tables of this connection (read-only connections may hold them)."""
    con.execute(f"create or replace temp table {USERS_COPY} as select {USER_COLUMNS} from user_spending "
                "order by user_id")
    # in user_id order when the pages are rendered in more than one batch: a batch's range of users is then a few
    # of the copy's row groups (DuckDB skips the others by their min and max), not a scan of every user's rows per
    # batch (5M requests, 4 batches: 7.5 -> 5.8 CPU s); in one batch, the sort would cost and save nothing
    batches = con.execute(f"select count(*) from {USERS_COPY}").fetchone()[0] > RENDER_BATCH_USERS
    for copy, columns, mart in ((DAYS_COPY, DAY_COLUMNS, "user_spending_daily"),
                                (ALERTS_COPY, ALERT_COLUMNS, "user_alerts")):
        con.execute(f"create or replace temp table {copy} as select {columns} from {mart}"
                    + (" order by user_id" if batches else ""))


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


def _render_in_python(con: duckdb.DuckDBPyConnection, users: list[str]) -> dict[str, str]:
    """{user_id: page} rendered by render_user_page (the pages `_page_sql` leaves to Python)."""
    only, params = "where user_id in (select unnest($users))", {"users": users}
    rows = _rows(con, f"""
        with days as ({_days_sql(only, DAYS_COPY)}),
        users as (select {USER_COLUMNS} from {USERS_COPY} {only})
        select users.*, coalesce(days.day_rows, '') as day_rows,
               coalesce(days.series, {_sql_text(NO_DAYS)}) as series, days.last_day
        from users left join days using (user_id)
    """, params)
    alerts: dict[str, list[dict]] = defaultdict(list)
    for row in _rows(con, f"select {ALERT_COLUMNS} from {ALERTS_COPY} {only} order by user_id, crossed_at desc, "
                          "alert_type", params):
        alerts[row["user_id"]].append(row)
    return {user["user_id"]: render_user_page(user, alerts[user["user_id"]]) for user in rows}


def _render_batch(con: duckdb.DuckDBPyConnection, users: list[str], *, every: bool) -> list[tuple[str, str]]:
    """(user_id, page) of the given users, in user_id order, from the copies of the marts (`_read_marts`); `every`:
    they are all the users of user_spending."""
    # the batch's range of ids (the copies' row groups it needs), then the ids themselves (a hash join); a user
    # outside the range by DuckDB's order of strings (a collation of its own) would be missing: then no range
    only = "" if every else "where user_id between $first and $last and user_id in (select unnest($users))"
    params = {} if every else {"users": users, "first": min(users), "last": max(users)}
    pages = con.execute(_page_sql(only), params).fetchall()
    if len(pages) < len(users):
        pages = con.execute(_page_sql("where user_id in (select unnest($users))"), {"users": users}).fetchall()
    left = [user_id for user_id, page in pages if page is None]
    if left:
        python = _render_in_python(con, left)
        pages = [(user_id, python[user_id] if page is None else page) for user_id, page in pages]
    return pages


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
    base = os.fspath(folder)
    _write_page(os.path.join(base, PLOTLY_FILE), get_plotlyjs().encode("utf-8"), exists=PLOTLY_FILE in present)
    rewritten = rendered = 0
    order = sorted(to_render)
    for start in range(0, len(order), RENDER_BATCH_USERS):
        batch = order[start:start + RENDER_BATCH_USERS]
        pages = _render_batch(con, batch, every=len(batch) == len(fingerprints))
        for user_id, text in pages:
            name = names[user_id]
            rewritten += _write_page(os.path.join(base, name), text.encode("utf-8"), exists=name in present)
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
