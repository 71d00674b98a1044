"""Result decoders: how the text of a final result or an interim message becomes a value.

The envelopes they read are those of :mod:`async_qexp.models.envelopes` (one codec for both
services); see ``docs/protocol.md#result-decoders``.
"""

from __future__ import annotations

from typing import Any

import anyio

from ..models.envelopes import loads_runtime

__all__ = ["ResultDecoder", "check_decoder", "decode_result"]

LARGE_PAYLOAD = 1 << 20
"""Results longer than this (in characters) are decoded in a worker thread."""


class ResultDecoder:
    """Turns the text of a result or interim message into a Python value.

    Subclass it and override :meth:`decode` for custom types; pass the class (not an
    instance) to ``run(result_decoder=...)``, ``result(decoder=...)`` or
    ``stream_results(decoder=...)``.
    """

    @classmethod
    def decode(cls, data: str) -> Any:
        """Decode JSON with the runtime envelopes; text that is not JSON is returned as it is."""
        try:
            return loads_runtime(data)
        except ValueError:
            return data


def check_decoder(decoder: Any, name: str = "decoder") -> type[ResultDecoder] | None:
    """``decoder`` if it is ``None`` or a decoder class (a class with a ``decode`` method).

    Raises:
        TypeError: for an instance, or a class without ``decode``.
    """
    if decoder is None:
        return None
    if not isinstance(decoder, type) or not callable(getattr(decoder, "decode", None)):
        raise TypeError(f"{name} must be a ResultDecoder class (not an instance), not {decoder!r}")
    return decoder


async def decode_result(decoder: type[ResultDecoder], text: str) -> Any:
    """Decode a final result: ``None`` when empty, in a worker thread when large."""
    if not text:
        return None
    if len(text) > LARGE_PAYLOAD:
        return await anyio.to_thread.run_sync(decoder.decode, text)
    return decoder.decode(text)
