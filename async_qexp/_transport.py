"""The transports: httpx's API over aiohttp's connection pool (``httpx-aiohttp``, the
default), and httpx's own pool, each routed through the provider's proxies
(:class:`~async_qexp._network.Network`).

Five corrections on top of ``httpx_aiohttp.AiohttpTransport``:

* aiohttp's own retry is off: by default ``ClientSession`` silently sends an idempotent
  request a second time when a reused keep-alive connection drops it, so the server would see
  one attempt more than :class:`~async_qexp.RetryPolicy` allows (its ``max_attempts`` alone
  decides, as on httpx's transport). The switch is the session's ``_retry_connection``
  attribute (aiohttp >= 3.11, the floor; the one aiohttp's own test client turns off);

* a body over 1 MiB is handed over as a file object (aiohttp warns of raw bytes that large);
* the URL is handed to aiohttp exactly as httpx encoded it (``yarl.URL(..., encoded=True)``);
  otherwise yarl re-normalises the path and a name like ``../x.svg`` loses its dot segments;
* aiohttp's exceptions map onto the httpx exception that says what happened: a dropped
  connection is ``httpx.RemoteProtocolError`` (httpx-aiohttp reports it as
  ``ConnectTimeout``), a refused one ``httpx.ConnectError``, a timeout an
  ``httpx.TimeoutException``, a proxy that refused ``httpx.ProxyError``;
* the TLS context and the proxy of each request are the provider's: one context for every
  connection, and the proxy :meth:`Network.proxy_for <async_qexp._network.Network.proxy_for>`
  chooses for the request's URL (with its credentials as ``Proxy-Authorization``).

httpx's own transport is :class:`HttpxTransport`: one ``httpx.AsyncHTTPTransport`` for direct
connections and one per proxy, chosen per request, as ``httpx.AsyncClient`` would choose its
mounts (which :class:`~async_qexp._http.HttpSession` bypasses). httpcore's pool (1.0.9 and
before) loses a connection slot for good when the task of a request is cancelled at the wrong
moment (its upstream issues 658, 830 and 1093), until the pool is exhausted and every request
ends in ``PoolTimeout``. So each exchange (the request and its whole body) runs in a task of
its own that a cancelled caller leaves to finish in the background, bounded by the request's
timeouts, and the pool never sees a cancellation; closing the transport cancels what is left.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport as _BaseAiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

from ._network import Network, ProxyRoute

__all__ = ["AiohttpTransport", "HttpxTransport", "disable_hidden_retries", "map_aiohttp_error"]


def map_aiohttp_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that describes an aiohttp (or asyncio) failure."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        cls = httpx.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cls = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError | TimeoutError):
        cls = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientPayloadError):
        cls = httpx.ReadError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        cls = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL):
        cls = httpx.UnsupportedProtocol
    else:
        cls = httpx.TransportError
    return cls(message, request=request)


LARGE_BODY = 2**20
"""Request bodies larger than this go to aiohttp as a file object, which it sends in chunks
(it warns that raw bytes this large might block the event loop)."""


def disable_hidden_retries(session: aiohttp.ClientSession) -> None:
    """Stop ``session`` from resending an idempotent request on its own when a reused
    connection drops (the client's retry policy decides every attempt)."""
    if not hasattr(session, "_retry_connection"):  # pragma: no cover - aiohttp < 3.11
        raise RuntimeError("aiohttp >= 3.11 is required (its retry switch is missing)")
    session._retry_connection = False


class _Stream(AiohttpResponseStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        super().__init__(response)
        self._request = request

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._aiohttp_response.content.iter_chunked(self.CHUNK_SIZE):
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise map_aiohttp_error(exc, self._request) from exc


class AiohttpTransport(_BaseAiohttpTransport):
    """``httpx_aiohttp.AiohttpTransport`` with exact URLs, precise exception mapping, and the
    provider's TLS context and proxies (``network``; without one: the defaults, no proxy)."""

    def __init__(self, *, limits: httpx.Limits, network: Network | None = None) -> None:
        network = network or Network(trust_env=False)
        super().__init__(verify=network.ssl_context, limits=limits, trust_env=False)
        self.ssl_context = network.ssl_context
        self.network = network

    def get_client(self) -> aiohttp.ClientSession:
        """The aiohttp session, made with aiohttp's hidden retry of idempotent requests off."""
        client = super().get_client()
        disable_hidden_retries(client)
        return client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through aiohttp's pool (and the proxy for its URL, if any); the
        response's body streams."""
        response = await self._send(request)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Stream(response, request),
            request=request,
            extensions=_extensions(response),
        )

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        """Send one request and read its whole body: what every call of this library does.

        The body comes from aiohttp in one read and is decoded by httpx in one synchronous
        pass, without the chain of async generators a streamed body goes through (about a
        tenth of the client's CPU per small request).
        """
        response = await self._send(request)
        try:
            body = await response.read()  # (aiohttp closes the connection if this fails)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise map_aiohttp_error(exc, request) from exc
        whole = httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=_extensions(response),
        )
        whole.read()  # (decodes a Content-Encoding, as reading a stream would)
        return whole

    async def _send(self, request: httpx.Request) -> aiohttp.ClientResponse:
        """Send one request; aiohttp's response, its body unread."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        headers: Any = request.headers
        route = self.network.proxy_for(request.url)
        proxy_headers: dict[str, str] | None = None
        if route is not None:
            proxy_headers = dict(route.headers)
            authorization = route.authorization()
            if authorization is not None:
                if request.url.scheme == "http":  # forwarded: the proxy reads the request
                    headers = httpx.Headers(request.headers)
                    headers["Proxy-Authorization"] = authorization
                else:  # tunnelled: the proxy reads the CONNECT
                    proxy_headers["Proxy-Authorization"] = authorization
        try:
            content = request.content
        except httpx.RequestNotRead:  # pragma: no cover - we always send bytes
            raise httpx.TransportError("streaming request bodies are not supported") from None
        data: bytes | io.BytesIO | None = content or None
        if len(content) > LARGE_BODY:  # aiohttp warns (ResourceWarning) of large raw bytes
            data = io.BytesIO(content)
        try:
            return await self.client.request(
                method=request.method,
                url=yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=route.url if route is not None else None,
                proxy_headers=proxy_headers or None,
            ).__aenter__()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise map_aiohttp_error(exc, request) from exc


def _extensions(response: aiohttp.ClientResponse) -> dict[str, Any]:
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
    if response.reason:
        extensions["reason_phrase"] = response.reason.encode()
    return extensions


class HttpxTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, routed: one ``httpx.AsyncHTTPTransport`` for direct connections
    and one per proxy (made when first needed), all with the provider's TLS context.

    Every exchange runs in a task of its own, shielded from the caller's cancellation (see
    the module docstring); its response comes back with the body read.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        network: Network | None = None,
        on_abandoned: Callable[[asyncio.Future[httpx.Response]], None] | None = None,
    ) -> None:
        self.network = network or Network(trust_env=False)
        self._limits = limits
        self.on_abandoned = on_abandoned
        """Called with an exchange whose caller was cancelled while it goes on (the session
        keeps a slot of its bound taken until it ends: it still holds a connection)."""
        self.direct = self._make(None)
        self._proxied: dict[ProxyRoute, httpx.AsyncHTTPTransport] = {}
        self._exchanges: set[asyncio.Task[httpx.Response]] = set()

    def _make(self, route: ProxyRoute | None) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self.network.ssl_context,
            limits=self._limits,
            trust_env=False,
            proxy=route.httpx_proxy(self.network.ssl_context) if route is not None else None,
        )

    def transport_for(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        """The transport a request to ``url`` goes through."""
        route = self.network.proxy_for(url)
        if route is None:
            return self.direct
        transport = self._proxied.get(route)
        if transport is None:
            transport = self._proxied[route] = self._make(route)
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request, directly or through its proxy; the body is read before this
        returns. A cancelled caller gets ``CancelledError`` at once, while the exchange
        finishes in the background (so httpcore's pool stays consistent)."""
        exchange = asyncio.ensure_future(self._exchange(self.transport_for(request.url), request))
        self._exchanges.add(exchange)
        exchange.add_done_callback(self._settled)
        try:
            return await asyncio.shield(exchange)
        except asyncio.CancelledError:
            if not exchange.done() and self.on_abandoned is not None:
                self.on_abandoned(exchange)
            raise

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        """Send one request and read its whole body (:meth:`handle_async_request` does);
        the response knows its request."""
        response = await self.handle_async_request(request)
        response.request = request  # (httpx's own transport leaves this to the client)
        return response

    @staticmethod
    async def _exchange(
        transport: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        response = await transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def _settled(self, exchange: asyncio.Task[httpx.Response]) -> None:
        # (asyncio.shield marks the outcome of an exchange whose caller left as retrieved)
        self._exchanges.discard(exchange)

    async def aclose(self) -> None:
        """Cancel the exchanges still running in the background, and close every pool."""
        exchanges = list(self._exchanges)
        for exchange in exchanges:
            exchange.cancel()
        if exchanges:
            await asyncio.wait(exchanges)
        transports = [self.direct, *self._proxied.values()]
        self._proxied.clear()
        for transport in transports:
            await transport.aclose()
