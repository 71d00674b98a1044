"""uvicorn's HTTP protocols, answering a request they cannot parse (a bad ``Content-Length``, a
malformed header line ...) with the emulator's JSON error body instead of uvicorn's
``text/plain`` one, and ``Connection: close`` as before (``docs/protocol.md#errors``)."""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._util import error_body

__all__ = ["http_protocol"]

_STATUS_400 = b"HTTP/1.1 400 Bad Request\r\n"


def _body(msg: str) -> bytes:
    return error_body(400, msg)


class _JsonH11Protocol(H11Protocol):
    """h11, with a JSON body on a request it cannot parse."""

    def send_400_response(self, msg: str) -> None:
        body = _body(msg)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed
        return None

    class _JsonHttpToolsProtocol(HttpToolsProtocol):
        """httptools, with a JSON body on a request it cannot parse."""

        def send_400_response(self, msg: str) -> None:
            body = _body(msg)
            content = [_STATUS_400]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
            self.transport.close()

    return _JsonHttpToolsProtocol


def http_protocol(impl: str) -> type[asyncio.Protocol]:
    """The protocol class of ``impl`` (``"auto"``: httptools when installed, else h11)."""
    if impl not in ("auto", "h11", "httptools"):
        raise ValueError(f"unknown HTTP implementation {impl!r} (auto, h11 or httptools)")
    if impl == "h11":
        return _JsonH11Protocol
    fast = _httptools_protocol()
    if fast is None:
        if impl == "httptools":
            raise ValueError("http_impl='httptools' needs the httptools package")
        return _JsonH11Protocol
    return fast
