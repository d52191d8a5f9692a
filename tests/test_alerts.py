"""Billing alerts: the mart's crossings on the fixture, and their delivery to a real webhook on 127.0.0.1.

Fixture (free plan: 100,000 tokens and $0.50 a month): usr_t95 uses 95,000 tokens on 11-20 (80%) and 117,000 by
g08 on 11-21 (100%), and g08 is also where its trial ends; usr_past's trial ends with g02 (100,000 trial tokens
used by g01). Nobody else crosses anything.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.assets.publish import (
    DELIVERY_CHECK,
    NEW_CROSSINGS_CHECK,
    WEBHOOK_URL_ENV,
    billing_alert_notifications,
)
from dagster_project.publish.alerts import deliver_new_alerts
from dagster_project.resources import WarehouseResource

PAYLOADS = [
    {"event": "billing_alert", "alert_key": "usr_past/trial_ended", "user_id": "usr_past",
     "email": "past@example.com", "plan": "pro", "month": "2026-11", "alert_type": "trial_ended", "metric": "trial",
     "threshold_percent": None, "quota_tokens": None, "quota_spend_usd": None, "used_tokens": 100000,
     "used_spend_usd": "0.001000000000", "request_id": "g02", "crossed_at": "2026-11-20T09:00:00Z"},
    {"event": "billing_alert", "alert_key": "usr_t95/2026-11/tokens_80pct", "user_id": "usr_t95",
     "email": "t95@example.com", "plan": "free", "month": "2026-11", "alert_type": "tokens_80pct",
     "metric": "tokens", "threshold_percent": 80, "quota_tokens": 100000, "quota_spend_usd": "0.500000000000",
     "used_tokens": 95000, "used_spend_usd": "0.000000000000", "request_id": "g03",
     "crossed_at": "2026-11-20T10:00:00Z"},
    {"event": "billing_alert", "alert_key": "usr_t95/2026-11/tokens_100pct", "user_id": "usr_t95",
     "email": "t95@example.com", "plan": "free", "month": "2026-11", "alert_type": "tokens_100pct",
     "metric": "tokens", "threshold_percent": 100, "quota_tokens": 100000, "quota_spend_usd": "0.500000000000",
     "used_tokens": 117000, "used_spend_usd": "0.086931818182", "request_id": "g08",
     "crossed_at": "2026-11-21T09:00:00Z"},
    {"event": "billing_alert", "alert_key": "usr_t95/trial_ended", "user_id": "usr_t95",
     "email": "t95@example.com", "plan": "free", "month": "2026-11", "alert_type": "trial_ended", "metric": "trial",
     "threshold_percent": None, "quota_tokens": None, "quota_spend_usd": None, "used_tokens": 100000,
     "used_spend_usd": "0.086931818182", "request_id": "g08", "crossed_at": "2026-11-21T09:00:00Z"},
]


class Webhook:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next scripted status (then 200)."""

    def __init__(self):
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.script: list[int] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                status = outer.script.pop(0) if outer.script else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/billing?token=s3cret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    with Webhook() as server:
        yield server


@pytest.fixture
def warehouse_copy(built_warehouse: Path, tmp_path: Path) -> Path:
    """A writable copy of the built warehouse (the session's one stays read-only), with no alert delivered yet."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("drop table main.billing_alert_deliveries")
    return tmp_path


def deliver(data_dir: Path, url: str = "", **kwargs):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        return deliver_new_alerts(con, url, backoff_seconds=0, **kwargs)


def test_billing_alerts_mart_lists_each_crossing(built_warehouse):
    with duckdb.connect(str(built_warehouse / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select alert_key, request_id, crossed_at::varchar from billing_alerts order by crossed_at, alert_key"
        ).fetchall()
    assert rows == [
        ("usr_past/trial_ended", "g02", "2026-11-20 09:00:00"),
        ("usr_t95/2026-11/tokens_80pct", "g03", "2026-11-20 10:00:00"),
        ("usr_t95/2026-11/tokens_100pct", "g08", "2026-11-21 09:00:00"),
        ("usr_t95/trial_ended", "g08", "2026-11-21 09:00:00"),
    ]


def test_the_default_run_records_each_crossing_without_posting(built_warehouse):
    # The end-to-end run has no webhook configured: every crossing is recorded for the Dagster UI, none posted.
    with duckdb.connect(str(built_warehouse / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select alert_key, channel, http_status from main.billing_alert_deliveries order by alert_key"
        ).fetchall() == [(p["alert_key"], "dagster", None) for p in sorted(PAYLOADS, key=lambda p: p["alert_key"])]


def test_exact_payloads_and_one_post_per_crossing_across_two_runs(warehouse_copy, webhook):
    first = deliver(warehouse_copy, webhook.url)
    assert webhook.received == PAYLOADS
    assert [h["idempotency-key"] for h in webhook.headers] == [p["alert_key"] for p in PAYLOADS]
    assert (len(first.delivered), len(first.failed)) == (4, 0)

    second = deliver(warehouse_copy, webhook.url)
    assert second.new == [] and len(webhook.received) == 4
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select alert_key, channel, target_host, http_status, attempts from main.billing_alert_deliveries "
            "order by alert_key"
        ).fetchall() == [
            (p["alert_key"], "webhook", f"127.0.0.1:{webhook.server.server_port}", 200, 1)
            for p in sorted(PAYLOADS, key=lambda p: p["alert_key"])
        ]


def test_a_503_is_retried_and_the_crossing_posted_once_more(warehouse_copy, webhook):
    webhook.script = [503]
    report = deliver(warehouse_copy, webhook.url)
    assert [p["alert_key"] for p in webhook.received] == [PAYLOADS[0]["alert_key"]] + [
        p["alert_key"] for p in PAYLOADS
    ]
    assert [attempt.attempts for _, attempt in report.delivered] == [2, 1, 1, 1]
    assert report.failed == []


def test_a_failed_delivery_is_not_recorded_and_is_retried_next_run(warehouse_copy, webhook):
    webhook.script = [500, 500]  # the first crossing fails both of its two attempts
    first = deliver(warehouse_copy, webhook.url, max_attempts=2)
    assert [body["alert_key"] for body, _ in first.failed] == ["usr_past/trial_ended"]
    assert first.failed[0][1].status == 500 and len(first.delivered) == 3

    second = deliver(warehouse_copy, webhook.url, max_attempts=2)
    assert [body["alert_key"] for body, _ in second.delivered] == ["usr_past/trial_ended"]
    assert len(webhook.received) == 2 + 3 + 1


def test_connection_errors_are_retried_then_reported_without_the_url(warehouse_copy):
    sleeps: list[float] = []
    messages: list[str] = []
    with Webhook() as closed:
        url = closed.url  # a port that nothing listens on once the server is closed
    report = deliver(warehouse_copy, url, max_attempts=3, sleep=sleeps.append, log=messages.append)
    assert len(report.failed) == 4 and report.delivered == []
    assert sleeps == [0, 0] * 4
    assert messages and all("s3cret" not in m and "127.0.0.1" in m for m in messages)


@pytest.mark.parametrize("url", ["ftp://example.com/hook?token=s3cret", "not a url s3cret", "https://"])
def test_a_bad_url_is_refused_before_anything_is_recorded_without_repeating_it(warehouse_copy, url):
    with pytest.raises(ValueError, match="AI_USAGE_ALERT_WEBHOOK_URL") as error:
        deliver(warehouse_copy, url)
    assert "s3cret" not in str(error.value)
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*) from information_schema.tables where table_name = 'billing_alert_deliveries'"
        ).fetchone() == (0,)


def test_nothing_is_posted_without_a_url(warehouse_copy, webhook):
    report = deliver(warehouse_copy, "")
    assert webhook.received == [] and len(report.delivered) == 4
    assert deliver(warehouse_copy, webhook.url).new == []  # recorded: a webhook configured later does not resend
    assert webhook.received == []


def test_asset_shows_new_crossings_warns_once_and_never_leaks_the_url(warehouse_copy, webhook, monkeypatch):
    monkeypatch.setenv(WEBHOOK_URL_ENV, webhook.url)
    resources = {"warehouse": WarehouseResource(data_dir=str(warehouse_copy))}

    first = dg.materialize([billing_alert_notifications], resources=resources)
    assert first.success and len(webhook.received) == 4
    metadata = first.asset_materializations_for_node("billing_alert_notifications")[0].metadata
    assert metadata["new_crossings"].value == 4 and metadata["failed"].value == 0
    table = metadata["new_crossings_table"].value
    assert "usr_t95" in table and "tokens_100pct" in table and "HTTP 200" in table
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert not checks[NEW_CROSSINGS_CHECK].passed
    assert checks[NEW_CROSSINGS_CHECK].severity == dg.AssetCheckSeverity.WARN
    assert checks[DELIVERY_CHECK].passed
    text = json.dumps({k: str(v.value) for k, v in metadata.items()})
    assert "s3cret" not in text and f"127.0.0.1:{webhook.server.server_port}" in text

    second = dg.materialize([billing_alert_notifications], resources=resources)
    assert len(webhook.received) == 4
    assert {c.check_name: c.passed for c in second.get_asset_check_evaluations()} == {
        NEW_CROSSINGS_CHECK: True, DELIVERY_CHECK: True,
    }
    logs = "\n".join(str(e.message) for e in first.all_events + second.all_events if e.message)
    assert "s3cret" not in logs
