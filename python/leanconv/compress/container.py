"""The ``.lcz`` container: checksummed, randomly accessible, memory-mapped, written atomically.

Layout (all integers little-endian)::

    0   8  magic  b"\\x89LCZ\\r\\n\\x1a\\n"
    8   4  version (u32, currently 1)
    12  8  header length H (u64)
    20  4  CRC32 of the header bytes and the zero padding after them
    24  H  JSON header (UTF-8), zero-padded to a multiple of 64 bytes
    ...    payload: one record per blob, each padded with zeros to 64 bytes

The JSON header lists per tensor: name, shape, dtype, kind (``quantized``, ``shared``,
``codes``, ``lossless``), codec (for ``lossless``: ``bytegroup``, or ``raw`` for bytes stored
as they are, which a reader can use in place), quantization parameters, and its records (``offset`` from
the payload start, ``nbytes`` padded length, ``used`` coded length, ``crc32`` of the padded
record). Every byte of the file is covered by a checksum, so a flipped bit anywhere is found.
Records are never shorter than ``numel / MAX_EXPANSION`` bytes (zero padding is added), so a
header cannot make the reader allocate more than the file can plausibly hold.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leanconv import _native
from leanconv.atomic import atomic_write
from leanconv.errors import CorruptFileError, LeanconvError

MAGIC = b"\x89LCZ\r\n\x1a\n"
VERSION = 1
ALIGN = 64
PREFIX = struct.Struct("<8sIQI")
#: At most this many decoded elements per stored byte (writers pad records to keep it; only
#: near-empty tensors, under 1/32 bit per element, ever need padding).
MAX_EXPANSION = 256
#: Largest JSON header the reader accepts.
MAX_HEADER = 256 << 20

ALLOWED_DTYPES = {
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool",
}  # fmt: skip


class TensorNotFoundError(LeanconvError, KeyError):
    """A tensor name that the container does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Record:
    """One blob in the payload."""

    data: bytes | npt.NDArray[np.uint8]
    min_len: int = 0  # padded so that len >= min_len

    def padded(self) -> tuple[bytes, int]:
        raw = bytes(self.data) if not isinstance(self.data, bytes) else self.data
        used = len(raw)
        total = _align(max(used, self.min_len, 1))
        return raw + b"\0" * (total - used), used


@dataclass
class TensorEntry:
    """What the writer stores for one tensor: metadata plus named records."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str
    codec: str
    meta: dict[str, Any] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)


def write_container(path: str | os.PathLike[str], entries: list[TensorEntry], extra: dict[str, Any] | None = None) -> int:
    """Writes ``entries`` to ``path`` atomically (see :mod:`leanconv.atomic`). Returns the size."""
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise LeanconvError("tensor names in a container must be unique")
    tensors = []
    chunks: list[bytes] = []
    offset = 0
    for e in entries:
        recs = {}
        for rname, rec in e.records.items():
            blob, used = rec.padded()
            recs[rname] = {
                "offset": offset,
                "nbytes": len(blob),
                "used": used,
                "crc32": _native.crc32(blob),
            }
            chunks.append(blob)
            offset += len(blob)
        tensors.append(
            {
                "name": e.name,
                "shape": list(e.shape),
                "dtype": e.dtype,
                "kind": e.kind,
                "codec": e.codec,
                **e.meta,
                "records": recs,
            }
        )
    header = {"format": "lcz", "version": VERSION, "payload_size": offset, "tensors": tensors}
    if extra:
        header["extra"] = extra
    hbytes = json.dumps(header, separators=(",", ":")).encode()
    hpad = _align(PREFIX.size + len(hbytes)) - PREFIX.size - len(hbytes)
    hblock = hbytes + b"\0" * hpad
    prefix = PREFIX.pack(MAGIC, VERSION, len(hbytes), _native.crc32(hblock))
    with atomic_write(path) as f:
        f.write(prefix)
        f.write(hblock)
        for c in chunks:
            f.write(c)
    return PREFIX.size + len(hblock) + offset


def _corrupt(path: object, msg: str) -> CorruptFileError:
    return CorruptFileError(f"{path}: {msg}")


def _int(v: object, what: str, path: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise _corrupt(path, f"header field {what} is not a non-negative integer")
    return v


class LczFile:
    """A memory-mapped ``.lcz`` file: ``names()``, ``entry(name)``, ``record(name, rec)``.

    The checksums of the prefix and header are verified on open; each record's CRC32 when
    it is read. Use as a context manager (or call ``close``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._f = open(self.path, "rb")
        except FileNotFoundError:
            from leanconv.errors import ModelNotFoundError

            raise ModelNotFoundError(f"{self.path}: no such file") from None
        try:
            size = os.fstat(self._f.fileno()).st_size
            if size < PREFIX.size:
                raise _corrupt(self.path, f"file is truncated ({size} bytes, not an .lcz container)")
            self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
            self._parse(size)
        except BaseException:
            self.close()
            raise

    def _parse(self, size: int) -> None:
        magic, version, hlen, hcrc = PREFIX.unpack_from(self._mm, 0)
        if magic != MAGIC:
            raise _corrupt(self.path, "wrong magic bytes: not an .lcz container")
        if version != VERSION:
            raise _corrupt(self.path, f"unsupported container version {version} (this reader knows {VERSION})")
        if hlen > MAX_HEADER or PREFIX.size + hlen > size:
            raise _corrupt(self.path, f"header length {hlen} does not fit the file ({size} bytes)")
        self.payload_start = _align(PREFIX.size + hlen)
        if self.payload_start > size:
            raise _corrupt(self.path, "file is truncated inside the header")
        hblock = self._mm[PREFIX.size : self.payload_start]
        if _native.crc32(hblock) != hcrc:
            raise _corrupt(self.path, "header checksum mismatch (the file is damaged)")
        if any(hblock[hlen:]):
            raise _corrupt(self.path, "non-zero header padding")
        try:
            header = json.loads(hblock[:hlen].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise _corrupt(self.path, f"header is not valid JSON: {e}") from None
        if not isinstance(header, dict) or header.get("format") != "lcz":
            raise _corrupt(self.path, "header does not describe an lcz container")
        payload = _int(header.get("payload_size"), "payload_size", self.path)
        if self.payload_start + payload != size:
            raise _corrupt(
                self.path,
                f"file is {size} bytes but the header says {self.payload_start + payload} (truncated or padded)",
            )
        tensors = header.get("tensors")
        if not isinstance(tensors, list):
            raise _corrupt(self.path, "header has no tensor list")
        self.header = header
        self._entries: dict[str, dict[str, Any]] = {}
        for t in tensors:
            self._validate(t, payload)
            if t["name"] in self._entries:
                raise _corrupt(self.path, f"duplicate tensor name {t['name']!r}")
            self._entries[t["name"]] = t

    def _validate(self, t: object, payload: int) -> None:
        p = self.path
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise _corrupt(p, "tensor entry without a name")
        shape = t.get("shape")
        if not isinstance(shape, list):
            raise _corrupt(p, f"tensor {t['name']!r}: shape is not a list")
        numel = 1
        for d in shape:
            numel *= _int(d, "shape", p)
        if not isinstance(t.get("dtype"), str) or t["dtype"] not in ALLOWED_DTYPES:
            raise _corrupt(p, f"tensor {t['name']!r}: unknown dtype {t.get('dtype')!r}")
        recs = t.get("records")
        if not isinstance(recs, dict) or not recs:
            raise _corrupt(p, f"tensor {t['name']!r}: no records")
        stored = 0
        for rname, r in recs.items():
            if not isinstance(r, dict):
                raise _corrupt(p, f"tensor {t['name']!r}: record {rname!r} is malformed")
            off = _int(r.get("offset"), "offset", p)
            nb = _int(r.get("nbytes"), "nbytes", p)
            used = _int(r.get("used"), "used", p)
            _int(r.get("crc32"), "crc32", p)
            if off + nb > payload or used > nb:
                raise _corrupt(p, f"tensor {t['name']!r}: record {rname!r} lies outside the payload")
            stored += nb
        if numel > max(stored, 1) * MAX_EXPANSION:
            raise _corrupt(
                p, f"tensor {t['name']!r}: shape {shape} claims {numel} elements, more than its {stored} bytes can hold"
            )

    # -- access ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def entry(self, name: str) -> dict[str, Any]:
        try:
            return self._entries[name]
        except KeyError:
            shown = ", ".join(list(self._entries)[:5])
            more = "" if len(self._entries) <= 5 else f", ... ({len(self._entries)} in all)"
            raise TensorNotFoundError(
                f"{self.path}: no tensor named {name!r} (it holds: {shown}{more})"
            ) from None

    def record(self, name: str, rec: str) -> npt.NDArray[np.uint8]:
        """The coded bytes of record ``rec`` of tensor ``name`` (a view of the map, CRC-checked)."""
        e = self.entry(name)
        r = e["records"].get(rec)
        if r is None:
            raise _corrupt(self.path, f"tensor {name!r} has no {rec!r} record")
        view = np.frombuffer(self._mm, np.uint8, count=r["nbytes"], offset=self.payload_start + r["offset"])
        if _native.crc32_array(view) != r["crc32"]:
            raise _corrupt(self.path, f"tensor {name!r}: checksum mismatch in its {rec!r} record (the file is damaged)")
        if view[r["used"] :].any():
            raise _corrupt(self.path, f"tensor {name!r}: non-zero record padding")
        return view[: r["used"]]

    def close(self) -> None:
        mm = getattr(self, "_mm", None)
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # numpy views of the map are still alive; the map closes when they go.
                pass
            self._mm = None  # type: ignore[assignment]
        f = getattr(self, "_f", None)
        if f is not None:
            f.close()

    def __enter__(self) -> LczFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
