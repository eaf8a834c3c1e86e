"""Where the CLI's output goes: results (tables, summary lines, JSON) on stdout; progress,
spinners and errors on stderr, so `leanconv ... --json | jq` and `leanconv ... > report.txt`
get the results alone.

On a terminal, tables fit its width. Anywhere else (a pipe, a file, a CI log) there is no width
to fit, and rich's 80-column default would fold every cell into a sliver, so tables are printed
at their natural width with every cell whole.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

#: A width no table reaches: rich then lays a table out at its natural width.
UNBOUNDED_WIDTH = 1 << 16

err_console = Console(stderr=True)


def results_console() -> Console:
    """A console on stdout: the terminal's width on a terminal, unbounded elsewhere."""
    console = Console()
    return console if console.is_terminal else Console(width=UNBOUNDED_WIDTH)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, alone."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
