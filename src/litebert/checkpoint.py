"""Hugging Face-compatible checkpoints: the key tables between litebert's module names and the HF layouts of ALBERT,
BERT and ELECTRA, reading (`model.safetensors`, sharded safetensors, `pytorch_model.bin` with weights_only) and atomic
writing (`config.json` + `model.safetensors`), and hub-id resolution through huggingface_hub.

HF/TF names appear here and nowhere else. This module imports only litebert.config and litebert.textio: the model
calls into it, never the reverse.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from litebert.config import AlbertConfig, ConfigError
from litebert.textio import atomic_write_bytes

CONFIG_NAME = "config.json"
SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_INDEX_NAME = "model.safetensors.index.json"
BIN_WEIGHTS_NAME = "pytorch_model.bin"
BIN_INDEX_NAME = "pytorch_model.bin.index.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the model; the message names the path or key."""


# ---------------------------------------------------------------------------------------------------------------------
# Key tables. Each row: our key (relative to the backbone or the head model) -> the HF key(s) it is made of. A row with
# several HF keys is a fused tensor (q, k, v concatenated along the output dimension).

_LAYER_ALBERT = "encoder.albert_layer_groups.{g}.albert_layers.{i}."
_LAYER_BERT = "encoder.layer.{g}."

# (our suffix, albert suffix(es), bert/electra suffix(es))
_LAYER_ROWS = [
    ("attn.qkv.{p}", ("attention.query.{p}", "attention.key.{p}", "attention.value.{p}"),
     ("attention.self.query.{p}", "attention.self.key.{p}", "attention.self.value.{p}")),
    ("attn.out.{p}", ("attention.dense.{p}",), ("attention.output.dense.{p}",)),
    ("attn_norm.{p}", ("attention.LayerNorm.{p}",), ("attention.output.LayerNorm.{p}",)),
    ("ffn_in.{p}", ("ffn.{p}",), ("intermediate.dense.{p}",)),
    ("ffn_out.{p}", ("ffn_output.{p}",), ("output.dense.{p}",)),
    ("ffn_norm.{p}", ("full_layer_layer_norm.{p}",), ("output.LayerNorm.{p}",)),
]

_EMBEDDING_ROWS = {  # our -> {model_type: hf}
    "embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
}
_PROJECTION = {"albert": "encoder.embedding_hidden_mapping_in.{p}", "electra": "embeddings_project.{p}",
               "bert": "embeddings_project.{p}"}
_POOLER = {"albert": "pooler.{p}", "bert": "pooler.dense.{p}", "electra": "pooler.dense.{p}"}

# Task heads: our key -> {model_type: HF key}. Keys not listed for a model_type keep their own name.
# ELECTRA's MLM head is transformers' ElectraForMaskedLM (generator_predictions + generator_lm_head); its other rows
# fall back to BERT's.
_HEAD_ROWS = {
    "mlm.dense.{p}": {"albert": "predictions.dense.{p}", "bert": "cls.predictions.transform.dense.{p}",
                      "electra": "generator_predictions.dense.{p}"},
    "mlm.norm.{p}": {"albert": "predictions.LayerNorm.{p}", "bert": "cls.predictions.transform.LayerNorm.{p}",
                     "electra": "generator_predictions.LayerNorm.{p}"},
    "mlm.bias": {"albert": "predictions.bias", "bert": "cls.predictions.bias", "electra": "generator_lm_head.bias"},
    "sop.{p}": {"albert": "sop_classifier.classifier.{p}", "bert": "cls.seq_relationship.{p}"},
}
# The MLM decoder copies HF may store: {model_type: ((decoder key, the key it is tied to), ...)}. Never loaded (the
# tie is structural in litebert); a copy that differs from its tie target is an untied decoder, refused.
_TIED = {"albert": (("predictions.decoder.weight", "embeddings.word_embeddings.weight"),
                    ("predictions.decoder.bias", "predictions.bias")),
         "bert": (("cls.predictions.decoder.weight", "embeddings.word_embeddings.weight"),
                  ("cls.predictions.decoder.bias", "cls.predictions.bias")),
         "electra": (("generator_lm_head.weight", "embeddings.word_embeddings.weight"),)}
# Buffers older checkpoints carry; they are recomputed, never loaded.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def hf_prefix(config: AlbertConfig) -> str:
    return {"albert": "albert.", "bert": "bert.", "electra": "electra."}[config.model_type]


def _head_family(model_type: str) -> str:
    return "bert" if model_type in ("bert", "electra") else "albert"


def key_table(config: AlbertConfig, our_keys: Iterable[str], backbone: str) -> dict[str, tuple[str, ...]]:
    """Map each of our state-dict keys to the HF key(s) it is stored as.

    `backbone` is our attribute prefix of the encoder ("albert." in head models, "" for AlbertModel itself). The HF
    backbone prefix follows model_type ("albert."/"bert."/"electra."), and is empty when we are the bare encoder.
    """
    mt = config.model_type
    hf_bb = hf_prefix(config) if backbone else ""
    rows: dict[str, tuple[str, ...]] = {}
    for ours, hf in _EMBEDDING_ROWS.items():
        rows[backbone + ours] = (hf_bb + hf,)
    for p in ("weight", "bias"):
        rows[f"{backbone}encoder.embedding_projection.{p}"] = (hf_bb + _PROJECTION[mt].format(p=p),)
        rows[f"{backbone}pooler.{p}"] = (hf_bb + _POOLER[mt].format(p=p),)
        for g in range(config.num_hidden_groups):
            for i in range(config.inner_group_num):
                for ours, albert_names, bert_names in _LAYER_ROWS:
                    if mt == "albert":
                        base, names = _LAYER_ALBERT.format(g=g, i=i), albert_names
                    else:  # BERT/ELECTRA: one group per layer, one block per group
                        base, names = _LAYER_BERT.format(g=g), bert_names
                    rows[f"{backbone}encoder.groups.{g}.{i}." + ours.format(p=p)] = tuple(
                        hf_bb + base + n.format(p=p) for n in names)
        for ours, by_type in _HEAD_ROWS.items():
            hf = by_type.get(mt) or by_type.get(_head_family(mt), ours)
            rows[ours.format(p=p)] = (hf.format(p=p),)
    table = {}
    for k in our_keys:
        table[k] = rows.get(k, (k,))  # heads without an HF twin (classifier, qa_outputs, squad_v2.*) keep their name
    return table


def to_hf_state_dict(state_dict: dict[str, torch.Tensor], config: AlbertConfig, backbone: str) -> dict[str, torch.Tensor]:
    """Our state dict -> HF key names (q/k/v split out of the fused projection). Tensors are made contiguous."""
    out: dict[str, torch.Tensor] = {}
    for ours, hf_keys in key_table(config, state_dict, backbone).items():
        t = state_dict[ours]
        parts = t.chunk(len(hf_keys), dim=0) if len(hf_keys) > 1 else (t,)
        for name, part in zip(hf_keys, parts):
            out[name] = part.detach().contiguous()
    return out


def from_hf_state_dict(
    hf_state: dict[str, torch.Tensor], config: AlbertConfig, our_keys: Iterable[str], backbone: str,
    source: str = "checkpoint",
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """HF-layout tensors -> our keys. Returns (state_dict, missing our keys, unexpected HF keys).

    Accepts checkpoints saved from another head class: with or without the backbone prefix, legacy
    `LayerNorm.gamma/beta` names, tied decoder copies and position-id buffers. An untied MLM decoder (a decoder
    tensor that differs from the word embeddings / output bias) raises CheckpointError when the model has an MLM head:
    litebert's decoder is the embedding matrix itself, so loading it would silently drop the trained decoder.
    """
    hf_state = normalize_hf_keys(hf_state, config, with_backbone_prefix=bool(backbone))
    our_keys = list(our_keys)
    untied = _untied_decoder(hf_state, config, hf_prefix(config) if backbone else "")
    if untied and "mlm.bias" in our_keys:
        raise CheckpointError(
            f"{source}: {untied[0]} is an untied MLM decoder (it differs from the tensor it would be tied to; "
            f"tie_word_embeddings false?). litebert's ALBERT/BERT/ELECTRA MLM heads are tied to the word embeddings, "
            f"so this checkpoint's decoder cannot be loaded"
        )
    table = key_table(config, our_keys, backbone)
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    for ours, hf_keys in table.items():
        if all(k in hf_state for k in hf_keys):
            parts = [hf_state[k] for k in hf_keys]
            out[ours] = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]
            used.update(hf_keys)
        else:
            missing.append(ours)
    ignorable = {k for k, _ in _TIED[config.model_type]} - set(untied)  # an untied one is reported as unused
    unexpected = [k for k in hf_state if k not in used and k not in ignorable and not k.endswith(_BUFFERS)]
    return out, missing, unexpected


def _untied_decoder(hf_state: dict[str, torch.Tensor], config: AlbertConfig, hf_backbone: str) -> list[str]:
    """The decoder copies in `hf_state` that are not equal to what they are tied to (or have nothing to be tied to)."""
    untied = []
    for key, target in _TIED[config.model_type]:
        if key in hf_state:
            target = hf_backbone + target if target.startswith("embeddings.") else target
            t = hf_state.get(target)
            if t is None or t.shape != hf_state[key].shape or not torch.equal(t, hf_state[key]):
                untied.append(key)
    return untied


def normalize_hf_keys(hf_state: dict[str, torch.Tensor], config: AlbertConfig, with_backbone_prefix: bool):
    """Legacy gamma/beta -> weight/bias; add or strip the backbone prefix so the file matches the loading class."""
    prefix = hf_prefix(config)
    renamed = {}
    for k, v in hf_state.items():
        k = re.sub(r"\.gamma$", ".weight", k)
        k = re.sub(r"\.beta$", ".bias", k)
        renamed[k] = v
    backbone_roots = ("embeddings.", "encoder.", "pooler.", "embeddings_project.")
    has_prefix = any(k.startswith(prefix) for k in renamed)
    if with_backbone_prefix and not has_prefix:  # saved from the bare encoder, loaded into a head model
        renamed = {(prefix + k if k.startswith(backbone_roots) else k): v for k, v in renamed.items()}
    elif not with_backbone_prefix and has_prefix:  # saved from a head model, loaded into the bare encoder
        renamed = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in renamed.items()}
    return renamed


# ---------------------------------------------------------------------------------------------------------------------
# Files


@dataclass
class ResolvedCheckpoint:
    directory: Path
    config: AlbertConfig


def resolve(path_or_id: str | os.PathLike, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """A local directory as is; otherwise a hub id downloaded (or found in the cache) with huggingface_hub."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path}: expected a checkpoint directory (config.json + model.safetensors), got a file")
    name = str(path_or_id)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or not name.strip():
        raise CheckpointError(f"{name}: no such checkpoint directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "pytorch_model.bin"]
    try:
        return Path(snapshot_download(name, revision=revision, cache_dir=cache_dir, allow_patterns=patterns))
    except HFValidationError:
        raise CheckpointError(f"{name}: not a local directory and not a valid hub id") from None
    except LocalEntryNotFoundError:
        raise CheckpointError(
            f"{name}: not a local directory, and the hub cannot be reached (offline) and the cache has no copy. "
            f"Download it where there is a network (`hf download {name} --local-dir DIR`; `huggingface-cli download` "
            f"before huggingface_hub 0.34) and pass DIR."
        ) from None
    except Exception as e:  # repository not found, gated, HTTP errors
        raise CheckpointError(f"{name}: could not fetch from the hub ({type(e).__name__}: {e})") from None


def read_config(directory: Path) -> AlbertConfig:
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_NAME} (expected an HF-layout checkpoint directory)")
    try:
        return AlbertConfig.from_json_file(path)
    except ConfigError as e:
        raise CheckpointError(str(e)) from None


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory: safetensors (single or sharded) first, else pytorch_model.bin."""
    d = Path(directory)
    if (d / SAFE_WEIGHTS_NAME).is_file():
        return _load_safetensors(d / SAFE_WEIGHTS_NAME)
    for index_name, loader in ((SAFE_INDEX_NAME, _load_safetensors), (BIN_INDEX_NAME, _load_bin)):
        if (d / index_name).is_file():
            index = json.loads((d / index_name).read_text())
            state: dict[str, torch.Tensor] = {}
            for shard in sorted(set(index["weight_map"].values())):
                state.update(loader(d / shard))
            return state
    if (d / BIN_WEIGHTS_NAME).is_file():
        return _load_bin(d / BIN_WEIGHTS_NAME)
    raise CheckpointError(f"{d}: no {SAFE_WEIGHTS_NAME} or {BIN_WEIGHTS_NAME} found")


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _load_bin(path: Path) -> dict[str, torch.Tensor]:
    try:  # weights_only: never unpickle arbitrary objects from a downloaded file
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: could not be read as a tensors-only PyTorch checkpoint ({e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (setting it, even briefly, would affect
    files other threads create meanwhile)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def write_checkpoint(directory: str | os.PathLike, config: AlbertConfig, hf_state: dict[str, torch.Tensor]) -> Path:
    """Write `config.json` and `model.safetensors` atomically (weights first, so a config never points at nothing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{SAFE_WEIGHTS_NAME}.tmp-{os.getpid()}"
    try:
        save_file(hf_state, tmp, metadata={"format": "pt"})
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600: weights others (a server) could not read
        with open(tmp, "rb+") as f:  # on disk before the rename, or a crash can leave a renamed empty/partial file
            os.fsync(f.fileno())
        os.replace(tmp, directory / SAFE_WEIGHTS_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_bytes(directory / CONFIG_NAME, config.to_json_string().encode())
    return directory
