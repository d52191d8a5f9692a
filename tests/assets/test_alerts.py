"""Billing alerts: the mart's crossings on the fixture, and their delivery to a real webhook on 127.0.0.1.

Fixture (free plan: 100,000 tokens and $0.50 a month): usr_t95 uses 95,000 tokens on 11-20 (80%) and 117,000 by
g08 on 11-21 (100%), and g08 is also where its trial ends; usr_past's trial ends with g02 (100,000 trial tokens
used by g01). Nobody else crosses anything.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.publish.assets import (
    DELIVERY_CHECK,
    NEW_CROSSINGS_CHECK,
    WEBHOOK_URL_ENV,
    billing_alert_notifications,
    billing_alert_outbox,
    billing_alert_webhook_posts,
)
from dagster_project.publish.alerts import DeliveryPolicy, deliver_new_alerts
from dagster_project.resources import DUCKDB_WRITER_POOL
from tests.conftest import resources_for

ALERT_ASSETS = [billing_alert_outbox, billing_alert_webhook_posts, billing_alert_notifications]

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
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next scripted status (then 200).

    A script entry is a status or (status, headers). `answer`, when set, replaces the scripted answer: it gets the
    request handler and may hang, dribble or answer garbage (see the receivers below); `on_post` runs first."""

    def __init__(self):
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.script: list = []
        self.answer = None
        self.on_post = None
        self.release = threading.Event()  # set on exit: a hanging or dribbling handler stops
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                if outer.on_post:
                    outer.on_post()
                if outer.answer:
                    return outer.answer(self)
                entry = outer.script.pop(0) if outer.script else 200
                status, headers = entry if isinstance(entry, tuple) else (entry, {})
                self.send_response(status)
                for name, value in {"content-length": "0", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/billing?token=s3cret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def per_alert(self) -> dict[str, int]:
        return dict(Counter(p["alert_key"] for p in self.received))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
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
        con.execute("drop table ops.billing_alert_deliveries")
    return tmp_path


def deliver(data_dir: Path, url: str = "", **kwargs):
    kwargs.setdefault("backoff_seconds", 0)
    return deliver_new_alerts(data_dir / "warehouse.duckdb", url, **kwargs)


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
            "select alert_key, channel, http_status from ops.billing_alert_deliveries order by alert_key"
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
            "select alert_key, channel, target_host, http_status, attempts from ops.billing_alert_deliveries "
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


def test_deliveries_recorded_in_main_before_the_move_to_ops_are_kept_and_not_raised_again(warehouse_copy, webhook):
    """A warehouse of before the table moved to `ops`: its alerts count as raised, and the next recording moves the
    table (rows copied into ops.billing_alert_deliveries, the old one dropped)."""
    assert len(deliver(warehouse_copy, "").delivered) == 4  # recorded in ops
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb")) as con:  # as an old warehouse has it
        con.execute("create table main.billing_alert_deliveries as select * from ops.billing_alert_deliveries")
        con.execute("drop table ops.billing_alert_deliveries")
        legacy = con.execute("select * from main.billing_alert_deliveries order by alert_key").fetchall()
    report = deliver(warehouse_copy, webhook.url)
    assert report.new == [] and webhook.received == []
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select * from ops.billing_alert_deliveries order by alert_key").fetchall() == legacy
        assert len(legacy) == 4
        assert con.execute(
            "select count(*) from information_schema.tables where table_schema = 'main' "
            "and table_name = 'billing_alert_deliveries'"
        ).fetchone() == (0,)


def test_nothing_is_posted_without_a_url(warehouse_copy, webhook):
    report = deliver(warehouse_copy, "")
    assert webhook.received == [] and len(report.delivered) == 4
    assert deliver(warehouse_copy, webhook.url).new == []  # recorded: a webhook configured later does not resend
    assert webhook.received == []


def test_asset_shows_new_crossings_warns_once_and_never_leaks_the_url(warehouse_copy, webhook, monkeypatch):
    monkeypatch.setenv(WEBHOOK_URL_ENV, webhook.url)
    resources = resources_for(warehouse_copy)

    first = dg.materialize(ALERT_ASSETS, resources=resources)
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

    second = dg.materialize(ALERT_ASSETS, resources=resources)
    assert len(webhook.received) == 4
    assert {c.check_name: c.passed for c in second.get_asset_check_evaluations()} == {
        NEW_CROSSINGS_CHECK: True, DELIVERY_CHECK: True,
    }
    logs = "\n".join(str(e.message) for e in first.all_events + second.all_events if e.message)
    assert "s3cret" not in logs


# ---- slow, hostile and odd receivers: every delivery below is bounded by the deadline, budget and breaker ----

SAFETY_SECONDS = 30  # a bound for the tests, not a target: the old code took 45 s per hanging alert


def hang(handler):
    """Accepts the POST, reads it, never answers (until the test ends)."""
    handler.server_outer.release.wait(60)


def dribble_status_line(handler, interval: float = 1.0):
    """Answers `HTTP/1.1 200 OK ...` one byte every `interval` seconds: each read gets a byte, so a timeout per read
    never trips."""
    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
        if handler.server_outer.release.wait(interval):
            return
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:  # the client cut the connection
            return


def corrupt_gzip(handler):
    handler.send_response(200)
    handler.send_header("content-encoding", "gzip")
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", "20")
    handler.end_headers()
    handler.wfile.write(b"\x1f\x8b\x08\x00garbage-not-gzip")


def garbage_json_short_body(handler):
    handler.send_response(202)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", "1000")  # promises more than it sends, then closes
    handler.end_headers()
    handler.wfile.write(b"{not json")
    handler.close_connection = True


def endless_body(handler):
    """Answers 200 at once, then dribbles a body that never ends."""
    handler.send_response(200)
    handler.send_header("content-type", "text/plain")
    handler.end_headers()
    while not handler.server_outer.release.wait(1.0):
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:
            return


@pytest.fixture
def receiver():
    """A Webhook whose handlers can reach it (for `release`)."""
    with Webhook() as server:
        server.server.RequestHandlerClass.server_outer = server
        yield server


def timed(function, *args, **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started


def deliveries(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "select alert_key, channel, http_status, attempts from ops.billing_alert_deliveries order by alert_key"
        ).fetchall()


KEYS = [p["alert_key"] for p in PAYLOADS]


def test_a_hanging_receiver_gets_each_alert_once_and_the_breaker_stops_the_run(warehouse_copy, receiver):
    receiver.answer = hang
    messages: list[str] = []
    report, seconds = timed(deliver, warehouse_copy, receiver.url, timeout_seconds=1.5,
                            max_consecutive_failures=2, log=messages.append)
    assert seconds < 2 * 1.5 + SAFETY_SECONDS
    # No answer: the receiver may have processed it, so no second POST in this run; then the breaker opens.
    assert receiver.per_alert() == {KEYS[0]: 1, KEYS[1]: 1}
    assert [b["alert_key"] for b, _ in report.failed] == KEYS[:2]
    assert [(a.status, a.attempts) for _, a in report.failed] == [(None, 1), (None, 1)]
    assert all("no answer" in a.error for _, a in report.failed)
    assert [b["alert_key"] for b in report.not_tried] == KEYS[2:] and report.delivered == []
    assert report.stopped.startswith("circuit breaker: 2 alert(s) in a row")
    assert deliveries(warehouse_copy) == []  # nothing recorded: all four stay new
    assert any("stopped sending" in m and "2 alert(s) stay new" in m for m in messages)
    assert all("s3cret" not in m for m in messages)

    receiver.answer = None  # the receiver recovers: the next run sends all four, the first two again (same key)
    second = deliver(warehouse_copy, receiver.url)
    assert len(second.delivered) == 4
    assert receiver.per_alert() == {KEYS[0]: 2, KEYS[1]: 2, KEYS[2]: 1, KEYS[3]: 1}
    assert [h["idempotency-key"] for h in receiver.headers] == KEYS[:2] + KEYS


def test_a_dribbling_receiver_is_cut_at_the_deadline(warehouse_copy, receiver):
    receiver.answer = dribble_status_line  # one byte a second; the deadline is 2.5 s, the old 10 s per read never
    report, seconds = timed(deliver, warehouse_copy, receiver.url, timeout_seconds=2.5, max_consecutive_failures=2)
    assert seconds < 2 * 2.5 + SAFETY_SECONDS
    assert receiver.per_alert() == {KEYS[0]: 1, KEYS[1]: 1}
    assert [a.error for _, a in report.failed] == [
        "no answer within the 2.5 s deadline (not sent again in this run: the receiver may have it)"
    ] * 2
    assert len(report.not_tried) == 2 and deliveries(warehouse_copy) == []


def test_the_run_budget_stops_sending_and_leaves_the_rest_new(warehouse_copy, receiver):
    receiver.answer = hang
    report, seconds = timed(deliver, warehouse_copy, receiver.url, timeout_seconds=2, budget_seconds=3,
                            max_consecutive_failures=10)
    assert seconds < 3 + SAFETY_SECONDS
    # 2 s for the first alert, the 1 s left for the second, then the budget is spent.
    assert receiver.per_alert() == {KEYS[0]: 1, KEYS[1]: 1}
    assert [b["alert_key"] for b in report.not_tried] == KEYS[2:]
    assert "budget" in report.stopped and deliveries(warehouse_copy) == []


def test_a_receiver_answering_500_forever_gets_max_attempts_per_alert_until_the_breaker(warehouse_copy, receiver):
    receiver.script = [500] * 100
    sleeps: list[float] = []
    report, seconds = timed(deliver, warehouse_copy, receiver.url, max_attempts=3, backoff_seconds=0.5,
                            max_consecutive_failures=2, sleep=sleeps.append)
    assert seconds < SAFETY_SECONDS
    assert receiver.per_alert() == {KEYS[0]: 3, KEYS[1]: 3}
    assert sleeps == [0.5, 1.0, 0.5, 1.0]  # backoff doubling between the 3 POSTs of each alert
    assert [(a.status, a.attempts, a.error) for _, a in report.failed] == [(500, 3, "HTTP 500")] * 2
    assert len(report.not_tried) == 2 and deliveries(warehouse_copy) == []


@pytest.mark.parametrize("answer", [corrupt_gzip, garbage_json_short_body, endless_body])
def test_a_2xx_with_a_malformed_body_counts_as_delivered_and_is_never_sent_again(warehouse_copy, receiver, answer):
    receiver.answer = answer
    report, seconds = timed(deliver, warehouse_copy, receiver.url, timeout_seconds=5)
    assert seconds < SAFETY_SECONDS
    assert report.failed == [] and len(report.delivered) == 4
    assert receiver.per_alert() == dict.fromkeys(KEYS, 1)
    status = 202 if answer is garbage_json_short_body else 200
    assert deliveries(warehouse_copy) == [(k, "webhook", status, 1) for k in sorted(KEYS)]
    assert deliver(warehouse_copy, receiver.url).new == [] and len(receiver.received) == 4


def test_retry_after_is_honoured_and_a_too_long_one_waits_for_the_next_run(warehouse_copy, receiver):
    receiver.script = [(429, {"retry-after": "2"}), (503, {"retry-after": "3600"})]
    sleeps: list[float] = []
    report = deliver(warehouse_copy, receiver.url, sleep=sleeps.append, max_retry_after_seconds=60)
    assert sleeps == [2.0]  # the 429's Retry-After, not the backoff
    assert receiver.per_alert() == {KEYS[0]: 2, KEYS[1]: 1, KEYS[2]: 1, KEYS[3]: 1}
    # The second POST of the first alert got the 503 asking for an hour: not waited for, not retried in this run.
    assert [(b["alert_key"], a.status, a.attempts) for b, a in report.failed] == [(KEYS[0], 503, 2)]
    assert "Retry-After 3600 s is above max_retry_after_seconds" in report.failed[0][1].error
    assert [b["alert_key"] for b, _ in report.delivered] == KEYS[1:]


def test_a_502_or_504_from_a_proxy_is_not_retried_in_the_run(warehouse_copy, receiver):
    receiver.script = [502, 504]
    report = deliver(warehouse_copy, receiver.url)
    assert receiver.per_alert() == dict.fromkeys(KEYS, 1)
    assert [(b["alert_key"], a.status, a.attempts) for b, a in report.failed] == [(KEYS[0], 502, 1), (KEYS[1], 504, 1)]
    assert len(report.delivered) == 2


def test_delivery_settings_out_of_range_are_refused_by_name():
    with pytest.raises(ValueError, match="budget_seconds, max_consecutive_failures") as error:
        DeliveryPolicy(budget_seconds=0, max_consecutive_failures=0)
    assert "alert_webhook" in str(error.value)


PROBE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: needs the file's lock, which no other process may hold
print(con.execute("select count(*) from main.billing_alerts").fetchone()[0])
con.execute("create table main.written_while_posting as select 1 as x")
con.close()
"""


def probe_on_first_post(receiver, data_dir: Path) -> list:
    """While the receiver holds the first POST, another process opens the warehouse for writing and writes."""
    results: list = []

    def probe():
        if not results:
            results.append(subprocess.run([sys.executable, "-c", PROBE, str(data_dir / "warehouse.duckdb")],
                                          capture_output=True, text=True, timeout=60))

    receiver.on_post = probe
    receiver.answer = hang
    return results


def test_no_duckdb_connection_is_open_while_posting(warehouse_copy, receiver):
    probes = probe_on_first_post(receiver, warehouse_copy)
    report = deliver(warehouse_copy, receiver.url, timeout_seconds=2, max_consecutive_failures=1)
    assert probes[0].returncode == 0, probes[0].stderr
    assert probes[0].stdout.strip() == "4"
    assert receiver.per_alert() == {KEYS[0]: 1} and len(report.not_tried) == 3
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select x from main.written_while_posting").fetchall() == [(1,)]


def test_the_assets_post_outside_the_writer_pool_and_without_a_connection(warehouse_copy, receiver, monkeypatch):
    # Only the short read and the short write are in the pool; the POSTing asset cannot open the warehouse at all.
    assert billing_alert_outbox.op.pool == DUCKDB_WRITER_POOL
    assert billing_alert_notifications.op.pool == DUCKDB_WRITER_POOL
    assert billing_alert_webhook_posts.op.pool is None
    assert billing_alert_webhook_posts.required_resource_keys - {"io_manager"} == {"alert_webhook"}

    monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
    probes = probe_on_first_post(receiver, warehouse_copy)
    settings = {"timeout_seconds": 2, "max_consecutive_failures": 1}
    result = dg.materialize(
        ALERT_ASSETS, resources=resources_for(warehouse_copy),
        run_config={"resources": {"alert_webhook": {"config": settings}}}, raise_on_error=False,
    )
    assert result.success
    assert probes[0].returncode == 0, probes[0].stderr
    assert receiver.per_alert() == {KEYS[0]: 1}
    metadata = result.asset_materializations_for_node("billing_alert_notifications")[0].metadata
    assert (metadata["failed"].value, metadata["not_tried"].value, metadata["delivered"].value) == (1, 3, 0)
    assert "circuit breaker" in metadata["stopped_early"].value
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks[DELIVERY_CHECK].passed
    assert checks[DELIVERY_CHECK].metadata["not_tried"].value == 3
    assert deliveries(warehouse_copy) == []
    logs = "\n".join(str(e.message) for e in result.all_events if e.message)
    assert "s3cret" not in logs
