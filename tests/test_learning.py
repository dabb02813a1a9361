"""Learning on real text, end to end with the real commands: `tokenizer train` -> `data create` -> `pretrain` with the
tiny recipe. The full run (held-out MLM accuracy >= 3x the most-frequent-token baseline, issue 5's goal) takes
under 10 minutes on 2 CPU cores with bf16 units, so it is opt-in: `pytest -m slow tests/test_learning.py`.
CI runs the quick version: the same pipeline for a few dozen steps (bf16 autocast as the recipe, without
torch.compile, whose C++ build a CI box may lack), checking that the losses fall from their chance values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "pretrain_text"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/data not present")


def _litebert(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "litebert", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _pipeline(tmp: Path, files: list[str], vocab: int, pretrain_args: list[str]) -> list[dict]:
    _litebert("tokenizer", "train", "--input", *files, "--vocab-size", str(vocab), "--output", str(tmp / "tok"))
    _litebert("data", "create", "--input", *files, "--tokenizer", str(tmp / "tok"), "--output", str(tmp / "data"),
              "--max_seq_length", "64", "--max_predictions_per_seq", "10", "--dupe_factor", "1", "--strip_gutenberg", "true", "--workers", "2",
              "--chunk_chars", "400000")
    _litebert("pretrain", "--config", str(ROOT / "configs" / "pretrain" / "tiny.yaml"), "--data.train_dir",
              str(tmp / "data"), "--train.out_dir", str(tmp / "run"), "--train.progress", "false", *pretrain_args)
    return [json.loads(x) for x in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]


def test_quick_pipeline_learns_the_unigram_statistics(tmp_path):
    files = [str(p) for p in sorted((CORPUS / "gutenberg").glob("PG*.txt.xz"))[:4]]
    rows = _pipeline(tmp_path, files, 2000, ["--train.max_steps", "60", "--train.eval_every", "60", "--optim.warmup_steps", "10",
                                            "--train.eval_steps", "4", "--train.save_every", "0",
                                            "--train.compile", "false"])
    first, last = rows[0], rows[-1]
    assert first["masked_lm_loss"] > 7.0  # ~ln(2000) = 7.6 at init
    assert last["eval/masked_lm_loss"] < first["masked_lm_loss"] - 1.0
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


@pytest.mark.slow
def test_tiny_recipe_learns_well_beyond_the_majority_baseline(tmp_path):
    order = ["wikitext-2-raw", "nltk_inaugural", "nltk_state_union", "tinyshakespeare", "nltk_gutenberg", "gutenberg"]
    files = [str(p) for d in order for p in sorted((CORPUS / d).glob("*.xz"))]
    rows = _pipeline(tmp_path, files, 8000, [])
    evals = [r for r in rows if "eval/masked_lm_accuracy" in r]
    last = evals[-1]
    # measured 2026-11-24 (docs/pretraining.md): 3.08x in 9 min 29 s on 2 CPU cores (bf16 autocast + torch.compile)
    assert last["eval/masked_lm_accuracy"] >= 3.0 * last["eval/masked_lm_majority_baseline"], last
