"""The gateway request log contract (gateway-log-v1): one raw JSON object in, one typed row or one reason out.

Pure functions, no I/O. Every rule of ``ingest/contracts/gateway-log-v1.md`` lives here once; the file loader and
the gateway API pull both call :func:`validate_record`, so a request is judged the same way wherever it came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

# Bounds. A single request above these is not usage, it is a bug upstream: quarantine, do not bill.
MAX_ID_LENGTH = 128
MAX_TOKENS_PER_FIELD = 10_000_000
FUTURE_TOLERANCE = timedelta(minutes=5)
# Nothing the platform logged predates this: an earlier created_at is a reset clock or a placeholder (epoch 0).
EARLIEST_TIMESTAMP = datetime(2000, 1, 1)
# Control characters (NUL, newlines, ...) have no place in an id; they break exports and lookups downstream.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# provider/model; the model part may hold further slashes (genai-prices' groq/meta-llama/llama-4-scout-...).
# Used with fullmatch: `$` with match() would also accept a final newline.
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:@+/-]*")

TOKEN_FIELDS = (
    "native_tokens_prompt",
    "native_tokens_completion",
    "native_tokens_cached",
    "native_tokens_cache_creation",
    "native_tokens_reasoning",
    "native_tokens_cache_creation_1h",
)
REQUIRED_TOKEN_FIELDS = ("native_tokens_prompt", "native_tokens_completion")

# The columns of raw.gateway_requests that come from the record itself, in order.
RECORD_COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "model",
    "status_code",
    *TOKEN_FIELDS,
    "service_tier",
    "total_cost",
    "record_hash",
)
# The provider's service tier (optional; absent means "default"): a short name such as default, flex, priority,
# batch, as genai-prices names them. Lower-case letters, digits, '_' and '-'.
SERVICE_TIER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class BadRecord(ValueError):
    """A record that breaks the contract: ``reason`` is a stable code, ``field`` the offending field."""

    def __init__(self, reason: str, field: str | None, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    id: str
    created_at: datetime  # naive, UTC
    user_id: str
    model: str
    status_code: int
    native_tokens_prompt: int
    native_tokens_completion: int
    native_tokens_cached: int
    native_tokens_cache_creation: int
    native_tokens_reasoning: int
    native_tokens_cache_creation_1h: int
    service_tier: str | None
    total_cost: Decimal | None
    record_hash: str

    def as_row(self) -> tuple:
        return tuple(getattr(self, column) for column in RECORD_COLUMNS)


def parse_timestamp(value: Any, field: str, *, now: datetime | None = None) -> datetime:
    """RFC 3339 with an offset -> naive UTC datetime. ``now`` (aware) enables the future check."""
    if not isinstance(value, str):
        raise BadRecord("wrong_type", field, f"{field} must be an RFC 3339 string, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadRecord("bad_timestamp", field, f"{field} {value[:60]!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise BadRecord(
            "bad_timestamp", field, f"{field} {value[:60]!r} has no UTC offset (add 'Z' or '+hh:mm')"
        )
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: the UTC instant is outside the calendar
        raise BadRecord("bad_timestamp", field, f"{field} {value[:60]!r} is outside the supported range") from None
    if now is not None and parsed > now + FUTURE_TOLERANCE:
        raise BadRecord("future_timestamp", field, f"{field} {value[:60]!r} lies in the future")
    parsed = parsed.replace(tzinfo=None)
    if parsed < EARLIEST_TIMESTAMP:
        raise BadRecord(
            "out_of_range", field, f"{field} {value[:60]!r} is before {EARLIEST_TIMESTAMP:%Y-%m-%d} (a reset clock?)"
        )
    return parsed


def normalize_user_id(value: str) -> str:
    """A user id as the warehouse keys it: surrounding whitespace stripped (``str.strip``), exactly as the users
    export's ids are, so ``"usr_0001 "`` in a log and ``usr_0001`` in users.csv are one user with one free trial."""
    return value.strip()


def _string(
    record: dict, field: str, *, max_length: int | None = None, normalize: Callable[[str], str] | None = None
) -> str:
    """A required string field, normalised by ``normalize`` (if given) before it is judged."""
    value = record.get(field)
    if value is None:
        raise BadRecord("missing_field", field, f"required field {field!r} is missing")
    if not isinstance(value, str):
        raise BadRecord("wrong_type", field, f"{field} must be a string, got {type(value).__name__}")
    if normalize is not None:
        value = normalize(value)
    if not value.strip():
        raise BadRecord("out_of_range", field, f"{field} is empty")
    if max_length is not None and len(value) > max_length:
        raise BadRecord("out_of_range", field, f"{field} is {len(value)} characters long (at most {max_length})")
    if not is_clean_text(value) or CONTROL_CHARACTERS.search(value):
        raise BadRecord(
            "bad_characters", field, f"{field} {value[:60]!r} holds control characters or unpaired surrogates"
        )
    return value


def is_clean_text(value: str) -> bool:
    """False for a str that UTF-8 cannot encode (a JSON escape like \\ud800 decodes to a lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: str) -> str:
    """``value`` with anything UTF-8 cannot encode escaped, so it can be stored and shown."""
    return value if is_clean_text(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")


def _integer(record: dict, field: str, *, required: bool, default: int = 0) -> int:
    value = record.get(field)
    if value is None:
        if required:
            raise BadRecord("missing_field", field, f"required field {field!r} is missing")
        return default
    # bool is an int in Python and 12.0 is a float: neither is a JSON integer in the contract's sense.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord("wrong_type", field, f"{field} must be an integer, got {value!r}"[:200])
    return value


def _token_count(record: dict, field: str, *, required: bool) -> int:
    value = _integer(record, field, required=required)
    if value < 0:
        raise BadRecord("negative_tokens", field, f"{field} is negative ({value})")
    if value > MAX_TOKENS_PER_FIELD:
        raise BadRecord(
            "absurd_tokens", field, f"{field} is {value}, above the sanity bound {MAX_TOKENS_PER_FIELD:,}"
        )
    return value


def record_hash(fields: tuple) -> str:
    """Fingerprint of the billing-relevant content: two records with one id and different hashes conflict."""
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


def validate_record(record: Any, *, now: datetime | None = None) -> GatewayRequest:
    """Validate one decoded JSON value against gateway-log-v1; raise :class:`BadRecord` on the first problem."""
    if not isinstance(record, dict):
        raise BadRecord("not_object", None, f"a log line must be a JSON object, got {type(record).__name__}")
    request_id = _string(record, "id", max_length=MAX_ID_LENGTH)
    if "created_at" not in record or record["created_at"] is None:
        raise BadRecord("missing_field", "created_at", "required field 'created_at' is missing")
    created_at = parse_timestamp(record["created_at"], "created_at", now=now)
    # Stripped before it is checked, stored or hashed: "usr_1 " is usr_1 (the users export strips its ids too), and
    # the same request logged once with "usr_1 " and once with "usr_1" is a duplicate, not a conflict.
    user_id = _string(record, "user_id", max_length=256, normalize=normalize_user_id)
    model = _string(record, "model", max_length=200)
    if not MODEL_ID.fullmatch(model):
        raise BadRecord("bad_model_id", "model", f"model {model[:80]!r} is not in 'provider/model' form")
    status_code = _integer(record, "status_code", required=False, default=200)
    if not 100 <= status_code <= 599:
        raise BadRecord("out_of_range", "status_code", f"status_code {status_code} is not an HTTP status")
    tokens = {field: _token_count(record, field, required=field in REQUIRED_TOKEN_FIELDS) for field in TOKEN_FIELDS}
    prompt, completion = tokens["native_tokens_prompt"], tokens["native_tokens_completion"]
    cached, creation = tokens["native_tokens_cached"], tokens["native_tokens_cache_creation"]
    if cached > prompt:
        raise BadRecord(
            "cached_exceeds_prompt", "native_tokens_cached", f"native_tokens_cached {cached} > prompt {prompt}"
        )
    if creation > prompt - cached:
        raise BadRecord(
            "cache_creation_exceeds_prompt",
            "native_tokens_cache_creation",
            f"native_tokens_cache_creation {creation} > prompt - cached ({prompt - cached})",
        )
    if tokens["native_tokens_reasoning"] > completion:
        raise BadRecord(
            "reasoning_exceeds_completion",
            "native_tokens_reasoning",
            f"native_tokens_reasoning {tokens['native_tokens_reasoning']} > completion {completion}",
        )
    if tokens["native_tokens_cache_creation_1h"] > creation:
        raise BadRecord(
            "cache_creation_1h_exceeds_cache_creation",
            "native_tokens_cache_creation_1h",
            f"native_tokens_cache_creation_1h {tokens['native_tokens_cache_creation_1h']} > "
            f"native_tokens_cache_creation {creation}",
        )
    service_tier = record.get("service_tier")
    if service_tier is not None:
        if not isinstance(service_tier, str):
            raise BadRecord("wrong_type", "service_tier", f"service_tier must be a string, got {service_tier!r}"[:200])
        if not SERVICE_TIER.match(service_tier):
            raise BadRecord(
                "bad_service_tier", "service_tier",
                f"service_tier {service_tier[:40]!r} is not a tier name (lower-case letters, digits, '_' or '-')",
            )
    total_cost = record.get("total_cost")
    if total_cost is not None:
        if isinstance(total_cost, bool) or not isinstance(total_cost, (int, float, Decimal)):
            raise BadRecord("wrong_type", "total_cost", f"total_cost must be a number, got {total_cost!r}"[:200])
        total_cost = Decimal(str(total_cost))
        if not total_cost.is_finite() or total_cost < 0 or total_cost >= 10**12:
            raise BadRecord("out_of_range", "total_cost", f"total_cost {total_cost} is not a sane amount")
        total_cost = total_cost.quantize(Decimal("1e-12"))
    billing = (request_id, created_at.isoformat(), user_id, model, status_code,
               *(tokens[f] for f in TOKEN_FIELDS[:5]))
    if tokens["native_tokens_cache_creation_1h"] or service_tier is not None:
        # only records using the v1 extensions hash them: every hash landed before stays the same
        billing = (*billing, tokens["native_tokens_cache_creation_1h"], service_tier)
    return GatewayRequest(
        id=request_id,
        created_at=created_at,
        user_id=user_id,
        model=model,
        status_code=status_code,
        **tokens,
        service_tier=service_tier,
        total_cost=total_cost,
        record_hash=record_hash(billing),
    )
