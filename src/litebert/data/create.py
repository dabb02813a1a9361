"""`litebert data create`: text files -> shards of SOP instances, streamed, parallel, deterministic.

Documents are read in order and grouped into chunks of about `chunk_chars` characters. Chunk c is processed from its
own generator seeded by (random_seed, c): tokenize, shuffle its documents, `dupe_factor` passes of
create_instances_from_document, shuffle the instances, write shard c. The output therefore does not depend on
`workers`, and memory is bounded by a few chunks per worker (the original holds every instance of the corpus in RAM;
GR#204). Shards are renamed into place when complete and the manifest is written last, all in a staging directory
inside the output whose contents replace the previous data only when complete: a failed run leaves it as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing as mp
import os
import random
import re
import shutil
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from litebert.data.instances import MaskingOptions, Vocab, create_instances_from_document
from litebert.data.shards import (FORMAT_VERSION, MANIFEST, DataError, read_manifest, shard_name, write_manifest,
                                  write_shard)
from litebert.data.text import expand_inputs, read_documents
from litebert.textio import file_in_the_way


@dataclass(frozen=True)
class CreateOptions:
    max_seq_length: int = 512
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    dupe_factor: int = 40
    short_seq_prob: float = 0.1
    ngram: int = 3
    favor_shorter_ngram: bool = True
    do_whole_word_mask: bool = True
    random_next_sentence: bool = False
    random_seed: int = 12345
    static_masking: bool = True
    chunk_chars: int = 2_000_000

    def __post_init__(self):
        if self.max_seq_length < 8:
            raise DataError(f"max_seq_length must be at least 8, got {self.max_seq_length}")
        if not 0 <= self.masked_lm_prob <= 1 or not 0 <= self.short_seq_prob <= 1:
            raise DataError("masked_lm_prob and short_seq_prob must be between 0 and 1")
        if self.dupe_factor < 1 or self.ngram < 1 or self.max_predictions_per_seq < 1:
            raise DataError("dupe_factor, ngram and max_predictions_per_seq must be >= 1")

    @property
    def masking(self) -> MaskingOptions:
        return MaskingOptions(self.masked_lm_prob, self.max_predictions_per_seq, self.ngram, self.favor_shorter_ngram,
                              self.do_whole_word_mask)


# --- the tokenizer as data creation sees it ---------------------------------------------------------------------------

class TokenizerAdapter:
    """Sentence -> piece ids (no special tokens), the Vocab tables, and a checksum of the tokenizer files."""

    def __init__(self, path: str):
        from litebert.tokenizer import load_tokenizer

        # absolute in the manifest: pretraining run from another directory still finds it (saved beside checkpoints)
        self.path = str(Path(path).resolve()) if Path(path).exists() else path
        self.tokenizer = load_tokenizer(path)
        self.vocab = vocab_from_tokenizer(self.tokenizer)
        self.checksum = tokenizer_checksum(Path(path))

    def ids(self, sentences: list[str]) -> list[list[int]]:
        if not sentences:
            return []
        # corpus text is never markup: a literal "[SEP]"/"[MASK]"/"<pad>" must not become a separator, mask or
        # padding id (the original's SentencePiece never emits CONTROL pieces from text)
        return list(self.tokenizer.encode_batch(sentences, add_special_tokens=False,
                                                split_special_tokens=True)["input_ids"])


def vocab_from_tokenizer(tok) -> Vocab:
    """Special ids, the word-start table (the original's _is_start_piece per piece) and the ids random replacement
    may draw (everything but the five special tokens)."""
    specials = np.array(sorted(tok.special_ids), dtype=np.int64)
    replacement = np.setdiff1d(np.arange(tok.vocab_size, dtype=np.int64), specials)
    return Vocab(cls_id=tok.cls_id, sep_id=tok.sep_id, mask_id=tok.mask_id, pad_id=tok.pad_id,
                 word_start=np.asarray(tok.word_start_table, dtype=bool), replacement_ids=replacement)


def vocab_from_manifest(manifest: dict) -> Vocab:
    """The Vocab for batch-time masking, from a data directory's manifest (the word-start flags are stored per token
    in the shards, so the per-id table is not needed and left all False)."""
    t = manifest["tokenizer"]
    V = int(t["vocab_size"])
    return Vocab(cls_id=t["cls_id"], sep_id=t["sep_id"], mask_id=t["mask_id"], pad_id=t["pad_id"],
                 word_start=np.zeros(V, dtype=bool),
                 replacement_ids=np.setdiff1d(np.arange(V), np.asarray(t["special_ids"], dtype=np.int64)))


def tokenizer_checksum(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in (path.iterdir() if path.is_dir() else [path])
                   if p.is_file() and p.suffix in (".model", ".txt", ".json"))
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# --- one chunk -> one shard ------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(tokenizer_path: str) -> None:
    _WORKER["tok"] = TokenizerAdapter(tokenizer_path)


def process_chunk(index: int, documents: list[list[str]], options: CreateOptions, output: Path,
                  tok: TokenizerAdapter | None = None) -> dict:
    """Tokenize, build instances for `dupe_factor` passes, shuffle, write shard `index`; return its statistics."""
    tok = tok or _WORKER["tok"]
    rng = random.Random(options.random_seed * 1_000_003 + index)
    flat = [s for doc in documents for s in doc]
    ids = tok.ids(flat)
    docs: list[list[list[int]]] = []
    stats = Counter()
    k = 0
    for doc in documents:
        sentences = [x for x in ids[k:k + len(doc)] if x]
        k += len(doc)
        stats["empty_sentences"] += len(doc) - len(sentences)
        stats["long_sentences"] += sum(len(x) > options.max_seq_length - 3 for x in sentences)
        if sentences:
            docs.append(sentences)
    rng.shuffle(docs)
    instances = []
    masking = options.masking if options.static_masking else None
    for _ in range(options.dupe_factor):
        for d in range(len(docs)):
            instances.extend(create_instances_from_document(
                docs, d, max_seq_length=options.max_seq_length, short_seq_prob=options.short_seq_prob,
                random_next_sentence=options.random_next_sentence, vocab=tok.vocab, masking=masking, rng=rng))
    rng.shuffle(instances)
    shard_stats = shard_statistics(instances, tok.vocab, options)
    meta = {"index": index, "documents": len(docs), **stats, **shard_stats}
    write_shard(output, index, instances, tok.vocab.size, options.static_masking, meta)
    return {"name": shard_name(index), "num_instances": len(instances), "num_tokens": shard_stats.get("tokens", 0), **meta}


def shard_statistics(instances, vocab: Vocab, options: CreateOptions) -> dict:
    s = Counter()
    hist = [0] * options.ngram
    drawn = [0] * options.ngram
    for x in instances:
        s["instances"] += 1
        s["tokens"] += len(x.tokens)
        s["sop_swapped"] += x.sentence_order_label
        s["random_b"] += int(x.random_b)
        for n in x.ngram_sizes:
            hist[n - 1] += 1
        for n in x.ngram_drawn:
            drawn[n - 1] += 1
        for p, label in zip(x.masked_positions, x.masked_labels):
            t = x.tokens[p]
            s["masked_tokens"] += 1
            s["mask_as_mask" if t == vocab.mask_id else "mask_as_keep" if t == label else "mask_as_random"] += 1
    out = dict(s)
    out["ngram_hist"] = hist
    out["ngram_drawn"] = drawn
    return out


# --- the command -----------------------------------------------------------------------------------------------------

def _chunks(documents: Iterator[list[str]], chunk_chars: int) -> Iterator[tuple[int, list[list[str]]]]:
    chunk, size, index = [], 0, 0
    for doc in documents:
        chunk.append(doc)
        size += sum(len(s) for s in doc)
        if size >= chunk_chars:
            yield index, chunk
            chunk, size, index = [], 0, index + 1
    if chunk:
        yield index, chunk


def create_pretraining_data(
    input: list[str],
    tokenizer: str,
    output: str,
    options: CreateOptions = CreateOptions(),
    *,
    workers: int = 1,
    input_format: str = "auto",
    text_field: str = "text",
    strip_gutenberg: bool = False,
    on_invalid_utf8: str = "skip",
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Create pretraining shards from text files; returns the manifest (also written to OUTPUT/manifest.json).

    Everything is written into OUTPUT/.data_create.tmp and moved into OUTPUT only when complete: a run that fails
    (bad input, interrupted) leaves the data already in OUTPUT as it was."""
    out = Path(output)
    files = expand_inputs(input)
    final = _check_output(out, overwrite)
    created = not final.exists()
    stage = final / STAGE  # inside the output: the same file system, and no rename of the output itself (a mount
    try:  # point, or the current directory, stays where it is)
        final.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(stage, ignore_errors=True)  # left by a run that was killed
        stage.mkdir()
    except OSError as e:
        raise DataError(f"{out}: cannot create the output directory ({e.strerror or e}: {stage})") from None
    try:
        manifest = _create(files, tokenizer, stage, options, workers=workers, input_format=input_format,
                           text_field=text_field, strip_gutenberg=strip_gutenberg, on_invalid_utf8=on_invalid_utf8,
                           progress=progress)
        _move_in(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                final.rmdir()
        raise
    return manifest


STAGE = ".data_create.tmp"  # where a run writes until it is complete
# what `data create` writes into its output directory (anything else there is not ours to delete)
_DATA_ENTRY = re.compile(rf"^(\.?shard_\d{{5,}}(\.tmp)?|\.?{re.escape(MANIFEST)}(\.tmp)?|{re.escape(STAGE)})$")


def _check_output(out: Path, overwrite: bool) -> Path:
    """Refuse an output that is a file, or under one; a non-empty directory unless `overwrite`; and, even with it, a
    directory holding anything but a data directory's files. Returns the real path (a symlink's target) to write."""
    final = out.resolve()
    if (p := file_in_the_way(final)) is not None:
        raise DataError(f"{out}: {'' if p == final else f'{p} is '}a file, not a directory; --output names the "
                        f"directory the shards and {MANIFEST} are written to")
    entries = sorted(e.name for e in final.iterdir() if e.name != STAGE) if final.is_dir() else []
    if entries:
        if not overwrite:
            raise DataError(f"{out}: output directory is not empty (pass --overwrite true to replace it)")
        foreign = [e for e in entries if not _DATA_ENTRY.match(e)]
        if foreign:
            raise DataError(f"{out}: not a data directory written by `litebert data create` (it holds "
                            f"{', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}), so --overwrite does not "
                            f"replace it; choose another --output")
    return final


def _move_in(stage: Path, final: Path) -> None:
    """The complete data in `stage` replaces the data in `final` (its parent): the old manifest goes first (from then
    on the old shards are no data set), the old shards next, the new shards are moved in and the new manifest last
    (until then `final` is no data set either). Everything else in `final` is left alone."""
    (final / MANIFEST).unlink(missing_ok=True)
    for p in final.iterdir():
        if p.name != STAGE and _DATA_ENTRY.match(p.name):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for p in sorted(stage.iterdir(), key=lambda p: p.name == MANIFEST):
        os.replace(p, final / p.name)
    stage.rmdir()


def _create(files: list[Path], tokenizer: str, out: Path, options: CreateOptions, *, workers: int, input_format: str,
            text_field: str, strip_gutenberg: bool, on_invalid_utf8: str, progress: bool) -> dict:
    counts: Counter = Counter()
    warn = lambda msg: print(f"warning: {msg}", file=sys.stderr)  # noqa: E731
    documents = read_documents(files, input_format=input_format, text_field=text_field,
                               strip_gutenberg=strip_gutenberg, on_invalid=on_invalid_utf8, counts=counts, warn=warn)
    chunks = _chunks(documents, options.chunk_chars)
    shards: list[dict] = []
    t0 = time.perf_counter()
    bar = _progress(progress)
    if workers <= 1:
        tok = TokenizerAdapter(tokenizer)
        for index, docs in chunks:
            shards.append(process_chunk(index, docs, options, out, tok))
            bar(shards[-1], counts)
    else:
        ctx = mp.get_context("spawn")  # no fork of a process holding threads (tokenizers, torch)
        with ctx.Pool(workers, initializer=_init_worker, initargs=(tokenizer,)) as pool:
            pending: deque = deque()
            for index, docs in chunks:
                pending.append(pool.apply_async(process_chunk, (index, docs, options, out)))
                while len(pending) >= 2 * workers:  # bounded: never more than 2 chunks per worker in flight
                    shards.append(pending.popleft().get())
                    bar(shards[-1], counts)
            while pending:
                shards.append(pending.popleft().get())
                bar(shards[-1], counts)
        tok = TokenizerAdapter(tokenizer)  # for the checksum and vocab size in the manifest
    if not shards:
        raise DataError(f"no text found in {', '.join(map(str, files))} (every document was empty or skipped)")
    elapsed = time.perf_counter() - t0
    manifest = _manifest(shards, options, tok, files, counts, elapsed, workers, input_format)
    write_manifest(out, manifest)
    return manifest


def _progress(enabled: bool):
    if not enabled:
        return lambda shard, counts: None
    from tqdm import tqdm

    bar = tqdm(unit=" shards", desc="data create", dynamic_ncols=True)

    def update(shard: dict, counts: Counter) -> None:
        bar.update(1)
        bar.set_postfix(instances=shard["num_instances"], docs=counts["documents"],
                        MB=f"{counts['characters'] / 1e6:.1f}")
    return update


def _manifest(shards, options, tok, files, counts, elapsed, workers, input_format) -> dict:
    totals = Counter()
    hist = [0] * options.ngram
    drawn = [0] * options.ngram
    for s in shards:
        for k, v in s.items():
            if isinstance(v, int) and k not in ("index",):
                totals[k] += v
        for i, h in enumerate(s.get("ngram_hist", [])):
            hist[i] += h
        for i, h in enumerate(s.get("ngram_drawn", [])):
            drawn[i] += h
    return {
        "format_version": FORMAT_VERSION,
        "options": asdict(options),
        "tokenizer": {"path": str(tok.path), "sha256": tok.checksum, "vocab_size": tok.vocab.size,
                      "cls_id": tok.vocab.cls_id, "sep_id": tok.vocab.sep_id, "mask_id": tok.vocab.mask_id,
                      "pad_id": tok.vocab.pad_id,
                      "special_ids": sorted(set(range(tok.vocab.size)) - set(tok.vocab.replacement_ids.tolist()))},
        # the counts first: their "files" (how many were read) would replace the list of names
        "inputs": {**dict(counts), "files": [str(f) for f in files], "format": input_format},
        "shards": [{"name": s["name"], "num_instances": s["num_instances"], "num_tokens": s["num_tokens"]}
                   for s in shards],
        "totals": {"instances": totals["num_instances"], "tokens": totals["num_tokens"],
                   "documents": totals["documents"], "sop_swapped": totals["sop_swapped"],
                   "random_b": totals["random_b"],
                   "masked_tokens": totals["masked_tokens"], "mask_as_mask": totals["mask_as_mask"],
                   "mask_as_keep": totals["mask_as_keep"], "mask_as_random": totals["mask_as_random"],
                   "long_sentences": totals["long_sentences"], "empty_sentences": totals["empty_sentences"],
                   "ngram_hist": hist, "ngram_drawn": drawn},
        "creation": {"seconds": round(elapsed, 3), "workers": workers},
    }


def load_manifest(directory: str | Path) -> dict:
    return read_manifest(directory)


def data_create(
    *,
    input: str | list[str],
    tokenizer: str,
    output: str,
    max_seq_length: int = 512,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    dupe_factor: int = 40,
    short_seq_prob: float = 0.1,
    ngram: int = 3,
    favor_shorter_ngram: bool = True,
    do_whole_word_mask: bool = True,
    random_next_sentence: bool = False,
    random_seed: int = 12345,
    dynamic_masking: bool = False,
    workers: int = 1,
    input_format: str = "auto",
    text_field: str = "text",
    strip_gutenberg: bool = False,
    on_invalid_utf8: str = "skip",
    chunk_chars: int = 2_000_000,
    overwrite: bool = False,
) -> None:
    """Create SOP pretraining data (google-research/albert create_pretraining_data.py, streamed and parallel).

    Example:
        litebert data create --input 'corpus/*.txt.xz' --tokenizer tok/ --output data/ --max_seq_length 128
            --dupe_factor 5 --strip_gutenberg true --workers 4

    Args:
        input: Files, directories or globs. Formats: see input_format.
        tokenizer: Tokenizer directory (spiece.model or vocab.txt) or .model file.
        output: Directory for the shards and manifest.json (must be empty unless --overwrite); written in a staging
            directory inside it whose contents replace the old data only when complete.
        max_seq_length: Tokens per instance, [CLS] A [SEP] B [SEP] included.
        max_predictions_per_seq: Cap on masked tokens per instance (20 even at 512, as the original).
        masked_lm_prob: Fraction of tokens to mask (before the cap).
        dupe_factor: Passes over the corpus, each with different segmentations and masks.
        short_seq_prob: Probability of a shorter target length for a document.
        ngram: Longest masked n-gram in whole words; p(n) is proportional to 1/n.
        favor_shorter_ngram: False reverses the n-gram probabilities.
        do_whole_word_mask: Mask whole words (all pieces of a word together).
        random_next_sentence: BERT's next-sentence prediction instead of ALBERT's sentence order.
        random_seed: Seed of everything random; output is byte-identical for the same seed whatever workers is.
        dynamic_masking: Store unmasked tokens and word starts; mask at batch time (a new draw every epoch).
        workers: Processes creating shards in parallel.
        input_format: auto | lines (one sentence per line, blank line between documents) | jsonl | raw.
        text_field: JSONL field holding the text.
        strip_gutenberg: Drop Project Gutenberg headers and license text (raw files).
        on_invalid_utf8: skip (report file:line and go on) | fail.
        chunk_chars: Characters of text per shard (bounds memory: about this much per worker, times dupe_factor).
        overwrite: Replace a non-empty output directory written by `data create` (never one holding other files).
    """
    options = CreateOptions(max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
                            masked_lm_prob=masked_lm_prob, dupe_factor=dupe_factor, short_seq_prob=short_seq_prob,
                            ngram=ngram, favor_shorter_ngram=favor_shorter_ngram,
                            do_whole_word_mask=do_whole_word_mask, random_next_sentence=random_next_sentence,
                            random_seed=random_seed, static_masking=not dynamic_masking, chunk_chars=chunk_chars)
    manifest = create_pretraining_data([input] if isinstance(input, str) else input, tokenizer, output, options, workers=workers, input_format=input_format,
                                       text_field=text_field, strip_gutenberg=strip_gutenberg,
                                       on_invalid_utf8=on_invalid_utf8, overwrite=overwrite)
    from litebert.data.stats import data_statistics, format_statistics

    print(format_statistics(data_statistics(output)))
    c = manifest["creation"]
    mb = manifest["inputs"].get("characters", 0) / 1e6
    print(f"  created in {c['seconds']:.1f} s with {c['workers']} worker(s): "
          f"{manifest['totals']['instances'] / max(c['seconds'], 1e-9):,.0f} instances/s, "
          f"{mb / max(c['seconds'], 1e-9):.2f} MB of text/s")


def data_stats(directory: str, *, json: bool = False) -> None:
    """Statistics of a data directory: instances, tokens, padding, masking and its 80/10/10 split, SOP balance.

    Example:
        litebert data stats data/ --json true

    Args:
        directory: A directory written by `litebert data create`.
        json: Print JSON instead of text.
    """
    from litebert.data.stats import data_statistics, format_statistics

    s = data_statistics(directory)
    print(__import__("json").dumps(s, indent=2) if json else format_statistics(s))
