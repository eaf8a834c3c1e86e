"""``--weights lcz``: the emitted program's weights as an ``.lcz`` container, decoded at init.

The weights file is an ordinary ``.lcz`` container (``leanconv.load`` and ``leanconv inspect``
read it). The weights that ``<name>_init`` packs (conv and transposed-conv weights) are pruned,
quantized per output channel and coded as :func:`leanconv.compress` does, each with the codec
``auto`` picks among :data:`C_CODECS`, the codecs kernels_c has C decoders for; init decodes
each with ``lc_decode``, dequantizes it (code x its channel's scale, one float32 multiply, as
numpy dequantizes) and packs it. The tensors the network reads in place (biases, linear
weights, per-channel constants) are stored with the ``raw`` codec, float32 as they are, so the
program reads them from the file's memory like the raw blob's.

The program finds every record at an offset compiled into it and accepts only the file it was
emitted with: its size, the container version, header length and header CRC-32 (the header
lists every record's CRC-32 and the graph's digest) are compiled in.

Init decodes through scratch memory that the program already has: the activation arena and the
workspace (both unused until the first run) and the part of the packed buffer not yet filled,
packing the last slot first so that the slots before it are free. Where a tensor's decode with
``auto``'s codec would not fit there, ``auto`` takes the smallest of the C codecs whose decode
fits; only what fits with none goes into a static init buffer of its own
(``<NAME>_INIT_SCRATCH_BYTES``, 0 for the models tested).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leanconv import _native
from leanconv.compress import container as ctr
from leanconv.compress.api import CompressedTensor, codec_names, compress, encode_codes, load, raw_tensor
from leanconv.errors import LeanconvError

if TYPE_CHECKING:
    from leanconv.emit.csteps import Weight
    from leanconv.graph import Graph

#: The codecs kernels_c decodes (kernels_c/include/lc_decode.h), as the container names them:
#: ``auto`` picks among these for an emitted program's weights. A codec whose C decoder joins
#: lc_decode.h is one entry here.
C_CODECS: tuple[str, ...] = ("dense", "huffman", "csr", "bitmap", "bsr", "pattern", "srans")

ALIGN = 64


@dataclass(frozen=True)
class LczOptions:
    """How the packed weights are compressed: magnitude pruning per tensor to ``sparsity``,
    uniform symmetric quantization to ``bits`` per output channel, then coding with ``codec``
    (``auto``: the smallest of :data:`C_CODECS` per tensor; or one of them)."""

    sparsity: float = 0.0
    bits: int = 8
    codec: str = "auto"

    def check(self) -> None:
        """LeanconvError naming the first option the emitted program cannot have."""
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 2 <= self.bits <= 8:
            raise LeanconvError(f"bits must be an integer in 2..8, got {self.bits!r}")
        if not 0.0 <= float(self.sparsity) <= 1.0:
            raise LeanconvError(f"sparsity must be in [0, 1], got {self.sparsity}")
        if self.codec == "auto":
            return
        if self.codec not in codec_names():
            raise LeanconvError(f"unknown codec {self.codec!r}; known: auto, {', '.join(codec_names())}")
        if self.codec not in C_CODECS:
            raise LeanconvError(f"codec {self.codec!r} has no C decoder in kernels_c; an emitted program "
                                f"decodes {', '.join(C_CODECS)} (or auto among them)")


@dataclass
class Coded:
    """One compressed tensor of the file: where its stream and scales lie, its codec."""

    name: str
    codec: str
    shape: tuple[int, ...]
    data_at: int
    data_len: int
    scales_at: int
    workspace: int  # bytes the C decoder needs


@dataclass
class Layout:
    """What the program compiles in about its ``.lcz`` file."""

    size: int
    header_len: int
    header_crc: int
    raw_at: dict[str, int] = field(default_factory=dict)  # byte offsets of raw tensors
    coded: dict[str, Coded] = field(default_factory=dict)


def check_codecs(codecs: tuple[str, ...] = C_CODECS) -> None:
    """LeanconvError unless every codec of ``codecs`` has a C decoder in this build."""
    for c in codecs:
        if _native.c_decoder_workspace_bytes(c, [1]) is None:
            raise LeanconvError(f"codec {c!r} has no C decoder in kernels_c")


def decode_bytes(codec: str, shape: tuple[int, ...]) -> int:
    """Scratch bytes init needs to decode a tensor of ``shape`` coded with ``codec``: its
    floats, its codes and the C decoder's workspace, each 64-byte aligned."""
    n = math.prod(shape)
    ws = _native.c_decoder_workspace_bytes(codec, list(shape))
    if ws is None:
        raise LeanconvError(f"codec {codec!r} has no C decoder in kernels_c")
    return up(4 * n) + up(n) + up(ws)


def fit_codecs(coded: dict[str, CompressedTensor], room: dict[str, int]) -> None:
    """Recodes, in place, each tensor whose decode needs more than its ``room`` (the scratch
    free when it is decoded) with the smallest of the C codecs whose decode fits, when one
    does: the Huffman tables of the entropy-coded codecs (128 KiB each) are most of a small
    network's decode, and a codec without them keeps init within the plan's memory."""
    for name, ct in coded.items():
        if decode_bytes(ct.codec, ct.shape) <= room[name]:
            continue
        fits = [c for c in C_CODECS if decode_bytes(c, ct.shape) <= room[name]]
        fits = [c for c in fits if c in _native.auto_candidates(ct.numel)]
        if fits:
            ct.codec, ct.blob = encode_codes(ct.codes(), "auto", auto_codecs=fits)


def write(path: Path, tensors: list[Weight], room: dict[str, int], digest: str, options: LczOptions) -> Layout:
    """Writes ``tensors`` to the container ``path``: those named in ``room`` (the packed ones,
    with the scratch bytes free when each is decoded) compressed, the others raw. Returns
    where each lies."""
    options.check()
    check_codecs()
    coded = compress({t.name: t.array for t in tensors if t.name in room}, options.sparsity, options.bits,
                     options.codec, select=lambda _name, _a: True,
                     auto_codecs=C_CODECS if options.codec == "auto" else None)
    assert not isinstance(coded, CompressedTensor)
    if options.codec == "auto":
        fit_codecs(dict(coded.items()), room)
    entries = [coded[t.name] if t.name in room else raw_tensor(t.name, t.array) for t in tensors]
    ctr.write_container(path, [e.entry() for e in entries],
                        extra={"graph_digest": digest, "weights": "emitted program (leanconv emit --weights lcz)"})
    with ctr.LczFile(path) as f:
        start = f.payload_start
        prefix = ctr.PREFIX.unpack(path.read_bytes()[:ctr.PREFIX.size])
        layout = Layout(size=os.path.getsize(path), header_len=prefix[2], header_crc=prefix[3])
        for e in entries:
            recs = f.entry(e.name)["records"]
            if e.kind == "lossless":
                layout.raw_at[e.name] = start + recs["data"]["offset"]
                continue
            if e.codec not in C_CODECS:
                raise LeanconvError(f"{e.name}: codec {e.codec!r} has no C decoder")
            if e.kind != "quantized" or e.axis != 0:  # what decode_weight in the C dequantizes
                raise LeanconvError(f"{e.name}: {e.kind} codes along axis {e.axis}; the program dequantizes "
                                    "codes quantized per output channel (axis 0)")
            ws = _native.c_decoder_workspace_bytes(e.codec, list(e.shape))
            assert ws is not None
            layout.coded[e.name] = Coded(e.name, e.codec, e.shape, start + recs["data"]["offset"],
                                         recs["data"]["used"], start + recs["scales"]["offset"], ws)
    for at in [*layout.raw_at.values(), *(c.data_at for c in layout.coded.values())]:
        assert at % ALIGN == 0
    return layout


def decoded_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The weights an emitted program's ``.lcz`` file decodes to, by ``<layer>.<key>``: the
    packed ones dequantized, the others as stored."""
    return load(path)


def decoded_graph(graph: Graph, path: str | os.PathLike[str]) -> Graph:
    """A copy of ``graph`` with the weights of the emitted program's ``.lcz`` file: what the
    program computes, for the runtime or a raw-weights emit to compare with. The copy has the
    same digest (weights are not part of it), so the same plan runs it."""
    import copy

    out = copy.deepcopy(graph)
    layers = {layer.name: layer for layer in out.layers}
    with ctr.LczFile(path) as f:
        if f.header.get("extra", {}).get("graph_digest") is None:
            raise LeanconvError(f"{os.fspath(path)} is not the weights file of an emitted program")
    for key, w in decoded_weights(path).items():
        layer, name = key.rsplit(".", 1)
        if layer not in layers or name not in layers[layer].weights:
            raise LeanconvError(f"{os.fspath(path)} holds {key!r}, which {graph.name!r} does not have")
        shape = layers[layer].weights[name].shape
        if w.size != math.prod(shape):  # a 0-d constant is stored with shape (1,)
            raise LeanconvError(f"{os.fspath(path)}: {key!r} has shape {w.shape}, the graph's is {shape}")
        layers[layer].weights[name] = w.reshape(shape)
    return out


# -- init's scratch ----------------------------------------------------------------------------


@dataclass
class Scratch:
    """Where init decodes one packed tensor: byte offsets in the static block of its floats,
    its codes and the decoder's workspace (None: it needs none)."""

    floats: int
    codes: int
    workspace: int | None


def up(n: int) -> int:
    """``n`` rounded up to the 64-byte alignment of every buffer and scratch piece."""
    return -(-n // ALIGN) * ALIGN


def place_scratch(order: list[tuple[Coded, int]], below: int) -> tuple[dict[str, Scratch], int]:
    """Scratch for each decode, in ``order`` (each packed tensor with the byte offset of its
    slot in the packed buffer, last slot first). The static block is laid out as [init scratch
    | arena | workspace | packed], ``below`` bytes of arena and workspace: when a slot is
    packed, everything before it is free (the slots before it are packed later), so each
    decode takes its pieces from the block's start. Returns the places and the init scratch
    that the largest shortfall needs (0 when the arena, workspace and free slots suffice)."""
    places: dict[str, Scratch] = {}
    extra = 0
    for coded, slot in order:
        n = math.prod(coded.shape)
        at, got = 0, {}
        for piece, size in sorted({"floats": 4 * n, "codes": n, "workspace": coded.workspace}.items(),
                                  key=lambda kv: -kv[1]):
            got[piece] = at if size else None
            at += up(size)
        extra = max(extra, at - (below + slot))
        places[coded.name] = Scratch(got["floats"] or 0, got["codes"] or 0, got["workspace"])
    return places, up(max(extra, 0))
