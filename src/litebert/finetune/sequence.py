"""Sequence-level tasks on the shared loop: single-label classification, multi-label classification and regression,
for GLUE and for the users' own files. Encoding, the classifier with its label names, scoring and predictions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from litebert import checkpoint as ckpt
from litebert.finetune import metrics as M
from litebert.finetune.trainer import SequenceSet, predict_logits
from litebert.model import AlbertForSequenceClassification

PROBLEMS = {"single_label": "single_label_classification", "multi_label": "multi_label_classification",
            "regression": "regression"}


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, labels: Sequence | None,
           max_seq_length: int) -> SequenceSet:
    """[CLS] a [SEP] (b [SEP]) ids, truncated longest-first to max_seq_length, unpadded."""
    enc = tokenizer.encode_batch(list(texts), list(pairs) if pairs is not None else None, truncation=True,
                                 max_length=max_seq_length)
    return SequenceSet(list(enc["input_ids"]), list(enc["token_type_ids"]), list(labels) if labels is not None else None)


def new_classifier(model: str, problem: str, label_list: Sequence[str] | None, seed: int,
                   from_scratch: bool = False) -> AlbertForSequenceClassification:
    """A pretrained encoder with a freshly initialised (seeded) head; the label names go into config.id2label.
    `from_scratch`: the same architecture with every weight randomly initialised (the baseline pretraining must beat)."""
    torch.manual_seed(seed)
    n = len(label_list) if label_list else 1
    overrides = dict(num_labels=n, id2label=dict(enumerate(label_list)) if label_list else {0: "score"},
                     problem_type=PROBLEMS[problem])
    if from_scratch:
        config = ckpt.read_config(ckpt.resolve(model)).replace(**overrides)
        return AlbertForSequenceClassification(config)
    return AlbertForSequenceClassification.from_pretrained(model, **overrides)


def predictions(problem: str, logits: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class ids (single-label), the value (regression), or multi-hot 0/1 rows (sigmoid > threshold)."""
    if problem == "regression":
        return logits[:, 0]
    if problem == "multi_label":
        return (1 / (1 + np.exp(-logits)) > threshold).astype(np.int64)
    return logits.argmax(-1)


def score(problem: str, logits: np.ndarray, labels: Sequence, metric: str | None = None) -> dict[str, float]:
    """GLUE's metric by name when given; otherwise the problem's: accuracy + macro F1 (single-label), micro/macro F1
    + exact match (multi-label), Pearson/Spearman + MSE (regression). "main" picks checkpoints."""
    preds = predictions(problem, logits)
    if metric is not None:
        return M.compute(metric, preds, labels)
    if problem == "single_label":
        out = {"accuracy": M.accuracy(preds, labels), "macro_f1": M.macro_f1(preds, labels)}
        out["main"] = out["accuracy"]
    elif problem == "multi_label":
        out = M.multilabel(preds, np.asarray(labels, dtype=np.int64))
        out["main"] = out["micro_f1"]
    else:
        out = {**M.pearson_spearman(preds, labels), "mse": M.mse(preds, labels)}
        out["main"] = (out["pearson"] + out["spearmanr"]) / 2
        if not math.isfinite(out["main"]):  # constant predictions: correlation undefined, rank it last
            out["main"] = -1.0
    return out


def evaluator(dev: SequenceSet, problem: str, device: torch.device, metric: str | None = None,
              precision: str = "fp32") -> Callable[[torch.nn.Module], dict]:
    def evaluate(model) -> dict:
        return score(problem, predict_logits(model, dev, device, precision=precision), dev.labels, metric)
    return evaluate


def chance_levels(problem: str, train_labels: Sequence, dev_labels: Sequence) -> tuple[float | None, float | None]:
    """(loss of a uniform classifier, dev majority-class accuracy) for the divergence warnings."""
    if problem != "single_label":
        return None, None
    n = max(max(train_labels), max(dev_labels)) + 1
    return math.log(n), float(np.bincount(dev_labels).max() / len(dev_labels))
