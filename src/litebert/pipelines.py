"""Inference pipelines: batched, on the GPU when there is one. So far: fill-mask (top-k, optionally restricted to
target words), as a Python API and as `litebert fill-mask`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from litebert import checkpoint as ckpt
from litebert.model import AlbertForMaskedLM
from litebert.tokenizer import load_tokenizer


class PipelineError(ValueError):
    """Bad pipeline input (no [MASK] in a text, unknown target word, not a masked-LM checkpoint, ...)."""


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class FillMask:
    """`FillMask.from_pretrained(dir)(["The capital of France is [MASK]."], top_k=5)` -> per text, per [MASK],
    a ranked list of {"token", "token_str", "score", "sequence"}."""

    model: AlbertForMaskedLM
    tokenizer: object
    device: torch.device
    batch_size: int = 32

    @classmethod
    def from_pretrained(cls, path: str, tokenizer: str | None = None, device: str = "auto", batch_size: int = 32):
        directory = ckpt.resolve(path)
        config = ckpt.read_config(directory)
        if config.architectures and not any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in config.architectures):
            raise PipelineError(f"{directory}: a {config.architectures[0]} checkpoint has no MLM head; fill-mask needs "
                                f"one saved from pretraining (ForPreTraining) or ForMaskedLM")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ForPreTraining checkpoint carries an SOP head fill-mask does not use
            model = AlbertForMaskedLM.from_pretrained(directory)
        dev = _device(device)
        return cls(model.eval().to(dev), load_tokenizer(tokenizer or directory), dev, batch_size)

    @torch.no_grad()
    def __call__(self, texts: list[str], top_k: int = 5, targets: list[str] | None = None) -> list[list[list[dict]]]:
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
            enc = tok.encode_batch(chunk, padding=True, truncation=True, return_tensors="pt")
            ids = enc["input_ids"].to(self.device)
            logits = self.model(ids, enc["attention_mask"].to(self.device),
                                enc["token_type_ids"].to(self.device)).logits.float()
            for b in range(len(chunk)):
                per_mask = []
                for pos in (ids[b] == tok.mask_id).nonzero().flatten().tolist():
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


def _read_inputs(texts: list[str] | None, input: str | None) -> list[str]:
    if texts:
        return list(texts)
    if input and input != "-":
        path = Path(input)
        if not path.is_file():
            raise PipelineError(f"{input}: no such file")
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if sys.stdin.isatty() and not input:
        raise PipelineError("no input: pass texts with --text, a file with --input FILE, or pipe lines to stdin")
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


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
