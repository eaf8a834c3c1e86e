"""The layers a latency curve times: each convolution or linear layer of a group as a shape
(:class:`LayerSpec`, the key a measurement is cached under), resized to a channel count."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from leanconv.prune.errors import PruneError
from leanconv.prune.groups import Group, Member


@dataclass(frozen=True)
class LayerSpec:
    """One convolution (``kind="conv"``) or linear layer (``kind="linear"``, h = w = 1, kernel 1)
    at batch ``n`` on an ``h`` x ``w`` input; symmetric padding (ph, pw)."""

    kind: str
    n: int
    c_in: int
    c_out: int
    h: int
    w: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerSpec:
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)

    @property
    def macs(self) -> int:
        if self.kind == "linear":
            return self.n * self.c_in * self.c_out
        oh = (self.h + 2 * self.padding[0] - self.dilation[0] * (self.kernel[0] - 1) - 1) // self.stride[0] + 1
        ow = (self.w + 2 * self.padding[1] - self.dilation[1] * (self.kernel[1] - 1) - 1) // self.stride[1] + 1
        return self.n * oh * ow * self.c_out * (self.c_in // self.groups) * self.kernel[0] * self.kernel[1]

    def module(self) -> nn.Module:
        """A torch layer of this shape with random weights, in eval mode."""
        if self.kind == "linear":
            return nn.Linear(self.c_in, self.c_out).eval()
        return nn.Conv2d(self.c_in, self.c_out, self.kernel, self.stride, self.padding, self.dilation,
                         self.groups).eval()

    def input(self) -> torch.Tensor:
        return torch.randn((self.n, self.c_in) if self.kind == "linear" else (self.n, self.c_in, self.h, self.w))


def record_specs(model: nn.Module, example: torch.Tensor) -> dict[str, LayerSpec]:
    """The spec of every Conv2d and Linear of ``model`` as it runs on ``example``."""
    specs: dict[str, LayerSpec] = {}
    hooks = []

    def hook(name: str) -> Any:
        def record(m: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
            x = args[0]
            if isinstance(m, nn.Linear):
                specs[name] = LayerSpec("linear", int(x.reshape(-1, x.shape[-1]).shape[0]), m.in_features,
                                        m.out_features, 1, 1)
            else:
                assert isinstance(m, nn.Conv2d)
                specs[name] = LayerSpec("conv", x.shape[0], m.in_channels, m.out_channels, x.shape[2], x.shape[3],
                                        _pair(m.kernel_size), _pair(m.stride), _padding(m), _pair(m.dilation), m.groups)
        return record

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    return specs


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _padding(m: nn.Conv2d) -> tuple[int, int]:
    if m.padding == "valid":
        return (0, 0)
    if m.padding == "same":
        if any((d * (k - 1)) % 2 for d, k in zip(m.dilation, m.kernel_size)):
            raise PruneError(f"{m}: asymmetric 'same' padding is not measured")
        return (m.dilation[0] * (m.kernel_size[0] - 1) // 2, m.dilation[1] * (m.kernel_size[1] - 1) // 2)
    return _pair(m.padding)


def resized(spec: LayerSpec, member: Member, group: Group, count: int) -> LayerSpec:
    """``spec`` with ``group`` narrowed to ``count`` of its channels, as ``member`` sees it."""
    if not 1 <= count <= group.channels:
        raise PruneError(f"group {group.name!r}: {count} channels requested, it has 1..{group.channels}")
    drop = group.channels - count
    c_in, c_out, groups = spec.c_in, spec.c_out, spec.groups
    if member.role in ("in", "both"):
        c_in -= drop * member.per_channel
    if member.role in ("out", "both"):
        c_out -= drop
    if member.role == "both" and spec.groups > 1:
        groups = c_in  # depthwise
    return dataclasses.replace(spec, c_in=c_in, c_out=c_out, groups=groups)


def group_specs(group: Group, specs: dict[str, LayerSpec], count: int) -> list[LayerSpec]:
    """The group's layers with the group at ``count`` channels."""
    return [resized(specs[m.module], m, group, count) for m in group.members]


def pruned_specs(groups: list[Group], specs: dict[str, LayerSpec], counts: dict[str, int]) -> dict[str, LayerSpec]:
    """Every layer's spec with each group in ``counts`` at its count (a layer between two
    groups narrows on both sides)."""
    out = dict(specs)
    for g in groups:
        if g.name in counts:
            for m in g.members:
                out[m.module] = resized(out[m.module], m, g, counts[g.name])
    return out
