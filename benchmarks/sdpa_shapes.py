"""What a new sequence length costs masked attention on this GPU: SDPA forward+backward with a padding mask (what
eager fine-tuning on length-grouped batches runs), the first call at each new length against a repeat of it, per
backend. A large first-call cost means per-shape setup (cuDNN builds an execution plan per shape), which a short
benchmark over ever-new lengths would count as speed.

    python benchmarks/sdpa_shapes.py          # GPU
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def timed(fn) -> float:
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head_dim", type=int, default=64)
    args = ap.parse_args()
    backends = {"default": None, "cudnn": SDPBackend.CUDNN_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "math": SDPBackend.MATH}
    lengths = iter(range(17, 4000))
    for name, backend in backends.items():
        first, again = [], []
        for _ in range(6):
            T = next(lengths)
            q, k, v = (torch.randn(args.batch, args.heads, T, args.head_dim, device="cuda", dtype=torch.bfloat16,
                                   requires_grad=True) for _ in range(3))
            mask = torch.ones(args.batch, 1, 1, T, dtype=torch.bool, device="cuda")
            mask[: args.batch // 2, ..., T // 2:] = False

            def call():
                ctx = sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext()
                with ctx:
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum().backward()
            try:
                first.append(timed(call))
                again.append(min(timed(call) for _ in range(3)))
            except RuntimeError as e:
                print(f"{name}: {str(e).splitlines()[0][:120]}")
                break
        if first:
            print(f"{name:10s} first call at a new length {sorted(first)[len(first) // 2]:8.2f} ms (median of "
                  f"{len(first)}), repeat {sorted(again)[len(again) // 2]:7.3f} ms")


if __name__ == "__main__":
    main()
