"""Inference pipelines, batched, on the GPU when there is one, as Python classes and CLI commands:
fill-mask (top-k, target words), embed (mean / [CLS] / pooled / token vectors), classify (label names from the
checkpoint), choose (multiple choice), answer (extractive QA over long contexts with doc stride; SQuAD v1 head or
the ALBERT SQuAD 2.0 head with a no-answer threshold)."""

from __future__ import annotations

import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from litebert import checkpoint as ckpt
from litebert import training as T
from litebert.distributed import resolve_device
from litebert.finetune.race import RaceExample, encode as race_encode
from litebert.finetune.squad import doc_spans, max_context_window
from litebert.finetune.trainer import ENCODER_PAD_VALUES, encoder_inputs, pad_batch
from litebert.textio import TextFileError, atomic_write_bytes, iter_lines
from litebert.model import (AlbertForMaskedLM, AlbertForMultipleChoice, AlbertForQuestionAnswering,
                            AlbertForSequenceClassification, AlbertForSquadV2, AlbertModel, mean_pool)
from litebert.tokenizer import check_fits_model, load_tokenizer


class PipelineError(ValueError):
    """Bad pipeline input (no [MASK] in a text, unknown target word, not a masked-LM checkpoint, ...)."""


def _at_least_1(**values: int | None) -> None:
    """PipelineError naming the first setting below 1 (None: not set, allowed)."""
    for name, value in values.items():
        if value is not None and value < 1:
            raise PipelineError(f"{name} must be at least 1, got {value}")


@dataclass
class FillMask:
    """`FillMask.from_pretrained(dir)(["The capital of France is [MASK]."], top_k=5)` -> per text, per [MASK],
    a ranked list of {"token", "token_str", "score", "sequence"}."""

    model: AlbertForMaskedLM
    tokenizer: object
    device: torch.device
    batch_size: int = 32

    def __post_init__(self):
        _at_least_1(batch_size=self.batch_size)

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto", batch_size: int = 32):
        """Any checkpoint with an MLM head: saved from pretraining (ForPreTraining) or ForMaskedLM."""
        return cls(*_load(path, AlbertForMaskedLM, tokenizer, device, ("ForMaskedLM", "ForPreTraining")), batch_size)

    @torch.no_grad()
    def __call__(self, texts: list[str], top_k: int = 5, targets: list[str] | None = None) -> list[list[list[dict]]]:
        """With targets, at most one prediction per target (top_k capped, as transformers' fill-mask); without, top_k
        beyond the vocabulary is an error (transformers' fails in torch.topk)."""
        _at_least_1(top_k=top_k)
        vocab = self.model.config.vocab_size
        if not targets and top_k > vocab:
            raise PipelineError(f"top_k must be at most the vocabulary size ({vocab}), got {top_k}")
        tok = self.tokenizer
        mask_text = tok.special_tokens[4] if hasattr(tok, "special_tokens") else "[MASK]"
        target_ids = None
        if targets:
            target_ids = []
            for word in targets:
                ids = tok.encode(word, add_special_tokens=False)["input_ids"]
                if len(ids) != 1:
                    raise PipelineError(f"target {word!r} is {len(ids)} tokens in this vocabulary; targets must be "
                                        f"single tokens ({tok.convert_ids_to_tokens(ids)})")
                target_ids.append(ids[0])
            target_ids = torch.tensor(target_ids, device=self.device)
        results: list[list[list[dict]]] = []
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i:i + self.batch_size]
            for t in chunk:
                if mask_text not in t:
                    raise PipelineError(f"no {mask_text} in {t!r}")
            enc = tok.encode_batch(chunk, padding=True, truncation=True, return_tensors="pt",
                                   max_length=_max_length(self.model, None))
            ids = enc["input_ids"].to(self.device)
            logits = self.model(ids, enc["attention_mask"].to(self.device),
                                enc["token_type_ids"].to(self.device)).logits.float()
            for b in range(len(chunk)):
                per_mask = []
                positions = (ids[b] == tok.mask_id).nonzero().flatten().tolist()
                if len(positions) < chunk[b].count(mask_text):
                    raise PipelineError(f"text {i + b + 1} is too long: a {mask_text} falls beyond the "
                                        f"{ids.shape[1]}-token limit ({chunk[b][:60]!r}...)")
                for pos in positions:
                    probs = logits[b, pos].softmax(-1)
                    if target_ids is not None:
                        scores, idx = probs[target_ids].sort(descending=True)
                        idx = target_ids[idx]
                        scores, idx = scores[:top_k], idx[:top_k]
                    else:
                        scores, idx = probs.topk(top_k)
                    ranked = []
                    for s, t in zip(scores.tolist(), idx.tolist()):
                        filled = ids[b].clone()
                        filled[pos] = t
                        ranked.append({"token": t, "token_str": tok.convert_ids_to_tokens([t])[0], "score": s,
                                       "sequence": tok.decode(filled.tolist())})
                    per_mask.append(ranked)
                results.append(per_mask)
        return results


def _read_lines(input: str | None) -> tuple[str, list[tuple[int, str]]]:
    """The name of the source (the file, or "stdin") and its non-blank lines with their line numbers; a file or stdin
    that is not UTF-8 text is a TextFileError naming it (and, for a file, the line and byte)."""
    if input and input != "-":
        # split on newlines only, as stdin is read (str.splitlines also splits on U+2028, U+0085...: rows would shift)
        return input, [(k, line) for k, line in enumerate(iter_lines(input, decoding="strict"), 1) if line.strip()]
    if sys.stdin.isatty() and not input:
        raise PipelineError("no input: pass texts with --text, a file with --input FILE, or pipe lines to stdin")
    rows, k = [], 0
    try:
        for k, line in enumerate(sys.stdin, 1):
            if line.strip():
                rows.append((k, line.rstrip("\n")))
    except UnicodeDecodeError as e:
        raise TextFileError(f"stdin: not valid UTF-8 after line {k} ({e.reason}); expected UTF-8 text") from None
    return "stdin", rows


def _read_inputs(texts: list[str] | None, input: str | None) -> list[str]:
    if texts and input:
        raise PipelineError(f"both --text and --input {input} given; give one of them")
    if texts:
        return list(texts)
    return [line for _, line in _read_lines(input)[1]]


_JSON_TYPES = {str: "a string", list: "a list"}


def _json_item(name: str, line_no: int, line: str, fields: dict[str, type], defaults: dict | None = None) -> dict:
    """One JSON-lines record, these fields of these types, required unless `defaults` has them; errors name the
    file, line and field."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise PipelineError(f"{name}:{line_no}: not valid JSON ({e.msg}); expected an object with "
                            f"{', '.join(map(repr, fields))}") from None
    if not isinstance(obj, dict):
        raise PipelineError(f"{name}:{line_no}: expected a JSON object with {', '.join(map(repr, fields))}, got "
                            f"{type(obj).__name__}")
    obj = {**(defaults or {}), **obj}
    for field, kind in fields.items():
        if field not in obj:
            raise PipelineError(f"{name}:{line_no}: no {field!r}; expected an object with "
                                f"{', '.join(map(repr, fields))}")
        if not isinstance(obj[field], kind):
            raise PipelineError(f"{name}:{line_no}: {field!r} must be {_JSON_TYPES[kind]}, got "
                                f"{json.dumps(obj[field], ensure_ascii=False)[:80]}")
    return {field: obj[field] for field in fields}


def fill_mask(model: str, *, text: str | list[str] | None = None, input: str | None = None, top_k: int = 5,
              targets: str | list[str] | None = None, tokenizer: str | None = None, device: str = "auto",
              batch_size: int = 32, json_output: bool = False) -> None:
    """Predict the [MASK] tokens of texts with a pretrained model.

    Example:
        litebert fill-mask runs/quickstart/model --text "The quick brown fox jumps over the [MASK] dog."

    Args:
        model: Checkpoint directory or hub id with an MLM head (saved from pretraining or ForMaskedLM).
        text: Texts containing [MASK] (repeat the flag or give several values).
        input: A file with one text per line ("-" or nothing: read stdin).
        top_k: Predictions per [MASK].
        targets: Only score these words (each must be a single token).
        tokenizer: Tokenizer directory, when it is not saved with the model.
        device: auto | cpu | cuda.
        batch_size: Texts per forward pass.
        json_output: Print JSON (one object per text) instead of a table.
    """
    texts = _read_inputs([text] if isinstance(text, str) else text, input)
    targets = [targets] if isinstance(targets, str) else targets
    pipe = FillMask.from_pretrained(model, tokenizer=tokenizer, device=device, batch_size=batch_size)
    results = pipe(texts, top_k=top_k, targets=targets)
    for t, per_mask in zip(texts, results):
        if json_output:
            print(json.dumps({"text": t, "predictions": per_mask}, ensure_ascii=False))
        else:
            print(t)
            for k, ranked in enumerate(per_mask):
                print(f"  [MASK] #{k + 1}: " + ", ".join(f"{r['token_str']} ({r['score']:.3f})" for r in ranked))


# ---------------------------------------------------------------------------------------------------------------------
# shared loading


def _load(path: str, cls, tokenizer: str | None, device: str, allowed: tuple[str, ...] | None = None):
    directory = ckpt.resolve(path)
    config = ckpt.read_config(directory)
    arch = (config.architectures or [""])[0]
    if allowed and arch and not arch.endswith(allowed):
        raise PipelineError(f"{directory}: a {arch} checkpoint cannot be used here (expected one saved from "
                            f"{' or '.join('*' + a for a in allowed)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heads the pipeline does not use
        model = cls.from_pretrained(directory)
    missing = model.loading_info["missing"]
    if cls is AlbertModel and missing and all("pooler" in k for k in missing):
        model.pooler, missing = None, []  # no pooler in the checkpoint: mean and cls pooling still work
    if missing:  # a freshly initialised head predicts noise: refuse rather than answer with it
        raise PipelineError(f"{directory}: {len(missing)} weights the {cls.__name__} pipeline needs are not in the "
                            f"checkpoint ({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); a head "
                            f"fine-tuned with litebert or transformers is needed")
    tok = load_tokenizer(tokenizer or directory)
    check_fits_model(tok, model.config.vocab_size, directory)
    dev = resolve_device(device)
    return model.eval().to(dev), tok, dev


def _max_length(model: torch.nn.Module, requested: int | None) -> int:
    """Truncation length: what was asked for, never more than the model's position embeddings."""
    limit = model.config.max_position_embeddings
    return min(requested, limit) if requested else limit


def _encode(tok, texts: list[str], pairs: list[str] | None, device: torch.device, max_length: int | None = None,
            model: torch.nn.Module | None = None):
    if model is not None:
        max_length = _max_length(model, max_length)
    enc = tok.encode_batch(texts, pairs, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: enc[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids")}


# ---------------------------------------------------------------------------------------------------------------------
# embed

POOLINGS = ("mean", "cls", "pooled", "tokens")


@dataclass
class Embed:
    """Sentence or token vectors: `Embed.from_pretrained(dir)(texts, pooling="mean", normalize=True)` -> (N, H).

    All texts are tokenized in one call, batched by token length (little padding), and the vectors stay on the device
    for 256 batches at a time (one copy back each: the CPU prepares the next batches while the GPU computes).
    `compile`: a torch.compile mode for the encoder (reduce-overhead: CUDA graphs on a GPU, batch lengths then padded
    to a multiple of 16 so that few shapes recur).
    `unpad`: drop each batch's padding inside the encoder (`model.unpadded_enable`: dense layers on real tokens,
    varlen FlashAttention on a GPU); None: decided at each call, on where varlen FlashAttention runs (a GPU, no
    `compile`, half precision: bf16/fp16 weights or CUDA autocast; 1.32x the padded run on an H100 in bf16,
    docs/benchmarks.md), off elsewhere (in fp32 each layer would re-pad around SDPA; on a CPU it measured even).
    Embed sets the model's flag."""

    model: AlbertModel
    tokenizer: object
    device: torch.device
    batch_size: int = 32
    compile: str = "none"
    unpad: bool | None = None

    def __post_init__(self):
        _at_least_1(batch_size=self.batch_size)
        if self.compile not in ("none", *T.COMPILE_MODES):
            raise PipelineError(f"compile must be none, {', '.join(T.COMPILE_MODES)}; got {self.compile!r}")
        if self.unpad and self.compile != "none":
            raise PipelineError("unpad and compile exclude each other: an unpadded batch's token count changes every "
                                "batch (use one)")
        if self.unpad is not None:
            self.model.unpadded_enable(self.unpad)
        self._forward = self.model if self.compile == "none" else torch.compile(self.model, mode=self.compile)

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto", batch_size: int = 32,
                        compile: str = "none", unpad: bool | None = None):
        return cls(*_load(path, AlbertModel, tokenizer, device), batch_size, compile, unpad)

    def _unpad_pays(self) -> bool:
        """unpad=None's rule: varlen FlashAttention will run (a GPU, no compile, half-precision weights or autocast)."""
        if self.device.type != "cuda" or self.compile != "none":
            return False
        autocast = torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda") if autocast else next(self.model.parameters()).dtype
        return dtype in (torch.float16, torch.bfloat16)

    @torch.no_grad()
    def __call__(self, texts: list[str], pooling: str = "mean", normalize: bool = False,
                 max_length: int | None = None, layer: int = -1):
        """(N, H) float32 numpy array; pooling "tokens" gives a list of (T_i, H) arrays (padding removed).
        `layer` picks the hidden state to pool, as an index into transformers' `hidden_states` (0: the projected
        embeddings, -1: the last layer, -2: the one before, as bert-as-service's default)."""
        if pooling not in POOLINGS:
            raise PipelineError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "pooled" and self.model.pooler is None:
            raise PipelineError("this checkpoint has no pooler; use pooling mean or cls")
        c = self.model.config
        states = c.num_hidden_layers * c.inner_group_num + 1
        if not -states <= layer < states:
            raise PipelineError(f"layer must be in [-{states}, {states - 1}] (this model has {states} hidden states), "
                                f"got {layer}")
        if pooling == "pooled" and layer not in (-1, states - 1):
            raise PipelineError("pooling pooled reads the last layer; use pooling mean or cls with --layer")
        last = layer in (-1, states - 1)
        if self.unpad is None:
            self.model.unpadded_enable(self._unpad_pays())
        if not texts:
            return [] if pooling == "tokens" else np.zeros((0, self.model.config.hidden_size), np.float32)
        enc = self.tokenizer.encode_batch(texts, truncation=True, max_length=_max_length(self.model, max_length))
        ids, types = enc["input_ids"], enc["token_type_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # similar lengths together: little padding
        multiple = T.length_multiple(self.compile, self.device)
        limit = self.model.config.max_position_embeddings
        pin = self.device.type == "cuda"
        out, tokens, host = [], [], []
        for i in range(0, len(texts), self.batch_size):
            idx = order[i:i + self.batch_size]
            b = pad_batch(encoder_inputs(ids, types, idx), ENCODER_PAD_VALUES, multiple, limit)
            b = {k: v.pin_memory().to(self.device, non_blocking=True) if pin else v for k, v in b.items()}
            o = self._forward(**b) if last else self._forward(**b, output_hidden_states=True)
            h = (o.last_hidden_state if last else o.hidden_states[layer]).float()
            if pooling == "tokens":  # ragged: copied back batch by batch
                h = (torch.nn.functional.normalize(h, dim=-1) if normalize else h).cpu()
                tokens += [(j, h[k, :len(ids[j])].numpy()) for k, j in enumerate(idx)]
                continue
            v = {"mean": lambda: mean_pool(h, b["attention_mask"]), "cls": lambda: h[:, 0].clone(),
                 "pooled": lambda: o.pooler_output.float().clone()}[pooling]()
            out.append(torch.nn.functional.normalize(v, dim=-1) if normalize else v)
            if len(out) == 256:  # one copy back per 256 batches: device memory stays bounded on large inputs
                host.append(torch.cat(out).cpu().numpy())
                out = []
        if pooling == "tokens":
            return [v for _, v in sorted(tokens, key=lambda x: x[0])]
        vectors = np.concatenate(host + ([torch.cat(out).cpu().numpy()] if out else []))
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


def embed(model: str, *, text: str | list[str] | None = None, input: str | None = None, pooling: str = "mean",
          normalize: bool = False, layer: int = -1, output: str | None = None, tokenizer: str | None = None,
          device: str = "auto", batch_size: int = 32, compile: str = "none", unpad: bool | None = None) -> None:
    """Embed texts: sequence vectors (mean of the token vectors, [CLS], or the pooler) or token vectors.

    Example:
        litebert embed runs/quickstart/model --input sentences.txt --output vectors.npy --normalize true

    Args:
        model: Checkpoint directory or hub id (any litebert/HF ALBERT, BERT or ELECTRA checkpoint).
        text: Texts (repeat the flag or give several values).
        input: A file with one text per line ("-" or nothing: stdin).
        pooling: mean | cls | pooled | tokens.
        normalize: L2-normalise the vectors.
        layer: Hidden state to pool (transformers' hidden_states index: 0 the embeddings, -1 the last layer, -2 the
            one before).
        output: .npy (sequence vectors) or .json / .jsonl path; default JSON lines on stdout.
        tokenizer: Tokenizer directory, when it is not saved with the model.
        device: auto | cpu | cuda.
        batch_size: Texts per forward pass.
        compile: none | default | reduce-overhead (CUDA graphs, for a GPU) | max-autotune: torch.compile the encoder
            (pays on large inputs: the first batches compile).
        unpad: Drop the padding inside the encoder (default: where varlen FlashAttention runs: a GPU, no compile, bf16
            or fp16 weights).
    """
    if output and Path(output).is_dir():
        raise PipelineError(f"--output {output} is a directory; expected a file path (.npy, .json or .jsonl)")
    if output and output.endswith(".npy") and pooling == "tokens":
        raise PipelineError("token vectors have one row per token: write them as .json/.jsonl, not .npy")
    texts = _read_inputs([text] if isinstance(text, str) else text, input)
    vectors = Embed.from_pretrained(model, tokenizer, device, batch_size, compile, unpad)(
        texts, pooling=pooling, normalize=normalize, layer=layer)
    if output and output.endswith(".npy"):
        buf = io.BytesIO()
        np.save(buf, vectors)
        atomic_write_bytes(Path(output), buf.getvalue())
        print(f"{len(texts)} vectors of size {vectors.shape[1]} -> {output}", file=sys.stderr)
        return
    lines = "".join(json.dumps({"text": t, "embedding": np.asarray(v).round(6).tolist()}) + "\n"
                    for t, v in zip(texts, vectors))
    if output:
        atomic_write_bytes(Path(output), lines.encode())
    else:
        sys.stdout.write(lines)


# ---------------------------------------------------------------------------------------------------------------------
# classify


@dataclass
class Classify:
    """Sequence classification with the label names stored in the checkpoint (config.id2label)."""

    model: AlbertForSequenceClassification
    tokenizer: object
    device: torch.device
    batch_size: int = 32

    def __post_init__(self):
        _at_least_1(batch_size=self.batch_size)

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto", batch_size: int = 32):
        return cls(*_load(path, AlbertForSequenceClassification, tokenizer, device, ("ForSequenceClassification",)),
                   batch_size)

    @torch.no_grad()
    def __call__(self, texts: list[str], pairs: list[str] | None = None, top_k: int | None = None) -> list[list[dict]]:
        """Per text, labels with scores, best first: softmax (single-label), sigmoid (multi-label), the raw value
        (regression, one entry); top_k None: all labels."""
        _at_least_1(top_k=top_k)
        c = self.model.config
        names = c.id2label or {i: f"LABEL_{i}" for i in range(c.num_labels)}
        problem = c.problem_type or ("regression" if c.num_labels == 1 else "single_label_classification")
        results = []
        for i in range(0, len(texts), self.batch_size):
            b = _encode(self.tokenizer, texts[i:i + self.batch_size],
                        pairs[i:i + self.batch_size] if pairs else None, self.device, model=self.model)
            logits = self.model(**b).logits.float()
            scores = logits if problem == "regression" else \
                logits.sigmoid() if problem == "multi_label_classification" else logits.softmax(-1)
            for row in scores.cpu().tolist():
                ranked = sorted(({"label": names[k], "score": v} for k, v in enumerate(row)),
                                key=lambda r: -r["score"])
                results.append(ranked[:top_k] if top_k else ranked)
        return results


def classify(model: str, *, text: str | list[str] | None = None, text_pair: str | list[str] | None = None,
             input: str | None = None, top_k: int | None = None, tokenizer: str | None = None, device: str = "auto",
             batch_size: int = 32) -> None:
    """Classify texts (or text pairs) with a fine-tuned checkpoint; prints JSON lines with label names and scores.

    Example:
        litebert classify runs/sst2/best --text "a charming and often affecting journey"

    Args:
        model: Checkpoint saved from AlbertForSequenceClassification (label names come from its config).
        text: Texts (repeat the flag or give several values).
        text_pair: Second segments, one per text.
        input: A file with one text per line, or tab-separated pairs ("-" or nothing: stdin).
        top_k: Only the best k labels.
        tokenizer: Tokenizer directory, when it is not saved with the model.
        device: auto | cpu | cuda.
        batch_size: Texts per forward pass.
    """
    texts = _read_inputs([text] if isinstance(text, str) else text, input)
    pairs = [text_pair] if isinstance(text_pair, str) else text_pair
    if pairs is None and texts and all("\t" in t for t in texts):
        texts, pairs = [t.split("\t", 1)[0] for t in texts], [t.split("\t", 1)[1] for t in texts]
    if pairs is not None and len(pairs) != len(texts):
        raise PipelineError(f"{len(texts)} texts but {len(pairs)} text_pair values")
    for t, ranked in zip(texts, Classify.from_pretrained(model, tokenizer, device, batch_size)(texts, pairs, top_k)):
        print(json.dumps({"text": t, "labels": ranked}, ensure_ascii=False))


# ---------------------------------------------------------------------------------------------------------------------
# choose


@dataclass
class Choose:
    """Multiple choice, laid out as RACE fine-tuning lays it out (`race.encode`): per choice, [CLS] context [SEP]
    question + choice [SEP] (the choice fills the question's "_" blank if it has one), the question + choice keeping
    their last `max_qa_length` tokens and the context cut from its end to fit; softmax over the choices."""

    model: AlbertForMultipleChoice
    tokenizer: object
    device: torch.device

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto"):
        return cls(*_load(path, AlbertForMultipleChoice, tokenizer, device, ("ForMultipleChoice",)))

    @torch.no_grad()
    def __call__(self, context: str, choices: list[str], max_length: int | None = None, question: str = "",
                 max_qa_length: int = 128) -> list[dict]:
        if len(choices) < 2:
            raise PipelineError(f"multiple choice needs at least 2 choices, got {len(choices)}")
        example = RaceExample("", "", context, question, list(choices), -1)
        b = race_encode(self.tokenizer, [example], _max_length(self.model, max_length), max_qa_length).collate(
            [0], self.device)
        logits = self.model(**b).logits.float()[0]
        probs = logits.softmax(-1).cpu().tolist()
        return sorted(({"choice": c, "index": i, "score": p} for i, (c, p) in enumerate(zip(choices, probs))),
                      key=lambda r: -r["score"])


def choose(model: str, *, context: str | None = None, choices: list[str] | None = None, question: str = "",
           input: str | None = None, tokenizer: str | None = None, device: str = "auto") -> None:
    """Pick the best choice for a passage and question with a multiple-choice checkpoint (e.g. `litebert race`'s).

    Example:
        litebert choose runs/race/best --context "The sky is blue." --question "What colour is the sky?" --choices red blue

    Args:
        model: Checkpoint saved from AlbertForMultipleChoice.
        context: The passage (the first segment; cut from its end when too long).
        choices: The candidate answers.
        question: The question (second segment, before each choice; a "_" in it is filled by the choice).
        input: JSON lines {"context": ..., "question": ..., "choices": [...]} ("-" or nothing: stdin), instead of
            the flags: context a string, question a string (optional), choices a list of at least 2 strings.
        tokenizer: Tokenizer directory, when it is not saved with the model.
        device: auto | cpu | cuda.
    """
    if input is not None and (context is not None or choices or question):
        raise PipelineError(f"both --input {input} and --context/--question/--choices given; give one of them")
    if context is None and (choices or question) and input is None:
        raise PipelineError("--question and --choices need a --context")
    if context is not None:
        items = [{"context": context, "question": question, "choices": choices or []}]
    else:
        name, lines = _read_lines(input)
        items = [_json_item(name, k, line, {"context": str, "question": str, "choices": list}, {"question": ""})
                 for k, line in lines]
        for (k, _), item in zip(lines, items):
            if len(item["choices"]) < 2 or not all(isinstance(c, str) for c in item["choices"]):
                raise PipelineError(f"{name}:{k}: 'choices' must be a list of at least 2 strings, got "
                                    f"{json.dumps(item['choices'], ensure_ascii=False)[:80]}")
    pipe = Choose.from_pretrained(model, tokenizer, device)
    for item in items:
        print(json.dumps({**item, "ranked": pipe(item["context"], item["choices"], question=item["question"])},
                         ensure_ascii=False))


# ---------------------------------------------------------------------------------------------------------------------
# answer


@dataclass
class Answer:
    """Extractive question answering over contexts of any length.

    The context is cut into windows of `max_seq_length` tokens ([CLS] question [SEP] window [SEP]) that overlap by
    `doc_stride`; a span is only taken from the window where its start token has the most context (the SQuAD
    max-context rule). With the SQuAD v1 head (AlbertForQuestionAnswering) a span scores start + end logits; with
    the ALBERT SQuAD 2.0 head (AlbertForSquadV2) it scores start + end log-probabilities from the head's beams, and
    the answer is "" when the no-answer logit (minimum over windows, as the original) exceeds `null_threshold`.
    Answers are slices of the context through the tokenizer's offsets, so they are exact substrings.
    """

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best: int = 20
    null_threshold: float = 0.0
    batch_size: int = 16

    def __post_init__(self):
        _at_least_1(max_seq_length=self.max_seq_length, doc_stride=self.doc_stride,
                    max_query_length=self.max_query_length, max_answer_length=self.max_answer_length,
                    n_best=self.n_best, batch_size=self.batch_size)

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto", **kw):
        directory = ckpt.resolve(path)
        arch = (ckpt.read_config(directory).architectures or [""])[0]
        model_cls = AlbertForSquadV2 if arch.endswith("ForSquadV2") else AlbertForQuestionAnswering
        return cls(*_load(str(directory), model_cls, tokenizer, device, ("ForQuestionAnswering", "ForSquadV2")), **kw)

    @property
    def is_v2(self) -> bool:
        return isinstance(self.model, AlbertForSquadV2)

    def _windows(self, n_ctx: int, n_query: int) -> list[tuple[int, int]]:
        room = _max_length(self.model, self.max_seq_length) if hasattr(self.model, "config") else self.max_seq_length
        room -= n_query + 3
        if room < 1:
            raise PipelineError(f"max_seq_length {self.max_seq_length} leaves no room for the context")
        return doc_spans(n_ctx, room, self.doc_stride)

    @torch.no_grad()
    def __call__(self, question: str, context: str, top_k: int = 1) -> list[dict]:
        _at_least_1(top_k=top_k)
        tok = self.tokenizer
        q = tok.encode(question, add_special_tokens=False)["input_ids"][: self.max_query_length]
        enc = tok.encode(context, add_special_tokens=False, return_offsets=True)
        c, offsets = enc["input_ids"], enc.offsets
        if not c:
            raise PipelineError("the context is empty")
        spans = self._windows(len(c), len(q))
        rows = [[tok.cls_id, *q, tok.sep_id, *c[s:e], tok.sep_id] for s, e in spans]
        first = len(q) + 2  # index of the first context token in every window
        candidates: list[tuple[float, int, int]] = []  # (score, context start token, context end token)
        null_scores = []
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            T = max(map(len, chunk))
            ids = torch.zeros(len(chunk), T, dtype=torch.long)
            mask = torch.zeros_like(ids)
            types = torch.zeros_like(ids)
            p_mask = torch.ones_like(ids)
            for b, r in enumerate(chunk):
                ids[b, :len(r)] = torch.tensor(r)
                mask[b, :len(r)] = 1
                types[b, first:len(r)] = 1
                p_mask[b, first:len(r) - 1] = 0
                p_mask[b, 0] = 0
            ids, mask, types, p_mask = (t.to(self.device) for t in (ids, mask, types, p_mask))
            if self.is_v2:
                out = self.model(ids, mask, types, p_mask=p_mask)
                # one copy back per batch (not an .item() sync per candidate), then plain Python lists
                s_lp, e_lp, cls = (t.float().cpu().tolist()
                                   for t in (out.start_top_log_probs, out.end_top_log_probs, out.cls_logits))
                s_ix, e_ix = out.start_top_index.cpu().tolist(), out.end_top_index.cpu().tolist()
                null_scores += cls
                K2 = len(e_ix[0]) // len(s_ix[0])
                for b in range(len(chunk)):
                    w = i + b
                    for k, (slp, si) in enumerate(zip(s_lp[b], s_ix[b])):
                        for l in range(K2):
                            candidates += self._candidate(spans, w, si, e_ix[b][k * K2 + l], first,
                                                          slp + e_lp[b][k * K2 + l])
            else:
                out = self.model(ids, mask, types)
                start, end = out.start_logits.float().cpu(), out.end_logits.float().cpu()  # one copy back per batch
                for b in range(len(chunk)):
                    w = i + b
                    n = len(chunk[b])
                    s_row, e_row = start[b].tolist(), end[b].tolist()
                    null_scores.append(s_row[0] + e_row[0])
                    s_top = start[b, first:n - 1].topk(min(self.n_best, n - 1 - first)).indices + first
                    e_top = end[b, first:n - 1].topk(min(self.n_best, n - 1 - first)).indices + first
                    for si in s_top.tolist():
                        for ei in e_top.tolist():
                            candidates += self._candidate(spans, w, si, ei, first, s_row[si] + e_row[ei])
        candidates.sort(key=lambda x: -x[0])
        answers, seen = [], set()
        for score, cs, ce in candidates:
            if (cs, ce) in seen:
                continue
            seen.add((cs, ce))
            a, z = offsets[cs][0], offsets[ce][1]
            answers.append({"answer": context[a:z], "start": a, "end": z, "score": score})
            if len(answers) >= top_k:
                break
        null = min(null_scores)
        if self.is_v2 and null > self.null_threshold:
            return [{"answer": "", "start": 0, "end": 0, "score": null, "no_answer": True}] + answers[: top_k - 1]
        return answers

    def _candidate(self, spans, w, si, ei, first, score) -> list[tuple[float, int, int]]:
        s0, e0 = spans[w]
        cs, ce = s0 + si - first, s0 + ei - first  # window positions -> context token indices
        if not (s0 <= cs < e0 and s0 <= ce < e0) or ce < cs or ce - cs + 1 > self.max_answer_length:
            return []
        if max_context_window(spans, cs) != w:
            return []
        return [(score, cs, ce)]


def answer(model: str, *, question: str | None = None, context: str | None = None, context_file: str | None = None,
           input: str | None = None, top_k: int = 1, max_seq_length: int = 384, doc_stride: int = 128,
           max_answer_length: int = 30, null_threshold: float = 0.0, tokenizer: str | None = None,
           device: str = "auto") -> None:
    """Answer questions from a context of any length (SQuAD v1 or the ALBERT SQuAD 2.0 head); prints JSON lines.

    Example:
        litebert answer runs/squad/best --question "Who wrote Moby-Dick?" --context_file book.txt

    Args:
        model: Checkpoint saved from AlbertForQuestionAnswering or AlbertForSquadV2.
        question: The question.
        context: The context text.
        context_file: Read the context from this file.
        input: JSON lines {"question": ..., "context": ...} ("-" or nothing: stdin), instead of the flags.
        top_k: Answers per question.
        max_seq_length: Tokens per window.
        doc_stride: Tokens between the starts of consecutive windows.
        max_answer_length: Longest answer in tokens.
        null_threshold: SQuAD 2.0 head: answer "" when the no-answer logit exceeds this.
        tokenizer: Tokenizer directory, when it is not saved with the model.
        device: auto | cpu | cuda.
    """
    _at_least_1(top_k=top_k)
    if context is not None and context_file:
        raise PipelineError(f"both --context and --context_file {context_file} given; give one of them")
    if input is not None and (question is not None or context is not None or context_file):
        raise PipelineError(f"both --input {input} and --question/--context/--context_file given; give one of them")
    if question is not None:
        if context_file:
            context = "\n".join(iter_lines(context_file, decoding="strict"))
            if not context.strip():
                raise PipelineError(f"{context_file}: empty; expected the passage to answer from")
        if not context:
            raise PipelineError("give the context with --context or --context_file")
        items = [{"question": question, "context": context}]
    else:
        if context is not None or context_file:
            raise PipelineError("--context and --context_file need a --question")
        name, lines = _read_lines(input)
        items = [_json_item(name, k, line, {"question": str, "context": str}) for k, line in lines]
    pipe = Answer.from_pretrained(model, tokenizer, device, max_seq_length=max_seq_length, doc_stride=doc_stride,
                                  max_answer_length=max_answer_length, null_threshold=null_threshold)
    for item in items:
        print(json.dumps({"question": item["question"], "answers": pipe(item["question"], item["context"], top_k)},
                         ensure_ascii=False))
