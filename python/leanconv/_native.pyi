"""Type stubs of the Rust extension (checked by mypy stubtest in `make test`).

Edit one section at a time; keep __all__ sorted and in step with the functions.
"""

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = ["__version__", "chw_to_hwc", "crc32", "hwc_to_chw"]

# --- codec (rust/py/src/codec.rs) ---
def crc32(data: bytes) -> int: ...

# --- conv (rust/py/src/conv.rs) ---
def chw_to_hwc(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
def hwc_to_chw(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
