"""Inference throughput: sentence embeddings of real text, litebert's `Embed` pipeline against transformers' usual
recipe, same weights, same sentences, one process.

transformers: `AlbertTokenizer`-style batches in input order, `padding=True` (to the longest of each batch),
`AlbertModel` (attn_implementation="sdpa") under torch.no_grad, mean pooling. litebert: `litebert.pipelines.Embed`
(sentences sorted by length so batches carry little padding, fused QKV, SDPA, mean pooling), results in input order.
Sentences per second over the whole set after one warm-up pass; the vectors are checked to agree.

    python benchmarks/embed_throughput.py --preset albert-base-v2 --precision bf16                # GPU
    python benchmarks/embed_throughput.py --config small --device cpu --precision fp32 --limit 872  # CPU

Needs ../shared/data (SST-2 dev sentences and the ALBERT vocabulary) and transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pretrain_throughput import _sync, bench_device
from litebert import AlbertConfig, AlbertModel
from litebert.model import mean_pool
from litebert.pipelines import Embed
from litebert.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data, or a copy of the parts a run needs (LITEBERT_BENCH_DATA; benchmarks/gpu_suite.sh makes one)
DATA = Path(os.environ.get("LITEBERT_BENCH_DATA", ROOT.parent / "shared" / "data"))
CONFIGS = {"small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024)}


def sentences(limit: int) -> list[str]:
    """SST-2 dev then train sentences (real lengths: a few words to a paragraph), `limit` of them."""
    out = []
    for split in ("dev", "train"):
        with open(DATA / "glue" / "SST-2" / f"{split}.tsv", encoding="utf-8") as f:
            out += [row[0] for k, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)) if k]
        if len(out) >= limit:
            break
    return out[:limit]


def timed(fn, device: torch.device) -> tuple[float, object]:
    fn()  # warm-up pass (kernels, allocator)
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="albert-base-v2")
    ap.add_argument("--config", choices=list(CONFIGS), help="a smaller shape for CPU runs (overrides --preset)")
    ap.add_argument("--limit", type=int, default=4096, help="sentences")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--unpad", default="auto", choices=["auto", "true", "false"],
                    help="litebert drops the padding inside the encoder (auto: Embed's default, on a GPU without "
                         "compile)")
    ap.add_argument("--compile", default="none",
                    help="litebert's Embed compiles its encoder in this torch.compile mode (reduce-overhead: CUDA graphs)")
    args = ap.parse_args()
    import transformers

    device = bench_device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    texts = sentences(args.limit)
    cfg = AlbertConfig.from_preset(args.preset, **CONFIGS.get(args.config, {}), vocab_size=30000)
    spm = DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AlbertModel(cfg).save_pretrained(tmp)
        load_tokenizer(spm).save_pretrained(tmp)
        ours = Embed.from_pretrained(tmp, device=args.device, batch_size=args.batch, compile=args.compile,
                                     unpad={"auto": None, "true": True, "false": False}[args.unpad])
        hf_tok = transformers.AlbertTokenizer.from_pretrained(tmp)  # the slow (sentencepiece) tokenizer: the reference
        hf_model = transformers.AlbertModel.from_pretrained(tmp, attn_implementation="sdpa").to(device).eval()
    amp = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def run_ours():
        with amp():
            return ours(texts, pooling="mean")

    @torch.no_grad()
    def run_hf():
        vecs = []
        for i in range(0, len(texts), args.batch):
            enc = hf_tok(texts[i:i + args.batch], padding=True, truncation=True, max_length=512,
                         return_tensors="pt", return_token_type_ids=True)
            enc = {k: v.to(device) for k, v in enc.items()}
            with amp():
                h = hf_model(**enc).last_hidden_state.float()
            vecs.append(mean_pool(h, enc["attention_mask"]).cpu().numpy())
        return np.concatenate(vecs)

    t_hf, v_hf = timed(run_hf, device)
    t_ours, v_ours = timed(run_ours, device)
    cos = float(np.mean(np.sum(v_hf * v_ours, -1) / (np.linalg.norm(v_hf, axis=-1) * np.linalg.norm(v_ours, axis=-1))))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.processor() or 'cpu'}, {torch.get_num_threads()} threads)"
    row = {"date": str(datetime.date.today()), "device": where, "torch": torch.__version__,
           "transformers": transformers.__version__, "model": args.config or args.preset, "sentences": len(texts),
           "mean_tokens": float(np.mean([len(x) for x in ours.tokenizer.encode_batch(texts)["input_ids"]])),
           "batch": args.batch, "precision": args.precision, "unpad": ours.model.unpad_inputs, "compile": args.compile,
           "transformers_sent_per_s": round(len(texts) / t_hf, 1),
           "litebert_sent_per_s": round(len(texts) / t_ours, 1), "ratio": round(t_hf / t_ours, 2),
           "mean_cosine_agreement": round(cos, 5)}
    print(json.dumps(row))
    print("\n| model | sentences (mean tokens) | transformers, padding=True | litebert Embed | ratio |")
    print("|---|---|---|---|---|")
    how = ", ".join(x for x in ("unpadded" if ours.model.unpad_inputs else "", "" if args.compile == "none" else f"compile {args.compile}") if x)
    print(f"| {row['model']}{f' ({how})' if how else ''} | {row['sentences']} ({row['mean_tokens']:.1f}) | "
          f"{row['transformers_sent_per_s']} sent/s | {row['litebert_sent_per_s']} sent/s | **{row['ratio']:.2f}x** |")


if __name__ == "__main__":
    main()
