"""What the micro-benchmarks run: real quantized weight tensors for the codecs, and one
representative layer per convolution primitive family."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from leanconv import primitives
from leanconv.compress import prune_magnitude, quantize_per_channel

#: Pruning and quantization of the codec inputs: bench/codecs' speed protocol (s=0.5, b=4).
SPARSITY, BITS = 0.5, 4

#: EfficientNet-Lite0 tensors that span the codecs' inputs: the largest tensor, a mid-size
#: pointwise conv, and a depthwise 5x5 conv (few weights per channel).
EFFNET_TENSORS = {
    "effnet_head_1280x320x1x1": "_conv_head.weight",
    "effnet_expand_672x112x1x1": "_blocks.9._expand_conv.weight",
    "effnet_dw_1152x1x5x5": "_blocks.13._depthwise_conv.weight",
}
#: The shipped default model: all of its conv weights, encoded or decoded one after another.
DEFAULT_MODEL = "default_model_all_convs"
CODEC_CASES = [*EFFNET_TENSORS, DEFAULT_MODEL]


def _conv_weights(zoo_name: str) -> dict[str, np.ndarray]:
    """The 4-D float weights of a zoo model's state dict file, by name."""
    import torch

    from leanconv.io import zoo

    sd = torch.load(zoo.MODELS[zoo_name].path(), map_location="cpu", weights_only=True)
    return {k: v.numpy().astype(np.float32) for k, v in sd.items() if v.ndim == 4}


@functools.cache
def codec_inputs(case: str) -> tuple[np.ndarray, ...]:
    """The int8 codes of a codec case: pruned by magnitude per layer, quantized per channel."""
    if case == DEFAULT_MODEL:
        weights = list(_conv_weights("default").values())
    else:
        weights = [_conv_weights("efficientnet-lite0")[EFFNET_TENSORS[case]]]
    return tuple(quantize_per_channel(prune_magnitude(w, SPARSITY), BITS).codes for w in weights)


@dataclass(frozen=True)
class LayerCase:
    """One conv layer on one image: ``channels x size x size`` in, odd square kernel, 'same'
    padding, stride 1."""

    name: str
    channels: int
    out_channels: int
    size: int
    kernel: int
    groups: int = 1

    @property
    def padding(self) -> int:
        return self.kernel // 2

    def spec(self) -> primitives.ConvSpec:
        """The layer as the primitive registry describes it."""
        return primitives.ConvSpec(self.channels, self.out_channels, self.size, self.size,
                                   kernel=self.kernel, padding=self.padding, groups=self.groups)

    def inputs(self, layout: str) -> tuple[np.ndarray, np.ndarray]:
        """A random image in ``layout`` ("chw" or "hwc") and PyTorch-layout weights."""
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1, self.channels, self.size, self.size), dtype=np.float32)
        if layout == "hwc":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        w = rng.standard_normal((self.out_channels, self.channels // self.groups, self.kernel, self.kernel),
                                dtype=np.float32)
        return x, w


#: In order of preference: each primitive is measured on the first of these it computes, so
#: direct, im2col/im2row, kn2row and Winograd share the 3x3 layer, gemm1x1 gets the 1x1 layer
#: and the depthwise kernels their own (a ResNet-style 3x3 stage and MobileNet-style layers).
LAYERS = [
    LayerCase("conv3x3_64x56x56", 64, 64, 56, 3),
    LayerCase("conv1x1_64x56x56", 64, 64, 56, 1),
    LayerCase("dw3x3_64x56x56", 64, 64, 56, 3, groups=64),
    LayerCase("dw5x5_64x56x56", 64, 64, 56, 5, groups=64),
]


def primitive_cases() -> list[tuple[primitives.Primitive, LayerCase]]:
    """Every primitive with the first layer of LAYERS it applies to."""
    cases = []
    for p in primitives.list_primitives():
        layer = next((c for c in LAYERS if p.applicable(c.spec())), None)
        if layer is not None:
            cases.append((p, layer))
    return cases
