"""Prunable channel groups of a torch model, found by Torch-Pruning's dependency graph.

A group is the set of channels that must be pruned together: a convolution's outputs with its
batch norm, every consumer's inputs, the partners of a residual add, the members of a concat and
the channels a depthwise convolution passes through. Torch-Pruning traces the model and couples
them; this module only names the groups and lists the convolutions and linear layers whose
width follows each group's channel count (what a latency curve measures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
import torch_pruning as tp  # type: ignore[import-untyped]

from leanconv.prune.errors import PruneError

Role = Literal["out", "in", "both"]


@dataclass(frozen=True)
class Member:
    """A convolution or linear layer whose width follows a group: its output channels ("out"),
    its input channels ("in"), or both (a depthwise convolution passing the channels through, or
    a residual branch's convolution reading and writing the same channels)."""

    module: str
    role: Role
    #: input features per group channel: 1 for a convolution, H*W for a linear layer that reads
    #: a flattened feature map.
    per_channel: int = 1


@dataclass(frozen=True)
class Group:
    """Coupled channels, named after the first convolution (in module order) that produces them."""

    name: str
    channels: int
    members: tuple[Member, ...]


def is_depthwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels == m.out_channels


def dependency_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    """Torch-Pruning's dependency graph of ``model`` traced on ``example``."""
    try:
        return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    except Exception as e:  # tracing errors of any kind surface as one leanconv error
        raise PruneError(f"cannot trace {type(model).__name__} for pruning: {type(e).__name__}: {e}") from e


def output_layers(model: nn.Module, graph: tp.DependencyGraph) -> list[nn.Module]:
    """Layers whose outputs are the model's outputs (directly or through shape-only ops): their
    widths are the model's interface, never pruned."""
    ends: list[nn.Module] = []
    for module in model.modules():
        node = graph.module2node.get(module)
        if isinstance(module, (nn.Conv2d, nn.Linear)) and node is not None and not _reaches_layer(node):
            ends.append(module)
    return ends


def _reaches_layer(node: Any) -> bool:
    seen: set[int] = set()
    stack = list(node.outputs)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n.module, (nn.Conv2d, nn.Linear)):
            return True
        stack.extend(n.outputs)
    return False


def _out_handler(graph: tp.DependencyGraph, module: nn.Module) -> Any:
    return graph.get_pruner_of_module(module).prune_out_channels


def tp_group(graph: tp.DependencyGraph, model: nn.Module, name: str, idxs: Sequence[int]) -> Any:
    """Torch-Pruning's group rooted at the output channels ``idxs`` of the module ``name``."""
    module = model.get_submodule(name)
    return graph.get_pruning_group(module, _out_handler(graph, module), list(idxs))


def find_groups(model: nn.Module, example: torch.Tensor, graph: tp.DependencyGraph | None = None) -> list[Group]:
    """The model's prunable groups, in module order. Groups whose channels reach the model's
    output are left out, and so are groups rooted at anything but a 2-D convolution."""
    graph = graph or dependency_graph(model, example)
    names = {m: n for n, m in model.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    groups = []
    for g in graph.get_all_groups(ignored_layers=output_layers(model, graph), root_module_types=[nn.Conv2d]):
        channels = len(g[0].idxs)
        members: dict[str, Member] = {}
        for item in g:
            module = item.dep.target.module
            if not isinstance(module, (nn.Conv2d, nn.Linear)) or module not in names:
                continue
            name = names[module]
            role: Role = "both" if is_depthwise(module) else (
                "out" if item.dep.handler.__func__.__name__ == "prune_out_channels" else "in")
            seen = members.get(name)
            if seen is not None and seen.role != role:
                role = "both"
            members[name] = Member(name, role, max(1, len(item.idxs) // channels) if role == "in" else 1)
        ordered = sorted(members.values(), key=lambda m: order[m.module])
        root = next(m.module for m in ordered if m.role != "in")
        groups.append(Group(root, channels, tuple(ordered)))
    return sorted(groups, key=lambda g: order[g.name])
