"""The cost database: measurements as append-only JSON lines.

Each line is one record: ``{"schema": 2, "key": {...}, "device": {...}, "seconds": ...,
"spread": ..., "samples": ..., "workspace": ..., "packed": ..., "error": ...}``, keyed by what
was measured (``kind``: conv, op, transform, or run for the runtime's per-call cost; the kernel; the layer's spec as a canonical
string; threads; the resolved ISA), the device (CPU model, its features, core count: a device
id hashes them) and the leanconv version. A later line for the same key wins, so re-measuring
appends. Schema 2: seconds are a step's time inside the runtime (CPU time at one thread, see
:func:`leanconv.profile.profiler.in_network`). A database measured on another machine (a board) selects for that machine: records
are read for one device, this machine's when the file has it, else the file's only one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leanconv import __version__
from leanconv.errors import CorruptFileError, LeanconvError

SCHEMA = 2
#: CPU features that change which kernels run and how fast.
FEATURES = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon", "asimd", "sve")


def fingerprint() -> dict[str, Any]:
    """This machine: CPU model, the kernel-relevant features it has, core count, architecture
    and its id. The architecture is the interpreter's (``platform.machine()``): under user-mode
    emulation (qemu-aarch64 on an x86 host) /proc/cpuinfo describes the host, and the board's
    records must still not pass for the host's."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "CPU part") and model in (platform.machine(), ""):
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    device = {"cpu": model, "features": sorted(flags & set(FEATURES)), "cores": os.cpu_count() or 1,
              "arch": platform.machine()}
    device["id"] = hashlib.sha256(json.dumps(device, sort_keys=True).encode()).hexdigest()[:16]
    return device


@dataclass(frozen=True)
class Key:
    kind: str  # "conv", "op", "transform" or "run"
    kernel: str
    spec: str  # canonical JSON of what was measured (shapes, attrs)
    threads: int
    isa: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "kernel": self.kernel, "spec": self.spec, "threads": self.threads,
                "isa": self.isa, "version": __version__}


@dataclass(frozen=True)
class Record:
    seconds: float
    spread: float  # interquartile range of the samples over their median
    samples: int
    workspace: int = 0
    packed: int = 0
    error: float = 0.0


class CostDB:
    """The records of one device in a JSON-lines file (created on the first :meth:`add`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, device: dict[str, Any] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.here = fingerprint()
        self.records: dict[Key, Record] = {}
        lines = self._read()
        devices = {}
        for line in lines:
            devices[line["device"]["id"]] = line["device"]
        if device is None:
            device = self.here if self.here["id"] in devices or len(devices) != 1 else next(iter(devices.values()))
        self.device = device
        for line in lines:
            k = line["key"]
            if line["device"]["id"] == device["id"] and k["version"] == __version__:
                key = Key(k["kind"], k["kernel"], k["spec"], int(k["threads"]), k["isa"])
                self.records[key] = Record(**{f: line[f] for f in Record.__dataclass_fields__})

    def _read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        lines = []
        for n, text in enumerate(self.path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                if line["schema"] != SCHEMA:
                    raise CorruptFileError(f"{self.path}:{n}: cost record schema {line['schema']!r}, "
                                           f"this leanconv reads schema {SCHEMA}")
                line["key"]["kind"], line["device"]["id"], line["seconds"]  # noqa: B018
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise CorruptFileError(f"{self.path}:{n}: not a cost record ({e})") from None
            lines.append(line)
        return lines

    @property
    def isa(self) -> str:
        """The ISA the records are for: this machine's resolved one, or the one ISA of another
        device's records (a LeanconvError when they mix several)."""
        from leanconv.primitives import resolved_isa

        if self.is_here:
            return resolved_isa()
        isas = sorted({key.isa for key in self.records})
        if len(isas) > 1:
            raise LeanconvError(f"the cost database holds device {self.device['cpu']!r} with records of several "
                                f"ISAs ({', '.join(isas)}); keep one per file")
        return isas[0] if isas else resolved_isa()

    @property
    def is_here(self) -> bool:
        """Whether the records are this machine's (new measurements can join them)."""
        return bool(self.device["id"] == self.here["id"])

    def get(self, key: Key) -> Record | None:
        return self.records.get(key)

    def require(self, key: Key) -> Record:
        record = self.records.get(key)
        if record is None:
            raise LeanconvError(f"the cost database has no {key.kind} measurement of {key.kernel} for {key.spec} "
                                f"at {key.threads} thread(s) on device {self.device['cpu']!r}: profile the model first")
        return record

    def add(self, key: Key, record: Record) -> None:
        """Records a measurement of this machine (appended to the file)."""
        if not self.is_here:
            raise LeanconvError(f"the cost database holds device {self.device['cpu']!r} ({self.device['id']}); "
                                "measurements of this machine go to another file")
        self.records[key] = record
        if self.path is not None:
            line = {"schema": SCHEMA, "key": key.as_dict(), "device": self.device,
                    **{f: getattr(record, f) for f in Record.__dataclass_fields__}}
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")
