"""Where a pretraining step's GPU time goes: torch.profiler over a few steps of pretrain_throughput.py's litebert step,
kernels grouped by kind (matmuls, attention, fused elementwise/normalisation, optimizer, copies), then the top kernels.

    python benchmarks/profile_step.py --size base --seq 128 --batch 256 --compile default     # GPU
    python benchmarks/profile_step.py --size tiny --seq 64 --batch 8 --device cpu --precision fp32
"""

from __future__ import annotations

import argparse
import collections
import re
import time

import torch
from torch.profiler import ProfilerActivity, profile

from pretrain_throughput import bench_device, SIZES, litebert_step_fn, make_batch
from litebert import AlbertConfig

# first match wins: attention and Inductor's kernels before the patterns their long names also contain (FlashAttention's
# template arguments name cutlass types; Inductor's fused kernels name every op they fuse, "_to_copy" included)
KINDS = [("attention", r"flash|fmha|attention|sdpa"), ("triton (fused)", r"^triton"),
         ("matmul", r"gemm|nvjet|cublas|^sm\d+_xmma|matmul|aten::(add)?mm|aten::bmm"),
         ("optimizer", r"foreach|multi_tensor|lamb|adam"), ("copy/cast", r"copy|cast|memcpy|memset|fill"),
         ("reduce", r"reduce|norm|softmax|sum")]


def kind(name: str) -> str:
    low = name.lower()
    return next((k for k, pat in KINDS if re.search(pat, low)), "other")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="base", choices=list(SIZES))
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--predictions", type=int, default=20)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--compile", nargs="?", const="default", default=None)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = bench_device(args.device)
    config = AlbertConfig.from_preset(SIZES[args.size], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      max_position_embeddings=max(512, args.seq))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    b = make_batch(config.vocab_size, args.batch, args.seq, args.predictions, device)
    _, step = litebert_step_fn(config, b, device, dtype, args.compile, False)
    for _ in range(args.warmup):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(args.steps):
            step()
        sync()
    wall = (time.perf_counter() - t) / args.steps
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr) > 0 and (device.type != "cuda" or e.device_type.name == "CUDA")]
    total = sum(getattr(e, attr) for e in events) / args.steps / 1e3
    print(f"{args.size} seq {args.seq} batch {args.batch} compile {args.compile}: wall {wall * 1e3:.2f} ms/step, "
          f"kernels {total:.2f} ms/step ({total / (wall * 1e3):.0%} busy)")
    by_kind = collections.Counter()
    for e in events:
        by_kind[kind(e.key)] += getattr(e, attr) / args.steps / 1e3
    for k, ms in by_kind.most_common():
        print(f"  {k:16s} {ms:8.2f} ms  {ms / total:6.1%}")
    print(f"top {args.top} kernels (ms/step, calls/step):")
    for e in sorted(events, key=lambda e: -getattr(e, attr))[:args.top]:
        print(f"  {getattr(e, attr) / args.steps / 1e3:8.3f}  {e.count / args.steps:6.0f}  {e.key[:110]}")


if __name__ == "__main__":
    main()
