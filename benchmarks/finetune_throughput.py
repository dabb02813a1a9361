"""Fine-tuning throughput on a real GLUE task, in one run: transformers' usual recipe (AlbertForSequenceClassification,
every example padded to max_seq_length 128, a plain AdamW loop) against litebert's fine-tuning loop (the same weights,
length-grouped batches padded to their longest example), plus litebert padded to 128 too, which separates the model's
speed from the batching's, litebert unpadded (dense layers on real tokens only, varlen attention on a GPU) and
litebert compiled (torch.compile; on a GPU with CUDA graphs, mode reduce-overhead, after `--compile_warmup` untimed
steps that see every padded length).
Training examples per second over the timed steps (after warm-up: 120 steps by default, which see nearly every
batch length, so the per-shape one-off costs of a GPU's first encounter with a length stay out), and the ratio.

    python benchmarks/finetune_throughput.py --task sst-2 --preset albert-base-v2 --steps 30          # GPU
    python benchmarks/finetune_throughput.py --task sst-2 --config small --steps 20 --device cpu      # CPU

Needs ../shared/data (GLUE files and the ALBERT vocabulary) and transformers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from pretrain_throughput import _sync, bench_device
from litebert import AlbertConfig, AlbertForSequenceClassification
from litebert.finetune import sequence as S
from litebert.finetune.glue import TASKS, read_split
from litebert.finetune.trainer import FinetuneArgs, SequenceSet, finetune_loop, pad
from litebert.tokenizer import load_tokenizer
from litebert.training import length_multiple

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data, or a copy of the parts a run needs (LITEBERT_BENCH_DATA; benchmarks/gpu_suite.sh makes one)
DATA = Path(os.environ.get("LITEBERT_BENCH_DATA", ROOT.parent / "shared" / "data"))
CONFIGS = {"small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024),
           "tiny": dict(embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)}  # the CI smoke test's


class PaddedSet(SequenceSet):
    """Every batch padded to max_seq_length, as transformers' examples do."""

    max_len: int = 128

    def collate(self, rows, device):
        b = super().collate(rows, device)
        extra = self.max_len - b["input_ids"].shape[1]
        for k in ("input_ids", "attention_mask", "token_type_ids"):
            b[k] = torch.nn.functional.pad(b[k], (0, extra))
        return b


def run_transformers(model_dir: Path, data: SequenceSet, steps: int, warmup: int, batch: int, device, precision: str,
                     max_len: int) -> float:
    import transformers

    model = transformers.AlbertForSequenceClassification.from_pretrained(model_dir).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    sched = transformers.get_linear_schedule_with_warmup(opt, 10, steps + warmup)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=g).tolist()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    t0 = None
    for step in range(steps + warmup):
        if step == warmup:
            _sync(device)
            t0 = time.perf_counter()
        rows = order[(step * batch) % len(order):][:batch]
        # the recipe: tokenizer(..., padding="max_length", max_length=128), pad id 0
        x = pad([data.input_ids[r] + [0] * (max_len - len(data.input_ids[r])) for r in rows])
        mask = pad([[1] * len(data.input_ids[r]) + [0] * (max_len - len(data.input_ids[r])) for r in rows])
        types = pad([data.token_type_ids[r] + [0] * (max_len - len(data.input_ids[r])) for r in rows])
        y = torch.tensor([data.labels[r] for r in rows])
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(input_ids=x.to(device), attention_mask=mask.to(device), token_type_ids=types.to(device),
                         labels=y.to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    _sync(device)
    return steps * batch / (time.perf_counter() - t0)


def _report(name: str, rate: float) -> float:
    """Each recipe's rate as soon as it is measured (a run cut short by a timeout keeps what it measured)."""
    print(json.dumps({"recipe": name, "examples_per_s": round(rate, 1)}), flush=True)
    return rate


def run_litebert(model_dir: Path, data: SequenceSet, steps: int, warmup: int, batch: int, device, precision: str,
                 out: Path, unpad: bool = False, compile: str = "none") -> float:
    model = AlbertForSequenceClassification.from_pretrained(model_dir)
    args = FinetuneArgs(lr=2e-5, train_steps=steps + warmup, warmup_steps=10, batch_size=batch,
                        eval_every=steps + warmup, log_every=warmup, precision=precision, device=str(device),
                        resume=False, progress=False, unpad=unpad, compile=compile)
    finetune_loop(model, data, lambda m: {"main": 0.0}, args, out, log=lambda s: None)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    # log rows every `warmup` steps: the first covers warm-up; the rest are the timed steps
    timed = [r for r in rows if "examples_per_s" in r][1:]
    spans = [r["step"] - p["step"] for p, r in zip([{"step": warmup}] + timed, timed)]
    seconds = sum(n * batch / r["examples_per_s"] for n, r in zip(spans, timed))
    return sum(spans) * batch / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="sst-2", choices=["sst-2", "mrpc", "rte", "cola", "sts-b"])
    ap.add_argument("--preset", default="albert-base-v2")
    ap.add_argument("--config", choices=list(CONFIGS), help="a smaller shape for CPU runs (overrides --preset)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=120,
                    help="untimed steps first (every system): on a GPU the first batch of each new length pays one-off "
                         "costs (lazy kernel loading, per-shape setup) that a real run of thousands of steps amortises; "
                         "120 steps see nearly every length of SST-2 and all of MRPC's batches")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", default=None,
                    help="mode of the compiled row (default: reduce-overhead on a GPU, default on a CPU; none: no row)")
    ap.add_argument("--compile_warmup", type=int, default=60,
                    help="untimed steps of the litebert rows when a compiled row runs, if more than --warmup: its "
                         "compilations and (GPU) one CUDA graph per padded length all happen before the timed steps")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = bench_device(a.device)
    mode = a.compile or ("reduce-overhead" if device.type == "cuda" else "default")
    t = TASKS[a.task]
    tok = load_tokenizer(str(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"))
    ex = read_split(t, DATA / "glue", "train")
    labels = [list(t.labels).index(e.label) for e in ex] if t.labels else [float(e.label) for e in ex]
    data = S.encode(tok, [e.text_a for e in ex], [e.text_b for e in ex] if ex[0].text_b else None, labels, 128)
    padded = PaddedSet(data.input_ids, data.token_type_ids, data.labels)
    mean_len = sum(data.lengths) / len(data)
    config = AlbertConfig.from_preset(a.preset, num_labels=len(t.labels) if t.labels else 1,
                                      **CONFIGS.get(a.config, {}))
    tmp = Path(tempfile.mkdtemp())
    try:
        torch.manual_seed(0)
        AlbertForSequenceClassification(config).save_pretrained(tmp / "model")
        if not t.labels:
            raise SystemExit("regression tasks: use a classification task for this benchmark")
        hf = _report("transformers, padded to 128",
                     run_transformers(tmp / "model", data, a.steps, a.warmup, a.batch, device, a.precision, 128))
        # every litebert row times the same steps of the same batch order (after the compiled row's longer warm-up)
        w = a.warmup if mode == "none" else max(a.warmup, a.compile_warmup)
        ours_padded = _report("litebert, padded to 128", run_litebert(tmp / "model", padded, a.steps, w, a.batch,
                                                                        device, a.precision, tmp / "p"))
        ours = _report("litebert", run_litebert(tmp / "model", data, a.steps, w, a.batch, device, a.precision,
                                                tmp / "d"))
        ours_unpadded = _report("litebert, unpadded", run_litebert(tmp / "model", data, a.steps, w, a.batch, device,
                                                                   a.precision, tmp / "u", unpad=True))
        ours_compiled = None if mode == "none" else _report(f"litebert, compiled ({mode})", run_litebert(
            tmp / "model", data, a.steps, w, a.batch, device, a.precision, tmp / "c", compile=mode))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    import transformers

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'x86_64'}, {torch.get_num_threads()} threads)"
    shape = a.config or a.preset
    print(f"\n{datetime.date.today()} | {where} | torch {torch.__version__}, transformers {transformers.__version__} | "
          f"{a.task} train, {len(data):,} examples, mean length {mean_len:.1f} tokens | {shape}, batch {a.batch}, "
          f"{a.precision}, {a.steps} timed steps\n")
    print(json.dumps({"date": str(datetime.date.today()), "device": where, "torch": torch.__version__,
                      "transformers": transformers.__version__, "task": a.task, "model": shape, "batch": a.batch,
                      "precision": a.precision, "mean_length": round(mean_len, 1), "transformers_pad128": round(hf, 1),
                      "litebert_pad128": round(ours_padded, 1), "litebert": round(ours, 1),
                      "litebert_unpadded": round(ours_unpadded, 1),
                      "litebert_compiled": None if ours_compiled is None else round(ours_compiled, 1),
                      "compile_mode": mode}))
    print("| recipe | examples/s | vs transformers |")
    print("|---|---|---|")
    print(f"| transformers, padded to 128 | {hf:.1f} | 1.00x |")
    print(f"| litebert loop, padded to 128 | {ours_padded:.1f} | {ours_padded / hf:.2f}x |")
    print(f"| litebert loop, length-grouped dynamic padding | {ours:.1f} | **{ours / hf:.2f}x** |")
    print(f"| litebert loop, length-grouped, unpadded (`--unpad true`) | {ours_unpadded:.1f} | {ours_unpadded / hf:.2f}x |")
    if ours_compiled is not None:
        multiple = length_multiple(mode, device)
        print(f"| litebert loop, length-grouped{f', lengths padded to x{multiple}' if multiple > 1 else ''}, "
              f"`--compile {mode}` | {ours_compiled:.1f} | {ours_compiled / hf:.2f}x |")


if __name__ == "__main__":
    main()
