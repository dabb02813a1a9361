#!/usr/bin/env bash
# Issue 9's GPU measurements as device calls of under 10 minutes each (the device tool's per-call limit), one per
# stage, so a session with a GPU spends its ~30 minutes measuring rather than scripting. Order for the next session:
# residual, pretrain, finetune, then autotune and graphs when time is left. Every stage writes its full output
# (JSON rows and the markdown tables for docs/benchmarks.md) to $OUT/<stage>.txt; each command has its own timeout, so
# a stage that runs long still returns what it measured.
#
#   bash benchmarks/gpu_suite.sh prepare       # here, once: copies the data the GPU runs read into .bench_data/
#   # then one device call per stage, carrying .bench_data:
#   bash benchmarks/gpu_suite.sh pretrain      # the GPU tests; both systems eager at base 128/512, large 512, xxlarge
#                                              # 512; litebert compiled at the same four cases
#   bash benchmarks/gpu_suite.sh finetune      # xxlarge 512 x 32 with activation checkpointing; SST-2/MRPC fine-tuning
#                                              # (5 recipes); embeddings (eager, unpadded)
#   bash benchmarks/gpu_suite.sh graphs        # base with CUDA graphs (reduce-overhead)
#   bash benchmarks/gpu_suite.sh residual      # before/after of the bf16 residual stream and of the subset last
#                                              # block (fp32_residual, full_last_layer, loss_in_graph; compiled) at
#                                              # base 128/512 and large 512; run it first: pretrain then gives the
#                                              # new rows of every table
#   bash benchmarks/gpu_suite.sh autotune      # base 128 compiled with max-autotune-no-cudagraphs (Triton matmul
#                                              # templates, GELU/bias in their epilogues), when time is left
#   bash benchmarks/gpu_suite.sh knobs         # base 128 compiled under Inductor settings that leave the math alone
#                                              # (coordinate-descent tuning, tiled reductions, mix-order reductions
#                                              # off, aggressive fusion), each against the default in the same call
#
# Issue 5's GPU check (a small ALBERT for ~10 minutes: sentence-order accuracy clearly above chance), a fourth call:
#   bash benchmarks/gpu_suite.sh prepare_sop   # here: pretraining data (seq 128, the ALBERT 30k vocabulary, dynamic
#                                              # masking) in .bench_sop/, ~40 MB; carry [".bench_sop"]
#   bash benchmarks/gpu_suite.sh sop           # configs/pretrain/small-gpu.yaml on it; metrics and summary to $OUT
#
# The GPU image has torch, transformers, sentencepiece, tokenizers, safetensors, pytest: litebert runs from src/.
set -uo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: gpu_suite.sh prepare|pretrain|residual|autotune|knobs|graphs|finetune|prepare_sop|sop}
OUT=${OUT:-runs/gpu_suite}
mkdir -p "$OUT"
export PYTHONPATH=src LITEBERT_BENCH_DATA=.bench_data
PY=${PY:-python3}
log="$OUT/$stage.txt"

run() {  # run SECONDS CMD...: one benchmark under a timeout, its output appended to the stage's log
  local limit=$1; shift
  echo "### $* (timeout ${limit}s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | grep --line-buffered -v "Loading weights" | tee -a "$log"
  echo "### exit ${PIPESTATUS[0]}" | tee -a "$log"
}

case $stage in
  prepare)
    src=../shared/data
    rm -rf .bench_data && mkdir -p .bench_data/glue .bench_data/spm
    cp -r "$src/glue/SST-2" "$src/glue/MRPC" .bench_data/glue/
    cp "$src/spm/albert_en_30k-clean.RECONSTRUCTED.model" .bench_data/spm/
    grep -qxF "/.bench_data/" .gitignore || echo "/.bench_data/" >> .gitignore
    du -sh .bench_data ;;
  pretrain)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$log"
    # first the GPU tests: varlen FlashAttention (unpadded, right-padded segments incl. empty ones) against masked SDPA
    # (the CPU tests of the same paths run in CI; here they would compile for the CPU, minutes with a cold cache)
    run 40 $PY -m pytest -q -p no:cacheprovider tests/test_model.py -k gpu
    run 170 $PY benchmarks/pretrain_throughput.py
    # compiled rows: litebert only (transformers' rows above are the same session's baseline); whole-model compile
    # takes ~1 min per case, longer for large's 24 layers
    run 330 $PY benchmarks/pretrain_throughput.py --compile --systems litebert \
      --cases base:128:256,base:512:64,large:512:32,xxlarge:512:16 ;;
  graphs)
    # CUDA graphs (reduce-overhead) for base, the size bound by launches (large and xxlarge are bound by matmuls)
    run 270 $PY benchmarks/pretrain_throughput.py --compile reduce-overhead --systems litebert \
      --cases base:128:256,base:512:64 ;;
  residual)
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
    # the same compiled step with the residual stream in fp32 (CUDA autocast's LayerNorm, the 2026-11-24 numbers),
    # in bf16 (litebert's default since; bytes_moved.py counts -24% in the non-matmul kernels for base 128), then with
    # the last block at [CLS] and the predictions only (the default since 2026-11-25; -5.2% of base 128's FLOPs)
    v="fp32_residual,full_last_layer,loss_in_graph"
    run 300 $PY benchmarks/step_variants.py --cases base:128:256,base:512:64 --variants $v
    run 260 $PY benchmarks/step_variants.py --cases large:512:32 --variants $v ;;
  autotune)
    # Inductor's matmul templates can take the bias + GELU (and their backward) into the matmul's epilogue, which the
    # default mode leaves to separate memory-bound kernels; autotuning compiles for minutes
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
    run 560 $PY benchmarks/pretrain_throughput.py --compile max-autotune-no-cudagraphs --systems litebert \
      --cases base:128:256 ;;
  knobs)
    # the memory-bound kernels left after the bf16 residual stream: GELU, LayerNorm backward, and the bias/LayerNorm
    # weight gradients, which re-read each layer's activation gradient (bytes_moved.py: ~8 of base's 36.75 GB).
    # One process per setting (Inductor's settings are part of its cache key); a setting this torch lacks exits at once
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
    v="$PY benchmarks/step_variants.py --cases base:128:256 --variants loss_in_graph"
    run 100 $v
    run 150 $v --inductor coordinate_descent_tuning=True
    run 100 $v --inductor triton.tile_reductions=True,triton.prefer_nd_tiling=True
    run 100 $v --inductor triton.mix_order_reduction=False
    run 100 $v --inductor aggressive_fusion=True ;;
  finetune)
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
    run 100 $PY benchmarks/pretrain_throughput.py --cases xxlarge:512:32 --systems litebert --activation_checkpointing \
      --steps 5 --warmup 2
    run 200 $PY benchmarks/finetune_throughput.py --task sst-2 --preset albert-base-v2 --steps 30 --precision bf16 \
      --warmup 120
    run 100 $PY benchmarks/finetune_throughput.py --task mrpc --preset albert-base-v2 --steps 30 --precision bf16 --warmup 120 \
      --compile none
    run 80 $PY benchmarks/embed_throughput.py --preset albert-base-v2 --precision bf16 --unpad false
    run 60 $PY benchmarks/embed_throughput.py --preset albert-base-v2 --precision bf16 ;;  # unpadded: the GPU default
  prepare_sop)
    src=../shared/data
    t=$src/pretrain_text  # the tiny recipe's files and order: the held-out last shard is Gutenberg text
    rm -rf .bench_sop
    py=$PY; [ -x .venv/bin/python ] && py=.venv/bin/python  # here: the project's environment
    $py -m litebert data create --input $t/wikitext-2-raw/*.xz $t/nltk_inaugural/*.xz $t/nltk_state_union/*.xz \
      $t/tinyshakespeare/*.xz $t/nltk_gutenberg/*.xz $t/gutenberg/*.xz \
      --tokenizer $src/spm/albert_en_30k-clean.RECONSTRUCTED.model --output .bench_sop/small128 --max_seq_length 128 \
      --max_predictions_per_seq 20 --dupe_factor 1 --dynamic_masking true --strip_gutenberg true --workers 2
    grep -qxF "/.bench_sop/" .gitignore || echo "/.bench_sop/" >> .gitignore
    du -sh .bench_sop ;;
  sop)
    # the GPU image lacks jsonargparse (the CLI): the recipe is read with PyYAML and run through Pretrainer
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
    run 560 $PY - <<'PYEOF'
import json, os, shutil, yaml
from litebert.optim import OptimConfig
from litebert.pretrain import DataArgs, ModelArgs, Pretrainer, TrainArgs
r = yaml.safe_load(open("configs/pretrain/small-gpu.yaml"))
r["data"]["train_dir"] = ".bench_sop/small128"
r["train"].update(out_dir="runs/small-gpu", resume=False, progress=False)
shutil.rmtree("runs/small-gpu", ignore_errors=True)
print(json.dumps(r))
summary = Pretrainer(ModelArgs(**r["model"]), DataArgs(**r["data"]), OptimConfig(**r["optim"]),
                     TrainArgs(**r["train"])).fit()
print(json.dumps(summary, default=str))
PYEOF
    for f in metrics.jsonl summary.json config.yaml; do cp "runs/small-gpu/$f" "$OUT/" 2>/dev/null; done ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
