"""`litebert pretrain`: MLM + SOP pretraining with LAMB, mixed precision, exact resume and torchrun data parallelism.

    setup (config, model, data, optimizer, resume) -> fit (the loop) -> train_step (one optimizer step)

One optimizer step = `accum` micro-batches per rank, gradients synchronised only on the last one; the MLM loss is the
mean over every predicted token of the global batch (sums divided by the global prediction count), so accumulation
and data parallelism give exactly the gradient of one big batch. Then unscale -> clip -> step -> schedule.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import os
import queue
import random
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from litebert import checkpoint as ckpt
from litebert import distributed as D
from litebert import training as T
from litebert.config import AlbertConfig, ConfigError
from litebert.data.create import vocab_from_manifest
from litebert.data.instances import MaskingOptions
from litebert.data.masking import DynamicMasker
from litebert.data.shards import BatchIterator, PretrainingData
from litebert.model import AlbertForPreTraining, estimate_flops_per_token
from litebert.optim import OptimConfig, build_optimizer, learning_rate, set_learning_rate
from litebert.textio import file_in_the_way

PEAK_BF16_FLOPS = {"measured": 790e12, "spec": 989e12}  # H100 bf16 dense (performance-anchors.md)


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, impossible batch arithmetic); the message says where and why."""


@dataclass
class ModelArgs:
    preset: str | None = "tiny"
    """A name from litebert.config.PRESETS (albert-base-v2, ..., tiny). Ignored when config_file is given."""
    config_file: str | None = None
    """An HF config.json or original albert_config.json instead of a preset."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config fields to change, e.g. {num_hidden_layers: 4, vocab_size: 8000}. vocab_size defaults to the data's."""
    init_checkpoint: str | None = None
    """Start from this litebert/HF checkpoint directory (missing heads are initialised and reported)."""
    init_from_group0: bool = False
    """Initialise every layer group from group 0 of init_checkpoint (the original's init_from_group0)."""


@dataclass
class DataArgs:
    train_dir: str = "data"
    """Directory written by `litebert data create`."""
    eval_dir: str | None = None
    """Held-out data directory; without one, the last `eval_holdout_shards` shards of train_dir are held out."""
    eval_holdout_shards: int = 1
    """0: no held-out data (evaluation off); ignored when eval_dir is given."""

    def __post_init__(self):
        if self.eval_holdout_shards < 0:
            raise ConfigError(f"data.eval_holdout_shards must be >= 0 (0: no held-out evaluation), "
                              f"got {self.eval_holdout_shards}")


@dataclass
class TrainArgs:
    out_dir: str = "runs/pretrain"
    global_batch_size: int = 4096
    """Sequences per optimizer step = micro_batch_size x accumulation steps x world size."""
    micro_batch_size: int = 32
    max_steps: int = 125000
    seed: int = 12345
    precision: str = "bf16"
    """fp32 | bf16 (autocast) | fp16 (autocast + gradient scaler)."""
    compile: bool = False
    """torch.compile the model."""
    compile_mode: str = "default"
    """torch.compile mode: default | reduce-overhead (CUDA graphs: pretraining shapes are static) | max-autotune."""
    activation_checkpointing: bool = False
    """Recompute each layer in the backward pass (less memory, ~1/3 more compute)."""
    device: str = "auto"
    """auto (cuda when available) | cpu | cuda."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms (exact reruns; slower on GPU)."""
    log_every: int = 10
    """Throughput rows every log_every steps; also how often losses are read, so a non-finite one is caught."""
    eval_every: int = 1000
    """0: never evaluate (so is a run without held-out data)."""
    eval_steps: int = 100
    """Batches per evaluation (the original's max_eval_steps)."""
    save_every: int = 5000
    """0: checkpoint at the end only."""
    keep_checkpoint_max: int = 5
    """0: keep every checkpoint."""
    resume: bool = True
    """Continue from the latest complete checkpoint in out_dir/checkpoints when there is one. Off, a run refuses an
    out_dir holding checkpoints (another run's would outrank its own in the rotation)."""
    on_nonfinite: str = "stop"
    """stop: a NaN/inf loss ends the run naming the step | skip: that step's update is skipped and counted."""
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self):
        T.check_precision(self.precision, "train.precision")
        if self.on_nonfinite not in ("stop", "skip"):
            raise ConfigError(f"train.on_nonfinite must be stop or skip, got {self.on_nonfinite!r}")
        if self.compile_mode not in T.COMPILE_MODES:
            raise ConfigError(f"train.compile_mode must be {', '.join(T.COMPILE_MODES)}; got {self.compile_mode!r}")
        # log_every cannot be off: it is the window in which a non-finite loss is caught (0 would defer that to the end)
        for name, why in (("global_batch_size", ""), ("micro_batch_size", ""), ("max_steps", ""), ("log_every", ""),
                          ("eval_steps", " (to turn evaluation off: --train.eval_every 0)")):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1{why}, got {getattr(self, name)}")
        for name, why in (("eval_every", "0: off"), ("save_every", "0: off"), ("keep_checkpoint_max", "0: keep all"),
                          ("seed", "it seeds numpy's generators")):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0 ({why}), got {getattr(self, name)}")


# ---------------------------------------------------------------------------------------------------------------------
# setup

def build_model_config(args: ModelArgs, vocab_size: int) -> AlbertConfig:
    if args.config_file:
        config = AlbertConfig.from_json_file(args.config_file)
    else:
        config = AlbertConfig.from_preset(args.preset or "tiny")
    overrides = {"vocab_size": vocab_size, **args.overrides}
    names = [f.name for f in dataclasses.fields(AlbertConfig) if f.name != "extra"]
    for key in overrides:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            raise ConfigError(f"model.overrides: unknown config field {key!r}"
                              + (f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(names)}"))
    config = config.replace(**overrides)
    if config.vocab_size < vocab_size:
        raise TrainingError(f"model vocab_size {config.vocab_size} is smaller than the data's vocabulary ({vocab_size})")
    return config


def init_from_checkpoint(model: AlbertForPreTraining, args: ModelArgs, log) -> None:
    directory = ckpt.resolve(args.init_checkpoint)
    missing, unexpected = model.load_hf_state_dict(ckpt.read_state_dict(directory), source=str(directory))
    if args.init_from_group0:
        groups = model.albert.encoder.groups
        state = {k: v.clone() for k, v in groups[0].state_dict().items()}
        for g in range(1, len(groups)):
            groups[g].load_state_dict(state)
        missing = [k for k in missing if not re.match(r"albert\.encoder\.groups\.\d+\.", k)]
    log(f"initialised from {directory}" + (f"; newly initialised: {missing}" if missing else "")
        + (f"; unused: {unexpected}" if unexpected else ""))


class PretrainingLosses(torch.nn.Module):
    """The model and its two summed losses as one module, the unit that DDP wraps and torch.compile compiles: the
    cross-entropy over the vocabulary (fp32 logits of every predicted position, then their log-softmax) then fuses
    into the graph instead of running as separate eager kernels after it (albert-base, seq 128, on an H100: ~4% of the
    step, measured together with a compiled clipping and LAMB step; docs/benchmarks.md). Returns (MLM loss summed over
    labels != -100, SOP loss summed over the sequences)."""

    def __init__(self, model: AlbertForPreTraining):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor,
                masked_positions: torch.Tensor, masked_labels: torch.Tensor,
                sentence_order_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids, attention_mask, token_type_ids, masked_positions=masked_positions)
        mlm = F.cross_entropy(out.prediction_logits.float().flatten(0, 1), masked_labels.flatten(),
                              ignore_index=-100, reduction="sum")
        sop = F.cross_entropy(out.sop_logits.float(), sentence_order_label, reduction="sum")
        return mlm, sop


class Prefetcher:
    """Builds the next micro-batches (collate + dynamic masking) on a thread while the model computes, as CPU tensors;
    in page-locked memory when `pin` (CUDA), so that their copies to the GPU are asynchronous (a copy from pageable
    memory waits for the GPU's queued work: a host sync per step)."""

    def __init__(self, it: BatchIterator, masker: DynamicMasker | None, seed: int, rank: int, accum: int,
                 pin: bool = False):
        self.it, self.masker, self.seed, self.rank, self.accum, self.pin = it, masker, seed, rank, accum, pin
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        stream = iter(self.it)
        try:
            while not self._stop.is_set():
                micro = []
                for k in range(self.accum):
                    step_key = self.it.epoch * 1_000_003 + self.it.batch  # the masking draw is a function of position
                    batch = next(stream)
                    if self.masker is not None:
                        batch = self.masker(batch, rng=np.random.default_rng([self.seed, self.rank, step_key]))
                    micro.append({k: self._tensor(v) if k != "ngram_hist" else v for k, v in batch.items()})
                self._put((micro, self.it.state_dict()))
        except BaseException as e:  # surface loader errors in the training thread
            self._put((e, None))

    def _tensor(self, v: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(v)
        return t.pin_memory() if self.pin else t

    def _put(self, item) -> None:
        while not self._stop.is_set():  # never block forever once closed
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self):
        item, state = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item, state

    def close(self):
        self._stop.set()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints of a run

STEP_DIR = re.compile(r"^step_(\d{8})$")

# Settings a resumed run must share with the run that wrote its checkpoint: {section: keys, None: all}. The others may
# change on resume: max_steps (extending the run), micro_batch_size (the data position is converted), the intervals,
# logging, device, compile and memory settings. The training data is compared by content (manifest and tokenizer
# checksums, the shards trained on), not by data.train_dir, which may have moved.
RESUME_KEYS: dict[str, tuple[str, ...] | None] = {"model": None, "optim": None,
                                                  "train": ("global_batch_size", "seed", "precision")}


def same_vocabulary(a: dict, b: dict) -> bool:
    """Two manifests' tokenizer entries give the same token ids: the same files (checksum), or, when the checksums
    differ because one was named by its directory and one by its .model file (a directory's checksum covers all its
    files), the same vocabulary once both are loaded; when either cannot be loaded any more, the same size and
    special ids."""
    from litebert.tokenizer import TokenizerFileError, load_tokenizer

    if a["sha256"] == b["sha256"]:
        return True
    if Path(a["path"]).exists() and Path(b["path"]).exists():  # local files only: never a hub download
        try:
            return load_tokenizer(a["path"]).get_vocab() == load_tokenizer(b["path"]).get_vocab()
        except (TokenizerFileError, OSError):
            pass
    keys = ("vocab_size", "cls_id", "sep_id", "mask_id", "pad_id", "special_ids")  # moved or deleted since
    return all(a.get(k) == b.get(k) for k in keys)


def data_fingerprint(manifest: dict) -> str:
    """The training data by content: the options, the tokenizer's ids, every shard's name and sizes and the totals,
    not where the text or tokenizer lay nor how long creation took (a re-creation gives the same fingerprint)."""
    tok = {k: v for k, v in manifest["tokenizer"].items() if k not in ("path", "sha256")}
    content = {k: manifest.get(k) for k in ("format_version", "options", "shards", "totals")}
    return hashlib.sha256(json.dumps({**content, "tokenizer": tok}, sort_keys=True).encode()).hexdigest()


def check_out_dir(out: Path) -> None:
    """An out_dir that is a file, or under one, is named now, not as an OSError when the first file is written."""
    if (p := file_in_the_way(out)) is not None:
        raise TrainingError(f"--train.out_dir {out}: {'' if p == out else f'{p} is '}a file, not a directory; choose "
                            f"a directory for the run's checkpoints and logs")


def step_dirs(out_dir: Path) -> list[Path]:
    """out_dir's step_NNNNNNNN checkpoint directories (complete or not), oldest first."""
    root = out_dir / "checkpoints"
    return sorted(p for p in root.iterdir() if STEP_DIR.match(p.name)) if root.is_dir() else []


def latest_checkpoint(out_dir: Path, world_size: int) -> Path | None:
    """The newest complete checkpoint: a step_NNNNNNNN directory (never a .tmp one) holding the model, the training
    state and every rank's RNG state. Raises when it was written by another number of ranks: each rank's data
    position and RNG state are its own, so they can be neither split nor merged."""
    for d in reversed(step_dirs(out_dir)):
        if not all((d / f).is_file() for f in (ckpt.CONFIG_NAME, ckpt.SAFE_WEIGHTS_NAME, "train_state.pt")):
            continue
        ranks = 0
        while (d / f"rng_rank{ranks}.pt").is_file():
            ranks += 1
        if ranks == 0:
            continue  # torn
        if ranks != world_size:
            raise TrainingError(f"{d} was written by {ranks} rank(s) (rng_rank*.pt), this run has {world_size}: a "
                                f"checkpoint resumes only on the number of ranks that wrote it. Resume with {ranks} "
                                f"rank(s), or start a new run in another --train.out_dir")
        return d
    return None


# ---------------------------------------------------------------------------------------------------------------------
# the run

class Pretrainer:
    def __init__(self, model_args: ModelArgs, data_args: DataArgs, optim_args: OptimConfig, train_args: TrainArgs):
        self.margs, self.dargs, self.oargs, self.targs = model_args, data_args, optim_args, train_args
        self.info = D.init_distributed(train_args.device)
        self.out = Path(train_args.out_dir)
        check_out_dir(self.out)
        t = train_args
        per_step = t.micro_batch_size * self.info.world_size
        if t.global_batch_size % per_step:
            raise TrainingError(f"global_batch_size {t.global_batch_size} is not a multiple of micro_batch_size "
                                f"{t.micro_batch_size} x world size {self.info.world_size}")
        self.accum = t.global_batch_size // per_step
        if t.deterministic:
            T.deterministic_algorithms(self.info.device)
        # data: held out is eval_dir, else the last eval_holdout_shards shards of train_dir (0: none, no evaluation)
        holdout = 0 if data_args.eval_dir else data_args.eval_holdout_shards
        if holdout:
            n = len(PretrainingData(data_args.train_dir).manifest["shards"])
            if n <= holdout:
                raise TrainingError(f"{data_args.train_dir} has {n} shard(s): too few to hold {holdout} out for "
                                    f"evaluation; pass --data.eval_dir, or create the data with a smaller "
                                    f"--chunk_chars so there are more shards")
        self.train_data = PretrainingData(data_args.train_dir, shards=slice(None, -holdout) if holdout else None)
        self.eval_data = (PretrainingData(data_args.eval_dir) if data_args.eval_dir else
                          PretrainingData(data_args.train_dir, shards=slice(-holdout, None)) if holdout else None)
        if data_args.eval_dir:  # evaluating other token ids than the model learns would measure nothing
            a, b = self.train_data.manifest["tokenizer"], self.eval_data.manifest["tokenizer"]
            if not same_vocabulary(a, b):
                raise TrainingError(f"--data.eval_dir {data_args.eval_dir} was made with another tokenizer "
                                    f"({b['path']}, sha256 {b['sha256'][:12]}) than --data.train_dir "
                                    f"{data_args.train_dir} ({a['path']}, sha256 {a['sha256'][:12]}); create the "
                                    f"held-out data with the training data's tokenizer")
        self.eval_every = t.eval_every if self.eval_data is not None else 0
        if self.eval_data is None and t.eval_every:
            self.log("evaluation off: no held-out data (data.eval_holdout_shards 0 and no data.eval_dir)")
        # an evaluation needs one batch per rank: found now, not at the first evaluation thousands of steps in
        if self.eval_every and len(self.eval_data) < (need := t.micro_batch_size * self.info.world_size):
            raise TrainingError(f"held-out data {', '.join(str(s.path) for s in self.eval_data.shards)} holds "
                                f"{len(self.eval_data)} instance(s), fewer than one evaluation batch needs ({need}: "
                                f"micro_batch_size {t.micro_batch_size} x {self.info.world_size} rank(s)); hold out "
                                f"more shards (--data.eval_holdout_shards) or pass a larger --data.eval_dir, lower "
                                f"--train.micro_batch_size, or turn evaluation off (--train.eval_every 0)")
        vocab = vocab_from_manifest(self.train_data.manifest)
        o = self.train_data.manifest["options"]
        self.masking = MaskingOptions(o["masked_lm_prob"], o["max_predictions_per_seq"], o["ngram"],
                                      o["favor_shorter_ngram"], o["do_whole_word_mask"])
        self.masker = None if self.train_data.static_masking else DynamicMasker(vocab, self.masking)
        self.eval_masker = (None if self.eval_data is None or self.eval_data.static_masking else
                            DynamicMasker(vocab, self.masking))
        # model: identical init on every rank (seeded), then per-rank seeds for dropout
        self.config = build_model_config(model_args, vocab.size)
        longest = max(d.max_seq_length for d in (self.train_data, self.eval_data) if d is not None)
        if longest > self.config.max_position_embeddings:  # found now, not as a traceback at the first step
            raise TrainingError(f"{data_args.train_dir}: sequences of {longest} tokens, but the model has "
                                f"{self.config.max_position_embeddings} positions; create the data with "
                                f"--max_seq_length {self.config.max_position_embeddings} or give the model more "
                                f"(--model.overrides.max_position_embeddings {longest})")
        self.tokenizer = self._data_tokenizer()
        torch.manual_seed(t.seed)
        self.model = AlbertForPreTraining(self.config)
        if model_args.init_checkpoint:
            init_from_checkpoint(self.model, model_args, self.log)
        if t.activation_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.to(self.info.device)
        # shards are padded at the end of rows: on a GPU in half precision attention runs as varlen FlashAttention
        # over static shapes (model.RightPadded) instead of the masked SDPA (no flash kernel takes a padding mask)
        self.flash_varlen = t.precision != "fp32" and self.model.right_padded_enable(self.info.device)
        self.optimizer = build_optimizer(self.model, optim_args)
        self.scaler = torch.amp.GradScaler(self.info.device.type, enabled=t.precision == "fp16")
        self.iterator = BatchIterator(self.train_data, t.micro_batch_size, rank=self.info.rank,
                                      world_size=self.info.world_size, seed=t.seed)
        self.step, self.best, self.skipped = 0, None, 0
        torch.manual_seed(t.seed + self.info.rank)
        random.seed(t.seed + self.info.rank)
        self.resumed_from = None
        if t.resume and (last := latest_checkpoint(self.out, self.info.world_size)) is not None:
            self._load(last)
        elif old := step_dirs(self.out):
            # a fresh run here would lose its own checkpoints to the rotation (it keeps the highest steps: the old
            # run's) and cut the old run's metrics.jsonl: refuse rather than mix two runs
            if t.resume:
                raise TrainingError(f"{self.out} holds checkpoints (up to {old[-1].name}) but none is complete "
                                    f"(config, weights, train_state.pt and rng_rank*.pt): delete the incomplete ones "
                                    f"in {old[-1].parent} to resume from an earlier one, or start over elsewhere")
            raise TrainingError(f"{self.out} already holds checkpoints of another run (up to {old[-1].name}; resume "
                                f"is off): pass --train.resume true to continue that run, choose another "
                                f"--train.out_dir, or delete {old[-1].parent} to start over there")
        self.iterator_state = self.iterator.state_dict()  # position of the last consumed batch (saved in checkpoints)
        self.ddp = D.wrap_model(PretrainingLosses(self.model), self.info)
        if t.compile:
            try:
                T.check_cuda_graphs(t.compile_mode, self.info.device, self.accum, "train.compile_mode")
            except ValueError as e:
                raise TrainingError(str(e)) from None
        # static shapes (every micro-batch is micro_batch_size x max_seq_length): never a symbolic-size graph
        self.forward = torch.compile(self.ddp, mode=t.compile_mode, dynamic=False) if t.compile else self.ddp
        self.flops_per_token = estimate_flops_per_token(self.config, self.train_data.max_seq_length,
                                                        o["max_predictions_per_seq"])

    # -- logging ----------------------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.info.is_main:
            print(f"[litebert pretrain] {msg}", file=sys.stderr, flush=True)

    def _write_run_info(self) -> None:
        if not self.info.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write_bytes(self.out / "config.yaml", yaml.safe_dump(self._resolved(), sort_keys=False).encode())
        info = {**T.versions(), "world_size": self.info.world_size, "device": str(self.info.device),
                "gpu": torch.cuda.get_device_name(self.info.device) if self.info.device.type == "cuda" else None,
                "accumulation_steps": self.accum, "model_config": self.config.to_dict(),
                "attention": "varlen FlashAttention (right-padded segments)" if self.flash_varlen else "SDPA, masked",
                "parameters": self.model.num_parameters(), "resumed_from": str(self.resumed_from or ""),
                "train_instances": len(self.train_data),
                "eval_instances": len(self.eval_data) if self.eval_data is not None else 0}
        ckpt.atomic_write_bytes(self.out / "run_info.json", json.dumps(info, indent=2).encode())
        self.log(f"{self.model.num_parameters():,} parameters, world size {self.info.world_size}, "
                 f"{self.accum} accumulation step(s), {self.info.device}, torch {torch.__version__}, "
                 f"git {(info['git_commit'] or '')[:10]}; config in {self.out / 'config.yaml'}")

    def _resolved(self) -> dict:
        return {"model": dataclasses.asdict(self.margs), "data": dataclasses.asdict(self.dargs),
                "optim": dataclasses.asdict(self.oargs), "train": dataclasses.asdict(self.targs)}

    def _run_identity(self) -> dict:
        """What a resumed run must share with the one that wrote the checkpoint (saved in train_state.pt): the
        settings (see RESUME_KEYS), the model config, and the training data by content, wherever it lies now."""
        return {"config": self._resolved(), "model_config": self.config.to_dict(),
                "data": {"fingerprint": data_fingerprint(self.train_data.manifest),
                         "train_shards": [s.path.name for s in self.train_data.shards]}}

    def _check_resume(self, directory: Path, state: dict) -> None:
        """Refuse to continue a run with other data, model or optimizer settings (the data position, optimizer moments
        and schedule belong to the saved ones); report the settings that may change (RESUME_KEYS) and did."""
        now = self._run_identity()
        saved = state.get("run")
        if saved is None:  # written before checkpoints recorded their run: config.yaml holds its settings
            saved = {"config": self._read_config_yaml()}
            if saved["config"] is None:
                self.log(f"note: {directory} records no settings (an older checkpoint, no config.yaml): not checked")
                return
        refused, changed = [], []
        for section, new in now["config"].items():
            old, keys = saved["config"].get(section) or {}, RESUME_KEYS.get(section, ())
            for k in new:
                if k in old and old[k] != new[k]:
                    a, b = old[k], new[k]
                    diff = ([f"{section}.{k}.{x}: {a.get(x)} -> {b.get(x)}" for x in {**a, **b} if a.get(x) != b.get(x)]
                            if isinstance(a, dict) and isinstance(b, dict) else [f"{section}.{k}: {a} -> {b}"])
                    (refused if keys is None or k in keys else changed).extend(diff)
        if "model_config" in saved and not any(r.startswith("model.") for r in refused):  # e.g. an edited config_file
            refused += [f"model config {k}: {saved['model_config'].get(k)} -> {v}"
                        for k, v in now["model_config"].items() if saved["model_config"].get(k) != v]
        if "data" in saved:
            old, new = saved["data"], now["data"]
            if old.get("fingerprint") != new["fingerprint"]:
                refused.append(f"training data: {saved['config']['data']['train_dir']} -> {self.dargs.train_dir} "
                               f"(other options, tokenizer ids, shards or totals in manifest.json)")
            elif old["train_shards"] != new["train_shards"]:
                refused.append(f"training shards (data.eval_holdout_shards / data.eval_dir): "
                               f"{len(old['train_shards'])} -> {len(new['train_shards'])} of {self.dargs.train_dir}")
        if refused:
            raise TrainingError(f"{directory} was written by a run with other settings or data ({'; '.join(refused)}); "
                                f"resume with the same ones (max_steps, micro_batch_size, the intervals, device and "
                                f"compile settings may change), use another --train.out_dir, or delete "
                                f"{directory.parent} to start over")
        if changed:
            self.log(f"resuming with changed settings: {'; '.join(changed)}")

    def _read_config_yaml(self) -> dict | None:
        path = self.out / "config.yaml"
        if not path.is_file():
            return None
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise TrainingError(f"{path}: not readable YAML ({str(e).splitlines()[0]}); it records the settings of "
                                f"the run being resumed: restore it, or delete it to resume unchecked") from None
        if not isinstance(config, dict):
            raise TrainingError(f"{path}: expected the run's settings (model, data, optim, train); restore it, or "
                                f"delete it to resume unchecked")
        return config

    # -- checkpoints ------------------------------------------------------------------------------------------------
    def _data_tokenizer(self):
        """The tokenizer the data was made with (the manifest's path, checked by its checksum), saved beside every
        checkpoint so that `litebert fill-mask runs/x/best` and fine-tuning find it; None (and a note) when moved."""
        from litebert.data.create import tokenizer_checksum
        from litebert.tokenizer import load_tokenizer

        t = self.train_data.manifest["tokenizer"]
        path = Path(t["path"])
        try:
            if tokenizer_checksum(path) == t["sha256"]:
                tok = load_tokenizer(path)  # its default truncation length is the model's, as convert writes it
                tok.model_max_length = min(tok.model_max_length, self.config.max_position_embeddings)
                return tok
        except Exception:  # moved, deleted or unreadable: training does not need it
            pass
        self.log(f"the data's tokenizer ({path}) is not there or has changed: checkpoints carry no tokenizer "
                 f"(pass --tokenizer to the commands that use them)")
        return None

    def _save_model(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(directory)

    def _save(self) -> None:
        root = self.out / "checkpoints"
        final = root / f"step_{self.step:08d}"
        tmp = root / f".step_{self.step:08d}.tmp"
        if self.info.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            self._save_model(tmp)
            state = {"step": self.step, "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                     "data": self.iterator_state, "best": self.best, "skipped": self.skipped,
                     "run": self._run_identity()}
            torch.save(state, tmp / "train_state.pt")
        D.barrier()
        torch.save(T.rng_state(self.info.device), tmp / f"rng_rank{self.info.rank}.pt")
        D.barrier()
        if self.info.is_main:
            T.fsync_dir_files(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)  # only now is it a checkpoint
            # only ours: a higher-numbered (torn, foreign) directory would outrank this run's and get them deleted
            complete = [p for p in step_dirs(self.out) if p.name <= final.name]
            for old in complete[:-self.targs.keep_checkpoint_max] if self.targs.keep_checkpoint_max > 0 else []:
                shutil.rmtree(old, ignore_errors=True)
        D.barrier()

    def _load(self, directory: Path) -> None:
        damaged = (f"the checkpoint is damaged: delete {directory} to resume from the one before it (or from scratch "
                   f"when there is none)")

        def read(path: Path):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # UnpicklingError, PytorchStreamReader's RuntimeError, EOFError, OSError
                why = (str(e).strip().splitlines() or [""])[0].split(". ")[0]  # not torch's weights_only=False hint
                raise TrainingError(f"{path}: not readable ({type(e).__name__}: {why}); {damaged}") from None

        state = read(directory / "train_state.pt")
        keys = ("step", "optimizer", "scaler", "data", "best", "skipped")
        if not isinstance(state, dict) or not all(k in state for k in keys):
            raise TrainingError(f"{directory / 'train_state.pt'}: not a pretraining state ({', '.join(keys)}); "
                                f"{damaged}")
        self._check_resume(directory, state)
        try:
            weights = ckpt.read_state_dict(directory)
        except ckpt.CheckpointError as e:
            raise TrainingError(f"{e}; {damaged}") from None
        missing, unexpected = self.model.load_hf_state_dict(weights, source=str(directory))
        if missing or unexpected:
            raise TrainingError(f"{directory}: checkpoint does not match the model (missing {missing}, "
                                f"unexpected {unexpected})")
        self.model.to(self.info.device)
        self.optimizer = build_optimizer(self.model, self.oargs)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (ValueError, KeyError, RuntimeError) as e:
            raise TrainingError(f"{directory / 'train_state.pt'}: its optimizer state does not fit this model and "
                                f"optimizer ({e}); {damaged}") from None
        try:
            self.iterator.load_state_dict(state["data"])
        except ValueError as e:
            raise TrainingError(f"{directory}: {e}") from None
        self.step, self.best, self.skipped = state["step"], state["best"], state["skipped"]
        T.set_rng_state(read(directory / f"rng_rank{self.info.rank}.pt"), self.info.device)
        self.resumed_from = directory
        self.log(f"resumed from {directory} at step {self.step}")

    def _save_best(self, metrics: dict) -> None:
        if not self.info.is_main:
            return
        tmp = self.out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self._save_model(tmp)
        ckpt.atomic_write_bytes(tmp / "eval_results.json", json.dumps({"step": self.step, **metrics}, indent=2).encode())
        T.replace_dir(tmp, self.out / "best")

    # -- one step ---------------------------------------------------------------------------------------------------
    def _to_device(self, batch: dict) -> dict:
        non_blocking = self.info.device.type == "cuda"  # asynchronous from the Prefetcher's pinned tensors
        return {k: (v if torch.is_tensor(v) else torch.from_numpy(v)).to(self.info.device, non_blocking=non_blocking)
                for k, v in batch.items() if k != "ngram_hist"}

    def train_step(self, micro: list[dict]) -> tuple[torch.Tensor, bool]:
        """One optimizer step over the micro-batches. Returns [this rank's MLM loss sum, SOP loss sum, grad norm, the
        global number of predictions] as a device tensor and whether the update was skipped. The stats are read at the
        next `_flush`, so a step makes no host sync (on_nonfinite=skip must: the skip is decided before the update)."""
        world, device = self.info.world_size, self.info.device
        # the global number of predicted tokens: MLM sums are divided by it, so any split of the batch is exact
        # (counted on the host batches; across ranks summed on the device, where the loss needs it: no host sync)
        count = float(sum(int((b["masked_labels"] != -100).sum()) for b in micro))
        n_pred = torch.full((), count, device=device)  # a fill kernel, not a copy: nothing waits
        if world > 1:
            n_pred = D.all_reduce_sum(n_pred)
            mlm_scale = world / n_pred.clamp(min=1.0)
        else:
            mlm_scale = 1.0 / max(count, 1.0)
        mlm_sum = sop_sum = 0.0
        for k, batch in enumerate(micro):
            b = self._to_device(batch)
            last = k == len(micro) - 1
            sync = contextlib.nullcontext() if (last or world == 1) else self.ddp.no_sync()
            with sync:
                with T.autocast(self.targs.precision, self.info.device):
                    mlm, sop = self.forward(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                                            b["masked_positions"], b["masked_labels"], b["sentence_order_label"])
                n_seq = len(micro) * len(batch["input_ids"])
                loss = mlm * mlm_scale + sop / n_seq
                self.scaler.scale(loss).backward()
            mlm_sum = mlm_sum + mlm.detach()
            sop_sum = sop_sum + sop.detach()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.oargs.clip_grad_norm
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        stats = torch.stack([mlm_sum, sop_sum, grad_norm, n_pred]).float()
        if self.targs.on_nonfinite == "skip":
            losses = D.all_reduce_sum(stats[:2].clone())  # every rank takes the same decision
            if not (torch.isfinite(losses).all() and torch.isfinite(grad_norm)).item():
                self.skipped += 1
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.update()
                return stats, True
        # stop mode: a non-finite step is found at the next flush, which raises before any evaluation or checkpoint
        # (fp16: an overflowing step's update is skipped by the gradient scaler itself)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return stats, False

    def _flush(self, pending: list[tuple[dict, torch.Tensor]]) -> list[dict]:
        """Read the losses of the steps since the last flush (one all-reduce and one host sync for all of them) into
        their rows; raise on a non-finite step (stop mode). Returns the completed rows and empties `pending`."""
        if not pending:
            return []
        stats = torch.stack([s for _, s in pending])  # (steps, 4) on the device
        sums = D.all_reduce_sum(stats[:, :2].contiguous()).cpu().double()
        norms, preds = stats[:, 2:].cpu().double().unbind(1)
        rows = []
        for (row, _), (mlm, sop), norm, n_pred in zip(pending, sums.tolist(), norms.tolist(), preds.tolist()):
            row["predictions"] = int(n_pred) if math.isfinite(n_pred) else n_pred
            mlm_loss, sop_loss = mlm / max(n_pred, 1.0), sop / self.targs.global_batch_size
            finite = math.isfinite(mlm_loss) and math.isfinite(sop_loss) and math.isfinite(norm)
            overflow = self.targs.precision == "fp16" and math.isfinite(mlm_loss + sop_loss) and not math.isfinite(norm)
            if not finite and not row["skipped"] and not overflow:
                pending.clear()
                raise TrainingError(f"non-finite loss at step {row['step'] - 1} (masked_lm_loss {mlm_loss}, "
                                    f"sentence_order_loss {sop_loss}, grad norm {norm}); stopping. "
                                    f"Lower optim.lr, use bf16 instead of fp16, or pass --train.on_nonfinite skip")
            if overflow and not row["skipped"]:  # the gradient scaler skipped this update and lowered its scale
                row["skipped"] = True
                self.skipped += 1
            rows.append({**row, "loss": mlm_loss + sop_loss, "masked_lm_loss": mlm_loss,
                         "sentence_order_loss": sop_loss, "grad_norm": norm})
        pending.clear()
        return rows

    # -- evaluation -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict:
        """The original's metrics on held-out data: masked_lm_accuracy/loss, sentence_order_accuracy/loss."""
        self.model.eval()
        it = BatchIterator(self.eval_data, self.targs.micro_batch_size, rank=self.info.rank,
                           world_size=self.info.world_size, seed=0)
        steps = min(self.targs.eval_steps, it.batches_per_epoch)
        sums = torch.zeros(6, dtype=torch.float64)  # mlm correct, mlm n, mlm nll, sop correct, sop n, sop nll
        label_counts = torch.zeros(self.config.vocab_size, dtype=torch.float64)  # for the most-frequent baseline
        stream = iter(it)
        for i in range(steps):
            batch = next(stream)
            if self.eval_masker is not None:
                batch = self.eval_masker(batch, rng=np.random.default_rng([0, self.info.rank, i]))
            b = self._to_device(batch)
            with T.autocast(self.targs.precision, self.info.device):
                out = self.model(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                                 masked_positions=b["masked_positions"])
            labels = b["masked_labels"]
            keep = labels != -100
            logits = out.prediction_logits.float()
            sums[0] += (logits.argmax(-1)[keep] == labels[keep]).sum().item()
            sums[1] += keep.sum().item()
            label_counts += torch.bincount(labels[keep].cpu(), minlength=self.config.vocab_size).double()
            sums[2] += F.cross_entropy(logits[keep], labels[keep], reduction="sum").item()
            sop = out.sop_logits.float()
            sums[3] += (sop.argmax(-1) == b["sentence_order_label"]).sum().item()
            sums[4] += len(sop)
            sums[5] += F.cross_entropy(sop, b["sentence_order_label"], reduction="sum").item()
        D.all_reduce_sum(sums)
        D.all_reduce_sum(label_counts)
        self.model.train()
        return {"masked_lm_accuracy": sums[0].item() / max(sums[1].item(), 1),
                "masked_lm_loss": sums[2].item() / max(sums[1].item(), 1),
                "sentence_order_accuracy": sums[3].item() / max(sums[4].item(), 1),
                "sentence_order_loss": sums[5].item() / max(sums[4].item(), 1),
                "eval_predictions": int(sums[1].item()), "eval_sequences": int(sums[4].item()),
                # always predicting the most frequent masked token (the chance level MLM accuracy must beat)
                "masked_lm_majority_baseline": label_counts.max().item() / max(sums[1].item(), 1)}

    # -- the loop ---------------------------------------------------------------------------------------------------
    def fit(self) -> dict:
        t = self.targs
        self._write_run_info()
        metrics_path = self.out / "metrics.jsonl"
        if self.info.is_main:
            self._truncate_metrics(metrics_path)
        writer = None
        if t.tensorboard and self.info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out / "tensorboard"))
        self.model.train()
        prefetch = Prefetcher(self.iterator, self.masker, t.seed, self.info.rank, self.accum,
                              pin=self.info.device.type == "cuda")
        bar = None
        if t.progress and self.info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=t.max_steps, initial=self.step, desc="pretrain", dynamic_ncols=True, unit="step")
        last_eval: dict = {}
        last_rate: dict = {}  # the latest throughput row, shown on the progress bar between log steps
        window = {"t": time.perf_counter(), "steps": 0, "tokens": 0}
        pending: list[tuple[dict, torch.Tensor]] = []  # steps whose losses are still on the device

        def write(rows: list[dict]) -> None:
            if not self.info.is_main:
                return
            with open(metrics_path, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
            # TensorBoard on log and eval steps only (metrics.jsonl keeps every step): ~1 ms per step of scalars is
            # 2% of a tiny model's CPU step, for curves nobody reads at that resolution
            for r in rows if writer is not None else ():
                if "seq_per_s" in r or any(k.startswith("eval/") for k in r):
                    for k, v in r.items():
                        if isinstance(v, (int, float)) and k != "step":
                            writer.add_scalar(k if "/" in k else f"train/{k}", v, r["step"])

        try:
            while self.step < t.max_steps:
                lr = learning_rate(self.step, t.max_steps, self.oargs)
                set_learning_rate(self.optimizer, lr)
                micro, self.iterator_state = prefetch.next()
                real_tokens = sum(int(b["attention_mask"].sum()) for b in micro) * self.info.world_size
                stats, skipped = self.train_step(micro)
                self.step += 1
                window["steps"] += 1
                window["tokens"] += real_tokens
                row = {"step": self.step, "lr": lr, "skipped": skipped}  # + predictions and losses at the flush
                pending.append((row, stats))
                evaluate = bool(self.eval_every) and (self.step % self.eval_every == 0 or self.step == t.max_steps)
                save = bool(t.save_every) and self.step % t.save_every == 0 and self.step < t.max_steps
                if not (self.step % t.log_every == 0 or self.step == t.max_steps or evaluate or save):
                    if bar is not None:
                        bar.update(1)
                    continue
                rows = self._flush(pending)  # the one host sync of these steps
                if self.step % t.log_every == 0 or self.step == t.max_steps:
                    dt = time.perf_counter() - window["t"]
                    row["seq_per_s"] = window["steps"] * t.global_batch_size / dt
                    row["tokens_per_s"] = window["tokens"] / dt
                    if self.info.device.type == "cuda":
                        per_gpu = window["tokens"] * self.flops_per_token / dt / self.info.world_size
                        row["mfu"] = per_gpu / PEAK_BF16_FLOPS["measured"]
                        row["mfu_spec_peak"] = per_gpu / PEAK_BF16_FLOPS["spec"]
                    rows[-1].update(row)
                    last_rate = rows[-1]
                    window = {"t": time.perf_counter(), "steps": 0, "tokens": 0}
                if evaluate:
                    last_eval = self.evaluate()
                    rows[-1].update({f"eval/{k}": v for k, v in last_eval.items()})
                    if self.best is None or last_eval["masked_lm_accuracy"] > self.best["masked_lm_accuracy"]:
                        self.best = {"step": self.step, **last_eval}
                        self._save_best(last_eval)
                write(rows)
                if bar is not None:
                    post = {"loss": f"{rows[-1]['loss']:.4f}", "lr": f"{lr:.2e}"}
                    if last_rate:
                        post["seq/s"] = f"{last_rate['seq_per_s']:.1f}"
                        post["tok/s"] = f"{last_rate['tokens_per_s']:.0f}"
                        if "mfu" in last_rate:
                            post["mfu"] = f"{last_rate['mfu']:.1%}"
                    if last_eval:
                        post["mlm_acc"] = f"{last_eval['masked_lm_accuracy']:.3f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                if save:
                    self._save()
            self._save()
        finally:
            prefetch.close()
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
        summary = {"step": self.step, "skipped_steps": self.skipped, "last_eval": last_eval, "best": self.best,
                   "out_dir": str(self.out)}
        if self.info.is_main:
            ckpt.atomic_write_bytes(self.out / "summary.json", json.dumps(summary, indent=2).encode())
        return summary

    def _truncate_metrics(self, path: Path) -> None:
        """On resume, drop rows logged after the checkpoint (they are about to be recomputed); a fresh run starts the
        file over. A torn last line (killed mid-write) is dropped with a warning; a malformed line elsewhere is an
        error, as silently dropping it would lose a row the run cannot recompute."""
        if not path.exists():
            return
        lines = path.read_text().splitlines() if self.resumed_from is not None else []
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        kept = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                step = json.loads(line)["step"]
            except (ValueError, KeyError, TypeError) as e:
                if i == last:
                    self.log(f"warning: {path}:{i + 1}: dropped a torn last row (the run was killed while writing it)")
                    continue
                raise TrainingError(f"{path}:{i + 1}: malformed metrics row ({e}); repair or delete that line to "
                                    f"resume") from None
            if step <= self.step:
                kept.append(line)
        ckpt.atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())


def pretrain(model: ModelArgs = ModelArgs(), data: DataArgs = DataArgs(), optim: OptimConfig = OptimConfig(),
             train: TrainArgs = TrainArgs()) -> dict:
    """Pretrain ALBERT with MLM + SOP (google-research/albert run_pretraining.py, in PyTorch).

    Example:
        litebert pretrain --config configs/pretrain/tiny.yaml --data.train_dir data/ --train.max_steps 500
        torchrun --nproc_per_node 8 -m litebert pretrain --config configs/pretrain/albert-base-v2.yaml

    Args:
        model: Architecture (preset or config file), init checkpoint.
        data: Data directories written by `litebert data create`.
        optim: Optimizer and learning-rate schedule.
        train: Batch sizes, steps, precision, evaluation, checkpointing, logging.
    """
    trainer = Pretrainer(model, data, optim, train)
    try:
        summary = trainer.fit()
    finally:
        D.teardown()
    if trainer.info.is_main and summary.get("last_eval"):
        e = summary["last_eval"]
        print(f"step {summary['step']}: masked_lm_accuracy {e['masked_lm_accuracy']:.4f}, masked_lm_loss "
              f"{e['masked_lm_loss']:.4f}, sentence_order_accuracy {e['sentence_order_accuracy']:.4f}; "
              f"checkpoints in {Path(train.out_dir) / 'checkpoints'}, best in {Path(train.out_dir) / 'best'}")
    return summary
