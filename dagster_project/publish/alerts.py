"""Billing-alert delivery: each crossing of `billing_alerts` (a dbt mart) is raised once.

A crossing is new while its `alert_key` is not in `ops.billing_alert_deliveries`. Delivery is three steps, so that a
slow webhook never holds the warehouse: no DuckDB connection is open while anything is POSTed.
1. `new_alert_payloads`: one short read of the new crossings (the connection is closed right after);
2. `send_alerts`: POST each one, with no connection at all (see below);
3. `record_deliveries`: one short write transaction records what was delivered (after a 2xx), or every crossing
   when no webhook is configured (the Dagster UI is then where they are shown). A failed delivery is not recorded:
   it stays new and the next run tries again.

Sending (numbers from `DeliveryPolicy`, set on the Dagster resource `alert_webhook`):
- each POST has a total wall-clock deadline, `timeout_seconds`, whatever the receiver does (hangs after accepting,
  sends its answer one byte at a time): a watchdog shuts the socket when it passes. Only the status line and headers
  are read, never the body, so a 2xx with a corrupt or endless body counts as delivered;
- an alert is POSTed again in the same run only when the receiver cannot have processed it or said it did not:
  the connection was not made (refused, connect timeout), or it answered 429, 500 or 503 (waiting its `Retry-After`,
  up to `max_retry_after_seconds`, else `backoff_seconds` doubling), at most `max_attempts` POSTs in all. After no
  answer (deadline passed, connection dropped) or a 502/504 from a proxy, the receiver may have processed it: it is
  not POSTed again in this run, stays new, and the next run sends it with the same `Idempotency-Key` header (the
  alert key). Receivers must treat a repeated key as the same alert: that is the dedupe contract;
- the run stops sending when `budget_seconds` are spent, or after `max_consecutive_failures` alerts in a row were not
  delivered (circuit breaker); the alerts not tried stay new for the next run.
A run killed while sending records nothing: what it sent is sent again next run, with the same Idempotency-Key.

The URL may carry a token: it is never logged or returned; messages name its host only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from ingest.gateway_api import parse_retry_after
from ingest.warehouse import connect

# An operational table (dbt builds it not; declared as the dbt source ops.billing_alert_deliveries). Warehouses of
# before it moved have it in `main`: the first recording moves it (create in ops, copy, drop the old one), and until
# then the read looks there, so no alert is raised twice.
DELIVERIES_TABLE = "ops.billing_alert_deliveries"
LEGACY_DELIVERIES_TABLE = "main.billing_alert_deliveries"
# Answers after which the alert is POSTed again in this run: the receiver said it did not take it (429, 503) or failed
# (500). 502 and 504 come from a proxy whose receiver may have processed the alert: like no answer, not in this run.
RETRY_STATUSES = frozenset({429, 500, 503})
NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout)  # nothing was sent: safe to send again

CREATE_DELIVERIES = f"""
create schema if not exists ops;
create table if not exists {DELIVERIES_TABLE} (
    alert_key varchar primary key,
    user_id varchar,
    alert_type varchar,
    crossed_at timestamp,
    delivered_at timestamp not null,
    channel varchar not null,          -- 'webhook' or 'dagster' (no webhook configured: shown in the UI only)
    target_host varchar,               -- the webhook's host, never the full URL
    http_status integer,
    attempts integer not null
)
"""

# The rows of DELIVERIES_TABLE, in its column order (record_deliveries inserts them in one statement).
_DELIVERY_SCHEMA = pa.schema([
    ("alert_key", pa.string()), ("user_id", pa.string()), ("alert_type", pa.string()),
    ("crossed_at", pa.timestamp("us")), ("delivered_at", pa.timestamp("us")), ("channel", pa.string()),
    ("target_host", pa.string()), ("http_status", pa.int32()), ("attempts", pa.int32()),
])

ALERT_COLUMNS = (
    "alert_key", "user_id", "email", "plan", "month_start_date", "alert_type", "metric", "threshold_percent",
    "quota_tokens", "quota_spend_usd", "used_tokens", "used_spend_usd", "request_id", "crossed_at",
)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard one run tries (README "Quotas and alerts")."""

    timeout_seconds: float = 10.0  # total wall-clock for one POST: connect, send, the status line and headers
    max_attempts: int = 4  # POSTs per alert in one run (only the retries the module doc allows)
    backoff_seconds: float = 0.5  # wait before the 2nd POST, doubling after, when no Retry-After is given
    max_retry_after_seconds: float = 60.0  # a longer Retry-After is not waited for: the alert waits for the next run
    budget_seconds: float = 300.0  # total time the run spends sending, waits included
    max_consecutive_failures: int = 5  # circuit breaker: alerts in a row not delivered before the run stops sending

    def __post_init__(self):
        wrong = [name for name, ok in (
            ("timeout_seconds", self.timeout_seconds > 0),
            ("max_attempts", self.max_attempts >= 1),
            ("backoff_seconds", self.backoff_seconds >= 0),
            ("max_retry_after_seconds", self.max_retry_after_seconds >= 0),
            ("budget_seconds", self.budget_seconds > 0),
            ("max_consecutive_failures", self.max_consecutive_failures >= 1),
        ) if not ok]
        if wrong:
            raise ValueError(
                f"billing-alert delivery settings out of range: {', '.join(wrong)} (seconds and counts must be "
                "positive, max_attempts and max_consecutive_failures at least 1): fix the resource alert_webhook"
            )


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the last HTTP status, None if no answer
    attempts: int
    error: str = ""
    at: datetime | None = None  # when the last answer came (UTC)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class DeliveryReport:
    new: list[dict] = field(default_factory=list)  # the new crossings, as payloads
    delivered: list[tuple[dict, Attempt | None]] = field(default_factory=list)  # None: recorded, not posted
    failed: list[tuple[dict, Attempt]] = field(default_factory=list)
    not_tried: list[dict] = field(default_factory=list)  # left for the next run (budget spent or breaker open)
    stopped: str = ""  # why sending stopped early, empty if every new crossing was tried
    target_host: str = ""  # empty: no webhook configured
    seconds: float = 0.0  # time spent sending


def url_host(url: str) -> str:
    """The host (and port) of `url`, for logs: the rest (path, query, user info) may carry a secret."""
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported without its text
        return "<unparseable url>"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def check_webhook_url(url: str) -> None:
    """Refuse a URL that is not http(s)://host/... before anything is sent; the message never repeats the URL."""
    try:
        parsed = httpx.URL(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.host)
    except Exception:  # noqa: BLE001 - httpx's own message would quote the URL
        ok = False
    if not ok:
        raise ValueError(
            "the billing-alert webhook URL (AI_USAGE_ALERT_WEBHOOK_URL or the resource alert_webhook) is not an "
            "http:// or https:// URL with a host: fix it, or unset it to record alerts without posting them"
        )


def _json_value(value):
    if isinstance(value, Decimal):
        return format(value, "f")  # money as an exact decimal string, never a float
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat() + "Z"  # the warehouse keeps UTC timestamps
    if isinstance(value, date):
        return value.isoformat()
    return value


def payload(row: dict) -> dict:
    """The JSON body for one crossing: the billing_alerts row, money as decimal strings, times in UTC."""
    body = {"event": "billing_alert"}
    body.update({name: _json_value(row[name]) for name in ALERT_COLUMNS})
    body["month"] = body.pop("month_start_date")[:7]
    return body


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---- 1. read (short) ----

def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()[0] > 0


def move_legacy_deliveries(con: duckdb.DuckDBPyConnection) -> None:
    """In the caller's transaction: create ops.billing_alert_deliveries and, when a warehouse still has the table in
    `main` (before it moved), copy its rows over and drop it."""
    con.execute(CREATE_DELIVERIES)
    if _exists(con, LEGACY_DELIVERIES_TABLE):
        con.execute(f"insert into {DELIVERIES_TABLE} select * from {LEGACY_DELIVERIES_TABLE} on conflict do nothing")
        con.execute(f"drop table {LEGACY_DELIVERIES_TABLE}")


def new_alert_payloads(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Payloads of the crossings in billing_alerts not yet recorded as delivered, oldest first. Only reads: works on
    a read-only connection, before the deliveries table exists."""
    recorded = [table for table in (DELIVERIES_TABLE, LEGACY_DELIVERIES_TABLE) if _exists(con, table)]
    not_recorded = "".join(f" anti join {table} as d{i} on a.alert_key = d{i}.alert_key"
                           for i, table in enumerate(recorded))
    cursor = con.execute(
        f"""
        select {", ".join(f"a.{c}" for c in ALERT_COLUMNS)}
        from main.billing_alerts as a
        {not_recorded}
        order by a.crossed_at, a.alert_key
        """
    )
    return [payload(dict(zip(ALERT_COLUMNS, row, strict=True))) for row in cursor.fetchall()]


# ---- 2. send (no connection) ----

def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in the request's thread (close alone would not)
    except OSError:
        pass  # already closed: the request ended


def post_once(client: httpx.Client, url: str, content: bytes, headers: dict, seconds: float):
    """One POST that is over within `seconds` of wall-clock, whatever the receiver does; the answer's body is never
    read. Returns (status, retry_after header, error): status None with error "not connected: ..." when nothing was
    sent, or with why there was no answer. Never raises for HTTP or network trouble.

    httpx's timeouts are per socket operation (a receiver sending a byte every few seconds never trips them), so a
    watchdog thread shuts the connection's socket down at the deadline; httpx's `trace` extension hands it over."""
    sockets: list[socket.socket] = []
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        for sock in list(sockets):
            _shutdown(sock)

    def trace(event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            sockets.append(sock)
            if expired.is_set():
                _shutdown(sock)  # the deadline passed while connecting: send nothing

    watchdog = threading.Timer(seconds, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        with client.stream(
            "POST", url, content=content, headers=headers, timeout=httpx.Timeout(seconds),
            extensions={"trace": trace},
        ) as response:
            return response.status_code, response.headers.get("retry-after"), ""
    except NOT_CONNECTED as exc:
        return None, None, f"not connected: {type(exc).__name__}"
    except httpx.HTTPError as exc:  # read/write timeouts, dropped or garbled answers, the watchdog's cut
        if expired.is_set():
            return None, None, f"no answer within the {seconds:g} s deadline"
        return None, None, f"no answer: {type(exc).__name__}"
    finally:
        watchdog.cancel()


def post_with_retries(
    client: httpx.Client,
    url: str,
    body: dict,
    policy: DeliveryPolicy,
    *,
    run_deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Attempt:
    """POST `body` as JSON, retried only as the module doc says, within the run's deadline (a `clock()` value).
    Never raises for HTTP or network trouble."""
    content = json.dumps(body, sort_keys=True).encode()
    headers = {"content-type": "application/json", "idempotency-key": body["alert_key"]}
    status: int | None = None
    error = ""
    for attempt in range(1, policy.max_attempts + 1):
        remaining = run_deadline - clock()
        if remaining <= 0:
            return Attempt(status, attempt - 1, "the run's delivery budget ran out")
        status, retry_after, error = post_once(client, url, content, headers, min(policy.timeout_seconds, remaining))
        if status is not None and status not in RETRY_STATUSES:
            return Attempt(status, attempt, "" if 200 <= status < 300 else f"HTTP {status}", _utc_now())
        if status is None and not error.startswith("not connected"):
            return Attempt(None, attempt, error + " (not sent again in this run: the receiver may have it)")
        if status is not None:
            error = f"HTTP {status}"
        if attempt == policy.max_attempts:
            break
        wait = policy.backoff_seconds * 2 ** (attempt - 1)
        asked = parse_retry_after(retry_after) if status is not None else None
        if asked is not None:
            if asked > policy.max_retry_after_seconds:
                return Attempt(status, attempt, f"{error}, Retry-After {asked:g} s is above max_retry_after_seconds")
            wait = asked
        if clock() + wait >= run_deadline:
            return Attempt(status, attempt, f"{error}; a retry in {wait:g} s would pass the run's delivery budget")
        sleep(wait)
    return Attempt(status, policy.max_attempts, error)


def record_only(report: DeliveryReport) -> DeliveryReport:
    """No webhook configured: every new crossing is delivered to the Dagster UI (recorded, not posted)."""
    report.delivered = [(body, None) for body in report.new]
    return report


def send_alerts(
    report: DeliveryReport,
    webhook_url: str,
    policy: DeliveryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = lambda message: None,
) -> DeliveryReport:
    """POST each of `report.new` in turn, filling `report` as it goes (so a caller can record what was delivered
    even if this is interrupted). Holds no database connection. Stops early on the budget or the breaker."""
    check_webhook_url(webhook_url)
    report.target_host = url_host(webhook_url)
    started = clock()
    run_deadline = started + policy.budget_seconds
    in_a_row = 0
    # One connection per POST (no keep-alive): the watchdog can cut it, and a stale pooled connection can never turn
    # a fresh alert into an ambiguous "no answer".
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    with httpx.Client(follow_redirects=False, limits=limits) as client:
        for index, body in enumerate(report.new):
            if in_a_row >= policy.max_consecutive_failures:
                report.stopped = (f"circuit breaker: {in_a_row} alert(s) in a row not delivered "
                                  "(max_consecutive_failures)")
            elif clock() >= run_deadline:
                report.stopped = f"the run's delivery budget of {policy.budget_seconds:g} s is spent (budget_seconds)"
            if report.stopped:
                report.not_tried = report.new[index:]
                log(
                    f"billing alerts: stopped sending to the webhook at {report.target_host}, {report.stopped}; "
                    f"{len(report.not_tried)} alert(s) stay new and the next run sends them"
                )
                break
            attempt = post_with_retries(
                client, webhook_url, body, policy, run_deadline=run_deadline, sleep=sleep, clock=clock
            )
            if attempt.ok:
                report.delivered.append((body, attempt))
                in_a_row = 0
            else:
                report.failed.append((body, attempt))
                in_a_row += 1
                log(
                    f"billing alert {body['alert_key']} not delivered to the webhook at {report.target_host} after "
                    f"{attempt.attempts} POST(s) ({attempt.error or f'HTTP {attempt.status}'}): it stays new and "
                    f"the next run tries again; check the receiver or AI_USAGE_ALERT_WEBHOOK_URL"
                )
    report.seconds = clock() - started
    return report


# ---- 3. record (one short transaction) ----

def _timestamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.removesuffix("Z")) if text else None


def record_deliveries(
    con: duckdb.DuckDBPyConnection, report: DeliveryReport, *, now: Callable[[], datetime] = _utc_now
) -> int:
    """Record the delivered crossings of `report` in one transaction; returns how many rows were new."""
    host = report.target_host or None
    rows = [
        (body["alert_key"], body["user_id"], body["alert_type"], _timestamp(body["crossed_at"]),
         (attempt.at if attempt and attempt.at else now()), "webhook" if attempt else "dagster",
         host if attempt else None, attempt.status if attempt else None, attempt.attempts if attempt else 0)
        for body, attempt in report.delivered
    ]
    con.begin()
    try:
        move_legacy_deliveries(con)
        before = con.execute(f"select count(*) from {DELIVERIES_TABLE}").fetchall()[0][0]
        if rows:
            # One insert from an Arrow table (executemany is one statement per row: 30 s for the first run's 12,740
            # alerts at 1M requests). A crossing recorded meanwhile (another run) keeps its first row.
            delivered = pa.Table.from_pylist([dict(zip(_DELIVERY_SCHEMA.names, row, strict=True)) for row in rows],
                                             schema=_DELIVERY_SCHEMA)
            con.register("delivered_alerts", delivered)
            con.execute(f"insert into {DELIVERIES_TABLE} select * from delivered_alerts on conflict do nothing")
            con.unregister("delivered_alerts")
        added = con.execute(f"select count(*) from {DELIVERIES_TABLE}").fetchall()[0][0] - before
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return added


# ---- the three steps in one call (the Dagster assets run them as three steps) ----

def deliver_new_alerts(
    warehouse: Path,
    webhook_url: str = "",
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = _utc_now,
    log: Callable[[str], None] = lambda message: None,
    **policy: float,
) -> DeliveryReport:
    """Raise every new crossing of the warehouse file `warehouse` once (see the module doc). `policy`: the fields of
    DeliveryPolicy. The connection is closed while POSTing; what was delivered is recorded even if sending fails."""
    settings = DeliveryPolicy(**policy)
    if webhook_url:
        check_webhook_url(webhook_url)
    with connect(warehouse, read_only=True) as con:
        report = DeliveryReport(new=new_alert_payloads(con))
    try:
        if webhook_url:
            send_alerts(report, webhook_url, settings, sleep=sleep, clock=clock, log=log)
        else:
            record_only(report)
    finally:
        with connect(warehouse) as con:
            record_deliveries(con, report, now=now)
    return report
