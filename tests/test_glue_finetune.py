"""Every GLUE task trains a few steps and evaluates from its original TSV files (tiny model); predictions are written
as the leaderboard expects; the saved checkpoint carries the label names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from litebert import AlbertConfig, AlbertForSequenceClassification
from litebert.finetune.glue import TASKS, GlueDataError, glue, task_columns

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory) -> Path:
    """The distribution's layout: the real folders, and the MNLI/QQP format samples under their real names."""
    d = tmp_path_factory.mktemp("glue")
    for folder in ("CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI"):
        (d / folder).symlink_to(DATA / "glue" / folder)
    shutil.copytree(DATA / "glue" / "MNLI_sample", d / "MNLI")
    shutil.copytree(DATA / "glue" / "QQP_sample", d / "QQP")
    return d


@pytest.mark.parametrize("task", ["cola", "sst-2", "mrpc", "sts-b", "rte", "wnli", "mnli", "qqp"])
def test_every_task_trains_and_evaluates_from_its_tsv_files(tmp_path, pretrained, glue_dir, task):
    steps = 4
    report = glue(task=task, data_dir=str(glue_dir), model=str(pretrained), output=str(tmp_path),
                  train_steps=steps, eval_every=2, batch_size=4, device="cpu", progress=False)
    t = TASKS[task]
    history = report["train"]["history"]
    assert [h["step"] for h in history] == [2, 4]
    keys = {"accuracy": {"accuracy"}, "f1_accuracy": {"f1", "accuracy"}, "mcc": {"mcc", "accuracy"},
            "pearson_spearman": {"pearson", "spearmanr"}}[t.metric]
    assert keys <= set(report["eval"]["best_dev/dev"]) and keys <= set(report["eval"]["last/dev"])
    if task == "mnli":
        assert "best_dev/dev_mismatched" in report["eval"]
    saved = AlbertForSequenceClassification.from_pretrained(tmp_path / "best")
    if t.labels:
        assert list(saved.config.id2label.values()) == list(t.labels)
    else:
        assert saved.config.problem_type == "regression" and saved.config.num_labels == 1
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert "best_dev (selected on dev: optimistic)" in results and "last" in results


def test_predict_writes_leaderboard_files(tmp_path, pretrained, glue_dir):
    glue(task="mrpc", data_dir=str(glue_dir), model=str(pretrained), output=str(tmp_path), train_steps=2,
         eval_every=2, batch_size=4, do_predict=True, device="cpu", progress=False)
    lines = (tmp_path / "submission" / "MRPC.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 1 + 1725
    assert {line.split("\t")[1] for line in lines[1:]} <= {"0", "1"}
    assert [line.split("\t")[0] for line in lines[1:4]] == ["0", "1", "2"]
    # a task without test.tsv (RTE here) is refused before any training, not after it
    with pytest.raises(GlueDataError, match="RTE/test.tsv"):
        glue(task="rte", data_dir=str(glue_dir), model=str(pretrained), output=str(tmp_path / "rte"), train_steps=2,
             eval_every=2, batch_size=4, do_predict=True, device="cpu", progress=False)
    assert not (tmp_path / "rte").exists()


def test_eval_only_scores_a_finetuned_checkpoint_on_qnli_dev(tmp_path, pretrained):
    """QNLI ships dev only here: --do_train false scores a fine-tuned checkpoint on the real dev file."""
    clf_dir = tmp_path / "clf"
    torch.manual_seed(0)
    config = AlbertConfig.from_preset("tiny", vocab_size=30000, num_labels=2,
                                      id2label={0: "entailment", 1: "not_entailment"})
    AlbertForSequenceClassification(config).save_pretrained(clf_dir)
    shutil.copy(pretrained / "spiece.model", clf_dir / "spiece.model")
    glue_dir = tmp_path / "glue"
    glue_dir.mkdir()
    (glue_dir / "QNLI").symlink_to(DATA / "glue" / "QNLI")
    report = glue(task="qnli", data_dir=str(glue_dir), model=str(clf_dir), output=str(tmp_path / "out"),
                  do_train=False, device="cpu", progress=False)
    acc = report["eval"]["model/dev"]["accuracy"]
    assert 0.3 < acc < 0.7  # an untrained classifier on a balanced dev set of 5,463 pairs
    # the same classifier saved elsewhere with its labels in the other order (rows swapped, names swapped): the
    # columns are matched by name, so the score is the same; unknown names are refused
    swapped = AlbertForSequenceClassification.from_pretrained(clf_dir)
    with torch.no_grad():
        swapped.classifier.weight.copy_(swapped.classifier.weight.flip(0))
        swapped.classifier.bias.copy_(swapped.classifier.bias.flip(0))
    swapped.config.id2label = {0: "NOT_ENTAILMENT", 1: "ENTAILMENT"}
    swapped.save_pretrained(tmp_path / "swapped")
    shutil.copy(pretrained / "spiece.model", tmp_path / "swapped" / "spiece.model")
    again = glue(task="qnli", data_dir=str(glue_dir), model=str(tmp_path / "swapped"), output=str(tmp_path / "out2"),
                 do_train=False, device="cpu", progress=False)
    assert again["eval"]["model/dev"]["accuracy"] == acc
    assert task_columns(swapped.config, ["entailment", "not_entailment"], "qnli", "x") == [1, 0]
    swapped.config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    assert task_columns(swapped.config, ["entailment", "not_entailment"], "qnli", "x") == [0, 1]
    swapped.config.id2label = {0: "POSITIVE", 1: "NEGATIVE"}
    assert task_columns(swapped.config, ["0", "1"], "sst-2", "x") == [1, 0]  # 0 = negative in SST-2
    with pytest.raises(GlueDataError, match=r"ckpt: the checkpoint's labels \['POSITIVE', 'NEGATIVE'\] are not"):
        task_columns(swapped.config, ["entailment", "not_entailment"], "qnli", "ckpt")
    with pytest.raises(GlueDataError, match="the checkpoint has 2 labels"):
        task_columns(swapped.config, ["contradiction", "entailment", "neutral"], "mnli", "ckpt")
