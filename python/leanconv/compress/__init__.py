"""Weight compression: pruning, quantization, weight sharing, the codecs and the ``.lcz``
container.

>>> import leanconv
>>> cm = leanconv.compress(model.state_dict(), sparsity=0.5, bits=4)   # doctest: +SKIP
>>> leanconv.save("model.lcz", cm)                                      # doctest: +SKIP
>>> sd = leanconv.load("model.lcz", format="torch")                     # doctest: +SKIP
"""

from __future__ import annotations

import sys
import types
from typing import Any

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


class _CallableModule(types.ModuleType):
    """``leanconv.compress`` is both this package and the function: ``leanconv.compress(sd, ...)``
    calls :func:`leanconv.compress.api.compress`, and ``leanconv.compress.load`` etc. still work."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return compress(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
