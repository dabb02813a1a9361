"""The one fine-tuning loop behind GLUE, custom classification/regression/tagging (and SQuAD/RACE): the original's
AdamW (no bias correction) with linear warmup and polynomial decay, clipping at global norm 1.0, gradient accumulation,
fp32/bf16/fp16, torchrun data parallelism, length-grouped dynamic padding, evaluation every N steps with the best-dev
and the last checkpoint kept and reported apart, exact resume from OUTPUT/checkpoint, a progress bar, metrics.jsonl,
and early-divergence detection (a NaN loss stops the run naming the step; a loss stuck at chance is reported).

A task hands the loop a `TrainSet` (lengths for batching, `units` for exact loss weighting, `collate` to tensors) and an
`evaluate(model) -> metrics` function whose "main" entry picks the best checkpoint."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import pickle
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch

from litebert import checkpoint as ckpt
from litebert import distributed as D
from litebert import training as T
from litebert.optim import OptimConfig, build_optimizer, learning_rate, set_learning_rate
from litebert.textio import atomic_write_bytes, file_in_the_way


class FinetuneError(RuntimeError):
    """The run cannot go on (non-finite loss, a checkpoint from different settings); the message says what to do."""


@dataclass
class FinetuneArgs:
    lr: float = 2e-5
    train_steps: int = 800
    warmup_steps: int = 200
    batch_size: int = 32
    """Examples per optimizer step, over all ranks (= micro batch x accumulation x world size)."""
    micro_batch_size: int | None = None
    """Examples per forward pass on one rank; smaller than batch_size / world size means gradient accumulation."""
    eval_every: int = 100
    max_seq_length: int = 128
    """Tokens per example; batches are padded only to their longest example (never to this length)."""
    seed: int = 12345
    optimizer: str = "adamw"
    """adamw (the original's) | torch_adamw | lamb."""
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0
    precision: str = "fp32"
    """fp32 | bf16 (autocast) | fp16 (autocast + gradient scaler)."""
    unpad: bool = False
    """Drop each batch's padding inside the encoder (model.unpadded_enable): dense layers on real tokens only,
    varlen FlashAttention on a GPU. Same numbers as padded without dropout in the encoder (tested); with hidden dropout
    the random masks are drawn over other shapes, and the SQuAD v1.1 head's softmax no longer spans the padding."""
    compile: str = "none"
    """none (eager) | default | reduce-overhead | max-autotune: torch.compile the training forward (and so its
    backward). reduce-overhead adds CUDA graphs: a step replays one graph instead of launching every kernel, which is
    what short fine-tuning batches on a GPU are bound by. The second batch length seen makes torch compile once more
    with a dynamic length; after that no more compilations (CUDA graphs: one recording per padded length). On a CPU
    it runs at eager speed (measured: the matmuls dominate)."""
    pad_to_multiple_of: int | None = None
    """Pad each batch's length up to a multiple of this (never past max_seq_length), so that few lengths recur. The
    extra padding is masked out of attention and of every loss except the SQuAD v1.1 head's, whose softmax spans the
    padding (as in the original, which pads every window to max_seq_length).
    None: 16 where compile records CUDA graphs (reduce-overhead, max-autotune on a GPU), else 1 (the longest example:
    on SST-2's short sentences padding to 16 costs a quarter of the CPU speed, measured in docs/benchmarks.md)."""
    device: str = "auto"
    resume: bool = True
    """Continue from OUTPUT/checkpoint (written at every evaluation) when it exists."""
    log_every: int = 10
    progress: bool = True

    def __post_init__(self):
        if self.precision not in T.PRECISIONS:
            raise FinetuneError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if min(self.batch_size, self.train_steps, self.eval_every, self.log_every, self.micro_batch_size or 1) < 1:
            raise FinetuneError("batch_size, micro_batch_size, train_steps, eval_every and log_every must be positive")
        if self.compile not in ("none", *T.COMPILE_MODES):
            raise FinetuneError(f"compile must be none, {', '.join(T.COMPILE_MODES)}; got {self.compile!r}")
        if self.compile != "none" and self.unpad:
            raise FinetuneError("compile and unpad exclude each other: an unpadded batch's token count changes every "
                                "step (use one; unpad pays where padding is large, compile where launches dominate)")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise FinetuneError(f"pad_to_multiple_of must be positive, got {self.pad_to_multiple_of}")


# the padding value of each batch field with a length dimension (its last); a set with more such fields says so in
# its own `pad_values`
ENCODER_PAD_VALUES = {"input_ids": 0, "attention_mask": 0, "token_type_ids": 0}


class TrainSet(Protocol):
    lengths: Sequence[int]
    pad_values: dict[str, int]  # the batch fields whose last dimension is the length, and their padding value

    def units(self, rows: Sequence[int]) -> int:
        """What the model's mean loss averages over in these rows (examples, or labelled tokens)."""

    def collate(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        """Model keyword arguments, labels included."""


def pad(seqs: Sequence[Sequence[int]], value: int = 0) -> torch.Tensor:
    """(N, longest) long tensor."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for k, s in enumerate(seqs):
        out[k, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def pad_batch(batch: dict[str, torch.Tensor], pad_values: dict[str, int], multiple: int,
              limit: int) -> dict[str, torch.Tensor]:
    """Pad the length (last) dimension of `batch`'s fields in `pad_values` up to a multiple of `multiple`, but never
    past max(limit, the batch's length)."""
    length = batch["input_ids"].shape[-1]
    target = min(-(-length // multiple) * multiple, max(length, limit))
    if target == length:
        return batch
    return {k: torch.nn.functional.pad(v, (0, target - length), value=pad_values[k]) if k in pad_values else v
            for k, v in batch.items()}


def encoder_inputs(input_ids: Sequence[Sequence[int]], token_type_ids: Sequence[Sequence[int]] | None,
                   rows: Sequence[int]) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and token_type_ids (zeros when None) of `rows`, padded to the longest of them."""
    x = pad([input_ids[r] for r in rows])
    return {"input_ids": x, "attention_mask": pad([[1] * len(input_ids[r]) for r in rows]),
            "token_type_ids": pad([token_type_ids[r] for r in rows]) if token_type_ids is not None
            else torch.zeros_like(x)}


def save_with_tokenizer(tokenizer) -> Callable[[torch.nn.Module, Path], None]:
    """The `save` of finetune_loop: a servable checkpoint directory (HF layout model + tokenizer files)."""
    def save(model, directory: Path) -> None:
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    return save


class TokenRows:
    """`lengths` and `len()` of a set whose examples are the token-id lists in `input_ids`."""

    input_ids: list[list[int]]
    pad_values: ClassVar[dict[str, int]] = ENCODER_PAD_VALUES

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class SequenceSet(TokenRows):
    """Encoded sentence (pair) examples for sequence classification, multi-label classification or regression."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: list | None = None  # int class ids, floats (regression) or multi-hot float lists

    def units(self, rows: Sequence[int]) -> int:
        return len(rows)

    def collate(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        batch = encoder_inputs(self.input_ids, self.token_type_ids, rows)
        if self.labels is not None:
            ys = [self.labels[r] for r in rows]
            batch["labels"] = torch.tensor(ys, dtype=torch.long if isinstance(ys[0], int) else torch.float32)
        return {k: v.to(device) for k, v in batch.items()}


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random,
                           window: int = 50) -> list[list[int]]:
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


class BatchOrder:
    """The global batches of every epoch, a pure function of (seed, epoch): every rank computes the same ones, and
    a position (epoch, index) is all a checkpoint needs to resume the data order exactly. Batches smaller than the
    world size (an epoch's remainder) are dropped so that every rank has at least one example."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, world_size: int):
        if len(lengths) < max(world_size, 1):
            raise FinetuneError(f"{len(lengths)} training examples for {world_size} ranks")
        self.lengths, self.batch_size, self.seed, self.world = lengths, batch_size, seed, world_size
        self.epoch, self.index, self._batches = 0, 0, None

    def _epoch_batches(self) -> list[list[int]]:
        if self._batches is None:
            rng = random.Random(self.seed * 1_000_003 + self.epoch)
            self._batches = [b for b in length_grouped_batches(self.lengths, self.batch_size, rng)
                             if len(b) >= self.world]
        return self._batches

    def next(self) -> list[int]:
        if self.index >= len(self._epoch_batches()):
            self.epoch, self.index, self._batches = self.epoch + 1, 0, None
        batch = self._epoch_batches()[self.index]
        self.index += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index, self._batches = state["epoch"], state["index"], None


# the settings a resumed run must share with the run that wrote the checkpoint
_RESUME_KEYS = ("lr", "train_steps", "warmup_steps", "batch_size", "seed", "optimizer", "weight_decay", "precision",
                "unpad", "compile", "pad_to_multiple_of")


def finetune_loop(model: torch.nn.Module, train: TrainSet, evaluate: Callable[[torch.nn.Module], dict],
                  args: FinetuneArgs, output: Path, save: Callable[[torch.nn.Module, Path], None] | None = None,
                  chance_loss: float | None = None, majority_accuracy: float | None = None,
                  log: Callable[[str], None] | None = None, identity: dict | None = None) -> dict:
    """Train `model` on `train`; evaluate every `eval_every` steps on rank 0; keep OUTPUT/best (by metrics["main"]),
    OUTPUT/last and OUTPUT/checkpoint (resume state). Returns the report written to OUTPUT/eval_results.json: the
    best-dev and the last checkpoint's metrics, labelled apart, the history, throughput and divergence warnings.

    `save(model, dir)` writes a servable checkpoint (model + tokenizer); `chance_loss` and `majority_accuracy`, when
    given, turn a loss that never leaves chance, or a dev accuracy at the majority rate, into warnings. `identity`
    (JSON values: the task, its data files, ...) names what the run trains on: with it, a run that already finished
    in OUTPUT with the same identity, settings and starting weights is not trained again (its report is returned),
    and one with another identity is refused. A fresh run (no checkpoint to resume) over a finished run's OUTPUT is
    refused too, before anything is written: a new run that failed would leave its files mixed with the old ones."""
    info = D.init_distributed(args.device)
    device = info.device
    output = Path(output)
    log = log or (lambda s: print(f"[litebert finetune] {s}", file=sys.stderr, flush=True))
    say = log if info.is_main else (lambda s: None)
    save = save or (lambda m, d: m.save_pretrained(d))
    per_rank = -(-args.batch_size // info.world_size)
    micro = min(args.micro_batch_size or per_rank, per_rank)
    opt_cfg = OptimConfig(name=args.optimizer, lr=args.lr, warmup_steps=args.warmup_steps,
                          weight_decay=args.weight_decay, clip_grad_norm=args.clip_grad_norm)
    model.to(device).train()
    model.unpadded_enable(args.unpad)
    optimizer = build_optimizer(model, opt_cfg)
    scaler = T.grad_scaler(args.precision, device)
    lengths = list(train.lengths)  # once: sets may compute it on every access
    order = BatchOrder(lengths, args.batch_size, args.seed, info.world_size)
    torch.manual_seed(args.seed + info.rank)  # dropout streams differ per rank
    random.seed(args.seed + info.rank)
    step, history, best, losses, skipped, elapsed, seen_tokens = 0, [], None, [], 0, 0.0, 0
    state_dir = output / "checkpoint"
    start = weights_checksum(model)  # the weights this run starts from: a run from others is not this run
    done = _finished_report(output, state_dir, args, start, identity) if args.resume and identity else None
    if done is not None:  # a multi-seed run restarted after this seed finished must not train it again
        say(f"{output} finished earlier with these settings (eval_results.json, best/, last/): its report is reused; "
            f"to train again, use another --output or move this one")
        return done
    if args.resume and (state_dir / "train_state.pt").is_file() and \
            (state_dir / f"rng_rank{info.rank}.pt").is_file():
        state = _load_state(state_dir / "train_state.pt", state_dir)
        differ = {k: (state["args"][k], getattr(args, k)) for k in _RESUME_KEYS if state["args"].get(k) != getattr(args, k)}
        if differ:
            raise FinetuneError(f"{state_dir} was written with other settings ({', '.join(f'{k}: {a} -> {b}' for k, (a, b) in differ.items())}); "
                                f"use another --output, delete it, or pass --resume false")
        if not _same_checksum(state.get("start_checksum"), start):
            raise FinetuneError(f"{state_dir} was written by a run that started from other weights (another "
                                f"--model, or the checkpoint changed since); use another --output, delete it, or pass "
                                f"--resume false")
        missing, unexpected = model.load_hf_state_dict(ckpt.read_state_dict(state_dir), source=str(state_dir))
        if missing or unexpected:
            raise FinetuneError(f"{state_dir}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")
        model.to(device)
        optimizer = build_optimizer(model, opt_cfg)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        order.load_state_dict(state["order"])
        step, history, best, losses, skipped = state["step"], state["history"], state["best"], state["losses"], state["skipped"]
        elapsed, seen_tokens = state["elapsed"], state["seen_tokens"]
        T.set_rng_state(_load_state(state_dir / f"rng_rank{info.rank}.pt", state_dir), device)
        say(f"resumed from {state_dir} at step {step}")
    elif (output / "eval_results.json").is_file():  # starting over a finished run would mix its files with ours
        raise FinetuneError(f"{output} holds a finished run (eval_results.json, best/, last/); training again would "
                            f"replace it: use another --output, or delete (or move) it first")
    ddp = D.wrap_model(model, info)
    try:
        T.check_cuda_graphs(args.compile, device, -(-per_rank // micro), "--compile")
    except ValueError as e:
        raise FinetuneError(str(e)) from None
    forward = ddp if args.compile == "none" else torch.compile(ddp, mode=args.compile)
    multiple = T.length_multiple(args.compile, device, args.pad_to_multiple_of)
    # never past the position table (max_seq_length may exceed it; the model then says so for long rows only)
    limit = min(args.max_seq_length, getattr(getattr(model, "config", None), "max_position_embeddings",
                                             args.max_seq_length))
    pad_values = getattr(train, "pad_values", ENCODER_PAD_VALUES)
    host, pin = torch.device("cpu"), device.type == "cuda"
    if info.is_main:
        output.mkdir(parents=True, exist_ok=True)
        T.write_json(output / "run_info.json", {**T.versions(), "args": asdict(args), "world_size": info.world_size,
                                                "device": str(device), "micro_batch_size": micro,
                                                "train_examples": len(lengths), "resumed_at_step": step})
    metrics_path = output / "metrics.jsonl"
    if info.is_main and step == 0:
        metrics_path.unlink(missing_ok=True)
    elif info.is_main and metrics_path.exists():  # drop rows logged after the checkpoint
        rows = [r for r in metrics_path.read_text().splitlines() if r and json.loads(r)["step"] <= step]
        atomic_write_bytes(metrics_path, "".join(r + "\n" for r in rows).encode())
    bar = None
    if args.progress and info.is_main:
        from tqdm import tqdm

        bar = tqdm(total=args.train_steps, initial=step, desc="finetune", dynamic_ncols=True, unit="step", file=sys.stderr)
    window_t, window_ex = time.perf_counter(), 0
    t_start = time.perf_counter() - elapsed
    pending: list[tuple[int, float, int, torch.Tensor]] = []  # (step, lr, units, loss sum on the device), not yet read
    try:
        while step < args.train_steps:
            rows = order.next()
            total_units = train.units(rows)
            mine = rows[info.rank::info.world_size]
            chunks = [mine[k:k + micro] for k in range(0, len(mine), micro)]
            lr = learning_rate(step, args.train_steps, opt_cfg)
            set_learning_rate(optimizer, lr)
            loss_sum = torch.zeros((), device=device)
            for k, chunk in enumerate(chunks):
                batch = train.collate(chunk, host)
                if multiple > 1:
                    batch = pad_batch(batch, pad_values, multiple, limit)
                # page-locked on a GPU: the copy does not wait for the GPU's queued work (the host runs ahead)
                batch = {k: (v.pin_memory() if pin else v).to(device, non_blocking=pin) for k, v in batch.items()}
                sync = contextlib.nullcontext() if (k == len(chunks) - 1 or info.world_size == 1) else ddp.no_sync()
                units = train.units(chunk)
                with sync:
                    with T.autocast(args.precision, device):
                        loss = forward(**batch).loss.float()
                    # mean over this chunk -> its share of the global batch's mean (DDP averages over ranks)
                    scaler.scale(loss * (units * info.world_size / max(total_units, 1))).backward()
                loss_sum += loss.detach() * units
            seen_tokens += sum(lengths[r] for r in rows)  # host-side: no device sync
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm or float("inf"))
            if args.precision == "fp16" and not math.isfinite(grad_norm.item()):  # (the scaler syncs here anyway)
                skipped += 1  # the scaler skips this update and lowers its scale
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_ex += len(rows)
            pending.append((step, lr, total_units, loss_sum))
            if bar is not None:
                bar.update(1)
            if step % args.log_every and step % args.eval_every and step < args.train_steps:
                continue
            # the losses of the steps since the last read, in one all-reduce and one host sync (none per step); a
            # non-finite one stops the run here, before any evaluation or checkpoint of it
            sums = D.all_reduce_sum(torch.stack([x[3] for x in pending]).float()).cpu().tolist()
            for (n, step_lr, units, _), value in zip(pending, sums):
                if not math.isfinite(value / max(units, 1)):
                    raise FinetuneError(f"non-finite training loss at step {n} (lr {step_lr:.3g}); lower --lr, use "
                                        f"bf16 instead of fp16, or check the labels")
                losses.append(value / max(units, 1))
            pending.clear()
            if bar is not None:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}", refresh=False)
            row = None
            if step % args.log_every == 0 or step == args.train_steps:
                dt = time.perf_counter() - window_t
                row = {"step": step, "lr": lr, "loss": float(np.mean(losses[-args.log_every:])),
                       "grad_norm": grad_norm.item(), "examples_per_s": window_ex / max(dt, 1e-9)}
                window_t, window_ex = time.perf_counter(), 0
            if step % args.eval_every == 0 or step == args.train_steps:
                if info.is_main:
                    scores = evaluate(model)
                    model.train()
                    ev = {"step": step, "train_loss": float(np.mean(losses[-args.eval_every:])), **scores}
                    history.append(ev)
                    say(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in ev.items()}))
                    if best is None or _improves(scores["main"], best["main"]):
                        best = ev
                        _save_dir(model, save, output / "best")
                    row = {**(row or {"step": step}), **{f"dev/{k}": v for k, v in scores.items()
                                                       if isinstance(v, (int, float))}}
                if step < args.train_steps:
                    _save_state(model, optimizer, scaler, order, args, info, state_dir,
                                {"step": step, "history": history, "best": best, "losses": losses,
                                 "skipped": skipped, "elapsed": time.perf_counter() - t_start,
                                 "seen_tokens": seen_tokens, "start_checksum": start})
                D.barrier()
            if row is not None and info.is_main:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t_start
    report = {}
    if info.is_main:
        _save_dir(model, save, output / "last")
        shutil.rmtree(state_dir, ignore_errors=True)  # finished: last/ and best/ are what remains
        warnings = divergence_warnings(history, losses, chance_loss, majority_accuracy)
        for w in warnings:
            say(f"warning: {w}")
        report = {"best_dev (selected on dev: optimistic)": best, "last": history[-1], "history": history,
                  "train_seconds": round(seconds, 1), "train_tokens_per_s": round(seen_tokens / max(seconds, 1e-9)),
                  "skipped_steps": skipped, "args": asdict(args), "world_size": info.world_size,
                  "start_checksum": start, "identity": identity, "warnings": warnings}
        T.write_json(output / "eval_results.json", report)
    D.barrier()
    return report


def file_sha256(path: Path) -> str:
    """A data file's identity for `finetune_loop(identity=...)`: its content, wherever it is copied."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tokenizer_identity(name: str | None) -> str | None:
    """A --tokenizer's identity for `finetune_loop(identity=...)`: the checksum of its files (the one pretraining data
    records), a hub id as it is; None: the --model's own, whose weights the start checksum covers."""
    from litebert.data.create import tokenizer_checksum

    return None if name is None else tokenizer_checksum(Path(name)) if Path(name).exists() else name


def weights_checksum(model: torch.nn.Module) -> float:
    """A checksum of a model's weights (float64 sums of each tensor and of its squares): tells a run that started
    from the same pretrained checkpoint and head initialisation from one that did not."""
    with torch.no_grad():
        return float(sum(d.sum() + d.square().sum() for d in (p.double() for p in model.parameters())))


def _same_checksum(saved, now: float) -> bool:
    # float64 sums: equal up to the reduction order a different thread count may take
    return saved is None or math.isclose(float(saved), now, rel_tol=1e-9, abs_tol=1e-9)


def _finished_report(output: Path, state_dir: Path, args: FinetuneArgs, start: float, identity: dict) -> dict | None:
    """The report of a run that already finished in OUTPUT with the same identity, settings and starting weights
    (eval_results.json, best/ and last/ written, no resume state left), or None. A finished run of anything else is
    refused, as a checkpoint is: training again would overwrite its checkpoints."""
    path = output / "eval_results.json"
    if state_dir.exists() or not path.is_file() or not (output / "best").is_dir() or not (output / "last").is_dir():
        return None
    try:
        report = json.loads(path.read_text())
        saved = report["args"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FinetuneError(f"{path}: unreadable report of an earlier run ({e}); use another --output, or move "
                            f"{output} aside") \
            from None
    if "identity" not in report or "start_checksum" not in report:
        return None  # written before runs recorded what they trained on: trained over, as it was then
    theirs = report["identity"] or {}
    differ = {k: (saved.get(k), getattr(args, k)) for k in _RESUME_KEYS if saved.get(k) != getattr(args, k)}
    differ.update({k: (theirs.get(k), v) for k, v in identity.items() if theirs.get(k) != v})
    if differ:
        raise FinetuneError(f"{output} holds a finished run with other settings or data "
                            f"({'; '.join(f'{k}: {a} -> {b}' for k, (a, b) in differ.items())}); "
                            f"use another --output, or delete (or move) it")
    if not _same_checksum(report["start_checksum"], start):
        raise FinetuneError(f"{output} holds a finished run that started from other weights (another --model, or the "
                            f"checkpoint changed since); use another --output, or delete (or move) it")
    return report


def _load_state(path: Path, state_dir: Path):
    """A resume file, loaded as tensors and plain values only (weights_only); a torn or foreign file is an error
    that says what to do, not torch's unpickling traceback."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:  # RuntimeError: a torn zip
        raise FinetuneError(f"{path}: unreadable resume state ({type(e).__name__}); delete {state_dir} to start "
                            f"over, or pass --resume false") from None


def check_positive(error: type[Exception], **values) -> None:
    """Refuse, before any work, a flag that must be positive (None: not given, its default applies): 0 must not
    silently mean the default, nor run a single step."""
    for name, value in values.items():
        if value is not None and not value > 0:
            raise error(f"--{name} must be positive, got {value}")


def check_output_dir(output: str | Path, error: type[Exception]) -> Path:
    """Refuse, before any work, an --output that is (or lies under) an existing file, not a directory."""
    out = Path(output)
    if (p := file_in_the_way(out)) is not None:
        raise error(f"--output {out}: {p} is a file, not a directory; pass a directory path")
    return out


def _save_dir(model, save, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save(model, tmp)
    T.replace_dir(tmp, final)


def _save_state(model, optimizer, scaler, order: BatchOrder, args: FinetuneArgs, info, state_dir: Path,
                progress: dict) -> None:
    """OUTPUT/checkpoint: weights, optimizer, scaler, data position, history and every rank's RNG state; written to a
    temporary directory and renamed, so a crash mid-write leaves the previous checkpoint intact."""
    tmp = state_dir.with_name(".checkpoint.tmp")
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        torch.save({"args": asdict(args), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                    "order": order.state_dict(), **progress}, tmp / "train_state.pt")
    D.barrier()
    torch.save(T.rng_state(info.device), tmp / f"rng_rank{info.rank}.pt")
    D.barrier()
    if info.is_main:
        T.replace_dir(tmp, state_dir)


def divergence_warnings(history: list[dict], losses: list[float], chance_loss: float | None,
                        majority_accuracy: float | None) -> list[str]:
    """Name the failure modes users hit (GR#120, HF#2104): a loss that never left chance, dev at the majority class."""
    warnings = []
    if chance_loss is not None and losses:
        tail = float(np.mean(losses[-max(len(losses) // 5, 1):]))
        if tail > 0.95 * chance_loss:
            warnings.append(f"training loss {tail:.3f} stayed near chance ({chance_loss:.3f}): the run did not learn; "
                            f"try a lower learning rate or more steps")
    if majority_accuracy is not None and history and "accuracy" in history[-1] and \
            history[-1]["accuracy"] <= majority_accuracy + 1e-9:
        warnings.append(f"dev accuracy {history[-1]['accuracy']:.3f} is the majority-class rate "
                        f"({majority_accuracy:.3f}): the classifier predicts one class")
    return warnings


def _improves(score: float, best: float) -> bool:
    """A higher dev score; NaN (e.g. a Pearson correlation of constant predictions) is the worst, not a score that
    nothing compares above."""
    return not math.isnan(score) and (math.isnan(best) or score > best)


@torch.no_grad()
def predict_logits(model, data, device: torch.device, batch_size: int = 64, precision: str = "fp32") -> np.ndarray:
    """Logits in input order ((N, num_labels); (N, choices) for multiple choice), batches grouped by length. `data`
    is any set with `lengths` and `collate` (labels in the batch are ignored)."""
    was_training = model.training
    model.eval()
    lengths = data.lengths
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out = None
    for k in range(0, len(order), batch_size):
        rows = order[k:k + batch_size]
        b = data.collate(rows, device)
        b.pop("labels", None)
        with T.autocast(precision, device):
            logits = model(**b).logits.float().cpu().numpy()
        if out is None:
            out = np.zeros((len(order), *logits.shape[1:]), dtype=np.float32)
        out[rows] = logits
    model.train(was_training)
    return out if out is not None else np.zeros((0,), dtype=np.float32)


def summarize_seeds(reports: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of every numeric dev metric, for the best-dev and the last
    checkpoint apart (one seed is an anecdote: the spread is the point)."""
    out = {"seeds": [r["args"]["seed"] for r in reports]}
    for label in ("best_dev (selected on dev: optimistic)", "last"):
        rows = [r[label] for r in reports]
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k not in ("step", "train_loss")]
        out[label] = {k: {"mean": float(np.mean([x[k] for x in rows])),
                          "std": float(np.std([x[k] for x in rows], ddof=1)) if len(rows) > 1 else 0.0,
                          "values": [x[k] for x in rows]} for k in keys}
    return out
