"""The codec front end: compress tensors and state dicts, save and load ``.lcz`` files.

``compress`` prunes, quantizes and entropy-codes the weight tensors (float tensors with 2 or
more dimensions: conv and linear weights) and stores every other tensor losslessly; all
coding runs in Rust with the GIL released, on a thread pool, without copying the inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from leanconv import _native
from leanconv.compress import container as ctr
from leanconv.compress.quantize import (
    Quantized,
    kmeans_share,
    prune_global,
    prune_magnitude,
    quantize_per_channel,
)
from leanconv.arrays import to_numpy
from leanconv.errors import LeanconvError

__all__ = [
    "CompressedModel",
    "CompressedTensor",
    "codec_names",
    "compress",
    "decode_codes",
    "describe_container",
    "encode_codes",
    "load",
    "load_codes",
    "load_tensor",
    "save",
]


def codec_names() -> list[str]:
    """Names of the codecs in the Rust table (``auto`` picks among them)."""
    return [name for name, _, _ in _native.codec_table()]


def _contiguous(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    # np.ascontiguousarray turns 0-d arrays into 1-d ones; keep the shape.
    return a if a.flags.c_contiguous else np.array(a, order="C")


def encode_codes(codes: npt.NDArray[np.int8], codec: str = "auto",
                 auto_codecs: Sequence[str] | None = None) -> tuple[str, bytes]:
    """Encodes an int8 code array; returns (codec used, bytes). ``auto_codecs`` restricts
    ``"auto"`` to the codecs it names (e.g. those a C decoder exists for)."""
    a = np.asarray(codes)
    if a.dtype != np.int8:
        raise LeanconvError(f"codes must be int8, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise LeanconvError("codes must be C-contiguous")
    return _native.encode_codes(a, codec, None if auto_codecs is None else list(auto_codecs))


def decode_codes(
    data: bytes | npt.NDArray[np.uint8],
    shape: tuple[int, ...] | list[int],
    codec: str,
    out: npt.NDArray[np.int8] | None = None,
) -> npt.NDArray[np.int8]:
    """Decodes bytes written by ``encode_codes``; into ``out`` (C-contiguous int8 of ``shape``,
    returned) when given, without allocating."""
    view = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if out is not None and (not isinstance(out, np.ndarray) or out.dtype != np.int8):
        raise LeanconvError(f"out must be an int8 numpy array, got {getattr(out, 'dtype', type(out))}")
    return _native.decode_codes(view, list(shape), codec, out)


@dataclass
class CompressedTensor:
    """One tensor, compressed: its coded records plus what decodes and dequantizes them."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str  # "quantized" | "shared" | "codes" | "lossless"
    codec: str
    blob: bytes
    scales: npt.NDArray[np.float32] | None = None
    bits: int | None = None
    axis: int = 0
    sparsity: float = 0.0
    h0_bits: float = 0.0  # order-0 entropy of the codes, in bits (whole tensor)
    torch_dtype: str | None = None
    merge_tolerance: int = 0  # lossy pattern merging applied to the codes (code units)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Coded size in bytes, without the fp32 scales/centroids."""
        return len(self.blob)

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * len(self.blob) / max(self.numel, 1)

    def codes(self) -> npt.NDArray[np.int8]:
        if self.kind == "lossless":
            raise LeanconvError(f"{self.name} is stored losslessly; it has no integer codes")
        return decode_codes(self.blob, self.shape, self.codec)

    def decompress(self) -> npt.NDArray[Any]:
        return _materialize(self.kind, self.shape, self.dtype, self.codec, np.frombuffer(self.blob, np.uint8),
                            self.scales, self.axis)

    def entry(self) -> ctr.TensorEntry:
        meta: dict[str, Any] = {}
        recs = {"data": ctr.Record(self.blob, min_len=-(-self.numel // ctr.MAX_EXPANSION))}
        if self.kind in ("quantized", "shared"):
            assert self.scales is not None
            recs["scales"] = ctr.Record(np.ascontiguousarray(self.scales, "<f4").tobytes())
            meta["bits"] = self.bits
            meta["axis"] = self.axis
            meta["sparsity"] = self.sparsity
            if self.merge_tolerance:
                meta["merge_tolerance"] = self.merge_tolerance
        if self.torch_dtype:
            meta["torch_dtype"] = self.torch_dtype
        return ctr.TensorEntry(self.name, self.shape, self.dtype, self.kind, self.codec, meta, recs)


def _materialize(
    kind: str,
    shape: tuple[int, ...],
    dtype: str,
    codec: str,
    data: npt.NDArray[np.uint8],
    scales: npt.NDArray[np.float32] | None,
    axis: int,
) -> npt.NDArray[Any]:
    if kind == "lossless":
        dt = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        if codec == RAW_CODEC:
            if data.size != n * dt.itemsize:
                from leanconv.errors import CorruptFileError

                raise CorruptFileError(f"{data.size} stored bytes for {n} items of {dt}")
            return np.frombuffer(data.tobytes(), dt.newbyteorder("<")).astype(dt).reshape(shape)
        if codec != "bytegroup":
            from leanconv.errors import CorruptFileError

            raise CorruptFileError(f"lossless codec {codec!r} is not bytegroup or {RAW_CODEC}")
        raw = _native.decode_bytes(data, n * dt.itemsize)
        return raw.view(dt).reshape(shape)
    codes = _native.decode_codes(data, list(shape), codec)
    if kind == "codes":
        return codes
    assert scales is not None
    if kind == "shared":
        idx = codes.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= scales.size):
            from leanconv.errors import CorruptFileError

            raise CorruptFileError("weight-sharing code outside the codebook")
        return scales[idx].astype(dtype)
    q = Quantized(codes, scales, 8, axis)
    if codes.ndim and scales.size != codes.shape[axis]:
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{scales.size} scales for {codes.shape[axis]} channels")
    return q.dequantize().astype(dtype)


#: The lossless codec that stores a tensor's little-endian bytes as they are: a reader (an
#: emitted C program) can use them in place. The default lossless codec is ``bytegroup``.
RAW_CODEC = "raw"


def raw_tensor(name: str, arr: npt.NDArray[Any]) -> CompressedTensor:
    """``arr`` stored losslessly with the ``raw`` codec (its bytes as they are)."""
    a = _contiguous(np.asarray(arr))
    if a.dtype.name not in ctr.ALLOWED_DTYPES:
        raise LeanconvError(f"{name}: dtype {a.dtype} cannot be stored")
    data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return CompressedTensor(name, tuple(int(d) for d in a.shape), a.dtype.name, "lossless", RAW_CODEC, data)


def _h0_bits(codes: npt.NDArray[np.int8]) -> float:
    if codes.size == 0:
        return 0.0
    c = np.bincount(codes.reshape(-1).view(np.uint8), minlength=256)
    c = c[c > 0].astype(np.float64)
    return float(-(c * np.log2(c / codes.size)).sum())


def default_select(name: str, t: npt.NDArray[Any]) -> bool:
    """Tensors that are pruned and quantized by default: float weights with >= 2 dimensions."""
    return t.ndim >= 2 and np.issubdtype(t.dtype, np.floating) and t.size >= 16


@dataclass
class CompressedModel(Mapping[str, CompressedTensor]):
    """A compressed state dict: name -> CompressedTensor, in the original order."""

    tensors: dict[str, CompressedTensor] = field(default_factory=dict)

    def __getitem__(self, k: str) -> CompressedTensor:
        return self.tensors[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes + (0 if t.scales is None else 4 * t.scales.size) for t in self.tensors.values())

    def decompress(self) -> dict[str, npt.NDArray[Any]]:
        return {k: t.decompress() for k, t in self.tensors.items()}

    def save(self, path: str | os.PathLike[str]) -> int:
        return ctr.write_container(path, [t.entry() for t in self.tensors.values()])


def _compress_one(
    name: str,
    arr: npt.NDArray[Any],
    quantize: bool,
    sparsity: float,
    bits: int | None,
    codec: str,
    method: str,
    pruned: npt.NDArray[np.float32] | None,
    torch_dtype: str | None,
    merge_tolerance: int = 0,
    among: list[str] | None = None,
) -> CompressedTensor:
    shape = tuple(int(s) for s in arr.shape)
    if arr.dtype == np.int8 and not quantize:
        used, blob = _native.encode_codes(_contiguous(arr), codec, among)
        return CompressedTensor(name, shape, "int8", "codes", used, blob, h0_bits=_h0_bits(arr), torch_dtype=torch_dtype)
    if not quantize or bits is None:
        dt = arr.dtype
        if dt.name not in ctr.ALLOWED_DTYPES:
            raise LeanconvError(f"{name}: dtype {dt} cannot be stored")
        a = _contiguous(arr).astype(dt.newbyteorder("<"), copy=False)
        blob = _native.encode_bytes(a.reshape(-1).view(np.uint8), dt.itemsize)
        return CompressedTensor(name, shape, dt.name, "lossless", "bytegroup", blob, torch_dtype=torch_dtype)
    w = pruned if pruned is not None else prune_magnitude(arr, sparsity)
    if method == "kmeans":
        sw = kmeans_share(w, 1 << bits)
        used, blob = _native.encode_codes(sw.codes, codec, among)
        return CompressedTensor(name, shape, "float32", "shared", used, blob, sw.centroids, bits, 0, sparsity,
                                _h0_bits(sw.codes), torch_dtype)
    q = quantize_per_channel(w, bits)
    codes = q.codes
    if merge_tolerance:
        codes = _native.merge_patterns(codes, merge_tolerance)[0]
    used, blob = _native.encode_codes(codes, codec, among)
    return CompressedTensor(name, shape, "float32", "quantized", used, blob, q.scales, bits, 0, sparsity,
                            _h0_bits(codes), torch_dtype, merge_tolerance)


def compress(
    x: object,
    sparsity: float = 0.0,
    bits: int | None = 8,
    codec: str = "auto",
    *,
    prune: str = "layer",
    method: str = "uniform",
    select: Callable[[str, npt.NDArray[Any]], bool] | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    merge_tolerance: int = 0,
    auto_codecs: Sequence[str] | None = None,
) -> CompressedModel | CompressedTensor:
    """Prunes, quantizes and encodes a tensor or a state dict.

    - ``x``: a numpy array / torch tensor (returns a CompressedTensor) or a mapping of names to
      tensors, e.g. ``model.state_dict()`` (returns a CompressedModel).
    - ``sparsity``: fraction of weights set to zero by magnitude (``prune="layer"``: per tensor;
      ``"global"``: one threshold over all selected tensors).
    - ``bits``: 2..8 (uniform symmetric per-channel, or ``method="kmeans"`` weight sharing with
      2^bits clusters); ``None`` stores everything losslessly.
    - ``codec``: a codec name or ``"auto"`` (smallest per tensor).
    - ``select(name, array)``: which tensors to prune and quantize (default: float tensors with
      >= 2 dimensions); the others are stored losslessly.
    - ``merge_tolerance``: lossy pattern merging (Wen & Gregg) of the quantized codes before
      coding: each rare k×k kernel slice (or 4-vector of 1x1/linear weights) is replaced by a
      frequent one that differs by at most this many code units per weight, with the same
      zeros (``leanconv._native.merge_patterns``). 0, the default, is lossless; needs
      ``method="uniform"``. Its accuracy cost on the default model: bench/results/pattern_merge.md.
    - ``auto_codecs``: the codecs ``"auto"`` picks among (default: all that it tries), e.g.
      :data:`leanconv.emit.lcz.C_CODECS` for weights an emitted C program decodes.
    """
    if bits is not None and not (isinstance(bits, (int, np.integer)) and 2 <= int(bits) <= 8):
        raise LeanconvError(f"bits must be an integer in 2..8 or None, got {bits!r}")
    if not (0.0 <= float(sparsity) <= 1.0):
        raise LeanconvError(f"sparsity must be in [0, 1], got {sparsity}")
    if prune not in ("layer", "global"):
        raise LeanconvError(f"prune must be 'layer' or 'global', got {prune!r}")
    if method not in ("uniform", "kmeans"):
        raise LeanconvError(f"method must be 'uniform' or 'kmeans', got {method!r}")
    if isinstance(merge_tolerance, bool) or not isinstance(merge_tolerance, (int, np.integer)) \
            or not 0 <= int(merge_tolerance) <= 255:
        raise LeanconvError(f"merge_tolerance must be an integer in 0..255 code units, got {merge_tolerance!r}")
    merge_tolerance = int(merge_tolerance)
    if merge_tolerance and (bits is None or method != "uniform"):
        raise LeanconvError("merge_tolerance needs uniform quantization (bits set, method='uniform'): "
                            "it moves codes by up to that many quantization steps")
    if codec != "auto" and codec not in codec_names():
        raise LeanconvError(f"unknown codec {codec!r}; known: auto, {', '.join(codec_names())}")
    among = None if auto_codecs is None else [str(c) for c in auto_codecs]
    if among is not None:
        if codec != "auto":
            raise LeanconvError(f"auto_codecs restricts codec='auto', not codec={codec!r}")
        unknown = [c for c in among if c not in codec_names()]
        if unknown:
            raise LeanconvError(f"auto_codecs names unknown codecs {unknown}; known: {', '.join(codec_names())}")
        if not among:
            raise LeanconvError("auto_codecs names no codec")
    single = not isinstance(x, Mapping)
    items: dict[str, object] = {"tensor": x} if single else dict(x)  # type: ignore[call-overload]
    sel = select or default_select
    arrays: dict[str, npt.NDArray[Any]] = {}
    tdtypes: dict[str, str | None] = {}
    for k, v in items.items():
        if not isinstance(k, str):
            raise LeanconvError(f"state dict keys must be strings, got {k!r}")
        tdtypes[k] = "bfloat16" if str(getattr(v, "dtype", "")) == "torch.bfloat16" else None
        arrays[k] = _contiguous(to_numpy(v, f"tensor {k!r}", from_device=True))
    chosen = {k for k, a in arrays.items() if bits is not None and (single and np.issubdtype(a.dtype, np.floating) or not single and sel(k, a))}
    pruned: dict[str, npt.NDArray[np.float32]] = {}
    if prune == "global" and sparsity > 0 and chosen:
        pruned = prune_global({k: arrays[k] for k in arrays if k in chosen}, float(sparsity))
    nthreads = threads or min(4, os.cpu_count() or 1)

    def work(k: str) -> CompressedTensor:
        ct = _compress_one(k, arrays[k], k in chosen, float(sparsity), bits, codec, method, pruned.get(k), tdtypes[k],
                           merge_tolerance, among)
        if progress is not None:
            progress(k)
        return ct

    if nthreads > 1 and len(arrays) > 1:
        with ThreadPoolExecutor(nthreads) as ex:
            done = list(ex.map(work, list(arrays)))
    else:
        done = [work(k) for k in arrays]
    if single:
        return done[0]
    return CompressedModel({t.name: t for t in done})


def save(
    path: str | os.PathLike[str],
    obj: object,
    sparsity: float = 0.0,
    bits: int | None = None,
    codec: str = "auto",
    **kwargs: Any,
) -> int:
    """Writes ``obj`` to an ``.lcz`` file atomically; returns the file size.

    ``obj`` is a CompressedModel / CompressedTensor (written as is), or a state dict / dict of
    arrays / tensor, which is compressed first (``bits=None``, the default: lossless).
    """
    if isinstance(obj, CompressedTensor):
        return ctr.write_container(path, [obj.entry()])
    if not isinstance(obj, CompressedModel):
        obj = compress(obj if isinstance(obj, Mapping) else {"tensor": obj}, sparsity, bits, codec, **kwargs)
    assert isinstance(obj, CompressedModel)
    return obj.save(path)


def _entry_tensor(f: ctr.LczFile, name: str) -> npt.NDArray[Any]:
    e = f.entry(name)
    shape = tuple(e["shape"])
    kind = e.get("kind")
    scales = None
    if kind in ("quantized", "shared"):
        scales = np.frombuffer(f.record(name, "scales").tobytes(), "<f4").astype(np.float32)
    elif kind not in ("codes", "lossless"):
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{f.path}: tensor {name!r} has unknown kind {kind!r}")
    axis = e.get("axis", 0)
    if not isinstance(axis, int) or (len(shape) and not 0 <= axis < len(shape)):
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{f.path}: tensor {name!r} has a bad quantization axis")
    codec = e.get("codec")
    if kind != "lossless" and codec not in codec_names():
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{f.path}: tensor {name!r} uses unknown codec {codec!r}")
    return _materialize(str(kind), shape, e["dtype"], str(codec), f.record(name, "data"), scales, axis)


def _to_format(name: str, a: npt.NDArray[Any], fmt: str, tdtype: str | None) -> Any:
    if fmt == "numpy":
        return a
    import torch

    t = torch.from_numpy(np.array(a))
    if tdtype == "bfloat16":
        t = t.to(torch.bfloat16)
    return t


def load(path: str | os.PathLike[str], format: str = "numpy", names: list[str] | None = None) -> dict[str, Any]:
    """Reads an ``.lcz`` file: name -> array (quantized tensors come back dequantized).

    ``format="torch"`` gives torch tensors (a state dict ready for ``load_state_dict``);
    ``names`` reads only those tensors (random access; the others are not decoded).
    """
    if format not in ("numpy", "torch"):
        raise LeanconvError(f"format must be 'numpy' or 'torch', got {format!r}")
    with ctr.LczFile(path) as f:
        wanted = names if names is not None else f.names()
        out = {}
        for n in wanted:
            out[n] = _to_format(n, _entry_tensor(f, n), format, f.entry(n).get("torch_dtype"))
        return out


def load_tensor(path: str | os.PathLike[str], name: str) -> npt.NDArray[Any]:
    """One tensor of an ``.lcz`` file by name (raises TensorNotFoundError if absent)."""
    with ctr.LczFile(path) as f:
        return _entry_tensor(f, name)


def load_codes(path: str | os.PathLike[str], name: str) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32] | None]:
    """The integer codes of a quantized tensor and its scales (or codebook)."""
    with ctr.LczFile(path) as f:
        e = f.entry(name)
        if e.get("kind") == "lossless":
            raise LeanconvError(f"{name} is stored losslessly; it has no integer codes")
        codes = _native.decode_codes(f.record(name, "data"), list(e["shape"]), str(e["codec"]))
        scales = None
        if e.get("kind") in ("quantized", "shared"):
            scales = np.frombuffer(f.record(name, "scales").tobytes(), "<f4").astype(np.float32)
        return codes, scales


def describe_container(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One row per tensor of an ``.lcz`` file, for ``leanconv inspect``: name, shape, dtype,
    kind, codec, bits, sparsity, merge tolerance, stored bytes and bits per element. Reads only
    the header."""
    rows = []
    with ctr.LczFile(path) as f:
        for n in f.names():
            e = f.entry(n)
            numel = int(np.prod(e["shape"], dtype=np.int64))
            data = e["records"].get("data", {})
            used = int(data.get("used", 0))
            extra = sum(int(r.get("used", 0)) for k, r in e["records"].items() if k != "data")
            rows.append(
                {
                    "name": n,
                    "shape": tuple(e["shape"]),
                    "dtype": e["dtype"],
                    "kind": e["kind"],
                    "codec": e["codec"],
                    "bits": e.get("bits"),
                    "sparsity": e.get("sparsity"),
                    "merge_tolerance": e.get("merge_tolerance", 0),
                    "bytes": used,
                    "side_bytes": extra,
                    "bits_per_element": 8.0 * used / max(numel, 1),
                }
            )
    return rows
