"""GLUE readers on the real distribution files, the official metrics against hand computations, bad input."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from litebert.finetune import metrics
from litebert.finetune.glue import TASKS, GlueDataError, read_split

GLUE = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
pytestmark = pytest.mark.skipif(not GLUE.is_dir(), reason="../shared/data not present")

# official example counts (GLUE paper / the distribution)
COUNTS = {("cola", "train"): 8551, ("cola", "dev"): 1043, ("sst-2", "train"): 67349, ("sst-2", "dev"): 872,
          ("mrpc", "train"): 3668, ("mrpc", "dev"): 408, ("mrpc", "test"): 1725, ("sts-b", "train"): 5749,
          ("sts-b", "dev"): 1500, ("qnli", "dev"): 5463, ("rte", "train"): 2490, ("rte", "dev"): 277,
          ("wnli", "train"): 635, ("wnli", "dev"): 71}


@pytest.mark.parametrize("task,split", list(COUNTS), ids=[f"{t}-{s}" for t, s in COUNTS])
def test_real_files_read_with_the_official_counts(task, split):
    examples = read_split(task, GLUE, split)
    assert len(examples) == COUNTS[task, split]
    t = TASKS[task]
    assert all(e.text_a for e in examples)
    assert all((e.text_b is not None) == (t.text_b is not None) for e in examples)
    if split != "test":
        labels = {e.label for e in examples}
        assert labels <= set(t.labels) if t.labels else all(0 <= float(x) <= 5 for x in labels)
    else:
        assert all(e.label is None for e in examples)


def test_mnli_and_qqp_samples_in_the_distribution_layout(tmp_path):
    shutil.copytree(GLUE / "MNLI_sample", tmp_path / "MNLI")
    shutil.copytree(GLUE / "QQP_sample", tmp_path / "QQP")
    for split in ("train", "dev", "dev_mismatched"):
        ex = read_split("mnli", tmp_path, split)
        assert ex and {e.label for e in ex} <= {"contradiction", "entailment", "neutral"}
    assert {e.label for e in read_split("qqp", tmp_path, "dev")} <= {"0", "1"}
    assert read_split("mrpc", GLUE, "dev")[0].text_b.startswith('"The foodservice')  # unbalanced quote kept as is


def test_bad_files_name_the_file_line_and_problem(tmp_path):
    (tmp_path / "RTE").mkdir()
    dev = tmp_path / "RTE" / "dev.tsv"
    dev.write_text("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tA.\tB.\n")
    with pytest.raises(GlueDataError, match=r"RTE/dev.tsv:3: 3 columns, expected 4"):
        read_split("rte", tmp_path, "dev")
    dev.write_text("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tmaybe\n")
    with pytest.raises(GlueDataError, match=r"dev.tsv:2: label 'maybe' is not one of"):
        read_split("rte", tmp_path, "dev")
    dev.write_text("")
    with pytest.raises(GlueDataError, match="empty file"):
        read_split("rte", tmp_path, "dev")
    dev.write_text("index\tpremise\thypothesis\tlabel\n")
    with pytest.raises(GlueDataError, match="no text column 'sentence1'"):
        read_split("rte", tmp_path, "dev")
    with pytest.raises(GlueDataError, match="not found"):
        read_split("rte", tmp_path, "train")
    with pytest.raises(GlueDataError, match="no 'dev' split"):
        read_split("ax", tmp_path, "dev")


def test_every_task_has_its_original_hyper_parameters():
    assert set(TASKS) == {"cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "qnli", "rte", "wnli", "ax"}
    row = {t: (TASKS[t].warmup_steps, TASKS[t].lr, TASKS[t].train_steps, TASKS[t].batch_size) for t in TASKS}
    assert row["sst-2"] == (1256, 1e-5, 20935, 32) and row["mnli"] == (1000, 3e-5, 10000, 128)
    assert row["cola"] == (320, 1e-5, 5336, 16) and row["qnli"] == (1986, 1e-5, 33112, 32)
    assert row["qqp"] == (1000, 5e-5, 14000, 128) and row["sts-b"] == (214, 2e-5, 3598, 16)
    assert row["rte"] == (200, 3e-5, 800, 32) and row["mrpc"] == (200, 2e-5, 800, 32)


def test_metrics_against_hand_computations():
    p, y = [1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1]
    tp, fp, fn, tn = 3, 1, 1, 1
    assert metrics.accuracy(p, y) == pytest.approx(4 / 6)
    assert metrics.f1(p, y) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert metrics.matthews(p, y) == pytest.approx(mcc)
    a, b = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0]
    ma, mb = sum(a) / 4, sum(b) / 4
    pearson = sum((x - ma) * (z - mb) for x, z in zip(a, b)) / math.sqrt(
        sum((x - ma) ** 2 for x in a) * sum((z - mb) ** 2 for z in b))
    ranks_b = [1, 3, 2, 4]
    spearman = 1 - 6 * sum((i + 1 - r) ** 2 for i, r in enumerate(ranks_b)) / (4 * (16 - 1))
    got = metrics.pearson_spearman(a, b)
    assert got["pearson"] == pytest.approx(pearson) and got["spearmanr"] == pytest.approx(spearman)
    assert metrics.compute("f1_accuracy", p, y)["main"] == pytest.approx((metrics.f1(p, y) + 4 / 6) / 2)
    with pytest.raises(ValueError, match="predictions for"):
        metrics.compute("accuracy", [1], [1, 0])


@pytest.mark.parametrize("score,problem", [("nan", "is not a finite number"), ("inf", "is not a finite number"),
                                           ("7.5", "is outside sts-b's range [0, 5]"),
                                           ("-0.5", "is outside sts-b's range [0, 5]")])
def test_stsb_scores_must_be_finite_and_within_0_to_5(tmp_path, score, problem):
    """A nan score used to surface as a non-finite loss at some step (train) or "pearson": NaN (dev)."""
    (tmp_path / "STS-B").mkdir()
    rows = (GLUE / "STS-B" / "dev.tsv").read_text(encoding="utf-8").splitlines()[:6]
    cells = rows[3].split("\t")
    rows[3] = "\t".join([*cells[:-1], score])
    for split in ("train", "dev"):
        (tmp_path / "STS-B" / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        with pytest.raises(GlueDataError, match=rf"STS-B/{split}.tsv:4: score '{score}' {re.escape(problem)}"):
            read_split("sts-b", tmp_path, split)
    rows[3] = "\t".join([*cells[:-1], "5.000"])  # the ends of the range are scores
    (tmp_path / "STS-B" / "dev.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert len(read_split("sts-b", tmp_path, "dev")) == 5
