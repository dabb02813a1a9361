"""The GLUE tasks as data (one row per task, the original run_glue.sh hyper-parameters included) and readers for
the GLUE distribution's TSV files as they are: headers or not, a UTF-8 byte-order mark (MRPC), unbalanced quotes
(read with quoting off, as google-research/albert does). Errors name the file, the line and what was expected."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path


class GlueDataError(ValueError):
    """A GLUE file is missing or malformed; the message names the file and line."""


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
             test_text_b="sentence2", lr=2e-5, train_steps=3598, warmup_steps=214, batch_size=16),
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
                    float(label)
                except ValueError:
                    raise GlueDataError(f"{path}:{line}: score {label!r} is not a number") from None
        guid = row[0] if header and header[0] in ("index", "id") else f"{split}-{k}"
        out.append(Example(guid, row[a], row[b] if b is not None else None, label))
    if not out:
        raise GlueDataError(f"{path}: no examples")
    return out
