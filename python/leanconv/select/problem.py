"""The selection problem as data: per step of a plan its candidate kernels (time, workspace,
packed bytes, error, layout), per 4-D tensor who writes it and in which layout each reader
needs it, and the activation bytes the arena holds at each point of the schedule whatever is
chosen. :meth:`Problem.evaluate` is the cost model's one definition: the ILP optimises it, the
baselines and the tests score choices with it.

Memory is what the runtime allocates: the arena (activations) plus the one scratch buffer all
steps share, sized by the largest chosen workspace (threads pieces of it), optionally plus the
packed weights. A tensor read in another layout than its producer's costs one transform (once
per tensor and layout, however many readers need it) and a copy of the tensor's bytes, counted
live from its producer to its last reader: an upper bound of the transform's real lifetime, so a
budget met by the model is met by the runtime up to the arena's packing (which the selector
checks on the built plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from leanconv.errors import LeanconvError

#: How a step reads a tensor: in the layout the step runs in ("node"), in logical order
#: ("chw"), or in either because both hold the same bytes ("any": 1x1 spatial maps).
ReadMode = Literal["node", "chw", "any"]
MEASURES = ("activations", "total")


@dataclass(frozen=True)
class Candidate:
    """One way to run a step: a kernel in a layout, with its measured costs."""

    kernel: str
    layout: str  # "chw", "hwc" or "flat"
    seconds: float
    workspace: int = 0  # bytes of scratch the runtime reserves for it (all threads, aligned)
    packed: int = 0  # bytes of packed weights
    error: float = 0.0  # max relative error against float64


@dataclass
class Node:
    """One step of the schedule (a layer, with any activation fused into it)."""

    name: str
    candidates: list[Candidate]
    #: The tensor whose layout this step runs in (ops that run in their input's layout), or None.
    follows: int | None = None


@dataclass(frozen=True)
class Read:
    node: int  # the reading step; len(nodes) for a graph output
    mode: ReadMode


@dataclass
class Tensor:
    """A 4-D tensor some step may read in another layout than it is written in."""

    name: str
    bytes: int
    producer: int | None  # None: a graph input, in chw
    reads: list[Read]
    to_hwc_seconds: float = 0.0
    to_chw_seconds: float = 0.0

    @property
    def live(self) -> range:
        """Schedule points where a copy of this tensor in another layout is counted live."""
        start = 0 if self.producer is None else self.producer
        return range(start, max(r.node for r in self.reads) + 1)


@dataclass(frozen=True)
class Costs:
    """What the cost model says a choice costs."""

    seconds: float
    memory: int  # peak arena bytes + workspace (+ packed with measure "total")
    activations: int  # peak live activation bytes
    workspace: int
    packed: int
    error: float
    transforms: int


@dataclass
class Problem:
    nodes: list[Node]
    tensors: list[Tensor]
    #: Activation bytes live at each schedule point whatever is chosen (len(nodes) + 1 points:
    #: every step, then the end, where the graph outputs are).
    base: list[int] = field(default_factory=list)
    #: Seconds every choice takes besides its steps (the runtime's per-call cost).
    fixed_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.base:
            self.base = [0] * (len(self.nodes) + 1)
        if len(self.base) != len(self.nodes) + 1:
            raise LeanconvError(f"base has {len(self.base)} points, the schedule {len(self.nodes) + 1}")
        for node in self.nodes:
            if not node.candidates:
                raise LeanconvError(f"step {node.name!r} has no candidate kernel")

    def layouts(self, choice: Sequence[int]) -> list[str]:
        return [node.candidates[j].layout for node, j in zip(self.nodes, choice, strict=True)]

    def producer_hwc(self, tensor: Tensor, layouts: Sequence[str]) -> bool:
        return tensor.producer is not None and layouts[tensor.producer] == "hwc"

    def follows_ok(self, choice: Sequence[int]) -> bool:
        """Whether every step that runs in its input's layout does."""
        layouts = self.layouts(choice)
        return all(node.follows is None
                   or (layouts[i] == "hwc") == self.producer_hwc(self.tensors[node.follows], layouts)
                   for i, node in enumerate(self.nodes))

    def transforms(self, choice: Sequence[int]) -> list[tuple[int, str]]:
        """(tensor index, target layout) of every transform the choice needs."""
        layouts = self.layouts(choice)
        out = []
        for k, t in enumerate(self.tensors):
            have = "hwc" if self.producer_hwc(t, layouts) else "chw"
            wants = {"chw" if r.mode == "chw" or r.node == len(self.nodes) else layouts[r.node]
                     for r in t.reads if r.mode != "any"}
            out += [(k, want) for want in sorted(wants) if want != have]
        return out

    def evaluate(self, choice: Sequence[int], measure: str = "activations") -> Costs:
        """The costs of ``choice`` (a candidate index per step). LeanconvError when a step
        that runs in its input's layout is given another one."""
        if measure not in MEASURES:
            raise LeanconvError(f"memory measure {measure!r} is not one of {MEASURES}")
        if not self.follows_ok(choice):
            raise LeanconvError("a step that runs in its input's layout is given another layout")
        picked = [node.candidates[j] for node, j in zip(self.nodes, choice, strict=True)]
        live = list(self.base)
        seconds = self.fixed_seconds + sum(c.seconds for c in picked)
        moves = self.transforms(choice)
        for k, want in moves:
            t = self.tensors[k]
            seconds += t.to_hwc_seconds if want == "hwc" else t.to_chw_seconds
            for s in t.live:
                live[s] += t.bytes
        workspace = max((c.workspace for c in picked), default=0)
        packed = sum(c.packed for c in picked)
        memory = max(live) + workspace + (packed if measure == "total" else 0)
        return Costs(seconds, memory, max(live), workspace, packed, max((c.error for c in picked), default=0.0),
                     len(moves))
