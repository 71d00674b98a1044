"""Building the ``httpx.Request`` of every call, cheaply.

``httpx.Request(method, url, content=..., headers=...)`` normalises every header twice on
every request (once from the mapping, once more after adding Host and Content-Length). A
session sends the same few sets of headers thousands of times, so :class:`RequestBuilder`
encodes each set once and builds the request from the encoded headers, in the order httpx
would put them.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["RequestBuilder"]

_AUTO_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
"""Headers ``httpx.Request`` fills in from the URL and the body unless given."""

_SETS_KEPT = 256
"""Sets of encoded request headers a builder keeps (then it starts over)."""

_Encoded = list[tuple[bytes, bytes]] | None
"""A set's encoded headers, or ``None``: the set gives a header httpx fills in itself."""


class RequestBuilder:
    """Builds requests as ``httpx.Request`` does, with each set of headers (``defaults``,
    then a call's own headers, then the access token) encoded once."""

    def __init__(self, defaults: dict[str, str]) -> None:
        """``defaults``: the headers every request carries first (a client's defaults)."""
        self._defaults = defaults
        self._encoded: dict[tuple[object, ...], _Encoded] = {}

    def forget(self) -> None:
        """Drop every set encoded so far (when the access token changes: none of an earlier
        token is kept)."""
        self._encoded.clear()

    def build(
        self,
        method: str,
        url: httpx.URL,
        content: bytes,
        headers: dict[str, str],
        token: str | None,
        extensions: dict[str, Any],
    ) -> httpx.Request:
        """The request ``httpx.Request(method, url, content=content, headers=...)`` makes
        (the same headers in the same order), for a quarter of its cost."""
        key = (*headers.items(), token)
        if key in self._encoded:
            encoded = self._encoded[key]
        else:
            plain = self._plain(headers, token)
            # Headers httpx would fill in itself, given: leave the request to httpx.
            auto = _AUTO_HEADERS & {name.lower() for name in plain}
            encoded = None if auto else httpx.Headers(plain).raw
            if len(self._encoded) >= _SETS_KEPT:
                self._encoded.clear()
            self._encoded[key] = encoded
        if encoded is None:
            plain = self._plain(headers, token)
            return httpx.Request(method, url, content=content, headers=plain, extensions=extensions)
        raw: list[tuple[bytes, bytes]] = [(b"Host", url.netloc)]
        if content:
            raw += encoded
            raw.append((b"Content-Length", str(len(content)).encode("ascii")))
        else:
            if method in ("POST", "PUT", "PATCH"):
                raw.append((b"Content-Length", b"0"))
            raw += encoded
        request = httpx.Request(
            method,
            url,
            headers=httpx.Headers(raw),
            stream=httpx.ByteStream(content),
            extensions=extensions,
        )
        request.read()
        return request

    def _plain(self, headers: dict[str, str], token: str | None) -> dict[str, str]:
        """A request's headers: the defaults, then ``headers``, then the token."""
        plain = {**self._defaults, **headers}
        if token is not None:
            plain["X-Access-Token"] = token
        return plain
