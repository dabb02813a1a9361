"""The GLUE tasks as data (one row per task, the original run_glue.sh hyper-parameters included) and readers for
the GLUE distribution's TSV files as they are: headers or not, a UTF-8 byte-order mark (MRPC), unbalanced quotes
(read with quoting off, as google-research/albert does). Errors name the file, the line and what was expected."""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from litebert import distributed as D
from litebert.finetune import sequence as S
from litebert.finetune.squad import check_length, model_tokenizer
from litebert.finetune.trainer import (FinetuneArgs, check_output_dir, check_positive, file_sha256, finetune_loop,
                                       predict_logits, save_with_tokenizer, summarize_seeds, tokenizer_identity)
from litebert.model import AlbertForSequenceClassification
from litebert.textio import atomic_write_bytes


class GlueDataError(ValueError):
    """A GLUE file is missing or malformed; the message names the file and line."""


def task_columns(config, label_list: list[str] | None, task: str, where) -> list[int]:
    """The checkpoint's logit columns in the task's label order. A checkpoint fine-tuned elsewhere may name the same
    labels in another order (its config.id2label): its columns are permuted by name (case-insensitive; for the 0/1
    tasks also by what 0 and 1 mean, e.g. NEGATIVE/POSITIVE for SST-2); generic names (LABEL_0, ...) are taken in the
    task's order; other names, or another label count, are refused."""
    n = config.num_labels
    if not label_list:
        if n != 1:
            raise GlueDataError(f"{where}: {task} is a regression task (1 output), the checkpoint has {n} labels")
        return [0]
    names = [str((config.id2label or {}).get(i, f"LABEL_{i}")) for i in range(n)]
    if n != len(label_list):
        raise GlueDataError(f"{where}: the checkpoint has {n} labels {names}, {task} has {len(label_list)} "
                            f"{label_list}")
    folded = [x.lower() for x in names]
    for labels in (label_list, LABEL_WORDS.get(task, ())):
        if sorted(folded) == sorted(x.lower() for x in labels):
            return [folded.index(x.lower()) for x in labels]
    if all(x == f"label_{i}" for i, x in enumerate(folded)):
        return list(range(n))
    raise GlueDataError(f"{where}: the checkpoint's labels {names} are not {task}'s {label_list}"
                        + (f" (or {list(LABEL_WORDS[task])})" if task in LABEL_WORDS else ""))


# What the tasks whose TSV labels are 0/1 mean, as checkpoints on the hub name them (GLUE's own definitions)
LABEL_WORDS = {"cola": ("unacceptable", "acceptable"), "sst-2": ("negative", "positive"),
               "mrpc": ("not_equivalent", "equivalent"), "qqp": ("not_duplicate", "duplicate")}


@dataclass(frozen=True)
class GlueTask:
    name: str
    folder: str
    text_a: str | int  # column name, or index for header-less files (CoLA train/dev)
    text_b: str | int | None
    label: str | int | None
    labels: tuple[str, ...] | None  # None: regression
    metric: str
    files: dict[str, str]
    has_header: bool = True
    # google-research/albert run_glue.sh (all with max_seq_length 512, AdamW, do_lower_case); see docs/finetuning
    lr: float = 2e-5
    train_steps: int = 800
    warmup_steps: int = 200
    batch_size: int = 32
    eval_every: int = 100
    test_text_a: str | None = None  # test files have their own header (index + texts, no label)
    test_text_b: str | None = None
    extra_eval: dict[str, str] = field(default_factory=dict)  # e.g. MNLI mismatched
    score_range: tuple[float, float] | None = None  # regression: the scores the task defines (STS-B: 0 to 5)

    @property
    def is_regression(self) -> bool:
        return self.labels is None


_PAIR = dict(text_a="sentence1", text_b="sentence2")
TASKS: dict[str, GlueTask] = {t.name: t for t in (
    GlueTask("cola", "CoLA", text_a=3, text_b=None, label=1, labels=("0", "1"), metric="mcc", has_header=False,
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="sentence",
             lr=1e-5, train_steps=5336, warmup_steps=320, batch_size=16),
    GlueTask("sst-2", "SST-2", text_a="sentence", text_b=None, label="label", labels=("0", "1"), metric="accuracy",
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="sentence",
             lr=1e-5, train_steps=20935, warmup_steps=1256, batch_size=32),
    GlueTask("mrpc", "MRPC", text_a="#1 String", text_b="#2 String", label="Quality", labels=("0", "1"),
             metric="f1_accuracy", files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
             test_text_a="#1 String", test_text_b="#2 String", lr=2e-5, train_steps=800, warmup_steps=200,
             batch_size=32),
    GlueTask("sts-b", "STS-B", **_PAIR, label="score", labels=None, metric="pearson_spearman",
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="sentence1",
             test_text_b="sentence2", lr=2e-5, train_steps=3598, warmup_steps=214, batch_size=16,
             score_range=(0.0, 5.0)),
    GlueTask("qqp", "QQP", text_a="question1", text_b="question2", label="is_duplicate", labels=("0", "1"),
             metric="f1_accuracy", files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
             test_text_a="question1", test_text_b="question2", lr=5e-5, train_steps=14000, warmup_steps=1000,
             batch_size=128),
    GlueTask("mnli", "MNLI", **_PAIR, label="gold_label", labels=("contradiction", "entailment", "neutral"),
             metric="accuracy", files={"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"},
             test_text_a="sentence1", test_text_b="sentence2", lr=3e-5, train_steps=10000, warmup_steps=1000,
             batch_size=128, extra_eval={"dev_mismatched": "dev_mismatched.tsv",
                                         "test_mismatched": "test_mismatched.tsv"}),
    GlueTask("qnli", "QNLI", text_a="question", text_b="sentence", label="label",
             labels=("entailment", "not_entailment"), metric="accuracy",
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="question",
             test_text_b="sentence", lr=1e-5, train_steps=33112, warmup_steps=1986, batch_size=32, eval_every=200),
    GlueTask("rte", "RTE", **_PAIR, label="label", labels=("entailment", "not_entailment"), metric="accuracy",
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="sentence1",
             test_text_b="sentence2", lr=3e-5, train_steps=800, warmup_steps=200, batch_size=32),
    # WNLI has no row in run_glue.sh; RTE's settings (the closest task) are used.
    GlueTask("wnli", "WNLI", **_PAIR, label="label", labels=("0", "1"), metric="accuracy",
             files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, test_text_a="sentence1",
             test_text_b="sentence2", lr=3e-5, train_steps=800, warmup_steps=200, batch_size=32),
    # The diagnostic set: test only, predicted with an MNLI model.
    GlueTask("ax", "diagnostic", **_PAIR, label=None, labels=("contradiction", "entailment", "neutral"),
             metric="accuracy", files={"test": "diagnostic.tsv"}, test_text_a="sentence1", test_text_b="sentence2"),
)}


@dataclass(frozen=True)
class Example:
    guid: str
    text_a: str
    text_b: str | None
    label: str | None  # None for test files


def read_split(task: GlueTask | str, data_dir: str | Path, split: str) -> list[Example]:
    """Examples of `split` (train, dev, test, or an extra eval such as dev_mismatched) from DATA_DIR/FOLDER/FILE."""
    task = TASKS[task] if isinstance(task, str) else task
    name = task.files.get(split) or task.extra_eval.get(split)
    if name is None:
        raise GlueDataError(f"{task.name} has no {split!r} split (it has {', '.join([*task.files, *task.extra_eval])})")
    path = Path(data_dir) / task.folder / name
    if not path.is_file():
        raise GlueDataError(f"{path}: not found (expected the GLUE distribution's layout DATA_DIR/{task.folder}/{name})")
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise GlueDataError(f"{path}: empty file")
    is_test = split.startswith("test")
    header_present = task.has_header or is_test
    header = rows[0] if header_present else None
    body = rows[1:] if header_present else rows
    start_line = 2 if header_present else 1

    def column(key, which: str) -> int | None:
        if key is None:
            return None
        if isinstance(key, int):
            return key
        if header is None or key not in header:
            raise GlueDataError(f"{path}:1: no {which} column {key!r} in the header ({', '.join(header or [])})")
        return header.index(key)

    a = column(task.test_text_a if is_test else task.text_a, "text")
    b = column(task.test_text_b if is_test else task.text_b, "second text")
    y = None if is_test else column(task.label, "label")
    width = len(header) if header else len(body[0]) if body else 0
    allowed = set(task.labels) if task.labels else None
    out = []
    for k, row in enumerate(body):
        line = start_line + k
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != width or max(i for i in (a, b, y) if i is not None) >= len(row):
            raise GlueDataError(f"{path}:{line}: {len(row)} columns, expected {width}")
        label = None
        if y is not None:
            label = row[y].strip()
            if allowed is not None and label not in allowed:
                raise GlueDataError(f"{path}:{line}: label {label!r} is not one of {sorted(allowed)}")
            if allowed is None:
                try:
                    score = float(label)
                except ValueError:
                    raise GlueDataError(f"{path}:{line}: score {label!r} is not a number") from None
                if not math.isfinite(score):
                    raise GlueDataError(f"{path}:{line}: score {label!r} is not a finite number")
                lo, hi = task.score_range or (-math.inf, math.inf)
                if not lo <= score <= hi:
                    raise GlueDataError(f"{path}:{line}: score {label!r} is outside {task.name}'s range "
                                        f"[{lo:g}, {hi:g}]")
        guid = row[0] if header and header[0] in ("index", "id") else f"{split}-{k}"
        out.append(Example(guid, row[a], row[b] if b is not None else None, label))
    if not out:
        raise GlueDataError(f"{path}: no examples")
    return out


# GLUE leaderboard submission file names
SUBMISSION_NAMES = {"cola": {"test": "CoLA.tsv"}, "sst-2": {"test": "SST-2.tsv"}, "mrpc": {"test": "MRPC.tsv"},
                    "sts-b": {"test": "STS-B.tsv"}, "qqp": {"test": "QQP.tsv"},
                    "mnli": {"test": "MNLI-m.tsv", "test_mismatched": "MNLI-mm.tsv"}, "qnli": {"test": "QNLI.tsv"},
                    "rte": {"test": "RTE.tsv"}, "wnli": {"test": "WNLI.tsv"}, "ax": {"test": "AX.tsv"}}


def glue(*, task: str, data_dir: str, model: str, output: str, do_train: bool = True, do_eval: bool = True,
         do_predict: bool = False, lr: float | None = None, train_steps: int | None = None,
         warmup_steps: int | None = None, batch_size: int | None = None, micro_batch_size: int | None = None,
         eval_every: int | None = None, max_seq_length: int = 128, seed: int = 12345, seeds: int = 1,
         precision: str = "fp32", unpad: bool = False, compile: str = "none",
         device: str = "auto", tokenizer: str | None = None, resume: bool = True,
         from_scratch: bool = False, progress: bool = True) -> dict:
    """Fine-tune and evaluate on a GLUE task from the distribution's TSV files; write leaderboard prediction files.

    Example:
        litebert glue --task rte --data_dir glue_data/ --model runs/albert-base/best --output runs/rte --seeds 5

    Args:
        task: cola | sst-2 | mrpc | sts-b | qqp | mnli | qnli | rte | wnli | ax (ax: predict with an MNLI model).
        data_dir: The GLUE distribution: DATA_DIR/CoLA/train.tsv, DATA_DIR/MNLI/dev_matched.tsv, ...
        model: Pretrained checkpoint (directory or hub id); with --do_train false, a fine-tuned one.
        output: Directory for best/ and last/ checkpoints, eval_results.json and submission/ files.
        do_train: Fine-tune (per-task defaults from the original run_glue.sh).
        do_eval: Report dev metrics of the best-dev and of the last checkpoint, labelled apart.
        do_predict: Write submission/<Task>.tsv ("index<TAB>prediction") from the best-dev checkpoint.
        lr: Learning rate (default: the task's run_glue.sh value).
        train_steps: Optimizer steps (default: the task's).
        warmup_steps: Warmup steps (default: the task's).
        batch_size: Examples per optimizer step over all ranks (default: the task's).
        micro_batch_size: Examples per forward pass per rank (gradient accumulation when smaller).
        eval_every: Steps between dev evaluations (default: the task's).
        max_seq_length: Tokens per example; batches are padded only to their longest example.
        seed: Seed of the classifier init and the data order.
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
        from_scratch: Ignore the model's weights: same architecture, random initialisation (the no-pretraining
            baseline).
        progress: Show the progress bar.
    """
    name = task.lower()
    if name not in TASKS:
        raise GlueDataError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    if seeds < 1:
        raise GlueDataError(f"--seeds must be at least 1, got {seeds}")
    check_positive(GlueDataError, lr=lr, train_steps=train_steps, batch_size=batch_size, eval_every=eval_every)
    t = TASKS[name]
    out = check_output_dir(output, GlueDataError)
    check_length(model, max_seq_length, GlueDataError)  # before any work, not at the first long row
    tok = model_tokenizer(model, tokenizer)
    label_list = list(t.labels) if t.labels else None
    problem = "single_label" if label_list else "regression"
    info = D.init_distributed(device)

    def load(split: str):
        ex = read_split(t, data_dir, split)
        labels = [label_list.index(e.label) if label_list else float(e.label) for e in ex] if ex[0].label else None
        return ex, S.encode(tok, [e.text_a for e in ex], [e.text_b for e in ex] if ex[0].text_b is not None else None,
                            labels, max_seq_length)

    report: dict = {"task": name}
    runs = [(seed + k, out / f"seed_{seed + k}" if seeds > 1 else out) for k in range(seeds)]
    # the files to predict are read before any training: a missing test.tsv must not surface hours later
    to_predict = {split: load(split) for split in SUBMISSION_NAMES[name]} if do_predict else {}
    if do_train:
        if name == "ax":
            raise GlueDataError("ax has no training data: predict it with a model fine-tuned on mnli")
        _, train = load("train")
        _, dev = load("dev")
        chance, majority = S.chance_levels(problem, train.labels, dev.labels)
        # what a finished seed was trained on: a restarted run reuses it only when all of this is unchanged
        identity = {"task": name, "max_seq_length": max_seq_length, "from_scratch": from_scratch,
                    "tokenizer": tokenizer_identity(tokenizer),
                    **{f"{split}_sha256": file_sha256(Path(data_dir) / t.folder / t.files[split])
                       for split in ("train", "dev")}}
        trained = []
        for s, run_dir in runs:
            args = FinetuneArgs(lr=lr or t.lr, train_steps=train_steps or t.train_steps,
                                warmup_steps=t.warmup_steps if warmup_steps is None else warmup_steps,
                                batch_size=batch_size or t.batch_size, micro_batch_size=micro_batch_size,
                                eval_every=eval_every or t.eval_every, max_seq_length=max_seq_length, seed=s,
                                precision=precision, unpad=unpad, compile=compile, device=device, resume=resume, progress=progress)
            clf = S.new_classifier(model, problem, label_list, s, from_scratch)
            evaluate = S.evaluator(dev, problem, info.device, t.metric, precision)
            trained.append(finetune_loop(clf, train, evaluate, args, run_dir, save=save_with_tokenizer(tok),
                                         chance_loss=chance, majority_accuracy=majority, log=lambda m: None,
                                         identity=identity))
        if not info.is_main:
            D.teardown()
            return report
        report["train"] = trained[0] if seeds == 1 else {"seeds": trained, "summary": summarize_seeds(trained)}
    elif not info.is_main:
        D.teardown()
        return report
    finetuned = [str(d / "best") for _, d in runs] if do_train else [model]
    if do_eval and name != "ax":
        extra = [s for s in t.extra_eval if s.startswith("dev")]
        scores = {}
        for k, (s, run_dir) in enumerate(runs if do_train else runs[:1]):
            prefix = f"seed_{s}/" if seeds > 1 and do_train else ""
            if do_train:  # dev was scored during training, on exactly these weights: reuse, do not recompute
                tr = trained[k]
                for label, row in (("best_dev", tr["best_dev (selected on dev: optimistic)"]), ("last", tr["last"])):
                    scores[f"{prefix}{label}/dev"] = {k2: v for k2, v in row.items() if k2 not in ("step", "train_loss")}
                checkpoints, splits = (("best_dev", run_dir / "best"), ("last", run_dir / "last")), extra
            else:
                checkpoints, splits = (("model", Path(model)),), ["dev", *extra]
            for label, ckpt_dir in checkpoints if splits else ():
                clf = AlbertForSequenceClassification.from_pretrained(ckpt_dir).to(info.device)
                columns = task_columns(clf.config, label_list, name, ckpt_dir)
                for split in splits:
                    _, data = load(split)
                    scores[f"{prefix}{label}/{split}"] = S.score(
                        problem, predict_logits(clf, data, info.device)[:, columns], data.labels, t.metric)
        report["eval"] = scores
        if seeds > 1 and do_train:
            report["eval_summary"] = report["train"]["summary"]
    if do_predict:
        clf = AlbertForSequenceClassification.from_pretrained(finetuned[0]).to(info.device)
        columns = task_columns(clf.config, label_list, name, finetuned[0])
        for split, filename in SUBMISSION_NAMES[name].items():
            ex, data = to_predict[split]
            preds = S.predictions(problem, predict_logits(clf, data, info.device)[:, columns])
            lines = ["index\tprediction"] + [
                f"{e.guid}\t{label_list[int(p)] if label_list else f'{float(p):.3f}'}" for e, p in zip(ex, preds)]
            atomic_write_bytes(out / "submission" / filename, ("\n".join(lines) + "\n").encode())
        report["submission"] = str(out / "submission") + (f" (from {finetuned[0]})" if seeds > 1 else "")
    atomic_write_bytes(out / "glue_results.json", json.dumps(report, indent=2, default=str).encode())
    shown = report.get("eval_summary") or report.get("eval", {})
    print(json.dumps({"task": name, "eval": shown, "output": str(out)}, indent=2))
    D.teardown()
    return report

