"""SQuAD v1.1 and v2.0 on the shared fine-tuning loop: windows over long contexts, answers aligned through the
tokenizer's character offsets, the original ALBERT heads and post-processing, the official files and metrics.

Layout of a window (google-research/albert squad_utils): ``[CLS] question [SEP] context window [SEP]``, segment 0 for
[CLS] question [SEP], 1 for the window and its [SEP]; p_mask is 0 at [CLS] and the window's context tokens, 1 elsewhere.
Windows hold ``max_seq_length - len(question) - 3`` context tokens and start every ``doc_stride`` tokens; a context
token is predicted only from the window where it has the most context (BERT's max-context rule). An impossible
question, or an answer outside a training window, points at [CLS] (position 0).

Prediction streams: windows are batched as they are made, and an example's score table is dropped once its last window
is scored, so memory holds one batch and the examples in flight, never the whole set of windows.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np
import torch

from litebert import checkpoint as ckpt
from litebert import distributed as D
from litebert import training as T
from litebert.finetune.squad_eval import SquadDataError, data_version, evaluate_v1, evaluate_v2, load_dataset
from litebert.finetune.trainer import (ENCODER_PAD_VALUES, FinetuneArgs, check_output_dir, check_positive,
                                       finetune_loop, pad, save_with_tokenizer)
from litebert.model import AlbertForQuestionAnswering, AlbertForSquadV2
from litebert.textio import atomic_write_bytes
from litebert.tokenizer import check_fits_model, load_tokenizer

HEADS = ("albert", "bert")  # v2.0 only: the original ALBERT head, or BERT's null score at [CLS]


# ---------------------------------------------------------------------------------------------------------------------
# examples


@dataclass
class SquadExample:
    qid: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start in context); empty when impossible
    is_impossible: bool = False


def read_squad(path: str | os.PathLike) -> tuple[list[SquadExample], str]:
    """The questions of a SQuAD file in file order, and its version ("1.1" or "2.0", from the file)."""
    data, version = load_dataset(path)
    out, seen = [], {}
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else [None]):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise SquadDataError(f"{where}: expected an object with a 'context' string and a 'qas' list")
            context = paragraph["context"]
            for q, qa in enumerate(paragraph.get("qas", [])):
                w = f"{where}.qas[{q}]"
                if not isinstance(qa, dict) or not isinstance(qa.get("id"), str) or \
                        not isinstance(qa.get("question"), str):
                    raise SquadDataError(f"{w}: expected 'id' and 'question' strings")
                if qa["id"] in seen:  # predictions and scores are keyed by id: a repeated one would vanish
                    raise SquadDataError(f"{w}: question id {qa['id']!r} is already used at {seen[qa['id']]}; ids "
                                         f"must be unique")
                seen[qa["id"]] = w.removeprefix(f"{path}: ")
                answers = []
                for k, ans in enumerate(qa.get("answers", [])):
                    try:
                        text, start = ans["text"], int(ans["answer_start"])
                    except (KeyError, TypeError, ValueError):
                        raise SquadDataError(f"{w}.answers[{k}]: expected 'text' and an integer 'answer_start'") \
                            from None
                    if not 0 <= start <= len(context) - len(text):
                        raise SquadDataError(f"{w}.answers[{k}]: answer_start {start} + {len(text)} characters "
                                             f"is outside the context ({len(context)} characters)")
                    answers.append((text, start))
                impossible = bool(qa.get("is_impossible", False))
                out.append(SquadExample(qa["id"], qa["question"], context, [] if impossible else answers, impossible))
    if not out:
        raise SquadDataError(f"{path}: no questions")
    return out, data_version(data, version)


# ---------------------------------------------------------------------------------------------------------------------
# windows


def doc_spans(n_ctx: int, room: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) context-token ranges of the windows: `room` tokens each, starting every `stride` tokens."""
    if stride < 1:
        raise SquadDataError(f"doc_stride must be at least 1, got {stride}")
    if room < 1:
        raise SquadDataError(f"max_seq_length leaves no room for the context ({room} tokens)")
    spans, start = [], 0
    while True:
        end = min(n_ctx, start + room)
        spans.append((start, end))
        if end >= n_ctx:
            return spans
        start += min(stride, room)


def max_context_window(spans: Sequence[tuple[int, int]], pos: int) -> int:
    """The window where context token `pos` has the most context: max of min(left, right) + 0.01 x window length,
    the first on ties (BERT's _check_is_max_context)."""
    best, best_score = -1, None
    for k, (s, e) in enumerate(spans):
        if s <= pos < e:
            score = min(pos - s, e - 1 - pos) + 0.01 * (e - s)
            if best_score is None or score > best_score:
                best, best_score = k, score
    return best


@dataclass
class Context:
    """A context's tokens and their [start, end) character offsets in the original text."""

    text: str
    ids: list[int]
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, tokenizer, text: str) -> "Context":
        enc = tokenizer.encode(text, add_special_tokens=False, return_offsets=True)
        offs = enc.offsets
        return cls(text, list(enc["input_ids"]), [o[0] for o in offs], [o[1] for o in offs])

    def token_span(self, char_start: int, char_end: int) -> tuple[int, int] | None:
        """First and last token overlapping characters [char_start, char_end); None when no token does."""
        s = bisect.bisect_right(self.ends, char_start)
        e = bisect.bisect_left(self.starts, char_end) - 1
        return (s, e) if s <= e else None

    def text_of(self, s: int, e: int) -> str:
        """The original characters tokens s..e (inclusive) cover."""
        return self.text[self.starts[s]:self.ends[e]]


@dataclass
class Window:
    example: int  # index of the example in its set
    span: tuple[int, int]  # context tokens [start, end) in this window
    input_ids: list[int]
    first: int  # row index of the first context token (len(question) + 2)
    start: int = 0  # row positions of the answer; 0 ([CLS]) when impossible or outside the window
    end: int = 0


@dataclass
class Settings:
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30

    def __post_init__(self):
        if self.doc_stride < 1 or min(self.max_query_length, self.n_best_size, self.max_answer_length) < 1:
            raise SquadDataError("doc_stride, max_query_length, n_best_size and max_answer_length must be positive")
        if self.max_seq_length < 4:
            raise SquadDataError(f"max_seq_length {self.max_seq_length} leaves no room for the context")

    def check_room(self, tokenizer, examples: Sequence["SquadExample"], source: str) -> None:
        """Fail now, not at the first evaluation, when a question leaves a window no room for context."""
        longest = max((len(x) for x in tokenizer.encode_batch([e.question for e in examples],
                                                              add_special_tokens=False)["input_ids"]), default=0)
        q = min(longest, self.max_query_length)
        if self.max_seq_length - q - 3 < 1:
            raise SquadDataError(f"{source}: a question of {q} tokens leaves no room for the context in "
                                 f"max_seq_length {self.max_seq_length}; raise it or lower max_query_length")


def windows(tokenizer, ex: SquadExample, ctx: Context, index: int, s: Settings,
            answer: tuple[int, int] | None = None) -> list[Window]:
    """The windows of one example; with `answer` (gold first/last context token) each window's label is set."""
    q = tokenizer.encode(ex.question, add_special_tokens=False)["input_ids"][: s.max_query_length]
    first = len(q) + 2
    out = []
    for span in doc_spans(len(ctx.ids), s.max_seq_length - len(q) - 3, s.doc_stride):
        ids = [tokenizer.cls_id, *q, tokenizer.sep_id, *ctx.ids[span[0]:span[1]], tokenizer.sep_id]
        w = Window(index, span, ids, first)
        if answer is not None and span[0] <= answer[0] and answer[1] < span[1]:
            w.start, w.end = first + answer[0] - span[0], first + answer[1] - span[0]
        out.append(w)
    return out


def batch_inputs(rows: Sequence[Window], device: torch.device) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask, token_type_ids and p_mask of windows, padded to the longest."""
    ids = pad([w.input_ids for w in rows])
    n = torch.tensor([len(w.input_ids) for w in rows])
    first = torch.tensor([w.first for w in rows])
    pos = torch.arange(ids.shape[1])[None]
    mask = (pos < n[:, None]).long()
    types = ((pos >= first[:, None]) & (pos < n[:, None])).long()
    context = (pos >= first[:, None]) & (pos < n[:, None] - 1)
    p_mask = (~context).long()
    p_mask[:, 0] = 0
    return {k: v.to(device) for k, v in
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "p_mask": p_mask}.items()}


@dataclass
class AlignmentReport:
    """How gold answers survive tokenization and windowing (answerable questions, first gold answer)."""

    answers: int = 0
    exact: int = 0  # the tokens' offsets give back the answer text exactly
    mismatched: list[dict] = field(default_factory=list)  # the answer starts or ends inside a token
    wrong_offset: list[dict] = field(default_factory=list)  # the context at answer_start is not the answer text:
    # skipped in training, as the original's "Could not find answer" (a span there would teach the wrong words)
    no_tokens: int = 0  # the answer covers no token (whitespace only)
    windows_with_answer: int = 0
    windows_without_answer: int = 0  # labelled [CLS]: the answer is outside these windows
    unreachable: int = 0  # longer than any window: no window holds the whole answer

    def as_dict(self) -> dict:
        return {"answers": self.answers, "exact": self.exact, "mismatched": len(self.mismatched),
                "mismatched_rate": len(self.mismatched) / max(self.answers, 1), "no_tokens": self.no_tokens,
                "wrong_offset": len(self.wrong_offset), "wrong_offset_examples": self.wrong_offset[:5],
                "windows_with_answer": self.windows_with_answer,
                "windows_without_answer": self.windows_without_answer, "unreachable": self.unreachable,
                "mismatch_examples": self.mismatched[:5]}


def offset_matches(ex: SquadExample) -> bool:
    """The context at the first answer's answer_start reads the answer text (whitespace aside, as the original's
    check); impossible questions have nothing to match."""
    if ex.is_impossible or not ex.answers:
        return True
    text, start = ex.answers[0]
    return ex.context[start:start + len(text)].split() == text.split()


def gold_span(ctx: Context, ex: SquadExample, report: AlignmentReport | None = None) -> tuple[int, int] | None:
    """Gold first/last context token of the example's first answer (None if impossible)."""
    if ex.is_impossible or not ex.answers:
        return None
    text, start = ex.answers[0]
    # the original strips the answer: leading/trailing spaces in the gold text are not part of the span
    lead = len(text) - len(text.lstrip())
    span = ctx.token_span(start + lead, start + len(text.rstrip()))
    if report is not None:
        report.answers += 1
        if not offset_matches(ex):
            report.wrong_offset.append({"id": ex.qid, "answer": text,
                                        "at_answer_start": ex.context[start:start + len(text)]})
        elif span is None:
            report.no_tokens += 1
        elif ctx.text_of(*span) == text.strip():
            report.exact += 1
        else:
            report.mismatched.append({"id": ex.qid, "answer": text, "decoded": ctx.text_of(*span)})
    return span


def training_windows(tokenizer, examples: Sequence[SquadExample], s: Settings,
                     report: AlignmentReport | None = None) -> list[Window]:
    """The labelled windows of `examples`; a question whose answer text is not at its answer_start has none (the
    original skips it: "Could not find answer"), counted in `report.wrong_offset`."""
    ctx, out = None, []
    for i, ex in enumerate(examples):
        if ctx is None or ctx.text != ex.context:
            ctx = Context.of(tokenizer, ex.context)
        answer = gold_span(ctx, ex, report)
        if not offset_matches(ex):
            continue
        ws = windows(tokenizer, ex, ctx, i, s, answer)
        if report is not None and answer is not None:
            hit = sum(w.start > 0 for w in ws)
            report.windows_with_answer += hit
            report.windows_without_answer += len(ws) - hit
            report.unreachable += hit == 0
        out += ws
    return out


@dataclass
class SquadTrainSet:
    """Training windows as compact arrays (a TrainSet for finetune_loop)."""

    ids: list[np.ndarray]
    first: list[int]
    starts: np.ndarray
    ends: np.ndarray
    impossible: np.ndarray
    head: str  # "v1" | "albert" | "bert"
    pad_values: ClassVar[dict[str, int]] = {**ENCODER_PAD_VALUES, "p_mask": 1}  # padding is never an answer

    @classmethod
    def of(cls, ws: Sequence[Window], head: str) -> "SquadTrainSet":
        return cls([np.asarray(w.input_ids, dtype=np.int32) for w in ws], [w.first for w in ws],
                   np.array([w.start for w in ws]), np.array([w.end for w in ws]),
                   np.array([w.start == 0 for w in ws]), head)

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]

    def units(self, rows: Sequence[int]) -> int:
        return len(rows)

    def collate(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        ws = [Window(0, (0, 0), self.ids[r].tolist(), self.first[r]) for r in rows]
        b = batch_inputs(ws, device)
        b["start_positions"] = torch.as_tensor(self.starts[rows], device=device)
        b["end_positions"] = torch.as_tensor(self.ends[rows], device=device)
        if self.head == "albert":
            b["is_impossible"] = torch.as_tensor(self.impossible[rows], device=device).float()
        else:
            b.pop("p_mask")
        return b


# ---------------------------------------------------------------------------------------------------------------------
# prediction


@dataclass
class Prediction:
    qid: str
    text: str  # "" when the question is predicted unanswerable
    nbest: list[dict]
    null_odds: float | None = None  # v2: the no-answer score the threshold is compared with


@dataclass
class _Table:
    """Scores of one example's candidate spans: (first, last context token) -> (start score, end score)."""

    example: SquadExample
    ctx: Context
    spans: list[tuple[int, int]]
    remaining: int
    scores: dict = field(default_factory=dict)
    null: float = math.inf  # v2: minimum over windows of the null score


def head_of(model) -> str:
    return "albert" if isinstance(model, AlbertForSquadV2) else "v1"


@torch.no_grad()
def predict(model, tokenizer, examples: Iterable[SquadExample], s: Settings, device: torch.device,
            version: str = "1.1", null_threshold: float = 0.0, batch_size: int = 32,
            precision: str = "fp32") -> Iterator[Prediction]:
    """Predictions in example order, streamed. v1.1 and the BERT-style v2 score spans by start + end logit; the
    ALBERT v2 head by start + end log-probability from its beams. v2: the answer is "" when the null score (ALBERT:
    the minimum over windows of the answer-class logit; BERT: min over windows of the [CLS] span score, minus the best
    span's score) exceeds `null_threshold` (strictly, as the official evaluation applies its threshold, so passing
    the reported best_f1_thresh reproduces best_f1). A span is scored only from the window where its start token has
    the most context, so each span has one score (the original's per-span mean is over that one window)."""
    was_training = model.training
    model.eval()
    head = head_of(model)
    pending: list[tuple[_Table, Window]] = []
    ctx = None

    def run(chunk: list[tuple[_Table, Window]]) -> Iterator[Prediction]:
        b = batch_inputs([w for _, w in chunk], device)
        p_mask = b.pop("p_mask")
        with T.autocast(precision, device):
            out = model(**b, p_mask=p_mask) if head == "albert" else model(**b)
        if head == "albert":
            _score_beams(chunk, out, s)
        else:
            _score_logits(chunk, out.start_logits.float().cpu(), out.end_logits.float().cpu(), s)
        for table, _ in chunk:
            table.remaining -= 1
            if table.remaining == 0:
                yield _finish(table, s, head, version, null_threshold)

    try:
        for i, ex in enumerate(examples):
            if ctx is None or ctx.text != ex.context:
                ctx = Context.of(tokenizer, ex.context)
            ws = windows(tokenizer, ex, ctx, i, s)
            table = _Table(ex, ctx, [w.span for w in ws], len(ws))
            pending += [(table, w) for w in ws]
            while len(pending) >= batch_size:
                chunk, pending = pending[:batch_size], pending[batch_size:]
                yield from run(chunk)
        if pending:
            yield from run(pending)
    finally:  # also when the consumer stops early or a batch fails
        model.train(was_training)


def _keep(table: _Table, w: Window, si: int, ei: int, s: Settings) -> tuple[int, int] | None:
    """Row positions -> context tokens, when they make a valid answer from this window (inside the window's
    context, end >= start, not too long, start with its most context here)."""
    lo, hi = w.span
    cs, ce = lo + si - w.first, lo + ei - w.first
    if not (lo <= cs < hi and lo <= ce < hi) or si < w.first or ei < w.first:
        return None
    if ce < cs or ce - cs + 1 > s.max_answer_length:
        return None
    if table.spans[max_context_window(table.spans, cs)] != w.span:
        return None
    return cs, ce


def _add(table: _Table, key: tuple[int, int], start: float, end: float) -> None:
    table.scores[key] = (start, end)  # one window per span (max-context), so never overwritten


def _score_logits(chunk, start_logits: torch.Tensor, end_logits: torch.Tensor, s: Settings) -> None:
    for b, (table, w) in enumerate(chunk):
        n = len(w.input_ids)
        st, en = start_logits[b, :n], end_logits[b, :n]
        table.null = min(table.null, (st[0] + en[0]).item())
        k = min(s.n_best_size, n)
        st_l, en_l = st.tolist(), en.tolist()
        for si in st.topk(k).indices.tolist():
            for ei in en.topk(k).indices.tolist():
                key = _keep(table, w, si, ei, s)
                if key is not None:
                    _add(table, key, st_l[si], en_l[ei])


def _score_beams(chunk, out, s: Settings) -> None:
    start_lp, start_idx = out.start_top_log_probs.float().cpu(), out.start_top_index.cpu()
    end_lp, end_idx = out.end_top_log_probs.float().cpu(), out.end_top_index.cpu()
    cls = out.cls_logits.float().cpu().tolist()
    K, K2 = start_idx.shape[1], end_idx.shape[1] // start_idx.shape[1]
    for b, (table, w) in enumerate(chunk):
        table.null = min(table.null, cls[b])
        for k in range(K):
            si = int(start_idx[b, k])
            for j in range(K2):
                key = _keep(table, w, si, int(end_idx[b, k * K2 + j]), s)
                if key is not None:
                    _add(table, key, float(start_lp[b, k]), float(end_lp[b, k * K2 + j]))


def _finish(table: _Table, s: Settings, head: str, version: str, null_threshold: float) -> Prediction:
    ex, ctx = table.example, table.ctx
    names = ("start_log_prob", "end_log_prob") if head == "albert" else ("start_logit", "end_logit")
    ranked = sorted(((a, b, key) for key, (a, b) in table.scores.items()), key=lambda r: -(r[0] + r[1]))
    nbest, seen = [], set()
    for st, en, (cs, ce) in ranked:
        text = ctx.text_of(cs, ce).strip()
        if not text or text in seen:  # a lone "▁" covers no character: it would read as the null answer
            continue
        seen.add(text)
        nbest.append({"text": text, names[0]: st, names[1]: en})
        if len(nbest) >= s.n_best_size:
            break
    if not nbest:  # no valid span in any window
        nbest.append({"text": "", names[0]: 0.0, names[1]: 0.0})
    scores = np.array([e[names[0]] + e[names[1]] for e in nbest])
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    for e, p in zip(nbest, probs.tolist()):
        e["probability"] = p
    best = nbest[0]["text"]
    if version == "1.1":
        return Prediction(ex.qid, best, nbest)
    if head == "albert":
        odds = table.null
    else:  # BERT: how much better the null span scores than the best non-null one
        odds = table.null - (nbest[0][names[0]] + nbest[0][names[1]])
    return Prediction(ex.qid, "" if odds > null_threshold else best, nbest, odds)


class _JsonObjectWriter:
    """Writes {"key": value, ...} one entry at a time to a temp file, renamed into place on close."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.tmp, "w", encoding="utf-8")
        self.f.write("{")
        self.n = 0

    def add(self, key: str, value) -> None:
        self.f.write(("," if self.n else "") + "\n  " + json.dumps(key) + ": " + json.dumps(value, ensure_ascii=False))
        self.n += 1

    def close(self) -> None:
        self.f.write("\n}\n")
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)


def write_predictions(preds: Iterable[Prediction], out_dir: Path, version: str) -> tuple[dict, dict]:
    """predictions.json, nbest_predictions.json and (v2) null_odds.json in the official formats; returns what the
    metrics need: the answers (v2: the best non-null answer, the threshold being applied by the evaluation) and the
    null scores."""
    files = {"p": _JsonObjectWriter(out_dir / "predictions.json"),
             "n": _JsonObjectWriter(out_dir / "nbest_predictions.json")}
    if version == "2.0":
        files["o"] = _JsonObjectWriter(out_dir / "null_odds.json")
    texts, odds = {}, {}
    for p in preds:
        files["p"].add(p.qid, p.text)
        files["n"].add(p.qid, p.nbest)
        texts[p.qid] = p.nbest[0]["text"] if version == "2.0" else p.text  # v2: the best non-null answer
        if version == "2.0":
            files["o"].add(p.qid, p.null_odds)
            odds[p.qid] = p.null_odds
    for f in files.values():
        f.close()
    return texts, odds


def score(dataset: list, texts: dict, odds: dict, version: str, null_threshold: float) -> dict:
    """The official metrics. v2: the best non-null answers with the null scores as no-answer probabilities and
    `null_threshold` as the official na_prob_thresh, which scores exactly predictions.json, and lets the threshold
    search see every answer; the threshold tuned on this set is reported apart and labelled, never applied."""
    if version == "1.1":
        m = evaluate_v1(dataset, texts)
        return {**m, "main": m["f1"]}
    m = evaluate_v2(dataset, texts, odds, na_prob_thresh=null_threshold)
    tuned = {k: m.pop(k) for k in ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")}
    return {**m, "null_threshold": null_threshold, "main": m["f1"],
            "tuned_on_this_set (optimistic, not applied)": tuned}


# ---------------------------------------------------------------------------------------------------------------------
# the command


def squad(*, version: str = "1.1", predict_file: str, model: str, output: str, train_file: str | None = None,
          head: str = "albert", null_threshold: float = 0.0, max_seq_length: int = 384, doc_stride: int = 128,
          max_query_length: int = 64, n_best_size: int = 20, max_answer_length: int = 30, lr: float = 5e-5,
          epochs: float = 2.0, train_steps: int | None = None, warmup_proportion: float = 0.1, batch_size: int = 48,
          micro_batch_size: int | None = None, predict_batch_size: int = 32, eval_every: int | None = None,
          seed: int = 12345, precision: str = "fp32", unpad: bool = False, compile: str = "none",
          device: str = "auto", tokenizer: str | None = None,
          resume: bool = True, from_scratch: bool = False, progress: bool = True) -> dict:
    """Fine-tune on SQuAD v1.1 or v2.0 and predict (`litebert squad evaluate` scores a predictions file).

    Writes predictions.json, nbest_predictions.json, null_odds.json (v2) and the official metrics when the predict
    file has answers. Without --train_file, predicts with a fine-tuned model.

    Example:
        litebert squad --version 2.0 --train_file train-v2.0.json --predict_file dev-v2.0.json \
            --model albert-base-v2 --output runs/squad2

    Args:
        version: 1.1 | 2.0 (must match the files).
        predict_file: SQuAD JSON to predict (and score, when it has answers), e.g. dev-v1.1.json.
        model: Pretrained checkpoint (directory or hub id); without --train_file, a fine-tuned QA checkpoint.
        output: Directory for best/, last/, the prediction files and eval_results.json.
        train_file: SQuAD JSON to train on.
        head: v2.0: albert (the original AlbertForSquadV2: start/end beams + answer class) | bert (start/end logits,
            no-answer = the [CLS] span).
        null_threshold: v2.0: predict "" when the null score (albert: answer-class logit; bert: null minus best span
            score) exceeds this. The threshold tuned on the evaluated set is reported apart, never applied.
        max_seq_length: Tokens per window.
        doc_stride: Context tokens between the starts of consecutive windows.
        max_query_length: Question tokens kept.
        n_best_size: Start and end candidates per window, and entries in nbest_predictions.json.
        max_answer_length: Longest answer in tokens.
        lr: Peak learning rate (the original README: 5e-5).
        epochs: Passes over the training windows when --train_steps is not given.
        train_steps: Optimizer steps (overrides --epochs).
        warmup_proportion: Warmup as a share of the steps.
        batch_size: Windows per optimizer step, over all ranks (the original README: 48).
        micro_batch_size: Windows per forward pass per rank (gradient accumulation when smaller).
        predict_batch_size: Windows per forward pass when predicting.
        eval_every: Steps between evaluations on --predict_file (default: only at the end).
        seed: Seed of the head's init and the data order.
        precision: fp32 | bf16 | fp16.
        unpad: Drop the padding inside the encoder (docs/model.md: the padded run's numbers without encoder
            dropout; meant for a GPU in bf16/fp16 with varlen FlashAttention: on a CPU training speed is unchanged).
        compile: none | default | reduce-overhead | max-autotune: torch.compile the training step (reduce-overhead:
            CUDA graphs, for GPUs, where short batches are bound by kernel launches; batch lengths are then
            padded to a multiple of 16). No gain on a CPU. Excludes --unpad.
        device: auto | cpu | cuda (under torchrun: one GPU per process; prediction runs on rank 0).
        tokenizer: Tokenizer directory, when it is not saved with the model.
        resume: Continue an interrupted run from OUTPUT/checkpoint.
        from_scratch: Ignore the model's weights: same architecture, random initialisation (the no-pretraining
            baseline).
        progress: Show the progress bar.
    """
    if version not in ("1.1", "2.0"):
        raise SquadDataError(f"--version must be 1.1 or 2.0, got {version!r}")
    if head not in HEADS:
        raise SquadDataError(f"--head must be one of {', '.join(HEADS)}, got {head!r}")
    check_positive(SquadDataError, lr=lr, epochs=epochs, train_steps=train_steps, batch_size=batch_size,
                   predict_batch_size=predict_batch_size, eval_every=eval_every)
    s = Settings(max_seq_length, doc_stride, max_query_length, n_best_size, max_answer_length)
    out = check_output_dir(output, SquadDataError)
    check_length(model, max_seq_length, SquadDataError)
    tok = model_tokenizer(model, tokenizer)
    info = D.init_distributed(device)
    dev, dev_version = read_squad(predict_file)
    dataset, _ = load_dataset(predict_file)
    _check_version(predict_file, dev_version, version)
    s.check_room(tok, dev, predict_file)
    has_answers = any(e.answers or e.is_impossible for e in dev)  # gold to score against
    if version == "1.1" and has_answers and (q := next((e.qid for e in dev if not e.answers), None)) is not None:
        raise SquadDataError(f"{predict_file}: question {q!r} has no answer while others have: SQuAD 1.1 scores "
                             f"every question against its answers (unanswerable questions: --version 2.0)")
    report: dict = {"version": version}

    def evaluate_into(m, directory: Path) -> dict:
        texts, odds = write_predictions(predict(m, tok, dev, s, info.device, version, null_threshold,
                                                predict_batch_size, precision), directory, version)
        return score(dataset, texts, odds, version, null_threshold) if has_answers else {"main": 0.0}

    if train_file:
        train, train_version = read_squad(train_file)
        _check_version(train_file, train_version, version)
        if version == "1.1":
            unlabelled = next((e.qid for e in train if not e.answers), None)
            if unlabelled is not None:  # the original: "For training, each question should have exactly 1 answer."
                raise SquadDataError(f"{train_file}: question {unlabelled!r} has no answer; SQuAD 1.1 training needs "
                                     f"one per question (unanswerable questions: --version 2.0)")
        s.check_room(tok, train, train_file)
        alignment = AlignmentReport()
        ws = training_windows(tok, train, s, alignment)
        if not ws:
            raise SquadDataError(f"{train_file}: no question has its answer text at its answer_start")
        head_name = "v1" if version == "1.1" else head
        data = SquadTrainSet.of(ws, head_name)
        steps = train_steps or max(1, math.ceil(len(ws) * epochs / batch_size))
        args = FinetuneArgs(lr=lr, train_steps=steps, warmup_steps=int(steps * warmup_proportion),
                            batch_size=batch_size, micro_batch_size=micro_batch_size,
                            eval_every=eval_every or steps, max_seq_length=max_seq_length, seed=seed,
                            precision=precision, unpad=unpad, compile=compile, device=device, resume=resume, progress=progress)
        torch.manual_seed(seed)
        cls = AlbertForSquadV2 if head_name == "albert" else AlbertForQuestionAnswering
        net = cls(ckpt.read_config(ckpt.resolve(model))) if from_scratch else cls.from_pretrained(model)
        if info.is_main:
            print(f"[litebert squad] {len(train)} questions -> {len(ws)} windows; alignment "
                  f"{json.dumps({k: v for k, v in alignment.as_dict().items() if not k.endswith('_examples')})}",
                  file=sys.stderr, flush=True)
            if alignment.wrong_offset:
                ids = ", ".join(repr(x["id"]) for x in alignment.wrong_offset[:5])
                print(f"[litebert squad] warning: {train_file}: skipped {len(alignment.wrong_offset)} training "
                      f"question(s) whose answer text is not at its answer_start (the original's \"Could not find "
                      f"answer\"): {ids}{', ...' if len(alignment.wrong_offset) > 5 else ''}", file=sys.stderr,
                      flush=True)
        # each evaluation writes the prediction files: after training they are the last checkpoint's
        trained = finetune_loop(net, data, lambda m: evaluate_into(m, out), args, out, save=save_with_tokenizer(tok),
                                log=lambda m: None)
        if not info.is_main:
            D.teardown()
            return report
        report.update(train=trained, alignment=alignment.as_dict(), train_windows=len(ws))
        if has_answers:
            best = "best_dev (selected on dev: optimistic)"
            report["eval"] = {best: trained[best], "last": trained["last"]}
    else:
        if not info.is_main:
            D.teardown()
            return report
        arch = (ckpt.read_config(ckpt.resolve(model)).architectures or [""])[0]
        cls = AlbertForSquadV2 if arch.endswith("ForSquadV2") else AlbertForQuestionAnswering
        if not arch.endswith(("ForSquadV2", "ForQuestionAnswering")):
            raise SquadDataError(f"{model}: a {arch or 'model'} checkpoint has no question-answering head; "
                                 f"fine-tune it with --train_file first")
        if version == "1.1" and cls is AlbertForSquadV2:
            raise SquadDataError(f"{model} has the SQuAD 2.0 head; predict with --version 2.0")
        net = cls.from_pretrained(model).to(info.device)
        report["eval"] = {"model": evaluate_into(net, out)}
    report["files"] = sorted(str(p) for p in out.glob("*.json") if p.name != "squad_results.json")
    atomic_write_bytes(out / "squad_results.json", json.dumps(report, indent=2, default=str).encode())
    print(json.dumps({"version": version, "eval": report.get("eval"), "output": str(out)}, indent=2, default=str))
    D.teardown()
    return report


def model_tokenizer(model: str, tokenizer: str | None):
    """--tokenizer (or the model's own), refused when its ids reach past the model's embedding table."""
    tok = load_tokenizer(tokenizer or model)
    check_fits_model(tok, ckpt.read_config(ckpt.resolve(model)).vocab_size, model)
    return tok


def check_length(model: str, max_seq_length: int, error: type[Exception]) -> None:
    """Refuse, before any work, windows longer than the model's position table."""
    limit = ckpt.read_config(ckpt.resolve(model)).max_position_embeddings
    if max_seq_length > limit:
        raise error(f"--max_seq_length {max_seq_length} is longer than {model}'s max_position_embeddings ({limit}); "
                    f"pass --max_seq_length {limit} or less")


def _check_version(path: str, found: str, wanted: str) -> None:
    if found != wanted and not (wanted == "2.0" and found == "1.1"):
        raise SquadDataError(f"{path} is a SQuAD {found} file but --version is {wanted}")


def squad_evaluate(data_file: str, predictions: str, *, na_probs: str | None = None, version: str | None = None,
                   na_prob_thresh: float = 1.0) -> dict:
    """Score a predictions file with the official SQuAD v1.1 / v2.0 metrics, printing the official JSON keys.

    Example:
        litebert squad evaluate dev-v2.0.json runs/squad2/predictions.json --na_probs runs/squad2/null_odds.json

    Args:
        data_file: The SQuAD data file (its "version" picks the metric unless --version is given).
        predictions: JSON object question id -> predicted answer text.
        na_probs: v2.0: JSON object question id -> no-answer probability (or litebert's null_odds.json).
        version: 1.1 | 2.0, to override the data file's version.
        na_prob_thresh: v2.0: predict no-answer when na_prob exceeds this (the official default, 1.0).
    """
    from litebert.finetune.squad_eval import evaluate_files

    result = evaluate_files(data_file, predictions, na_probs, version, na_prob_thresh)
    print(json.dumps(result, indent=2) if "exact" in result else json.dumps(result))
    return result


def squad_check(data_file: str, *, tokenizer: str, max_seq_length: int = 384, doc_stride: int = 128,
                max_query_length: int = 64) -> dict:
    """Report how a SQuAD file's gold answers survive tokenization and windowing.

    How many answers the tokens' offsets give back exactly, how many start or end inside a token (with examples),
    how many windows hold the answer.

    Example:
        litebert squad check dev-v1.1.json --tokenizer albert-base-v2

    Args:
        data_file: SQuAD JSON (v1.1 or v2.0).
        tokenizer: Tokenizer (a model directory, a .model/vocab file or a hub id).
        max_seq_length: Tokens per window.
        doc_stride: Context tokens between the starts of consecutive windows.
        max_query_length: Question tokens kept.
    """
    examples, version = read_squad(data_file)
    report = AlignmentReport()
    ws = training_windows(load_tokenizer(tokenizer), examples, Settings(max_seq_length, doc_stride, max_query_length),
                          report)
    result = {"file": data_file, "version": version, "questions": len(examples), "windows": len(ws),
              **report.as_dict()}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
