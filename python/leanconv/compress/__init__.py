"""Weight compression: pruning, quantization, weight sharing, the codecs and the ``.lcz``
container.

>>> import leanconv
>>> cm = leanconv.compress(model.state_dict(), sparsity=0.5, bits=4)   # doctest: +SKIP
>>> leanconv.save("model.lcz", cm)                                      # doctest: +SKIP
>>> sd = leanconv.load("model.lcz", format="torch")                     # doctest: +SKIP
"""

from __future__ import annotations

from leanconv.compress.api import (
    CompressedModel,
    CompressedTensor,
    codec_names,
    compress,
    decode_codes,
    describe_container,
    encode_codes,
    load,
    load_codes,
    load_tensor,
    save,
)
from leanconv.compress.container import LczFile, TensorNotFoundError
from leanconv.compress.quantize import (
    Quantized,
    SharedWeights,
    kmeans_share,
    prune_global,
    prune_magnitude,
    quantize_per_channel,
)

__all__ = [
    "CompressedModel",
    "CompressedTensor",
    "LczFile",
    "Quantized",
    "SharedWeights",
    "TensorNotFoundError",
    "codec_names",
    "compress",
    "decode_codes",
    "describe_container",
    "encode_codes",
    "kmeans_share",
    "load",
    "load_codes",
    "load_tensor",
    "prune_global",
    "prune_magnitude",
    "quantize_per_channel",
    "save",
]
