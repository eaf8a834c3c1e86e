"""Type stubs of the Rust extension (checked by mypy stubtest in `make test`).

Edit one section at a time; keep __all__ sorted and in step with the functions.
"""

from typing import final

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "PackedConv",
    "__version__",
    "auto_candidates",
    "chw_to_hwc",
    "codec_sizes",
    "codec_table",
    "conv_info",
    "conv_primitives",
    "crc32",
    "crc32_array",
    "decode_bytes",
    "decode_codes",
    "encode_bytes",
    "encode_codes",
    "hwc_to_chw",
    "isa_resolve",
    "merge_patterns",
    "sgemm",
]

# --- codec (rust/py/src/codec.rs) ---
def auto_candidates(n: int) -> list[str]: ...
def codec_sizes(codes: npt.NDArray[np.int8]) -> list[tuple[str, int]]: ...
def codec_table() -> list[tuple[str, int, str]]: ...
def crc32(data: bytes) -> int: ...
def crc32_array(data: npt.NDArray[np.uint8]) -> int: ...
def decode_bytes(blob: npt.NDArray[np.uint8], nbytes: int) -> npt.NDArray[np.uint8]: ...
def decode_codes(
    data: npt.NDArray[np.uint8],
    shape: list[int] | tuple[int, ...],
    codec: str,
    out: npt.NDArray[np.int8] | None = None,
) -> npt.NDArray[np.int8]: ...
def encode_bytes(data: npt.NDArray[np.uint8], itemsize: int) -> bytes: ...
def encode_codes(codes: npt.NDArray[np.int8], codec: str = "auto") -> tuple[str, bytes]: ...
def merge_patterns(
    codes: npt.NDArray[np.int8], tolerance: int, max_patterns: int | None = None, keep_zeros: bool = True
) -> tuple[npt.NDArray[np.int8], int, int]: ...

# --- conv (rust/py/src/conv.rs) ---
def chw_to_hwc(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
def hwc_to_chw(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
def conv_primitives() -> list[tuple[str, str, str]]: ...
def conv_info(
    name: str,
    in_channels: int,
    height: int,
    width: int,
    out_channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int] = ...,
    padding: tuple[int, int] = ...,
    dilation: tuple[int, int] = ...,
    groups: int = 1,
    isa: str = "auto",
) -> tuple[bool, int, int]: ...
def isa_resolve(isa: str) -> str: ...
def sgemm(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], isa: str = "auto"
) -> npt.NDArray[np.float32]: ...
@final
class PackedConv:
    def __new__(
        cls,
        name: str,
        weight: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32] | None,
        height: int,
        width: int,
        stride: tuple[int, int] = ...,
        padding: tuple[int, int] = ...,
        dilation: tuple[int, int] = ...,
        groups: int = 1,
        activation: str = "none",
        isa: str = "auto",
    ) -> PackedConv: ...
    def run(self, x: npt.NDArray[np.float32], threads: int = 1) -> npt.NDArray[np.float32]: ...
    @property
    def name(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def workspace_bytes(self) -> int: ...
    @property
    def packed_bytes(self) -> int: ...
    @property
    def output_hw(self) -> tuple[int, int]: ...
