"""Experiments on the compiled pretraining step (issue 9), one process, the same random batch as pretrain_throughput.py:

  baseline       the step before 2026-11-24: compiled model (right-padded varlen FlashAttention); loss, clipping and
                 LAMB eager; the whole last block
  loss_in_graph  pretrain_throughput.py's step (the pretraining loop's): the losses inside the compiled module
                 (litebert.pretrain.PretrainingLosses); the residual stream in bf16 (litebert.model.add_norm); the
                 last block at [CLS] and the predicted positions only (AlbertModel.subset_last_layer)
  full_last_layer  loss_in_graph with the whole last block (the step before the subset, 2026-11-25)
  fp32_residual  full_last_layer with the residual stream in fp32, as CUDA autocast's LayerNorm keeps it (the step of
                 every H100 measurement of 2026-11-24)
  fused_tail     the loss compiled with the model (one graph), clipping and the LAMB step compiled as one function
                 (this and the two below run the subset last block since 2026-11-25; their 2026-11-24 numbers ran
                 the whole block)
  flash_dense    fused_tail, attention without a mask (an unpadded batch): SDPA's FlashAttention
  cudnn          fused_tail, attention without a mask through cuDNN's attention (static shapes: one plan per run)

    python benchmarks/step_variants.py --cases base:128:256 --variants baseline,fused_tail,cudnn     # GPU
    python benchmarks/step_variants.py --cases base:128:256,large:512:32 --variants fp32_residual,full_last_layer,loss_in_graph
    python benchmarks/step_variants.py --cases tiny:64:8 --device cpu --precision fp32 --steps 2 --warmup 1

`--inductor KEY=VALUE,...` compiles every variant of the run under those Inductor settings (torch._inductor.config,
e.g. `triton.tile_reductions=True,triton.prefer_nd_tiling=True`); the row records them.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import time

import torch
import torch.nn.functional as F

from pretrain_throughput import (PEAKS, SIZES, bench_device, litebert_executed_flops_per_token, litebert_step_fn,
                                 make_batch, model_and_optimizer)
from litebert import AlbertConfig
from litebert.model import estimate_flops_per_token


def baseline_step_fn(config, b, device, dtype):
    model, opt = model_and_optimizer(config, device, dtype)
    model.subset_last_layer_enable(False)
    forward = torch.compile(model, dynamic=False)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = forward(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                          masked_positions=b["masked_positions"])
        loss = F.cross_entropy(out.prediction_logits.float().flatten(0, 1), b["masked_labels"].flatten()) + \
            F.cross_entropy(out.sop_logits.float(), b["sop"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def fused_step_fn(config, b, device, dtype, attention: str):
    model, opt = model_and_optimizer(config, device, dtype, varlen=attention == "varlen")
    params = [p for p in model.parameters() if p.requires_grad]
    mask = b["attention_mask"] if attention == "varlen" else None

    @torch.compile(dynamic=False)
    def loss_fn(ids, mask, types, positions, labels, sop):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(ids, mask, types, masked_positions=positions)
        return F.cross_entropy(out.prediction_logits.float().flatten(0, 1), labels.flatten()) + \
            F.cross_entropy(out.sop_logits.float(), sop)

    @torch.compile(dynamic=False)
    def update():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    def step():
        loss = loss_fn(b["input_ids"], mask, b["token_type_ids"], b["masked_positions"], b["masked_labels"], b["sop"])
        loss.backward()
        update()
        opt.zero_grad(set_to_none=True)
    return model, step


def run(variant, size, seq, batch, args, device):
    config = AlbertConfig.from_preset(SIZES[size], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      max_position_embeddings=max(512, seq))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    b = make_batch(config.vocab_size, batch, seq, args.predictions, device)
    flags = (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
             torch.backends.cuda.cudnn_sdp_enabled())
    if variant == "cudnn":
        torch.backends.cuda.enable_flash_sdp(False)
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_cudnn_sdp(True)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    row = {"variant": variant, "model": size, "seq": seq, "batch": batch}
    try:
        if variant == "baseline":
            model, step = baseline_step_fn(config, b, device, dtype)
        elif variant in ("loss_in_graph", "full_last_layer", "fp32_residual"):
            model, step = litebert_step_fn(config, b, device, dtype, "default", False)
            model.fp32_residual_enable(variant == "fp32_residual")  # before the first step: compiled then
            model.subset_last_layer_enable(variant == "loss_in_graph")
        else:
            attention = {"fused_tail": "varlen", "flash_dense": "none", "cudnn": "none"}[variant]
            model, step = fused_step_fn(config, b, device, dtype, attention)
        t = time.perf_counter()
        for _ in range(args.warmup):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        row["warmup_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = (time.perf_counter() - t) / args.steps
    except Exception as e:
        return {**row, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    finally:
        torch.backends.cuda.enable_flash_sdp(flags[0])
        torch.backends.cuda.enable_mem_efficient_sdp(flags[1])
        torch.backends.cuda.enable_cudnn_sdp(flags[2])
    preds = args.predictions
    tflops = batch * seq / dt * estimate_flops_per_token(config, seq, preds) / 1e12
    share = litebert_executed_flops_per_token(model, seq, preds) / \
        estimate_flops_per_token(config, seq, preds)  # of the formula's FLOPs, those the step runs
    row.update(step_ms=round(dt * 1e3, 2), seq_per_s=round(batch / dt, 1), tflops=round(tflops, 1),
               mfu=round(tflops * 1e12 / PEAKS["measured"], 3), executed_share=round(share, 4),
               exec_mfu=round(share * tflops * 1e12 / PEAKS["measured"], 3))
    if device.type == "cuda":
        row["peak_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    del model, step
    return row


def inductor_settings(text: str) -> dict:
    """`a.b=True,c=4` -> {"a.b": True, "c": 4}, each key checked against torch._inductor.config."""
    import torch._inductor.config as inductor_config

    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--inductor: {item!r} is not KEY=VALUE")
        try:
            functools.reduce(getattr, key.split("."), inductor_config)
        except AttributeError:
            raise SystemExit(f"--inductor: torch {torch.__version__} has no Inductor setting {key!r}") from None
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="base:128:256")
    ap.add_argument("--variants",
                    default="baseline,fp32_residual,full_last_layer,loss_in_graph,fused_tail,flash_dense,cudnn")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--predictions", type=int, default=20)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--inductor", default="", help="Inductor settings for every variant: KEY=VALUE,...")
    args = ap.parse_args()
    device = bench_device(args.device)
    settings = inductor_settings(args.inductor)
    with torch._inductor.config.patch(settings):
        for case in args.cases.split(","):
            size, seq, batch = case.split(":")
            for v in args.variants.split(","):
                row = run(v, size, int(seq), int(batch), args, device)
                print(json.dumps({**row, "inductor": settings} if settings else row), flush=True)


if __name__ == "__main__":
    main()
