"""Sentence-order pretraining instances with whole-word n-gram masking: google-research/albert
`create_pretraining_data.py`, rule for rule, as pure functions over token ids with an explicit `random.Random`.

Deviations from the original, all deliberate (docs/data.md):
- the n-gram length is drawn from the passed `rng` (the original uses the global, unseeded NumPy RNG);
- the 10% random replacement never draws a special/control token (<pad>, <unk>, [CLS], [SEP], [MASK]);
- a continuation piece right after [CLS]/[SEP] starts a new masking unit instead of joining the last word of the
  previous segment (in the original a unit could straddle [SEP] after a front truncation);
- the random "other document" of single-segment negatives comes from the same chunk of documents (bounded memory),
  not from the whole corpus.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Vocab:
    """What instance creation needs to know about the vocabulary."""

    cls_id: int
    sep_id: int
    mask_id: int
    pad_id: int
    word_start: np.ndarray  # (V,) bool: piece id starts a word (the original's _is_start_piece)
    replacement_ids: np.ndarray  # ids the 10% random replacement may draw (no special/control tokens)

    @property
    def size(self) -> int:
        return len(self.word_start)


@dataclass(frozen=True)
class MaskingOptions:
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    ngram: int = 3
    """Longest masked n-gram (in whole words); n is drawn with p(n) proportional to 1/n."""
    favor_shorter_ngram: bool = True
    """False reverses the n-gram probabilities (longer n-grams more likely)."""
    do_whole_word_mask: bool = True


@dataclass
class Instance:
    tokens: list[int]  # [CLS] A [SEP] B [SEP], masked when masking options were given
    num_a: int  # tokens with segment id 0: [CLS] A [SEP]
    sentence_order_label: int  # 1: swapped (or random B), 0: natural order
    word_start: list[int]  # 1 where a masking unit may start (word starts, [CLS], [SEP]); the original's token_boundary
    masked_positions: list[int] = field(default_factory=list)
    masked_labels: list[int] = field(default_factory=list)
    ngram_sizes: list[int] = field(default_factory=list)  # words in each masked unit (statistics only)
    ngram_drawn: list[int] = field(default_factory=list)  # n drawn at each attempt, before fallback (statistics)
    random_b: bool = False  # B came from another document (single-segment chunk, or NSP's random next)


def ngram_probabilities(options: MaskingOptions) -> list[float]:
    p = [1.0 / n for n in range(1, options.ngram + 1)]
    total = sum(p)
    p = [x / total for x in p]
    return p if options.favor_shorter_ngram else p[::-1]


def truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random) -> None:
    """Trim the longer side, one token at a time, from the front or the back with p=0.5 each (in place)."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def create_instances_from_document(
    documents: list[list[list[int]]],
    document_index: int,
    *,
    max_seq_length: int,
    short_seq_prob: float,
    random_next_sentence: bool,
    vocab: Vocab,
    masking: MaskingOptions | None,
    rng: random.Random,
) -> list[Instance]:
    """All instances of one document (a list of sentences, each a list of piece ids).

    SOP (random_next_sentence=False): a chunk of >= 2 sentences is split at a random point; with p=0.5 A and B are
    swapped (label 1). A chunk of one sentence takes B from a random other document (label 1) and puts back the
    unused sentences. BERT NSP (random_next_sentence=True): B is from a random document with p=0.5.
    """
    document = documents[document_index]
    max_num_tokens = max_seq_length - 3  # [CLS], [SEP], [SEP]
    # Usually fill the whole sequence; sometimes (short_seq_prob) aim shorter to match fine-tuning lengths. Drawn once
    # per document, as the original.
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances: list[Instance] = []
    chunk: list[list[int]] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        chunk.append(segment)
        chunk_length += len(segment)
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            if chunk:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                tokens_a = [t for s in chunk[:a_end] for t in s]
                tokens_b: list[int] = []
                random_b = len(chunk) == 1 or (random_next_sentence and rng.random() < 0.5)
                if random_b:
                    label = 1
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):  # try not to pick this same document
                        random_index = rng.randint(0, len(documents) - 1)
                        if random_index != document_index:
                            break
                    random_document = documents[random_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    i -= len(chunk) - a_end  # put the unused sentences back
                elif not random_next_sentence and rng.random() < 0.5:
                    label = 1
                    tokens_b = [t for s in chunk[a_end:] for t in s]
                    tokens_a, tokens_b = tokens_b, tokens_a  # sentence order swapped
                else:
                    label = 0
                    tokens_b = [t for s in chunk[a_end:] for t in s]
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if tokens_a and tokens_b:  # the original asserts; an empty random document cannot happen here
                    inst = _make_instance(tokens_a, tokens_b, label, vocab, masking, rng)
                    inst.random_b = random_b
                    instances.append(inst)
            chunk = []
            chunk_length = 0
        i += 1
    return instances


def _make_instance(tokens_a, tokens_b, label, vocab: Vocab, masking: MaskingOptions | None, rng) -> Instance:
    tokens = [vocab.cls_id, *tokens_a, vocab.sep_id, *tokens_b, vocab.sep_id]
    inst = Instance(tokens=tokens, num_a=len(tokens_a) + 2, sentence_order_label=label,
                    word_start=word_starts(tokens, vocab))
    if masking is not None:
        mask_instance(inst, vocab, masking, rng)
    return inst


def word_starts(tokens: list[int], vocab: Vocab) -> list[int]:
    """1 at [CLS]/[SEP] and at pieces that start a word; 1 also right after [CLS]/[SEP] (a unit never straddles
    a separator)."""
    ws = vocab.word_start
    out = []
    prev_special = True
    for t in tokens:
        special = t == vocab.cls_id or t == vocab.sep_id
        out.append(1 if special or prev_special or ws[t] else 0)
        prev_special = special
    return out


def mask_instance(inst: Instance, vocab: Vocab, options: MaskingOptions, rng: random.Random) -> None:
    """Whole-word n-gram masking, in place (the original's create_masked_lm_predictions without do_permutation)."""
    tokens = inst.tokens
    # candidate units: whole words (or single pieces), never [CLS]/[SEP]
    cand: list[list[int]] = []
    for idx, t in enumerate(tokens):
        if t == vocab.cls_id or t == vocab.sep_id:
            continue
        if options.do_whole_word_mask and cand and not inst.word_start[idx]:
            cand[-1].append(idx)
        else:
            cand.append([idx])
    if options.masked_lm_prob == 0:
        return
    num_to_predict = min(options.max_predictions_per_seq, max(1, int(round(len(tokens) * options.masked_lm_prob))))
    pvals = ngram_probabilities(options)
    cumulative = np.cumsum(pvals).tolist()
    # The original builds, for every start word k, its 1..ngram-word spans cand[k:k+n] (shorter near the end) and
    # shuffles that list. Shuffling the start indices consumes the generator identically; spans are built lazily.
    starts = list(range(len(cand)))
    rng.shuffle(starts)

    covered: set[int] = set()
    masked: list[tuple[int, int]] = []  # (position, original id)
    sizes: list[int] = []
    drawn: list[int] = []
    for k in starts:
        if len(masked) >= num_to_predict:
            break
        spans = [cand[k:k + n] for n in range(1, options.ngram + 1)]
        n = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])  # 0-based n-gram choice, p ~ 1/n
        n = min(n, len(spans) - 1)
        drawn.append(n + 1)
        index_set = [p for word in spans[n] for p in word]
        while len(masked) + len(index_set) > num_to_predict and n > 0:  # fall back to shorter n-grams
            n -= 1
            index_set = [p for word in spans[n] for p in word]
        if len(masked) + len(index_set) > num_to_predict:
            continue
        if any(p in covered for p in index_set):
            continue
        sizes.append(len(spans[n]))
        for p in index_set:
            covered.add(p)
            original = tokens[p]
            if rng.random() < 0.8:
                tokens[p] = vocab.mask_id
            elif rng.random() < 0.5:
                pass  # keep the original token
            else:
                tokens[p] = int(vocab.replacement_ids[rng.randint(0, len(vocab.replacement_ids) - 1)])
            masked.append((p, original))
    masked.sort()
    inst.masked_positions = [p for p, _ in masked]
    inst.masked_labels = [t for _, t in masked]
    inst.ngram_sizes = sizes
    inst.ngram_drawn = drawn
