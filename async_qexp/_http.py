"""HTTP plumbing: the shared client, headers, the retry policy and error mapping.

One :class:`HttpSession` wraps the one ``httpx.AsyncClient`` of a :class:`~async_qexp.Provider`.
Every service call goes through :meth:`HttpSession.request`, which

* bounds the number of requests in flight client-wide,
* adds ``X-Access-Token`` only to the service origins (never to a foreign upload URL),
* retries 429 (honouring ``Retry-After``), 500/502/503/504/520/522/524 and connection errors
  with capped exponential backoff and jitter, within a total time budget, and replays a POST
  only when the caller says it is safe,
* maps error statuses onto the typed exceptions of :mod:`async_qexp.errors`,
* logs one DEBUG line per attempt on ``async_qexp.http`` (method, URL without a signed query,
  status, milliseconds, attempt number), each retry at INFO and giving up at WARNING.

A failure that cannot go better by trying again (a TLS certificate that does not verify, a
proxy that wants other credentials, a URL scheme no transport speaks) is raised at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, cast
from urllib.parse import quote, urlencode, urlsplit

import httpx

from ._config import RetryPolicy, client_application
from ._limit import AdaptiveLimit, ConcurrencySnapshot, Limiter, Outcome
from ._logs import get_logger, install_redaction, register_secret
from ._network import Network
from ._request import RequestBuilder
from .errors import (
    ApiError,
    AuthError,
    ClosedError,
    EntryExists,
    EntryNotFound,
    RateLimited,
    RequestError,
    RequestTimeout,
)

__all__ = [
    "HttpSession",
    "Secret",
    "TransportName",
    "check_transport",
    "loggable",
    "make_transport",
    "quote_path",
]

logger = get_logger("async_qexp.http")

TransportName = Literal["aiohttp", "httpx"]
"""The built-in transports: ``"aiohttp"`` (the default, fast) or ``"httpx"`` (httpx's own)."""

QueryParams = Sequence[tuple[str, str]] | Mapping[str, str] | None

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_MAX_REDIRECTS = 5


class Secret:
    """A string that never shows itself in a ``repr``, a ``str`` or a log line (while it is
    alive, its value is replaced by ``***`` in every record our loggers and those of the
    libraries we drive make: :mod:`async_qexp._logs`)."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(self)

    def get(self) -> str:
        """Return the secret value (only to put it on the wire)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def check_transport(transport: Any) -> None:
    """Check a transport argument before anything is built.

    Raises:
        TypeError: for something that is neither a transport name nor an httpx transport.
        ValueError: for an unknown transport name.
    """
    if transport is None or isinstance(transport, httpx.AsyncBaseTransport):
        return
    if not isinstance(transport, str):
        raise TypeError(
            f"transport must be 'aiohttp', 'httpx' or an httpx transport, "
            f"not {type(transport).__name__}"
        )
    if transport not in ("aiohttp", "httpx"):
        raise ValueError(
            f"transport must be 'aiohttp', 'httpx' or an httpx transport, not {transport!r}"
        )


def make_transport(
    transport: TransportName | httpx.AsyncBaseTransport | None,
    *,
    max_connections: int,
    network: Network | None = None,
    on_abandoned: Callable[[asyncio.Future[httpx.Response]], None] | None = None,
) -> httpx.AsyncBaseTransport:
    """Build the transport of the shared client.

    ``None`` or ``"aiohttp"`` gives the ``httpx-aiohttp`` transport (httpx's own pool spends
    about ten times the CPU per request under concurrency; ``bench/README.md``); ``"httpx"``
    gives httpx's own; both take their TLS context and proxies from ``network``. An
    ``httpx.AsyncBaseTransport`` instance (a respx router wrapped in
    ``httpx.MockTransport``, say) is used as it is. ``on_abandoned`` goes to httpx's
    transport (:class:`~async_qexp._transport.HttpxTransport`).
    """
    check_transport(transport)
    if isinstance(transport, httpx.AsyncBaseTransport):
        return transport
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    from ._transport import AiohttpTransport, HttpxTransport

    if transport == "httpx":
        return HttpxTransport(limits=limits, network=network, on_abandoned=on_abandoned)
    return AiohttpTransport(limits=limits, network=network)


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, cached: a bulk upload posts to the same URL thousands of times,
    and httpx's pure-Python parser is the largest cost left per request (URLs are immutable).
    """
    return httpx.URL(url)


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """The (scheme, host, port) origin of a URL, with default ports made explicit.

    Uses the stdlib's ``urlsplit``: it runs on every request, and httpx's URL parser costs
    about ten times as much; cached, as a bulk upload asks about one URL thousands of times.
    """
    return _origin(str(url))


@functools.lru_cache(maxsize=1024)
def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme))


class HttpSession:
    """The request layer shared by every service of one provider.

    It owns the one ``httpx.AsyncClient`` and its transport (the connection pool), the retry
    policy, the client-wide bound on requests in flight, the credentials, and the network
    settings (:class:`~async_qexp._network.Network`: TLS trust and proxies, for the
    websocket of result streams too). After :meth:`aclose`, every request raises
    :class:`~async_qexp.errors.ClosedError`.
    """

    def __init__(
        self,
        *,
        transport: TransportName | httpx.AsyncBaseTransport | None,
        timeout: httpx.Timeout | float,
        retry: RetryPolicy,
        max_in_flight: int | Literal["auto"],
        user_agent: str,
        network: Network | None = None,
        max_in_flight_ceiling: int | None = None,
    ) -> None:
        if max_in_flight == "auto":
            if max_in_flight_ceiling is None:
                self.limiter = Limiter(AdaptiveLimit())
            else:
                self.limiter = Limiter(AdaptiveLimit(ceiling=max_in_flight_ceiling))
        elif isinstance(max_in_flight, int) and max_in_flight >= 1:
            self.limiter = Limiter(max_in_flight)
        else:
            raise ValueError("max_in_flight must be a positive integer or 'auto'")
        install_redaction()
        self.network = network or Network()
        # The pool holds as many connections as the limit may ever allow: it never caps it.
        self.transport = make_transport(
            transport,
            max_connections=self.limiter.ceiling,
            network=self.network,
            on_abandoned=self._hold_slot,
        )
        self.client = httpx.AsyncClient(
            transport=self.transport, timeout=timeout, headers={"User-Agent": user_agent}
        )
        self._reads_whole = _reads_whole(self.transport)
        # The client's default headers, as a plain dict: merged into every request, and an
        # httpx.Headers is slow to iterate.
        self._default_headers = dict(self.client.headers)
        self._requests = RequestBuilder(self._default_headers)
        self.retry = retry
        self._token: Secret | None = None
        self._token_origins: set[tuple[str, str, int | None]] = set()
        self._secrets: list[Secret] = []
        self._client_application = client_application()
        self._closed = False

    def _hold_slot(self, exchange: asyncio.Future[httpx.Response]) -> None:
        """Keep a slot of the bound taken until ``exchange`` ends: httpx's transport lets an
        exchange whose caller was cancelled finish on its connection, and new requests
        must not pile up behind it beyond the bound."""
        self.limiter.hold()
        exchange.add_done_callback(lambda _: self.limiter.unhold())

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        bound = "auto" if self.limiter.adaptive is not None else str(self.limiter.limit)
        return f"<HttpSession max_in_flight={bound} retry={self.retry!r}{state}>"

    @property
    def max_in_flight(self) -> int:
        """The requests allowed in flight now (the adaptive limit moves)."""
        return self.limiter.limit

    @property
    def concurrency(self) -> ConcurrencySnapshot:
        """A read-only snapshot of the bound on requests in flight."""
        return self.limiter.snapshot()

    def workers(self) -> int:
        """How many workers a bulk operation runs now to keep the bound busy (it is asked
        again as workers finish, so the pool follows an adaptive limit)."""
        return self.limiter.workers()

    @property
    def closed(self) -> bool:
        """Whether the session (and its provider) has been closed."""
        return self._closed

    def check_open(self) -> None:
        """Raise :class:`~async_qexp.errors.ClosedError` if the session is closed."""
        if self._closed:
            raise ClosedError("the provider is closed")

    async def aclose(self) -> None:
        """Close the connection pool; every later request raises ``ClosedError``."""
        self._closed = True
        self.limiter.close()
        await self.client.aclose()

    # -- credentials ---------------------------------------------------------------------

    def set_access_token(self, token: Secret, origins: Iterable[str]) -> None:
        """Send ``token`` as ``X-Access-Token`` to these origins (service base URLs) only."""
        self._token = token
        self._token_origins = {origin(u) for u in origins}
        self._requests.forget()  # (no header set of an earlier token is kept)
        self.add_secret(token)

    def add_secret(self, secret: Secret) -> None:
        """Redact ``secret`` from every error message this session builds."""
        if secret not in self._secrets:
            self._secrets.append(secret)

    def add_token_origin(self, url: str) -> None:
        """Also send the access token to the origin of ``url``."""
        self._token_origins.add(origin(url))

    def access_token_for(self, url: str) -> str | None:
        """The access token, if ``url`` is on a service origin (for websocket handshakes)."""
        return self._token.get() if self._token is not None and self.sends_token_to(url) else None

    def websocket_options(self, url: str) -> dict[str, Any]:
        """The TLS context and proxy of a websocket to ``url`` (keyword arguments of
        ``websockets.asyncio.client.connect``), as this session's requests use them."""
        return self.network.websocket_options(url)

    def sends_token_to(self, url: str | httpx.URL) -> bool:
        """Whether a request to ``url`` would carry the access token."""
        return self._token is not None and origin(url) in self._token_origins

    # -- requests ------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams = None,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        replay_safe: bool | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> httpx.Response:
        """Send a request with retries and return the successful response.

        Args:
            method: the HTTP method.
            url: the absolute URL.
            params: query parameters; a sequence of pairs allows repeated keys.
            json_body: a JSON-serialisable body (sent with ``Content-Type: application/json``).
            content: a raw body, sent as it is.
            headers: extra headers.
            replay_safe: whether the request may be sent again after a failure that may have
                reached the server. Defaults to ``True`` for GET/PUT/DELETE/HEAD and ``False``
                for POST/PATCH; creates that carry a client-generated id pass ``True``.
            timeout: overrides the client's timeout for this request.

        Raises:
            ApiError: (or a subclass) for an HTTP error status.
            RequestError: when no response could be had within the retry budget.
        """
        self.check_open()
        method = method.upper()
        if replay_safe is None:
            replay_safe = method in _IDEMPOTENT_METHODS
        base_headers = {"X-Qx-Client-Application": self._client_application}
        body: bytes | str | None = content
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), allow_nan=False)
            base_headers["Content-Type"] = "application/json"
        if headers:
            base_headers.update(headers)

        policy = self.retry
        started = time.monotonic()
        attempt = 0
        maybe_applied = False  # whether an earlier attempt may have reached the server
        debug = logger.isEnabledFor(logging.DEBUG)
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: RequestError | None = None
            sent_at = time.perf_counter() if debug else 0.0
            limiter = self.limiter
            admitted = await limiter.acquire()
            signal: Outcome = "ignored"
            slot_retry_after: float | None = None
            try:
                self.check_open()
                if debug:
                    sent_at = time.perf_counter()
                response = await self._send(method, url, params, body, base_headers, timeout)
                signal, slot_retry_after = _load_signal(response, policy)
            except (httpx.TransportError, RuntimeError) as exc:
                if isinstance(exc, httpx.TimeoutException) and not isinstance(
                    exc, httpx.ConnectTimeout | httpx.PoolTimeout
                ):
                    signal = "timeout"
                if self._closed:  # closed while in flight (aiohttp: "Session is closed")
                    raise ClosedError("the provider was closed during the request") from exc
                if not isinstance(exc, httpx.TransportError):
                    raise
                failure = _transport_failure(
                    exc, method=method, url=loggable(url), via=self._proxy_note(url)
                )
            finally:
                limiter.release(admitted, signal, retry_after=slot_retry_after)
            if debug:
                logger.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)",
                    method,
                    log_target(url, params),
                    response.status_code if response is not None else _kind(failure),
                    (time.perf_counter() - sent_at) * 1000,
                    attempt,
                )

            if response is not None and response.status_code < 300:
                return response

            # Decide whether to retry, and after how long.
            elapsed = time.monotonic() - started
            retry_after: float | None = None
            if response is not None:
                status = response.status_code
                # A 429 says the request was not processed; a 5xx may come after it was.
                retryable = status in policy.retry_statuses and (replay_safe or status == 429)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                applied = status >= 500
                outcome: object = status
            else:
                # A connection that failed before the request was sent is always safe to retry;
                # one that dropped afterwards may have reached the server.
                assert failure is not None
                sent = not _never_sent(failure)
                retryable = (
                    policy.retry_connection_errors
                    and (replay_safe or not sent)
                    and not _permanent(failure)
                )
                applied = sent
                outcome = failure.reason
            why_not = ""
            if retryable and attempt >= policy.max_attempts:
                why_not = f"{attempt} attempts made, the most the retry policy allows"
            elif retryable:
                delay = policy.backoff(attempt)
                if retry_after is not None:
                    delay = retry_after if retry_after <= policy.max_retry_after else -1.0
                if delay < 0:
                    why_not = (
                        f"the server asked to wait {retry_after:.0f} s, more than the "
                        f"{policy.max_retry_after:g} s the retry policy allows"
                    )
                elif elapsed + delay > policy.total_budget:
                    why_not = f"the retry budget of {policy.total_budget:g} s is spent"
                else:
                    logger.info(
                        "retrying %s %s in %.2f s: attempt %d of %d failed (%s)",
                        method,
                        loggable(url),
                        delay,
                        attempt,
                        policy.max_attempts,
                        outcome,
                    )
                    maybe_applied = maybe_applied or applied
                    await asyncio.sleep(delay)
                    continue
            if why_not and policy.max_attempts > 1:
                logger.warning(
                    "giving up on %s %s after %d attempt%s: %s (%s)",
                    method,
                    loggable(url),
                    attempt,
                    "s" if attempt > 1 else "",
                    outcome,
                    why_not,
                )
            if response is not None:
                error = error_from_response(
                    response, attempts=attempt, retry_after=retry_after, redact=self._secrets
                )
                error.maybe_applied = maybe_applied
                raise error
            assert failure is not None
            failure.after_attempts(attempt)
            raise failure

    def _proxy_note(self, url: str) -> str:
        route = self.network.proxy_for(url)
        return f" (through the proxy {route.url})" if route is not None else ""

    async def _send(
        self,
        method: str,
        url: str,
        params: QueryParams,
        body: bytes | str | None,
        headers: dict[str, str],
        timeout: httpx.Timeout | float | None,
    ) -> httpx.Response:
        """One attempt; a GET or HEAD follows up to 5 redirects, re-deciding the token each hop.

        Requests go straight to the shared client's transport: ``AsyncClient.send`` would add a
        cookie jar, auth and redirect flows and a second URL merge on every request (about a
        quarter of the client's CPU per request under load, ``bench/README.md``), and this
        library uses none of them. The client still owns the pool, the transport and the
        default headers and timeout.
        """
        client = self.client
        limit = client.timeout if timeout is None else httpx.Timeout(timeout)
        extensions = {"timeout": limit.as_dict()}
        content = body.encode() if isinstance(body, str) else body or b""
        for _ in range(_MAX_REDIRECTS + 1):
            token = None
            if self._token is not None and self.sends_token_to(url):
                token = self._token.get()
            target = _parsed_url(url)
            if params is not None:
                target = httpx.URL(target, params=params)
            request = self._requests.build(method, target, content, headers, token, extensions)
            response = await self._exchange(request)
            location = response.headers.get("Location")
            if not (300 <= response.status_code < 400 and location and method in ("GET", "HEAD")):
                if 300 <= response.status_code < 400:
                    raise error_from_response(response, redact=self._secrets)
                return response
            url = str(response.url.join(location))
            params = None  # the Location carries its own query
        raise ApiError(  # about the last request made (not the Location it pointed to)
            f"more than {_MAX_REDIRECTS} redirects",
            status=response.status_code,
            method=method,
            url=loggable(str(response.request.url)),
            headers=response.headers.multi_items(),
        )

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """One HTTP exchange on the transport, the body read in full."""
        if self._reads_whole:
            return await cast(_ReadsWhole, self.transport).exchange(request)
        response = await self.transport.handle_async_request(request)
        response.request = request  # httpx's own transport leaves this to the client
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def get_json(self, url: str, *, params: QueryParams = None) -> Any:
        """GET ``url`` and parse the body as JSON."""
        response = await self.request("GET", url, params=params)
        return parse_json(response)


class _ReadsWhole(Protocol):
    async def exchange(self, request: httpx.Request) -> httpx.Response: ...


def _reads_whole(transport: httpx.AsyncBaseTransport) -> bool:
    """Whether ``transport`` is a built-in one, whose ``exchange`` sends a request and reads
    its whole body in one go (a transport of the caller's is read as a stream)."""
    from ._transport import AiohttpTransport, HttpxTransport

    return isinstance(transport, AiohttpTransport | HttpxTransport)


def parse_json(response: httpx.Response) -> Any:
    """Parse a response body as JSON, raising :class:`ApiError` when it is not."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise ApiError(
            f"the response is not valid JSON: {response.text[:200]!r}",
            status=response.status_code,
            method=response.request.method,
            url=loggable(str(response.request.url)),
            headers=response.headers.multi_items(),
        ) from exc


def _load_signal(response: httpx.Response, policy: RetryPolicy) -> tuple[Outcome, float | None]:
    """What an answer tells the limiter: its latency counts, or it is a refusal (429, 503),
    with the ``Retry-After`` pause every sender then observes (at most the policy's
    ``max_retry_after``)."""
    status = response.status_code
    if status == 429 or status == 503:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            retry_after = min(retry_after, policy.max_retry_after)
        return "refused", retry_after
    return ("ignored" if status >= 500 else "ok"), None


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds (fractions allowed) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(
    response: httpx.Response,
    *,
    attempts: int = 1,
    retry_after: float | None = None,
    redact: Iterable[Secret] = (),
) -> ApiError:
    """Build the typed exception for an error response; ``redact`` secrets become ``...``."""
    status = response.status_code
    code: str | int | None = None
    message = ""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            message = str(err.get("message") or err.get("name") or "")
        elif isinstance(err, str):
            message = err
        elif isinstance(body.get("message"), str):
            message = body["message"]
    if not message:
        message = response.text.strip()[:500] or response.reason_phrase or "no message"
    for secret in redact:
        if secret.get():
            message = message.replace(secret.get(), "...")
    kwargs: dict[str, Any] = {
        "attempts": attempts,
        "status": status,
        "code": code,
        "method": response.request.method,
        "url": loggable(str(response.request.url)),
        "headers": response.headers.multi_items(),
    }
    if status == 404:
        return EntryNotFound(message, **kwargs)
    if status == 409:
        return EntryExists(message, **kwargs)
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=retry_after, **kwargs)
    return ApiError(message, **kwargs)


def loggable(url: str) -> str:
    """A URL without its query string (signed URLs carry signatures there)."""
    return url.split("?", 1)[0]


_SECRET_PARAMS = ("sig", "signature", "token", "key", "credential", "secret", "password")


def log_target(url: str, params: QueryParams) -> str:
    """What the request log shows of a URL: never the query the URL itself carries (a
    signed URL's signature is there), and the separate ``params`` (list filters, paging)
    unless one of their names looks like a credential or the URL is a blob's."""
    shown = loggable(url)
    if not params or "/_blob/" in shown:
        return shown
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    if any(part in name.lower() for name, _ in pairs for part in _SECRET_PARAMS):
        return shown + "?..."
    return shown + "?" + urlencode(pairs)


_PATH_SAFE = ":@!$&'()*+,;=~"


def quote_path(name: str) -> str:
    """Percent-encode a name for a URL path (``docs/protocol.md#names-in-paths``).

    A ``/`` in the name stays a separator (figure and file names may hold one; ids are checked
    not to), and ``.``/``..`` segments are encoded so that no URL normalisation removes them.
    """
    return "/".join(
        "%2E" * len(part) if part in (".", "..") else quote(part, safe=_PATH_SAFE)
        for part in name.split("/")
    )


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and the exceptions it was raised from (or during), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (a certificate that did not verify, a handshake that
    failed), if there is one; a TLS connection that merely ended early does not count.

    The innermost one of the standard library's is preferred (aiohttp's own TLS errors
    subclass ``ssl.SSLError`` without its ``reason``, and carry the real one)."""
    found: list[ssl.SSLError] = []
    for link in _chain(exc):
        for candidate in (
            link,
            getattr(link, "certificate_error", None),
            getattr(link, "os_error", None),
        ):
            if isinstance(candidate, ssl.SSLError) and not isinstance(
                candidate, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError
            ):
                found.append(candidate)
    plain = [error for error in found if type(error).__module__ == "ssl"]
    chosen = plain or found
    return chosen[-1] if chosen else None


def _tls_reason(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return str(error.verify_message)
    return str(getattr(error, "reason", None) or error)


def _transport_failure(
    exc: httpx.TransportError, *, method: str, url: str, via: str = ""
) -> RequestError:
    """Turn a transport exception into a :class:`RequestError` (or :class:`RequestTimeout`)."""
    cls = RequestTimeout if isinstance(exc, httpx.TimeoutException) else RequestError
    tls = tls_failure(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        host = origin(url)
        text = (
            f"TLS certificate verification failed for {host[1]}:{host[2]}{via}: "
            f"{_tls_reason(tls)}. Trust the certificate authority "
            "that signed the server's certificate with verify='ca.pem', or SSL_CERT_FILE"
        )
    elif tls is not None:
        text = f"TLS handshake failed{via}: {_tls_reason(tls)}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        text += via
    failure = cls(text, method=method, url=url)
    failure.__cause__ = exc
    return failure


def _kind(failure: RequestError | None) -> str:
    """The name of what a transport failure was (for the request log)."""
    cause = failure.__cause__ if failure is not None else None
    return type(cause).__name__ if cause is not None else "failed"


def _never_sent(failure: RequestError | None) -> bool:
    """Whether a transport failure happened before the request could reach the server."""
    cause = failure.__cause__ if failure is not None else None
    return isinstance(
        cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ProxyError
    )


def _permanent(failure: RequestError) -> bool:
    """Whether trying again cannot help: a TLS failure, a proxy refusing our credentials, a
    URL no transport speaks."""
    cause = failure.__cause__
    if cause is None:
        return False
    if isinstance(cause, httpx.UnsupportedProtocol) or tls_failure(cause) is not None:
        return True
    return isinstance(cause, httpx.ProxyError) and "407" in str(cause)
