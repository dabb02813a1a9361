"""Pretraining-data benchmark: creation throughput (instances/s, MB of text/s per core) with --workers 1 and 2, peak
memory of the whole process tree, on the real corpus and on a corpus 10x larger (copies), plus dynamic-masking
throughput on one core. Prints a markdown table (paste into docs/benchmarks.md).

    python benchmarks/data_throughput.py --scale 10 --seq 128 --dupe 1
    python benchmarks/data_throughput.py --scale 1 --seq 512 --dupe 1 --skip-masking

Needs ../shared/data (the real corpus and the ALBERT vocabulary).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data, or a copy of the parts a run needs (LITEBERT_BENCH_DATA; benchmarks/gpu_suite.sh makes one)
DATA = Path(os.environ.get("LITEBERT_BENCH_DATA", ROOT.parent / "shared" / "data"))


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total


def run_create(corpus: Path, tok: Path, out: Path, workers: int, seq: int, dupe: int) -> dict:
    cmd = [sys.executable, "-m", "litebert", "data", "create", "--input", str(corpus), "--tokenizer", str(tok),
           "--output", str(out), "--max_seq_length", str(seq), "--dupe_factor", str(dupe), "--workers", str(workers),
           "--strip_gutenberg", "true", "--overwrite", "true"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0

    def sample():
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"data create failed:\n{stdout}")
    m = json.loads((out / "manifest.json").read_text())
    mb = m["inputs"]["characters"] / 1e6
    return dict(workers=workers, seq=seq, dupe=dupe, mb=mb, instances=m["totals"]["instances"], seconds=wall,
                create_seconds=m["creation"]["seconds"], inst_s=m["totals"]["instances"] / wall,
                mb_s_core=mb / wall / workers, peak_mb=peak / 1024, shards=len(m["shards"]))


def masking_throughput(tok: Path, seq: int, batch: int = 256, reps: int = 20) -> float:
    import numpy as np

    from litebert.data.create import TokenizerAdapter
    from litebert.data.instances import MaskingOptions
    from litebert.data.masking import DynamicMasker
    from litebert.data.text import read_documents

    adapter = TokenizerAdapter(str(tok))
    docs = read_documents(sorted((DATA / "pretrain_text" / "gutenberg").glob("PG*.txt.xz"))[:2], strip_gutenberg=True)
    ids = [x for d in docs for x in adapter.ids(d)]
    flat = [t for s in ids for t in s]
    flat = flat * (batch * seq // max(len(flat), 1) + 1)  # enough tokens for a full batch
    v = adapter.vocab
    rows = np.zeros((batch, seq), np.int64)
    for b in range(batch):  # [CLS] piece ... [SEP] piece ... [SEP], full length: the worst case for the masker
        chunk = flat[b * seq:(b + 1) * seq - 3]
        half = len(chunk) // 2
        rows[b] = [v.cls_id, *chunk[:half], v.sep_id, *chunk[half:], v.sep_id]
    ws = v.word_start[rows].astype(np.uint8)
    batch_d = dict(input_ids=rows, attention_mask=np.ones_like(rows), word_start=ws)
    masker = DynamicMasker(v, MaskingOptions(max_predictions_per_seq=20 if seq >= 512 else round(seq * 0.15)))
    masker(batch_d)
    t = time.perf_counter()
    for _ in range(reps):
        masker(batch_d)
    return batch * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=10, help="corpus copies for the large run (1 = the real corpus only)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dupe", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts on the real corpus")
    ap.add_argument("--large-workers", type=int, nargs="+", default=[2], help="worker counts on the scaled corpus")
    ap.add_argument("--skip-masking", action="store_true")
    args = ap.parse_args()
    src = DATA / "pretrain_text"
    if not src.is_dir():
        raise SystemExit(f"{src} not found")
    work = Path(tempfile.mkdtemp(prefix="litebert-bench-"))
    try:
        tok = work / "tok"
        tok.mkdir()
        shutil.copy(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model", tok / "spiece.model")
        rows = []
        for scale in sorted({1, args.scale}):
            corpus = work / f"corpus_x{scale}"
            for k in range(scale):
                for f in src.rglob("*.xz"):
                    dest = corpus / f"copy{k}" / f.relative_to(src)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(f, dest)
            for w in (args.workers if scale == 1 else args.large_workers):
                r = run_create(corpus, tok, work / "out", w, args.seq, args.dupe)
                r["scale"] = scale
                rows.append(r)
                print(json.dumps(r), flush=True)
            shutil.rmtree(corpus)
        masking = {} if args.skip_masking else {s: masking_throughput(tok, s) for s in (128, 512)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = platform.processor() or platform.machine()
    print(f"\n### Pretraining data creation ({datetime.date.today()}, {os.cpu_count()} cores {cpu}, "
          f"python {platform.python_version()})\n")
    print(f"`python benchmarks/data_throughput.py --scale {args.scale} --seq {args.seq} --dupe {args.dupe}`\n")
    print("| corpus | MB of text | workers | instances | wall s | instances/s | MB/s per core | peak RSS (MB, all processes) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| real x{r['scale']} | {r['mb']:.0f} | {r['workers']} | {r['instances']:,} | {r['seconds']:.1f} | "
              f"{r['inst_s']:,.0f} | {r['mb_s_core']:.2f} | {r['peak_mb']:.0f} |")
    if masking:
        print("\n| dynamic masking, one core | sequences/s |\n|---|---|")
        for s, v in masking.items():
            print(f"| batch 256 x {s} tokens | {v:,.0f} |")


if __name__ == "__main__":
    main()
