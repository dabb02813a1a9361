"""Model configuration: `AlbertConfig` (original/HF field names) and the named size presets.

One config describes the whole family: ALBERT (factorised embeddings E != H, layers drawn from shared groups), BERT
(E == H, one group per layer) and ELECTRA discriminators (E may differ from H, one group per layer). `model_type` only
decides the checkpoint layout written by `save_pretrained` (see checkpoint.py); the math is the same module.

This module imports nothing from litebert.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_TYPES = ("albert", "bert", "electra")
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


class ConfigError(ValueError):
    """A config file or field is not what litebert expects; the message names the file and field."""


@dataclass
class AlbertConfig:
    """Architecture of an ALBERT/BERT/ELECTRA encoder. Field names follow the original `albert_config.json` and HF."""

    vocab_size: int = 30000
    embedding_size: int = 128
    """E: width of the token/position/type embeddings. ALBERT factorises them (E < H) and projects E -> H."""
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    """L: number of layer applications (depth as executed)."""
    num_hidden_groups: int = 1
    """G: number of distinct parameter groups; layer i uses group int(i / (L / G)) (group_index).
    BERT/ELECTRA: G == L."""
    inner_group_num: int = 1
    """Post-LN blocks inside each group, applied one after another at every layer."""
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    hidden_act: str = "gelu_new"
    """Honoured literally: "gelu" is erf GELU, "gelu_new" the tanh approximation (what the original computes), "relu"."""
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout_prob: float | None = 0.1
    """Dropout before the task classifiers (the original hard-codes 0.1). None: use hidden_dropout_prob."""
    pad_token_id: int = 0
    model_type: str = "albert"
    """Checkpoint layout: "albert", "bert" or "electra"."""
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    problem_type: str | None = None
    """"regression", "single_label_classification" or "multi_label_classification" (None: inferred from labels)."""
    start_n_top: int = 5
    """SQuAD 2.0 head: beam of start positions kept at inference."""
    end_n_top: int = 5
    """SQuAD 2.0 head: ends kept per start at inference."""
    architectures: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    """Unknown keys from the loaded file, written back on save (e.g. `net_structure_type`, `layers_to_keep`)."""

    def __post_init__(self) -> None:
        self._check_types()
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if not 1 <= self.num_hidden_groups <= self.num_hidden_layers:
            raise ConfigError(
                f"num_hidden_groups ({self.num_hidden_groups}) must be between 1 and num_hidden_layers "
                f"({self.num_hidden_layers})"
            )
        if self.inner_group_num < 1:
            raise ConfigError(f"inner_group_num must be >= 1, got {self.inner_group_num}")
        if self.model_type in ("bert", "electra") and (
                self.num_hidden_groups != self.num_hidden_layers or self.inner_group_num != 1):
            # their layouts store one block per layer (encoder.layer.{i}): shared blocks would overwrite each other
            raise ConfigError(
                f"a {self.model_type!r} model cannot share layers: it needs num_hidden_groups == num_hidden_layers "
                f"({self.num_hidden_layers}) and inner_group_num == 1, got {self.num_hidden_groups} and "
                f"{self.inner_group_num} (layer sharing needs model_type 'albert')"
            )
        if self.model_type == "bert" and self.embedding_size != self.hidden_size:
            raise ConfigError(f"a 'bert' model needs embedding_size == hidden_size, got {self.embedding_size} and "
                              f"{self.hidden_size} (factorised embeddings need model_type 'albert' or 'electra')")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"problem_type must be one of {PROBLEM_TYPES} or null, got {self.problem_type!r}")
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)

    # -- derived ------------------------------------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def classifier_dropout(self) -> float:
        return self.hidden_dropout_prob if self.classifier_dropout_prob is None else self.classifier_dropout_prob

    @property
    def label2id(self) -> dict[str, int] | None:
        return None if self.id2label is None else {v: k for k, v in self.id2label.items()}

    def group_index(self, layer: int) -> int:
        """The group whose weights layer `layer` uses, as transformers computes it (`int(layer / (L / G))`), so an
        HF-layout checkpoint runs the same function in both. The original's `int(layer / L * G)` agrees for every
        released layout but not for some odd ones (L=44, G=22 at layer 30; L=G=22 never uses group 15): `litebert
        convert` gives such TF checkpoints one group per layer (tf_checkpoint.original_group_index)."""
        return int(layer / (self.num_hidden_layers / self.num_hidden_groups))

    def _check_types(self) -> None:
        """Each scalar field holds its type (a JSON `12.0` is taken as 12, `"32"` is an error naming the field), sizes
        are positive and probabilities lie in [0, 1)."""
        for f in dataclasses.fields(self):
            kind, optional = f.type.removesuffix(" | None"), f.type.endswith(" | None")
            value = getattr(self, f.name)
            if value is None and optional or kind not in ("int", "float", "str"):
                continue
            if kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif kind == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, {"int": int, "float": float, "str": str}[kind]):
                expected = {"int": "an integer", "float": "a number", "str": "a string"}[kind]
                raise ConfigError(f"{f.name}: expected {expected}{' or null' if optional else ''}, got {value!r}")
            setattr(self, f.name, value)
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise ConfigError(f"{name}: expected a probability in [0, 1), got {value}")
        if not self.layer_norm_eps > 0:
            raise ConfigError(f"layer_norm_eps: expected a positive number, got {self.layer_norm_eps}")

    def replace(self, **changes: Any) -> "AlbertConfig":
        return dataclasses.replace(self, **changes)

    # -- (de)serialisation --------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "AlbertConfig":
        """Build from an HF `config.json` (ALBERT, BERT or ELECTRA) or an original `albert_config.json` dict.

        BERT and ELECTRA configs have no groups: every layer gets its own (G = L). Unknown keys are kept in `extra`
        (and written back on save), never fatal.
        """
        d = dict(d)
        model_type = d.pop("model_type", None) or "albert"
        if model_type not in MODEL_TYPES:
            raise ConfigError(f"{source}: model_type {model_type!r} is not supported (expected one of {MODEL_TYPES})")
        if d.pop("position_embedding_type", "absolute") != "absolute":  # HF ALBERT/BERT/ELECTRA all have the field
            raise ConfigError(f"{source}: only position_embedding_type 'absolute' is supported")
        if model_type in ("bert", "electra"):
            # a field left out means transformers' BertConfig / ElectraConfig default, not ALBERT-xxlarge's
            d = {**_HF_DEFAULTS[model_type], **d}
            d.setdefault("embedding_size", d["hidden_size"])  # BERT: E == H
            d.setdefault("num_hidden_groups", d["num_hidden_layers"])  # one block per layer (sharing: __post_init__)
            # BERT/ELECTRA heads use `classifier_dropout`, falling back to hidden_dropout_prob when it is null.
            d["classifier_dropout_prob"] = d.get("classifier_dropout")
        if d.get("pad_token_id", 0) is None:  # some hub configs write null: the field's default
            d.pop("pad_token_id")
        if "id2label" in d and d["id2label"] is not None and "num_labels" in d:
            d.pop("num_labels")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        extra = {k: v for k, v in d.items() if k not in names and k not in _DROP_ON_LOAD}
        try:
            return cls(model_type=model_type, extra=extra, **known)
        except (TypeError, ConfigError) as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_json_file(cls, path: str | Path) -> "AlbertConfig":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected a JSON object of config fields")
        return cls.from_dict(d, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """HF `config.json` content for this model_type (ALBERT, BERT or ELECTRA field set)."""
        d: dict[str, Any] = dict(self.extra)
        common = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            initializer_range=self.initializer_range,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
        )
        d.update(common)
        if self.model_type == "albert":
            d.update(
                embedding_size=self.embedding_size,
                num_hidden_groups=self.num_hidden_groups,
                inner_group_num=self.inner_group_num,
                classifier_dropout_prob=self.classifier_dropout_prob,
            )
        elif self.model_type == "electra":
            d.update(embedding_size=self.embedding_size, classifier_dropout=self.classifier_dropout_prob)
        else:  # __post_init__ guarantees E == H and no sharing
            d.update(classifier_dropout=self.classifier_dropout_prob)
        d["model_type"] = self.model_type
        d["num_labels"] = self.num_labels
        if self.id2label is not None:
            d["id2label"] = {str(k): v for k, v in self.id2label.items()}
            d["label2id"] = self.label2id
        if self.problem_type is not None:
            d["problem_type"] = self.problem_type
        d["start_n_top"], d["end_n_top"] = self.start_n_top, self.end_n_top
        if self.architectures:
            d["architectures"] = list(self.architectures)
        return d

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "AlbertConfig":
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


# Keys that HF writes for its own bookkeeping and that mean nothing to litebert (not kept in `extra`).
# tie_word_embeddings: litebert's MLM decoder is always tied (checkpoint.py refuses an untied one), so a loaded
# `false` is not written back: transformers would then expect a decoder tensor that is not saved.
_DROP_ON_LOAD = {"label2id", "transformers_version", "_name_or_path", "torch_dtype", "dtype", "use_cache",
                 "_attn_implementation", "_commit_hash", "classifier_dropout", "tie_word_embeddings"}

# transformers' BertConfig / ElectraConfig defaults, for fields a `bert` / `electra` config.json leaves out.
_COMMON_HF = dict(vocab_size=30522, num_hidden_layers=12, hidden_act="gelu", hidden_dropout_prob=0.1,
                  attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                  initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0)
_HF_DEFAULTS = {
    "bert": dict(_COMMON_HF, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "electra": dict(_COMMON_HF, embedding_size=128, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
}


def _albert(h: int, layers: int, heads: int, ffn: int, dropout: float) -> dict[str, Any]:
    return dict(vocab_size=30000, embedding_size=128, hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=ffn, hidden_act="gelu_new", hidden_dropout_prob=dropout,
                attention_probs_dropout_prob=dropout, model_type="albert")


def _bert(h: int, layers: int, heads: int, ffn: int, vocab: int = 30522, e: int | None = None,
          model_type: str = "bert") -> dict[str, Any]:
    return dict(vocab_size=vocab, embedding_size=e or h, hidden_size=h, num_hidden_layers=layers,
                num_hidden_groups=layers, num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, classifier_dropout_prob=None,
                model_type=model_type)


# Released shapes. The original's "gelu" is the tanh formula, so every ALBERT preset says gelu_new. v1 used dropout 0.1
# (xxlarge 0), v2 dropout 0 (google-research/albert README). Parameter counts are for AlbertModel.
PRESETS: dict[str, dict[str, Any]] = {
    "albert-base-v1": _albert(768, 12, 12, 3072, 0.1),  # 11.7M
    "albert-large-v1": _albert(1024, 24, 16, 4096, 0.1),  # 17.7M
    "albert-xlarge-v1": _albert(2048, 24, 16, 8192, 0.1),  # 58.7M (16 heads of 128, as released)
    "albert-xxlarge-v1": _albert(4096, 12, 64, 16384, 0.0),  # 222.6M
    "albert-base-v2": _albert(768, 12, 12, 3072, 0.0),
    "albert-large-v2": _albert(1024, 24, 16, 4096, 0.0),
    "albert-xlarge-v2": _albert(2048, 24, 16, 8192, 0.0),
    "albert-xxlarge-v2": _albert(4096, 12, 64, 16384, 0.0),
    "bert-base-uncased": _bert(768, 12, 12, 3072),  # 109.5M
    "bert-large-uncased": _bert(1024, 24, 16, 4096),  # 335.1M
    # ELECTRA discriminators as released: small factorises (E=128 < H=256); base has E == H == 768.
    "electra-small-discriminator": _bert(256, 12, 4, 1024, e=128, model_type="electra"),  # 13.5M
    "electra-base-discriminator": _bert(768, 12, 12, 3072, model_type="electra"),
    # Tests and smoke runs: every ALBERT feature on, tiny enough for CPU in milliseconds.
    "tiny": dict(vocab_size=1000, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_hidden_groups=1,
                 inner_group_num=1, num_attention_heads=2, intermediate_size=64, hidden_act="gelu_new",
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=128),
}
