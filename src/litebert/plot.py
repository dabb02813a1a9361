"""`litebert plot RUN_DIR`: training curves (losses, accuracies, learning rate) from a run's metrics.jsonl to a PNG."""

from __future__ import annotations

import json
from pathlib import Path


class PlotError(ValueError):
    """The run directory has no usable metrics, or matplotlib is missing."""


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise PlotError(f"{run_dir}: no metrics.jsonl (not a litebert run directory?)")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise PlotError(f"{path}:{lineno}: not JSON ({e.msg})") from None
    if not rows:
        raise PlotError(f"{path}: empty")
    return rows


def _smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= k:
            acc -= values[i - k]
        out.append(acc / min(i + 1, k))
    return out


def plot(run_dir: str, *, output: str | None = None, title: str | None = None, smooth: int = 20) -> str:
    """Plot a run's training curves to a PNG.

    Example:
        litebert plot runs/tiny --output docs/tiny.png

    Args:
        run_dir: A directory written by `litebert pretrain` (reads its metrics.jsonl).
        output: PNG path (default RUN_DIR/curves.png).
        title: Figure title (default: the run directory).
        smooth: Moving-average window for the per-step training losses.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("plotting needs matplotlib: pip install 'litebert[plot]'") from None
    if smooth < 1:
        raise PlotError(f"--smooth {smooth}: the moving-average window must be at least 1 (1: no smoothing)")
    out = Path(output) if output else Path(run_dir) / "curves.png"
    if out.is_dir():
        raise PlotError(f"--output {out} is a directory, expected the PNG file to write (e.g. {out / 'curves.png'})")
    rows = read_metrics(run_dir)
    steps = [r["step"] for r in rows]
    evals = [r for r in rows if "eval/masked_lm_accuracy" in r]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    for key, label in (("masked_lm_loss", "train MLM loss"), ("sentence_order_loss", "train SOP loss")):
        if key in rows[0]:
            ax.plot(steps, _smooth([r[key] for r in rows], smooth), label=label, lw=1)
    for key, label in (("eval/masked_lm_loss", "eval MLM loss"), ("eval/sentence_order_loss", "eval SOP loss")):
        if evals:
            ax.plot([r["step"] for r in evals], [r[key] for r in evals], "o-", label=label, ms=3)
    ax.set(xlabel="step", ylabel="loss", title="losses")
    ax.legend()
    ax = axes[1]
    if evals:
        e_steps = [r["step"] for r in evals]
        ax.plot(e_steps, [r["eval/masked_lm_accuracy"] for r in evals], "o-", label="MLM accuracy", ms=3)
        ax.plot(e_steps, [r["eval/sentence_order_accuracy"] for r in evals], "o-", label="SOP accuracy", ms=3)
        if "eval/masked_lm_majority_baseline" in evals[0]:
            base = evals[-1]["eval/masked_lm_majority_baseline"]
            ax.axhline(base, ls="--", c="gray", lw=1, label=f"most frequent token ({base:.3f})")
            ax.axhline(3 * base, ls=":", c="gray", lw=1, label="3x that")
        ax.axhline(0.5, ls="--", c="tab:orange", lw=0.8, alpha=0.6, label="SOP chance")
    ax.set(xlabel="step", ylabel="accuracy (held out)", title="evaluation", ylim=(0, 1))
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(steps, [r["lr"] for r in rows], lw=1)
    ax.set(xlabel="step", ylabel="learning rate", title="schedule")
    fig.suptitle(title or str(run_dir))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    print(out)
    return str(out)
