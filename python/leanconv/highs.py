"""The one way leanconv makes a HiGHS solver (``highspy``), shared by selection and pruning."""

from __future__ import annotations

import os
import sys

from leanconv.errors import require

require("highspy", "select", "solving with HiGHS (primitive selection, pruning plans)")
import highspy as highspy  # noqa: E402  (re-exported: the one import of highspy)


def quiet_highs() -> highspy.Highs:
    """A silent HiGHS instance.

    HiGHS prints its banner on the process's stdout when the first instance is made, before any
    option can silence it; stdout carries the CLI's results (JSON), so the banner goes to
    /dev/null. The ``threads`` option is left alone: HiGHS has one scheduler per process, fixed by
    the first solve, and a later instance asking for another thread count fails its solve
    (status "Not Set"), so leanconv's solvers must not ask for one a user's solver may not share.
    """
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    h.silent()
    return h
