"""PNG plots of latency curves: samples, plateaus, confirmed steps and the chosen count."""

from __future__ import annotations

from pathlib import Path

from leanconv.prune.curves import Curve


def plot_curve(curve: Curve, path: str | Path, chosen: int | None = None, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    counts = sorted(curve.points)
    ax.plot(counts, [curve.points[c] * 1e6 for c in counts], ".", color="0.5", label="samples")
    for first, last, t in curve.plateaus():
        ax.hlines(t * 1e6, first, last, color="tab:blue", linewidth=2)
    for i, (a, b) in enumerate(curve.steps):
        ax.axvline((a + b) / 2, color="tab:red", linestyle=":", linewidth=1, label="step" if i == 0 else None)
    if chosen is not None:
        ax.plot([chosen], [curve.latency(chosen) * 1e6], "o", color="tab:green", markersize=8, label=f"chosen: {chosen}")
    ax.set_xlabel("channels")
    ax.set_ylabel("latency (µs)")
    ax.set_title(title or curve.group)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
