"""The default transport: httpx's API over aiohttp's connection pool (``httpx-aiohttp``).

Two corrections on top of ``httpx_aiohttp.AiohttpTransport``:

* the URL is handed to aiohttp exactly as httpx encoded it (``yarl.URL(..., encoded=True)``);
  otherwise yarl re-normalises the path and a name like ``../x.svg`` loses its dot segments;
* aiohttp's exceptions map onto the httpx exception that says what happened: a dropped
  connection is ``httpx.RemoteProtocolError`` (httpx-aiohttp reports it as
  ``ConnectTimeout``), a refused one ``httpx.ConnectError``, a timeout an
  ``httpx.TimeoutException``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport as _BaseAiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

__all__ = ["AiohttpTransport", "map_aiohttp_error"]


def map_aiohttp_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that describes an aiohttp (or asyncio) failure."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientConnectorError):
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
    """``httpx_aiohttp.AiohttpTransport`` with exact URLs and precise exception mapping."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through aiohttp's pool."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        try:
            data: bytes | None = request.content or None
        except httpx.RequestNotRead:  # pragma: no cover - we always send bytes
            raise httpx.TransportError("streaming request bodies are not supported") from None
        try:
            response = await self.client.request(
                method=request.method,
                url=yarl.URL(str(request.url), encoded=True),
                headers=request.headers,
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
                proxy=str(self.proxy.url) if self.proxy else None,
            ).__aenter__()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise map_aiohttp_error(exc, request) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Stream(response, request),
            request=request,
            extensions=extensions,
        )
