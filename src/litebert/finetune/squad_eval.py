"""The official SQuAD metrics (evaluate-v1.1.py and evaluate-v2.0.py, as published with the dataset), reimplemented
so that litebert needs no external script: the same answer normalisation, the same per-question maxima over the gold
answers, the same order of summation, so the printed numbers agree to the last digit.

The two scripts differ in ways that matter and are kept: v1.1 counts a question without a prediction as 0 (and in
the total); v2.0 needs a prediction for every question (its script fails otherwise; litebert says which is missing)
and scores an empty gold answer list as the single answer "".
"""

from __future__ import annotations

import collections
import json
import math
import re
import string
import sys
from collections.abc import Mapping
from pathlib import Path

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


class SquadDataError(ValueError):
    """A data or prediction file is not what the evaluation expects."""


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (both official scripts)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def _overlap_f1(pred: list[str], gold: list[str]) -> float:
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = same / len(pred), same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 (v2.0): an empty side scores 1 only against another empty side."""
    pred, gold = _tokens(prediction), _tokens(ground_truth)
    if not pred or not gold:
        return float(pred == gold)
    return _overlap_f1(pred, gold)


def exact_score(prediction: str, ground_truth: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(ground_truth))


def _questions(dataset: list, source: str):
    """(id, gold answer texts) of every question, in file order."""
    for a, article in enumerate(dataset):
        where = f"{source}: data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise SquadDataError(f"{where}: expected an object with a 'paragraphs' list")
        for p, paragraph in enumerate(article["paragraphs"]):
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise SquadDataError(f"{where}.paragraphs[{p}]: expected an object with a 'qas' list")
            for q, qa in enumerate(qas):
                try:
                    yield qa["id"], [x["text"] for x in qa["answers"]]
                except (KeyError, TypeError) as e:
                    raise SquadDataError(f"{where}.paragraphs[{p}].qas[{q}]: expected 'id' and 'answers' with "
                                         f"'text', missing {e}") from None


def _no_questions(source: str) -> SquadDataError:
    return SquadDataError(f"{source}: no questions; expected at least one in data[].paragraphs[].qas[]")


def evaluate_v1(dataset: list, predictions: Mapping[str, str], source: str = "data") -> dict[str, float]:
    """evaluate-v1.1.py: {"exact_match", "f1"} in percent; unanswered questions count as 0."""
    f1 = exact_match = total = 0
    for qid, golds in _questions(dataset, source):
        total += 1
        if not golds:
            raise SquadDataError(f"{source}: question {qid!r} has no gold answer: this is SQuAD 2.0 data; evaluate "
                                 f"it as 2.0")
        if qid not in predictions:
            print(f"Unanswered question {qid} will receive score 0.", file=sys.stderr)
            continue
        pred = predictions[qid]
        exact_match += max(normalize_answer(pred) == normalize_answer(g) for g in golds)
        f1 += max(_f1_v1(pred, g) for g in golds)
    if not total:
        raise _no_questions(source)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _f1_v1(prediction: str, ground_truth: str) -> float:
    """v1.1's F1: no rule for empty strings (an empty side has no overlap: 0)."""
    return _overlap_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def raw_scores_v2(dataset: list, predictions: Mapping[str, str], source: str = "data"):
    """Per-question exact and F1 (max over gold answers; "" is the gold of an unanswerable question) and has-answer."""
    exact, f1, has_ans = {}, {}, {}
    for qid, golds in _questions(dataset, source):
        has_ans[qid] = bool(golds)
        golds = [g for g in golds if normalize_answer(g)] or [""]
        if qid not in predictions:
            print(f"Missing prediction for {qid}", file=sys.stderr)
            continue
        pred = predictions[qid]
        exact[qid] = max(exact_score(pred, g) for g in golds)
        f1[qid] = max(f1_score(pred, g) for g in golds)
    return exact, f1, has_ans


def _apply_threshold(scores: dict, na_probs: Mapping[str, float], has_ans: dict, threshold: float) -> dict:
    return {qid: float(not has_ans[qid]) if na_probs[qid] > threshold else s for qid, s in scores.items()}


def _summary(exact: dict, f1: dict, qids: list | None = None) -> dict:
    if not qids:
        total = len(exact)
        return {"exact": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total, "total": total}
    total = len(qids)
    return {"exact": 100.0 * sum(exact[k] for k in qids) / total, "f1": 100.0 * sum(f1[k] for k in qids) / total,
            "total": total}


def best_threshold(predictions: Mapping[str, str], scores: dict, na_probs: Mapping[str, float],
                   has_ans: dict) -> tuple[float, float]:
    """The score (percent) and the no-answer threshold that maximise it, scanning na_probs upwards (v2.0's
    find_best_thresh). Tuned on the evaluated set itself: report it apart, never as the result."""
    cur = best = sum(1 for k in has_ans if not has_ans[k])
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if predictions[qid] else 0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def evaluate_v2(dataset: list, predictions: Mapping[str, str], na_probs: Mapping[str, float] | None = None,
                na_prob_thresh: float = 1.0, source: str = "data") -> dict[str, float]:
    """evaluate-v2.0.py: exact/f1/total, HasAns_* and NoAns_*, and with na_probs the best_exact/best_f1 thresholds."""
    given = na_probs is not None
    if na_probs is None:
        na_probs = {k: 0.0 for k in predictions}
    exact_raw, f1_raw, has_ans = raw_scores_v2(dataset, predictions, source)
    if not has_ans:
        raise _no_questions(source)
    unanswered = [q for q in has_ans if q not in exact_raw]
    if unanswered:  # the official script fails on these (KeyError in its HasAns/NoAns breakdown)
        raise SquadDataError(f"predictions: no answer for {len(unanswered)} of {len(has_ans)} questions, e.g. "
                             f"{unanswered[0]!r}; SQuAD 2.0 needs one for every question (\"\" for no answer)")
    missing = [q for q in exact_raw if q not in na_probs]
    if missing:
        raise SquadDataError(f"no-answer probabilities: no entry for question {missing[0]!r} "
                             f"({len(missing)} missing)")
    exact = _apply_threshold(exact_raw, na_probs, has_ans, na_prob_thresh)
    f1 = _apply_threshold(f1_raw, na_probs, has_ans, na_prob_thresh)
    out = _summary(exact, f1)
    has = [k for k, v in has_ans.items() if v]
    no = [k for k, v in has_ans.items() if not v]
    if has:
        out.update({f"HasAns_{k}": v for k, v in _summary(exact, f1, has).items()})
    if no:
        out.update({f"NoAns_{k}": v for k, v in _summary(exact, f1, no).items()})
    if given:
        out["best_exact"], out["best_exact_thresh"] = best_threshold(predictions, exact_raw, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = best_threshold(predictions, f1_raw, na_probs, has_ans)
    return out


def _read_json(path: str | Path, what: str):
    p = Path(path)
    if not p.is_file():
        raise SquadDataError(f"{path}: no such {what} file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SquadDataError(f"{path}: not a JSON {what} file ({e})") from None


def data_version(dataset: list, declared: str) -> str:
    """ "2.0" when the file says so ("v2.0", "2.0") or marks a question is_impossible; "1.1" when it says "1.x" (its
    questions without answers are then questions to predict, not unanswerable ones); a file that declares nothing is
    2.0 when a question has no answers."""
    declared = declared.lstrip("v")
    if declared.startswith("2"):
        return "2.0"
    missing = False
    for article in dataset:
        for paragraph in article.get("paragraphs", []) if isinstance(article, dict) else []:
            for qa in paragraph.get("qas", []) if isinstance(paragraph, dict) else []:
                if isinstance(qa, dict):
                    if qa.get("is_impossible"):
                        return "2.0"
                    missing = missing or not qa.get("answers")
    return "2.0" if missing and not declared.startswith("1") else "1.1"


def load_dataset(path: str | Path) -> tuple[list, str]:
    """The "data" list and the "version" of a SQuAD file."""
    obj = _read_json(path, "SQuAD data")
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise SquadDataError(f"{path}: expected a SQuAD file ({{\"version\": ..., \"data\": [...]}})")
    return obj["data"], str(obj.get("version", ""))


def load_predictions(path: str | Path, what: str = "predictions") -> dict:
    obj = _read_json(path, what)
    if not isinstance(obj, dict):
        raise SquadDataError(f"{path}: expected a JSON object of question id -> "
                             f"{'answer text' if what == 'predictions' else 'probability'}")
    return obj


def load_na_probs(path: str | Path) -> dict[str, float]:
    """A no-answer probabilities file: question id -> a number (not NaN, which cannot be ordered)."""
    probs = load_predictions(path, "no-answer probabilities")
    for qid, value in probs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise SquadDataError(f"{path}: the no-answer probability of question {qid!r} is {json.dumps(value)}; "
                                 f"expected a number")
    return probs


def evaluate_files(data_file: str, predictions: str, na_probs: str | None = None, version: str | None = None,
                   na_prob_thresh: float = 1.0) -> dict[str, float]:
    """Evaluate a predictions file against a SQuAD data file; the version comes from the data file unless given."""
    dataset, file_version = load_dataset(data_file)
    preds = load_predictions(predictions)
    bad = next((k for k, v in preds.items() if not isinstance(v, str)), None)
    if bad is not None:
        raise SquadDataError(f"{predictions}: the prediction for {bad!r} is not a string")
    v = version or data_version(dataset, file_version)
    if v not in ("1.1", "2.0"):
        raise SquadDataError(f"--version must be 1.1 or 2.0, got {version!r}")
    if v == "1.1":
        if na_probs:
            raise SquadDataError("--na_probs is for SQuAD 2.0; the data file is v1.1 (pass --version 2.0 to force)")
        return evaluate_v1(dataset, preds, str(data_file))
    probs = load_na_probs(na_probs) if na_probs else None
    return evaluate_v2(dataset, preds, probs, na_prob_thresh, str(data_file))
