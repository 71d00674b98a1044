"""A small HTTP forward proxy for the tests, on 127.0.0.1 and the caller's event loop.

It does what a corporate proxy does, and counts what passes through it:

* a request with an absolute URI (``GET http://host:port/path HTTP/1.1``) is forwarded to the
  origin, one request per connection (``Connection: close`` both ways);
* ``CONNECT host:port`` opens a tunnel and pipes bytes both ways until either side closes
  (what HTTPS, ``wss://`` and every websocket use);
* with ``auth=("user", "password")`` anything without that ``Proxy-Authorization`` is
  answered ``407``.

Leaving ``async with ForwardProxy() as proxy:`` closes the server and every connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from urllib.parse import urlsplit

import attrs

__all__ = ["ForwardProxy", "Passage"]

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}


@attrs.frozen
class Passage:
    """What went through the proxy: a forwarded request or a tunnel."""

    kind: str
    """``"forward"`` or ``"connect"``."""
    target: str
    """``host:port`` of the origin."""
    method: str = ""
    path: str = ""
    """The path of a forwarded request, query included."""


class ForwardProxy:
    """The proxy (see the module); ``passages`` lists what went through, ``refused`` counts
    the requests answered 407."""

    def __init__(self, *, auth: tuple[str, str] | None = None) -> None:
        self.passages: list[Passage] = []
        self.refused = 0
        self._expected = (
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def kinds(self) -> list[str]:
        """The kinds of the passages, in order."""
        return [p.kind for p in self.passages]

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._handle(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines if line]
        given = {name.lower(): value for name, value in headers}
        if self._expected is not None and given.get("proxy-authorization") != self._expected:
            self.refused += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return None
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            self._writers.add(up_writer)
            self.passages.append(Passage("connect", target))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return up_writer
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return None
        port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        length = int(given.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, port)
        self._writers.add(up_writer)
        self.passages.append(Passage("forward", f"{parts.hostname}:{port}", method, path))
        kept = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
        out = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in kept)
        up_writer.write(out.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        await up_writer.drain()
        await _pipe(up_reader, writer)
        return up_writer


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then pass the end of file on."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        return
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
