"""Smoke test of the pretraining-throughput benchmark on CPU (tiny sizes): both systems run the same batch and the
script prints a row per system and the table for docs/benchmarks.md. The numbers themselves come from a GPU run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pretrain_throughput as P  # noqa: E402


def test_pretrain_throughput_runs_both_systems_on_cpu():
    pytest.importorskip("transformers")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pretrain_throughput.py"), "--cases", "tiny:32:4",
                           "--steps", "2", "--warmup", "1", "--device", "cpu", "--precision", "fp32"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith('{"system"')]
    assert [r["system"] for r in rows] == ["litebert", "transformers"]
    # seq_per_s is rounded to 0.1 (a slow CPU step makes that more than 1% of it): compare within that rounding
    assert all(r["seq_per_s"] > 0 and r["tok_per_s"] == pytest.approx(r["seq_per_s"] * 32, rel=0.01, abs=0.05 * 32 + 1)
               for r in rows)
    assert "| tiny | 32 | 4 | litebert |" in proc.stdout and "| tiny | 32 | 4 | transformers |" in proc.stdout


def test_benchmark_batch_is_the_same_task_for_both_systems():
    b = P.make_batch(1000, 3, 16, 4, torch.device("cpu"))
    assert b["masked_positions"].shape == (3, 4)
    assert all(len(set(r.tolist())) == 4 for r in b["masked_positions"])  # distinct positions
    assert (b["masked_positions"] > 0).all() and (b["masked_positions"] < 15).all()  # never [CLS]/last
    # transformers' dense labels hold exactly litebert's (position, label) pairs
    dense = b["dense_labels"]
    assert (dense != -100).sum() == 12
    assert torch.equal(dense.gather(1, b["masked_positions"]), b["masked_labels"])
    assert torch.equal(b["masked_labels"], b["input_ids"].gather(1, b["masked_positions"]))


def test_executed_flops_count_each_matmul_the_step_runs():
    """executed_flops_per_token against the step's matmuls listed one by one (multiply-adds x 2 forward, x 3 for
    forward + backward): albert-base at seq 128 with 20 predictions, the last block on [CLS] + 20 rows (what litebert
    runs) and on all 128 (the formula of performance-anchors.md section 4)."""
    from litebert import AlbertConfig
    from litebert.model import estimate_flops_per_token

    c = AlbertConfig.from_preset("albert-base-v2")
    h, f, E, V, L, s, p = 768, 3072, 128, 30000, 12, 128, 20

    def listed(last_rows):
        def block(rows):  # QKV on every token; the queries' attention, output projection and FFN on `rows`
            return s * h * 3 * h + 2 * rows * s * h + rows * h * h + 2 * rows * h * f
        macs = s * E * h + (L - 1) * block(s) + block(last_rows) + p * (h * E + E * V)
        return 3 * 2 * macs / s

    assert P.executed_flops_per_token(c, s, p, s) == pytest.approx(estimate_flops_per_token(c, s, p), rel=1e-12)
    assert P.executed_flops_per_token(c, s, p, s) == pytest.approx(listed(s), rel=1e-12)
    assert P.executed_flops_per_token(c, s, p, p + 1) == pytest.approx(listed(p + 1), rel=1e-12)
    saved = 1 - listed(p + 1) / listed(s)
    assert 0.05 < saved < 0.055  # what the subset last block saves albert-base at seq 128


def test_finetune_throughput_runs_every_recipe_on_cpu():
    """All five recipes (transformers pad-128; litebert pad-128, length-grouped, unpadded, compiled) on real MRPC
    training pairs with a tiny model: each prints a positive rate."""
    pytest.importorskip("transformers")
    if not (ROOT.parent / "shared" / "data" / "glue").is_dir():
        pytest.skip("needs ../shared/data")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "finetune_throughput.py"), "--task", "mrpc",
                           "--config", "tiny", "--steps", "2", "--warmup", "1", "--compile_warmup", "3",
                           "--precision", "fp32", "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| transformers") or
            line.startswith("| litebert")]
    assert len(rows) == 5 and "`--compile default`" in rows[-1]
    assert all(float(r.split("|")[2]) > 0 for r in rows)


def test_embed_throughput_runs_both_systems_on_cpu():
    """The inference benchmark end to end on 64 real SST-2 sentences (small model, CPU): both systems give the same
    vectors and a positive rate."""
    pytest.importorskip("transformers")
    if not (ROOT.parent / "shared" / "data" / "glue").is_dir():
        pytest.skip("needs ../shared/data")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "embed_throughput.py"), "--config", "small",
                           "--device", "cpu", "--precision", "fp32", "--limit", "64", "--batch", "16"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("{")))
    assert row["sentences"] == 64 and row["mean_cosine_agreement"] > 0.9999
    assert row["transformers_sent_per_s"] > 0 and row["litebert_sent_per_s"] > 0
    assert "| small | 64 (" in proc.stdout


def test_profile_step_and_step_variants_run_on_cpu():
    """The two diagnostic scripts behind docs/benchmarks.md's H100 profile and experiments run end to end (tiny, CPU):
    profile_step prints the step's time split by kernel kind; step_variants a row per variant."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--size", "tiny", "--seq", "32",
                           "--batch", "4", "--device", "cpu", "--precision", "fp32", "--steps", "2", "--warmup", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ms/step" in proc.stdout and "matmul" in proc.stdout and "top 25 kernels" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_variants.py"), "--cases", "tiny:32:4",
                           "--variants", "baseline,fp32_residual,full_last_layer,loss_in_graph", "--device", "cpu",
                           "--precision", "bf16", "--inductor", "split_reductions=False",
                           "--steps", "2", "--warmup", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert [r["variant"] for r in rows] == ["baseline", "fp32_residual", "full_last_layer", "loss_in_graph"]
    assert all(r["step_ms"] > 0 and "error" not in r for r in rows)
    # the last block on [CLS] + 20 of 32 positions (loss_in_graph only): fewer FLOPs run than the formula counts
    assert [r["executed_share"] < 1 for r in rows] == [False, False, False, True]
    assert all(r["inductor"] == {"split_reductions": False} for r in rows)
    # a setting this torch does not have is named, before anything compiles
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_variants.py"), "--device", "cpu",
                           "--inductor", "triton.no_such_setting=1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no Inductor setting 'triton.no_such_setting'" in proc.stderr


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="torch.compile needs a C compiler")
def test_bytes_moved_counts_less_for_the_bf16_residual_stream():
    """bytes_moved.py compiles the step twice per residual policy and reads Inductor's byte counts: the bf16 stream
    (litebert's default) moves fewer bytes through the non-matmul kernels than CUDA autocast's fp32 one, with the
    same matmuls."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bytes_moved.py"), "--size", "tiny", "--seq", "32",
                           "--batch", "8", "--small-batches", "2,3"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["residual"]: r for r in map(json.loads, (x for x in proc.stdout.splitlines() if x.startswith("{")))}
    assert set(rows) == {"fp32", "bf16"}
    assert 0 < rows["bf16"]["generated_MB"] < 0.95 * rows["fp32"]["generated_MB"]
    assert rows["bf16"]["forward_extern_kernels"] == rows["fp32"]["forward_extern_kernels"]
    assert "generated-kernel bytes per step: fp32" in proc.stdout
