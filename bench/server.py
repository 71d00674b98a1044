"""The emulator in its own process: ``python -m bench.server [--uvloop] -- <emulator CLI args>``.

The same as ``python -m async_qexp.emulator`` (it calls that CLI's ``main``), plus an optional
uvloop event loop, so that the server side of a benchmark can be made cheaper than the client
it serves. Prints ``listening on http://HOST:PORT``; stops on SIGTERM.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run the emulator CLI, on uvloop when ``--uvloop`` comes first."""
    if argv[:1] == ["--uvloop"]:
        argv = argv[1:]
        import uvloop

        uvloop.install()
    if argv[:1] == ["--"]:
        argv = argv[1:]
    from async_qexp.emulator.__main__ import main as emulator_main

    return emulator_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
