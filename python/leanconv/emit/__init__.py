"""A Plan as a self-contained C99 project: ``emit(graph, out, plan=...)``.

The project holds ``<name>.c`` (the network: one static activation arena of the plan's size,
its workspace and packed weights, every step a straight-line call into the kernels with
constant shapes, no allocation), ``<name>.h`` (``<name>_init``, ``<name>_run``,
``<name>_arena_bytes`` and the input and output shapes), ``weights.bin`` (the blob read by
``<name>_init``, see :mod:`leanconv.emit.blob`), the kernel library (``kernels/``: its tables
name every kernel, so all of it links), a ``main.c`` that runs the network on ``.npy`` files and
times it, a Makefile that honours CC and CFLAGS, and ``plan.json`` and ``emit.json`` (what was
emitted, the memory). The emitted code runs on one thread (the kernels take work ranges, so a
caller could split them); a plan made for more threads runs on one with its own workspace.

Weights are packed at init by the kernels' own pack functions on the target, so the packed
layout is the target's; the buffers have the plan's sizes, and init refuses (an error code, no
write past them) when this build's kernels need more: a plan made for another ISA's tiles.

Static RAM is the plan's memory: arena + workspace + packed weights. Flash is the code (``make
size`` measures it for the compiler and target at hand) plus the weights blob.

The project is written into a temporary folder beside ``out`` and renamed into place, so an
error half way never leaves a partial project; an existing ``out`` is replaced only with
``force``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leanconv.emit import blob
from leanconv.emit.csteps import CStep, Emitter, in_comment
from leanconv.errors import LeanconvError, PlanError
from leanconv.runtime.plan import LayerStep, Plan

if TYPE_CHECKING:
    from leanconv.graph import Graph

TEMPLATES = Path(__file__).parent / "templates"

__all__ = ["EmitResult", "emit", "kernels_dir"]


@dataclass
class EmitResult:
    """What :func:`emit` wrote: the project folder, the C name prefix and the memory."""

    path: str
    name: str
    steps: int
    arena_bytes: int
    workspace_bytes: int
    packed_bytes: int
    ram_bytes: int
    weights_bytes: int
    weights: str


def kernels_dir() -> Path:
    """The kernel library's sources (``include/`` and ``src/``): ``kernels_c`` of the source
    tree this package runs from."""
    here = Path(__file__).resolve()
    for root in (here.parents[1] / "_kernels_c", here.parents[3] / "kernels_c"):
        if (root / "include" / "lc_conv.h").is_file() and (root / "src").is_dir():
            return root
    raise LeanconvError("the C kernel sources (kernels_c) are not installed with this leanconv; emit "
                        "needs a source checkout")


def c_name(text: str) -> str:
    """A C identifier from a graph name: lower case, other characters as '_'."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", text).lower().strip("_") or "net"
    return f"net_{name}" if name[0].isdigit() else name


def _render(template: str, values: dict[str, object]) -> str:
    text = (TEMPLATES / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def _shapes(name: str, which: str, shapes: list[tuple[int, ...]]) -> list[str]:
    ranks = ", ".join(f"{len(s)}u" for s in shapes)
    rows = ", ".join("{" + ", ".join(f"{d}u" for d in s) + "}" for s in shapes)
    macro = name.upper()
    return [f"const size_t {name}_{which}_rank[{macro}_NUM_{which.upper()}S] = {{{ranks}}};",
            f"const size_t {name}_{which}_shape[{macro}_NUM_{which.upper()}S][{macro}_MAX_RANK] = {{{rows}}};"]


def _buffer(macro: str, nbytes: int, var: str) -> list[str]:
    """A static 64-byte aligned float buffer of ``nbytes`` (none for 0: C has no empty arrays)."""
    if nbytes == 0:
        return [f"#define {macro} NULL"]
    return [f"static float {var}[{nbytes // 4}u] LC_EMIT_ALIGNED;", f"#define {macro} {var}"]


def network_c(name: str, plan: Plan, e: Emitter, steps: list[CStep], offsets: list[int], size: int) -> str:
    macro = name.upper()
    digest = ", ".join(f"0x{b:02x}" for b in bytes.fromhex(plan.graph.digest))
    w_at = ", ".join(f"{o // 4}u" for o in offsets) or "0u"
    lines = [
        f"/* {name}: the network \"{in_comment(plan.graph.name)}\" as straight-line calls into the leanconv kernels, one",
        " * thread, emitted from its plan (plan.json). Generated: edit the plan, not this file. */",
        "#include <math.h>", "#include <stdint.h>", "#include <string.h>", "",
        f'#include "{name}.h"', '#include "lc_internal.h"', '#include "lc_ops.h"', '#include "leanconv_kernels.h"', "",
        "#if defined(__GNUC__) || defined(__clang__)",
        "#define LC_EMIT_ALIGNED __attribute__((aligned(64)))",
        "#else",
        "#define LC_EMIT_ALIGNED",
        "#endif",
        f"#define ARENA_BYTES {plan.arena_bytes}u",
        f"#define WORKSPACE_BYTES {plan.workspace_bytes}u",
        f"#define PACKED_BYTES {plan.packed_bytes}u",
        f"#define BLOB_BYTES {size}u",
        f"#define LC_EMIT_ERR_SIZES {macro}_ERR_SIZES",
        *_buffer("ARENA", plan.arena_bytes, "arena"),
        *_buffer("WORKSPACE", plan.workspace_bytes, "workspace"),
        *_buffer("PACKED", plan.packed_bytes, "packed"),
        "",
        "/* Where each weight tensor starts in the blob, in floats. */",
        f"static const size_t W_AT[] = {{{w_at}}};",
        f"static const unsigned char DIGEST[32] = {{{digest}}};",
        "static const float *blob;",
        "#define W(i) (blob + W_AT[i])",
        "",
        *_shapes(name, "input", [tuple(plan.tensors[t].shape) for t in plan.inputs]),
        *_shapes(name, "output", [tuple(plan.tensors[t].shape) for t in plan.outputs]),
        "",
    ]
    for s in steps:
        if s.decls:
            lines += [f"/* {s.comment} */", *s.decls]
    lines += [
        "",
        f"size_t {name}_arena_bytes(void) {{ return ARENA_BYTES; }}",
        f"size_t {name}_workspace_bytes(void) {{ return WORKSPACE_BYTES; }}",
        f"size_t {name}_packed_bytes(void) {{ return PACKED_BYTES; }}",
        "",
        f"int {name}_init(const void *weights, size_t weights_bytes) {{",
        "    const unsigned char *b = (const unsigned char *)weights;",
        "    uint32_t version, count;",
        "    uint64_t total;",
        f"    if (!b || weights_bytes != BLOB_BYTES || memcmp(b, \"{blob.MAGIC.decode()}\", 8) != 0) return {macro}_ERR_WEIGHTS;",
        "    memcpy(&version, b + 8, 4);",
        "    memcpy(&count, b + 12, 4);",
        "    memcpy(&total, b + 16, 8);",
        f"    if (version != {blob.VERSION}u || count != {len(e.blob)}u || total != BLOB_BYTES || memcmp(b + 24, DIGEST, 32) != 0)",
        f"        return {macro}_ERR_WEIGHTS;",
        "    blob = (const float *)weights;",
    ]
    for s in steps:
        if s.init:
            lines += [f"    /* {s.comment} */", *("    " + x for x in s.init)]
    lines += [f"    return {macro}_OK;", "}", "",
              f"void {name}_run(const float *const *inputs, float *const *outputs) {{"]
    if not plan.inputs:
        lines.append("    (void)inputs;")
    for s in steps:
        lines += [f"    /* {s.comment} */", *("    " + x for x in s.run)]
    for i, t in enumerate(plan.outputs):
        lines.append(f"    memcpy(outputs[{i}], {e.ptr(t)}, {plan.tensors[t].bytes}u);")
    lines += ["}", ""]
    return "\n".join(lines)


def _write_project(folder: Path, name: str, graph: Graph, plan: Plan) -> EmitResult:
    weights = {f"{s.layer}.{k}": w for s in plan.steps if isinstance(s, LayerStep)
               for k, w in graph.layer(s.layer).weights.items()}
    e = Emitter(plan, weights)
    steps = [e.step(i, s) for i, s in enumerate(plan.steps)]
    if e.packed_offset != plan.packed_bytes:
        raise PlanError(f"the plan's steps pack {e.packed_offset} bytes of weights, its total says "
                        f"{plan.packed_bytes}")
    if e.workspace_bytes > plan.workspace_bytes:
        raise PlanError(f"a step needs {e.workspace_bytes} workspace bytes, the plan reserves "
                        f"{plan.workspace_bytes}")
    offsets, size = blob.layout(e.blob)
    ram = plan.arena_bytes + plan.workspace_bytes + plan.packed_bytes
    values: dict[str, object] = {
        "NAME": name, "MACRO": name.upper(), "GUARD": f"{name.upper()}_H", "GRAPH": in_comment(plan.graph.name),
        "NUM_INPUTS": len(plan.inputs), "NUM_OUTPUTS": len(plan.outputs), "ARENA": plan.arena_bytes,
        "WORKSPACE": plan.workspace_bytes, "PACKED": plan.packed_bytes, "RAM": ram, "BLOB": size,
    }
    (folder / f"{name}.c").write_text(network_c(name, plan, e, steps, offsets, size))
    (folder / f"{name}.h").write_text(_render("network.h.in", values))
    (folder / "main.c").write_text(_render("main.c.in", values))
    (folder / "Makefile").write_text(_render("Makefile.in", values))
    (folder / "weights.bin").write_bytes(blob.raw_blob(e.blob, plan.graph.digest))
    kernels = kernels_dir()
    for part in ("include", "src"):
        shutil.copytree(kernels / part, folder / "kernels" / part,
                        ignore=lambda _d, names: [n for n in names if not n.endswith((".c", ".h", ".inc"))])
    (folder / "plan.json").write_text(plan.to_json())
    result = EmitResult(path="", name=name, steps=len(plan.steps), arena_bytes=plan.arena_bytes,
                        workspace_bytes=plan.workspace_bytes, packed_bytes=plan.packed_bytes, ram_bytes=ram,
                        weights_bytes=size, weights="raw")
    return result


def emit(graph: Graph, out: str | os.PathLike[str], *, plan: Plan | None = None, weights: str = "raw",
         force: bool = False, name: str | None = None) -> EmitResult:
    """Writes the C project of ``graph`` run by ``plan`` (the default planner's for one thread
    when None) into the folder ``out``. ``weights``: ``"raw"`` (``"lcz"`` needs C decoders
    this build lacks). LeanconvError for an existing ``out`` without ``force``, an unknown
    weights mode or a name that is not a C identifier; PlanError for a plan that does not fit
    the graph; UnsupportedOpError for a kernel the emitter has no C call for. Nothing is left
    under ``out`` on an error."""
    blob.check_weights_mode(weights)
    target = Path(out)
    if target.exists() and not force:
        raise LeanconvError(f"{os.fspath(out)} exists; pass force=True (--force) to replace it")
    cname = c_name(graph.name) if name is None else name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cname):
        raise LeanconvError(f"name {cname!r} is not a C identifier")
    if plan is None:
        from leanconv.runtime.planner import default_plan

        plan = default_plan(graph, 1)
    plan.validate(graph)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir()
    try:
        result = _write_project(tmp, cname, graph, plan)
        result.path = os.fspath(target)
        (tmp / "emit.json").write_text(json.dumps(asdict(result), indent=1) + "\n")
        if target.exists():
            old = target.with_name(f".{target.name}.{secrets.token_hex(6)}.old")
            target.rename(old)
            tmp.rename(target)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink()
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result

