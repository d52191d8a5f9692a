"""Hostile input: whatever a log file holds, ingest does not crash, and every bad line lands in raw.quarantine with
its reason, source, line and field, while the good lines around it load."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from dagster_project.project import dbt_executable, dbt_project
from ingest.contract import MODEL_ID, BadRecord, parse_timestamp, validate_record
from ingest.files import MAX_LINE_BYTES, BadLine, Line, read_lines
from ingest.warehouse import connect, load_gateway_files, load_users

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def record(request_id: str, **changes) -> dict:
    base = {
        "id": request_id,
        "created_at": "2026-11-20T08:00:00Z",
        "user_id": "usr_1",
        "model": "openai/gpt-4o-mini",
        "status_code": 200,
        "native_tokens_prompt": 100,
        "native_tokens_completion": 50,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def line(value) -> bytes:
    return (value if isinstance(value, str) else json.dumps(value)).encode() + b"\n"


# (line bytes, expected quarantine (reason, field)) in file order; None = the line lands (or is a duplicate).
HOSTILE_LINES: list[tuple[bytes, tuple[str, str | None] | None]] = [
    (line(record("h01")), None),
    (b"this is not JSON\n", ("not_json", None)),
    (b'\xff\xfe{"id": "h99"}\n', ("invalid_utf8", None)),
    (b"\n", None),  # blank: skipped, not a record, but it keeps its physical line number
    (line(record("h02", user_id=...)), ("missing_field", "user_id")),
    (line(record("h03", native_tokens_prompt="100")), ("wrong_type", "native_tokens_prompt")),
    (line(record("h04", status_code=200.0)), ("wrong_type", "status_code")),
    (line(record("h05", native_tokens_completion=-1)), ("negative_tokens", "native_tokens_completion")),
    (line(record("h06", native_tokens_prompt=10**12)), ("absurd_tokens", "native_tokens_prompt")),
    (line(record("h07", native_tokens_cached=101)), ("cached_exceeds_prompt", "native_tokens_cached")),
    (
        line(record("h08", native_tokens_reasoning=51)),
        ("reasoning_exceeds_completion", "native_tokens_reasoning"),
    ),
    (line(record("h09", created_at="yesterday at noon")), ("bad_timestamp", "created_at")),
    (line(record("h10", created_at="2026-11-20T08:00:00")), ("bad_timestamp", "created_at")),
    (line(record("h11", created_at="2031-01-01T00:00:00Z")), ("future_timestamp", "created_at")),
    (line(record("h12", created_at="0001-01-01T00:00:00+01:00")), ("bad_timestamp", "created_at")),
    (line(record("h13", created_at="1970-01-01T00:00:00Z")), ("out_of_range", "created_at")),
    (line(record("h01", native_tokens_prompt=999)), ("conflicting_duplicate", "id")),
    (line(record("h01")), None),  # the same request again: a duplicate, billed once
    (b"x" * 1_000_000 + b"\n", ("not_json", None)),  # a 1 MB line of garbage
    (b'{"id": "h14", "pad": "' + b"y" * (MAX_LINE_BYTES + 10) + b'"}\n', ("line_too_long", None)),
    (line(record("h15", padding="z" * 1_000_000)), None),  # a 1 MB valid record: extra fields are ignored
    (line(record("h16", model="gpt-4o-mini")), ("bad_model_id", "model")),
    (b"[1, 2, 3]\n", ("not_object", None)),
    (b'{"id": "h17\\ud800", "created_at": "2026-11-20T08:00:00Z"}\n', ("bad_characters", "id")),
    (line(record("h18", user_id="usr\u0000x")), ("bad_characters", "user_id")),
    (line(record("h19", total_cost="0.01")), ("wrong_type", "total_cost")),
    (line(record("h20", total_cost=-0.5)), ("out_of_range", "total_cost")),
    (
        b'{"id": "h21", "created_at": "2026-11-20T08:00:00Z", "user_id": "u", "model": "a/b", '
        b'"native_tokens_prompt": 1' + b"0" * 5000 + b', "native_tokens_completion": 1}\n',
        ("not_json", None),
    ),
    (b"[" * 100_000 + b"\n", ("not_json", None)),
    (line(record("h22", id=...)), ("missing_field", "id")),
    (line(record("h23", status_code=1000)), ("out_of_range", "status_code")),
    (
        line(record("h24", native_tokens_cache_creation=100, native_tokens_cached=1)),
        ("cache_creation_exceeds_prompt", "native_tokens_cache_creation"),
    ),
    (
        b'{"id": "h25", "created_at": "2026-11-20T08:00:00Z", "user_id": "u", "model": "openai/gpt-4o-mini", '
        b'"native_tokens_prompt": 1, "native_tokens_completion": 1, "total_cost": NaN}\n',
        ("out_of_range", "total_cost"),
    ),
    (line(record("h26", created_at="2026-11-20T09:00:00+01:00")), None),  # a valid line after all of it
]


@pytest.fixture
def landed(tmp_path: Path):
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    (gateway / "hostile.jsonl").write_bytes(b"".join(raw for raw, _ in HOSTILE_LINES))
    with connect(tmp_path / "warehouse.duckdb") as con:
        results = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        yield con, results, tmp_path


def test_every_bad_line_is_quarantined_with_reason_source_line_and_field(landed):
    con, results, _ = landed
    expected = [
        ("raw/gateway/hostile.jsonl", number, *outcome)
        for number, (_, outcome) in enumerate(HOSTILE_LINES, start=1)
        if outcome is not None
    ]
    assert (
        con.execute(
            "select source, line_number, reason, field from raw.quarantine order by line_number"
        ).fetchall()
        == expected
    )
    assert con.execute("select count(distinct load_id), min(load_id) from raw.quarantine").fetchone() == (
        1,
        "run-1",
    )


def test_good_lines_around_bad_ones_land_once(landed):
    con, results, _ = landed
    assert con.execute(
        "select id, source_line from raw.gateway_requests order by source_line"
    ).fetchall() == [
        ("h01", 1),
        ("h15", 21),
        ("h26", len(HOSTILE_LINES)),
    ]
    assert con.execute(
        "select native_tokens_prompt, created_at::varchar from raw.gateway_requests where id = 'h01'"
    ).fetchone() == (100, "2026-11-20 08:00:00")
    assert con.execute(
        "select created_at::varchar from raw.gateway_requests where id = 'h26'"
    ).fetchone() == ("2026-11-20 08:00:00",)


def test_counts_balance_in_the_load_log(landed):
    con, results, _ = landed
    bad = sum(1 for _, outcome in HOSTILE_LINES if outcome is not None)
    (result,) = results
    assert (result.lines_read, result.accepted, result.duplicates, result.quarantined) == (
        len(HOSTILE_LINES) - 1,
        3,
        1,
        bad,
    )
    assert con.execute(
        "select source, source_kind, lines_read, accepted, duplicates, quarantined from raw.load_log"
    ).fetchall() == [("raw/gateway/hostile.jsonl", "gateway_file", len(HOSTILE_LINES) - 1, 3, 1, bad)]


def test_the_details_say_what_is_wrong(landed):
    con, _, _ = landed
    details = dict(con.execute("select line_number, detail from raw.quarantine").fetchall())
    assert details[7] == "status_code must be an integer, got Decimal('200.0')"
    assert details[10] == "native_tokens_cached 101 > prompt 100"
    assert details[17].startswith(
        "id 'h01' was first seen at line 1 of the same source with different content"
    )
    assert details[20].startswith(f"line is {MAX_LINE_BYTES + 35:,} bytes, above the limit")
    raw_lines = dict(con.execute("select line_number, raw_line from raw.quarantine").fetchall())
    assert len(raw_lines[19]) == 1000 and len(raw_lines[20]) == 500  # previews, never the whole line
    assert raw_lines[3].startswith('\\xff\\xfe{"id": "h99"}')
    ids = dict(con.execute("select line_number, request_id from raw.quarantine").fetchall())
    assert ids[5] == "h02" and ids[17] == "h01" and ids[24] == "h17\\ud800" and ids[2] is None


def test_reloading_the_same_file_changes_nothing(landed):
    con, _, data_dir = landed
    before = (
        con.execute("select count(*) from raw.gateway_requests").fetchone(),
        con.execute("select count(*) from raw.quarantine").fetchone(),
    )
    (again,) = load_gateway_files(con, data_dir, load_id="run-2", now=NOW)
    assert again.skipped
    after = (
        con.execute("select count(*) from raw.gateway_requests").fetchone(),
        con.execute("select count(*) from raw.quarantine").fetchone(),
    )
    assert before == after


def _land(tmp_path: Path, name: str, data: bytes):
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True, exist_ok=True)
    (gateway / name).write_bytes(data)
    con = connect(tmp_path / "warehouse.duckdb")
    (result,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    return con, result


@pytest.mark.parametrize(
    "name, data",
    [("empty.jsonl", b""), ("empty.jsonl.gz", gzip.compress(b"")), ("blank.jsonl", b"\n \n\r\n")],
)
def test_an_empty_file_is_logged_with_zero_lines(tmp_path, name, data):
    con, result = _land(tmp_path, name, data)
    assert con.execute(
        "select source, lines_read, accepted, duplicates, quarantined from raw.load_log"
    ).fetchall() == [(f"raw/gateway/{name}", 0, 0, 0, 0)]


def test_a_gzip_cut_before_its_trailer_keeps_every_line_and_quarantines_the_break(tmp_path):
    data = b"".join(line(record(f"z{i}")) for i in range(3))
    con, result = _land(tmp_path, "cut.jsonl.gz", gzip.compress(data, mtime=0)[:-8])
    assert con.execute("select id from raw.gateway_requests order by id").fetchall() == [
        ("z0",),
        ("z1",),
        ("z2",),
    ]
    assert con.execute("select source, line_number, reason from raw.quarantine").fetchall() == [
        ("raw/gateway/cut.jsonl.gz", 4, "truncated_gzip")
    ]
    assert (result.lines_read, result.accepted, result.quarantined) == (4, 3, 1)


def test_a_gzip_cut_in_half_loads_a_prefix_and_quarantines_the_break(tmp_path):
    import random

    rng = random.Random(7)  # incompressible-ish content, so that half the bytes is about half the lines
    data = b"".join(line(record(f"z{i:04d}", user_id=f"u{rng.getrandbits(64):x}")) for i in range(2000))
    compressed = gzip.compress(data, mtime=0)
    con, result = _land(tmp_path, "half.jsonl.gz", compressed[: len(compressed) // 2])
    landed = [row[0] for row in con.execute("select id from raw.gateway_requests order by id").fetchall()]
    assert 0 < len(landed) < 2000 and landed == [f"z{i:04d}" for i in range(len(landed))]
    assert con.execute("select line_number, reason from raw.quarantine").fetchall() == [
        (len(landed) + 1, "truncated_gzip")
    ]
    assert result.balanced and result.lines_read == len(landed) + 1


def test_a_file_named_gz_that_is_not_gzip(tmp_path):
    con, result = _land(tmp_path, "plain.jsonl.gz", line(record("p1")))
    assert con.execute(
        "select line_number, reason, detail like '%not a gzip stream%' from raw.quarantine"
    ).fetchall() == [(1, "bad_gzip", True)]
    assert result.balanced and result.accepted == 0


def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path):
    con, result = _land(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + line(record("b1")) + line(record("b2")))
    assert con.execute("select id from raw.gateway_requests order by id").fetchall() == [("b1",), ("b2",)]


def test_read_lines_handles_an_oversized_line_at_the_end_without_newline(tmp_path):
    path = tmp_path / "tail.jsonl"
    path.write_bytes(line(record("t1")) + b"q" * (MAX_LINE_BYTES + 1))
    out = list(read_lines(path))
    assert isinstance(out[0], Line) and isinstance(out[1], BadLine)
    assert (out[1].number, out[1].reason) == (2, "line_too_long")


def test_a_line_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "limit.jsonl"
    path.write_bytes(b"a" * MAX_LINE_BYTES + b"\n")
    (only,) = read_lines(path)
    assert isinstance(only, Line) and len(only.text) == MAX_LINE_BYTES


@pytest.mark.parametrize(
    "value, reason",
    [
        ("9999-12-31T23:59:59-01:00", "bad_timestamp"),
        ("2026-13-01T00:00:00Z", "bad_timestamp"),
        ("", "bad_timestamp"),
        (1732000000, "wrong_type"),
        ("1999-12-31T23:59:59Z", "out_of_range"),
        ("2026-11-24T00:06:00Z", "future_timestamp"),
    ],
)
def test_timestamps_that_do_not_parse_or_lie(value, reason):
    with pytest.raises(BadRecord) as error:
        parse_timestamp(value, "created_at", now=NOW)
    assert (error.value.reason, error.value.field) == (reason, "created_at")


def test_a_timestamp_within_the_clock_skew_tolerance_is_accepted():
    assert parse_timestamp("2026-11-24T00:04:59Z", "created_at", now=NOW) == datetime(2026, 11, 24, 0, 4, 59)


def test_validate_record_accepts_the_contract_example():
    example = json.loads(
        '{"id":"gen_01JD8Z6Q2K","created_at":"2026-11-20T14:03:07.123Z","user_id":"usr_0042",'
        '"model":"openai/gpt-4o-mini","status_code":200,"native_tokens_prompt":1234,'
        '"native_tokens_completion":210,"native_tokens_cached":1024,"streamed":true,"finish_reason":"stop",'
        '"latency":850}'
    )
    request = validate_record(example, now=NOW)
    assert (request.native_tokens_cached, request.created_at) == (
        1024,
        datetime(2026, 11, 20, 14, 3, 7, 123000),
    )


def test_a_file_that_vanishes_after_listing_is_skipped_not_fatal(tmp_path):
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    (gateway / "here.jsonl").write_bytes(line(record("v1")))
    messages: list[str] = []
    with connect(tmp_path / "warehouse.duckdb") as con:
        gone, here = load_gateway_files(
            con, tmp_path, load_id="run-1", now=NOW, files=[gateway / "gone.jsonl", gateway / "here.jsonl"],
            progress=messages.append,
        )
        assert gone.skipped and not here.skipped and here.accepted == 1
        assert messages[0] == "[1/2] raw/gateway/gone.jsonl: gone before it could be read; skipped"
        assert con.execute("select source from raw.load_log").fetchall() == [("raw/gateway/here.jsonl",)]


@pytest.mark.parametrize("user_id", ["usr_0001 ", " usr_0001", "\tusr_0001\r\n", "usr_0001\u3000"])
def test_a_user_id_is_stripped_like_the_users_exports_and_hashes_the_same(user_id):
    clean = validate_record(record("n1", user_id="usr_0001"), now=NOW)
    padded = validate_record(record("n1", user_id=user_id), now=NOW)
    assert (padded.user_id, padded.record_hash) == ("usr_0001", clean.record_hash)


@pytest.mark.parametrize("user_id", ["", "   ", "\t\n"])
def test_a_user_id_empty_after_stripping_is_quarantined(user_id):
    with pytest.raises(BadRecord) as error:
        validate_record(record("n2", user_id=user_id), now=NOW)
    assert (error.value.reason, error.value.field, error.value.detail) == (
        "out_of_range",
        "user_id",
        "user_id is empty",
    )


def test_ids_inside_a_user_id_keep_their_rules():
    with pytest.raises(BadRecord) as error:  # only the ends are stripped: a control character inside is refused
        validate_record(record("n3", user_id="usr\n0001"), now=NOW)
    assert (error.value.reason, error.value.field) == ("bad_characters", "user_id")
    assert MODEL_ID.fullmatch("openai/gpt-4o") and not MODEL_ID.fullmatch("openai/gpt-4o\n")


def test_a_padded_user_id_in_a_log_is_the_users_export_user_with_one_trial(tmp_path):
    """`"usr_0001 "` in a log and `usr_0001` in users.csv are one user: one free trial of 100,000 tokens, priced
    by dbt end to end; the same request logged with the clean id is a duplicate, not a conflict."""
    tokens = {"native_tokens_prompt": 50_000, "native_tokens_completion": 10_000}  # 60,000 tokens each
    log = [
        record("p1", user_id="usr_0001 ", created_at="2026-11-20T08:00:00Z", **tokens),
        record("p2", user_id="usr_0001", created_at="2026-11-20T09:00:00Z", **tokens),
        record("p3", user_id="\tusr_0001", created_at="2026-11-20T10:00:00Z", **tokens),
        record("p1", user_id="usr_0001", created_at="2026-11-20T08:00:00Z", **tokens),  # p1 again, clean id
        record("p4", user_id="  ", created_at="2026-11-20T11:00:00Z", **tokens),
    ]
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    (gateway / "padded.jsonl").write_bytes(b"".join(line(value) for value in log))
    (tmp_path / "raw" / "users.csv").write_text(
        "id,email,created_at,plan\nusr_0001,one@example.com,2026-11-01T00:00:00Z,free\n"
    )
    with connect(tmp_path / "warehouse.duckdb") as con:
        (result,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        load_users(con, tmp_path, load_id="run-1")
        assert (result.accepted, result.duplicates, result.quarantined) == (3, 1, 1)
        assert con.execute("select line_number, reason, field from raw.quarantine").fetchall() == [
            (5, "out_of_range", "user_id")
        ]
    done = subprocess.run(
        [
            dbt_executable(), "build", "--select", "+ai_usage_analytics", "users", "--exclude", "test_type:singular",
            "--profiles-dir", ".", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            "--quiet",
        ],
        cwd=dbt_project.project_dir,
        env={**os.environ, "AI_USAGE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        # list charge 0.0135 x 1.25 = 0.016875 a request: p1 all trial, p2 the last 40,000 trial tokens, p3 none
        assert con.execute(
            """
            select a.request_id, a.user_id, a.trial_tokens, a.chargeable_tokens, a.user_charge_usd, u.email
            from ai_usage_analytics as a left join users as u on a.user_id = u.id order by a.request_id
            """
        ).fetchall() == [
            ("p1", "usr_0001", 60_000, 0, D("0"), "one@example.com"),
            ("p2", "usr_0001", 40_000, 20_000, D("0.005625"), "one@example.com"),
            ("p3", "usr_0001", 0, 60_000, D("0.016875"), "one@example.com"),
        ]
