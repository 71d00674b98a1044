"""The ``qexp`` root command, and :func:`main`: the console script, which turns every error
into one line on stderr and an exit code (``docs/cli.md#exit-codes``)."""

from __future__ import annotations

import logging
import os
import sys

import click

from .._version import __version__
from ..errors import QexpError
from .emulator import emulator
from .experiments import experiments
from .figures import figures
from .jobs import jobs, programs
from .login import login, logout
from .options import Settings
from .output import one_line
from .results import results
from .upload import upload

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "cli", "main"]

EXIT_ERROR = 1
"""Exit code of a command that failed (the service refused, a file could not be read, ...)."""
EXIT_USAGE = 2
"""Exit code of a command line that could not be parsed."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C."""


class _StderrHandler(logging.Handler):
    """Log records, one line each, on whatever ``sys.stderr`` is at the time."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("qexp: %(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to stderr."""
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - as logging.StreamHandler does
            self.handleError(record)


_LOG_HANDLER = _StderrHandler()

# click 8.2 raises this for a group called without a command (8.1 printed the help itself).
_NO_ARGS = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", "-V", prog_name="qexp", message="%(prog)s %(version)s"
)
@click.option(
    "--url",
    metavar="URL",
    help="The auth URL [default: $QEXP_URL, else the account of 'qexp login', else IBM's].",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="The API token [default: $QEXP_TOKEN, else the account of 'qexp login'].",
)
@click.option("--instance", metavar="H/G/P", help="The hub/group/project to work in.")
@click.option(
    "--proxy",
    metavar="URL",
    help="The proxy of every request, http://[user:password@]host:port "
    "[default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY except $NO_PROXY hosts].",
)
@click.option(
    "--ca-file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=True),
    help="The CA bundle to trust (a proxy's inspecting CA, a private service) "
    "[default: $SSL_CERT_FILE, else certifi's].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no warnings.")
@click.option("--debug", is_flag=True, help="Show tracebacks, and log the library's requests.")
@click.pass_context
def cli(
    context: click.Context,
    url: str | None,
    token: str | None,
    instance: str | None,
    proxy: str | None,
    ca_file: str | None,
    quiet: bool,
    debug: bool,
) -> None:
    """qexp: the IBM Quantum experiment and runtime services from the command line.

    Configure it with --url/--token, QEXP_URL/QEXP_TOKEN, or 'qexp login'. Every listing
    takes --json.
    """
    settings = context.ensure_object(Settings)
    settings.url, settings.token, settings.instance = url, token, instance
    settings.quiet, settings.debug = quiet, debug
    settings.proxy, settings.ca_file = proxy, ca_file
    library = logging.getLogger("async_qexp")
    if _LOG_HANDLER not in library.handlers:
        library.addHandler(_LOG_HANDLER)
    library.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)


for command in (experiments, results, figures, upload, jobs, programs, login, logout, emulator):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run ``qexp`` with ``argv`` (default: the process's arguments); return the exit code.

    An error is one line on stderr (``qexp: error: ...``) and exit code 1, or 2 for a command
    line that could not be parsed; with ``--debug`` errors are raised, with their traceback.
    """
    library = logging.getLogger("async_qexp")
    level = library.level
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    finally:  # leave logging as it was (main may run inside another program, or a test)
        library.removeHandler(_LOG_HANDLER)
        library.setLevel(level)


def _run(args: list[str]) -> int:
    settings = Settings()
    try:
        result = cli.main(args=args, prog_name="qexp", standalone_mode=False, obj=settings)
    except click.exceptions.Exit as done:  # pragma: no cover - standalone_mode=False returns it
        return int(done.exit_code)
    except click.UsageError as exc:
        if isinstance(exc, _NO_ARGS) and exc.ctx is not None:  # bare 'qexp': its help
            click.echo(exc.ctx.get_help())
            return EXIT_USAGE
        if settings.debug:
            raise
        where = exc.ctx.command_path if exc.ctx is not None else "qexp"
        message = " ".join(exc.format_message().split())
        click.echo(f"qexp: error: {message} (see '{where} --help')", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        if settings.debug:
            raise
        click.echo(f"qexp: error: {one_line(Exception(exc.format_message()))}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("qexp: aborted", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("qexp: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader (head, jq) went away: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        return EXIT_ERROR
    except (QexpError, OSError, ValueError, TypeError) as exc:
        if settings.debug:
            raise
        click.echo(f"qexp: error: {describe(exc)}", err=True)
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def describe(error: BaseException) -> str:
    """An error as ``qexp`` reports it: one line."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return one_line(error)
