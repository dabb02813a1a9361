"""Dynamic (batch-time) whole-word n-gram masking, vectorised over the batch.

The same rule as instances.mask_instance, a fresh draw every time a batch is built (so each epoch masks differently),
from a seeded numpy Generator. There is no loop over tokens: the only Python loop is over masking attempts (units tried
in shuffled order, typically 20-40), and each attempt is a handful of numpy operations over the whole batch:

1. units: word starts that are not [CLS]/[SEP]/padding; unit k spans tokens [start_k, start_{k+1}) minus separators;
2. every unit draws an n in 1..ngram with p ~ 1/n and a random priority (the original's shuffled candidate list);
3. in priority order each row takes the n-gram starting at that unit if it fits the row's prediction budget (else
   shorter n-grams, as the original) and overlaps nothing taken before;
4. each selected token: 80% [MASK], 10% kept, 10% a random non-special id; positions/labels padded to P.
"""

from __future__ import annotations

import numpy as np

from litebert.data.instances import MaskingOptions, Vocab, ngram_probabilities


class DynamicMasker:
    def __init__(self, vocab: Vocab, options: MaskingOptions, seed: int = 0):
        self.vocab, self.options = vocab, options
        self.rng = np.random.default_rng(seed)
        self.cumulative = np.cumsum(ngram_probabilities(options))

    def __call__(self, batch: dict[str, np.ndarray], rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """batch from BatchIterator (input_ids, attention_mask, word_start, ...) -> the same batch with input_ids
        masked and masked_positions/masked_labels (B, P) added. Pass `rng` to make the draw a function of your own
        seed (e.g. seed, epoch, step, rank)."""
        rng = rng or self.rng
        o, v = self.options, self.vocab
        ids = batch["input_ids"]
        B, T = ids.shape
        P, G = o.max_predictions_per_seq, o.ngram
        valid = batch["attention_mask"].astype(bool)
        special = (ids == v.cls_id) | (ids == v.sep_id) | ~valid
        if o.do_whole_word_mask:
            starts = batch["word_start"].astype(bool) & ~special
        else:
            starts = ~special

        # units per row, left-aligned in (B, W)
        num_units = starts.sum(1)  # (B,)
        W = max(int(num_units.max()), 1)
        row, col = np.nonzero(starts)
        rank_in_row = np.arange(len(row)) - np.repeat(np.cumsum(num_units) - num_units, num_units)
        unit_start = np.full((B, W + G), T, dtype=np.int64)  # past-the-end units start at T
        unit_start[row, rank_in_row] = col
        # tokens of unit k = non-special tokens in [start_k, start_{k+1}); prefix sums make n-gram sizes O(1)
        maskable = np.concatenate([np.zeros((B, 1), np.int64), np.cumsum(~special, axis=1)], axis=1)  # (B, T+1)
        start_count = np.take_along_axis(maskable, np.minimum(unit_start, T), axis=1)  # (B, W+G)

        budget = np.minimum(P, np.maximum(1, np.rint(valid.sum(1) * o.masked_lm_prob).astype(np.int64)))  # (B,)
        if o.masked_lm_prob == 0:
            budget[:] = 0
        n_draw = np.searchsorted(self.cumulative, rng.random((B, W)) * self.cumulative[-1], side="right")  # 0-based
        n_draw = np.minimum(n_draw, G - 1)
        priority = np.where(np.arange(W)[None] < num_units[:, None], rng.random((B, W)), np.inf)
        order = np.argsort(priority, axis=1, kind="stable")  # (B, W) units in the order they are tried

        covered_units = np.zeros((B, W + G), dtype=bool)
        taken = np.zeros(B, dtype=np.int64)
        ngram_hist = np.zeros(G, dtype=np.int64)
        rows = np.arange(B)
        for t in range(W):
            active = (taken < budget) & (t < num_units)
            if not active.any():
                break
            k = order[:, t]
            n = n_draw[rows, k]
            size = np.zeros(B, dtype=np.int64)
            # shorter n-grams while the chosen one would exceed the budget (the original's fallback loop)
            for _ in range(G):
                size = start_count[rows, np.minimum(k + n + 1, W + G - 1)] - start_count[rows, k]
                shrink = (taken + size > budget) & (n > 0)
                if not shrink.any():
                    break
                n = n - shrink
            end_unit = np.minimum(k + n + 1, num_units)  # exclusive; n-grams near the end are shorter
            overlap = np.zeros(B, dtype=bool)
            for j in range(G):
                overlap |= covered_units[rows, np.minimum(k + j, W + G - 1)] & (k + j < end_unit)
            ok = active & (taken + size <= budget) & ~overlap & (size > 0)
            for j in range(G):
                covered_units[rows[ok], (k + j)[ok]] |= (k + j < end_unit)[ok]
            taken += np.where(ok, size, 0)
            np.add.at(ngram_hist, (end_unit - k - 1)[ok], 1)

        # token-level selection: a token is masked when its unit is covered
        unit_of_token = np.cumsum(starts, axis=1) - 1  # (B, T) index of the unit a token belongs to
        selected = np.take_along_axis(covered_units, np.maximum(unit_of_token, 0), axis=1) & (unit_of_token >= 0)
        selected &= ~special
        # 80/10/10 per token
        u = rng.random((B, T))
        to_mask = selected & (u < 0.8)
        to_random = selected & (u >= 0.9)
        new_ids = ids.copy()
        new_ids[to_mask] = v.mask_id
        new_ids[to_random] = v.replacement_ids[rng.integers(0, len(v.replacement_ids), int(to_random.sum()))]
        # positions padded to P (in increasing order), labels -100 where there is no prediction
        key = np.where(selected, np.arange(T)[None], T + np.arange(T)[None])
        positions = np.sort(key, axis=1)[:, :P]
        has = positions < T
        positions = np.where(has, positions, 0)
        labels = np.where(has, np.take_along_axis(ids, positions, axis=1), -100)
        out = dict(batch)
        out.update(input_ids=new_ids, masked_positions=positions, masked_labels=labels)
        out.pop("word_start", None)
        out["ngram_hist"] = ngram_hist
        return out
