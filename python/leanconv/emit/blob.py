"""The weights blob of an emitted program, and the weights modes.

Layout (little-endian): a 64-byte header -- magic ``LCWEIGHT``, u32 version, u32 tensor count,
u64 file bytes, the 32 bytes of the plan's graph digest, 8 zero bytes -- then each tensor's
float32 data, in the graph's layout, at a 64-byte aligned offset. The program knows every
offset (compiled in) and ``<name>_init`` checks the header, so a blob of another network or a
truncated one is refused instead of read out of bounds.

Weights modes: ``raw`` stores the float32 tensors and ``<name>_init`` packs them for its kernels;
``lcz`` writes an ``.lcz`` container whose packed weights ``<name>_init`` decodes with kernels_c's
C decoders (:mod:`leanconv.emit.lcz`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from leanconv.emit.csteps import Weight
from leanconv.errors import LeanconvError

MAGIC = b"LCWEIGHT"
VERSION = 1
HEADER_BYTES = 64
ALIGN = 64
WEIGHT_MODES = ("raw", "lcz")


def check_weights_mode(mode: str) -> None:
    """LeanconvError unless ``mode`` is a weights mode."""
    if mode not in WEIGHT_MODES:
        raise LeanconvError(f"unknown weights mode {mode!r}; expected one of {', '.join(WEIGHT_MODES)}")


def layout(tensors: Sequence[Weight]) -> tuple[list[int], int]:
    """Byte offset of each tensor and the blob's size."""
    offsets, at = [], HEADER_BYTES
    for t in tensors:
        offsets.append(at)
        at = -(-(at + t.array.nbytes) // ALIGN) * ALIGN
    return offsets, at


def raw_blob(tensors: Sequence[Weight], digest: str) -> bytes:
    """The blob of ``tensors`` (float32) for the graph of ``digest`` (sha256 hex)."""
    offsets, size = layout(tensors)
    out = bytearray(size)
    out[:HEADER_BYTES] = struct.pack("<8sIIQ32s8x", MAGIC, VERSION, len(tensors), size, bytes.fromhex(digest))
    for t, at in zip(tensors, offsets):
        data = t.array.astype("<f4", copy=False).tobytes()
        out[at:at + len(data)] = data
    return bytes(out)
