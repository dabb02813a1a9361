"""The fine-tuning loop for sequence classification/regression: the original's AdamW (no bias correction) with
linear warmup and polynomial decay, gradient clipping at 1.0, dynamic padding with length-grouped batches, evaluation
every N steps, the best-dev and the last checkpoint kept and reported apart, and early-divergence detection."""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from litebert.distributed import resolve_device
from litebert.finetune import metrics as M
from litebert.model import AlbertForSequenceClassification
from litebert.optim import OptimConfig, build_optimizer, learning_rate, set_learning_rate
from litebert.textio import atomic_write_bytes


@dataclass
class FinetuneArgs:
    lr: float = 2e-5
    train_steps: int = 800
    warmup_steps: int = 200
    batch_size: int = 32
    eval_every: int = 100
    max_seq_length: int = 128
    """Tokens per example; batches are padded only to their longest example (never to this length)."""
    seed: int = 12345
    optimizer: str = "adamw"
    """adamw (the original's) | torch_adamw | lamb."""
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0
    precision: str = "fp32"
    device: str = "auto"
    progress: bool = True


def encode_examples(tokenizer, examples, label_to_id: dict[str, int] | None, max_seq_length: int):
    """Token ids per example (no padding) and label ids/values."""
    enc = tokenizer.encode_batch([e.text_a for e in examples],
                                 [e.text_b for e in examples] if examples[0].text_b is not None else None,
                                 truncation=True, max_length=max_seq_length)
    labels = None
    if examples[0].label is not None:
        labels = [label_to_id[e.label] if label_to_id else float(e.label) for e in examples]
    return list(enc["input_ids"]), list(enc["token_type_ids"]), labels


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random, window: int = 50) -> list[list[int]]:
    """Shuffle, sort by length inside windows of `window` batches, cut into batches, shuffle the batches: every
    batch holds similar lengths (little padding) while the order stays random."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    batches = []
    span = batch_size * window
    for i in range(0, len(idx), span):
        chunk = sorted(idx[i:i + span], key=lambda j: lengths[j])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(ids, types, rows: list[int], device: torch.device):
    T = max(len(ids[r]) for r in rows)
    x = torch.zeros(len(rows), T, dtype=torch.long)
    t = torch.zeros_like(x)
    m = torch.zeros_like(x)
    for k, r in enumerate(rows):
        n = len(ids[r])
        x[k, :n] = torch.tensor(ids[r])
        t[k, :n] = torch.tensor(types[r])
        m[k, :n] = 1
    return x.to(device), m.to(device), t.to(device)


@torch.no_grad()
def predict(model, ids, types, device, batch_size: int = 64) -> np.ndarray:
    """Logits (N, num_labels) in input order, batches grouped by length."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    for k in range(0, len(order), batch_size):
        rows = order[k:k + batch_size]
        x, m, t = collate(ids, types, rows, device)
        out[rows] = model(x, m, t).logits.float().cpu().numpy()
    model.train()
    return out


def to_predictions(logits: np.ndarray, regression: bool) -> np.ndarray:
    return logits[:, 0] if regression else logits.argmax(-1)


def train_classifier(model: AlbertForSequenceClassification, tokenizer, train, dev, label_list: list[str] | None,
                     metric: str, args: FinetuneArgs, output: Path, log=print) -> dict:
    """Fine-tune; evaluate on dev every eval_every steps; save OUTPUT/best and OUTPUT/last (HF layout + tokenizer);
    return {"best": {...}, "last": {...}} with the step and dev metrics of each, labelled as such."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = resolve_device(args.device)
    model.to(device).train()
    label_to_id = {name: i for i, name in enumerate(label_list)} if label_list else None
    tr_ids, tr_types, tr_labels = encode_examples(tokenizer, train, label_to_id, args.max_seq_length)
    dv_ids, dv_types, dv_labels = encode_examples(tokenizer, dev, label_to_id, args.max_seq_length)
    regression = label_list is None
    opt_cfg = OptimConfig(name=args.optimizer, lr=args.lr, warmup_steps=args.warmup_steps,
                          weight_decay=args.weight_decay, clip_grad_norm=args.clip_grad_norm)
    optimizer = build_optimizer(model, opt_cfg)
    lengths = [len(x) for x in tr_ids]
    batches: list[list[int]] = []
    history, best, losses = [], None, []
    bar = None
    if args.progress:
        from tqdm import tqdm

        bar = tqdm(total=args.train_steps, desc="finetune", dynamic_ncols=True, unit="step", file=sys.stderr)
    t0, seen_tokens = time.perf_counter(), 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16" else None
    for step in range(args.train_steps):
        if not batches:
            batches = length_grouped_batches(lengths, args.batch_size, rng)
        rows = batches.pop()
        x, m, t = collate(tr_ids, tr_types, rows, device)
        y = torch.tensor([tr_labels[r] for r in rows], dtype=torch.float32 if regression else torch.long,
                         device=device)
        set_learning_rate(optimizer, learning_rate(step, args.train_steps, opt_cfg))
        if autocast is not None:
            with autocast:
                loss = model(x, m, t, labels=y).loss
        else:
            loss = model(x, m, t, labels=y).loss
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"non-finite training loss at step {step} (lr {args.lr}); lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        seen_tokens += int(m.sum())
        if bar is not None:
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            bar.update(1)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.train_steps:
            logits = predict(model, dv_ids, dv_types, device)
            scores = M.compute(metric, to_predictions(logits, regression), dv_labels)
            row = {"step": step + 1, "train_loss": float(np.mean(losses[-args.eval_every:])), **scores}
            history.append(row)
            log(json.dumps(row))
            if best is None or scores["main"] > best["main"]:
                best = row
                _save(model, tokenizer, output / "best", label_list)
    if bar is not None:
        bar.close()
    last = history[-1]
    _save(model, tokenizer, output / "last", label_list)
    elapsed = time.perf_counter() - t0
    report = {"best_dev (selected on dev: optimistic)": best, "last": last, "history": history,
              "train_seconds": round(elapsed, 1), "train_tokens_per_s": round(seen_tokens / elapsed),
              "args": asdict(args), "warnings": _divergence(history, losses, label_list, dv_labels, regression)}
    atomic_write_bytes(output / "eval_results.json", json.dumps(report, indent=2).encode())
    return report


def _save(model, tokenizer, directory: Path, label_list):
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _divergence(history, losses, label_list, dev_labels, regression) -> list[str]:
    """Name the failure modes users hit (GR#120, HF#2104): a non-learning loss, dev at the majority class."""
    warnings = []
    if not regression and label_list:
        chance_loss = math.log(len(label_list))
        tail = float(np.mean(losses[-max(len(losses) // 5, 1):]))
        if tail > 0.95 * chance_loss:
            warnings.append(f"training loss {tail:.3f} stayed near chance ({chance_loss:.3f}): the run did not learn; "
                            f"try a lower learning rate or more steps")
        majority = max(np.bincount(dev_labels)) / len(dev_labels)
        if "accuracy" in history[-1] and history[-1]["accuracy"] <= majority + 1e-9:
            warnings.append(f"dev accuracy {history[-1]['accuracy']:.3f} is the majority-class rate ({majority:.3f})")
    return warnings
