"""The Twilio SDK's transport, and retries around its calls.

`TwilioHttp` implements the SDK's public `AsyncHttpClient` interface on httpx
instead of using the bundled `AsyncTwilioHttpClient`, because the bundled one
(twilio 9.x) sends `application/json` bodies form-encoded, which breaks the
Content API, and drops the response headers of failed calls, so Retry-After
cannot be honoured. Here 429/5xx and network errors surface as
`TwilioTransientError` carrying Retry-After, and TWILIO_API_BASE_URL points every
Twilio product host at one base URL (tests use a loopback fake).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.settings import Settings

T = TypeVar("T")
_log = logging.getLogger("twilio.http")


class TwilioTransientError(Exception):
    """Twilio answered 429 or 5xx, or could not be reached; worth trying again."""

    def __init__(self, status: int | None, retry_after_s: float | None, detail: str) -> None:
        super().__init__(f"twilio transient failure {status or 'network'}: {detail}")
        self.status = status
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def rewrite_url(url: str, base_url: str | None) -> str:
    """https://<product>.twilio.com/<path> → <base>/<product>/<path> when a base is set."""
    if not base_url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith("twilio.com"):
        return url
    product = host.split(".")[0]
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}/{product}{parts.path}{query}"


class TwilioHttp(AsyncHttpClient):  # type: ignore[misc]  # the SDK ships no types
    """An httpx transport for `twilio.rest.Client` (see the module docstring for why)."""

    def __init__(self, *, timeout_s: float, base_url: str | None = None) -> None:
        super().__init__(_log, True, timeout_s)
        self.base_url = base_url
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def request(
        self, method: str, uri: str, params: dict[str, object] | None = None,
        data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None, timeout: float | None = None,  # noqa: ASYNC109
        allow_redirects: bool = False,
    ) -> Response:
        is_json = (headers or {}).get("Content-Type") == "application/json"
        try:
            response = await self.client.request(
                method.upper(), rewrite_url(uri, self.base_url), params=params,  # type: ignore[arg-type]
                json=data if is_json else None, data=None if is_json else data,
                headers=headers, auth=auth, timeout=timeout or self.timeout,
                follow_redirects=allow_redirects,
            )
        except httpx.TransportError as exc:
            raise TwilioTransientError(None, None, type(exc).__name__) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TwilioTransientError(response.status_code,
                                       parse_retry_after(response.headers.get("Retry-After")),
                                       response.text[:200])
        return Response(response.status_code, response.text, response.headers)

    async def download(self, url: str, auth: tuple[str, str], max_bytes: int) -> bytes:
        """A media file, fetched with the account's basic auth, at most `max_bytes`."""
        async with self.client.stream("GET", rewrite_url(url, self.base_url), auth=auth,
                                      follow_redirects=True) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ValueError(f"media larger than {max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self.client.aclose()


class RetryAfterOrBackoff(wait_base):
    """Wait what Retry-After asks (capped), else exponential backoff."""

    def __init__(self, base_s: float, cap_s: float) -> None:
        self.cap_s = cap_s
        self.backoff = wait_exponential(multiplier=base_s, max=cap_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, TwilioTransientError) and error.retry_after_s is not None:
            return min(error.retry_after_s, self.cap_s)
        return float(self.backoff(retry_state))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    structlog.get_logger(__name__).warning(
        "twilio_call_retried", attempt=state.attempt_number, wait_s=state.upcoming_sleep,
        status=getattr(error, "status", None), retry_after_s=getattr(error, "retry_after_s", None))


async def with_retries(call: Callable[[], Awaitable[T]], *, attempts: int, base_s: float,
                       cap_s: float) -> T:
    """Run `call`, retrying transient failures; the last one is re-raised."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, attempts)), wait=RetryAfterOrBackoff(base_s, cap_s),
        retry=retry_if_exception_type(TwilioTransientError), reraise=True,
        before_sleep=_log_retry,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


class TwilioApi:
    """The account's `twilio.rest.Client` on `TwilioHttp`, built on first use (inside the
    event loop), with the configured retries around each call."""

    def __init__(self, settings: Settings) -> None:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self.settings = settings
        self.account_sid = settings.twilio_account_sid
        self.auth_token = settings.twilio_auth_token.get_secret_value()
        self._http: TwilioHttp | None = None
        self._client: Client | None = None

    @property
    def http(self) -> TwilioHttp:
        if self._http is None:
            self._http = TwilioHttp(timeout_s=self.settings.whatsapp_http_timeout_s,
                                    base_url=self.settings.twilio_api_base_url)
        return self._http

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.account_sid, self.auth_token, http_client=self.http)
        return self._client

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One API call with the configured retries on 429/5xx (Retry-After honoured)."""
        s = self.settings
        return await with_retries(make, attempts=s.whatsapp_send_attempts,
                                  base_s=s.whatsapp_retry_base_s, cap_s=s.whatsapp_retry_max_wait_s)

    async def download(self, url: str) -> bytes:
        """An inbound attachment (Twilio media URLs need the account's basic auth)."""
        return await self.http.download(url, (self.account_sid, self.auth_token),
                                        self.settings.whatsapp_media_max_bytes)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
