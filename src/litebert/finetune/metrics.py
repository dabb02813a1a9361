"""GLUE's official metrics and the custom tasks' ones, from scikit-learn, scipy and seqeval (not re-implemented):
accuracy, F1 of the positive class, Matthews correlation, Pearson and Spearman correlation, macro/micro F1, MSE, and
entity-level precision/recall/F1 for BIO tagging."""

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


def macro_f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predictions, average="macro", zero_division=0))


def mse(predictions: Sequence[float], labels: Sequence[float]) -> float:
    from sklearn.metrics import mean_squared_error

    return float(mean_squared_error(labels, predictions))


def multilabel(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Multi-hot (N, L) rows: micro and macro F1 over labels, and exact-match (subset) accuracy."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"micro_f1": float(f1_score(labels, predictions, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
            "exact_match": float(accuracy_score(labels, predictions))}


def entities(predictions: list[list[str]], labels: list[list[str]]) -> dict[str, float]:
    """Entity-level precision/recall/F1 of BIO tag sequences as conlleval counts them (seqeval's default mode), and
    token accuracy."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    return {"f1": float(f1_score(labels, predictions, zero_division=0)),
            "precision": float(precision_score(labels, predictions, zero_division=0)),
            "recall": float(recall_score(labels, predictions, zero_division=0)),
            "accuracy": float(accuracy_score(labels, predictions))}


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
