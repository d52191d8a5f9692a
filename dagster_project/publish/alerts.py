"""Billing-alert delivery: each crossing of `billing_alerts` (a dbt mart) is raised once.

A crossing is new while its `alert_key` is not in `main.billing_alert_deliveries`. It is recorded there
- after the webhook answered 2xx, when a webhook URL is configured (a failed delivery is not recorded, so the next
  run tries again; the `Idempotency-Key` header carries the alert key for receivers that dedupe), or
- at once, when no webhook is configured (the Dagster UI is then where it is shown).
Each row is written right after its POST, so a crash half way never sends a delivered crossing twice.

The URL may carry a token: it is never logged or returned; messages name its host only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import httpx

DELIVERIES_TABLE = "main.billing_alert_deliveries"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

CREATE_DELIVERIES = f"""
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

ALERT_COLUMNS = (
    "alert_key", "user_id", "email", "plan", "month_start_date", "alert_type", "metric", "threshold_percent",
    "quota_tokens", "quota_spend_usd", "used_tokens", "used_spend_usd", "request_id", "crossed_at",
)


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the last HTTP status, None if no answer
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class DeliveryReport:
    new: list[dict] = field(default_factory=list)  # the new crossings, as payloads
    delivered: list[tuple[dict, Attempt | None]] = field(default_factory=list)
    failed: list[tuple[dict, Attempt]] = field(default_factory=list)
    target_host: str = ""  # empty: no webhook configured


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


def ensure_deliveries_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CREATE_DELIVERIES)


def new_crossings(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Crossings in billing_alerts not yet recorded as delivered, oldest first."""
    cursor = con.execute(
        f"""
        select {", ".join(f"a.{c}" for c in ALERT_COLUMNS)}
        from main.billing_alerts as a
        anti join {DELIVERIES_TABLE} as d on a.alert_key = d.alert_key
        order by a.crossed_at, a.alert_key
        """
    )
    return [dict(zip(ALERT_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def post_with_retries(
    client: httpx.Client,
    url: str,
    body: dict,
    *,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Attempt:
    """POST `body` as JSON; retry on 5xx/429 and connection errors or timeouts with exponential backoff
    (backoff, 2 x backoff, ...); other answers are final. Never raises for HTTP or network trouble."""
    status: int | None = None
    error = ""
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.post(
                url,
                content=json.dumps(body, sort_keys=True).encode(),
                headers={"content-type": "application/json", "idempotency-key": body["alert_key"]},
            )
            status, error = response.status_code, ""
            if status not in RETRY_STATUSES:
                return Attempt(status, attempt)
            error = f"HTTP {status}"
        except httpx.TransportError as exc:  # connect refused, timeouts, broken connections
            status, error = None, type(exc).__name__
        if attempt < max_attempts:
            sleep(backoff_seconds * 2 ** (attempt - 1))
    return Attempt(status, max_attempts, error)


def _record(con, row: dict, *, now: datetime, channel: str, host: str | None, attempt: Attempt | None) -> None:
    con.execute(
        f"insert into {DELIVERIES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
        [row["alert_key"], row["user_id"], row["alert_type"], row["crossed_at"], now, channel, host,
         attempt.status if attempt else None, attempt.attempts if attempt else 0],
    )


def deliver_new_alerts(
    con: duckdb.DuckDBPyConnection,
    webhook_url: str = "",
    *,
    timeout_seconds: float = 10.0,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
    log: Callable[[str], None] = lambda message: None,
) -> DeliveryReport:
    """Raise every new crossing once: POST it when `webhook_url` is set, then record it (see the module doc)."""
    if webhook_url:
        check_webhook_url(webhook_url)
    ensure_deliveries_table(con)
    rows = new_crossings(con)
    report = DeliveryReport(
        new=[payload(row) for row in rows], target_host=url_host(webhook_url) if webhook_url else ""
    )
    if not webhook_url:
        for row, body in zip(rows, report.new, strict=True):
            _record(con, row, now=now(), channel="dagster", host=None, attempt=None)
            report.delivered.append((body, None))
        return report
    with httpx.Client(timeout=timeout_seconds, follow_redirects=False) as client:
        for row, body in zip(rows, report.new, strict=True):
            attempt = post_with_retries(
                client, webhook_url, body, max_attempts=max_attempts, backoff_seconds=backoff_seconds, sleep=sleep
            )
            if attempt.ok:
                _record(con, row, now=now(), channel="webhook", host=report.target_host, attempt=attempt)
                report.delivered.append((body, attempt))
            else:
                report.failed.append((body, attempt))
                log(
                    f"billing alert {body['alert_key']} not delivered to the webhook at {report.target_host} after "
                    f"{attempt.attempts} attempt(s) ({attempt.error or f'HTTP {attempt.status}'}): it stays new and "
                    f"the next run tries again; check the receiver or AI_USAGE_ALERT_WEBHOOK_URL"
                )
    return report
