"""``qexp``: the command line of async_qexp (``docs/cli.md``).

It sits on top of the library and uses its public API: each command connects one
:class:`~async_qexp.Provider` and runs one ``asyncio.run``. Nothing in the library imports it.
"""

from .main import cli, main

__all__ = ["cli", "main"]
