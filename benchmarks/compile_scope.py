"""What to torch.compile: the whole model, or only the shared layer (each `Layer` module's `compile()`)? Prints the
first step's seconds (compilation included) and the mean of 10 steps after it, for a pretraining forward + backward.

    TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 python benchmarks/compile_scope.py --scope model --layers 12
    TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 python benchmarks/compile_scope.py --scope layer --layers 24

Defaults are the CPU run in docs/benchmarks.md (albert-base-v2's layout at H 64, 2 heads, FFN 128, vocab 1000, batch
4 x 32); on a GPU pass --hidden 768 --heads 12 --ffn 3072 --vocab 30000 --batch 64 --seq 128 --device cuda.
"""

from __future__ import annotations

import argparse
import time

import torch

from litebert import AlbertConfig, AlbertForPreTraining
from litebert.model import Layer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scope", choices=["model", "layer"], default="model")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    c = AlbertConfig.from_preset("albert-base-v2", num_hidden_layers=a.layers, hidden_size=a.hidden,
                                 num_attention_heads=a.heads, intermediate_size=a.ffn, vocab_size=a.vocab)
    torch.manual_seed(0)
    model = AlbertForPreTraining(c).to(a.device)
    if a.scope == "model":
        forward = torch.compile(model)
    else:
        for m in model.modules():
            if isinstance(m, Layer):
                m.compile()
        forward = model
    ids = torch.randint(5, a.vocab, (a.batch, a.seq), device=a.device)
    positions = torch.randint(1, a.seq - 1, (a.batch, 5), device=a.device)

    def step():
        out = forward(ids, torch.ones_like(ids), torch.zeros_like(ids), masked_positions=positions)
        (out.prediction_logits.float().logsumexp(-1).sum() + out.sop_logits.sum()).backward()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    step()
    step()
    t = time.perf_counter()
    for _ in range(10):
        step()
    print(f"{a.scope} {a.layers} layers: first step {first:.1f} s (compilation included); "
          f"step {(time.perf_counter() - t) / 10 * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
