"""`litebert plot`: a PNG from a run's metrics.jsonl; clear errors for directories that are not runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from litebert.plot import PlotError, plot


def test_plot_writes_a_png(tmp_path):
    rows = [{"step": s, "lr": 1e-3 * min(1, s / 10), "loss": 9 - s / 50, "masked_lm_loss": 8.5 - s / 50,
             "sentence_order_loss": 0.69 - s / 1000} for s in range(1, 101)]
    for r in rows[19::20]:
        r.update({"eval/masked_lm_accuracy": r["step"] / 400, "eval/masked_lm_loss": 8 - r["step"] / 40,
                  "eval/sentence_order_accuracy": 0.5 + r["step"] / 1000, "eval/sentence_order_loss": 0.69,
                  "eval/masked_lm_majority_baseline": 0.09})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = plot(str(tmp_path), output=str(tmp_path / "c.png"))
    data = (tmp_path / "c.png").read_bytes()
    assert out.endswith("c.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_errors_name_the_problem(tmp_path):
    with pytest.raises(PlotError, match="no metrics.jsonl"):
        plot(str(tmp_path))
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n')
    with pytest.raises(PlotError, match=r"metrics.jsonl:2: not JSON"):
        plot(str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "litebert", "plot", str(tmp_path / "nope")], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "no metrics.jsonl" in proc.stderr and "Traceback" not in proc.stderr
