"""The fast path of landing gives exactly the reference's result, line by line.

Landing judges the provably clean lines in bulk (ingest.contract_sql: Arrow's RE2, then DuckDB) and every other line
with the reference, parse_line / validate_record. These tests generate thousands of records, valid ones written in
many ways and hostile ones broken in every way the contract names (and in ways JSON parsers disagree about), and
check: every line the fast path takes is one the reference accepts, with the identical row (record_hash, created_at
to the microsecond, total_cost to the 12th decimal); the fast path does take the ordinary lines; and landing a file
of them gives the rows, quarantine reasons, fields, details and line numbers that the reference gives line by line.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import ingest.files as files
from ingest import contract_sql
from ingest.contract import RECORD_COLUMNS, BadRecord
from ingest.warehouse import RAW_PREVIEW_CHARS, _record_id, connect, load_gateway_files, parse_line

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "groq/meta-llama/llama-4-scout:free", "x/y@2+b")


def valid(rng: random.Random, index: int) -> dict:
    prompt, completion = rng.randint(0, 50_000), rng.randint(0, 5_000)
    cached = rng.randint(0, prompt) if rng.random() < 0.4 else None
    creation = rng.randint(0, prompt - (cached or 0)) if rng.random() < 0.2 else None
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.randint(0, 23 * 86_400 * 10**6))
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = rng.choice([0, 1, 3, 6, 6])
    if digits:
        stamp += "." + f"{moment.microsecond:06d}"[:digits]
    record = {
        "id": rng.choice([f"gen_{index:08d}", f"req-{index}.{rng.randint(0, 9)}", f"a b~{index}|x", f"#{index}!$%&"]),
        "created_at": stamp + "Z",
        "user_id": f"usr_{rng.randint(1, 40)}",
        "model": rng.choice(MODELS),
        "native_tokens_prompt": prompt,
        "native_tokens_completion": completion,
    }
    optional = {
        "status_code": rng.choice([200, 201, 429, 500, 599, 100]),
        "native_tokens_cached": cached,
        "native_tokens_cache_creation": creation,
        "native_tokens_reasoning": rng.randint(0, completion),
        "service_tier": rng.choice(["flex", "priority", "batch", "default", None]),
        "total_cost": rng.choice([
            round(rng.random() / 10, rng.randint(1, 12)), rng.random() / 10**rng.randint(3, 9), rng.randint(0, 3),
            0.0, 1e-12, 2047.999999999999, 1234.5678, None,
        ]),
        "streamed": rng.choice([True, False]),
        "latency": rng.randint(1, 9000),
        "finish_reason": "stop",
    }
    if creation and rng.random() < 0.5:
        optional["native_tokens_cache_creation_1h"] = rng.randint(0, creation)
    for name, value in optional.items():
        if rng.random() < 0.6 and not (value is None and rng.random() < 0.5):
            record[name] = value
    keys = list(record)
    rng.shuffle(keys) if rng.random() < 0.3 else keys.sort() if rng.random() < 0.5 else None
    return {key: record[key] for key in keys}


HOSTILE_VALUES = {
    "id": ["", " ", " x", "x ", "a'b", 'a"b', "a\\b", "tab\tx", "é", "\u00a0x", "x" * 128, "x" * 129, 7, None, True,
           "\ud800", "a\u2028b"],
    "user_id": [" usr_1 ", "usr_1\n", "\u3000usr", "", "x" * 256, "x" * 257, 12, None, "usr'1"],
    "model": ["gpt-4o", "/x", "openai/", "openai/gpt 4o", "openai/gpt-4o\n", "x" * 199 + "/y", "a/" + "b" * 198,
              None, 1],
    "created_at": ["2026-11-20T08:00:00+00:00", "2026-11-20T08:00:00z", "2026-11-20T08:00:00", "2026-11-20 08:00:00Z",
                   "2026-11-20T08:00:00.1234567Z", "2026-02-29T00:00:00Z", "2028-02-29T00:00:00Z",
                   "2100-02-29T00:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T23:59:60Z", "2026-04-31T00:00:00Z",
                   "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2026-11-24T12:05:00Z",
                   "2026-11-24T12:05:00.000001Z", "2026-11-20T08:00:00+05:30", " 2026-11-20T08:00:00Z",
                   "2026-11-20T08:00:00.000Z", "2026-11-20T08:00:00.5Z", 1732000000, None],
    "status_code": [99, 100, 599, 600, "200", 200.0, True, None, -1],
    "native_tokens_prompt": [-1, 0, 10_000_000, 10_000_001, 1.0, "5", None, True, 2**70],
    "native_tokens_completion": [-5, 99_999_999, 3.5, None],
    "native_tokens_cached": [10**9, -1, 0.5, "1"],
    "native_tokens_reasoning": [10**7, -2],
    "native_tokens_cache_creation": [10**6, -1],
    "native_tokens_cache_creation_1h": [10**6, -1, 1.0],
    "service_tier": ["Flex", "flex\n", "", "a" * 33, "a" * 32, "_x", 5, "flex tier"],
    "total_cost": [-0.0, -1, 1e12, 999999999999.999, 0.0000000000005, 0.0000000000015, 0.1234567890125,
                   2048, 2047.9999999999995, 1e-13, 12345.6, "0.1", True, 5e-7, 1.5e-12],
}
# Raw JSON texts for total_cost that json.dumps would not write.
COST_TEXTS = ["0.10000000000000000001", "1E-5", "1e-05", "8.68e-05", "1.000000000000e-3", "0.0000000000005",
              "0.00000000000050", "1e2", "2047.999999999999", "0.3", "0.30000000000000004", "-0", "-0.0", "0e0",
              "1.5e-12", "2.5e-12", "123e-10", "NaN", "Infinity", "-Infinity", "1" + "0" * 200, "1e999", "00.5"]


def hostile_lines(rng: random.Random, base: dict, index: int) -> list[str]:
    """Lines built from a valid record ``base``: one field changed, or the JSON itself made unusual."""
    lines = []
    name = rng.choice(list(HOSTILE_VALUES))
    value = rng.choice(HOSTILE_VALUES[name])
    lines.append(json.dumps({**base, name: value}, ensure_ascii=rng.random() < 0.5))
    lines.append(json.dumps({key: value for key, value in base.items() if key != rng.choice(list(base))}))
    text = json.dumps(base, separators=(",", ":"))
    cost = rng.choice(COST_TEXTS)
    lines.append(text[:-1] + f',"total_cost":{cost}}}' if "total_cost" not in base else
                 json.dumps({k: v for k, v in base.items() if k != "total_cost"})[:-1] + f', "total_cost": {cost}}}')
    repeated = rng.choice(list(contract_sql.CONTRACT_FIELDS))
    lines.append(text[:-1] + f',"{repeated}":{json.dumps(HOSTILE_VALUES.get(repeated, [1])[0])}}}')
    lines.append(text[:-1] + f',"{repeated}":{json.dumps(base.get(repeated))}}}')
    lines += [
        text[:-1] + ",}",
        text[:-1] + ',"extra":nan}',
        text[:-1] + ',"extra":NaN}',
        text[:-1] + ',"extra":-Infinity}',
        text[:-1] + ',"extra":inf}',
        text[:-1] + ',"extra":[1,2,]}',
        text[:-1] + ',"extra":{"a":[[[[1]]]]}}',
        text[:-1] + ',"extra":' + "[" * 2000 + "]" * 2000 + "}",
        text[:-1] + ',"extra":' + "9" * 5000 + "}",
        text[:-1] + ',"extra":"\\u00e9\\n"}',
        text[:-1] + ',"i\\u0064":"other"}',
        text[:-1] + ',"extra":"a\tb"}',
        text.replace(":", " : ").replace(",", " ,\t"),
        text.replace('{"', '{ "', 1),
        text + " x",
        text[:-1],
        "[" + text + "]",
        "{}",
        text.replace('"', "'"),
        text[: rng.randint(1, len(text) - 1)],
        text.replace(",", ",,", 1),
        text.replace(":", "::", 1),
        text.replace('":', '" :', 1),
        text[:-1] + ',"":1}',
        text[:-1] + f',"{repeated}x":5,"x{repeated}":"y","{repeated[:-1]}":null}}',
        text.replace("true", "TRUE").replace("false", "True"),
        text[:-1] + ',"extra":01}',
        text[:-1] + ',"extra":1.}',
        text[:-1] + ',"extra":-}',
        text[:-1] + ',"extra":1e5,"more":-0.0e-0}',
    ]
    return lines


def corpus(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        base = valid(rng, index)
        lines.append(json.dumps(base, separators=rng.choice([(",", ":"), (", ", ": ")])))
        if rng.random() < 0.5:
            lines.append(rng.choice(hostile_lines(rng, base, index)))
    return lines


def fast_path(lines: list[str], now: datetime = NOW) -> dict[int, tuple]:
    """{line number: row} for the lines the fast path takes, computed as landing computes them."""
    texts = pa.array(lines, pa.string())
    numbers = pa.array(range(1, len(lines) + 1), pa.int64())
    plain = contract_sql.plain_lines(texts)
    con = duckdb.connect()
    con.register("landing_batch", pa.table({"line_number": numbers, "line": texts, "plain": plain}))
    rows = con.execute(
        f"select seq, {', '.join(RECORD_COLUMNS)} from ({contract_sql.CLEAN_SQL})", contract_sql.time_bounds(now)
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def reference(text: str, now: datetime = NOW) -> tuple | BadRecord:
    try:
        return parse_line(text, now=now).as_row()
    except BadRecord as error:
        return error


@pytest.mark.parametrize("seed", range(4))
def test_every_line_the_fast_path_takes_is_the_references_row_to_the_last_digit(seed):
    lines = corpus(seed, 2500)
    fast = fast_path(lines)
    for number, row in fast.items():
        expected = reference(lines[number - 1])
        assert not isinstance(expected, BadRecord), (lines[number - 1], expected.reason, expected.detail)
        assert row == expected, lines[number - 1]
        assert isinstance(row[RECORD_COLUMNS.index("created_at")], datetime)
    # The fast path is not empty: most of the valid lines written plainly take it.
    accepted = sum(1 for text in lines if not isinstance(reference(text), BadRecord))
    assert len(fast) > 0.7 * accepted


def test_the_fast_path_takes_the_ordinary_forms_of_a_clean_line():
    base = {"id": "gen_1", "created_at": "2026-11-20T08:00:00.435Z", "user_id": "usr_6564",
            "model": "openai/gpt-6-luna", "native_tokens_prompt": 1912, "native_tokens_completion": 72,
            "status_code": 200, "streamed": True, "total_cost": 8.68e-05, "finish_reason": "stop", "latency": 1707}
    lines = [
        json.dumps(base, separators=(",", ":"), sort_keys=True),
        json.dumps(base),
        json.dumps({**base, "service_tier": "batch", "native_tokens_cached": 1024, "total_cost": 0.00031371}),
        json.dumps({**base, "native_tokens_cache_creation": 100, "native_tokens_cache_creation_1h": 0}),
        json.dumps({**base, "service_tier": None, "total_cost": None, "status_code": None}),
        json.dumps({**base, "created_at": "2026-11-20T08:00:00Z", "total_cost": 2}),
    ]
    fast = fast_path(lines)
    assert sorted(fast) == list(range(1, len(lines) + 1))
    assert [row for _, row in sorted(fast.items())] == [reference(text) for text in lines]
    assert fast[1][RECORD_COLUMNS.index("total_cost")] == Decimal("0.000086800000")
    assert fast[1][RECORD_COLUMNS.index("record_hash")] == parse_line(lines[0], now=NOW).record_hash


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"a","id":"b","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,"native_tokens_prompt":2}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,"x":[1,]}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,"x":nan}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,"total_cost":0.1000000000005}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,"total_cost":0.10000000000000000001}',
        '{"id":"a","created_at":"2026-11-20T08:00:00Z","user_id":"u","model":"o/m",'
        '"native_tokens_prompt":1,"native_tokens_completion":1,}',
    ],
)
def test_lines_that_parsers_read_differently_are_left_to_the_reference(text):
    assert fast_path([text]) == {}


def test_landing_a_file_gives_what_the_reference_gives_line_by_line(tmp_path):
    lines = corpus(11, 3000)
    lines[5:5] = ["", "   ", "\t"]  # blank lines keep the physical numbering
    path = tmp_path / "raw" / "gateway" / "mixed.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), mtime=0))
    expected_rows, expected_bad, seen = {}, set(), {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            expected_bad.add((number, "invalid_utf8", None))
            continue
        outcome = reference(text)
        if isinstance(outcome, BadRecord):
            detail = outcome.detail[:RAW_PREVIEW_CHARS]
            request_id = _record_id(text) if outcome.reason != "not_json" else None
            expected_bad.add((number, outcome.reason, outcome.field, detail, text[:RAW_PREVIEW_CHARS], request_id))
            continue
        request_id, record_hash = outcome[0], outcome[-1]
        if request_id not in seen:
            seen[request_id] = (number, record_hash)
            expected_rows[request_id] = (*outcome, number)
        elif seen[request_id][1] != record_hash:
            expected_bad.add((number, "conflicting_duplicate", "id"))
    with connect(tmp_path / "warehouse.duckdb") as con:
        (result,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        rows = con.execute(f"select {', '.join(RECORD_COLUMNS)}, source_line from raw.gateway_requests").fetchall()
        bad = con.execute(
            "select line_number, reason, field, detail, raw_line, request_id from raw.quarantine"
        ).fetchall()
    assert {row[0]: row for row in rows} == expected_rows
    assert {
        row if row[1] not in ("conflicting_duplicate", "invalid_utf8") else row[:3] for row in bad
    } == expected_bad
    assert len(bad) == len(expected_bad) and result.balanced


# --- the reader: line_batches gives the lines of lines_of ------------------------------------------------------


def _reference_lines(data: bytes) -> list:
    return list(files.lines_of(io.BufferedReader(io.BytesIO(data))))


def _fast_lines(data: bytes, chunk: int) -> list:
    out = []
    for item in files.line_batches(io.BytesIO(data), chunk_bytes=chunk):
        if isinstance(item, files.LineBatch):
            out += [files.Line(n, t) for n, t in zip(item.numbers.to_pylist(), item.texts.to_pylist(), strict=True)]
        else:
            out.append(item)
    return sorted(out, key=lambda line: line.number)


def test_line_batches_reads_the_lines_of_the_reference_reader_or_says_it_cannot(monkeypatch):
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 40)
    rng = random.Random(3)
    pieces = [b'{"a":1}', b"", b"  ", b"\r", b"\xff\xfe x", b"x" * 40, b"y" * 41, files.BOM + b'{"b":2}',
              b"\x0b\x0c z \t", "\u00e9".encode(), b"\xc3", b"\xed\xa0\x80", b"\x00", "\u2028".encode()]
    compared = irregular = 0
    for _ in range(1500):
        data = b"\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        data = (files.BOM if rng.random() < 0.2 else b"") + data + (b"\n" if rng.random() < 0.5 else b"")
        for chunk in (1, 5, 64, 4096):
            try:
                fast = _fast_lines(data, chunk)
            except files.IrregularFile:
                irregular += 1
                assert any(len(line) > 40 for line in data.split(b"\n")), data
                continue
            assert fast == _reference_lines(data), (data, chunk)
            compared += 1
    assert compared > 3000 and irregular > 0


def test_a_file_the_fast_reader_cannot_read_exactly_lands_as_the_reference_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 200)
    good = json.dumps({"id": "g1", "created_at": "2026-11-20T08:00:00Z", "user_id": "u", "model": "o/m",
                       "native_tokens_prompt": 1, "native_tokens_completion": 1})
    data = (good + "\n" + "z" * 500 + "\n" + good.replace("g1", "g2") + "\n").encode()
    path = tmp_path / "raw" / "gateway" / "long.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(data)[:-4])  # a long line, and a stream cut before its end
    expected = [(item.number, getattr(item, "reason", None)) for item in files.read_lines(path)]
    with connect(tmp_path / "warehouse.duckdb") as con:
        (result,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        landed = con.execute("select source_line, null from raw.gateway_requests").fetchall()
        bad = con.execute("select line_number, reason from raw.quarantine").fetchall()
    assert sorted(landed + bad) == expected
    assert expected[1] == (2, "line_too_long") and result.balanced


# --- unchanged files are not read ------------------------------------------------------------------------------


def test_an_unchanged_file_is_skipped_without_being_opened_and_a_new_one_is_read_once(tmp_path, monkeypatch):
    import ingest.warehouse as warehouse

    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    old = gateway / "a.jsonl"
    old.write_text(json.dumps({"id": "a1", "created_at": "2026-11-20T08:00:00Z", "user_id": "u", "model": "o/m",
                               "native_tokens_prompt": 1, "native_tokens_completion": 1}) + "\n")
    with connect(tmp_path / "warehouse.duckdb") as con:
        (first,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    opened: list[str] = []
    real_open = warehouse.open_regular

    def tracking_open(path):
        opened.append(Path(path).name)
        return real_open(path)

    monkeypatch.setattr(warehouse, "open_regular", tracking_open)
    monkeypatch.setattr(warehouse, "file_fingerprint", lambda path: opened.append(f"hash {Path(path).name}"))
    (gateway / "b.jsonl").write_text(old.read_text().replace("a1", "b10"))  # a size no ledger entry has
    with connect(tmp_path / "warehouse.duckdb") as con:
        second = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert [(r.source, r.skipped, r.accepted, r.sha256) for r in second] == [
            ("raw/gateway/a.jsonl", True, 0, first.sha256),
            ("raw/gateway/b.jsonl", False, 1, files.file_fingerprint(gateway / "b.jsonl")),
        ]
        assert opened == ["b.jsonl"]  # a.jsonl is not opened; b.jsonl is opened once, fingerprinted while read
        stats = con.execute("select source, file_size from raw.landed_file_stats order by source").fetchall()
        assert stats == [("raw/gateway/a.jsonl", old.stat().st_size), ("raw/gateway/b.jsonl", old.stat().st_size + 1)]
    monkeypatch.undo()
    old.touch()  # a new mtime, the same content: fingerprinted, and skipped as a content already landed
    with old.open("a") as handle:
        handle.write("")
    with connect(tmp_path / "warehouse.duckdb") as con:
        third = load_gateway_files(con, tmp_path, load_id="run-3", now=NOW)
        assert [(r.source, r.skipped) for r in third] == [("raw/gateway/a.jsonl", True), ("raw/gateway/b.jsonl", True)]
        old.write_text(old.read_text() + old.read_text().replace("a1", "a2"))  # grown: lands its new line
        fourth = load_gateway_files(con, tmp_path, load_id="run-4", now=NOW)
        assert [(r.source, r.skipped, r.accepted, r.duplicates) for r in fourth] == [
            ("raw/gateway/a.jsonl", False, 1, 1), ("raw/gateway/b.jsonl", True, 0, 0)]


@pytest.mark.parametrize("seed", range(3))
def test_the_one_pass_check_says_what_the_two_passes_say_whatever_the_order_of_the_keys(seed):
    """plain_lines takes most lines in one RE2 pass (contract fields in the order the first lines show, other keys
    where they showed them); a line it takes there is always one the two passes take, and the lines left over are
    judged by the two passes, so the answer is the two passes' answer line for line."""
    rng = random.Random(seed)
    lines = corpus(100 + seed, 1500)
    lines += ['{"id":"a"{"user_id":"u"}', ',"id":"a"}', '}', '{"id":"a",}', '{"id":"a"}}', '{"x":1,"x":2}',
              '{"id":"a","x":1,"id":"b"}', '{ "id" : "a" , "x" : [1] }']
    texts = pa.array(lines, pa.string())
    two_passes = contract_sql._plain_lines_two_passes(texts)
    assert contract_sql.plain_lines(texts) == two_passes
    for _ in range(20):  # any order and any places for the other keys: never more than the two passes take
        order = list(contract_sql.CONTRACT_FIELDS)
        rng.shuffle(order)
        places = frozenset(rng.sample(range(len(order) + 1), rng.randint(0, contract_sql._MAX_OTHER_PLACES)))
        regex = contract_sql.ordered_line(tuple(order), places)
        one_pass = pa.compute.and_(pa.compute.starts_with(texts, "{"), pa.compute.match_substring_regex(texts, regex))
        assert not pa.compute.any(pa.compute.and_(one_pass, pa.compute.invert(two_passes))).as_py()
    # one writer's lines (its own order of the contract fields, its other keys at the end): all in the one pass
    writer = list(contract_sql.CONTRACT_FIELDS)
    rng.shuffle(writer)
    records = [valid(rng, index) for index in range(400)]
    written = pa.array([json.dumps({key: record[key] for key in sorted(record, key=lambda key: (
        writer.index(key) if key in writer else len(writer), key))}) for record in records], pa.string())
    order, places = contract_sql.key_order(written)
    assert places == frozenset({len(order)})
    one_pass = pa.compute.match_substring_regex(written, contract_sql.ordered_line(order, places))
    assert one_pass == contract_sql._plain_lines_two_passes(written)
    assert pa.compute.sum(one_pass).as_py() > 300


# --- the landing's own DuckDB settings are put back -------------------------------------------------------------


def test_a_landing_puts_back_the_connections_threads_memory_limit_and_checkpoint_threshold(tmp_path, monkeypatch):
    """Landing runs DuckDB on one thread while it stages lines (the next batch is checked on another thread), with
    its own memory limit and checkpoint threshold: each is put back afterwards, after a failed landing too (an
    error on the checker thread stops the landing, which lands nothing)."""
    import ingest.warehouse as warehouse

    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    lines = [json.dumps({"id": f"r{index}", "created_at": "2026-11-20T08:00:00Z", "user_id": "u", "model": "o/m",
                         "native_tokens_prompt": 1, "native_tokens_completion": 1}) for index in range(30)]
    (gateway / "a.jsonl").write_text("\n".join(lines[:20]) + "\n")
    settings = ("select current_setting('threads'), current_setting('memory_limit'),"
                " current_setting('checkpoint_threshold')")
    monkeypatch.setattr(warehouse, "BATCH_LINES", 7)  # several batches: the checker thread runs ahead of staging
    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("set threads = 2")
        con.execute("set memory_limit = '512MiB'")
        before = con.execute(settings).fetchone()
        (result,) = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        assert (result.lines_read, result.accepted) == (20, 20)
        assert con.execute(settings).fetchone() == before

        (gateway / "b.jsonl").write_text("\n".join(lines[20:]) + "\n")
        monkeypatch.setattr(contract_sql, "plain_lines", _failing)  # fails on the checker thread, while staging
        with pytest.raises(RuntimeError, match="check failed"):
            load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert con.execute(settings).fetchone() == before
        assert con.execute("select count(*) from raw.gateway_requests").fetchone() == (20,)


def _failing(*args, **kwargs):
    raise RuntimeError("check failed")
