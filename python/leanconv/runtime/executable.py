"""``compile(graph, plan)``: a Graph made runnable by the Rust executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leanconv import _native
from leanconv.arrays import as_c_float32
from leanconv.errors import PlanError, ShapeError
from leanconv.runtime.plan import LayerStep, Plan
from leanconv.runtime.planner import default_plan

if TYPE_CHECKING:
    from leanconv.graph import Graph


class Executable:
    """A Graph with its Plan, weights packed once; :meth:`run` runs the whole network."""

    def __init__(self, graph: Graph, plan: Plan) -> None:
        plan.validate(graph)
        weights: dict[str, np.ndarray] = {}
        for step in plan.steps:
            if isinstance(step, LayerStep):
                for key, w in graph.layer(step.layer).weights.items():
                    weights[f"{step.layer}.{key}"] = np.ascontiguousarray(w, dtype=np.float32)
        self.graph = graph
        self.plan = plan
        self._native = _native.Executor(plan.to_json(indent=None), weights)
        self._output_shapes = [tuple(plan.tensors[t].shape) for t in plan.outputs]

    @property
    def arena_bytes(self) -> int:
        """Bytes of the one activation arena."""
        return int(self._native.arena_bytes)

    @property
    def arena_lower_bound(self) -> int:
        """The most arena bytes live at one step: what any placement of the plan's tensors
        needs at least (the arena's size is measured against it)."""
        return self.plan.arena_lower_bound()

    @property
    def workspace_bytes(self) -> int:
        """Bytes of the one scratch buffer all steps share."""
        return int(self._native.workspace_bytes)

    @property
    def packed_bytes(self) -> int:
        """Bytes of the packed weights."""
        return int(self._native.packed_bytes)

    @property
    def memory_bytes(self) -> int:
        """Bytes this executable allocates: arena + workspace + packed weights (the plan's
        :attr:`~leanconv.runtime.plan.Plan.memory_bytes`)."""
        return self.arena_bytes + self.workspace_bytes + self.packed_bytes

    def run(self, inputs: Any) -> list[npt.NDArray[np.float32]] | npt.NDArray[np.float32]:
        """Runs the network. ``inputs``: one array (a graph with one input) or a dict by input
        name; numpy arrays or CPU torch tensors, float32, C-contiguous, of the graph's input
        shapes (ShapeError otherwise). Returns the output array of a graph with one output,
        else the list of outputs in order. The GIL is released while the network runs."""
        outs = [y.reshape(s) for y, s in zip(self._native.run(self._arrays(inputs)), self._output_shapes)]
        return outs[0] if len(outs) == 1 else outs

    def profile(self, inputs: Any, runs: int = 21, cpu: bool = False) -> dict[str, float]:
        """Runs the network ``runs`` times and returns each step's median seconds, by label:
        each step that writes (views write nothing) by its output tensor (an inserted
        transform's output is named ``<tensor>@hwc`` or ``@chw``), then ``"<outputs>"``, the
        copy of the graph outputs out of the arena. Elapsed time, or with ``cpu`` the calling
        thread's CPU time (a step's own time however busy the machine, for one-thread plans;
        with more threads, the caller's share). ``inputs`` as for :meth:`run`. Timing happens
        only here: :meth:`run` reads no clock."""
        return dict(self._native.profile(self._arrays(inputs), runs, cpu))

    def _arrays(self, inputs: Any) -> list[npt.NDArray[np.float32]]:
        arrays = []
        for name, a in self.graph.bind_inputs(inputs).items():
            if a.dtype != np.float32:
                raise ShapeError(f"input {name!r} is {a.dtype}, the graph expects float32")
            arrays.append(as_c_float32(a, f"input {name!r}"))
        return arrays


def compile(graph: Graph, plan: Plan | None = None, threads: int | None = None) -> Executable:  # noqa: A001
    """``graph`` ready to run: with ``plan``, that plan (validated against the graph); without,
    the default planner's for ``threads`` (1 when not given). A plan runs with its own thread
    count: a different ``threads`` is a PlanError."""
    if plan is None:
        plan = default_plan(graph, 1 if threads is None else threads)
    elif threads is not None and threads != plan.threads:
        raise PlanError(f"the plan runs {plan.threads} threads, not {threads}")
    return Executable(graph, plan)
