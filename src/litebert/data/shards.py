"""Pretraining shards on disk, and the reader the training loop uses.

A data directory holds `manifest.json` and `shard_NNNNN/` directories. Each shard stores its instances as flat
numpy arrays, memory-mapped when read (no unpickling, no loading everything):

    tokens.npy       uint16 (int32 when the vocabulary has > 65535 pieces)  all instances' ids, concatenated
    offsets.npy      int64 (N+1,)       instance i is tokens[offsets[i]:offsets[i+1]]
    num_a.npy        int32 (N,)         tokens with segment id 0 ([CLS] A [SEP])
    sop.npy          uint8 (N,)         sentence-order label (1: swapped or random B)
    word_start.npy   uint8 (like tokens)  1 where a masking unit may start (dynamic masking needs it)
    mask_offsets.npy, mask_positions.npy, mask_labels.npy   static masking only (tokens are then already masked)
    meta.json        counts and statistics of the shard

A shard is written under a temporary name and renamed when complete, and the manifest is written last (atomically), so a
crash never leaves a partial shard that looks complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litebert.data.instances import Instance

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
SHARD_NAME = re.compile(r"^shard_\d{5,}$")
# manifest fields the readers use: {section: its keys}
_MANIFEST_FIELDS = {
    "options": ("static_masking", "max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "ngram",
                "favor_shorter_ngram", "do_whole_word_mask"),
    "tokenizer": ("path", "sha256", "vocab_size", "cls_id", "sep_id", "mask_id", "pad_id", "special_ids"),
}


class DataError(ValueError):
    """A data directory or input is missing, incomplete or malformed; the message names the path."""


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)


def shard_name(index: int) -> str:
    return f"shard_{index:05d}"


def write_shard(directory: Path, index: int, instances: list[Instance], vocab_size: int, static_masking: bool,
                meta: dict) -> Path:
    """Write one shard atomically: into `.shard_NNNNN.tmp/`, then rename to `shard_NNNNN/`."""
    final = directory / shard_name(index)
    tmp = directory / f".{shard_name(index)}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    lengths = np.fromiter((len(x.tokens) for x in instances), dtype=np.int64, count=len(instances))
    offsets = np.zeros(len(instances) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    arrays = {
        "tokens": np.fromiter((t for x in instances for t in x.tokens), dtype=token_dtype(vocab_size),
                              count=int(offsets[-1])),
        "offsets": offsets,
        "num_a": np.fromiter((x.num_a for x in instances), dtype=np.int32, count=len(instances)),
        "sop": np.fromiter((x.sentence_order_label for x in instances), dtype=np.uint8, count=len(instances)),
        "word_start": np.fromiter((w for x in instances for w in x.word_start), dtype=np.uint8,
                                  count=int(offsets[-1])),
    }
    if static_masking:
        mlen = np.fromiter((len(x.masked_positions) for x in instances), dtype=np.int64, count=len(instances))
        moff = np.zeros(len(instances) + 1, dtype=np.int64)
        np.cumsum(mlen, out=moff[1:])
        arrays["mask_offsets"] = moff
        arrays["mask_positions"] = np.fromiter((p for x in instances for p in x.masked_positions), dtype=np.int32,
                                               count=int(moff[-1]))
        arrays["mask_labels"] = np.fromiter((t for x in instances for t in x.masked_labels),
                                            dtype=token_dtype(vocab_size), count=int(moff[-1]))
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", arr)
    (tmp / "meta.json").write_text(json.dumps({**meta, "num_instances": len(instances),
                                               "num_tokens": int(offsets[-1])}, indent=1))
    for f in tmp.iterdir():  # durable before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def read_manifest(directory: str | os.PathLike) -> dict:
    """A data directory's manifest.json, checked: a missing, unreadable or malformed one is a DataError naming it."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DataError(f"{directory}: no {MANIFEST} (not a litebert data directory, or its creation did not finish)")
    damaged = "recreate the data with `litebert data create`"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e}); {damaged}") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {damaged}") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: expected a JSON object; {damaged}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format_version {manifest.get('format_version')}, expected {FORMAT_VERSION}")
    for section, keys in _MANIFEST_FIELDS.items():
        fields = manifest.get(section)
        missing = [f"{section}.{k}" for k in keys if k not in fields] if isinstance(fields, dict) else [section]
        if missing:
            raise DataError(f"{path}: malformed, no {', '.join(missing)}; {damaged}")
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(
            isinstance(s, dict) and SHARD_NAME.match(str(s.get("name"))) and isinstance(s.get("num_instances"), int)
            and s["num_instances"] >= 0 for s in shards):
        raise DataError(f"{path}: malformed, shards must be a list of {{name: shard_NNNNN, num_instances: int >= 0}}; "
                        f"{damaged}")
    return manifest


def write_manifest(directory: Path, manifest: dict) -> None:
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, directory / MANIFEST)


@dataclass
class Shard:
    path: Path
    tokens: np.ndarray
    offsets: np.ndarray
    num_a: np.ndarray
    sop: np.ndarray
    word_start: np.ndarray
    mask_offsets: np.ndarray | None
    mask_positions: np.ndarray | None
    mask_labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.num_a)

    @classmethod
    def open(cls, path: Path, static_masking: bool) -> "Shard":
        def load(name):
            f = path / f"{name}.npy"
            if not f.is_file():
                raise DataError(f"{path}: shard is incomplete ({name}.npy missing)")
            try:
                a = np.load(f, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise DataError(f"{f}: not a readable .npy array, truncated or damaged ({e}); recreate the data with "
                                f"`litebert data create`") from None
            if a.ndim != 1:
                raise DataError(f"{f}: a {a.ndim}-dimensional array, expected a flat one; recreate the data")
            return a

        masks = [load(n) for n in ("mask_offsets", "mask_positions", "mask_labels")] if static_masking else [None] * 3
        shard = cls(path, load("tokens"), load("offsets"), load("num_a"), load("sop"), load("word_start"), *masks)
        shard._check()
        return shard

    def _check(self) -> None:
        """The arrays' lengths agree with each other (a shard cut short or mixed from two writes would index past
        its arrays, or read another instance's tokens)."""
        n, t = len(self.num_a), len(self.tokens)
        expect = [("offsets.npy", len(self.offsets), n + 1), ("sop.npy", len(self.sop), n),
                  ("word_start.npy", len(self.word_start), t)]
        if len(self.offsets):
            expect.append(("the last of offsets.npy", int(self.offsets[-1]), t))
        if self.mask_offsets is not None:
            m = len(self.mask_positions)
            expect += [("mask_offsets.npy", len(self.mask_offsets), n + 1),
                       ("mask_labels.npy", len(self.mask_labels), m)]
            if len(self.mask_offsets):
                expect.append(("the last of mask_offsets.npy", int(self.mask_offsets[-1]), m))
        problems = [f"{name} is {got}, expected {want}" if name.startswith("the last") else
                    f"{name} has {got} entries, expected {want}" for name, got, want in expect if got != want]
        if problems:
            raise DataError(f"{self.path}: shard is inconsistent ({'; '.join(problems)}); recreate the data with "
                            f"`litebert data create`")


class PretrainingData:
    """All shards of a data directory, memory-mapped. `len()` is the number of instances."""

    def __init__(self, directory: str | os.PathLike, shards: slice | None = None):
        """`shards` selects a slice of the shards (e.g. slice(-1, None) to hold the last one out for evaluation)."""
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.static_masking = bool(self.manifest["options"]["static_masking"])
        self.max_seq_length = int(self.manifest["options"]["max_seq_length"])
        self.max_predictions_per_seq = int(self.manifest["options"]["max_predictions_per_seq"])
        infos = self.manifest["shards"][shards] if shards is not None else self.manifest["shards"]
        if not infos:
            raise DataError(f"{self.directory}: no shards selected ({len(self.manifest['shards'])} in the directory)")
        self.shards = [Shard.open(self.directory / s["name"], self.static_masking) for s in infos]
        for s, info in zip(self.shards, infos):
            if len(s) != info["num_instances"]:
                raise DataError(f"{s.path}: {len(s)} instances, the manifest says {info['num_instances']}")
        self.sizes = np.array([len(s) for s in self.shards], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.sizes.sum())


class BatchIterator:
    """Fixed-shape batches for one data-parallel rank, reproducible and resumable.

    Each epoch visits every instance once in a seeded order: shards in a random order, instances shuffled within each
    shard (memory stays at one shard's index, whatever the corpus size). The epoch's stream is cut to a multiple of
    world_size * batch_size and rank r takes every world_size-th instance starting at r, so ranks see disjoint data and
    the same number of batches. `state_dict()` is (epoch, batch, batch_size); `load_state_dict()` continues exactly
    there, also with another batch size when the instances consumed are a whole number of its batches.

    Batches: input_ids, token_type_ids, attention_mask (B, max_seq_length) int64; sentence_order_label (B,);
    and, for statically masked data, masked_positions (B, P) and masked_labels (B, P) (-100 = no prediction).
    For data written without masks the batch carries word_start (B, T) for a DynamicMasker.
    """

    def __init__(self, data: PretrainingData, batch_size: int, *, rank: int = 0, world_size: int = 1, seed: int = 0,
                 seq_length: int | None = None):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.data, self.batch_size, self.rank, self.world_size, self.seed = data, batch_size, rank, world_size, seed
        self.seq_length = seq_length or data.max_seq_length
        self.epoch, self.batch = 0, 0
        self._order: tuple[int, np.ndarray, np.ndarray] | None = None  # (epoch, shard order, stream starts)
        self._perms: dict[tuple[int, int], np.ndarray] = {}  # (epoch, shard) -> order inside the shard
        self.batches_per_epoch = len(data) // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise DataError(f"{data.directory}: {len(data)} instances are fewer than one global batch "
                            f"({batch_size} x {world_size} ranks)")

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "batch_size": self.batch_size, "seed": self.seed,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        if state.get("world_size", self.world_size) != self.world_size or state.get("seed", self.seed) != self.seed:
            raise ValueError("resuming with another world_size or seed would not continue the same data order")
        epoch, batch = int(state["epoch"]), int(state["batch"])
        size = int(state.get("batch_size", self.batch_size))  # states saved before the size was stored: this size
        if size != self.batch_size:
            # the position counts batches: convert it through the instances this rank consumed (a rank's stream is
            # the same whatever the batch size), which must be a whole number of the new batches. Past the old
            # epoch's cut, the new cut may still hold instances of this epoch: unseen ones, not repeats
            consumed = batch * size
            if consumed % self.batch_size:
                raise ValueError(f"the saved data position is {batch} batch(es) of {size} per rank ({consumed} "
                                 f"instances into epoch {epoch}), not a whole number of batches of {self.batch_size}: "
                                 f"resume with batch size {size}, or one that divides {consumed}")
            batch = consumed // self.batch_size
        self.epoch, self.batch = epoch, batch

    def _epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if self._order is None or self._order[0] != epoch:  # computed once per epoch, not per batch
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.data.shards))
            self._order = (epoch, order, np.concatenate([[0], np.cumsum(self.data.sizes[order])]))
        return self._order[1], self._order[2]

    def _shard_permutation(self, epoch: int, shard: int) -> np.ndarray:
        key = (epoch, shard)
        if key not in self._perms:
            if len(self._perms) >= 4:  # consecutive batches read one or two shards: keep a few, not all
                self._perms.pop(next(iter(self._perms)))
            self._perms[key] = np.random.default_rng([self.seed, epoch, shard]).permutation(int(self.data.sizes[shard]))
        return self._perms[key]

    def _indices(self, epoch: int, batch: int) -> list[tuple[int, int]]:
        """(shard, local index) of this rank's batch `batch` of `epoch`."""
        order, starts = self._epoch_order(epoch)
        first = batch * self.batch_size * self.world_size
        stream = first + self.rank + self.world_size * np.arange(self.batch_size)
        out = []
        for pos in stream.tolist():
            k = int(np.searchsorted(starts, pos, side="right") - 1)
            shard = int(order[k])
            out.append((shard, int(self._shard_permutation(epoch, shard)[pos - starts[k]])))
        return out

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        while True:
            if self.batch >= self.batches_per_epoch:
                self.epoch, self.batch = self.epoch + 1, 0
            batch = self.collate(self._indices(self.epoch, self.batch))
            self.batch += 1
            yield batch

    def collate(self, indices: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        B, T, P = len(indices), self.seq_length, self.data.max_predictions_per_seq
        input_ids = np.zeros((B, T), dtype=np.int64)
        token_type_ids = np.zeros((B, T), dtype=np.int64)
        attention_mask = np.zeros((B, T), dtype=np.int64)
        sop = np.zeros(B, dtype=np.int64)
        word_start = np.zeros((B, T), dtype=np.uint8)
        masked_positions = np.zeros((B, P), dtype=np.int64)
        masked_labels = np.full((B, P), -100, dtype=np.int64)
        for b, (s, i) in enumerate(indices):
            shard = self.data.shards[s]
            lo, hi = int(shard.offsets[i]), int(shard.offsets[i + 1])
            n = min(hi - lo, T)
            input_ids[b, :n] = shard.tokens[lo:lo + n]
            word_start[b, :n] = shard.word_start[lo:lo + n]
            attention_mask[b, :n] = 1
            token_type_ids[b, int(shard.num_a[i]):n] = 1
            sop[b] = shard.sop[i]
            if self.data.static_masking:
                mlo, mhi = int(shard.mask_offsets[i]), int(shard.mask_offsets[i + 1])
                pos = np.asarray(shard.mask_positions[mlo:mhi])
                keep = pos < n
                m = int(keep.sum())
                masked_positions[b, :m] = pos[keep]
                masked_labels[b, :m] = shard.mask_labels[mlo:mhi][keep]
        batch = dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                     sentence_order_label=sop)
        if self.data.static_masking:
            batch.update(masked_positions=masked_positions, masked_labels=masked_labels)
        else:
            batch["word_start"] = word_start
        return batch
