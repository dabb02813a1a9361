"""Bytes the compiled pretraining step moves through memory outside its matmuls, as Inductor itself counts them: the
memory-bound part of the step (LayerNorm, GELU, residual additions, casts, loss), which on an H100 runs at about the
memory bandwidth (docs/benchmarks.md: albert-base's GELU and LayerNorm kernels at ~3 TB/s). Needs no GPU: the step is
compiled for the CPU under bf16 autocast and each kernel's bytes are read from Inductor's scheduler
(`get_read_write_buffers_sizes`, the count behind Inductor's own runtime estimates).

What stands in for the GPU: attention is an opaque custom op with FlashAttention's inputs and outputs (q, k, v views of
the fused projection in, one (tokens, heads, head dim) tensor out; dq, dk, dv out of its backward), as the varlen
kernel is an opaque op on a GPU; LayerNorm follows CUDA autocast's policy (fp32) through `fp32_residual_enable`, since
CPU autocast would keep it in bf16. Inductor's CPU and GPU backends share the scheduler that decides fusion, so the
kernels and their bytes are close to the GPU's, not identical. Bytes are affine in the batch size from batch 2 on (at
batch 1 Inductor fuses the embedding lookup with its LayerNorm and counts the whole table): the step is compiled at
two small batches and extrapolated to the requested one (the fixed part: weight casts and gradient accumulation).

    python benchmarks/bytes_moved.py --size base --seq 128 --batch 256               # ~5 min on 2 cores
    python benchmarks/bytes_moved.py --size tiny --seq 64 --batch 8
    python benchmarks/bytes_moved.py --residual bf16 --last-block full                # the whole last block
"""

from __future__ import annotations

import argparse
import collections
import json

import torch

from pretrain_throughput import SIZES, make_batch
from litebert import AlbertConfig, AlbertForPreTraining
from litebert.pretrain import PretrainingLosses

HBM = 3.35e12  # H100 SXM HBM3, bytes/s (spec sheet); the measured kernels reach ~3e12


@torch.library.custom_op("litebert_bench::attention", mutates_args=())
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
              max_q: int, max_k: int) -> torch.Tensor:
    """Stands in for varlen FlashAttention: same inputs, an output of its shape (q's: the subset last block has fewer
    queries than keys); the values do not matter here."""
    return q.clone()


@attention.register_fake
def _(q, k, v, cu_q, cu_k, max_q, max_k):
    return torch.empty(q.shape, dtype=q.dtype, device=q.device)


@torch.library.custom_op("litebert_bench::attention_backward", mutates_args=())
def attention_backward(g: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return g.clone(), torch.zeros_like(k), torch.zeros_like(v)


@attention_backward.register_fake
def _(g, q, k, v, out):
    return tuple(torch.empty(t.shape, dtype=g.dtype, device=g.device) for t in (q, k, v))


def _setup(ctx, inputs, output):
    q, k, v = inputs[:3]
    ctx.save_for_backward(q, k, v, output)


def _backward(ctx, g):
    dq, dk, dv = attention_backward(g, *ctx.saved_tensors)
    return dq, dk, dv, None, None, None, None


attention.register_autograd(_backward, setup_context=_setup)


def _op_name(fx_node) -> str:
    parts = str(getattr(fx_node, "target", fx_node)).split(".")  # aten.add.Tensor -> add
    return parts[1] if len(parts) > 1 and parts[0] in ("aten", "prims", "litebert_bench") else parts[0]


class Recorder:
    """Collects every compiled graph's scheduler nodes with their byte counts (patched into Inductor's codegen)."""

    def __init__(self):
        self.graphs: list[list[dict]] = []

    def __enter__(self):
        from torch._inductor import graph, scheduler
        self._graph = graph.GraphLowering
        self._orig = graph.GraphLowering.codegen
        rec = self

        def codegen(g, *a, **kw):
            out = rec._orig(g, *a, **kw)
            nodes = []
            for n in g.scheduler.nodes:
                if isinstance(n, scheduler.NopKernelSchedulerNode):
                    continue
                kind = "extern" if isinstance(n, scheduler.ExternKernelSchedulerNode) else "generated"
                ops = sorted({_op_name(o) for sn in n.get_nodes() if getattr(sn, "node", None) is not None
                              for o in getattr(sn.node, "origins", ())} - {"reshape", "view", "permute", "expand"})
                nodes.append({"kind": kind, "bytes": int(n.get_read_write_buffers_sizes() or 0), "ops": ops,
                              "name": n.get_name()})
            rec.graphs.append(nodes)
            return out

        graph.GraphLowering.codegen = codegen
        return self

    def __exit__(self, *exc):
        self._graph.codegen = self._orig


def count(config: AlbertConfig, seq: int, batch: int, predictions: int, fp32_residual: bool,
          subset_last_layer: bool = True) -> list[list[dict]]:
    """Compile one pretraining step (forward + backward, losses inside the graph) and record its kernels."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = AlbertForPreTraining(config).train()
    model.right_padded_enable(kernel=attention)
    model.fp32_residual_enable(fp32_residual)
    model.subset_last_layer_enable(subset_last_layer)
    losses = torch.compile(PretrainingLosses(model), dynamic=False)
    b = make_batch(config.vocab_size, batch, seq, predictions, torch.device("cpu"))
    # a cached graph skips codegen, where the bytes are read
    with Recorder() as rec, torch._inductor.config.patch(fx_graph_cache=False), \
            torch._functorch.config.patch(enable_autograd_cache=False):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mlm, sop = losses(b["input_ids"], b["attention_mask"], b["token_type_ids"], b["masked_positions"],
                              b["masked_labels"], b["sop"])
        (mlm + sop).backward()
    if len(rec.graphs) != 2:
        raise RuntimeError(f"expected a forward and a backward graph, Inductor generated {len(rec.graphs)}")
    return rec.graphs


def summarize(graphs: list[list[dict]]) -> dict:
    out = collections.Counter()
    for i, nodes in enumerate(graphs):
        part = "forward" if i == 0 else "backward"
        for n in nodes:
            out[f"{part}_{n['kind']}_bytes"] += n["bytes"]
            out[f"{part}_{n['kind']}_kernels"] += 1
    return dict(out)


def largest(g1, g2, b1: int, b2: int, batch: int) -> list[tuple[float, int, str, str]]:
    """The generated kernels at `batch`, grouped by (graph, ops): (bytes of the group, kernels in it, graph, ops),
    largest first. Groups are fitted as a whole (affine in the batch), since the two compiles may split a group into
    a different number of kernels."""
    def groups(graphs):
        out = collections.defaultdict(lambda: [0, 0])
        for part, nodes in enumerate(graphs):
            for n in nodes:
                if n["kind"] == "generated":
                    g = out["fwd" if part == 0 else "bwd", "+".join(n["ops"])[:100]]
                    g[0] += n["bytes"]
                    g[1] += 1
        return out
    s1, s2 = groups(g1), groups(g2)
    rows = []
    for key in set(s1) | set(s2):
        a, c = s1.get(key, (0, 0))[0], s2.get(key, (0, 0))[0]
        rows.append((a + (c - a) * (batch - b1) / (b2 - b1), s2.get(key, (0, 0))[1], *key))
    return sorted(rows, reverse=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="base", choices=sorted(SIZES))
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256, help="the batch to extrapolate to")
    ap.add_argument("--small-batches", default="2,3",
                    help="the two batches actually compiled (not 1: there Inductor fuses the embedding lookup "
                         "differently and the count is not on the line through larger batches)")
    ap.add_argument("--predictions", type=int, default=20)
    ap.add_argument("--residual", default="fp32,bf16", help="fp32 (CUDA autocast's LayerNorm) and/or bf16 (litebert)")
    ap.add_argument("--last-block", default="subset", choices=["subset", "full"],
                    help="the last block at [CLS] and the predictions only (litebert's default) or on every token")
    ap.add_argument("--top", type=int, default=12, help="largest generated kernels to list per variant")
    args = ap.parse_args()
    config = AlbertConfig.from_preset(SIZES[args.size], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      max_position_embeddings=max(512, args.seq))
    b1, b2 = (int(x) for x in args.small_batches.split(","))
    rows = []
    for residual in args.residual.split(","):
        subset = args.last_block == "subset"
        g1 = count(config, args.seq, b1, args.predictions, residual == "fp32", subset)
        g2 = count(config, args.seq, b2, args.predictions, residual == "fp32", subset)
        s1, s2 = summarize(g1), summarize(g2)
        row = {"model": args.size, "seq": args.seq, "batch": args.batch, "residual": residual,
               "last_block": args.last_block}
        gen = 0.0
        for key in sorted(set(s1) | set(s2)):
            a, c = s1.get(key, 0), s2.get(key, 0)
            est = a + (c - a) * (args.batch - b1) / (b2 - b1)
            row[key.replace("_bytes", "_MB")] = round(est / 1e6, 1) if key.endswith("bytes") else c
            gen += est if key.endswith("generated_bytes") else 0
        row["generated_MB"] = round(gen / 1e6, 2)
        row["generated_ms_at_hbm"] = round(gen / HBM * 1e3, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        for est, n, part, ops in largest(g1, g2, b1, b2, args.batch)[:args.top]:
            print(f"  {est / 1e6:9.1f} MB  {n:3d}x  {part}  {ops}")
    if len(rows) == 2:
        a, b = rows
        print(f"generated-kernel bytes per step: {a['residual']} {a['generated_MB'] / 1e3:.2f} GB -> {b['residual']} "
              f"{b['generated_MB'] / 1e3:.2f} GB ({b['generated_MB'] / a['generated_MB'] - 1:+.1%}); at "
              f"{HBM / 1e12:.2f} TB/s {a['generated_ms_at_hbm']} -> {b['generated_ms_at_hbm']} ms")


if __name__ == "__main__":
    main()
