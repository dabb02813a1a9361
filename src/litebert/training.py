"""Pieces shared by the pretraining and the fine-tuning loops: precision contexts, per-rank RNG state, atomic
directory swaps and the run record (resolved arguments, versions, git commit)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

import litebert
from litebert.config import ConfigError
from litebert.textio import atomic_write_bytes

PRECISIONS = ("fp32", "bf16", "fp16")
# torch.compile modes; reduce-overhead adds CUDA graphs (one replay per step instead of a launch per kernel)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def uses_cuda_graphs(compile_mode: str, device: torch.device) -> bool:
    return device.type == "cuda" and compile_mode in ("reduce-overhead", "max-autotune")


def check_cuda_graphs(compile_mode: str, device: torch.device, accumulation_steps: int, where: str) -> None:
    """CUDA graphs own the gradients they produce, and the next replay (the next micro-batch's forward) overwrites
    them: gradient accumulation would add to freed buffers (torch raises, or older versions lose gradients)."""
    if uses_cuda_graphs(compile_mode, device) and accumulation_steps > 1:
        raise ValueError(f"{where}: compile mode {compile_mode!r} records CUDA graphs, which cannot accumulate "
                         f"gradients over {accumulation_steps} micro-batches; use one micro-batch per step (a larger "
                         f"micro batch size), or compile mode default / max-autotune-no-cudagraphs")


def length_multiple(compile_mode: str, device: torch.device, requested: int | None = None) -> int:
    """What batch lengths are padded up to a multiple of: `requested`, else 16 where torch.compile records CUDA
    graphs (one per shape: few lengths must recur), else 1 (padding is compute, and compiling once more with a
    dynamic length covers every other shape)."""
    if requested is not None:
        return requested
    return 16 if uses_cuda_graphs(compile_mode, device) else 1


def deterministic_algorithms(device: torch.device) -> None:
    """torch.use_deterministic_algorithms, which on a GPU also needs cuBLAS's fixed workspace (set before the first
    matmul; torch raises at every cuBLAS call without it). A value the user set is kept."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)


def check_precision(precision: str, where: str = "precision") -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"{where} must be fp32, bf16 or fp16, got {precision!r}")


def autocast(precision: str, device: torch.device):
    """fp32: nothing; bf16/fp16: torch.autocast on the device (fp16 also needs a GradScaler, see grad_scaler)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fsync_dir_files(directory: Path) -> None:
    for f in directory.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def replace_dir(tmp: Path, final: Path) -> None:
    """Make the fully written directory `tmp` become `final`: a reader sees the old one or the new one, never a mix."""
    fsync_dir_files(tmp)
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def git_commit() -> str | None:
    with contextlib.suppress(Exception):
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    return None


def versions() -> dict:
    return {"litebert": litebert.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "git_commit": git_commit()}


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode())
