"""The gateway logs API pull against a real HTTP server on 127.0.0.1, started by the test.

The server serves tests/fixtures/api/logs.json the way the List Gateway Logs API does (filtered by start_date and
end_date, paged by page and per_page); a test scripts failures into it (429, 503, 401, garbage, slow answers, a
listing that changes while it is paged).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ingest.gateway_api import (
    BearerToken,
    GatewayApiError,
    GatewayLogsClient,
    GatewaySettings,
    RetryPolicy,
    day_windows,
    land_gateway_pull,
    parse_retry_after,
    pull_source,
    redact,
)
from ingest.warehouse import connect, load_gateway_files

FIXTURE = Path(__file__).parents[1] / "fixtures" / "api" / "logs.json"
TOKEN = "cf-secret-token-0123456789"
ACCOUNT, GATEWAY = "acc1", "gw-main"
DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
NEXT_DAY = datetime(2026, 11, 21, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
SOURCE = f"api:{GATEWAY}:2026-11-20T00:00:00Z/2026-11-21T00:00:00Z"

Reply = tuple[int, dict, bytes]


class GatewayStub:
    """The API's behaviour. ``script`` holds one-shot overrides, consumed one per request (None = serve normally)."""

    def __init__(self, records: list[dict]):
        self.records = records
        self.script: list[Callable[[GatewayStub, int, int], Reply | None] | None] = []
        self.requests: list[dict] = []
        self.authorizations: list[str | None] = []

    def listing(self, start: str, end: str) -> list[dict]:
        return sorted(
            (r for r in self.records if start <= r["created_at"][:19] + "Z" < end),
            key=lambda r: r["created_at"],
        )

    def page(self, page: int, per_page: int, start: str, end: str, *, total: int | None = None) -> Reply:
        rows = self.listing(start, end)
        body = {
            "success": True,
            "errors": [],
            "result": rows[(page - 1) * per_page : page * per_page],
            "result_info": {
                "page": page,
                "per_page": per_page,
                "count": 0,
                "total_count": len(rows) if total is None else total,
            },
        }
        body["result_info"]["count"] = len(body["result"])
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def handle(self, path: str, query: dict, authorization: str | None) -> Reply:
        self.authorizations.append(authorization)
        if path != f"/accounts/{ACCOUNT}/ai-gateway/gateways/{GATEWAY}/logs":
            return 404, {}, b'{"success": false, "errors": [{"message": "not found"}]}'
        if authorization != f"Bearer {TOKEN}":
            return (
                401,
                {},
                b'{"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}',
            )
        page, per_page = int(query["page"][0]), int(query["per_page"][0])
        self.requests.append({key: values[0] for key, values in query.items()})
        step = self.script.pop(0) if self.script else None
        reply = step(self, page, per_page) if step else None
        return reply or self.page(page, per_page, query["start_date"][0], query["end_date"][0])


@pytest.fixture
def stub():
    records = json.loads(FIXTURE.read_text())
    state = GatewayStub(records)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            status, headers, body = state.handle(
                url.path, parse_qs(url.query), self.headers.get("Authorization")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def logs() -> list[str]:
    return []


def make_client(stub, sleeps, logs, *, token=TOKEN, per_page=3, timeout=2.0, **kwargs) -> GatewayLogsClient:
    settings = GatewaySettings(
        base_url=stub.base_url, account_id=ACCOUNT, gateway_id=GATEWAY, api_token=token
    )
    return GatewayLogsClient(
        settings,
        per_page=per_page,
        timeout=httpx.Timeout(timeout),
        retry=kwargs.pop("retry", RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=5.0)),
        sleep=sleeps.append,
        log=logs.append,
        **kwargs,
    )


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def pull_day(con, client, *, load_id="run-1", start=DAY, end=NEXT_DAY):
    with client:
        return land_gateway_pull(
            con, client, start=start, end=end, load_id=load_id, now=NOW, progress=client.log
        )


def landed(con) -> list[tuple]:
    return con.execute(
        "select id, user_id, model, status_code, native_tokens_prompt, native_tokens_completion, native_tokens_cached,"
        " total_cost, created_at::varchar, source, source_line from raw.gateway_requests order by id"
    ).fetchall()


def nothing_landed(con) -> bool:
    return all(
        con.execute(f"select count(*) from raw.{table}").fetchone() == (0,)
        for table in ("gateway_requests", "quarantine", "load_log")
    )


def test_pages_to_the_end_and_lands_exactly_the_day(con, stub, sleeps, logs):
    (result,) = pull_day(con, make_client(stub, sleeps, logs))
    assert [(r["page"], r["per_page"]) for r in stub.requests] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert stub.requests[0]["start_date"] == "2026-11-20T00:00:00Z"
    assert stub.requests[0]["end_date"] == "2026-11-21T00:00:00Z"
    assert landed(con) == [
        (
            "cf01",
            "usr_api1",
            "openai/gpt-4o-mini",
            200,
            1000,
            500,
            0,
            D("0.00045"),
            "2026-11-20 08:00:00",
            SOURCE,
            1,
        ),
        (
            "cf02",
            "usr_api1",
            "anthropic/claude-3.5-sonnet",
            200,
            20000,
            2000,
            0,
            D("0.09"),
            "2026-11-20 09:00:00.25",
            SOURCE,
            2,
        ),
        # a gateway-cache hit: billed like any request, not provider cached tokens; the gateway's cost is 0
        (
            "cf03",
            "usr_api2",
            "openai/gpt-4o-mini",
            200,
            1000,
            500,
            0,
            D("0"),
            "2026-11-20 10:00:00",
            SOURCE,
            3,
        ),
        ("cf04", "usr_api2", "openai/gpt-4o-mini", 500, 1000, 0, 0, D("0"), "2026-11-20 11:00:00", SOURCE, 4),
        (
            "cf05",
            "usr_api3",
            "openai/gpt-4o-mini",
            200,
            2000,
            1000,
            0,
            D("0.0009"),
            "2026-11-20 12:00:00",
            SOURCE,
            5,
        ),
    ]
    assert (result.source, result.lines_read, result.accepted, result.duplicates, result.quarantined) == (
        SOURCE,
        7,
        5,
        0,
        2,
    )
    assert con.execute(
        "select source, source_kind, lines_read, accepted, duplicates, quarantined from raw.load_log"
    ).fetchall() == [(SOURCE, "gateway_api", 7, 5, 0, 2)]
    assert sleeps == []
    assert logs == [
        f"{SOURCE}: 7 records on 3 pages: 5 new, 0 duplicates, 2 quarantined "
        "({'negative_tokens': 1, 'bad_metadata': 1})"
    ]


def test_a_bad_api_record_is_quarantined_like_a_bad_file_line(con, stub, sleeps, logs):
    pull_day(con, make_client(stub, sleeps, logs))
    rows = con.execute(
        "select source, line_number, reason, field, detail, request_id, load_id from raw.quarantine order by 2"
    ).fetchall()
    assert rows == [
        (
            SOURCE,
            6,
            "negative_tokens",
            "tokens_in",
            "native_tokens_prompt is negative (-3) (API field tokens_in)",
            "cf06",
            "run-1",
        ),
        (SOURCE, 7, "bad_metadata", "metadata", "metadata '{not json' is not a JSON object", "cf07", "run-1"),
    ]
    raw = con.execute("select raw_line from raw.quarantine where line_number = 6").fetchone()[0]
    assert json.loads(raw)["tokens_in"] == -3


def test_a_multi_day_window_lands_one_source_per_day(con, stub, sleeps, logs):
    results = pull_day(
        con, make_client(stub, sleeps, logs), start=DAY, end=datetime(2026, 11, 22, tzinfo=timezone.utc)
    )
    assert [(r.source, r.accepted) for r in results] == [
        (SOURCE, 5),
        (f"api:{GATEWAY}:2026-11-21T00:00:00Z/2026-11-22T00:00:00Z", 1),
    ]
    assert con.execute("select count(*), count(distinct source) from raw.load_log").fetchone() == (2, 2)


def test_429_with_retry_after_then_success(con, stub, sleeps, logs):
    stub.script = [lambda s, page, per_page: (429, {"Retry-After": "2"}, b'{"success": false}')]
    pull_day(con, make_client(stub, sleeps, logs))
    assert sleeps == [2.0] and len(landed(con)) == 5
    assert logs[0].endswith(
        "page 1 of 2026-11-20T00:00:00Z/2026-11-21T00:00:00Z: HTTP 429; retrying in 2.0s (attempt 2/3)"
    )


def test_retry_after_is_capped_and_may_be_a_date(con, stub, sleeps, logs):
    stub.script = [None, lambda s, page, per_page: (429, {"Retry-After": "3600"}, b"slow down")]
    pull_day(con, make_client(stub, sleeps, logs))
    assert sleeps == [5.0] and len(landed(con)) == 5
    assert (
        parse_retry_after("Wed, 25 Nov 2026 00:00:30 GMT", now=datetime(2026, 11, 25, tzinfo=timezone.utc))
        == 30
    )
    assert parse_retry_after("soon") is None


def test_503_then_success_backs_off_exponentially(con, stub, sleeps, logs):
    fail = lambda s, page, per_page: (503, {}, b"<html>Service Unavailable</html>")  # noqa: E731
    stub.script = [fail, fail, None, fail]
    pull_day(con, make_client(stub, sleeps, logs))
    assert sleeps == [1.0, 2.0, 1.0] and len(landed(con)) == 5


def test_5xx_on_every_attempt_fails_clearly_and_lands_nothing(con, stub, sleeps, logs):
    stub.script = [None] + [lambda s, page, per_page: (502, {}, b"bad gateway")] * 3
    with pytest.raises(GatewayApiError) as error:
        pull_day(con, make_client(stub, sleeps, logs))
    assert str(error.value) == (
        f"gateway 'gw-main' at {stub.base_url}/accounts/acc1/ai-gateway/gateways/gw-main/logs, page 2 of "
        "2026-11-20T00:00:00Z/2026-11-21T00:00:00Z: HTTP 502 on all 3 attempts; the pull was abandoned and nothing "
        "was landed. Try again later"
    )
    assert nothing_landed(con)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_clear_and_never_shows_the_token(con, stub, sleeps, logs, status):
    stub.script = [
        lambda s, page, per_page: (status, {}, f'{{"success": false, "token": "{TOKEN}"}}'.encode())
    ]
    with pytest.raises(GatewayApiError) as error:
        pull_day(con, make_client(stub, sleeps, logs))
    message = str(error.value)
    assert f"the API refused the token (HTTP {status}). Check AI_GATEWAY_API_TOKEN" in message
    assert TOKEN not in message and TOKEN not in repr(error.value) and sleeps == []
    assert nothing_landed(con)


def test_a_wrong_token_is_refused_by_the_server(con, stub, sleeps, logs):
    with pytest.raises(GatewayApiError, match="refused the token"):
        pull_day(con, make_client(stub, sleeps, logs, token="wrong"))
    assert stub.authorizations == ["Bearer wrong"]


GARBAGE = {
    "html": (b"<html><body>Cloudflare: 520</body></html>", "malformed response (not JSON)"),
    "truncated_json": (b'{"success": true, "result": [{"id": "cf01"', "malformed response (not JSON)"),
    "success_false": (
        b'{"success": false, "errors": [{"message": "boom"}], "result": null}',
        "the API answered success=False, errors=[{'message': 'boom'}]",
    ),
    "missing_result_info": (b'{"success": true, "result": []}', "'result_info' is missing or not an object"),
    "result_not_a_list": (
        b'{"success": true, "result": {}, "result_info": {}}',
        "'result' is missing or not a list",
    ),
    "a_json_list": (b"[]", "malformed response (a JSON list, not an object)"),
    "bad_total": (
        b'{"success": true, "result": [], "result_info": {"page": 2, "per_page": 3, "total_count": "7"}}',
        "result_info.total_count is '7', not a count",
    ),
}


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_on_any_page_fails_clearly_and_lands_nothing(con, stub, sleeps, logs, name):
    body, expected = GARBAGE[name]
    stub.script = [None, lambda s, page, per_page: (200, {"Content-Type": "application/json"}, body)]
    with pytest.raises(GatewayApiError) as error:
        pull_day(con, make_client(stub, sleeps, logs))
    assert expected in str(error.value) and "page 2 of 2026-11-20T00:00:00Z" in str(error.value)
    assert nothing_landed(con)


def test_an_unexpected_status_echoing_the_token_is_redacted(con, stub, sleeps, logs):
    stub.script = [lambda s, page, per_page: (400, {}, f"bad request for Bearer {TOKEN}".encode())]
    with pytest.raises(GatewayApiError) as error:
        pull_day(con, make_client(stub, sleeps, logs))
    assert "unexpected HTTP 400: 'bad request for Bearer ***'" in str(error.value) and TOKEN not in str(
        error.value
    )


def token_prefixes_in(text: str) -> list[str]:
    """The leading pieces of TOKEN (6 characters or more) that appear in ``text``."""
    return [TOKEN[:n] for n in range(6, len(TOKEN) + 1) if TOKEN[:n] in text]


@pytest.mark.parametrize(
    "text, secret, expected",
    [
        (f"a {TOKEN} b {TOKEN}", TOKEN, "a *** b ***"),
        (f"cut: {TOKEN[:6]}", TOKEN, "cut: ***"),  # the first 6 characters alone are masked too
        (f"cut: {TOKEN[:5]}", TOKEN, f"cut: {TOKEN[:5]}"),  # fewer are not (too common to mean the token)
        (f"{TOKEN[:10]}X{TOKEN}", TOKEN, "***X***"),
        (repr("ab\\cdefgh"), "ab\\cdefgh", "'***'"),  # as repr() escapes it (the backslash doubled)
        (repr("ab'cd\"efgh"), "ab'cd\"efgh", "'***'"),  # repr() escapes the quote
        (json.dumps('ab"cdefgh'), 'ab"cdefgh', '"***"'),  # as JSON escapes it
        ("no secret set", "", "no secret set"),
    ],
)
def test_redact_masks_the_token_whole_escaped_and_cut_short(text, secret, expected):
    assert redact(text, secret) == expected


# The token starts at every position where it crosses the 200-byte cut of a quoted body.
CROSSING_200 = range(200 - len(TOKEN) + 1, 200)


@pytest.mark.parametrize(
    "status, problem",
    [(400, "unexpected HTTP 400: "), (200, "malformed response (not JSON): ")],
    ids=["unexpected-status", "not-json"],
)
def test_a_token_echoed_across_the_200_byte_cut_leaves_no_piece(stub, sleeps, logs, status, problem):
    with make_client(stub, sleeps, logs) as client:
        for pad in CROSSING_200:
            body = "x" * pad + TOKEN + "y" * 300
            stub.script = [lambda s, page, per_page, body=body: (status, {}, body.encode())]
            with pytest.raises(GatewayApiError) as error:
                client.fetch_page(1, DAY, NEXT_DAY)
            message = str(error.value)
            assert token_prefixes_in(message) == [], (pad, message)
            # redacted whole first, then cut: the cut falls in what follows the mask
            assert f"{problem}{repr(('x' * pad + '***' + 'y' * 300)[:200])}..." in message, (pad, message)
    assert token_prefixes_in("\n".join(logs)) == []


def test_a_token_echoed_across_the_500_char_cut_of_errors_leaves_no_piece(stub, sleeps, logs):
    def failure(pad: int) -> str:
        errors = [{"code": 1, "message": "x" * pad + TOKEN + "y" * 600}]
        body = json.dumps({"success": False, "errors": errors}).encode()
        stub.script = [lambda s, page, per_page: (200, {}, body)]
        with pytest.raises(GatewayApiError) as error:
            client.fetch_page(1, DAY, NEXT_DAY)
        return str(error.value)

    with make_client(stub, sleeps, logs) as client:
        at_start = failure(0)
        head = at_start[: at_start.index("***")]  # where the token starts in the message with no padding
        assert head.endswith("the API answered success=False, errors=[{'code': 1, 'message': '")
        crossing = range(500 - len(TOKEN) + 1 - len(head), 500 - len(head))
        for pad in crossing:
            message = failure(pad)
            assert token_prefixes_in(message) == [], (pad, message)
            assert message == (head + "x" * pad + "***" + "y" * 600)[:500], pad
    assert token_prefixes_in("\n".join(logs)) == []


def test_a_token_echoed_in_a_bad_api_record_is_not_quarantined(con, stub, sleeps, logs):
    # metadata that is not JSON is quoted to 80 characters in the detail: the token crosses that cut
    record = {**stub.records[0], "metadata": "x" * 70 + TOKEN}
    body = {"success": True, "result": [record], "result_info": {"page": 1, "per_page": 3, "total_count": 1}}
    stub.script = [lambda s, page, per_page: (200, {}, json.dumps(body).encode())]
    (result,) = pull_day(con, make_client(stub, sleeps, logs))
    assert (result.lines_read, result.accepted, result.quarantined) == (1, 0, 1)
    reason, detail, raw = con.execute("select reason, detail, raw_line from raw.quarantine").fetchone()
    assert (reason, detail) == ("bad_metadata", f"metadata {'x' * 70 + '***'!r} is not a JSON object")
    assert '"metadata": "' + "x" * 70 + '***"' in raw
    assert token_prefixes_in(detail + raw + "\n".join(logs)) == []


def test_a_server_slower_than_the_timeout_fails_instead_of_hanging(con, stub, sleeps, logs):
    def slow(s, page, per_page):
        time.sleep(0.6)
        return None

    stub.script = [slow, slow]
    client = make_client(stub, sleeps, logs, timeout=0.2, retry=RetryPolicy(max_attempts=2, base_delay=1.0))
    started = time.monotonic()
    with pytest.raises(GatewayApiError, match=r"page 1 .*: timed out \(ReadTimeout\) on all 2 attempts"):
        pull_day(con, client)
    assert time.monotonic() - started < 2 and sleeps == [1.0]
    assert nothing_landed(con)


def test_a_listing_that_changes_while_paged_is_pulled_again_from_page_1(con, stub, sleeps, logs):
    late = {**stub.records[0], "id": "cf00", "created_at": "2026-11-20T07:00:00Z"}

    def arrives(s, page, per_page):  # a late request lands at the top while we read page 2: everything shifts
        s.records.append(late)
        return None

    stub.script = [None, arrives]
    (result,) = pull_day(con, make_client(stub, sleeps, logs))
    assert [r["page"] for r in stub.requests] == ["1", "2", "1", "2", "3"]
    assert [row[0] for row in landed(con)] == ["cf00", "cf01", "cf02", "cf03", "cf04", "cf05"]
    assert (result.lines_read, result.accepted, result.duplicates, result.quarantined) == (8, 6, 0, 2)
    assert (
        "the listing changed while paging (total_count went from 7 to 8 at page 2); starting again" in logs[0]
    )


def test_a_listing_that_never_settles_fails_and_lands_nothing(con, stub, sleeps, logs):
    counter = iter(range(100, 200))

    def grows(s, page, per_page):
        return s.page(page, per_page, "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", total=next(counter))

    stub.script = [grows] * 20
    with pytest.raises(
        GatewayApiError, match="the listing kept changing while it was paged .* after 3 restarts"
    ):
        pull_day(con, make_client(stub, sleeps, logs))
    assert nothing_landed(con)


def test_a_page_that_ends_early_is_a_change_too(con, stub, sleeps, logs):
    stub.script = [None, lambda s, page, per_page: s.page(page, per_page, "2026-11-20", "2026-11-20T10")]
    with pytest.raises(GatewayApiError):
        pull_day(con, make_client(stub, sleeps, logs, max_restarts=0))
    assert nothing_landed(con)


def test_an_id_on_two_pages_of_a_steady_listing_is_billed_once(con, stub, sleeps, logs):
    stub.records.append({**stub.records[0], "created_at": "2026-11-20T23:00:00Z"})  # cf01 again, other time
    stub.records.append({**stub.records[1]})  # cf02 again, same content
    (result,) = pull_day(con, make_client(stub, sleeps, logs))
    assert [row[0] for row in landed(con)] == ["cf01", "cf02", "cf03", "cf04", "cf05"]
    assert (result.lines_read, result.accepted, result.duplicates, result.quarantined) == (9, 5, 1, 3)
    assert con.execute(
        "select line_number, reason from raw.quarantine where reason = 'conflicting_duplicate'"
    ).fetchall() == [(9, "conflicting_duplicate")]


def test_a_retried_pull_changes_nothing(con, stub, sleeps, logs):
    pull_day(con, make_client(stub, sleeps, logs), load_id="run-1")
    before = landed(con), con.execute("select count(*) from raw.quarantine").fetchone()
    (again,) = pull_day(con, make_client(stub, sleeps, logs), load_id="run-2")
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 5, 2)
    assert (landed(con), con.execute("select count(*) from raw.quarantine").fetchone()) == before
    assert con.execute(
        "select load_id, lines_read, accepted, duplicates, quarantined from raw.load_log order by 1"
    ).fetchall() == [("run-1", 7, 5, 0, 2), ("run-2", 7, 0, 5, 2)]


def test_the_same_id_from_a_file_and_the_api_is_billed_once(tmp_path, con, stub, sleeps, logs):
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    (gateway / "2026-11-20.jsonl").write_text(
        json.dumps(
            {
                "id": "cf01",
                "created_at": "2026-11-20T08:00:00Z",
                "user_id": "usr_api1",
                "model": "openai/gpt-4o-mini",
                "native_tokens_prompt": 1000,
                "native_tokens_completion": 500,
            }
        )
        + "\n"
    )
    (from_file,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    (from_api,) = pull_day(con, make_client(stub, sleeps, logs))
    assert (from_file.accepted, from_api.accepted, from_api.duplicates) == (1, 4, 1)
    assert con.execute("select source from raw.gateway_requests where id = 'cf01'").fetchall() == [
        ("raw/gateway/2026-11-20.jsonl",)
    ]
    assert con.execute("select count(*), count(distinct id) from raw.gateway_requests").fetchone() == (5, 5)


def test_the_token_is_never_shown(stub, sleeps, logs):
    client = make_client(stub, sleeps, logs)
    for text in (repr(client.settings), str(client.settings), repr(client), repr(BearerToken(TOKEN))):
        assert TOKEN not in text and "***" in text
    from dagster_project.resources import GatewayApiResource

    resource = GatewayApiResource(
        base_url=stub.base_url, account_id=ACCOUNT, gateway_id=GATEWAY, api_token=TOKEN
    )
    assert (
        TOKEN not in repr(resource) and TOKEN not in str(resource) and TOKEN not in repr(resource.settings())
    )
    request = client._http.build_request("GET", "/x")
    assert TOKEN not in repr(request.headers)
    client.close()
    with pytest.raises(GatewayApiError) as error:
        GatewayLogsClient(GatewaySettings(base_url="", account_id="a", gateway_id="g", api_token=TOKEN))
    assert str(error.value) == "gateway settings missing: base_url"


def test_day_windows_and_source_names():
    start = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    assert day_windows(start, datetime(2026, 11, 22, tzinfo=timezone.utc)) == [
        (start, NEXT_DAY),
        (NEXT_DAY, datetime(2026, 11, 22, tzinfo=timezone.utc)),
    ]
    assert day_windows(DAY, DAY) == []
    assert pull_source("gw", DAY, NEXT_DAY) == "api:gw:2026-11-20T00:00:00Z/2026-11-21T00:00:00Z"


# --- the Dagster asset ---------------------------------------------------------------------------------------

GATEWAY_VARS = ("AI_GATEWAY_BASE_URL", "AI_GATEWAY_ACCOUNT_ID", "AI_GATEWAY_ID", "AI_GATEWAY_API_TOKEN")


def materialize_pull(tmp_path, *, first="2026-11-20", last="2026-11-21", run_config=None):
    import dagster as dg

    from dagster_project.defs.ingest.gateway_api import gateway_api_pull
    from tests.conftest import resources_for

    return dg.materialize(
        [gateway_api_pull],
        resources=resources_for(tmp_path),
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        run_config=run_config,
        raise_on_error=False,
    )


def all_event_text(result) -> str:
    return "\n".join(repr(event) for event in result.all_events) + "\n".join(
        str(getattr(record, "user_message", "")) for record in result.all_events
    )


def test_the_asset_is_skipped_without_settings(tmp_path, monkeypatch):
    for name in GATEWAY_VARS:
        monkeypatch.delenv(name, raising=False)
    result = materialize_pull(tmp_path)
    assert result.success
    materialization = result.asset_materializations_for_node("raw__gateway_api_pull")[0]  # one per day, alike
    assert materialization.metadata["skipped"].value is True
    assert "gateway pull skipped: AI_GATEWAY_* not set" in all_event_text(result)


def test_the_asset_pulls_each_day_of_the_range_from_the_environment(tmp_path, monkeypatch, stub):
    monkeypatch.setenv("AI_GATEWAY_BASE_URL", stub.base_url)
    monkeypatch.setenv("AI_GATEWAY_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("AI_GATEWAY_ID", GATEWAY)
    monkeypatch.setenv("AI_GATEWAY_API_TOKEN", TOKEN)
    result = materialize_pull(tmp_path)
    assert result.success
    materialization = result.asset_materializations_for_node("raw__gateway_api_pull")[0]  # one per day, alike
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert (metadata["skipped"], metadata["days_pulled"], metadata["accepted"], metadata["quarantined"]) == (
        False,
        2,
        6,
        2,
    )
    assert TOKEN not in all_event_text(result)
    with connect(tmp_path / "warehouse.duckdb") as warehouse:
        assert warehouse.execute(
            "select source, lines_read, accepted, duplicates, quarantined from raw.load_log order by source"
        ).fetchall() == [
            (SOURCE, 7, 5, 0, 2),
            (f"api:{GATEWAY}:2026-11-21T00:00:00Z/2026-11-22T00:00:00Z", 1, 1, 0, 0),
        ]


def test_run_config_overrides_the_environment_and_failures_hide_the_token(tmp_path, monkeypatch, stub):
    monkeypatch.setenv("AI_GATEWAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("AI_GATEWAY_ID", "not-this-one")
    config = {"base_url": stub.base_url, "account_id": ACCOUNT, "gateway_id": GATEWAY}
    ok = materialize_pull(
        tmp_path, last="2026-11-20", run_config={"resources": {"gateway_api": {"config": config}}}
    )
    assert ok.success and stub.requests
    stub.script = [lambda s, page, per_page: (401, {}, b"{}")]
    failed = materialize_pull(
        tmp_path, last="2026-11-20", run_config={"resources": {"gateway_api": {"config": config}}}
    )
    assert not failed.success
    text = all_event_text(failed)
    assert "the API refused the token (HTTP 401)" in text and TOKEN not in text


def test_half_set_settings_fail_and_name_what_is_missing(tmp_path, monkeypatch):
    for name in GATEWAY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_GATEWAY_BASE_URL", "http://127.0.0.1:9")
    result = materialize_pull(tmp_path)
    assert not result.success
    assert "AI_GATEWAY_ACCOUNT_ID, AI_GATEWAY_ID, AI_GATEWAY_API_TOKEN not set" in all_event_text(result)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"api_token": TOKEN + "\n"}, "the gateway API token holds whitespace or control characters"),
        ({"api_token": "abc def" + TOKEN}, "the gateway API token holds whitespace or control characters"),
        ({"base_url": "api.cloudflare.com/client/v4"}, "must start with https://"),
    ],
)
def test_unusable_settings_fail_before_any_request_without_the_token(stub, changes, message):
    settings = dict(base_url=stub.base_url, account_id=ACCOUNT, gateway_id=GATEWAY, api_token=TOKEN) | changes
    with pytest.raises(GatewayApiError, match=message) as error:
        GatewayLogsClient(GatewaySettings(**settings))
    assert TOKEN not in str(error.value) and stub.requests == []


def test_a_refused_connection_is_retried_then_fails_clearly(con, sleeps, logs):
    import socket

    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = GatewaySettings(
        base_url=f"http://127.0.0.1:{port}", account_id=ACCOUNT, gateway_id="gw/../x", api_token=TOKEN
    )
    client = GatewayLogsClient(
        settings, retry=RetryPolicy(max_attempts=2), sleep=sleeps.append, log=logs.append
    )
    assert settings.logs_path == "/accounts/acc1/ai-gateway/gateways/gw%2F..%2Fx/logs"
    with pytest.raises(
        GatewayApiError, match=r"connection failed \(ConnectError.* on all 2 attempts"
    ) as error:
        pull_day(con, client)
    assert TOKEN not in str(error.value) and sleeps == [1.0] and nothing_landed(con)


def test_a_listing_without_end_is_cut_off(con, stub, sleeps, logs):
    def endless(s, page, per_page):
        return s.page(1, per_page, "2026-11-20", "2026-11-21", total=10**9)[:2] + (
            s.page(1, per_page, "2026-11-20", "2026-11-21", total=10**9)[2].replace(
                b'"page": 1', f'"page": {page}'.encode()
            ),
        )

    stub.script = [endless] * 10
    with pytest.raises(GatewayApiError, match="more than 4 pages"):
        pull_day(con, make_client(stub, sleeps, logs, max_pages=4))
    assert len(stub.requests) == 4 and nothing_landed(con)
