"""Result decoders: how the text of a result or interim message becomes a Python value.

The envelopes themselves live in :mod:`async_qexp.models.envelopes` (one codec for both
services).
"""

from __future__ import annotations

from typing import Any

from ..models.envelopes import RuntimeDecoder, RuntimeEncoder, dumps_runtime, loads_runtime

__all__ = ["ResultDecoder", "RuntimeDecoder", "RuntimeEncoder", "decode_runtime", "dumps"]

decode_runtime = loads_runtime
dumps = dumps_runtime


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
