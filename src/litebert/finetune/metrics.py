"""GLUE's official metrics, from scikit-learn and scipy (not re-implemented): accuracy, F1 of the positive class,
Matthews correlation, Pearson and Spearman correlation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(labels, predictions))


def f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """F1 of class 1 (MRPC's and QQP's "paraphrase"/"duplicate"), as GLUE reports it."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0))


def matthews(predictions: Sequence[int], labels: Sequence[int]) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(labels, predictions))


def pearson_spearman(predictions: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    p, s = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    return {"pearson": float(pearsonr(p, s)[0]), "spearmanr": float(spearmanr(p, s)[0])}


METRICS = ("accuracy", "f1_accuracy", "mcc", "pearson_spearman")


def compute(metric: str, predictions: Sequence, labels: Sequence) -> dict[str, float]:
    """The task's metrics by name (the keys GLUE papers report); `main` is the one used to pick checkpoints."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if metric == "accuracy":
        out = {"accuracy": accuracy(predictions, labels)}
        out["main"] = out["accuracy"]
    elif metric == "f1_accuracy":
        out = {"f1": f1(predictions, labels), "accuracy": accuracy(predictions, labels)}
        out["main"] = (out["f1"] + out["accuracy"]) / 2
    elif metric == "mcc":
        out = {"mcc": matthews(predictions, labels), "accuracy": accuracy(predictions, labels)}
        out["main"] = out["mcc"]
    elif metric == "pearson_spearman":
        out = pearson_spearman(predictions, labels)
        out["main"] = (out["pearson"] + out["spearmanr"]) / 2
    else:
        raise ValueError(f"unknown metric {metric!r}; one of {METRICS}")
    return out
