"""`litebert finetune`: the users' own data on the shared loop.

Sequence tasks read CSV, TSV or JSONL files with a text column, an optional text-pair column and a label column (names
configurable): single-label classification, multi-label classification (JSON lists, or separator-joined labels) or
regression, inferred from the training labels or stated. Token classification reads CoNLL-style files (one
"TOKEN ... TAG" line per word, a blank line between sentences, BIO tags) and reports entity-level F1 with seqeval.
The label names are stored in the checkpoint (config.id2label), so `litebert classify` prints them.

Every reading error names the file and the line, and what was expected."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
import torch

from litebert import distributed as D
from litebert import training as T
from litebert.finetune import metrics as M
from litebert.finetune import sequence as S
from litebert.finetune.squad import check_length, model_tokenizer
from litebert.finetune.trainer import (ENCODER_PAD_VALUES, FinetuneArgs, TokenRows, check_output_dir, check_positive,
                                       encoder_inputs, file_sha256, finetune_loop, pad, predict_logits,
                                       save_with_tokenizer, summarize_seeds, tokenizer_identity)
from litebert.model import AlbertForSequenceClassification, AlbertForTokenClassification
from litebert.textio import atomic_write_bytes

TASK_KINDS = ("auto", "single_label", "multi_label", "regression", "tokens")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".conll": "conll",
           ".conllu": "conll", ".bio": "conll", ".iob": "conll", ".iob2": "conll"}


class FinetuneDataError(ValueError):
    """A data file is missing, empty or malformed; the message names the file and line."""


# ---------------------------------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    pair: str | None
    label: object  # str, number, list, or None (no label column: prediction files)


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in ("csv", "tsv", "jsonl", "conll"):
            raise FinetuneDataError(f"unknown --format {fmt!r}; one of auto, csv, tsv, jsonl, conll")
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".txt")] or [path.suffix.lower()]
    found = FORMATS.get(suffixes[-1])
    if found is None:
        raise FinetuneDataError(f"{path}: cannot tell the format from the name; pass --format csv|tsv|jsonl|conll")
    return found


def read_rows(path: str | Path, fmt: str, text_column: str, pair_column: str | None, label_column: str,
              need_label: bool) -> list[Row]:
    """Rows of a CSV/TSV (header line first) or JSONL file. A missing text-pair column means single texts; a
    missing label column is an error only when `need_label`."""
    path = Path(path)
    if not path.is_file():
        raise FinetuneDataError(f"{path}: not found")
    if fmt == "jsonl":
        return _read_jsonl(path, text_column, pair_column, label_column, need_label)
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t" if fmt == "tsv" else ",",
                            quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
        try:
            header = next(reader, None)
            if header is None:
                raise FinetuneDataError(f"{path}: empty file (expected a header line naming the columns)")

            def col(name: str | None, required: bool, what: str) -> int | None:
                if name is not None and name in header:
                    return header.index(name)
                if required:
                    raise FinetuneDataError(f"{path}:1: no {what} column {name!r} in the header ({', '.join(header)}); "
                                            f"name it with --{what.replace(' ', '_')}_column")
                return None

            t = col(text_column, True, "text")
            p = col(pair_column, False, "text pair")
            y = col(label_column, need_label, "label")
            rows = []
            for record in reader:
                line = reader.line_num
                if not record or all(not c.strip() for c in record):
                    continue
                if len(record) != len(header):
                    raise FinetuneDataError(f"{path}:{line}: {len(record)} columns, expected {len(header)} "
                                            f"({', '.join(header)})")
                rows.append(Row(line, record[t], record[p] if p is not None else None,
                                record[y] if y is not None else None))
        except csv.Error as e:
            raise FinetuneDataError(f"{path}:{reader.line_num}: {e}") from None
    if not rows:
        raise FinetuneDataError(f"{path}: no examples after the header")
    return rows


def _read_jsonl(path: Path, text_column: str, pair_column: str | None, label_column: str, need_label: bool) -> list[Row]:
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        for line, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise FinetuneDataError(f"{path}:{line}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise FinetuneDataError(f"{path}:{line}: expected a JSON object, got {type(obj).__name__}")
            if not isinstance(obj.get(text_column), str):
                raise FinetuneDataError(f"{path}:{line}: no string field {text_column!r} (fields: {', '.join(obj)})")
            if need_label and label_column not in obj:
                raise FinetuneDataError(f"{path}:{line}: no label field {label_column!r} (fields: {', '.join(obj)})")
            pair = obj.get(pair_column) if pair_column else None
            if pair is not None and not isinstance(pair, str):
                raise FinetuneDataError(f"{path}:{line}: field {pair_column!r} must be a string")
            rows.append(Row(line, obj[text_column], pair, obj.get(label_column)))
    if not rows:
        raise FinetuneDataError(f"{path}: empty file (expected one JSON object per line)")
    if len({r.pair is None for r in rows}) > 1:
        r = next(r for r in rows if r.pair is None)
        raise FinetuneDataError(f"{path}:{r.line}: no {pair_column!r} field, but other lines have one")
    return rows


@dataclass(frozen=True)
class Sentence:
    line: int  # of its first word
    words: list[str]
    tags: list[str]


def read_conll(path: str | Path, need_tags: bool = True) -> list[Sentence]:
    """CoNLL-style token files: "WORD [other columns] TAG" per line (whitespace-separated; the first column is the
    word and the last the tag), blank lines between sentences, -DOCSTART- lines ignored. Tags are O or carry a
    B-/I-/E-/S- (or U-/L-) prefix. need_tags=False (files to predict): one WORD per line is enough, other columns are
    ignored and the sentences have no tags."""
    path = Path(path)
    if not path.is_file():
        raise FinetuneDataError(f"{path}: not found")
    sentences, words, tags, start = [], [], [], 0
    with open(path, encoding="utf-8-sig") as f:
        for line, raw in enumerate(f, 1):
            cols = raw.split()
            if not cols or cols[0] == "-DOCSTART-":
                if words:
                    sentences.append(Sentence(start, words, tags))
                words, tags = [], []
                continue
            if not need_tags:
                if not words:
                    start = line
                words.append(cols[0])
                continue
            if len(cols) < 2:
                raise FinetuneDataError(f"{path}:{line}: expected 'WORD ... TAG' (at least 2 whitespace-separated "
                                        f"columns), got {raw.strip()!r}")
            tag = cols[-1]
            if tag != "O" and (len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIESUL"):
                raise FinetuneDataError(f"{path}:{line}: tag {tag!r} is neither O nor B-/I-/E-/S-TYPE (is the tag the "
                                        f"last column?)")
            if not words:
                start = line
            words.append(cols[0])
            tags.append(tag)
    if words:
        sentences.append(Sentence(start, words, tags))
    if not sentences:
        raise FinetuneDataError(f"{path}: empty file (expected 'WORD TAG' lines, sentences separated by blank lines)")
    return sentences


# ---------------------------------------------------------------------------------------------------------------------
# labels


def _is_number(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, (int, float)):
        return math.isfinite(x)
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _parses(x) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def _is_integral(x) -> bool:
    return float(x) == int(float(x)) and "." not in str(x) and "e" not in str(x).lower()


def infer_problem(rows: Sequence[Row], path: Path | None = None) -> str:
    """multi_label when labels are lists; regression when every label is a number and some have a decimal point;
    single_label otherwise (integers such as 0/1 are class names).

    Decimal numbers on all but a few rows (at most 10%, or 3) are an error naming those rows: a typo (or a nan) in a
    column of scores would otherwise turn the run into classification over every distinct score."""
    labels = [r.label for r in rows]
    if any(isinstance(x, list) for x in labels):
        return "multi_label"
    bad = [r for r in rows if not _is_number(r.label)]
    if not any(_is_number(x) and not _is_integral(x) for x in labels):
        return "single_label"
    if not bad:
        return "regression"
    if len(bad) <= max(3, len(rows) // 10) and len(bad) < len(rows) - len(bad):
        shown = ", ".join(f"{r.line} ({r.label!r})" for r in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise FinetuneDataError(f"{path or 'the training file'}: the labels are decimal numbers (regression) except "
                                f"on line(s) {shown}; fix those, or pass --task single_label if the labels are class "
                                f"names")
    return "single_label"


def _label_names(rows: Sequence[Row], problem: str, separator: str, path: Path) -> list[list[str]] | list[str]:
    out = []
    for r in rows:
        x = r.label
        if x is None or (isinstance(x, str) and not x.strip() and problem != "multi_label"):
            raise FinetuneDataError(f"{path}:{r.line}: empty label")
        if problem == "multi_label":
            names = x if isinstance(x, list) else [s.strip() for s in str(x).split(separator) if s.strip()]
            out.append([str(n) for n in names])
        elif isinstance(x, (list, dict)):
            raise FinetuneDataError(f"{path}:{r.line}: label {x!r} is a {type(x).__name__}; lists mean --task multi_label")
        else:
            out.append(str(x).strip())
    return out


def label_list_of(names) -> list[str]:
    """Sorted label names; numerically when they are all integers (so '2' comes after '10' never)."""
    flat = {n for x in names for n in (x if isinstance(x, list) else [x])}
    if flat and all(_is_number(n) and _is_integral(n) for n in flat):
        return sorted(flat, key=lambda n: int(n))
    return sorted(flat)


def encode_labels(rows: Sequence[Row], problem: str, label_list: list[str] | None, separator: str, path: Path) -> list:
    if problem == "regression":
        bad = next((r for r in rows if not _is_number(r.label)), None)
        if bad is not None:
            finite = "finite " if not isinstance(bad.label, bool) and _parses(bad.label) else ""  # nan, inf
            raise FinetuneDataError(f"{path}:{bad.line}: label {bad.label!r} is not a {finite}number (regression)")
        return [float(r.label) for r in rows]
    index = {n: i for i, n in enumerate(label_list)}
    out = []
    for r, names in zip(rows, _label_names(rows, problem, separator, path)):
        for n in names if problem == "multi_label" else [names]:
            if n not in index:
                raise FinetuneDataError(f"{path}:{r.line}: label {n!r} does not occur in the training file "
                                        f"(labels: {', '.join(label_list)})")
        if problem == "multi_label":
            hot = [0.0] * len(label_list)
            for n in names:
                hot[index[n]] = 1.0
            out.append(hot)
        else:
            out.append(index[names])
    return out


# ---------------------------------------------------------------------------------------------------------------------
# token classification


@dataclass
class TaggedSet(TokenRows):
    """Words cut into pieces; the label sits on each word's first piece (-100 elsewhere, ignored by the loss)."""

    input_ids: list[list[int]]
    labels: list[list[int]] | None
    first_piece: list[list[int]]  # position of each kept word's first piece
    num_words: list[int]  # words in the sentence (those past max_seq_length are not in first_piece)
    pad_values: ClassVar[dict[str, int]] = {**ENCODER_PAD_VALUES, "labels": -100}

    def units(self, rows: Sequence[int]) -> int:
        return sum(len(self.first_piece[r]) for r in rows)

    def collate(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        batch = encoder_inputs(self.input_ids, None, rows)
        if self.labels is not None:
            batch["labels"] = pad([self.labels[r] for r in rows], value=-100)
        return {k: v.to(device) for k, v in batch.items()}


def encode_tagged(tokenizer, sentences: Sequence[Sentence], tag_index: dict[str, int] | None, max_seq_length: int,
                  path: Path | None = None) -> TaggedSet:
    flat = [w for s in sentences for w in s.words]
    pieces = tokenizer.encode_batch(flat, add_special_tokens=False)["input_ids"]
    ids, labels, firsts, counts, k = [], [], [], [], 0
    for s in sentences:
        row, lab, first = [tokenizer.cls_id], [-100], []
        for j in range(len(s.words)):  # files to predict have no tags
            p = list(pieces[k + j]) or [tokenizer.unk_id]  # a word the vocabulary drops still gets a position
            if len(row) + len(p) + 1 > max_seq_length:
                break
            first.append(len(row))
            if tag_index is not None:
                tag = s.tags[j]
                if tag not in tag_index:
                    raise FinetuneDataError(f"{path}:{s.line}: tag {tag!r} does not occur in the training file "
                                            f"(tags: {', '.join(tag_index)})")
                lab += [tag_index[tag]] + [-100] * (len(p) - 1)
            row += p
        k += len(s.words)
        ids.append(row + [tokenizer.sep_id])
        labels.append(lab[:len(row)] + [-100])
        firsts.append(first)
        counts.append(len(s.words))
    return TaggedSet(ids, labels if tag_index is not None else None, firsts, counts)


@torch.no_grad()
def predict_tags(model, data: TaggedSet, device, tag_list: list[str], batch_size: int = 64,
                 precision: str = "fp32") -> list[list[str]]:
    """A tag per word; words past max_seq_length get O (they were never seen), so scores count them honestly."""
    was_training = model.training
    model.eval()
    out: list[list[str]] = [[] for _ in range(len(data))]
    order = sorted(range(len(data)), key=lambda i: data.lengths[i])
    for k in range(0, len(order), batch_size):
        rows = order[k:k + batch_size]
        b = data.collate(rows, device)
        b.pop("labels", None)
        with T.autocast(precision, device):
            best = model(**b).logits.argmax(-1).cpu().numpy()
        for j, r in enumerate(rows):
            tags = [tag_list[int(best[j, pos])] for pos in data.first_piece[r]]
            out[r] = tags + ["O"] * (data.num_words[r] - len(tags))
    model.train(was_training)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the command


def finetune(*, train: str, dev: str, model: str, output: str, test: str | None = None, task: str = "auto",
             format: str = "auto", text_column: str = "text", text_pair_column: str = "text_pair",
             label_column: str = "label", label_separator: str = "|", lr: float = 2e-5, epochs: float = 3.0,
             train_steps: int | None = None, warmup_ratio: float = 0.1, batch_size: int = 32,
             micro_batch_size: int | None = None, eval_every: int | None = None, max_seq_length: int = 128,
             seed: int = 12345, seeds: int = 1, precision: str = "fp32", unpad: bool = False, compile: str = "none",
             device: str = "auto", tokenizer: str | None = None, resume: bool = True, progress: bool = True) -> dict:
    """Fine-tune on your own classification, regression or tagging files; keep the best-dev and the last checkpoint.

    Example:
        litebert finetune --train reviews_train.csv --dev reviews_dev.csv --model albert-base-v2 --output runs/reviews
        litebert finetune --train ner_train.conll --dev ner_dev.conll --model albert-base-v2 --output runs/ner

    Args:
        train: Training file: .csv/.tsv (header line first), .jsonl, or CoNLL (.conll/.bio/.iob; token tagging).
        dev: Development file in the same format (scored every eval_every steps; picks best/).
        model: Pretrained checkpoint (directory or hub id).
        output: Directory for best/, last/, eval_results.json, predictions.jsonl.
        test: Optional file to predict with the best-dev checkpoint (labels not needed) -> OUTPUT/predictions.jsonl.
        task: auto | single_label | multi_label | regression | tokens. auto: CoNLL files are tokens; JSON lists are
            multi_label; numbers with a decimal point are regression; anything else single_label.
        format: auto (from the file name) | csv | tsv | jsonl | conll.
        text_column: Column (field) with the text.
        text_pair_column: Column with the second text of a pair; single texts when the file has no such column.
        label_column: Column with the label.
        label_separator: Splits a CSV/TSV label cell into several labels (multi_label).
        lr: Peak learning rate (AdamW, linear warmup then linear decay).
        epochs: Passes over the training data (ignored when train_steps is given).
        train_steps: Optimizer steps.
        warmup_ratio: Fraction of the steps spent warming up.
        batch_size: Examples per optimizer step over all ranks.
        micro_batch_size: Examples per forward pass per rank (gradient accumulation when smaller).
        eval_every: Steps between dev evaluations (default: 10 per run).
        max_seq_length: Tokens per example (batches are padded only to their longest example).
        seed: Seed of the head's init and of the data order.
        seeds: Train this many seeds (seed, seed+1, ...) into OUTPUT/seed_S and report mean and spread.
        precision: fp32 | bf16 | fp16.
        unpad: Drop the padding inside the encoder (docs/model.md: the padded run's numbers without encoder
            dropout; meant for a GPU in bf16/fp16 with varlen FlashAttention: on a CPU training speed is unchanged).
        compile: none | default | reduce-overhead | max-autotune: torch.compile the training step (reduce-overhead:
            CUDA graphs, for GPUs, where short batches are bound by kernel launches; batch lengths are then
            padded to a multiple of 16). No gain on a CPU. Excludes --unpad.
        device: auto | cpu | cuda (under torchrun: one GPU per process).
        tokenizer: Tokenizer directory, when it is not saved with the model.
        resume: Continue an interrupted run from OUTPUT/checkpoint.
        progress: Show the progress bar.
    """
    if task not in TASK_KINDS:
        raise FinetuneDataError(f"unknown --task {task!r}; one of {', '.join(TASK_KINDS)}")
    if seeds < 1:
        raise FinetuneDataError(f"--seeds must be at least 1, got {seeds}")
    check_positive(FinetuneDataError, lr=lr, epochs=epochs, train_steps=train_steps, batch_size=batch_size,
                   eval_every=eval_every)
    out = check_output_dir(output, FinetuneDataError)
    train_path, dev_path = Path(train), Path(dev)
    fmt = detect_format(train_path, format)
    if fmt == "conll" and task not in ("auto", "tokens"):
        raise FinetuneDataError(f"{train_path}: CoNLL files are token tagging (--task tokens), not {task}")
    kind = "tokens" if fmt == "conll" or task == "tokens" else task
    check_length(model, max_seq_length, FinetuneDataError)  # before any work, not at the first long row
    tok = model_tokenizer(model, tokenizer)
    info = D.init_distributed(device)

    if kind == "tokens":
        if fmt != "conll":
            raise FinetuneDataError(f"{train_path}: token tagging reads CoNLL files (WORD ... TAG per line)")
        if test:
            read_conll(test, need_tags=False)  # a bad file to predict fails now, not after training
        tr_sents, dv_sents = read_conll(train_path), read_conll(dev_path)
        label_list = sorted({t for s in tr_sents for t in s.tags}, key=lambda t: (t != "O", t[2:], t))
        index = {t: i for i, t in enumerate(label_list)}
        train_set = encode_tagged(tok, tr_sents, index, max_seq_length, train_path)
        dev_set = encode_tagged(tok, dv_sents, index, max_seq_length, dev_path)
        gold = [s.tags for s in dv_sents]

        def evaluate(m) -> dict:
            scores = M.entities(predict_tags(m, dev_set, info.device, label_list, precision=precision), gold)
            return {**scores, "main": scores["f1"]}

        def new_model(s: int):
            torch.manual_seed(s)
            return AlbertForTokenClassification.from_pretrained(model, num_labels=len(label_list),
                                                                id2label=dict(enumerate(label_list)))
        chance, majority = math.log(len(label_list)), None
        summary = {"task": "tokens", "labels": label_list, "train_sentences": len(tr_sents),
                   "truncated_train_words": sum(n - len(f) for n, f in zip(train_set.num_words, train_set.first_piece))}
    else:
        dv_fmt = detect_format(dev_path, format)
        tr_rows = read_rows(train_path, fmt, text_column, text_pair_column, label_column, need_label=True)
        dv_rows = read_rows(dev_path, dv_fmt, text_column, text_pair_column, label_column, need_label=True)
        if test:  # a bad file to predict fails now, not after training
            read_rows(Path(test), detect_format(Path(test), format), text_column, text_pair_column, label_column,
                      need_label=False)
        problem = infer_problem(tr_rows, train_path) if kind == "auto" else kind
        label_list = None if problem == "regression" else \
            label_list_of(_label_names(tr_rows, problem, label_separator, train_path))
        if label_list is not None and len(label_list) < 2 and problem == "single_label":
            raise FinetuneDataError(f"{train_path}: only one label ({label_list[0]!r}) in the training file")
        tr_labels = encode_labels(tr_rows, problem, label_list, label_separator, train_path)
        dv_labels = encode_labels(dv_rows, problem, label_list, label_separator, dev_path)
        pairs = tr_rows[0].pair is not None
        if pairs != (dv_rows[0].pair is not None):
            raise FinetuneDataError(f"{dev_path}: {'has no' if pairs else 'has a'} {text_pair_column!r} column but "
                                    f"{train_path} {'does' if pairs else 'does not'}")
        train_set = S.encode(tok, [r.text for r in tr_rows], [r.pair for r in tr_rows] if pairs else None,
                             tr_labels, max_seq_length)
        dev_set = S.encode(tok, [r.text for r in dv_rows], [r.pair for r in dv_rows] if pairs else None,
                           dv_labels, max_seq_length)
        evaluate = S.evaluator(dev_set, problem, info.device, precision=precision)
        chance, majority = S.chance_levels(problem, tr_labels, dv_labels)

        def new_model(s: int):
            return S.new_classifier(model, problem, label_list, s)
        summary = {"task": problem, "labels": label_list, "train_examples": len(tr_rows), "pairs": pairs}

    steps = train_steps or max(1, math.ceil(epochs * len(train_set) / batch_size))
    # what a finished seed was trained on: a restarted run reuses it only when all of this is unchanged
    identity = {"task": summary["task"], "format": fmt, "columns": [text_column, text_pair_column, label_column],
                "label_separator": label_separator, "max_seq_length": max_seq_length,
                "tokenizer": tokenizer_identity(tokenizer),
                "train_sha256": file_sha256(train_path), "dev_sha256": file_sha256(dev_path)}
    reports = []
    runs = [(seed + k, out / f"seed_{seed + k}" if seeds > 1 else out) for k in range(seeds)]
    for s, run_dir in runs:
        args = FinetuneArgs(lr=lr, train_steps=steps, warmup_steps=int(warmup_ratio * steps), batch_size=batch_size,
                            micro_batch_size=micro_batch_size, eval_every=eval_every or max(1, steps // 10),
                            max_seq_length=max_seq_length, seed=s, precision=precision, unpad=unpad, compile=compile, device=device, resume=resume,
                            progress=progress)
        reports.append(finetune_loop(new_model(s), train_set, evaluate, args, run_dir, save=save_with_tokenizer(tok),
                                     chance_loss=chance, majority_accuracy=majority, identity=identity))
    if not info.is_main:
        D.teardown()
        return {}
    result = {**summary, "train_steps": steps}
    if seeds > 1:
        result["seeds"] = summarize_seeds(reports)
    else:
        result["best_dev (selected on dev: optimistic)"] = reports[0]["best_dev (selected on dev: optimistic)"]
        result["last"] = reports[0]["last"]
    if test:
        best_dir = runs[0][1] / "best"
        result["predictions"] = str(_predict_file(best_dir, tok, Path(test), format, text_column, text_pair_column,
                                                  label_column, kind, max_seq_length, info.device, out))
    atomic_write_bytes(out / "finetune_results.json", json.dumps(result, indent=2).encode())
    print(json.dumps({k: v for k, v in result.items() if k != "labels" or (v and len(v) <= 20)}, indent=2))
    D.teardown()
    return result


def _predict_file(best_dir: Path, tok, path: Path, fmt: str, text_column: str, pair_column: str, label_column: str,
                  kind: str, max_seq_length: int, device, out: Path) -> Path:
    """OUTPUT/predictions.jsonl from the best-dev checkpoint: labels by name (with scores), values, or word tags."""
    lines = []
    if kind == "tokens":
        m = AlbertForTokenClassification.from_pretrained(best_dir).to(device)
        tags = [m.config.id2label[i] for i in range(m.config.num_labels)]
        sents = read_conll(path, need_tags=False)
        data = encode_tagged(tok, sents, None, max_seq_length)
        for s, pred in zip(sents, predict_tags(m, data, device, tags)):
            lines.append({"words": s.words, "tags": pred})
    else:
        m = AlbertForSequenceClassification.from_pretrained(best_dir).to(device)
        rows = read_rows(path, detect_format(path, fmt), text_column, pair_column, label_column, need_label=False)
        pairs = rows[0].pair is not None
        data = S.encode(tok, [r.text for r in rows], [r.pair for r in rows] if pairs else None, None, max_seq_length)
        logits = predict_logits(m, data, device)
        problem = {v: k for k, v in S.PROBLEMS.items()}[m.config.problem_type]
        names = m.config.id2label
        preds = S.predictions(problem, logits)
        for r, lg, p in zip(rows, logits, preds):
            row = {"text": r.text, **({"text_pair": r.pair} if pairs else {})}
            if problem == "regression":
                row["score"] = float(p)
            elif problem == "multi_label":
                row["labels"] = [names[i] for i in np.flatnonzero(p)]
            else:
                prob = np.exp(lg - lg.max())
                row["label"], row["score"] = names[int(p)], float(prob[int(p)] / prob.sum())
            lines.append(row)
    target = out / "predictions.jsonl"
    atomic_write_bytes(target, "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
    return target
