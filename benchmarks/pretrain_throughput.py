"""Pretraining-step throughput, litebert against transformers, in one process on the same random batch.

litebert: AlbertForPreTraining with the MLM head on the masked positions only, fused QKV, SDPA, the original LAMB
(foreach), clipping at 1.0, the losses computed inside the model's module (compiled with it) as the pretraining loop
does; optionally torch.compile and activation checkpointing. transformers: its
AlbertForPreTraining (attn_implementation="sdpa", MLM logits over every position as its API computes them) with fused
AdamW, as ../shared/bench/hf_albert_bench.py runs it. Both in bf16 autocast. Model FLOPs per token are the same for
both (performance-anchors.md section 4: 6 N_c + 12 L s h + (p/s) 6 (h E + E V), the MLM head counted on the p
predicted positions only), so the ratio of TFLOP/s is the ratio of sequences/s. MFU against the measured H100 bf16
peak (790 TFLOP/s) and the spec sheet's (989). The formula counts every layer on every token; litebert runs its last
block at [CLS] and the predicted positions only (`AlbertModel.subset_last_layer`), transformers its MLM head on every
position: `exec_mfu` is the utilisation on the matmul FLOPs each system actually runs (`executed_flops_per_token`).

    python benchmarks/pretrain_throughput.py                               # GPU: base 128/512, large 512, xxlarge 512
    python benchmarks/pretrain_throughput.py --cases tiny:64:8 --steps 3 --warmup 1 --device cpu --precision fp32

Prints one JSON line per (case, system), then a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import torch

from litebert import AlbertConfig, AlbertForPreTraining
from litebert.model import estimate_flops_per_token
from litebert.optim import OptimConfig, build_optimizer
from litebert.pretrain import PretrainingLosses

PEAKS = {"measured": 790e12, "spec": 989e12}  # H100 bf16 dense (performance-anchors.md)
SIZES = {"base": "albert-base-v2", "large": "albert-large-v2", "xlarge": "albert-xlarge-v2",
         "xxlarge": "albert-xxlarge-v2", "tiny": "tiny"}
GPU_CASES = "base:128:256,base:512:64,large:512:32,xxlarge:512:16"  # hf_albert_bench.py's batches


def executed_flops_per_token(config: AlbertConfig, seq: int, mlm_rows: int, last_block_rows: int) -> float:
    """The matmul FLOPs a training step runs per token, by the conventions of `estimate_flops_per_token`: the MLM head
    on `mlm_rows` positions per sequence, the last block's output projection, FFN and attention queries on
    `last_block_rows` of the `seq` positions (its fused QKV projection runs on every token, as does every other
    block)."""
    h, f = config.hidden_size, config.intermediate_size
    skipped = (seq - last_block_rows) * (6 * (h * h + 2 * h * f) + 12 * seq * h) / seq
    return estimate_flops_per_token(config, seq, mlm_rows) - skipped


def litebert_executed_flops_per_token(model: AlbertForPreTraining, seq: int, preds: int) -> float:
    """`executed_flops_per_token` for litebert's step: the MLM head on the predictions, the last block on them and
    [CLS] while `subset_last_layer` is on (the default), else on every token."""
    last_block_rows = preds + 1 if model.albert.subset_last_layer else seq
    return executed_flops_per_token(model.config, seq, preds, last_block_rows)


def bench_device(name: str) -> torch.device:
    """The device to run on; a GPU made current with its index filled in (`torch.cuda.set_device` refuses a bare
    "cuda"), so synchronize, peak memory and compiled graphs act on it."""
    device = torch.device(name)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        torch.cuda.set_device(device)
    return device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_batch(vocab: int, batch: int, seq: int, preds: int, device: torch.device, seed: int = 0) -> dict:
    """Random ids, segments split in the middle, `preds` distinct masked positions per row and their labels."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    positions = torch.stack([torch.randperm(seq - 2, generator=g)[:preds] + 1 for _ in range(batch)]).sort(-1).values
    labels = ids.gather(1, positions)
    types = torch.zeros_like(ids)
    types[:, seq // 2:] = 1
    dense_labels = torch.full_like(ids, -100).scatter(1, positions, labels)  # transformers' MLM label layout
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": types,
           "masked_positions": positions, "masked_labels": labels, "dense_labels": dense_labels,
           "sop": torch.randint(0, 2, (batch,), generator=g)}
    return {k: v.to(device) for k, v in out.items()}


def model_and_optimizer(config: AlbertConfig, device: torch.device, dtype, varlen: bool = True):
    """litebert's model and LAMB for one case, ready for a fresh compile."""
    torch._dynamo.reset()  # a fresh compile per case: static shapes (dynamo would make a second case's sizes symbolic)
    torch.manual_seed(0)
    with device:  # initialised where it runs: xxlarge's init takes ~20 s per pass on a CPU
        model = AlbertForPreTraining(config).train()
    if varlen and dtype is not None:  # as the pretraining loop: padded rows as varlen FlashAttention segments on a GPU
        model.right_padded_enable(device)
    return model, build_optimizer(model, OptimConfig(name="lamb", lr=1e-4))


def litebert_step_fn(config: AlbertConfig, b: dict, device: torch.device, dtype, compile_: str | None,
                     checkpointing: bool):
    model, opt = model_and_optimizer(config, device, dtype)
    model.gradient_checkpointing_enable(checkpointing)
    losses = PretrainingLosses(model)  # as the pretraining loop: the losses inside the compiled graph
    forward = torch.compile(losses, mode=compile_, dynamic=False) if compile_ else losses
    n_pred, n_seq = b["masked_labels"].numel(), len(b["sop"])

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            mlm, sop = forward(b["input_ids"], b["attention_mask"], b["token_type_ids"], b["masked_positions"],
                               b["masked_labels"], b["sop"])
        loss = mlm / n_pred + sop / n_seq
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def transformers_step_fn(config: AlbertConfig, b: dict, device: torch.device, dtype):
    import transformers

    hf_cfg = transformers.AlbertConfig(**{k: v for k, v in config.to_dict().items()
                                          if k in transformers.AlbertConfig().to_dict()})
    torch.manual_seed(0)
    model = transformers.AlbertForPreTraining._from_config(hf_cfg, attn_implementation="sdpa").to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                        token_type_ids=b["token_type_ids"], labels=b["dense_labels"], sentence_order_label=b["sop"])
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def run_case(system: str, size: str, seq: int, batch: int, args, device: torch.device) -> dict:
    config = AlbertConfig.from_preset(SIZES[size], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      max_position_embeddings=max(512, seq))
    preds = args.predictions
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    row = {"system": system, "model": size, "seq": seq, "batch": batch, "predictions": preds,
           "precision": args.precision, "compile": args.compile if system == "litebert" else None,
           "activation_checkpointing": args.activation_checkpointing if system == "litebert" else False}
    b = make_batch(config.vocab_size, batch, seq, preds, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        if system == "litebert":
            model, step = litebert_step_fn(config, b, device, dtype, args.compile, args.activation_checkpointing)
        else:
            model, step = transformers_step_fn(config, b, device, dtype)
        t = time.perf_counter()
        for _ in range(args.warmup):  # compilation, CUDA graph recording, allocator warm-up
            step()
        _sync(device)
        row["warmup_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        _sync(device)
        dt = (time.perf_counter() - t) / args.steps
    except torch.cuda.OutOfMemoryError:
        return {**row, "error": "OOM"}
    except Exception as e:  # a failing case (a compile error, say) is reported and the others still run
        return {**row, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    tflops = batch * seq / dt * estimate_flops_per_token(config, seq, preds) / 1e12
    if system == "litebert":
        executed = litebert_executed_flops_per_token(model, seq, preds)
    else:  # transformers' MLM head runs on every position
        executed = executed_flops_per_token(config, seq, seq, seq)
    exec_tflops = batch * seq / dt * executed / 1e12
    row.update(step_ms=round(dt * 1e3, 2), seq_per_s=round(batch / dt, 1), tok_per_s=round(batch * seq / dt),
               tflops=round(tflops, 2), exec_tflops=round(exec_tflops, 2))
    if device.type == "cuda":
        row.update(mfu=round(tflops * 1e12 / PEAKS["measured"], 3), mfu_spec=round(tflops * 1e12 / PEAKS["spec"], 3),
                   exec_mfu=round(exec_tflops * 1e12 / PEAKS["measured"], 3),
                   peak_mem_gb=round(torch.cuda.max_memory_allocated() / 2**30, 1))
    del model, step
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=None, help=f"size:seq:batch,... (GPU default {GPU_CASES}; CPU tiny:64:8)")
    ap.add_argument("--systems", default="litebert,transformers")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--predictions", type=int, default=20, help="masked positions per sequence (the original: 20)")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--compile", nargs="?", const="default", default=None,
                    choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
                    help="torch.compile litebert's model (reduce-overhead: CUDA graphs; max-autotune: Triton matmul "
                         "templates with fused epilogues, minutes of autotuning)")
    ap.add_argument("--activation_checkpointing", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = bench_device(args.device)
    cases = args.cases or (GPU_CASES if device.type == "cuda" else "tiny:64:8")
    import transformers

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'}, " \
        f"{torch.get_num_threads()} threads)"
    print(json.dumps({"date": str(datetime.date.today()), "device": where, "torch": torch.__version__,
                      "transformers": transformers.__version__, "args": vars(args)}), flush=True)
    rows = []
    for case in cases.split(","):
        size, seq, batch = case.split(":")
        for system in args.systems.split(","):
            rows.append(run_case(system, size, int(seq), int(batch), args, device))
            print(json.dumps(rows[-1]), flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print(f"\n{datetime.date.today()} | {where} | torch {torch.__version__}, transformers {transformers.__version__} | "
          f"{args.precision}" + (f", compile ({args.compile})" if args.compile else ""))
    print("\n| model | seq | batch | system | seq/s | model TFLOP/s | MFU (790) | MFU (989) | executed MFU (790) "
          "| peak GB | vs transformers |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next((x for x in rows if x["system"] == "transformers" and "seq_per_s" in x
                     and (x["model"], x["seq"]) == (r["model"], r["seq"])), None)
        ratio = f"{r['seq_per_s'] / base['seq_per_s']:.2f}x" if base and "seq_per_s" in r else "-"
        print(f"| {r['model']} | {r['seq']} | {r['batch']} | {r['system']} | {r.get('seq_per_s', r.get('error'))} | "
              f"{r.get('tflops', '-')} | {r.get('mfu', '-')} | {r.get('mfu_spec', '-')} | {r.get('exec_mfu', '-')} | "
              f"{r.get('peak_mem_gb', '-')} | "
              f"{ratio} |")


if __name__ == "__main__":
    main()
