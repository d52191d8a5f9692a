"""gateway-log-v1 in bulk for the lines that are provably clean: the fast path of landing.

:func:`ingest.contract.validate_record` stays the reference. This module only recognises, in bulk, lines that the
reference certainly accepts, and builds their rows exactly as the reference does (``record_hash`` included, from
the same ``repr`` of the billing tuple). Every other line, whatever is wrong or merely unusual about it, goes
through the reference, which names the reason, the field and the detail: a bad line is judged exactly as before by
construction, and only good lines take the fast path.

A line is provably clean when
- it has the plain form :data:`PLAIN_LINE` (one RE2 pass with Arrow): a flat JSON object without escapes, written
  as Python's ``json`` and DuckDB's read it alike (no trailing comma, no nan/inf spelling, no integer too long for
  Python), whose contract fields, wherever they are, hold printable ASCII strings without quotes or surrounding
  spaces, a model id, ``created_at`` as ``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z``, plain non-negative integers of at most 8
  digits, a tier name, and a non-negative ``total_cost`` of at most 12 decimals (null where the field is optional);
- no contract field is in it twice (:data:`REPEATED_FIELD`; Python keeps the last, DuckDB the first); both are
  told in one pass for the lines whose keys come in the order the file's first lines show
  (:func:`ordered_line`, a part of PLAIN_LINE's form without repeats), with two only for the others;
- and :data:`CLEAN_SQL` finds the required fields and every remaining rule of the contract satisfied: lengths,
  a real date within [2000-01-01, now + 5 minutes], bounds, the cross-field rules, ``total_cost`` below 2048.

About ``total_cost``: DuckDB reads it as a double. Below 2048 a double is within 1.2e-13 of the decimal text it was
read from, so for a text of at most 12 decimals, rounding the double to 12 decimals gives that text exactly, as
the reference's ``Decimal(text).quantize(1e-12)`` does.

``tests/unit/test_landing_fast_path.py`` runs generated and hostile records through both paths and compares every row.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from ingest.contract import (
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    MAX_ID_LENGTH,
    MAX_TOKENS_PER_FIELD,
    RECORD_COLUMNS,
    TOKEN_FIELDS,
)

CONTRACT_FIELDS = ("id", "created_at", "user_id", "model", "status_code", *TOKEN_FIELDS, "service_tier", "total_cost")
REQUIRED_FIELDS = ("id", "created_at", "user_id", "model", "native_tokens_prompt", "native_tokens_completion")

_SPACE = r"[ \t\r\n]*"
_CHAR = r'[^"\\\x00-\x1f]'  # in a JSON string without escapes
_STRING = f'"{_CHAR}*"'
# A JSON number as Python reads it (an integer of more than 4,300 digits is refused by Python: 100 is plenty here).
_NUMBER = r"-?(?:0|[1-9][0-9]{0,99})(?:\.[0-9]{1,100})?(?:[eE][-+]?[0-9]{1,9})?"
_VALUE = f"(?:{_STRING}|{_NUMBER}|true|false|null|NaN|-?Infinity)"
# Printable ASCII but the quotes and the backslash, no space at either end: repr() writes it as it is, in ''.
_SAFE = r'"[!#-&(-\[\]-~](?:[ !#-&(-\[\]-~]*[!#-&(-\[\]-~])?"'
_MODEL = r'"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:@+/-]*"'  # ingest.contract.MODEL_ID
_TIER = r'"[a-z0-9][a-z0-9_-]{0,31}"'  # ingest.contract.SERVICE_TIER
_TIMESTAMP = r'"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?Z"'
_COUNT = r"(?:0|[1-9][0-9]{0,7})"
# A non-negative amount of at most 12 decimals: plain (below 10,000), or as Python writes small floats (8.68e-05).
_COST = "|".join(
    [r"(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,12})?"]
    + [rf"[1-9](?:\.[0-9]{{1,{12 - exponent}}})?[eE]-0*{exponent}" for exponent in range(1, 12)]
    + [r"[1-9][eE]-0*12"]
)
_FORMS = {
    "id": _SAFE,
    "created_at": _TIMESTAMP,
    "user_id": _SAFE,
    "model": _MODEL,
    "status_code": r"(?:null|[1-5][0-9][0-9])",
    **{name: _COUNT if name in REQUIRED_FIELDS else f"(?:null|{_COUNT})" for name in TOKEN_FIELDS},
    "service_tier": f"(?:null|{_TIER})",
    "total_cost": f"(?:null|{_COST})",
}


def _none_of(words: tuple[str, ...], prefix: str = "") -> str:
    """A regex for the strings of _CHAR that are none of ``words`` (all starting with ``prefix``, which is read)."""
    rest = sorted({word[len(prefix)] for word in words if len(word) > len(prefix)})  # letters, digits, '_'
    other = "[^" + "".join(rest) + r'"\\\x00-\x1f]'
    options = [f"{other}{_CHAR}*"]
    if prefix not in words:
        options.append("")
    for char in rest:
        following = tuple(word for word in words if word.startswith(prefix + char))
        options.append(char + _none_of(following, prefix + char))
    return "(?:" + "|".join(options) + ")"


_OTHER_KEY = '"' + _none_of(CONTRACT_FIELDS) + '"'
_MEMBERS = {name: f'"{name}"{_SPACE}:{_SPACE}{form}' for name, form in _FORMS.items()}
_OTHER_MEMBER = f"{_OTHER_KEY}{_SPACE}:{_SPACE}{_VALUE}"
_MEMBER = "(?:" + "|".join([*_MEMBERS.values(), _OTHER_MEMBER]) + ")"
PLAIN_LINE = rf"^\{{{_SPACE}{_MEMBER}{_SPACE}(?:,{_SPACE}{_MEMBER}{_SPACE})*\}}$"
# A contract field twice. On a line of the PLAIN_LINE form a quote always opens or closes a string, and a string
# followed by ':' is a key.
REPEATED_FIELD = "|".join(rf'"{name}"{_SPACE}:.*"{name}"{_SPACE}:' for name in CONTRACT_FIELDS)


_SEPARATOR = rf"(?:^\{{|,){_SPACE}"  # '{' only where the line starts (RE2's ^ is the start of the text), else ','
_OTHERS = f"(?:{_SEPARATOR}{_OTHER_MEMBER}{_SPACE})*"
_SAMPLE_LINES = 100  # lines read (json.loads, 15 us each) to learn how a writer places its keys
# Beyond 5 places for other members RE2's DFA runs out of memory (measured: 6 places, 50 times slower); then the
# two passes are cheaper.
_MAX_OTHER_PLACES = 4
# Fewer lines left over by the one pass than this go to the reference (about 50 us a line) without the two passes
# (a few milliseconds to compile and warm up, whatever the number of lines).
_FEW_LINES = 100


@functools.lru_cache(maxsize=16)
def ordered_line(order: tuple[str, ...], others_before: frozenset[int]) -> str:
    """:data:`PLAIN_LINE` restricted to lines whose contract fields come in ``order``, each at most once, with other
    members only just before the contract fields at the positions ``others_before`` (``len(order)``: after the
    last): one RE2 pass that says both "plain" and "no contract field twice". Each member is preceded by '{' (at
    the start of the line only) or ','; a line that matches and starts with '{' is a line of PLAIN_LINE's form, and
    a contract field can only be matched by its own member, at its one place in the order. (Other members allowed
    at every place would make RE2's DFA follow a copy of them per place at once: it runs out of memory and is 50
    times slower.)"""
    parts = []
    for index, name in enumerate(order):
        if index in others_before:
            parts.append(_OTHERS)
        parts.append(f"(?:{_SEPARATOR}{_MEMBERS[name]}{_SPACE})?")
    if len(order) in others_before:
        parts.append(_OTHERS)
    return "^" + "".join(parts) + r"\}$"


def key_order(texts: pa.Array) -> tuple[tuple[str, ...], frozenset[int]]:
    """How the first lines of ``texts`` place their keys: the order of the contract fields (every field; the ones
    not seen in the contract's order) and before which of them (by position in that order; ``len(order)``: after
    all) other keys come. This only decides how many lines :func:`plain_lines` takes in one pass, never what it
    says about a line."""
    sample = []
    for text in texts.slice(0, _SAMPLE_LINES).to_pylist():
        try:
            sample.append([key for key, _ in json.loads(text, object_pairs_hook=list)])
        except (ValueError, TypeError, RecursionError):
            continue
    before: dict[str, set[str]] = {name: set() for name in CONTRACT_FIELDS}  # name -> fields seen before it
    for keys in sample:
        seen: list[str] = []
        for key in keys:
            if key in before:
                before[key].update(seen)
                seen.append(key)
    order: list[str] = []
    left = list(CONTRACT_FIELDS)
    while left:  # the first field with no unplaced field before it (on a cycle: the one with fewest)
        name = min(left, key=lambda field: len(before[field] & set(left) - {field}))
        order.append(name)
        left.remove(name)
    position = {name: index for index, name in enumerate(order)}
    others_before = set()
    for keys in sample:
        waiting = False  # an other key since the last contract field
        for key in keys:
            if key in position:
                if waiting:
                    others_before.add(position[key])
                waiting = False
            else:
                waiting = True
        if waiting:
            others_before.add(len(order))
    return tuple(order), frozenset(others_before)


def plain_lines(texts: pa.Array) -> pa.Array:
    """Per line: whether it has the plain form and no contract field twice (see the module docstring).

    One RE2 pass for the lines whose contract fields come in the writer's usual order (:func:`ordered_line`); the
    other lines, unless only a few are left (usually bad ones: the reference judges them), are judged by
    :data:`PLAIN_LINE` and :data:`REPEATED_FIELD`, as every line once was. A line is plain here only if the two
    passes say so (``tests/unit/test_landing_fast_path.py``)."""
    order, others_before = key_order(texts)
    if len(others_before) > _MAX_OTHER_PLACES:
        return _plain_lines_two_passes(texts)
    plain = pc.and_(pc.starts_with(texts, "{"), pc.match_substring_regex(texts, ordered_line(order, others_before)))
    rest = pc.invert(plain)
    if pc.sum(rest).as_py() < _FEW_LINES:  # (none, or a few bad lines): the reference judges them
        return plain
    return pc.replace_with_mask(plain, rest, _plain_lines_two_passes(texts.filter(rest)))


def _plain_lines_two_passes(texts: pa.Array) -> pa.Array:
    plain = pc.match_substring_regex(texts, PLAIN_LINE)
    if not pc.any(plain).as_py():
        return plain
    return pc.and_(plain, pc.invert(pc.match_substring_regex(texts, REPEATED_FIELD)))


_TYPES = {"status_code": "BIGINT", **dict.fromkeys(TOKEN_FIELDS, "BIGINT"), "total_cost": "DOUBLE"}
_STRUCT = "{" + ", ".join(f'"{name}": "{_TYPES.get(name, "VARCHAR")}"' for name in CONTRACT_FIELDS) + "}"
_MICROS = "epoch_us(created_at) % 1000000"
# ingest.contract.record_hash: sha256(repr(billing tuple))[:32], the tuple written as Python's repr writes it
# (in one concat: a chain of || would build every intermediate string)
_REPR = (
    "concat('(''', id, ''', ''', created_text[1:19], "
    f"case when {_MICROS} = 0 then '' else '.' || lpad(({_MICROS})::varchar, 6, '0') end, "
    "''', ''', user_id, ''', ''', model, ''', ', status_code, "
    + "".join(f"', ', {name}, " for name in TOKEN_FIELDS[:5])
    + "case when native_tokens_cache_creation_1h <> 0 or service_tier is not null"
    " then concat(', ', native_tokens_cache_creation_1h, ', ', coalesce('''' || service_tier || '''', 'None'))"
    " else '' end, ')')"
)

# Over ``landing_batch(line_number, line, plain)`` (``plain``: what plain_lines says; the other lines are left out):
# the clean lines as staging rows
# (seq = $seq_offset + the line number, source_line = the line number). Parameters: time_bounds(now, seq_offset).
# Each line is parsed once, into one struct column of a materialized CTE: with the struct unnested there, DuckDB
# pushed the filters below it and parsed every line twice.
CLEAN_SQL = f"""
with landing_parsed as materialized (
    select line_number, try(from_json(line, '{_STRUCT}')) as fields from landing_batch where plain
),
landing_fields as (
    select line_number, unnest(fields) from landing_parsed
),
typed as (
    select
        * exclude (created_at, status_code, {", ".join(TOKEN_FIELDS[2:])}, total_cost),
        created_at as created_text,
        try_cast(created_at as timestamp) as created_at,
        coalesce(status_code, 200) as status_code,
        {", ".join(f"coalesce({name}, 0) as {name}" for name in TOKEN_FIELDS[2:])},
        total_cost::decimal(38, 12) as total_cost
    from landing_fields
    where {" and ".join(f"{name} is not null" for name in REQUIRED_FIELDS)}
      and length(id) <= {MAX_ID_LENGTH}
      and length(user_id) <= 256
      and length(model) <= 200
      and (total_cost is null or total_cost < 2048)
)
select
    line_number + $seq_offset as seq,
    line_number as source_line,
    {", ".join(RECORD_COLUMNS[:-1])},
    left(sha256({_REPR}), 32) as record_hash
from typed
where created_at >= $earliest
  and created_at <= $latest
  and {" and ".join(f"{name} <= {MAX_TOKENS_PER_FIELD}" for name in TOKEN_FIELDS)}
  and native_tokens_cached <= native_tokens_prompt
  and native_tokens_cache_creation <= native_tokens_prompt - native_tokens_cached
  and native_tokens_reasoning <= native_tokens_completion
  and native_tokens_cache_creation_1h <= native_tokens_cache_creation
"""


def time_bounds(now: datetime, seq_offset: int = 0) -> dict[str, datetime | int]:
    """The parameters of :data:`CLEAN_SQL`: the earliest and the latest ``created_at`` accepted (naive UTC), and
    what is added to a line's number to make its staging position (``seq``)."""
    latest = now.astimezone(timezone.utc).replace(tzinfo=None) + FUTURE_TOLERANCE
    return {"earliest": EARLIEST_TIMESTAMP, "latest": latest, "seq_offset": seq_offset}
