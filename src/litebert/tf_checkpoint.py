"""TensorFlow checkpoints (TF1 "V2" tensor bundles, as google-research/albert and TF-Hub modules store them) read
without TensorFlow, and converted to the Hugging Face layout litebert and transformers load.

A bundle is `PREFIX.index`, an SSTable (LevelDB's table format) whose "" key holds a BundleHeaderProto and whose other
keys are tensor names holding BundleEntryProto (dtype, shape, shard, offset, size, masked CRC32C), plus the shards
`PREFIX.data-NNNNN-of-NNNNN` holding the raw little-endian bytes. Every block and every tensor is checked against its
stored CRC32C; the protobuf messages are decoded by the protobuf library from descriptors built here.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


class TFCheckpointError(ValueError):
    """A TF checkpoint is missing, corrupt, or holds variables the converter cannot place; the message names them."""


# ---------------------------------------------------------------------------------------------------------------------
# protobuf messages of tensorflow/core/protobuf/tensor_bundle.proto (the fields a reader needs)

def _message_classes():
    f = descriptor_pb2.FileDescriptorProto(name="litebert_tensor_bundle.proto", package="litebert_tf", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]], nested=()):
        m = descriptor_pb2.DescriptorProto(name=name)
        for field_name, number, ftype, label, type_name in fields:
            field = m.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
        m.nested_type.extend(nested)
        return m

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    dim = message("Dim", [("size", 1, T.TYPE_INT64, opt, None), ("name", 2, T.TYPE_STRING, opt, None)])
    f.message_type.append(message("TensorShapeProto", [
        ("dim", 2, T.TYPE_MESSAGE, rep, ".litebert_tf.TensorShapeProto.Dim"),
        ("unknown_rank", 3, T.TYPE_BOOL, opt, None)], [dim]))
    f.message_type.append(message("BundleHeaderProto", [("num_shards", 1, T.TYPE_INT32, opt, None),
                                                        ("endianness", 2, T.TYPE_INT32, opt, None)]))
    f.message_type.append(message("BundleEntryProto", [
        ("dtype", 1, T.TYPE_INT32, opt, None), ("shape", 2, T.TYPE_MESSAGE, opt, ".litebert_tf.TensorShapeProto"),
        ("shard_id", 3, T.TYPE_INT32, opt, None), ("offset", 4, T.TYPE_INT64, opt, None),
        ("size", 5, T.TYPE_INT64, opt, None), ("crc32c", 6, T.TYPE_FIXED32, opt, None),
        ("slices", 7, T.TYPE_BYTES, rep, None)]))  # TensorSliceProto, only checked for presence
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # protobuf < 4.21
        factory = message_factory.MessageFactory(pool)
        get = lambda d: factory.GetPrototype(d)  # noqa: E731
    return (get(pool.FindMessageTypeByName("litebert_tf.BundleHeaderProto")),
            get(pool.FindMessageTypeByName("litebert_tf.BundleEntryProto")))


BundleHeaderProto, BundleEntryProto = _message_classes()

# tensorflow/core/framework/types.proto
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64, 10: np.bool_,
           17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
_BFLOAT16 = 14


# ---------------------------------------------------------------------------------------------------------------------
# the SSTable of the .index file

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TFCheckpointError("truncated varint")
        b = buf[pos]
        result |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return result, pos
        shift += 7


def _block(data: bytes, offset: int, size: int, where: str) -> bytes:
    """A block's contents after checking its trailer (compression type byte + masked CRC32C of contents + type)."""
    end = offset + size
    if end + 5 > len(data):
        raise TFCheckpointError(f"{where}: block at {offset} (+{size} bytes) runs past the end of the file "
                                f"({len(data)} bytes): truncated")
    contents, kind = data[offset:end], data[end]
    (stored,) = struct.unpack("<I", data[end + 1:end + 5])
    if google_crc32c.value(contents + bytes([kind])) != _unmask(stored):
        raise TFCheckpointError(f"{where}: checksum mismatch in the block at byte {offset}: the file is corrupt")
    if kind != 0:
        raise TFCheckpointError(f"{where}: compressed blocks (type {kind}) are not written by TensorFlow's "
                                f"checkpoint saver; this is not a tensor-bundle index")
    return contents


def _entries(block: bytes, where: str):
    """(key, value) of a block: prefix-compressed keys, restart array at the end."""
    if len(block) < 4:
        raise TFCheckpointError(f"{where}: block too short")
    (n_restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise TFCheckpointError(f"{where}: malformed block ({n_restarts} restart points in {len(block)} bytes)")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + vlen]
        pos += vlen


def read_index(path: Path) -> dict[bytes, bytes]:
    data = path.read_bytes()
    if len(data) < _FOOTER:
        raise TFCheckpointError(f"{path}: {len(data)} bytes, too short for a checkpoint index")
    footer = data[-_FOOTER:]
    if struct.unpack("<Q", footer[-8:])[0] != _MAGIC:
        raise TFCheckpointError(f"{path}: not a TensorFlow checkpoint index (bad magic number)")
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    out: dict[bytes, bytes] = {}
    for _, handle in _entries(_block(data, index_offset, index_size, str(path)), str(path)):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        out.update(_entries(_block(data, off, size, str(path)), str(path)))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the bundle


@dataclass
class TensorInfo:
    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int


class TFCheckpoint:
    """Tensors of a TF checkpoint by name; reading one checks its CRC32C."""

    def __init__(self, prefix: str | Path):
        self.prefix = Path(prefix)
        index = Path(f"{self.prefix}.index")
        if not index.is_file():
            raise TFCheckpointError(f"{index}: no such file (expected a TF checkpoint prefix such as "
                                    f"model.ckpt-best, a directory holding one, or a TF-Hub module directory)")
        table = read_index(index)
        if b"" not in table:
            raise TFCheckpointError(f"{index}: no bundle header: not a TF2-format (V2) checkpoint index")
        header = BundleHeaderProto.FromString(table.pop(b""))
        if header.endianness != 0:
            raise TFCheckpointError(f"{index}: big-endian checkpoints are not supported")
        self.num_shards = max(header.num_shards, 1)
        self.tensors: dict[str, TensorInfo] = {}
        for key, value in table.items():
            e = BundleEntryProto.FromString(value)
            name = key.decode("utf-8")
            if e.slices:
                raise TFCheckpointError(f"{index}: tensor {name!r} is stored as slices (partitioned variable); "
                                        f"not supported")
            self.tensors[name] = TensorInfo(name, e.dtype, tuple(d.size for d in e.shape.dim), e.shard_id, e.offset,
                                            e.size, e.crc32c)
        self._shards: dict[int, mmap.mmap | bytes] = {}

    def shard_path(self, k: int) -> Path:
        return Path(f"{self.prefix}.data-{k:05d}-of-{self.num_shards:05d}")

    def _shard(self, k: int):
        """The shard memory-mapped: tensors are read one at a time, never the whole file into memory."""
        if k not in self._shards:
            p = self.shard_path(k)
            if not p.is_file():
                raise TFCheckpointError(f"{p}: missing data shard {k} of {self.num_shards}")
            with open(p, "rb") as f:
                self._shards[k] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if p.stat().st_size else b""
        return self._shards[k]

    def _checked_bytes(self, name: str) -> bytes:
        t = self.tensors[name]
        data = self._shard(t.shard)
        if t.offset + t.size > len(data):
            raise TFCheckpointError(f"{self.shard_path(t.shard)}: checksum cannot match for tensor {name!r}: it needs "
                                    f"bytes {t.offset}-{t.offset + t.size} but the shard has {len(data)} (truncated)")
        raw = data[t.offset:t.offset + t.size]
        if google_crc32c.value(raw) != _unmask(t.crc32c):
            raise TFCheckpointError(f"{self.shard_path(t.shard)}: checksum mismatch for tensor {name!r}: the "
                                    f"checkpoint is corrupt")
        return raw

    def read(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        raw = self._checked_bytes(name)
        if t.dtype == _BFLOAT16:
            dtype = np.dtype("<u2")
        elif t.dtype in _DTYPES:
            dtype = np.dtype(_DTYPES[t.dtype]).newbyteorder("<")
        else:
            raise TFCheckpointError(f"tensor {name!r} has TF dtype {t.dtype}, which has no numeric reading")
        if len(raw) != dtype.itemsize * int(np.prod(t.shape)):
            raise TFCheckpointError(f"tensor {name!r}: {len(raw)} bytes do not hold shape {t.shape} of "
                                    f"{dtype.itemsize}-byte values")
        arr = np.frombuffer(raw, dtype=dtype).reshape(t.shape)
        if t.dtype == _BFLOAT16:
            return (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.copy()

    def verify(self) -> None:
        """Check every tensor's checksum, whatever its dtype (optimizer slots and strings included)."""
        for name in self.tensors:
            self._checked_bytes(name)


def find_prefix(path: str | Path) -> tuple[Path, bool]:
    """(checkpoint prefix, is a TF-Hub module) for a prefix, a directory holding one checkpoint (its `checkpoint`
    state file decides when there are several), or a TF-Hub module directory (variables/variables)."""
    p = Path(path)
    if p.suffix == ".index" or re.fullmatch(r"\.data-\d+-of-\d+", p.suffix):  # one of the files, not the prefix
        p = p.with_suffix("")
    if Path(f"{p}.index").is_file():
        return p, p.name == "variables" and p.parent.name == "variables"  # a TF-Hub module's variables/variables
    if p.is_dir():
        if (p / "variables" / "variables.index").is_file():
            return p / "variables" / "variables", True
        if p.name == "variables" and (p / "variables.index").is_file():
            return p / "variables", True
        state = p / "checkpoint"
        if state.is_file():
            m = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(), flags=re.M)
            if m:  # relative, or absolute where the run was written (a moved or downloaded run: its basename here)
                for named in (p / m.group(1), p / Path(m.group(1)).name):
                    if Path(f"{named}.index").is_file():
                        return named, False
        found = sorted(p.glob("*.index"))
        if len(found) == 1:
            return found[0].with_suffix(""), False
        if len(found) > 1:
            raise TFCheckpointError(f"{p}: holds several checkpoints ({', '.join(f.stem for f in found)}); pass the "
                                    f"prefix of one, e.g. {found[-1].with_suffix('')}")
    data = sorted(p.parent.glob(f"{p.name}.data-*")) if not p.is_dir() else sorted(p.glob("*.data-*"))
    hint = f" ({data[0].name} is there but its .index file is missing)" if data else ""
    raise TFCheckpointError(f"{path}: no TF checkpoint here{hint} (expected PREFIX.index, a directory with one, or a "
                            f"TF-Hub module with variables/variables.index)")


def original_group_index(layer: int, num_layers: int, num_groups: int) -> int:
    """The group google-research/albert's modeling.py gives layer `layer`: int(layer_idx / L * G) in floating point."""
    return int(layer / num_layers * num_groups)


def unshare_odd_groups(hf_state: dict, cfg, notes: list[str]):
    """(state, config) computing the original's function in the HF layout. Where the original's layer -> group
    mapping differs from transformers' (`AlbertConfig.group_index`; only odd layouts, e.g. L=44 with G=22, or L=G=22
    where the original never creates group_15), each layer gets its own copy of the group the original used: one group
    per layer, more weights, the same outputs."""
    L, G = cfg.num_hidden_layers, cfg.num_hidden_groups
    used = [original_group_index(i, L, G) for i in range(L)]
    if used == [cfg.group_index(i) for i in range(L)]:
        return hf_state, cfg
    group_key = re.compile(r"^(.*encoder\.albert_layer_groups\.)(\d+)\.(.*)$")
    out = {k: v for k, v in hf_state.items() if not group_key.match(k)}
    for k, v in hf_state.items():
        m = group_key.match(k)
        for layer in (i for i, g in enumerate(used) if m and g == int(m.group(2))):
            out[f"{m.group(1)}{layer}.{m.group(3)}"] = v.clone()
    notes.append(f"num_hidden_layers {L} with num_hidden_groups {G}: the original maps layers to groups {used}, "
                 f"transformers differently; converted to one group per layer ({L} groups, copies of the original's)")
    return out, cfg.replace(num_hidden_groups=L)


# ---------------------------------------------------------------------------------------------------------------------
# TF names -> HF names (albert-reference section 1.10)

# optimizer state and bookkeeping, never weights
_SKIP = re.compile(r"(^|/)(global_step|beta[12]_power)$|/(adam_[mv]|lamb_[mv]|Adam(_\d+)?|Momentum|"
                   r"ExponentialMovingAverage)$")
_LN = r"(LayerNorm|layer_normalization)(_\d+)?"


def _p(leaf: str) -> str:
    return {"kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias", "output_weights": "weight",
            "output_bias": "bias"}[leaf]


def _ln_order(names: list[str]) -> dict[str, int]:
    """Rank the LayerNorm scopes inside one inner group: the first (by numeric suffix) is the attention block's,
    the second the feed-forward block's (LayerNorm/LayerNorm_1 and layer_normalization_N/_N+1 alike)."""
    def suffix(scope: str) -> int:
        m = re.search(r"_(\d+)$", scope)
        return int(m.group(1)) if m else -1
    return {s: k for k, s in enumerate(sorted(set(names), key=suffix))}


def map_names(names: list[str]) -> tuple[dict[str, tuple[str, bool]], list[str], list[str]]:
    """TF variable names -> {tf name: (HF key, transpose)}, the skipped names, and the names nothing maps (an error
    for the caller to raise)."""
    mapped: dict[str, tuple[str, bool]] = {}
    skipped, unknown = [], []
    ln_scopes: dict[str, list[str]] = {}
    for full in names:
        name = full[len("module/"):] if full.startswith("module/") else full
        m = re.match(rf"bert/encoder/transformer/(group_\d+/inner_group_\d+)/({_LN})/(gamma|beta)$", name)
        if m:
            ln_scopes.setdefault(m.group(1), []).append(m.group(2))
    order = {scope: _ln_order(v) for scope, v in ln_scopes.items()}
    for full in names:
        name = full[len("module/"):] if full.startswith("module/") else full
        if _SKIP.search(name):
            skipped.append(full)
            continue
        hf = _map_one(name, order)
        if hf is None:
            unknown.append(full)
        else:
            mapped[full] = hf
    return mapped, skipped, unknown


def _map_one(name: str, ln_order: dict[str, dict[str, int]]) -> tuple[str, bool] | None:
    m = re.match(r"bert/embeddings/(word_embeddings|position_embeddings|token_type_embeddings)$", name)
    if m:
        return f"albert.embeddings.{m.group(1)}.weight", False
    m = re.match(rf"bert/embeddings/{_LN}/(gamma|beta)$", name)
    if m:
        return f"albert.embeddings.LayerNorm.{_p(m.group(3))}", False
    m = re.match(r"bert/encoder/embedding_hidden_mapping_in/(kernel|bias)$", name)
    if m:
        return f"albert.encoder.embedding_hidden_mapping_in.{_p(m.group(1))}", m.group(1) == "kernel"
    m = re.match(r"bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/(.+)/(kernel|bias|gamma|beta)$", name)
    if m:
        g, i, scope, leaf = m.groups()
        base = f"albert.encoder.albert_layer_groups.{g}.albert_layers.{i}."
        sub = {"attention_1/self/query": "attention.query", "attention_1/self/key": "attention.key",
               "attention_1/self/value": "attention.value", "attention_1/output/dense": "attention.dense",
               "ffn_1/intermediate/dense": "ffn", "ffn_1/intermediate/output/dense": "ffn_output"}.get(scope)
        if sub is None and re.fullmatch(_LN, scope) and leaf in ("gamma", "beta"):
            rank = ln_order.get(f"group_{g}/inner_group_{i}", {}).get(scope)
            sub = {0: "attention.LayerNorm", 1: "full_layer_layer_norm"}.get(rank)
        if sub is None or (leaf in ("gamma", "beta")) != sub.endswith(("LayerNorm", "layer_norm")):
            return None
        return base + f"{sub}.{_p(leaf)}", leaf == "kernel"
    m = re.match(r"bert/pooler/dense/(kernel|bias)$", name)
    if m:
        return f"albert.pooler.{_p(m.group(1))}", m.group(1) == "kernel"
    m = re.match(r"cls/predictions/transform/dense/(kernel|bias)$", name)
    if m:
        return f"predictions.dense.{_p(m.group(1))}", m.group(1) == "kernel"
    m = re.match(rf"cls/predictions/transform/{_LN}/(gamma|beta)$", name)
    if m:
        return f"predictions.LayerNorm.{_p(m.group(3))}", False
    if name == "cls/predictions/output_bias":
        return "predictions.bias", False
    m = re.match(r"cls/seq_relationship/(output_weights|output_bias)$", name)
    if m:  # stored [out, in] like torch: no transpose
        return f"sop_classifier.classifier.{_p(m.group(1))}", False
    m = re.match(r"(output_weights|output_bias)$", name)  # GLUE / RACE classifier
    if m:
        return f"classifier.{_p(m.group(1))}", False
    m = re.match(r"cls/squad/(output_weights|output_bias)$", name)
    if m:
        return f"qa_outputs.{_p(m.group(1))}", False
    m = re.match(r"(start_logits/dense|end_logits/dense_0|end_logits/dense_1|answer_class/dense_0|"
                 r"answer_class/dense_1)/(kernel|bias)$", name)
    if m:
        ours = {"start_logits/dense": "start_dense", "end_logits/dense_0": "end_dense0",
                "end_logits/dense_1": "end_dense1", "answer_class/dense_0": "answer_dense0",
                "answer_class/dense_1": "answer_dense1"}[m.group(1)]
        return f"squad_v2.{ours}.{_p(m.group(2))}", m.group(2) == "kernel"
    m = re.match(rf"end_logits/{_LN}/(gamma|beta)$", name)
    if m:
        return f"squad_v2.end_norm.{_p(m.group(3))}", False
    return None
