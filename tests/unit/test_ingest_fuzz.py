"""Fuzz: valid logs corrupted at random (seeded) go through ingest; the invariants hold whatever the damage.

Corruptions: flipped bytes, cut lines, dropped and duplicated lines, mistyped fields, ids swapped between requests,
stray non-UTF-8 bytes and blank lines, and gzip files cut short. Invariants: nothing crashes; per source,
lines_read = accepted + duplicates + quarantined; every id of an intact line is landed exactly once; every bad line
is in quarantine with a reason and a line number; landing the same files again (or under new names) changes nothing.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.warehouse import connect, load_gateway_files

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
MODELS = (
    "openai/gpt-4o-mini",
    "anthropic/claude-3.5-sonnet",
    "azure/crowe-logic-assistant",
    "google/gemini-1.5-pro",
)
ODD_VALUES = ("12", 1.5, None, [], {}, True, -7, 10**13, "", "2026-11-20", "\u0000")


def valid_record(rng: random.Random, request_id: str) -> dict:
    prompt, completion = rng.randint(0, 50_000), rng.randint(0, 5_000)
    record = {
        "id": request_id,
        "created_at": (
            datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(seconds=rng.randint(0, 172_800))
        )
        .isoformat()
        .replace("+00:00", rng.choice(["Z", "+00:00"])),
        "user_id": f"usr_{rng.randint(1, 40)}",
        "model": rng.choice(MODELS),
        "native_tokens_prompt": prompt,
        "native_tokens_completion": completion,
    }
    if rng.random() < 0.7:
        record["status_code"] = rng.choice([200, 200, 200, 201, 429, 500])
    if rng.random() < 0.4:
        record["native_tokens_cached"] = rng.randint(0, prompt)
    if rng.random() < 0.3:
        record["native_tokens_reasoning"] = rng.randint(0, completion)
    if rng.random() < 0.5:
        record["total_cost"] = round(rng.random() / 10, 9)
    return record


def corrupt(rng: random.Random, raw: bytes, record: dict, ids: list[str]) -> tuple[list[bytes], bool]:
    """Some damage to one line: the bytes to write and whether the line is still the intact original."""
    kind = rng.choice(["flip", "cut", "drop", "duplicate", "retype", "swap_id", "junk", "blank"])
    if kind == "flip":
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data) - 1)] = rng.randrange(256)
        return [bytes(data).replace(b"\n", b" ") + b"\n"], False
    if kind == "cut":
        return [raw[: rng.randrange(1, len(raw) - 1)] + b"\n"], False
    if kind == "drop":
        return [], False
    if kind == "duplicate":
        return [raw, raw], True
    if kind == "retype":
        changed = dict(record, **{rng.choice(list(record)): rng.choice(ODD_VALUES)})
        return [json.dumps(changed).encode() + b"\n"], False
    if kind == "swap_id":
        changed = dict(record, id=rng.choice(ids))
        return [json.dumps(changed).encode() + b"\n"], False
    if kind == "junk":
        return [b"\xff\xfe\x80" + raw], False
    return [b"\n", raw], True  # a blank line before an intact one


def write_corrupted_logs(
    rng: random.Random, gateway: Path, *, files: int = 6, per_file: int = 150
) -> set[str]:
    """Write the damaged files; return the ids that must land (those of intact lines in readable streams)."""
    ids = [f"req_{index:05d}" for index in range(files * per_file)]
    must_land: set[str] = set()
    for number in range(files):
        lines, intact_ids = [], []
        for request_id in ids[number * per_file : (number + 1) * per_file]:
            record = valid_record(rng, request_id)
            raw = json.dumps(record).encode() + b"\n"
            if rng.random() < 0.35:
                out, intact = corrupt(rng, raw, record, ids)
            else:
                out, intact = [raw], True
            lines += out
            if intact:
                intact_ids.append(request_id)
        data = b"".join(lines)
        if number % 2:
            compressed = gzip.compress(data, mtime=0)
            if number % 3 == 0:  # cut the stream short: only a prefix can land, the break is quarantined
                (gateway / f"day{number}.jsonl.gz").write_bytes(
                    compressed[: rng.randrange(20, len(compressed))]
                )
                continue
            (gateway / f"day{number}.jsonl.gz").write_bytes(compressed)
        else:
            (gateway / f"day{number}.jsonl").write_bytes(data)
        must_land.update(intact_ids)
    return must_land


def snapshot(con) -> tuple:
    return tuple(
        con.execute(f"select * from raw.{table} order by all").fetchall()
        for table in ("gateway_requests", "quarantine")
    )


@pytest.mark.parametrize("seed", range(6))
def test_corrupted_logs_keep_the_invariants(tmp_path, seed):
    rng = random.Random(seed)
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    must_land = write_corrupted_logs(rng, gateway)

    with connect(tmp_path / "warehouse.duckdb") as con:
        results = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)

        assert all(result.balanced for result in results)
        assert con.execute(
            "select count(*) from raw.load_log where lines_read <> accepted + duplicates + quarantined"
        ).fetchone() == (0,)
        landed_ids = [row[0] for row in con.execute("select id from raw.gateway_requests").fetchall()]
        assert len(landed_ids) == len(set(landed_ids)), "an id landed twice"
        assert must_land <= set(landed_ids), sorted(must_land - set(landed_ids))[:5]
        assert sum(result.accepted for result in results) == len(landed_ids)
        assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == sum(
            result.quarantined for result in results
        )
        assert con.execute(
            "select count(*) from raw.quarantine where reason is null or reason = '' or line_number is null "
            "or source not like 'raw/gateway/day%'"
        ).fetchone() == (0,)
        for cut in gateway.glob("day3.jsonl.gz"):
            assert con.execute(
                "select count(*) from raw.quarantine where source = ? and reason in ('truncated_gzip', 'bad_gzip')",
                [f"raw/gateway/{cut.name}"],
            ).fetchone() == (1,)

        before = snapshot(con)
        again = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert all(result.skipped for result in again) and snapshot(con) == before

        for path in list(gateway.iterdir()):  # the same files under new names: nothing new is billed
            shutil.copy(path, gateway / f"copy-{path.name}")
        copies = [r for r in load_gateway_files(con, tmp_path, load_id="run-3", now=NOW) if not r.skipped]
        assert len(copies) == len(results) and sum(r.accepted for r in copies) == 0
        assert all(r.balanced for r in copies)
        assert snapshot(con)[0] == before[0]
