"""The `leanconv` command line (also `python -m leanconv`): one typer app, one module per
subcommand group. Known errors end in one red line and a non-zero exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

try:  # typer 0.2x carries its own copy of click, and click may not be installed at all
    from typer._click import ClickException as _ClickException
except ImportError:  # older typer, on click
    from click import ClickException as _ClickException  # type: ignore[no-redef, import-not-found]

from leanconv.cli.output import err_console
from leanconv.errors import LeanconvError

app = typer.Typer(
    name="leanconv",
    help="Make trained CNNs small and fast on small devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Make trained CNNs small and fast on small devices."""
    # A callback keeps `leanconv` a command group even while it has a single subcommand.


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Registers ``fn`` as a subcommand. A LeanconvError it raises ends the command with one red
    line on stderr and exit code 1, however the app is run (``main``, typer's CliRunner)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeanconvError as e:
            # escape: a message's own brackets (pip install 'leanconv[select]') are not markup
            err_console.print(f"[bold red]error:[/] {type(e).__name__}: {escape(str(e))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(1) from None

    return app.command()(run)


# Subcommand modules register themselves on import; one line each.
from leanconv.cli import inspect as _inspect  # noqa: E402,F401
from leanconv.cli import compress as _compress  # noqa: E402,F401
from leanconv.cli import run as _run  # noqa: E402,F401
from leanconv.cli import profile as _profile  # noqa: E402,F401
from leanconv.cli import select as _select  # noqa: E402,F401
from leanconv.cli import emit as _emit  # noqa: E402,F401
from leanconv.cli import prune as _prune  # noqa: E402,F401


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and returns its exit code (1 on known errors, 2 on usage errors)."""
    try:
        # Without standalone mode, click returns the code of a typer.Exit raised by a command.
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[bold red]aborted[/]")
        return 130
    except _ClickException as e:  # usage errors arrive here with standalone_mode=False
        e.show()
        return e.exit_code
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
