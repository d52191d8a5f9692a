"""Pulling request logs from the AI gateway's logs API (shaped like Cloudflare AI Gateway's "List Gateway Logs").

``GET {base_url}/accounts/{account_id}/ai-gateway/gateways/{gateway_id}/logs?page=N&per_page=M&start_date=&end_date=``
with ``Authorization: Bearer <token>`` answers
``{"success": true, "result": [...], "result_info": {"page", "per_page", "count", "total_count"}}``.

Each API record is mapped to a gateway-log-v1 record and judged by :func:`ingest.contract.validate_record`, so a
bad API record is quarantined exactly like a bad file line. One pull (one UTC day) is one source,
``api:<gateway_id>:<start>/<end>``, landed by :func:`ingest.warehouse.land_requests` in one transaction: the whole
day is pulled first, and nothing is written when the pull fails. A record's "line" is its 1-based position in the
pull, ``(page - 1) * per_page + index``.

Mapping (API -> contract): ``provider`` + ``model`` -> ``model`` (``provider/model``); ``tokens_in`` ->
``native_tokens_prompt``; ``tokens_out`` -> ``native_tokens_completion``; ``status_code`` -> ``status_code``
(required here: the API always sends it, and a default of 200 would bill a failed request); ``cost`` ->
``total_cost`` (reconciliation only); ``metadata`` (a JSON string) -> ``user_id``. ``cached`` is Cloudflare's
"served from the gateway's cache" flag, not the provider's prompt-cache tokens: it does not map to
``native_tokens_cached`` (always 0 from the API, which does not report provider cache tokens) and is not stored;
a cache hit is billed like any other request (the user got the answer) and its gateway ``cost`` (0 for a hit)
shows up in the cost-drift check. ``success`` is informational: ``status_code`` decides billing.

A listing that changes while it is being paged (new requests arriving, old ones expiring) is handled like this:
pages are requested in ascending ``created_at`` order, so late arrivals append at the end instead of shifting
earlier pages; every page's ``total_count`` must equal the first page's, the pages must not end early, and the
pull must end with exactly ``total_count`` records. Otherwise the listing moved under us and the pull starts again
from page 1 (at most ``max_restarts`` times, then it fails with nothing landed). Only the last, consistent pass is
landed. An id that still appears twice (on two pages of a consistent listing, or in a file and the API) is
deduplicated by ``land_requests``: billed once.

The API token lives only in the ``Authorization`` header set by :class:`BearerToken`; it is never part of a URL,
a message, an exception or a repr. Text the server sends back (an error body, ``errors``, a quarantined record) may
echo it: such text is redacted whole first and only then cut to length (:func:`clip`), so a token that crosses the
cut cannot leave its first characters behind; a piece of the token that something else cut short (its first 6 or
more characters) is masked too (:func:`redact`).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import duckdb
import httpx

from ingest.contract import BadRecord, GatewayRequest, validate_record
from ingest.warehouse import RAW_PREVIEW_CHARS, LoadResult, Quarantined, land_requests, utc_now

SOURCE_KIND = "gateway_api"
# A run of this many leading characters of the API token is redacted wherever it appears, even without the rest.
PARTIAL_SECRET_CHARS = 6
USER_AGENT = "ai-usage-warehouse/ingest"
# API field for each contract field, so that a quarantined API record names the field as the API spells it.
API_FIELD = {
    "native_tokens_prompt": "tokens_in",
    "native_tokens_completion": "tokens_out",
    "total_cost": "cost",
    "user_id": "metadata.user_id",
}


class GatewayApiError(RuntimeError):
    """The pull cannot go on (auth refused, malformed page, retries exhausted). The message never holds the token."""


@dataclass(frozen=True)
class GatewaySettings:
    base_url: str
    account_id: str
    gateway_id: str
    api_token: str = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"GatewaySettings(base_url={self.base_url!r}, account_id={self.account_id!r}, "
            f"gateway_id={self.gateway_id!r}, api_token='***')"
        )

    @property
    def logs_path(self) -> str:
        account, gateway = quote(self.account_id, safe=""), quote(self.gateway_id, safe="")
        return f"/accounts/{account}/ai-gateway/gateways/{gateway}/logs"

    def missing(self) -> list[str]:
        """The settings that are empty (a pull needs all four)."""
        return [
            name for name in ("base_url", "account_id", "gateway_id", "api_token") if not getattr(self, name)
        ]


class BearerToken(httpx.Auth):
    """Sets ``Authorization: Bearer <token>`` on each request; its repr never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerToken('***')"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # per page, the first try included
    base_delay: float = 1.0  # seconds; doubles with each attempt
    max_delay: float = 60.0  # cap on any single wait, Retry-After included

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = self.base_delay * 2 ** (attempt - 1)
        return max(0.0, min(wait, self.max_delay))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or utc_now())).total_seconds())


@dataclass
class Page:
    number: int
    records: list[Any]
    per_page: int
    total_count: int


@dataclass
class Pull:
    """One consistent pass over a window: ``records`` as ``(position, raw API record)``."""

    start: datetime
    end: datetime
    records: list[tuple[int, Any]]
    pages: int
    restarts: int
    total_count: int


def api_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pull_source(gateway_id: str, start: datetime, end: datetime) -> str:
    return f"api:{gateway_id}:{api_timestamp(start)}/{api_timestamp(end)}"


def day_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into UTC days (each pulled and landed as its own source)."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    windows = []
    cursor = start
    while cursor < end:
        next_day = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
        windows.append((cursor, min(next_day, end)))
        cursor = windows[-1][1]
    return windows


class GatewayLogsClient:
    """Pages through the logs API with retries, timeouts and a consistency check. Use as a context manager."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        per_page: int = 50,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_restarts: int = 3,
        max_pages: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = lambda message: None,
        transport: httpx.BaseTransport | None = None,
    ):
        missing = settings.missing()
        if missing:
            raise GatewayApiError(f"gateway settings missing: {', '.join(missing)}")
        if not settings.base_url.startswith(("https://", "http://")):
            raise GatewayApiError(
                f"gateway base URL {settings.base_url[:80]!r} must start with https:// "
                "(e.g. https://api.cloudflare.com/client/v4): check AI_GATEWAY_BASE_URL"
            )
        if not settings.api_token.isprintable() or any(char.isspace() for char in settings.api_token):
            # Never echo it: an HTTP library would refuse the header and quote it in its error.
            raise GatewayApiError(
                "the gateway API token holds whitespace or control characters: check AI_GATEWAY_API_TOKEN "
                "(a stray newline from a secrets file?)"
            )
        self.settings = settings
        self.per_page = per_page
        self.retry = retry or RetryPolicy()
        self.max_restarts = max_restarts
        self.max_pages = max_pages
        self.sleep = sleep
        self.log = log
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            auth=BearerToken(settings.api_token),
            timeout=timeout or httpx.Timeout(30.0, connect=10.0),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GatewayLogsClient({self.settings!r}, per_page={self.per_page})"

    def __enter__(self) -> GatewayLogsClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _redact(self, text: str) -> str:
        return redact(text, self.settings.api_token)

    def _where(self, page: int, start: datetime, end: datetime) -> str:
        return (
            f"gateway {self.settings.gateway_id!r} at {self.settings.base_url}{self.settings.logs_path}, "
            f"page {page} of {api_timestamp(start)}/{api_timestamp(end)}"
        )

    def fetch_page(self, page: int, start: datetime, end: datetime) -> Page:
        """One page, retrying 429, 5xx, timeouts and dropped connections with capped exponential backoff."""
        params = {
            "page": page,
            "per_page": self.per_page,
            "start_date": api_timestamp(start),
            "end_date": api_timestamp(end),
            "order_by": "created_at",
            "order_by_direction": "asc",
        }
        where = self._where(page, start, end)
        for attempt in range(1, self.retry.max_attempts + 1):
            last = attempt == self.retry.max_attempts
            try:
                response = self._http.get(self.settings.logs_path, params=params)
            except httpx.TimeoutException as error:
                problem, retry_after = f"timed out ({type(error).__name__})", None
            except httpx.TransportError as error:
                problem = self._redact(f"connection failed ({type(error).__name__}: {error})")
                retry_after = None
            else:
                status = response.status_code
                if status in (401, 403):
                    raise GatewayApiError(
                        f"{where}: the API refused the token (HTTP {status}). Check AI_GATEWAY_API_TOKEN (it needs "
                        "the AI Gateway read permission) and AI_GATEWAY_ACCOUNT_ID / AI_GATEWAY_ID"
                    )
                if status == 429 or status >= 500:
                    problem, retry_after = f"HTTP {status}", response.headers.get("Retry-After")
                elif status != 200:
                    body = _snippet(response.content, secret=self.settings.api_token)
                    raise GatewayApiError(
                        f"{where}: unexpected HTTP {status}: {body}. "
                        "Check AI_GATEWAY_BASE_URL, AI_GATEWAY_ACCOUNT_ID and AI_GATEWAY_ID"
                    )
                else:
                    try:
                        return parse_page(
                            response.content,
                            page=page,
                            per_page=self.per_page,
                            where=where,
                            secret=self.settings.api_token,
                        )
                    except GatewayApiError as error:  # already redacted before any cut; this is a second net
                        raise GatewayApiError(self._redact(str(error))) from None
            if last:
                raise GatewayApiError(
                    f"{where}: {problem} on all {self.retry.max_attempts} attempts; the pull was abandoned and "
                    "nothing was landed. Try again later"
                )
            wait = self.retry.delay(attempt, retry_after)
            self.log(
                f"{where}: {problem}; retrying in {wait:.1f}s (attempt {attempt + 1}/{self.retry.max_attempts})"
            )
            self.sleep(wait)
        raise AssertionError("unreachable")

    def pull(self, start: datetime, end: datetime) -> Pull:
        """Every record of [start, end), from one consistent pass over the pages (see the module docstring)."""
        for restart in range(self.max_restarts + 1):
            records: list[tuple[int, Any]] = []
            first = self.fetch_page(1, start, end)
            total, per_page, page, problem = first.total_count, first.per_page, first, None
            while True:
                if page.total_count != total:
                    problem = f"total_count went from {total} to {page.total_count} at page {page.number}"
                    break
                offset = (page.number - 1) * per_page
                records.extend((offset + index, record) for index, record in enumerate(page.records, start=1))
                if not page.records or len(records) >= total:
                    break
                if len(page.records) < per_page:
                    problem = f"page {page.number} had {len(page.records)} records before the end of {total}"
                    break
                if page.number >= self.max_pages:
                    raise GatewayApiError(
                        f"{self._where(page.number, start, end)}: more than {self.max_pages} pages "
                        f"(total_count {total}); nothing was landed. Is the gateway ignoring start_date/end_date?"
                    )
                page = self.fetch_page(page.number + 1, start, end)
            if problem is None and len(records) != total:
                problem = f"the pages held {len(records)} records, total_count says {total}"
            if problem is None:
                return Pull(start, end, records, pages=page.number, restarts=restart, total_count=total)
            if restart < self.max_restarts:
                self.log(
                    f"{self._where(page.number, start, end)}: the listing changed while paging ({problem}); "
                    f"starting again from page 1 (restart {restart + 1}/{self.max_restarts})"
                )
                self.sleep(self.retry.delay(restart + 1, None))
        raise GatewayApiError(
            f"{self._where(1, start, end)}: the listing kept changing while it was paged ({problem}) after "
            f"{self.max_restarts} restarts; nothing was landed. Try again later, when the window is settled"
        )


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ``***``: as written, and as ``repr`` or JSON would escape it (a token
    holding a quote or a backslash), and also where only its first :data:`PARTIAL_SECRET_CHARS` or more characters
    appear (a token that something else cut short, e.g. a value quoted to 80 characters in a record's detail)."""
    if not secret:
        return text
    for form in dict.fromkeys((secret, repr(secret)[1:-1], json.dumps(secret)[1:-1])):
        head, kept, start = form[:PARTIAL_SECRET_CHARS], [], 0
        while (found := text.find(head, start)) >= 0:
            end = found + len(head)
            while end < len(text) and end - found < len(form) and text[end] == form[end - found]:
                end += 1
            kept += [text[start:found], "***"]
            start = end
        text = "".join(kept) + text[start:]
    return text


def clip(text: str, limit: int, secret: str) -> str:
    """``text`` redacted, then cut to ``limit`` characters (in that order: cutting first would leave the first
    characters of a token that crosses the cut, where the redaction no longer finds it)."""
    return redact(text, secret)[:limit]


def _snippet(body: bytes, limit: int = 200, *, secret: str = "") -> str:
    """The start of a response body for an error message: decoded whole, redacted, then cut to ``limit``."""
    text = redact(body.decode("utf-8", errors="replace").replace("\n", " "), secret)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def parse_page(body: bytes, *, page: int, per_page: int, where: str, secret: str = "") -> Page:
    """A response body -> :class:`Page`; raises :class:`GatewayApiError` on anything but the documented shape.
    ``secret`` (the API token) is redacted from any part of the body an error quotes, before it is cut."""

    def malformed(problem: str) -> GatewayApiError:
        return GatewayApiError(
            f"{where}: malformed response ({problem}): {_snippet(body, secret=secret)}. "
            "Is AI_GATEWAY_BASE_URL the API's base URL?"
        )

    try:
        payload = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise malformed("not JSON") from None
    if not isinstance(payload, dict):
        raise malformed(f"a JSON {type(payload).__name__}, not an object")
    if payload.get("success") is not True:
        errors = payload.get("errors")
        raise GatewayApiError(
            clip(f"{where}: the API answered success={payload.get('success')!r}, errors={errors!r}", 500, secret)
        )
    result, info = payload.get("result"), payload.get("result_info")
    if not isinstance(result, list):
        raise malformed("'result' is missing or not a list")
    if not isinstance(info, dict):
        raise malformed("'result_info' is missing or not an object")
    numbers = {}
    for key in ("page", "per_page", "total_count"):
        value = info.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise malformed(f"result_info.{key} is {value!r}, not a count")
        numbers[key] = value
    if numbers["page"] != page:
        raise malformed(f"asked for page {page}, got page {numbers['page']}")
    if numbers["per_page"] < 1 or len(result) > numbers["per_page"]:
        raise malformed(f"{len(result)} records on a page of per_page={numbers['per_page']}")
    return Page(number=page, records=result, per_page=numbers["per_page"], total_count=numbers["total_count"])


def to_contract_record(api_record: Any) -> dict:
    """One API log record -> a gateway-log-v1 record (see the module docstring for the mapping)."""
    if not isinstance(api_record, dict):
        raise BadRecord(
            "not_object", None, f"an API log record must be an object, got {type(api_record).__name__}"
        )
    provider, model = api_record.get("provider"), api_record.get("model")
    for name, value in (("provider", provider), ("model", model)):
        if value is None:
            raise BadRecord("missing_field", name, f"required field {name!r} is missing")
        if not isinstance(value, str):
            raise BadRecord("wrong_type", name, f"{name} must be a string, got {type(value).__name__}")
    if api_record.get("status_code") is None:
        raise BadRecord("missing_field", "status_code", "required field 'status_code' is missing")
    metadata = api_record.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else {}
        except (ValueError, RecursionError):
            raise BadRecord(
                "bad_metadata", "metadata", f"metadata {metadata[:80]!r} is not a JSON object"
            ) from None
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRecord(
            "bad_metadata", "metadata", f"metadata must be a JSON object, got {type(metadata).__name__}"
        )
    return {
        "id": api_record.get("id"),
        "created_at": api_record.get("created_at"),
        "user_id": metadata.get("user_id"),
        "model": f"{provider}/{model}",
        "status_code": api_record.get("status_code"),
        "native_tokens_prompt": api_record.get("tokens_in"),
        "native_tokens_completion": api_record.get("tokens_out"),
        "total_cost": api_record.get("cost"),
    }


def validate_api_record(api_record: Any, *, now: datetime) -> GatewayRequest:
    """Map and validate; a :class:`BadRecord` names the field as the API spells it."""
    try:
        return validate_record(to_contract_record(api_record), now=now)
    except BadRecord as error:
        api_field = API_FIELD.get(error.field or "", error.field)
        if api_field != error.field:
            raise BadRecord(error.reason, api_field, f"{error.detail} (API field {api_field})") from None
        raise


def pull_items(pull: Pull, *, now: datetime, secret: str = "") -> list[tuple[int, GatewayRequest | Quarantined]]:
    """Each pulled record validated; a bad one is kept aside with its reason. ``secret`` (the API token) is
    redacted from a quarantined record's text and detail before they are cut to length (a server may echo it)."""
    items: list[tuple[int, GatewayRequest | Quarantined]] = []
    for position, api_record in pull.records:
        try:
            items.append((position, validate_api_record(api_record, now=now)))
        except BadRecord as error:
            request_id = api_record.get("id") if isinstance(api_record, dict) else None
            raw = clip(json.dumps(api_record, default=str, sort_keys=True), RAW_PREVIEW_CHARS, secret)
            items.append(
                (
                    position,
                    Quarantined(
                        position,
                        error.reason,
                        error.field,
                        redact(error.detail, secret),
                        raw,
                        request_id[:128] if isinstance(request_id, str) else None,
                    ),
                )
            )
    return items


def land_gateway_pull(
    con: duckdb.DuckDBPyConnection,
    client: GatewayLogsClient,
    *,
    start: datetime,
    end: datetime,
    load_id: str,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> list[LoadResult]:
    """Pull [start, end) day by day; each day is pulled whole, then landed as one source in one transaction.

    A failure on a day raises :class:`GatewayApiError` with that day landed not at all; earlier days stay landed
    (re-pulling them later is harmless: their ids are duplicates).
    """
    now = now or utc_now()
    results = []
    for day_start, day_end in day_windows(start, end):
        pull = client.pull(day_start, day_end)
        source = pull_source(client.settings.gateway_id, day_start, day_end)
        result = land_requests(
            con,
            source=source,
            source_kind=SOURCE_KIND,
            items=pull_items(pull, now=now, secret=client.settings.api_token),
            load_id=load_id,
        )
        results.append(result)
        progress(
            f"{source}: {pull.total_count} records on {pull.pages} pages"
            + (f" after {pull.restarts} restarts" if pull.restarts else "")
            + f": {result.accepted} new, {result.duplicates} duplicates, {result.quarantined} quarantined"
            + (f" ({dict(result.reasons)})" if result.reasons else "")
        )
    return results
