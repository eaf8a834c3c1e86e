"""The Plan: how to run a Graph, as data (JSON). The one definition of its schema.

The Plan is the contract between the runtime, the selector, the emitter and the pruner: it is
self-contained except for the weights, which come from the Graph by layer name. Schema
(format ``"leanconv-plan"``, version 1)::

    {"format": "leanconv-plan", "version": 1,
     "graph": {"name": str, "digest": graph_digest(graph)},
     "threads": int,
     "inputs": [tensor names], "outputs": [tensor names],
     "tensors": {name: {
         "shape": [..]            batch first, logical NCHW order whatever the layout,
         "layout": "chw" | "hwc" (4-D tensors) | "flat" (any other rank),
         "offset": byte offset in the arena (64-aligned unless a view), null for graph inputs,
         "bytes": 4 * elements,
         "view_of": null | {"tensor": parent, "channel_offset": int}}},
     "steps": [ in execution order, each one of
         {"kind": "layer", "layer": graph layer, "op": its op, "kernel": kernel name,
          "layout": "chw" | "hwc" | "flat", "isa": str,
          "inputs": [tensor names], "output": tensor name,
          "fused": [graph layers folded into this step after "layer", e.g. a following relu],
          "activation": "none" | "relu" | "relu6",
          "attrs": the graph layer's attrs (tuples as lists),
          "weights": {key: shape} of the graph layer's weights,
          "workspace_bytes": scratch per thread, "packed_bytes": packed weights},
         {"kind": "transform", "transform": "chw_to_hwc" | "hwc_to_chw",
          "inputs": [tensor], "output": tensor}],
     "arena_bytes": int, "workspace_bytes": int, "packed_bytes": int}

Tensor names: a layer's output tensor is named like the layer (a fused step's output like the
LAST fused layer, which is what consumers read); the same tensor in another layout is
``"<tensor>@<layout>"``, written by a transform step. Graph inputs are read in place from the
caller's memory; graph outputs are in logical layout (chw or flat).

Kernels: a conv primitive's name (``leanconv.primitives``), or a kernel that runs no code
because its output is already in place: ``"concat_view"`` (a channel concat whose inputs are
views of its output: their producers wrote into their channel slices) and ``"reshape_view"``
(flatten/reshape of a tensor in logical layout: its output is a view of the same bytes).

Views: a view's bytes are, per image, ``channel_offset * H * W`` elements into its parent's
image (chw) and its offset is the parent's offset plus that; a view's parent is an arena
tensor that is not itself a view. Views share their parent's allocation.

Arena: allocations (arena tensors that are not views, with their views) live from the first
step writing any of them to the last step reading any (graph outputs to the end); no two
live at the same time may share bytes, and no step may write bytes it reads.
``workspace_bytes`` is the one scratch buffer shared by all steps (at most ``threads`` pieces
of the largest step's scratch, each 64-byte aligned).

Reading a plan (:meth:`Plan.from_json`, :func:`load`) checks format and version;
:meth:`Plan.validate` checks it against its graph (digest, inputs and outputs, every layer run
once, shapes, attrs, weights, kernels) and the Rust core checks the placement; any mismatch
is a :class:`~leanconv.errors.PlanError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from leanconv import _native
from leanconv.errors import PlanError

if TYPE_CHECKING:
    from leanconv.graph import Graph, Layer

FORMAT = "leanconv-plan"
VERSION = 1
#: Kernels that run no code (see the module docstring).
VIEW_KERNELS = ("concat_view", "reshape_view")
TRANSFORMS = {"chw_to_hwc": ("chw", "hwc"), "hwc_to_chw": ("hwc", "chw")}

Layout = Literal["chw", "hwc", "flat"]


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def graph_digest(graph: Graph) -> str:
    """sha256 (hex) of the graph's structure: inputs, outputs and per layer its name, op,
    attrs, inputs, shape and weight shapes (not the weight values, nor the graph's name)."""
    structure = {
        "inputs": [[name, list(shape)] for name, shape in graph.inputs.items()],
        "outputs": list(graph.outputs),
        "layers": [
            [layer.name, layer.op, plain(layer.attrs), list(layer.inputs), list(layer.shape),
             {k: list(w.shape) for k, w in sorted(layer.weights.items())}]
            for layer in graph.layers
        ],
    }
    text = json.dumps(structure, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def base_name(tensor: str) -> str:
    """The graph tensor a plan tensor holds (``"t@hwc"`` is ``t`` in another layout)."""
    return tensor.split("@", 1)[0]


@dataclass(frozen=True)
class GraphRef:
    name: str
    digest: str


@dataclass(frozen=True)
class View:
    tensor: str
    channel_offset: int


@dataclass
class TensorPlan:
    shape: tuple[int, ...]
    layout: Layout
    offset: int | None
    bytes: int
    view_of: View | None = None


@dataclass
class LayerStep:
    layer: str
    op: str
    kernel: str
    layout: Layout
    isa: str
    inputs: list[str]
    output: str
    fused: list[str] = field(default_factory=list)
    activation: str = "none"
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, list[int]] = field(default_factory=dict)
    workspace_bytes: int = 0
    packed_bytes: int = 0
    kind: Literal["layer"] = "layer"


@dataclass
class TransformStep:
    transform: str
    inputs: list[str]
    output: str
    kind: Literal["transform"] = "transform"


Step = LayerStep | TransformStep


@dataclass
class Plan:
    graph: GraphRef
    threads: int
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, TensorPlan]
    steps: list[Step]
    arena_bytes: int
    workspace_bytes: int
    packed_bytes: int

    # -- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        out.update(plain(d))
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Any) -> Plan:
        """A Plan of its JSON data; PlanError naming the first field that is missing or of
        the wrong type (format and version included)."""
        if not isinstance(d, dict):
            raise PlanError(f"a plan is a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise PlanError(f"plan format {d.get('format')!r} version {d.get('version')!r} is not "
                            f"{FORMAT!r} version {VERSION}")
        try:
            tensors = {
                name: TensorPlan(
                    shape=tuple(int(s) for s in t["shape"]), layout=t["layout"], offset=t["offset"],
                    bytes=int(t["bytes"]),
                    view_of=None if t["view_of"] is None else View(t["view_of"]["tensor"],
                                                                     int(t["view_of"]["channel_offset"])))
                for name, t in d["tensors"].items()
            }
            steps: list[Step] = []
            for s in d["steps"]:
                fields = {k: v for k, v in s.items() if k != "kind"}
                if s["kind"] == "layer":
                    steps.append(LayerStep(**fields))
                elif s["kind"] == "transform":
                    steps.append(TransformStep(**fields))
                else:
                    raise PlanError(f"step kind {s['kind']!r} is not 'layer' or 'transform'")
            return cls(
                graph=GraphRef(d["graph"]["name"], d["graph"]["digest"]), threads=int(d["threads"]),
                inputs=list(d["inputs"]), outputs=list(d["outputs"]), tensors=tensors, steps=steps,
                arena_bytes=int(d["arena_bytes"]), workspace_bytes=int(d["workspace_bytes"]),
                packed_bytes=int(d["packed_bytes"]),
            )
        except KeyError as e:
            raise PlanError(f"plan field {e} is missing") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise PlanError(f"plan field of the wrong type: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanError(f"plan is not JSON: {e}") from None
        return cls.from_dict(data)

    @property
    def memory_bytes(self) -> int:
        """The memory the plan runs in: arena + workspace + packed weights (what the runtime
        allocates for it and an emitted program's static RAM)."""
        return self.arena_bytes + self.workspace_bytes + self.packed_bytes

    def arena_lower_bound(self) -> int:
        """The most arena bytes live at one step (each allocation 64-byte aligned): no placement
        of this plan's tensors needs less."""
        roots, first, last = allocation_lifetimes(self.tensors, self.steps, self.outputs, self.inputs)
        return _native.arena_plan([self.tensors[n].bytes for n in roots], first, last, [None] * len(roots))[2]

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_json())

    # -- validation ------------------------------------------------------------------------

    def validate(self, graph: Graph) -> None:
        """Checks the plan against ``graph`` and its placement (module docstring); PlanError
        naming the first thing that does not fit."""
        if self.graph.digest != graph_digest(graph):
            raise PlanError(f"plan was made for graph {self.graph.name!r} with digest "
                            f"{self.graph.digest[:12]}..., not for graph {graph.name!r} "
                            f"({graph_digest(graph)[:12]}...)")
        if self.inputs != list(graph.inputs):
            raise PlanError(f"plan inputs {self.inputs} are not the graph's {list(graph.inputs)}")
        if [base_name(t) for t in self.outputs] != list(graph.outputs):
            raise PlanError(f"plan outputs {self.outputs} are not the graph's {list(graph.outputs)}")
        for name, t in self.tensors.items():
            try:
                shape = graph.shape_of(base_name(name))
            except KeyError:
                raise PlanError(f"plan tensor {name!r} is not a tensor of the graph") from None
            if tuple(t.shape) != tuple(shape):
                raise PlanError(f"plan tensor {name!r} has shape {tuple(t.shape)}, the graph's is {shape}")
        self._validate_steps(graph)
        _native.check_plan(self.to_json(indent=None))

    def _validate_steps(self, graph: Graph) -> None:
        layers = {layer.name: layer for layer in graph.layers}
        covered: list[str] = []
        for i, step in enumerate(self.steps):
            for t in [*step.inputs, step.output]:
                if t not in self.tensors:
                    raise PlanError(f"step {i} names tensor {t!r}, which is not in the plan's tensors")
            if isinstance(step, TransformStep):
                if step.transform not in TRANSFORMS or len(step.inputs) != 1 \
                        or base_name(step.inputs[0]) != base_name(step.output):
                    raise PlanError(f"step {i}: transform {step.transform!r} of {step.inputs} to "
                                    f"{step.output!r} is not a layout change of one tensor")
                continue
            layer = layers.get(step.layer)
            if layer is None:
                raise PlanError(f"step {i} runs layer {step.layer!r}, which the graph does not have")
            _check_layer_step(i, step, layer, layers, graph)
            covered += [step.layer, *step.fused]
        missing = [layer.name for layer in graph.layers if layer.name not in covered]
        twice = {n for n in covered if covered.count(n) > 1}
        if missing or twice:
            raise PlanError(f"every graph layer must run once: missing {missing}, twice {sorted(twice)}")


def _check_layer_step(i: int, step: LayerStep, layer: Layer, layers: dict[str, Layer], graph: Graph) -> None:
    from leanconv.runtime.planner import SHUFFLE_KERNELS, fused_activation, kernel_names, shuffle_groups

    where = f"step {i} (layer {step.layer!r})"
    if step.op != layer.op:
        raise PlanError(f"{where}: op {step.op!r}, the graph's layer is a {layer.op!r}")
    if step.kernel not in kernel_names(layer.op):
        raise PlanError(f"{where}: unknown kernel {step.kernel!r} for op {layer.op!r}; known: "
                        f"{', '.join(kernel_names(layer.op)) or 'none'}")
    if [base_name(t) for t in step.inputs] != list(layer.inputs):
        raise PlanError(f"{where}: inputs {step.inputs} are not the layer's {layer.inputs}")
    fused = [layers.get(n) for n in step.fused]
    if any(f is None for f in fused):
        raise PlanError(f"{where}: fuses {step.fused}, which the graph does not all have")
    chain = [layer, *[f for f in fused if f is not None]]
    if any(b.inputs != [a.name] for a, b in zip(chain, chain[1:])):
        raise PlanError(f"{where}: fused layers {step.fused} do not each read the one before")
    if step.kernel in SHUFFLE_KERNELS:
        if step.activation != "none" or shuffle_groups(graph.shape_of(layer.inputs[0]), chain) is None:
            raise PlanError(f"{where}: kernel {step.kernel} computes a channel shuffle, which layers "
                            f"{[layer.name, *step.fused]} with activation {step.activation!r} are not")
    elif fused_activation(chain[1:]) != step.activation:
        raise PlanError(f"{where}: activation {step.activation!r} is not what its fused layers "
                        f"{step.fused} compute")
    if base_name(step.output) != chain[-1].name:
        raise PlanError(f"{where}: output {step.output!r} must be the last fused layer {chain[-1].name!r}")
    if step.attrs != plain(layer.attrs):
        raise PlanError(f"{where}: attrs {step.attrs} are not the layer's {plain(layer.attrs)}")
    shapes = {k: list(w.shape) for k, w in layer.weights.items()}
    if step.weights != shapes:
        raise PlanError(f"{where}: weight shapes {step.weights} are not the layer's {shapes}")


def load(path: str | os.PathLike[str], graph: Graph | None = None) -> Plan:
    """Reads a plan saved with :meth:`Plan.save`; with ``graph``, validates it against it."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise PlanError(f"cannot read plan {os.fspath(path)!r}: {e}") from None
    plan = Plan.from_json(text)
    if graph is not None:
        plan.validate(graph)
    return plan


def allocation_lifetimes(tensors: Mapping[str, TensorPlan], steps: Sequence[Step], outputs: Sequence[str],
                         inputs: Iterable[str]) -> tuple[list[str], list[int], list[int]]:
    """The arena's allocations (tensors that are neither views nor graph inputs) and the
    lifetime of each: the first step writing it or one of its views, the last step reading
    any of them (``len(steps)`` for graph outputs, read after the last step)."""
    outside = set(inputs)
    roots = [n for n, t in tensors.items() if t.view_of is None and n not in outside]
    index = {n: i for i, n in enumerate(roots)}
    first = [len(steps)] * len(roots)
    last = [0] * len(roots)

    def root(t: str) -> int | None:
        view = tensors[t].view_of
        return index.get(view.tensor if view else t)

    for s, step in enumerate(steps):
        for t, is_write in [(t, False) for t in step.inputs] + [(step.output, True)]:
            r = root(t)
            if r is None:
                continue
            if is_write:
                first[r] = min(first[r], s)
            last[r] = max(last[r], s)
    for t in outputs:
        r = root(t)
        if r is not None:
            last[r] = len(steps)
    return roots, first, last


def tensor_bytes(shape: tuple[int, ...]) -> int:
    return 4 * math.prod(shape)
