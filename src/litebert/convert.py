"""`litebert convert`: original TensorFlow checkpoints and TF-Hub modules (read without TensorFlow) and HF
checkpoints into the HF layout that litebert and transformers load, every tensor accounted for."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch

from litebert import checkpoint as ckpt
from litebert import training as T
from litebert.config import AlbertConfig
from litebert.model import (MODEL_CLASSES, AlbertForMaskedLM, AlbertForMultipleChoice, AlbertForPreTraining,
                            AlbertForQuestionAnswering, AlbertForSequenceClassification, AlbertForSquadV2, AlbertModel,
                            weights_to_be_loaded)
from litebert.textio import atomic_write_bytes
from litebert.tf_checkpoint import TFCheckpoint, TFCheckpointError, find_prefix, map_names, unshare_odd_groups

HEADS = {"pretraining": AlbertForPreTraining, "classification": AlbertForSequenceClassification,
         "multiple_choice": AlbertForMultipleChoice, "squad": AlbertForQuestionAnswering, "squad_v2": AlbertForSquadV2,
         "encoder": AlbertModel}
_TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _find_config(prefix: Path, hub: bool) -> Path | None:
    places = [prefix.parent / "albert_config.json"]
    if hub:
        module = prefix.parent.parent
        places += [module / "albert_config.json", module / "assets" / "albert_config.json"]
    return next((p for p in places if p.is_file()), None)


def _find_spm(prefix: Path, hub: bool) -> Path | None:
    """The SentencePiece model shipped beside the checkpoint (30k-clean.model) or in the module's assets/."""
    dirs = [prefix.parent] + ([prefix.parent.parent / "assets", prefix.parent.parent] if hub else [])
    for d in dirs:
        found = sorted(d.glob("*.model")) if d.is_dir() else []
        if found:
            return found[0]
    return None


def _pick_head(hf_state: dict[str, torch.Tensor], head: str) -> tuple[type, dict]:
    if head != "auto":
        if head not in HEADS:
            raise TFCheckpointError(f"--head must be auto or one of {', '.join(HEADS)}, got {head!r}")
        cls = HEADS[head]
    elif any(k.startswith("squad_v2.") for k in hf_state):
        cls = AlbertForSquadV2
    elif "qa_outputs.weight" in hf_state:
        cls = AlbertForQuestionAnswering
    elif "classifier.weight" in hf_state:
        rows = hf_state["classifier.weight"].shape[0]
        if rows == 1:
            raise TFCheckpointError("output_weights has 1 row: a regression classifier (e.g. STS-B) or a RACE "
                                    "multiple-choice scorer; pass --head classification or --head multiple_choice")
        cls = AlbertForSequenceClassification
    elif any(k.startswith(("predictions.", "sop_classifier.")) for k in hf_state):
        cls = AlbertForPreTraining
    else:
        cls = AlbertModel
    overrides = {}
    if cls is AlbertForSequenceClassification and "classifier.weight" in hf_state:
        rows = hf_state["classifier.weight"].shape[0]
        overrides = {"num_labels": rows, "id2label": None,
                     "problem_type": "regression" if rows == 1 else "single_label_classification"}
    return cls, overrides


_PROJECTION = "albert.encoder.embedding_hidden_mapping_in."


def fill_identity_projection(hf_state: dict[str, torch.Tensor], cfg: AlbertConfig, notes: list[str]) -> None:
    """The original creates `embedding_hidden_mapping_in` only when E != H (modeling.py transformer_model), so an
    E == H checkpoint has none, while the HF ALBERT layout always projects: an identity weight and a zero bias compute
    exactly what the original does. Only then: a missing projection with E != H stays an error."""
    if cfg.embedding_size != cfg.hidden_size or _PROJECTION + "weight" in hf_state or _PROJECTION + "bias" in hf_state:
        return
    ref = hf_state.get("albert.embeddings.word_embeddings.weight")
    dtype = ref.dtype if ref is not None else torch.float32
    hf_state[_PROJECTION + "weight"] = torch.eye(cfg.hidden_size, dtype=dtype)
    hf_state[_PROJECTION + "bias"] = torch.zeros(cfg.hidden_size, dtype=dtype)
    notes.append("embedding_size == hidden_size and no embedding_hidden_mapping_in (the original skips it then): "
                 "the projection is filled with the identity and a zero bias")


def convert_tf(path: str | Path, config: str | Path | None = None, head: str = "auto") -> tuple[torch.nn.Module, dict]:
    """A TF checkpoint (prefix, directory or TF-Hub module) -> (litebert model, conversion report)."""
    prefix, hub = find_prefix(path)
    ck = TFCheckpoint(prefix)
    ck.verify()  # every tensor's CRC32C, before anything is written
    cfg_path = Path(config) if config else _find_config(prefix, hub)
    if cfg_path is None:
        raise TFCheckpointError(f"{path}: no albert_config.json beside the checkpoint; pass --config")
    if not cfg_path.is_file():
        raise TFCheckpointError(f"--config {cfg_path}: no such file (expected the original albert_config.json)")
    cfg = AlbertConfig.from_json_file(cfg_path)
    notes = []
    if cfg.hidden_act == "gelu" and cfg.model_type == "albert":
        # google-research/albert's modeling.py computes "gelu" with the tanh approximation (HF#2395)
        cfg = cfg.replace(hidden_act="gelu_new")
        notes.append('hidden_act "gelu" -> "gelu_new": the original computes the tanh approximation')
    mapped, skipped, unknown = map_names(list(ck.tensors))
    if unknown:
        raise TFCheckpointError(f"{prefix}: {len(unknown)} variable(s) neither mapped nor known to be skippable: "
                                f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}")
    hf_state, transposed, source_of = {}, [], {}
    for tf_name, (hf_key, transpose) in sorted(mapped.items()):
        t = torch.from_numpy(ck.read(tf_name))
        if transpose:
            t = t.T.contiguous()
            transposed.append(tf_name)
        if hf_key in hf_state:
            raise TFCheckpointError(f"{prefix}: {source_of[hf_key]} and {tf_name} both map to {hf_key}")
        hf_state[hf_key], source_of[hf_key] = t, tf_name
    fill_identity_projection(hf_state, cfg, notes)
    hf_state, cfg = unshare_odd_groups(hf_state, cfg, notes)
    cls, overrides = _pick_head(hf_state, head)
    with weights_to_be_loaded():  # every weight comes from the checkpoint, or the conversion fails below
        model = cls(cfg.replace(**overrides) if overrides else cfg)
    if getattr(model, "backbone_prefix", "") and getattr(getattr(model, "albert", None), "pooler", None) is None:
        for k in [k for k in hf_state if k.startswith("albert.pooler.")]:  # QA heads have no pooler
            hf_state.pop(k)
            skipped.append(f"{source_of[k]} (pooler: unused by this head)")
    missing, unexpected = model.load_hf_state_dict(hf_state, source=str(prefix))
    if missing or unexpected:
        raise TFCheckpointError(f"{prefix}: does not fill {cls.__name__} (missing {missing}, unexpected {unexpected})"
                                f"; pick the head with --head")
    report = {"source": str(prefix), "format": "tf-hub module" if hub else "tf checkpoint", "config": str(cfg_path),
              "architecture": cls.__name__, "tensors": len(ck.tensors), "converted": len(mapped),
              "transposed": transposed, "skipped": sorted(skipped), "notes": notes}
    return model, report


def convert_hf(path: str | Path) -> tuple[torch.nn.Module, dict, Path]:
    """An HF checkpoint -> litebert model, refusing any tensor that is missing or left over."""
    directory = ckpt.resolve(path)
    cfg = ckpt.read_config(directory)
    arch = (cfg.architectures or ["AlbertModel"])[0]
    arch = arch.replace("Bert", "Albert") if arch.startswith("Bert") else arch.replace("Electra", "Albert")
    cls = MODEL_CLASSES.get(arch, AlbertModel)
    state = ckpt.read_state_dict(directory)
    if cls is AlbertForMaskedLM and any(k.startswith(("sop_classifier.", "cls.seq_relationship.")) for k in state):
        cls = AlbertForPreTraining  # an ELECTRA-layout pretraining checkpoint (MLM + SOP) names ElectraForMaskedLM
    with weights_to_be_loaded():
        model = cls(cfg)
    missing, unexpected = model.load_hf_state_dict(state, source=str(directory))
    if missing or unexpected:
        raise TFCheckpointError(f"{directory}: does not fill {cls.__name__} (missing {missing}, unexpected "
                                f"{unexpected})")
    return model, {"source": str(directory), "format": "hf", "architecture": cls.__name__, "tensors": len(state)}, \
        directory


def _check_output(out: Path, source: Path) -> None:
    """Refuse an --output that would replace the source or a directory that is not a previous conversion: the output
    directory is replaced as a whole."""
    src = source.resolve()
    if out == src or out in src.parents:
        raise TFCheckpointError(f"--output {out}: holds the checkpoint being converted ({source}), and the output "
                                f"directory is replaced as a whole; pick a new directory")
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "conversion.json").is_file())):
        raise TFCheckpointError(f"--output {out}: exists and is not an earlier conversion (no conversion.json); "
                                f"the output directory is replaced as a whole, so pick a new one or remove it")


def _with_model_limits(tokenizer, cfg: AlbertConfig, spm: Path):
    """The SentencePiece model beside a checkpoint, checked against the model's embedding table and given the model's
    maximum length (the tokenizer alone would say 512)."""
    if len(tokenizer) > cfg.vocab_size:
        raise TFCheckpointError(f"{spm}: {len(tokenizer)} pieces, but the checkpoint's vocab_size is {cfg.vocab_size}: "
                                f"not this model's vocabulary (its ids would index past the embeddings)")
    tokenizer.model_max_length = cfg.max_position_embeddings
    return tokenizer


def convert(path: str, *, output: str, from_: str = "tf", to: str = "hf", albert_config: str | None = None,
            head: str = "auto") -> dict:
    """Convert a TF checkpoint, a TF-Hub module or an HF checkpoint into an HF-layout directory.

    The output is what litebert and transformers load, with the SentencePiece model when one ships beside the
    checkpoint, and conversion.json listing every variable converted, transposed or skipped.

    Example:
        litebert convert --from tf albert_base/model.ckpt-best --output albert-base

    Args:
        path: TF: a checkpoint prefix (model.ckpt-best), a directory holding one, or a TF-Hub module directory
            (variables/variables.*); HF: a directory or hub id.
        output: Directory to write (config.json, model.safetensors, tokenizer files, conversion.json).
        from_: tf | hf.
        to: hf (litebert's own layout is the HF one).
        albert_config: TF: the original albert_config.json (default: the one beside the checkpoint; `--config`
            works too).
        head: TF: auto (from the variables present) | pretraining | classification | multiple_choice | squad |
            squad_v2 | encoder.
    """
    if to != "hf":
        raise TFCheckpointError(f"--to must be hf (litebert's checkpoints are in the HF layout), got {to!r}")
    if from_ not in ("tf", "hf"):
        raise TFCheckpointError(f"--from must be tf or hf, got {from_!r}")
    out = Path(output).resolve()
    tmp = out.with_name(f".{out.name}.tmp")
    if from_ == "tf":
        prefix, hub = find_prefix(path)
        _check_output(out, prefix.parent.parent if hub else prefix)
        model, report = convert_tf(path, albert_config, head)
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        spm = _find_spm(prefix, hub)
        if spm is not None:
            from litebert.tokenizer import load_tokenizer

            _with_model_limits(load_tokenizer(spm), model.config, spm).save_pretrained(tmp)
            report["tokenizer"] = str(spm)
    else:
        model, report, directory = convert_hf(path)
        _check_output(out, directory)
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        copied = [n for n in _TOKENIZER_FILES if (directory / n).is_file()]
        for name in copied:
            shutil.copy(directory / name, tmp / name)
        report["tokenizer_files"] = copied
    atomic_write_bytes(tmp / "conversion.json", json.dumps(report, indent=2).encode())
    T.replace_dir(tmp, out)
    print(f"[litebert convert] {report['source']} -> {out} ({report['architecture']}, "
          f"{report.get('converted', report['tensors'])} tensors"
          + (f", {len(report['skipped'])} skipped, listed in conversion.json" if report.get("skipped") else "") + ")",
          file=sys.stderr)
    return report
