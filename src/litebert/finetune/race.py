"""RACE (reading comprehension from English exams) on the shared fine-tuning loop, as google-research/albert's
run_race.py: four (article, question + option) rows per question, the pooled [CLS] of each scored by one linear
layer, softmax over the four. Accuracy per level (middle, high) and overall.

Inputs per option (race_utils.py): a question with a blank ``_`` is a cloze and the option fills the blank, otherwise
the row reads ``question option``; that text keeps its last `max_qa_length` tokens, the article is cut from its end to
fit, and the row is ``[CLS] article [SEP] question-option [SEP]`` (segments 0 then 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
import torch

from litebert import distributed as D
from litebert.finetune.squad import check_length, model_tokenizer
from litebert.finetune.trainer import (ENCODER_PAD_VALUES, FinetuneArgs, check_output_dir, check_positive,
                                       finetune_loop, pad, predict_logits, save_with_tokenizer)
from litebert.model import AlbertForMultipleChoice
from litebert.textio import atomic_write_bytes

LEVELS = ("middle", "high")
LABELS = "ABCD"
_SPLIT = re.compile(r"^(?P<name>[\w.-]+)(?:\[(?P<a>-?\d+)?:(?P<b>-?\d+)?\])?$")


class RaceDataError(ValueError):
    """A RACE directory or file is not in the expected layout."""


@dataclass
class RaceExample:
    qid: str  # article id + question number, e.g. "high1001.txt-2"
    level: str
    article: str
    question: str
    options: list[str]
    label: int  # 0-3 (A-D); -1 when the answer is not given


def _parse(obj, where: str, level: str, fallback_id: str) -> list[RaceExample]:
    try:
        article, questions, options, answers = obj["article"], obj["questions"], obj["options"], obj["answers"]
    except (KeyError, TypeError):
        raise RaceDataError(f"{where}: expected a JSON object with article, questions, options and answers") from None
    if not (len(questions) == len(options) == len(answers)):
        raise RaceDataError(f"{where}: {len(questions)} questions, {len(options)} option lists and {len(answers)} "
                            f"answers: expected as many of each")
    out = []
    for k, (q, opts, a) in enumerate(zip(questions, options, answers)):
        if len(opts) != 4:
            raise RaceDataError(f"{where}: question {k} has {len(opts)} options, expected 4")
        if a not in ("A", "B", "C", "D", ""):
            raise RaceDataError(f"{where}: question {k} has answer {a!r}, expected one of A, B, C, D")
        out.append(RaceExample(f"{obj.get('id') or level + '/' + fallback_id}-{k}", level, article, q, list(opts),
                               LABELS.index(a) if a else -1))
    return out


def read_race(data_dir: str | Path, split: str, levels: Sequence[str] = LEVELS) -> list[RaceExample]:
    """The questions of DATA_DIR/RACE/SPLIT/{middle,high}: one JSON file per article, or one `all.txt` with a JSON
    object per line. `split` may slice the examples: "dev[:400]", "dev[400:]". DATA_DIR may also be the RACE folder."""
    m = _SPLIT.match(split)
    if not m:
        raise RaceDataError(f"split {split!r}: expected a name, optionally sliced as name[start:end]")
    root = Path(data_dir)
    root = root / "RACE" if (root / "RACE").is_dir() else root
    if not (root / m["name"]).is_dir():
        raise RaceDataError(f"{root / m['name']}: no such directory (expected DATA_DIR/RACE/{m['name']}/middle and "
                            f"/high)")
    out: list[RaceExample] = []
    for level in levels:
        folder = root / m["name"] / level
        if not folder.is_dir():
            raise RaceDataError(f"{folder}: no such directory")
        # one JSON object per line: a file per article (one line), or all.txt (every article of the level)
        files = [folder / "all.txt"] if (folder / "all.txt").is_file() else \
            sorted(folder.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
        for path in files:
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        where = f"{path}:{n}"
                        out += _parse(_json(line, where), where, level, path.name if n == 1 else f"{path.name}:{n}")
    if not out:
        raise RaceDataError(f"{root / m['name']}: no questions")
    a = int(m["a"]) if m["a"] else None
    b = int(m["b"]) if m["b"] else None
    if not out[a:b]:
        raise RaceDataError(f"split {split!r} selects no questions (the split has {len(out)})")
    return out[a:b]


def _json(text: str, where: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RaceDataError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None


def qa_text(question: str, option: str) -> str:
    """The cloze rule: the option fills the blank when the question has one, else question + " " + option."""
    return question.replace("_", option) if "_" in question else f"{question} {option}"


@dataclass
class ChoiceSet:
    """Encoded RACE questions: 4 rows each (a TrainSet for finetune_loop)."""

    input_ids: list[list[list[int]]]
    token_type_ids: list[list[list[int]]]
    labels: list[int]
    levels: list[str]
    pad_values: ClassVar[dict[str, int]] = ENCODER_PAD_VALUES  # (B, 4, T) fields, padded on T

    @property
    def lengths(self) -> list[int]:
        return [max(len(r) for r in rows) * len(rows) for rows in self.input_ids]

    def __len__(self) -> int:
        return len(self.labels)

    def units(self, rows: Sequence[int]) -> int:
        return len(rows)

    def collate(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        flat = [x for r in rows for x in self.input_ids[r]]
        ids = pad(flat)
        B, C = len(rows), len(self.input_ids[rows[0]])
        batch = {"input_ids": ids.view(B, C, -1),
                 "attention_mask": pad([[1] * len(x) for x in flat]).view(B, C, -1),
                 "token_type_ids": pad([t for r in rows for t in self.token_type_ids[r]]).view(B, C, -1)}
        if all(self.labels[r] >= 0 for r in rows):
            batch["labels"] = torch.tensor([self.labels[r] for r in rows])
        return {k: v.to(device) for k, v in batch.items()}


def encode(tokenizer, examples: Sequence[RaceExample], max_seq_length: int = 512,
           max_qa_length: int = 128) -> ChoiceSet:
    """[CLS] article [SEP] qa [SEP] for each option; qa keeps its last max_qa_length tokens, the article its first
    tokens that fit."""
    ids, types = [], []
    article_cache: dict[str, list[int]] = {}
    for ex in examples:
        if ex.article not in article_cache:
            article_cache.clear()  # questions of one article come together: keep one
            article_cache[ex.article] = tokenizer.encode(ex.article, add_special_tokens=False)["input_ids"]
        art = article_cache[ex.article]
        rows, row_types = [], []
        qas = tokenizer.encode_batch([qa_text(ex.question, o) for o in ex.options], add_special_tokens=False)
        for qa in qas["input_ids"]:
            qa = list(qa)[-max_qa_length:] if max_qa_length > 0 else list(qa)
            room = max_seq_length - len(qa) - 3
            if room < 0:
                raise RaceDataError(f"max_seq_length {max_seq_length} is too small for max_qa_length {max_qa_length}")
            a = art[:room]
            rows.append([tokenizer.cls_id, *a, tokenizer.sep_id, *qa, tokenizer.sep_id])
            row_types.append([0] * (len(a) + 2) + [1] * (len(qa) + 1))
        ids.append(rows)
        types.append(row_types)
    return ChoiceSet(ids, types, [e.label for e in examples], [e.level for e in examples])


def accuracy_by_level(scores: np.ndarray, data: ChoiceSet) -> dict[str, float]:
    pred = scores.argmax(-1)
    labels = np.asarray(data.labels)
    levels = np.asarray(data.levels)
    out = {"accuracy": float((pred == labels).mean()), "total": len(labels)}
    for level in LEVELS:
        sel = levels == level
        if sel.any():
            out[f"{level}_accuracy"] = float((pred[sel] == labels[sel]).mean())
            out[f"{level}_total"] = int(sel.sum())
    out["main"] = out["accuracy"]
    return out


def race(*, data_dir: str, model: str, output: str, train_split: str = "train", eval_split: str = "dev",
         predict_split: str | None = None, do_train: bool = True, middle_only: bool = False, high_only: bool = False,
         max_seq_length: int = 512, max_qa_length: int = 128, lr: float = 1e-5, dropout_prob: float = 0.1,
         train_steps: int = 12000,
         warmup_steps: int = 1000, batch_size: int = 32, micro_batch_size: int | None = None,
         eval_every: int | None = None, seed: int = 12345, precision: str = "fp32", unpad: bool = False,
         compile: str = "none", device: str = "auto", tokenizer: str | None = None, resume: bool = True,
         progress: bool = True) -> dict:
    """Fine-tune on RACE and report accuracy per level (middle, high) and overall; optionally write predictions.

    Example:
        litebert race --data_dir data/ --model albert-base-v2 --output runs/race --micro_batch_size 8

    Args:
        data_dir: Holds RACE/{train,dev,test}/{middle,high}/ (one JSON file per article, or all.txt with one JSON per
            line); may also be the RACE folder itself.
        model: Pretrained checkpoint (directory or hub id); with --do_train false, a fine-tuned AlbertForMultipleChoice.
        output: Directory for best/, last/, eval_results.json, race_results.json and predictions.
        train_split: Split to train on; a slice such as dev[:1000] takes part of one.
        eval_split: Split to evaluate on (and pick best/ by), e.g. dev or dev[1000:].
        predict_split: Split to write OUTPUT/predictions_SPLIT.jsonl for (id, level, predicted A-D, scores), from
            the best-dev checkpoint as the original (model.ckpt-best).
        do_train: Fine-tune; false evaluates --model as it is.
        middle_only: Only the middle-school questions.
        high_only: Only the high-school questions.
        max_seq_length: Tokens per (article, option) row.
        max_qa_length: Tokens kept of question + option (its last ones).
        lr: Peak learning rate (the original: 1e-5; its README: ALBERT v2 needs 1e-5 and no dropout).
        dropout_prob: Dropout before the classifier (the original's flag, default 0.1; its README: 0 for v2 models).
        train_steps: Optimizer steps (the original: 12000).
        warmup_steps: Warmup steps (the original: 1000).
        batch_size: Questions per optimizer step over all ranks (the original: 32).
        micro_batch_size: Questions per forward pass per rank (gradient accumulation when smaller).
        eval_every: Steps between evaluations (default: only at the end).
        seed: Seed of the head's init and the data order.
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
    if middle_only and high_only:
        raise RaceDataError("--middle_only and --high_only exclude each other")
    levels = ("middle",) if middle_only else ("high",) if high_only else LEVELS
    check_positive(RaceDataError, lr=lr, train_steps=train_steps, batch_size=batch_size, eval_every=eval_every)
    out = check_output_dir(output, RaceDataError)
    check_length(model, max_seq_length, RaceDataError)
    tok = model_tokenizer(model, tokenizer)
    info = D.init_distributed(device)
    load = lambda split: encode(tok, read_race(data_dir, split, levels), max_seq_length, max_qa_length)  # noqa: E731
    dev = load(eval_split)
    if min(dev.labels) < 0:
        raise RaceDataError(f"{eval_split}: some questions have no answer; evaluate on a split with answers")
    report: dict = {"levels": list(levels)}
    if do_train:
        train = load(train_split)
        if min(train.labels) < 0:
            raise RaceDataError(f"{train_split}: some questions have no answer; train on a split with answers")
        args = FinetuneArgs(lr=lr, train_steps=train_steps, warmup_steps=warmup_steps, batch_size=batch_size,
                            micro_batch_size=micro_batch_size, eval_every=eval_every or train_steps,
                            max_seq_length=max_seq_length, seed=seed, precision=precision, unpad=unpad, compile=compile, device=device,
                            resume=resume, progress=progress)
        torch.manual_seed(seed)
        net = AlbertForMultipleChoice.from_pretrained(model, classifier_dropout_prob=dropout_prob)

        def evaluate(m) -> dict:
            return accuracy_by_level(predict_logits(m, dev, info.device, 16, precision), dev)

        trained = finetune_loop(net, train, evaluate, args, out, save=save_with_tokenizer(tok),
                                chance_loss=float(np.log(4)), majority_accuracy=float(
                                    np.bincount(dev.labels, minlength=4).max() / len(dev)), log=lambda m: None)
        if not info.is_main:
            D.teardown()
            return report
        report["train"] = trained
        report["eval"] = {"best_dev (selected on dev: optimistic)": trained["best_dev (selected on dev: optimistic)"],
                          "last": trained["last"]}
        final = out / "best"  # the original predicts with model.ckpt-best
    else:
        if not info.is_main:
            D.teardown()
            return report
        final = Path(model)
        net = AlbertForMultipleChoice.from_pretrained(model).to(info.device)
        report["eval"] = {"model": accuracy_by_level(predict_logits(net, dev, info.device, 16, precision), dev)}
    if predict_split:
        net = AlbertForMultipleChoice.from_pretrained(final).to(info.device)
        examples = read_race(data_dir, predict_split, levels)
        scores = predict_logits(net, encode(tok, examples, max_seq_length, max_qa_length), info.device, 16, precision)
        name = re.sub(r"[^\w.-]+", "_", predict_split).strip("_")
        lines = [json.dumps({"id": e.qid, "level": e.level, "prediction": LABELS[int(s.argmax())],
                             "scores": [round(float(x), 5) for x in s]}) for e, s in zip(examples, scores)]
        atomic_write_bytes(out / f"predictions_{name}.jsonl", ("\n".join(lines) + "\n").encode())
        report["predictions"] = str(out / f"predictions_{name}.jsonl") + f" (from {final})"
    atomic_write_bytes(out / "race_results.json", json.dumps(report, indent=2, default=str).encode())
    print(json.dumps({"eval": report["eval"], "output": str(out)}, indent=2, default=str))
    D.teardown()
    return report
