"""A Plan as a self-contained C99 project: ``emit(graph, out, plan=...)``.

The project holds ``<name>.c`` (the network: one static activation arena of the plan's size,
its workspace and packed weights, every step a straight-line call into the kernels with
constant shapes, no allocation), ``<name>.h`` (``<name>_init``, ``<name>_run``,
``<name>_arena_bytes`` and the input and output shapes), the weights file read by
``<name>_init`` (``weights.bin``, float32, see :mod:`leanconv.emit.blob`; or with ``weights="lcz"``
``weights.lcz``, the packed weights compressed and decoded at init by kernels_c's C decoders, see
:mod:`leanconv.emit.lcz`), the kernel library (``kernels/``: its tables
name every kernel, so all of it links), a ``main.c`` that runs the network on ``.npy`` files and
times it, a Makefile that honours CC and CFLAGS, and ``plan.json`` and ``emit.json`` (what was
emitted, the memory). The emitted code runs on one thread (the kernels take work ranges, so a
caller could split them); a plan made for more threads runs on one with its own workspace.

Weights are packed at init by the kernels' own pack functions on the target, so the packed
layout is the target's; the buffers have the plan's sizes, and init refuses (an error code, no
write past them) when this build's kernels need more: a plan made for another ISA's tiles.

Static RAM is the plan's memory (:attr:`Plan.memory_bytes`: arena + workspace + packed weights),
plus, with ``lcz`` weights only, an init scratch buffer for what decoding cannot do in those
buffers (none for the models tested, see :mod:`leanconv.emit.lcz`). Flash is the code (``make size`` measures it for the
compiler and target at hand) plus the weights file.

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

from leanconv.emit import blob, lcz
from leanconv.emit.csteps import CStep, Emitter, Pack, in_comment
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
    init_scratch_bytes: int
    ram_bytes: int
    weights_bytes: int
    weights: str
    weights_file: str
    codecs: dict[str, int]  # lcz: how many packed tensors each codec codes


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


def static_layout(plan: Plan, init_scratch: int) -> tuple[dict[str, tuple[int, int]], int]:
    """The program's one static block, [init scratch | arena | workspace | packed weights], each
    part 64-byte aligned: (offset, bytes) by part, and the block's size (up to the end of its
    last part, unpadded). Without init scratch, and with the plan's arena and workspace 64-byte
    multiples as its planner makes them, the block is the plan's memory."""
    parts, at = {}, 0
    for macro, nbytes in (("INIT_SCRATCH", init_scratch), ("ARENA", plan.arena_bytes),
                          ("WORKSPACE", plan.workspace_bytes), ("PACKED", plan.packed_bytes)):
        parts[macro] = (at, nbytes)
        at += lcz.up(nbytes)
    return parts, max((off + nbytes for off, nbytes in parts.values() if nbytes), default=0)


def _static_block(plan: Plan, init_scratch: int) -> list[str]:
    """The static block and a macro per part (NULL for an empty one: C has no empty arrays)."""
    parts, total = static_layout(plan, init_scratch)
    lines = [f"static float static_ram[{total // 4}u] LC_EMIT_ALIGNED;"] if total else []
    for macro, (at, nbytes) in parts.items():
        lines.append(f"#define {macro} {'NULL' if nbytes == 0 else f'(static_ram + {at // 4}u)'}")
    return lines


def _blob_check(name: str, e: Emitter, plan: Plan, size: int) -> list[str]:
    """Init's check that the raw blob is this network's (magic, version, count, size, digest)."""
    macro = name.upper()
    return [
        "    uint32_t version, count;",
        "    uint64_t total;",
        f"    if (!b || weights_bytes != BLOB_BYTES || memcmp(b, \"{blob.MAGIC.decode()}\", 8) != 0) return {macro}_ERR_WEIGHTS;",
        "    memcpy(&version, b + 8, 4);",
        "    memcpy(&count, b + 12, 4);",
        "    memcpy(&total, b + 16, 8);",
        f"    if (version != {blob.VERSION}u || count != {len(e.blob)}u || total != BLOB_BYTES || memcmp(b + 24, DIGEST, 32) != 0)",
        f"        return {macro}_ERR_WEIGHTS;",
    ]


def _lcz_check(name: str, layout: lcz.Layout) -> list[str]:
    """Init's check that the .lcz file is the one emitted with the program (size, version,
    header length and header CRC-32, which covers every record's CRC-32 and the digest)."""
    macro = name.upper()
    magic = "".join(f"\\x{b:02x}" for b in lcz.ctr.MAGIC)
    return [
        "    uint32_t version, header_crc;",
        "    uint64_t header_len;",
        f"    if (!b || weights_bytes != BLOB_BYTES || memcmp(b, \"{magic}\", 8) != 0) return {macro}_ERR_WEIGHTS;",
        "    memcpy(&version, b + 8, 4);",
        "    memcpy(&header_len, b + 12, 8);",
        "    memcpy(&header_crc, b + 20, 4);",
        f"    if (version != {lcz.ctr.VERSION}u || header_len != {layout.header_len}u || header_crc != 0x{layout.header_crc:08x}u)",
        f"        return {macro}_ERR_WEIGHTS;",
    ]


DECODE_FN = """/* Decodes one compressed weight tensor: its codes with kernels_c's decoder, then code x the
 * scale of its output channel (one float32 multiply, as leanconv dequantizes). */
static int decode_weight(int codec, const unsigned char *stream, size_t len, const size_t *shape, size_t ndim,
                         const float *scales, int8_t *codes, float *out, void *ws, size_t ws_bytes) {
    size_t n = 1, inner, c, j, d;
    int rc;
    for (d = 0; d < ndim; ++d) n *= shape[d];
    inner = shape[0] ? n / shape[0] : 0;
    rc = lc_decode(codec, stream, len, shape, ndim, codes, n, ws, ws_bytes);
    if (rc == LC_DEC_E_WORKSPACE) return LC_EMIT_ERR_SIZES;
    if (rc != LC_DEC_OK) return LC_EMIT_ERR_WEIGHTS;
    for (c = 0; c < shape[0]; ++c)
        for (j = 0; j < inner; ++j) out[c * inner + j] = (float)codes[c * inner + j] * scales[c];
    return 0;
}
"""


def _lcz_unpack(packs: list[Pack], layout: lcz.Layout, places: dict[str, lcz.Scratch]) -> list[str]:
    """Init's decode and pack of every compressed tensor, last packed slot first."""
    lines = ["    {", "        int rc;"]
    for p in sorted(packs, key=lambda q: -q.at):
        c, sc = layout.coded[p.weight], places[p.weight]

        def at(offset: int | None, ctype: str) -> str:
            return "NULL" if offset is None else f"({ctype} *)(void *)((unsigned char *)static_ram + {offset}u)"

        ws = "0u" if sc.workspace is None else f"{c.workspace}u"
        floats = at(sc.floats, "float")
        lines += [
            f"        /* {in_comment(p.weight)}: {c.codec}, {c.data_len} bytes */",
            "        {",
            f"            static const size_t shape[{len(c.shape)}] = {{{', '.join(f'{d}u' for d in c.shape)}}};",
            f"            rc = decode_weight(LC_CODEC_{c.codec.upper()}, b + {c.data_at}u, {c.data_len}u, shape, "
            f"{len(c.shape)}u, (const float *)(const void *)(b + {c.scales_at}u), "
            f"{at(sc.codes, 'int8_t')}, {floats}, {at(sc.workspace, 'void')}, {ws});",
            "            if (rc != 0) return rc;",
            f"            {p.call.format(src='(const float *)' + floats)}",
            "        }",
        ]
    return [*lines, "    }"]


def network_c(name: str, plan: Plan, e: Emitter, steps: list[CStep], w_at: list[int], size: int,
              layout: lcz.Layout | None = None, places: dict[str, lcz.Scratch] | None = None,
              init_scratch: int = 0) -> str:
    """The network's C. ``w_at``: byte offset of each blob weight in the weights file;
    ``layout`` and ``places``: an lcz file's layout and where init decodes each tensor."""
    macro = name.upper()
    digest = ", ".join(f"0x{b:02x}" for b in bytes.fromhex(plan.graph.digest))
    w_floats = ", ".join(f"{o // 4}u" for o in w_at) or "0u"
    lines = [
        f"/* {name}: the network \"{in_comment(plan.graph.name)}\" as straight-line calls into the leanconv kernels, one",
        " * thread, emitted from its plan (plan.json). Generated: edit the plan, not this file. */",
        "#include <math.h>", "#include <stdint.h>", "#include <string.h>", "",
        f'#include "{name}.h"', '#include "lc_internal.h"', '#include "lc_ops.h"', '#include "leanconv_kernels.h"',
        *(['#include "lc_decode.h"'] if layout else []), "",
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
        f"#define LC_EMIT_ERR_WEIGHTS {macro}_ERR_WEIGHTS",
        "/* All static memory, [init scratch | arena | workspace | packed weights] (emit.json). */",
        *_static_block(plan, init_scratch),
        "",
        "/* Where each weight tensor the network reads starts in the weights file, in floats. */",
        f"static const size_t W_AT[] = {{{w_floats}}};",
        *([] if layout else [f"static const unsigned char DIGEST[32] = {{{digest}}};"]),
        "static const float *blob;",
        "#define W(i) (blob + W_AT[i])",
        "",
        *_shapes(name, "input", [tuple(plan.tensors[t].shape) for t in plan.inputs]),
        *_shapes(name, "output", [tuple(plan.tensors[t].shape) for t in plan.outputs]),
        "",
    ]
    packs = [p for s in steps for p in s.packs]
    if layout and packs:
        lines += [DECODE_FN]
    for s in steps:
        if s.decls:
            lines += [f"/* {s.comment} */", *s.decls]
    lines += [
        "",
        f"size_t {name}_arena_bytes(void) {{ return ARENA_BYTES; }}",
        f"size_t {name}_workspace_bytes(void) {{ return WORKSPACE_BYTES; }}",
        f"size_t {name}_packed_bytes(void) {{ return PACKED_BYTES; }}",
        f"const float *{name}_packed_weights(void) {{ return PACKED; }}",
        "",
        f"int {name}_init(const void *weights, size_t weights_bytes) {{",
        "    const unsigned char *b = (const unsigned char *)weights;",
        *(_lcz_check(name, layout) if layout else _blob_check(name, e, plan, size)),
        "    blob = (const float *)weights;",
        "    /* this build's kernels fit the plan's packed slots and workspace */",
        *(f"    if ({p.check}) return LC_EMIT_ERR_SIZES;" for p in packs),
    ]
    for s in steps:
        if s.init:
            lines += [f"    /* {s.comment} */", *("    " + x for x in s.init)]
    if layout and packs:
        assert places is not None
        lines += _lcz_unpack(packs, layout, places)
    else:
        lines += [f"    {p.call.format(src=f'W({e.weight_index(p.weight)})')}" for p in packs]
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


def _write_project(folder: Path, name: str, graph: Graph, plan: Plan, weights_mode: str,
                   options: lcz.LczOptions) -> EmitResult:
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
    packs = [p for s in steps for p in s.packs]
    layout, places, init_scratch = None, None, 0
    codecs: dict[str, int] = {}
    if weights_mode == "lcz":
        weights_file = "weights.lcz"
        below = static_layout(plan, 0)[0]["PACKED"][0]
        layout = lcz.write(folder / weights_file, e.blob, {p.weight: below + p.at for p in packs}, plan.graph.digest,
                           options)
        order = [(layout.coded[p.weight], p.at) for p in sorted(packs, key=lambda q: -q.at)]
        places, init_scratch = lcz.place_scratch(order, below)
        w_at = [layout.raw_at.get(w.name, 0) for w in e.blob]
        size = layout.size
        for c in layout.coded.values():
            codecs[c.codec] = codecs.get(c.codec, 0) + 1
    else:
        weights_file = "weights.bin"
        w_at, size = blob.layout(e.blob)
        (folder / weights_file).write_bytes(blob.raw_blob(e.blob, plan.graph.digest))
    ram = static_layout(plan, init_scratch)[1]
    values: dict[str, object] = {
        "NAME": name, "MACRO": name.upper(), "GUARD": f"{name.upper()}_H", "GRAPH": in_comment(plan.graph.name),
        "NUM_INPUTS": len(plan.inputs), "NUM_OUTPUTS": len(plan.outputs), "ARENA": plan.arena_bytes,
        "WORKSPACE": plan.workspace_bytes, "PACKED": plan.packed_bytes, "RAM": ram, "BLOB": size,
        "SCRATCH": init_scratch, "WEIGHTS_FILE": weights_file, "INIT": INIT_DOC[weights_mode],
    }
    (folder / f"{name}.c").write_text(network_c(name, plan, e, steps, w_at, size, layout, places, init_scratch))
    (folder / f"{name}.h").write_text(_render("network.h.in", values))
    (folder / "main.c").write_text(_render("main.c.in", values))
    (folder / "Makefile").write_text(_render("Makefile.in", values))
    kernels = kernels_dir()
    for part in ("include", "src"):
        shutil.copytree(kernels / part, folder / "kernels" / part,
                        ignore=lambda _d, names: [n for n in names if not n.endswith((".c", ".h", ".inc"))])
    (folder / "plan.json").write_text(plan.to_json())
    return EmitResult(path="", name=name, steps=len(plan.steps), arena_bytes=plan.arena_bytes,
                      workspace_bytes=plan.workspace_bytes, packed_bytes=plan.packed_bytes,
                      init_scratch_bytes=init_scratch, ram_bytes=ram, weights_bytes=size, weights=weights_mode,
                      weights_file=weights_file, codecs=codecs)


#: What the header says ``<name>_init`` does, per weights mode.
INIT_DOC = {
    "raw": """/* Checks the weights file (weights.bin, float32) and packs the conv weights into static memory. The
 * file is read in place by @NAME@_run (biases, linear weights): keep it alive, e.g. in flash. Its
 * address must be 4-byte aligned. Init needs no scratch memory. */""",
    "lcz": """/* Checks the weights file (weights.lcz, an .lcz container), decodes each compressed conv weight
 * with kernels_c's C decoders, dequantizes it and packs it into static memory. Its scratch is the
 * arena, the workspace and the part of the packed buffer not yet filled (all unused before the
 * first run), plus @MACRO@_INIT_SCRATCH_BYTES of its own (0: none). The file's raw tensors
 * (biases, linear weights) are read in place by @NAME@_run: keep it alive, e.g. in flash. Its
 * address must be 4-byte aligned. */""",
}


def emit(graph: Graph, out: str | os.PathLike[str], *, plan: Plan | None = None, weights: str = "raw",
         force: bool = False, name: str | None = None, lcz_options: lcz.LczOptions | None = None) -> EmitResult:
    """Writes the C project of ``graph`` run by ``plan`` (the default planner's for one thread
    when None) into the folder ``out``. ``weights``: ``"raw"`` (float32) or ``"lcz"`` (the
    packed weights compressed as ``lcz_options`` says, default 8 bits, no pruning; decoded at
    init). LeanconvError for an existing ``out`` without ``force``, an unknown weights mode or
    a name that is not a C identifier; PlanError for a plan that does not fit the graph;
    UnsupportedOpError for a kernel the emitter has no C call for. Nothing is left under
    ``out`` on an error."""
    blob.check_weights_mode(weights)
    if lcz_options is not None and weights != "lcz":
        raise LeanconvError("compression options apply to --weights lcz only")
    options = lcz_options or lcz.LczOptions()
    options.check()
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
        result = _write_project(tmp, cname, graph, plan, weights, options)
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

