"""`litebert quickstart`: the whole pipeline on an embedded default, no arguments, no downloads.

1. corpus: the docstrings of Python's own standard library (parsed with `ast`, nothing is imported), or text files
   the user names; 2. a SentencePiece vocabulary (`tokenizer train`); 3. SOP pretraining data (`data create`);
4. a tiny ALBERT pretrained with the live progress bar (`pretrain`); 5. held-out MLM and SOP accuracy against their
chance levels; 6. an HF-layout checkpoint with its tokenizer; 7. fill-mask on a few sentences; 8. a summary.
Every stage is the real command's code.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
import sysconfig
import time
from pathlib import Path

from litebert.data.create import CreateOptions, create_pretraining_data
from litebert.distributed import resolve_device
from litebert.optim import OptimConfig
from litebert.pipelines import FillMask
from litebert.pretrain import DataArgs, ModelArgs, TrainArgs, pretrain
from litebert.textio import atomic_write_bytes, file_in_the_way, iter_lines
from litebert.tokenizer import train_tokenizer

QUICKSTART_MODEL = {"embedding_size": 64, "hidden_size": 128, "num_hidden_layers": 4, "num_hidden_groups": 1,
                    "inner_group_num": 1, "num_attention_heads": 4, "intermediate_size": 512,
                    "max_position_embeddings": 128}
PROBES = [
    "Return a new [MASK] containing the items of the sequence.",
    "If the file does not exist, an [MASK] is raised.",
    "This function returns [MASK] if the object is callable.",
    "The default value of the [MASK] argument is None.",
]

# what quickstart writes into out_dir: a directory holding anything else is not replaced
OUTPUTS = ("corpus", "tokenizer", "data", "run", "model", "quickstart.json")
MAX_CHUNK_CHARS = 400_000  # text per data shard; less for small inputs, so one shard can be held out
MIN_CHUNK_CHARS = 10_000
DOCUMENT_CHARS = 5_000  # a text file is cut into documents of about this size at blank lines


class QuickstartError(ValueError):
    """quickstart cannot run with these arguments (out_dir holds other files, too little input text)."""


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """out_dir may be new, empty, or an earlier quickstart run (replaced only with overwrite): never a directory
    with other files in it, which quickstart would delete."""
    if (p := file_in_the_way(out)) is not None:
        raise QuickstartError(f"--out_dir {out}: {p} is a file, expected a directory (new, or an earlier quickstart "
                              f"run)")
    if not out.is_dir():
        return
    entries = sorted(p.name for p in out.iterdir())
    foreign = [e for e in entries if not any(e == o or e.startswith(f".{o}.tmp-") for o in OUTPUTS)]
    if foreign:
        raise QuickstartError(f"--out_dir {out} holds files quickstart did not write ({', '.join(foreign[:5])}"
                              f"{', ...' if len(foreign) > 5 else ''}); it would delete them: choose another --out_dir")
    if entries and not overwrite:
        raise QuickstartError(f"--out_dir {out} holds an earlier quickstart run: pass --overwrite true to replace it, "
                              f"or choose another --out_dir")


def text_documents(files: list[str], document_chars: int = DOCUMENT_CHARS) -> list[str]:
    """The files' text as documents of about `document_chars`, cut at blank lines (at a line end when a paragraph
    runs to 4x that). `data create` reads a raw text file as one document, and a document is never split across
    shards: a file under a few hundred thousand characters would give a single shard and nothing to hold out."""
    docs: list[str] = []
    for f in files:
        block: list[str] = []
        size = 0
        for line in iter_lines(f):
            block.append(line)
            size += len(line)
            if size >= document_chars and (not line.strip() or size >= 4 * document_chars):
                docs.append("\n".join(block).strip())
                block, size = [], 0
        docs.append("\n".join(block).strip())
    return [d for d in docs if d]


def stdlib_docstrings(max_chars: int = 12_000_000) -> list[str]:
    """One document per standard-library module: its module, class and function docstrings, in source order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs, total = [], 0
    for path in sorted(root.rglob("*.py")):
        if any(part in ("test", "tests", "idlelib", "site-packages", "lib2to3") for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, OSError):
            continue
        parts = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    parts.append(doc)
        text = "\n\n".join(parts)
        if len(text) > 200:
            docs.append(text)
            total += len(text)
            if total >= max_chars:
                break
    return docs


def quickstart(*, out_dir: str = "runs/quickstart", input: str | list[str] | None = None, steps: int = 700,
               vocab_size: int = 4000, seed: int = 12345, device: str = "auto", overwrite: bool = True) -> dict:
    """Run litebert end to end on a built-in corpus: vocabulary, SOP data, pretraining, evaluation, fill-mask.

    Example:
        litebert quickstart            (about 3 minutes on 2 CPU cores; uses a GPU when there is one)

    Args:
        out_dir: Where everything is written.
        input: Text files to use instead of the standard library's docstrings (plain or compressed; cut into
            documents of about 5,000 characters at blank lines).
        steps: Pretraining steps (batches of 32 sequences of 128 tokens).
        vocab_size: SentencePiece vocabulary size.
        seed: Seed of the data and the model.
        device: auto | cpu | cuda.
        overwrite: Replace out_dir when it holds an earlier quickstart run (a directory with other files in it is
            never replaced).
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    given = None if not input else [input] if isinstance(input, str) else list(input)
    _check_out_dir(out, overwrite)
    say = lambda msg: print(f"\n== {msg}", flush=True)  # noqa: E731

    say("1/6 corpus")  # read and checked before out_dir is touched
    docs = text_documents(given) if given else stdlib_docstrings()
    chars = sum(map(len, docs))
    if chars < 2 * MIN_CHUNK_CHARS:
        raise QuickstartError(f"{', '.join(given or ['the corpus'])}: {chars:,} characters of text; quickstart needs at "
                              f"least {2 * MIN_CHUNK_CHARS:,} (one shard of pretraining data is held out for evaluation)")
    if out.is_dir():
        shutil.rmtree(out)
    corpus = out / "corpus" / ("input.jsonl" if given else "stdlib_docstrings.jsonl")
    corpus.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(corpus, "".join(json.dumps({"text": d}) + "\n" for d in docs).encode())
    files = [str(corpus)]
    chunk_chars = min(MAX_CHUNK_CHARS, max(MIN_CHUNK_CHARS, chars // 5))  # at least ~5 shards for small inputs
    what = f"{len(given)} file(s)" if given else "standard-library modules"
    print(f"   {what}: {len(docs)} documents, {chars / 1e6:.1f} MB of text -> {corpus}")

    say("2/6 SentencePiece vocabulary (the original's recipe)")
    tok_dir = out / "tokenizer"
    train_tokenizer(input=files, output=str(tok_dir), vocab_size=vocab_size)

    say("3/6 sentence-order pretraining data with whole-word n-gram masking")
    data_dir = out / "data"
    manifest = create_pretraining_data(files, str(tok_dir), str(data_dir),
                                       CreateOptions(max_seq_length=128, dupe_factor=2, chunk_chars=chunk_chars,
                                                     random_seed=seed), overwrite=True)
    print(f"   {manifest['totals']['instances']:,} instances in {len(manifest['shards'])} shards")

    say("4/6 pretraining a tiny ALBERT (4 layers sharing one group)")
    if (out / "run").exists():  # a run on the vocabulary and data just rebuilt starts over (pretrain refuses old ones)
        shutil.rmtree(out / "run")
    summary = pretrain(
        ModelArgs(preset="tiny", overrides=dict(QUICKSTART_MODEL)),
        DataArgs(train_dir=str(data_dir), eval_holdout_shards=1),
        OptimConfig(name="torch_adamw", lr=1e-3, warmup_steps=min(100, max(steps // 10, 1))),
        TrainArgs(out_dir=str(out / "run"), global_batch_size=32, micro_batch_size=32, max_steps=steps,
                  precision="bf16" if resolve_device(device).type == "cuda" else "fp32", device=device,
                  log_every=10, eval_every=max(steps // 4, 1), eval_steps=10, save_every=0, keep_checkpoint_max=1,
                  seed=seed, resume=False),
    )

    say("5/6 held-out evaluation against chance")
    e = summary["last_eval"]
    base = e["masked_lm_majority_baseline"]
    print(f"   masked LM accuracy   {e['masked_lm_accuracy']:.3f}   (always the most frequent token: {base:.3f}, "
          f"{e['masked_lm_accuracy'] / max(base, 1e-9):.1f}x)")
    print(f"   sentence order       {e['sentence_order_accuracy']:.3f}   (chance: 0.500)")

    say("6/6 checkpoint + fill-mask")
    model_dir = out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    last = sorted((out / "run" / "checkpoints").glob("step_*"))[-1]
    shutil.copytree(last, model_dir, ignore=shutil.ignore_patterns("train_state.pt", "rng_rank*.pt"))
    for f in tok_dir.iterdir():
        shutil.copy(f, model_dir / f.name)  # a complete HF-layout directory: weights, config and tokenizer
    pipe = FillMask.from_pretrained(str(model_dir), device=device)
    predictions = pipe(PROBES, top_k=5)
    for text, per_mask in zip(PROBES, predictions):
        print(f"   {text}\n      -> " + ", ".join(f"{r['token_str']} {r['score']:.2f}" for r in per_mask[0]))

    elapsed = time.perf_counter() - t0
    result = {"out_dir": str(out), "model": str(model_dir), "tokenizer": str(tok_dir), "data": str(data_dir),
              "run": str(out / "run"), "masked_lm_accuracy": e["masked_lm_accuracy"],
              "masked_lm_majority_baseline": base, "sentence_order_accuracy": e["sentence_order_accuracy"],
              "fill_mask": [[r["token_str"] for r in p[0]] for p in predictions], "seconds": round(elapsed, 1)}
    atomic_write_bytes(out / "quickstart.json", json.dumps(result, indent=2).encode())
    print(f"""
== done in {elapsed / 60:.1f} min. Written under {out}/:
   tokenizer/   SentencePiece vocabulary ({manifest['tokenizer']['vocab_size']} pieces)
   data/        pretraining shards + manifest.json   (litebert data stats {data_dir})
   run/         checkpoints, metrics.jsonl, tensorboard/  (litebert plot {out / 'run'})
   model/       the pretrained model in the Hugging Face layout, with its tokenizer
Next:
   litebert fill-mask {model_dir} --text "The [MASK] is returned."
   python -c "from litebert import AlbertForSequenceClassification as M; M.from_pretrained('{model_dir}', num_labels=2)"
   litebert pretrain --config configs/pretrain/tiny.yaml --data.train_dir {data_dir}   (longer training)
""", file=sys.stdout)
    return result

