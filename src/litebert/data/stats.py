"""`litebert data stats`: what a data directory holds, measured from the shards themselves (not trusted from the
manifest): instances, tokens, padding, masking rate and its 80/10/10 split, sentence-order balance; plus the n-gram
histograms recorded at creation."""

from __future__ import annotations

import numpy as np

from litebert.data.shards import PretrainingData


def data_statistics(directory: str) -> dict:
    data = PretrainingData(directory)
    tok = data.manifest["tokenizer"]
    T = data.max_seq_length
    n = tokens = sop = masked = as_mask = as_keep = 0
    for shard in data.shards:
        lengths = np.diff(shard.offsets)
        n += len(lengths)
        tokens += int(lengths.sum())
        sop += int(np.asarray(shard.sop).sum())
        if data.static_masking:
            moff = np.asarray(shard.mask_offsets)
            row = np.repeat(np.arange(len(lengths)), np.diff(moff))
            at = np.asarray(shard.tokens)[np.asarray(shard.offsets)[:-1][row] + np.asarray(shard.mask_positions)]
            labels = np.asarray(shard.mask_labels)
            masked += len(labels)
            as_mask += int((at == tok["mask_id"]).sum())
            as_keep += int(((at == labels) & (at != tok["mask_id"])).sum())
    totals = data.manifest.get("totals", {})
    stats = {
        "directory": str(directory),
        "instances": n,
        "shards": len(data.shards),
        "tokens": tokens,
        "max_seq_length": T,
        "mean_length": tokens / max(n, 1),
        "padding_fraction": 1 - tokens / max(n * T, 1),
        "sentence_order": {"swapped_fraction": sop / max(n, 1),
                           "random_b_fraction": totals.get("random_b", 0) / max(n, 1)},
        "static_masking": data.static_masking,
    }
    if data.static_masking:
        stats["masking"] = {
            "masked_fraction": masked / max(tokens, 1),
            "predictions_per_instance": masked / max(n, 1),
            "mask": as_mask / max(masked, 1), "keep": as_keep / max(masked, 1),
            "random": (masked - as_mask - as_keep) / max(masked, 1),
        }
        for key in ("ngram_hist", "ngram_drawn"):
            h = np.asarray(totals.get(key, []), dtype=float)
            stats["masking"][key] = (h / max(h.sum(), 1)).round(4).tolist()
    return stats


def format_statistics(s: dict) -> str:
    lines = [f"{s['directory']}: {s['instances']:,} instances in {s['shards']} shards, {s['tokens']:,} tokens",
             f"  length: mean {s['mean_length']:.1f} of {s['max_seq_length']}, padding {s['padding_fraction']:.1%}",
             f"  sentence order: {s['sentence_order']['swapped_fraction']:.1%} label 1 "
             f"({s['sentence_order']['random_b_fraction']:.1%} from single-segment random-document negatives)"]
    if s["static_masking"]:
        m = s["masking"]
        lines += [f"  masked: {m['masked_fraction']:.2%} of tokens, {m['predictions_per_instance']:.1f} per instance; "
                  f"[MASK] {m['mask']:.1%} / kept {m['keep']:.1%} / random {m['random']:.1%}",
                  f"  n-gram words (realised): {m['ngram_hist']}; drawn: {m['ngram_drawn']}"]
    else:
        lines.append("  masks: none stored (dynamic masking at batch time)")
    return "\n".join(lines)
