"""Running a Graph.

- :func:`compile` builds an :class:`Executable` from a Graph and a
  :class:`~leanconv.runtime.plan.Plan` (the default planner's when none is given): the Rust
  executor packs the weights once and runs the whole network over one activation arena.
- :mod:`leanconv.runtime.reference` executes a Graph layer by layer with each op's reference
  function (torch functional ops, float32 or float64): the semantics that importers and
  leanconv's kernels are checked against.
"""

from leanconv.runtime.executable import Executable, compile
from leanconv.runtime.plan import Plan

__all__ = ["Executable", "Plan", "compile"]
