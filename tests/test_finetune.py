"""The shared fine-tuning loop and `litebert finetune` on users' own files: CSV/TSV/JSONL classification, multi-label
and regression, CoNLL tagging with seqeval F1; label names in the checkpoint; errors that name file and line;
gradient accumulation and 2-process gloo equal to one big batch; exact resume; several seeds; NaN stops the run."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from litebert import AlbertForPreTraining, AlbertForSequenceClassification, AlbertForTokenClassification
from litebert import training as T
from litebert.finetune import metrics as M
from litebert.finetune import sequence as S
from litebert.finetune.custom import (FinetuneDataError, Row, Sentence, encode_tagged, finetune, infer_problem,
                                      read_conll, read_rows)
from litebert.finetune.glue import GlueDataError, glue
from litebert.finetune.trainer import ENCODER_PAD_VALUES, FinetuneArgs, FinetuneError, finetune_loop, pad_batch
from litebert.pipelines import Classify
from litebert.tokenizer import load_tokenizer
from conftest import make_pretrained

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


def _sst2(n: int, start: int = 0) -> list[tuple[str, str]]:
    rows = [line.rstrip("\n").split("\t") for line in open(DATA / "glue" / "SST-2" / "dev.tsv", encoding="utf-8")][1:]
    return [(t, "positive" if y == "1" else "negative") for t, y in rows[start:start + n]]


def _stsb(n: int, start: int = 0) -> list[tuple[str, str, str]]:
    with open(DATA / "glue" / "STS-B" / "dev.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    h = rows[0]
    a, b, y = h.index("sentence1"), h.index("sentence2"), h.index("score")
    return [(r[a], r[b], r[y]) for r in rows[1 + start:1 + start + n]]


def _write_csv(path: Path, header: list[str], rows, delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE,
                       escapechar="\\" if delimiter != "," else None)
        w.writerow(header)
        w.writerows(rows)
    return path


FAST = dict(train_steps=4, eval_every=2, batch_size=8, device="cpu", progress=False)


def test_csv_single_label_keeps_label_names_for_classify(tmp_path, pretrained, capsys):
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(64))  # texts with commas and quotes
    dev = _write_csv(tmp_path / "dev.csv", ["text", "label"], _sst2(32, 100))
    res = finetune(train=str(train), dev=str(dev), model=str(pretrained), output=str(tmp_path / "run"),
                   test=str(dev), **FAST)
    assert res["task"] == "single_label" and res["labels"] == ["negative", "positive"]
    assert {"accuracy", "macro_f1"} <= set(res["last"]) and res["last"]["step"] == 4
    saved = AlbertForSequenceClassification.from_pretrained(tmp_path / "run" / "best")
    assert saved.config.id2label == {0: "negative", 1: "positive"}
    ranked = Classify.from_pretrained(str(tmp_path / "run" / "best"), device="cpu")(["a gorgeous film"])[0]
    assert {r["label"] for r in ranked} == {"negative", "positive"}
    preds = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 32 and {p["label"] for p in preds} <= {"negative", "positive"}
    assert preds[0]["text"] == _sst2(32, 100)[0][0]
    report = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    assert "best_dev (selected on dev: optimistic)" in report and "last" in report


def test_jsonl_lists_are_multi_label(tmp_path, pretrained):
    def rows(items):
        return "".join(json.dumps({"text": t, "label": [y] + (["long"] if len(t) > 80 else [])}) + "\n"
                       for t, y in items)
    (tmp_path / "train.jsonl").write_text(rows(_sst2(64)))
    (tmp_path / "dev.jsonl").write_text(rows(_sst2(32, 100)))
    res = finetune(train=str(tmp_path / "train.jsonl"), dev=str(tmp_path / "dev.jsonl"), model=str(pretrained),
                   output=str(tmp_path / "run"), test=str(tmp_path / "dev.jsonl"), **FAST)
    assert res["task"] == "multi_label" and res["labels"] == ["long", "negative", "positive"]
    assert {"micro_f1", "macro_f1", "exact_match"} <= set(res["last"])
    saved = AlbertForSequenceClassification.from_pretrained(tmp_path / "run" / "best")
    assert saved.config.problem_type == "multi_label_classification" and saved.config.num_labels == 3
    preds = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert all(set(p["labels"]) <= {"long", "negative", "positive"} for p in preds)


def test_csv_multi_label_needs_the_task_and_splits_on_the_separator(tmp_path, pretrained):
    items = [(t, "a|b" if i % 3 == 0 else "b" if i % 3 == 1 else "") for i, (t, _) in enumerate(_sst2(48))]
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], items)
    res = finetune(train=str(train), dev=str(train), model=str(pretrained), output=str(tmp_path / "run"),
                   task="multi_label", **FAST)
    assert res["labels"] == ["a", "b"]


def test_tsv_pairs_with_decimal_scores_are_regression(tmp_path, pretrained):
    train = _write_csv(tmp_path / "train.tsv", ["premise", "hypothesis", "score"], _stsb(64), delimiter="\t")
    dev = _write_csv(tmp_path / "dev.tsv", ["premise", "hypothesis", "score"], _stsb(32, 200), delimiter="\t")
    res = finetune(train=str(train), dev=str(dev), model=str(pretrained), output=str(tmp_path / "run"),
                   text_column="premise", text_pair_column="hypothesis", label_column="score", **FAST)
    assert res["task"] == "regression" and res["pairs"] is True and res["labels"] is None
    assert {"pearson", "spearmanr", "mse"} <= set(res["last"])
    assert AlbertForSequenceClassification.from_pretrained(tmp_path / "run" / "last").config.problem_type == "regression"


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


def test_conll_tagging_reports_entity_f1_and_tags_every_word(tmp_path, pretrained):
    (tmp_path / "train.conll").write_text(CONLL * 4)
    (tmp_path / "dev.conll").write_text(CONLL)
    # the file to predict: the dev words without tags (one word per line)
    (tmp_path / "words.conll").write_text("\n".join(line.split(" ")[0] for line in CONLL.splitlines()))
    res = finetune(train=str(tmp_path / "train.conll"), dev=str(tmp_path / "dev.conll"), model=str(pretrained),
                   output=str(tmp_path / "run"), test=str(tmp_path / "words.conll"), max_seq_length=8, **FAST)
    assert res["task"] == "tokens"
    with pytest.raises(FinetuneDataError, match="nope.conll: not found"):  # checked before any training
        finetune(train=str(tmp_path / "train.conll"), dev=str(tmp_path / "dev.conll"), model=str(pretrained),
                 output=str(tmp_path / "run2"), test=str(tmp_path / "nope.conll"), **FAST)
    assert not (tmp_path / "run2").exists()
    with pytest.raises(FinetuneDataError, match="--max_seq_length 512 is longer than"):  # the tiny model has 128
        finetune(train=str(tmp_path / "train.conll"), dev=str(tmp_path / "dev.conll"), model=str(pretrained),
                 output=str(tmp_path / "run2"), **{**FAST, "max_seq_length": 512})
    assert res["labels"][0] == "O" and set(res["labels"]) == {"O", "B-ORG", "B-MISC", "B-PER", "I-PER", "B-LOC"}
    assert res["truncated_train_words"] > 0  # max_seq_length 8 cuts the first sentence
    assert {"f1", "precision", "recall", "accuracy"} <= set(res["last"])
    saved = AlbertForTokenClassification.from_pretrained(tmp_path / "run" / "best")
    assert set(saved.config.id2label.values()) == set(res["labels"])
    preds = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    gold = read_conll(tmp_path / "dev.conll")
    assert [p["words"] for p in preds] == [s.words for s in gold]
    assert all(len(p["tags"]) == len(p["words"]) for p in preds)  # truncated words are tagged O, not dropped
    assert preds[0]["tags"][-2:] == ["O", "O"]
    # the reported F1 is seqeval's on exactly these predictions
    assert res["best_dev (selected on dev: optimistic)"]["f1"] == pytest.approx(
        M.entities([p["tags"] for p in preds], [s.tags for s in gold])["f1"])


def test_metrics_match_hand_computed_cases():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    e = M.entities(pred, gold)  # 2 of 3 gold entities found, 2 of 3 predicted correct
    assert e["precision"] == pytest.approx(2 / 3) and e["recall"] == pytest.approx(2 / 3)
    assert e["f1"] == pytest.approx(2 / 3) and e["accuracy"] == pytest.approx(4 / 6)
    m = M.multilabel(np.array([[1, 0], [1, 1], [0, 0]]), np.array([[1, 0], [0, 1], [0, 1]]))
    # label 0: tp 1 fp 1 -> f1 2/3; label 1: tp 1 fn 1 -> f1 2/3; micro: tp 2, fp 1, fn 1 -> 2/3
    assert m["micro_f1"] == pytest.approx(2 / 3) and m["macro_f1"] == pytest.approx(2 / 3)
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert M.mse([1.0, 2.0], [1.0, 4.0]) == pytest.approx(2.0)
    assert M.macro_f1([0, 0, 1], [0, 1, 1]) == pytest.approx((2 / 3 + 2 / 3) / 2)


# -- bad input ---------------------------------------------------------------------------------------------------------

def _bad(tmp_path, pretrained, train_text: str, dev_text: str | None = None, name="train.csv", **kw):
    (tmp_path / name).write_text(train_text)
    dev = tmp_path / ("dev" + Path(name).suffix)
    dev.write_text(dev_text if dev_text is not None else train_text)
    with pytest.raises(FinetuneDataError) as e:
        finetune(train=str(tmp_path / name), dev=str(dev), model=str(pretrained), output=str(tmp_path / "run"),
                 **{**FAST, **kw})
    return str(e.value)


def test_errors_name_the_file_the_line_and_the_problem(tmp_path, pretrained):
    msg = _bad(tmp_path, pretrained, "text,label\ngood film,pos\nbad film,neg,extra\n")
    assert "train.csv:3:" in msg and "3 columns, expected 2" in msg
    msg = _bad(tmp_path, pretrained, "text,label\ngood,pos\nbad,neg\n", "text,label\nfine,pos\nmeh,neutral\n")
    assert "dev.csv:3:" in msg and "'neutral'" in msg and "neg, pos" in msg
    assert "empty file" in _bad(tmp_path, pretrained, "")
    assert "no examples" in _bad(tmp_path, pretrained, "text,label\n")
    msg = _bad(tmp_path, pretrained, "sentence,label\ngood,pos\n")
    assert "train.csv:1:" in msg and "'text'" in msg and "sentence, label" in msg
    msg = _bad(tmp_path, pretrained, '{"text": "a", "label": "x"}\n{"text": "b", "label": \n', name="train.jsonl")
    assert "train.jsonl:2: not valid JSON" in msg
    msg = _bad(tmp_path, pretrained, "EU B-ORG\nrejects\n", name="train.conll")
    assert "train.conll:2:" in msg and "WORD ... TAG" in msg
    msg = _bad(tmp_path, pretrained, "EU NNP\n", name="train.conll")
    assert "train.conll:1:" in msg and "'NNP'" in msg
    msg = _bad(tmp_path, pretrained, "text,label\na,1.5\nb,x\n", task="regression")
    assert "train.csv:3:" in msg and "not a number" in msg


def test_cli_reports_bad_input_in_one_line(tmp_path, pretrained):
    (tmp_path / "t.csv").write_text("text,label\na,pos\nb,neg,x\n")
    proc = subprocess.run([sys.executable, "-m", "litebert", "finetune", "--train", str(tmp_path / "t.csv"), "--dev",
                           str(tmp_path / "t.csv"), "--model", str(pretrained), "--output", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "t.csv:3: 3 columns, expected 2" in proc.stderr and "Traceback" not in proc.stderr


# -- the loop ----------------------------------------------------------------------------------------------------------

def _loop_setup(pretrained, n=48):
    tok = load_tokenizer(str(pretrained))
    items = _sst2(n)
    labels = [int(y == "positive") for _, y in items]
    data = S.encode(tok, [t for t, _ in items], None, labels, 64)
    return data


def _train(pretrained, out: Path, data, evaluate=None, **kw) -> dict:
    args = FinetuneArgs(**{**dict(lr=1e-3, train_steps=6, warmup_steps=1, batch_size=8, eval_every=2,
                                  device="cpu", progress=False), **kw})
    clf = S.new_classifier(str(pretrained), "single_label", ["negative", "positive"], seed=1)
    evaluate = evaluate or S.evaluator(data, "single_label", torch.device("cpu"))
    finetune_loop(clf, data, evaluate, args, out, log=lambda s: None)
    return load_file(out / "last" / "model.safetensors")


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_gradient_accumulation_equals_one_big_batch(tmp_path, pretrained):
    data = _loop_setup(pretrained)
    full = _train(pretrained, tmp_path / "full", data)
    accum = _train(pretrained, tmp_path / "accum", data, micro_batch_size=3)  # 3 + 3 + 2: unequal chunks
    assert _max_diff(full, accum) <= 1e-6
    moved = load_file(pretrained / "model.safetensors")
    assert (full["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"]
            - moved["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"]).abs().max() > 1e-4


def test_unpadded_training_equals_padded(tmp_path, pretrained, monkeypatch):
    """`--unpad true`: six steps on length-grouped, padded SST-2 batches end at the same weights as the padded run."""
    import litebert.model as LM

    data = _loop_setup(pretrained)
    assert len(set(data.lengths)) > 4  # batches really are ragged
    built = []
    real = LM.Unpadded.from_mask
    monkeypatch.setattr(LM.Unpadded, "from_mask", lambda mask: built.append(mask.shape) or real(mask))
    padded = _train(pretrained, tmp_path / "padded", data)
    assert built == []
    unpadded = _train(pretrained, tmp_path / "unpadded", data, unpad=True)
    assert len(built) >= 6  # the flag reached the model: every training batch ran unpadded
    assert _max_diff(padded, unpadded) <= 1e-5


def test_pad_batch_pads_each_length_field_with_its_value_up_to_the_multiple():
    ids = torch.tensor([[2, 5, 3], [2, 3, 0]])
    batch = {"input_ids": ids, "attention_mask": (ids > 0).long(), "token_type_ids": torch.zeros_like(ids),
             "p_mask": torch.tensor([[0, 1, 1], [0, 1, 1]]), "labels": torch.tensor([[-100, 4, -100], [-100, 1, -100]]),
             "start_positions": torch.tensor([1, 2])}
    values = {**ENCODER_PAD_VALUES, "p_mask": 1, "labels": -100}
    out = pad_batch(batch, values, 8, limit=64)
    assert out["input_ids"].tolist() == [[2, 5, 3, 0, 0, 0, 0, 0], [2, 3, 0, 0, 0, 0, 0, 0]]
    assert out["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert out["p_mask"][0].tolist() == [0, 1, 1, 1, 1, 1, 1, 1]  # padding is never an answer
    assert out["labels"][0].tolist() == [-100, 4, -100] + [-100] * 5
    assert out["start_positions"] is batch["start_positions"]  # not a length field
    assert pad_batch(batch, values, 8, limit=5)["input_ids"].shape == (2, 5)  # never past max_seq_length
    assert pad_batch(batch, values, 3, limit=64) is batch  # already a multiple
    choice = {"input_ids": torch.ones(2, 4, 5, dtype=torch.long), "labels": torch.tensor([0, 3])}  # RACE: (B, 4, T)
    assert pad_batch(choice, ENCODER_PAD_VALUES, 16, limit=512)["input_ids"].shape == (2, 4, 16)


def test_padding_to_a_multiple_trains_like_padding_to_the_longest(tmp_path, pretrained):
    """Extra padding is masked out of attention and of every loss: sentence classification and tagging (labels padded
    with -100) end at the same weights with batches padded to multiples of 16 as padded to their longest row."""
    data = _loop_setup(pretrained)
    assert sum(n % 16 != 0 for n in data.lengths) > len(data.lengths) // 2
    assert _max_diff(_train(pretrained, tmp_path / "a", data),
                     _train(pretrained, tmp_path / "b", data, pad_to_multiple_of=16)) <= 1e-5
    tok = load_tokenizer(str(pretrained))
    words = [t.split() for t, _ in _sst2(24)]
    tagged = encode_tagged(tok, [Sentence(k, w, ["O" if len(x) < 5 else "L" for x in w]) for k, w in enumerate(words)],
                           {"O": 0, "L": 1}, 64)
    weights = []
    for name, multiple in (("t1", 1), ("t16", 16)):
        torch.manual_seed(1)
        model = AlbertForTokenClassification.from_pretrained(str(pretrained), num_labels=2, classifier_dropout_prob=0.0)
        args = FinetuneArgs(lr=1e-3, train_steps=4, warmup_steps=1, batch_size=8, eval_every=4, device="cpu",
                            progress=False, pad_to_multiple_of=multiple)
        finetune_loop(model, tagged, lambda m: {"main": 0.0}, args, tmp_path / name, log=lambda s: None)
        weights.append(load_file(tmp_path / name / "last" / "model.safetensors"))
    assert _max_diff(*weights) <= 1e-5


def test_bucket_padding_leaves_the_albert_squad2_loss_alone_and_cuda_graphs_refuse_accumulation():
    """The SQuAD 2.0 head's p_mask pads with 1 (never an answer), so padding windows to x16 keeps its loss; the v1.1
    head's softmax spans the padding, as in the original (documented). CUDA graphs own their gradient buffers, so
    they refuse gradient accumulation."""
    from litebert import AlbertConfig, AlbertForSquadV2
    from litebert.finetune.squad import SquadTrainSet, Window, batch_inputs

    torch.manual_seed(0)
    model = AlbertForSquadV2(AlbertConfig.from_preset("tiny")).eval()
    rows = [Window(0, (0, 0), [2, 11, 12, 3, 21, 22, 23, 3], 4), Window(0, (0, 0), [2, 11, 3, 21, 22, 3], 3)]
    batch = batch_inputs(rows, torch.device("cpu"))
    batch.update(start_positions=torch.tensor([5, 0]), end_positions=torch.tensor([6, 0]),
                 is_impossible=torch.tensor([0.0, 1.0]))
    padded = pad_batch(batch, SquadTrainSet.pad_values, 16, limit=64)
    assert padded["input_ids"].shape == (2, 16) and padded["p_mask"][0, 8:].eq(1).all()
    with torch.no_grad():
        torch.testing.assert_close(model(**padded).loss, model(**batch).loss, atol=1e-6, rtol=1e-6)
    gpu = torch.device("cuda")
    with pytest.raises(ValueError, match="cannot accumulate gradients over 2 micro-batches"):
        T.check_cuda_graphs("reduce-overhead", gpu, 2, "--compile")
    T.check_cuda_graphs("reduce-overhead", gpu, 1, "--compile")
    T.check_cuda_graphs("default", gpu, 4, "--compile")
    T.check_cuda_graphs("reduce-overhead", torch.device("cpu"), 4, "--compile")  # no CUDA graphs on a CPU


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="torch.compile needs a C compiler")
def test_compiled_training_equals_eager_with_two_compilations(tmp_path, pretrained):
    """--compile: six steps over batches of several padded lengths end at the eager run's weights, with no graph break
    and at most two compilations (the first length, then one dynamic in length). Lengths padded to x16 on a GPU with
    CUDA graphs only."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    data = _loop_setup(pretrained)
    weights = []
    torch._dynamo.reset()
    counters.clear()
    for name, kw in (("eager", {}), ("compiled", {"compile": "default", "pad_to_multiple_of": 16})):
        torch.manual_seed(1)
        model = AlbertForSequenceClassification.from_pretrained(str(pretrained), num_labels=2,
                                                                classifier_dropout_prob=0.0)
        args = FinetuneArgs(lr=1e-3, train_steps=6, warmup_steps=1, batch_size=8, eval_every=6, device="cpu",
                            progress=False, **kw)
        finetune_loop(model, data, lambda m: {"main": 0.0}, args, tmp_path / name, log=lambda s: None)
        weights.append(load_file(tmp_path / name / "last" / "model.safetensors"))
    assert _max_diff(*weights) <= 1e-5
    assert not counters["graph_break"]
    assert 1 <= counters["stats"]["unique_graphs"] <= 2
    assert len({-(-n // 16) for n in data.lengths}) >= 3
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert [T.length_multiple(m, d) for m, d in (("none", gpu), ("default", gpu), ("reduce-overhead", cpu),
                                                 ("reduce-overhead", gpu), ("max-autotune", gpu))] == [1, 1, 1, 16, 16]
    assert T.length_multiple("reduce-overhead", gpu, requested=8) == 8
    with pytest.raises(FinetuneError, match="compile and unpad exclude each other"):
        FinetuneArgs(compile="default", unpad=True)
    with pytest.raises(FinetuneError, match="compile must be none, default, reduce-overhead"):
        FinetuneArgs(compile="fast")


def test_resume_after_a_crash_is_exact(tmp_path, pretrained):
    data = _loop_setup(pretrained)
    reference = _train(pretrained, tmp_path / "ref", data)
    calls = {"n": 0}
    normal = S.evaluator(data, "single_label", torch.device("cpu"))

    def crash_on_third(model):
        calls["n"] += 1
        if calls["n"] == 3:  # at step 6, after the step-4 checkpoint
            raise KeyboardInterrupt
        return normal(model)

    with pytest.raises(KeyboardInterrupt):
        _train(pretrained, tmp_path / "run", data, evaluate=crash_on_third)
    state = tmp_path / "run" / "checkpoint"
    assert (state / "train_state.pt").is_file()
    (tmp_path / "run" / ".checkpoint.tmp").mkdir()  # a torn write next to it is ignored
    resumed = _train(pretrained, tmp_path / "run", data)
    assert _max_diff(reference, resumed) == 0.0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "dev/accuracy" in r] == [2, 4, 6]
    assert not state.exists()  # a finished run keeps best/ and last/, not the resume state
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        _train(pretrained, tmp_path / "other", data, evaluate=crash_on_third)
    with pytest.raises(FinetuneError, match=r"other settings \(lr: 0.001 -> 0.002\)"):
        _train(pretrained, tmp_path / "other", data, lr=2e-3)


def test_step_losses_are_read_once_per_log_window(tmp_path, pretrained, monkeypatch):
    """No host sync per step: the loop reads the losses of a log window in one all-reduce; the logged numbers are the
    per-step run's."""
    from litebert import distributed as D

    data = _loop_setup(pretrained)
    reads = []
    real = D.all_reduce_sum
    monkeypatch.setattr(D, "all_reduce_sum", lambda t: reads.append(t.shape) or real(t))
    _train(pretrained, tmp_path / "a", data, log_every=1)
    per_step, reads[:] = list(reads), []
    _train(pretrained, tmp_path / "b", data, log_every=3)
    assert len(per_step) == 6 and reads == [torch.Size([2]), torch.Size([1]), torch.Size([1]), torch.Size([2])]
    rows = [[json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()] for d in "ab"]
    loss = {r["step"]: r["loss"] for r in rows[0] if "loss" in r}
    third = next(r for r in rows[1] if r["step"] == 3)
    assert third["loss"] == pytest.approx(np.mean([loss[1], loss[2], loss[3]]), rel=1e-12)


def test_a_nan_loss_stops_the_run_naming_the_step(tmp_path, pretrained):
    data = _loop_setup(pretrained)
    clf = S.new_classifier(str(pretrained), "single_label", ["negative", "positive"], seed=1)
    with torch.no_grad():
        clf.classifier.weight.fill_(float("nan"))
    args = FinetuneArgs(lr=1e-3, train_steps=4, warmup_steps=1, batch_size=8, eval_every=2, device="cpu",
                        progress=False)
    with pytest.raises(FinetuneError, match="non-finite training loss at step 1"):
        finetune_loop(clf, data, S.evaluator(data, "single_label", torch.device("cpu")), args, tmp_path,
                      log=lambda s: None)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tmp_path, pretrained, precision):
    data = _loop_setup(pretrained)
    full = _train(pretrained, tmp_path / "fp32", data)
    mixed = _train(pretrained, tmp_path / precision, data, precision=precision)
    assert 0 < _max_diff(full, mixed) < 0.05  # same run, rounded differently


def test_two_process_gloo_equals_one_process(tmp_path):
    # no dropout anywhere: ranks draw their own dropout masks, which no single process can reproduce
    pretrained = make_pretrained(tmp_path / "model", classifier_dropout_prob=0.0)
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(40))

    def run(nproc: int, out: str) -> dict:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port",
               str(29500 + random.randint(0, 2000)), "-m", "litebert", "finetune", "--train", str(train), "--dev",
               str(train), "--model", str(pretrained), "--output", str(tmp_path / out), "--train_steps", "5",
               "--eval_every", "5", "--batch_size", "8", "--lr", "1e-3", "--device", "cpu", "--progress", "false"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return load_file(tmp_path / out / "last" / "model.safetensors")

    one, two = run(1, "one"), run(2, "two")
    assert _max_diff(one, two) <= 1e-5
    info = json.loads((tmp_path / "two" / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["micro_batch_size"] == 4


def test_seeds_report_mean_and_spread(tmp_path, pretrained):
    glue_dir = tmp_path / "glue"
    glue_dir.mkdir()
    (glue_dir / "RTE").symlink_to(DATA / "glue" / "RTE")
    report = glue(task="rte", data_dir=str(glue_dir), model=str(pretrained), output=str(tmp_path / "out"), seeds=2,
                  train_steps=2, eval_every=2, batch_size=4, lr=1e-3, device="cpu", progress=False)
    summary = report["eval_summary"]
    assert summary["seeds"] == [12345, 12346]
    acc = summary["last"]["accuracy"]
    assert len(acc["values"]) == 2 and acc["mean"] == pytest.approx(np.mean(acc["values"]))
    assert acc["std"] == pytest.approx(np.std(acc["values"], ddof=1))
    assert "best_dev (selected on dev: optimistic)" in summary
    assert (tmp_path / "out" / "seed_12345" / "best").is_dir() and (tmp_path / "out" / "seed_12346" / "last").is_dir()
    # the two seeds are different runs
    a = load_file(tmp_path / "out" / "seed_12345" / "last" / "model.safetensors")
    b = load_file(tmp_path / "out" / "seed_12346" / "last" / "model.safetensors")
    assert _max_diff(a, b) > 0
    assert not math.isnan(acc["std"])
    # restarted after seed 12345 finished and seed 12346 was lost: the finished seed is not trained again (its
    # checkpoints untouched, its report reused), the lost one is, and the summary is the same
    kw = dict(task="rte", data_dir=str(glue_dir), model=str(pretrained), output=str(tmp_path / "out"), seeds=2,
              train_steps=2, eval_every=2, batch_size=4, device="cpu", progress=False)
    first = tmp_path / "out" / "seed_12345" / "last" / "model.safetensors"
    stamp = first.stat().st_mtime_ns
    shutil.rmtree(tmp_path / "out" / "seed_12346")
    again = glue(**kw, lr=1e-3)
    assert first.stat().st_mtime_ns == stamp and (tmp_path / "out" / "seed_12346" / "last").is_dir()
    assert again["eval_summary"]["last"]["accuracy"]["values"] == acc["values"]
    # other settings into the same output: refused, nothing overwritten
    with pytest.raises(FinetuneError, match=r"finished run with other settings or data \(lr: 0.001 -> 0.002\)"):
        glue(**kw, lr=2e-3)
    with pytest.raises(FinetuneError, match=r"other settings or data \(max_seq_length: 128 -> 64\)"):
        glue(**{**kw, "max_seq_length": 64}, lr=1e-3)
    (glue_dir / "RTE").unlink()  # the same task from edited data
    shutil.copytree(DATA / "glue" / "RTE", glue_dir / "RTE")
    with open(glue_dir / "RTE" / "dev.tsv", "a", encoding="utf-8") as f:
        f.write("9999\tA man sleeps.\tA man is asleep.\tentailment\n")
    with pytest.raises(FinetuneError, match=r"other settings or data \(dev_sha256: "):
        glue(**kw, lr=1e-3)
    shutil.rmtree(glue_dir / "RTE")
    (glue_dir / "RTE").symlink_to(DATA / "glue" / "RTE")
    # ... or from another pretrained checkpoint (same settings, other weights): refused too
    other = tmp_path / "other_model"
    shutil.copytree(pretrained, other)
    net = AlbertForPreTraining.from_pretrained(other)
    with torch.no_grad():
        net.albert.embeddings.word_embeddings.weight[7] += 0.01  # one row of one tensor
    net.save_pretrained(other)
    with pytest.raises(FinetuneError, match="started from other weights"):
        glue(**{**kw, "model": str(other)}, lr=1e-3)
    assert first.stat().st_mtime_ns == stamp


def test_finetune_restarted_reuses_finished_seeds_of_the_same_files(tmp_path, pretrained):
    """`litebert finetune --seeds`: a rerun does not train a seed that finished on the same files and settings; an
    edited training file into the same output is refused, nothing overwritten."""
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(32))
    dev = _write_csv(tmp_path / "dev.csv", ["text", "label"], _sst2(16, 100))
    kw = dict(train=str(train), dev=str(dev), model=str(pretrained), output=str(tmp_path / "run"), seeds=2, **FAST)
    first = finetune(**kw)
    weights = tmp_path / "run" / "seed_12345" / "best" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = finetune(**kw)
    assert weights.stat().st_mtime_ns == stamp and again["seeds"] == first["seeds"]
    _write_csv(train, ["text", "label"], _sst2(32, 1))
    with pytest.raises(FinetuneError, match=r"other settings or data \(train_sha256: "):
        finetune(**kw)
    assert weights.stat().st_mtime_ns == stamp


def test_a_nan_dev_score_never_holds_the_best_checkpoint():
    from litebert.finetune.trainer import _improves

    nan = float("nan")
    assert _improves(0.1, nan) and not _improves(nan, 0.1) and not _improves(nan, nan)
    assert _improves(0.2, 0.1) and not _improves(0.1, 0.1)


# -- refused before any work -------------------------------------------------------------------------------------------

BERT_VOCAB = DATA / "bert" / "bert-base-uncased-vocab.txt"  # 30522 WordPiece tokens; the tiny model embeds 30000


def test_a_tokenizer_larger_than_the_model_is_refused(tmp_path, pretrained):
    from litebert.tokenizer import TokenizerFileError

    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(16))
    with pytest.raises(TokenizerFileError, match=r"bert-base-uncased-vocab.txt has 30522 tokens but the model .* "
                                                 r"embeds only 30000"):
        finetune(train=str(train), dev=str(train), model=str(pretrained), output=str(tmp_path / "run"),
                 tokenizer=str(BERT_VOCAB), **FAST)
    with pytest.raises(TokenizerFileError, match="has 30522 tokens but the model"):
        glue(task="rte", data_dir=str(DATA / "glue"), model=str(pretrained), output=str(tmp_path / "g"),
             tokenizer=str(BERT_VOCAB), device="cpu", progress=False)
    assert not (tmp_path / "run").exists() and not (tmp_path / "g").exists()


@pytest.mark.parametrize("flag,value", [("train_steps", 0), ("epochs", 0.0), ("epochs", -1.0), ("batch_size", 0),
                                        ("eval_every", 0), ("lr", 0.0)])
def test_non_positive_steps_epochs_and_sizes_are_refused(tmp_path, pretrained, flag, value):
    """0 must not silently mean the default (--train_steps 0 ran the epochs' steps) nor one step (--epochs 0)."""
    kw = {**FAST, "train_steps": None, flag: value}
    msg = _bad(tmp_path, pretrained, "text,label\ngood,pos\nbad,neg\n", **kw)
    assert msg == f"--{flag} must be positive, got {value}"
    if flag != "epochs":
        with pytest.raises(GlueDataError, match=f"--{flag} must be positive, got {value}"):
            glue(task="rte", data_dir=str(DATA / "glue"), model=str(pretrained), output=str(tmp_path / "g"),
                 device="cpu", progress=False, **{flag: value})


def test_an_output_that_is_a_file_is_refused(tmp_path, pretrained, capsys):
    from litebert.__main__ import main

    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(16))
    (tmp_path / "taken").write_text("a file")
    for output in ("taken", "taken/run"):
        with pytest.raises(FinetuneDataError, match=f"--output .*{output}: .*taken is a file, not a directory"):
            finetune(train=str(train), dev=str(train), model=str(pretrained), output=str(tmp_path / output), **FAST)
    with pytest.raises(SystemExit) as e:
        main(["glue", "--task", "rte", "--data_dir", str(DATA / "glue"), "--model", str(pretrained), "--output",
              str(tmp_path / "taken"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "taken is a file, not a directory" in err and "Traceback" not in err
    assert (tmp_path / "taken").read_text() == "a file"


def test_auto_task_names_the_labels_that_spoil_a_column_of_scores(tmp_path, pretrained):
    """One typo (or nan) among decimal scores is an error naming its line, not a silent many-class classification;
    non-finite scores under --task regression name the file and line too."""
    rows = [[a, b, y] for a, b, y in _stsb(40)]
    rows[4][2] = "abc"  # line 6
    rows[20][2] = "nan"  # line 22
    text = "text\ttext_pair\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows)
    msg = _bad(tmp_path, pretrained, text, name="train.tsv")
    assert "train.tsv: the labels are decimal numbers (regression) except on line(s) 6 ('abc'), 22 ('nan')" in msg
    assert "--task single_label" in msg
    rows[4][2] = "1.5"
    text = "text\ttext_pair\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows)
    assert "train.tsv:22: label 'nan' is not a finite number" in _bad(tmp_path, pretrained, text, name="train.tsv",
                                                                      task="regression")
    good = "text\ttext_pair\tlabel\n" + "".join("\t".join(r) + "\n" for r in _stsb(40))
    msg = _bad(tmp_path, pretrained, good, text, name="train.tsv")  # nan in dev only: named too
    assert "dev.tsv:22: label 'nan' is not a finite number" in msg
    (tmp_path / "j.jsonl").write_text("".join(json.dumps({"text": "a", "label": x}) + "\n" for x in [0.5, 1.5, "inf"]))
    with pytest.raises(FinetuneDataError, match=r"j.jsonl: .* except on line\(s\) 3 \('inf'\)"):
        infer_problem(read_rows(tmp_path / "j.jsonl", "jsonl", "text", None, "label", True), tmp_path / "j.jsonl")
    # labels mostly words stay classes
    assert infer_problem([Row(k, "x", None, y) for k, y in enumerate(["pos", "neg", "0.5", "neg"] * 5)]) == \
        "single_label"


def test_a_corrupt_resume_state_is_an_error_that_says_what_to_do(tmp_path, pretrained):
    data = _loop_setup(pretrained)
    normal = S.evaluator(data, "single_label", torch.device("cpu"))
    calls = {"n": 0}

    def crash_on_second(model):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return normal(model)

    with pytest.raises(KeyboardInterrupt):
        _train(pretrained, tmp_path / "run", data, evaluate=crash_on_second)
    state = tmp_path / "run" / "checkpoint" / "train_state.pt"
    whole = state.read_bytes()
    for torn in (whole[: len(whole) // 2], b"garbage", b""):  # a torn zip (PytorchStreamReader), no zip, empty
        state.write_bytes(torn)
        with pytest.raises(FinetuneError, match=r"checkpoint/train_state.pt: unreadable resume state \(\w+\); delete "
                                                r".*checkpoint to start over, or pass --resume false") as e:
            _train(pretrained, tmp_path / "run", data)
        assert "weights_only" not in str(e.value)
    _train(pretrained, tmp_path / "run", data, resume=False)  # the way out it names


def test_a_finished_run_is_never_trained_over(tmp_path, pretrained):
    """--resume false into a finished run's directory is refused before anything is written: a failing new run must
    not leave the old best/ and eval_results.json next to its own run_info.json."""
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _sst2(32))
    kw = dict(train=str(train), dev=str(train), model=str(pretrained), output=str(tmp_path / "run"), **FAST)
    finetune(**kw)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()}
    assert {"best", "last", "eval_results.json", "metrics.jsonl", "run_info.json"} <= set(before)
    with pytest.raises(FinetuneError, match=r"run holds a finished run \(eval_results.json, best/, last/\); training "
                                            r"again would replace it"):
        finetune(**kw, resume=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()} == before
    # other settings over it: the advice is what works now (--resume false is refused above)
    with pytest.raises(FinetuneError, match="holds a finished run with other settings") as e:
        finetune(**{**kw, "lr": 3e-5})
    assert "use another --output, or delete (or move) it" in str(e.value) and "--resume false" not in str(e.value)
    # the loop itself (squad and race pass no identity): the same refusal
    data = _loop_setup(pretrained)
    _train(pretrained, tmp_path / "loop", data)
    with pytest.raises(FinetuneError, match="holds a finished run"):
        _train(pretrained, tmp_path / "loop", data)
