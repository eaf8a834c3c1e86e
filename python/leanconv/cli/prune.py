"""`leanconv prune MODEL`: performance-aware channel pruning for one backend, verified end to
end: a table of the groups and their chosen widths, PNG curves, the pruned model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.inspect import parse_shape
from leanconv.cli.output import err_console, print_json, results_console

DEFAULT_CACHE = Path.home() / ".cache" / "leanconv" / "prune-latency.jsonl"


def plan_table(plan: Any, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col, justify in (("group", "left"), ("channels", "right"), ("kept", "right"), ("steps", "right"),
                         ("µs at full width", "right"), ("µs kept", "right"), ("fast ends", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, count in plan.counts.items():
        curve = plan.curves[name]
        ends = ", ".join(str(c) for c, _ in curve.candidates()[-6:])
        table.add_row(name, str(plan.channels[name]), str(count), str(len(curve.steps)),
                      f"{curve.latency(curve.channels) * 1e6:.1f}", f"{curve.latency(count) * 1e6:.1f}", ends)
    return table


@command
def prune(
    model: Annotated[str, typer.Argument(help="default, efficientnet-lite0, a torchvision model name, or a "
                                              "torch.save'd nn.Module file")],
    backend: Annotated[str, typer.Option("--backend", "-b", help="leanconv, torch, torch-nhwc or ort")] = "leanconv",
    target_latency: Annotated[str, typer.Option(
        "--target-latency", "-t", help="a ratio of the unpruned latency (0.6x) or a time (12ms)")] = "0.7x",
    target_macs: Annotated[str | None, typer.Option(
        "--target-macs", help="plan for a ratio of the unpruned MACs instead (0.5x)")] = None,
    importance: Annotated[str, typer.Option("--importance", help="l1, l2, bn (taylor: API only)")] = "l1",
    min_channels: Annotated[int, typer.Option("--min-channels", help="no group narrower than this")] = 1,
    threads: Annotated[int, typer.Option("--threads", help="threads of the backend")] = 1,
    clock: Annotated[str, typer.Option("--clock", help="wall (elapsed time), or cpu (the process's CPU time: "
                                                       "steadier on a busy machine, one thread only)")] = "wall",
    input_shape: Annotated[str | None, typer.Option("--input-shape", help="e.g. 1,3,224,224")] = None,
    cache: Annotated[Path, typer.Option("--cache", help="layer latency cache (JSON lines)")] = DEFAULT_CACHE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="save the pruned nn.Module here")] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="folder for one PNG curve per group")] = None,
    fine_tune: Annotated[Path | None, typer.Option(
        "--fine-tune", help="a Python file defining loader() (and optionally loss_fn, evaluate): "
                            "the pruned model is tuned on its batches before it is saved")] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="fine-tuning passes over loader()")] = 1,
    lr: Annotated[float, typer.Option("--lr", help="fine-tuning learning rate (AdamW)")] = 1e-3,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="measure the pruned model end to end")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="print the plan and verification as JSON")] = False,
) -> None:
    """Prune channels to the fast side of each latency step, within a latency or MAC target."""
    import torch

    from leanconv.prune.api import analyze, apply, parse_target, plan_analysis
    from leanconv.prune.api import verify as do_verify
    from leanconv.prune.backends import make_backend
    from leanconv.prune.errors import PlanRefusedError
    from leanconv.prune.models import load_module
    from leanconv.prune.plots import plot_curve
    from leanconv.prune.script import load_script
    from leanconv.prune.surgery import fine_tune as tune

    parse_target(target_macs or target_latency)  # a bad target fails before anything is measured
    make_backend(backend, threads, clock)  # and so does a bad backend, thread count or clock
    script = load_script(fine_tune) if fine_tune is not None else None  # a broken script fails first too
    with err_console.status(f"loading {model}..."):
        module, example = load_module(model, parse_shape(input_shape))
    with Progress(TextColumn("[bold]measuring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err_console, transient=True) as prog:
        task = prog.add_task("", total=None)

        def tick(what: str, done: int, total: int) -> None:
            prog.update(task, completed=done, total=total, description=what)

        analysis = analyze(module, example, backend, threads=threads, clock=clock, importance=importance, cache=cache,
                           progress=tick)
    if target_macs is not None:
        plan = plan_analysis(analysis, target_macs, "macs", min_channels)
    else:
        plan = plan_analysis(analysis, target_latency, "latency", min_channels)
    pruned = apply(module, example, plan)
    report: dict[str, Any] = {"model": model, "plan": plan.to_json()}
    console = results_console()
    title = (f"{model} on {plan.backend}: predicted {plan.predicted_latency * 1e3:.3f} ms of "
             f"{plan.unpruned_latency * 1e3:.3f} ms, MACs {plan.macs:,} of {plan.unpruned_macs:,}")
    if not json_output:
        console.print(plan_table(plan, title))
    if plots is not None:
        report["plots"] = [str(plot_curve(plan.curves[g], plots / f"{g.replace('.', '_')}.png", c,
                                          f"{model} {g} on {plan.backend}")) for g, c in plan.counts.items()]
    if verify:
        try:
            with err_console.status("measuring the pruned model end to end..."):
                result = do_verify(module, pruned, example, plan)
        except PlanRefusedError as e:
            if json_output:
                print_json({**report, "refused": e.report})
            raise
        report["verification"] = result.to_json()
        if not json_output:
            console.print(f"measured: pruned {result.pruned_latency * 1e3:.3f} ms, unpruned "
                          f"{result.unpruned_latency * 1e3:.3f} ms ({result.unpruned_latency / result.pruned_latency:.2f}x "
                          f"faster; predicted {result.predicted_latency * 1e3:.3f} ms)")
    if script is not None:
        score = script.evaluate
        tuned: dict[str, Any] = {"script": str(script.path), "epochs": epochs}
        if score is not None:
            tuned["score_before"] = float(score(pruned))
        with err_console.status(f"fine-tuning for {epochs} epoch(s)..."):
            kwargs: dict[str, Any] = {} if script.loss_fn is None else {"loss_fn": script.loss_fn}
            pruned = tune(pruned, script.loader(), epochs=epochs, lr=lr, **kwargs)
        if score is not None:
            tuned["score_after"] = float(score(pruned))
            pruned.eval()  # the user's evaluate may have left it training
        report["fine_tune"] = tuned
        if not json_output:
            scores = (f": score {tuned['score_before']:.4g} -> {tuned['score_after']:.4g}"
                      if score is not None else "")
            console.print(f"fine-tuned {epochs} epoch(s) with {script.path}{scores}")
    if output is not None:
        torch.save(pruned, output)
        report["output"] = str(output)
        if not json_output:
            console.print(f"wrote [bold]{output}[/]")
    if json_output:
        print_json(report)
