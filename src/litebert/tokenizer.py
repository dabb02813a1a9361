"""Tokenizers for ALBERT (SentencePiece) and BERT (WordPiece): encode, offsets, decode, load, save, train.

:class:`Tokenizer` reads a SentencePiece model and has two modes:

* ``"hf"`` (default) behaves like the released Hugging Face ALBERT tokenizers (the ``tokenizer.json`` of
  ``albert/albert-base-v2``): ``\\`\\``/``''`` -> ``"``, NFKD accent stripping unless ``keep_accents``, lowercasing when
  ``do_lower_case``, the model's own normalisation (``precompiled_charsmap``), whitespace splitting, and the
  digit-comma rule done the way transformers' ``AlbertConverter`` does it (pieces such as ``▁2010,`` get their score
  lowered by 100, so the best segmentation ends in a separate ``,``). For unigram models it runs on the Rust
  ``tokenizers`` library with exactly the pipeline of transformers' ``AlbertTokenizer`` (batches are encoded in
  parallel threads there).
* ``"original"`` reproduces google-research/albert ``tokenization.py`` as it runs: ``preprocess_text`` (collapse
  whitespace, NFKD + drop combining marks, lowercase) without quote replacement, then SentencePiece itself, then the
  digit-comma re-split of ``encode_pieces`` (a piece ending in ``<digit>,`` is re-encoded without the comma and ``,``
  appended). Its branch that should drop a new leading ``▁`` never fires in the original (it compares bytes to a
  3-byte string), so here it does not fire either. It runs on the ``sentencepiece`` C++ library (batches in threads).

BPE SentencePiece models always run on ``sentencepiece`` (``tokenizers``' Unigram cannot represent them); in ``"hf"``
mode they get the preprocessing and digit-comma re-split of transformers 4's sentencepiece ``AlbertTokenizer``.

Special tokens ``<pad> <unk> [CLS] [SEP] [MASK]`` (ids 0-4 in ALBERT models) are looked up in the model.
Encodings carry ``token_type_ids`` always (0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``) and, on request, character
offsets of every token into the original, unnormalised text.

:class:`WordPieceTokenizer` does the same for BERT ``vocab.txt`` files (BERT's basic tokenizer + WordPiece, on the
``tokenizers`` library), and :func:`train_tokenizer` trains either kind with ALBERT's recipe.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sentencepiece as spm
from huggingface_hub import snapshot_download
from sentencepiece import sentencepiece_model_pb2
from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models as rust_models
from tokenizers import trainers as rust_trainers

from litebert.textio import TextFileError, atomic_write_bytes, iter_corpus_lines, iter_lines

__all__ = [
    "ALBERT_SPECIAL_TOKENS",
    "ALBERT_USER_SYMBOLS",
    "BERT_SPECIAL_TOKENS",
    "BatchEncoding",
    "Encoding",
    "Tokenizer",
    "TokenizerFileError",
    "TokenizerNotFoundError",
    "TokenizerTrainingError",
    "TruncationError",
    "WordPieceTokenizer",
    "is_word_start_piece",
    "load_tokenizer",
    "preprocess_text",
    "train_tokenizer",
    "truncation_lengths",
]

logger = logging.getLogger(__name__)

SPIECE_UNDERLINE = "\u2581"  # "▁", SentencePiece's marker for a preceding space
ALBERT_SPECIAL_TOKENS = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")
BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# --user_defined_symbols of the ALBERT README's spm_train command.
ALBERT_USER_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
# What HF's ALBERT tokenizer.json files subtract from the score of a "<digit>," piece (transformers AlbertConverter).
DIGIT_COMMA_PENALTY = 100.0

Mode = Literal["hf", "original"]
TruncationStrategy = Literal["longest_first", "only_first", "only_second"]
Padding = Literal["longest", "max_length"]
ReturnTensors = Literal["np", "pt"]

_SPM_MODEL_FILE = "spiece.model"
_WORDPIECE_VOCAB_FILE = "vocab.txt"
_CONFIG_FILE = "tokenizer_config.json"
_SPECIAL_MAP_FILE = "special_tokens_map.json"
_TOKENIZER_JSON = "tokenizer.json"
_WORD_RE = re.compile(r"\S+")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


# ---------------------------------------------------------------------------------------------------------------------
# Errors


class TokenizerFileError(ValueError):
    """A tokenizer file or directory is malformed, of the wrong kind, or lacks something it needs."""


class TokenizerNotFoundError(FileNotFoundError):
    """A tokenizer path does not exist and could not be fetched from the Hugging Face Hub."""


class TokenizerTrainingError(ValueError):
    """Vocabulary training cannot proceed with the given inputs or settings."""


class TruncationError(ValueError):
    """The requested truncation cannot reach ``max_length`` (same cases where transformers raises)."""


# ---------------------------------------------------------------------------------------------------------------------
# Text rules of the original ALBERT


def preprocess_text(text: str, *, lower: bool, keep_accents: bool = False, replace_quotes: bool = False) -> str:
    """ALBERT's ``preprocess_text``: collapse whitespace, NFKD + drop combining marks, lowercase.

    Args:
        text: raw text.
        lower: lowercase (``do_lower_case``).
        keep_accents: skip the NFKD + combining-mark removal (google-research/albert always strips accents).
        replace_quotes: replace ````` `` and ``''`` by ``"`` (what the Hugging Face ALBERT tokenizers add).
    """
    out = " ".join(text.strip().split())
    if replace_quotes:
        out = out.replace("``", '"').replace("''", '"')
    if not keep_accents and not out.isascii():
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
    if lower:
        out = out.lower()
    return out


def _preprocess_aligned(
    text: str, *, lower: bool, keep_accents: bool, replace_quotes: bool
) -> tuple[str, list[int], list[int]]:
    """:func:`preprocess_text` done one original character at a time, recording where each output character came from.

    Returns the preprocessed text and, for each of its characters, the start and end of its source span in ``text``.
    Collapsed whitespace becomes one space with an empty span at the start of the next word. NFKD + dropping
    combining marks and lowercasing are per-character operations (canonical reordering only moves the marks that are
    dropped), so the result has the length of the whole-string version; only a final-sigma ``ς``/``σ`` may differ.
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _WORD_RE.finditer(text):
        ws, we = match.span()
        if chars:
            chars.append(" ")
            starts.append(ws)
            ends.append(ws)
        word = match.group()
        if word.isascii() and not (replace_quotes and ("``" in word or "''" in word)):
            chars.append(word.lower() if lower else word)
            starts.extend(range(ws, we))
            ends.extend(range(ws + 1, we + 1))
            continue
        i = ws
        while i < we:
            if replace_quotes and i + 1 < we and text[i] in "`'" and text[i + 1] == text[i]:
                chars.append('"')
                starts.append(i)
                ends.append(i + 2)
                i += 2
                continue
            out = text[i]
            if not keep_accents and not out.isascii():
                out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
            if lower:
                out = out.lower()
            chars.append(out)
            starts.extend([i] * len(out))
            ends.extend([i + 1] * len(out))
            i += 1
    return "".join(chars), starts, ends


def _is_digit_comma(piece: str) -> bool:
    """google-research/albert's test for a piece to re-split: longer than 1, ends in ``,`` after a digit."""
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


_GR_SPECIAL_PIECES = frozenset('!"#$%&"()*+,-./:;?@[\\]^_`{|}~')
_GR_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz") | _GR_SPECIAL_PIECES


def is_word_start_piece(piece: str) -> bool:
    """google-research/albert ``_is_start_piece_sp``: does this SentencePiece piece start a word?

    True when the piece starts with ``▁`` or ``<``, is a single ASCII punctuation mark, or contains any character that
    is neither an ASCII letter (either case) nor ASCII punctuation (digits, ``'``, accented and foreign characters,
    ``€``, ``£``: the original treats those as whole words). Whole-word n-gram masking glues every other piece to the
    piece before it.
    """
    if piece.startswith((SPIECE_UNDERLINE, "<")) or piece in _GR_SPECIAL_PIECES:
        return True
    return not all(c.lower() in _GR_WORD_CHARS for c in piece)


# ---------------------------------------------------------------------------------------------------------------------
# Encodings


class _ModelInputs(Mapping[str, Any]):
    """A read-only mapping of the three model inputs over a dataclass's fields, so ``model(**encoding)`` works."""

    _KEYS = ("input_ids", "token_type_ids", "attention_mask")

    def __getitem__(self, key: str) -> Any:
        if key not in self._KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


@dataclass
class Encoding(_ModelInputs):
    """One encoded text or text pair.

    Behaves as a read-only mapping of the model inputs (``input_ids``, ``token_type_ids``, ``attention_mask``), so
    ``model(**encoding)`` works once converted to tensors.
    """

    input_ids: list[int]
    token_type_ids: list[int]
    """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``, 0 for padding."""
    attention_mask: list[int]
    offsets: list[tuple[int, int]] | None = None
    """Per token, ``(start, end)`` character offsets into the original text of its segment (A or B); ``(0, 0)`` for
    special tokens and padding. ``None`` unless asked for."""


@dataclass
class BatchEncoding(_ModelInputs):
    """A batch of encodings: lists of lists, or ``(B, T)`` int64 arrays/tensors when ``return_tensors`` was given.

    Behaves as a read-only mapping of the model inputs, so ``model(**batch)`` works with ``return_tensors="pt"``.
    """

    input_ids: Any
    token_type_ids: Any
    attention_mask: Any
    offsets: list[list[tuple[int, int]]] | None = None
    """Per sequence and token, character offsets into the original texts (see :attr:`Encoding.offsets`)."""

    @property
    def num_sequences(self) -> int:
        """Number of encoded texts (or pairs) in the batch."""
        return len(self.input_ids)


def truncation_lengths(
    len_a: int, len_b: int | None, max_tokens: int, strategy: TruncationStrategy
) -> tuple[int, int | None]:
    """Lengths that A and B keep so that ``len_a + len_b <= max_tokens``, exactly as the ``tokenizers`` library does.

    ``longest_first`` (pairs): if the shorter sequence fits in half, only the longer is cut; otherwise both get half
    (the longer one gets the odd token). ``only_first``/``only_second`` cut one sequence and raise
    :class:`TruncationError` when that is not enough (transformers raises there too).

    Args:
        len_a: length of sequence A.
        len_b: length of sequence B, or None for a single sequence.
        max_tokens: the budget for A and B together (``max_length`` minus the special tokens).
        strategy: the truncation strategy.
    """
    if max_tokens <= 0:
        return 0, (None if len_b is None else 0)
    total = len_a + (len_b or 0)
    if total <= max_tokens:
        return len_a, len_b
    to_remove = total - max_tokens
    if strategy == "longest_first":
        if len_b is None:
            return max_tokens, None
        n1, n2, swap = len_a, len_b, False
        if n1 > n2:
            n1, n2, swap = n2, n1, True
        n2 = n1 if n1 > max_tokens else max(n1, max_tokens - n1)
        if n1 + n2 > max_tokens:
            n1 = max_tokens // 2
            n2 = n1 + max_tokens % 2
        return (n2, n1) if swap else (n1, n2)
    if strategy == "only_first":
        if len_a <= to_remove:
            raise TruncationError(
                f"cannot truncate to {max_tokens} tokens with only_first: the first sequence has {len_a} tokens and "
                f"{to_remove} must go (the second has {len_b})"
            )
        return len_a - to_remove, len_b
    if strategy == "only_second":
        if len_b is None:
            raise TruncationError("truncation='only_second' needs a pair of texts, but only one was given")
        if len_b <= to_remove:
            raise TruncationError(
                f"cannot truncate to {max_tokens} tokens with only_second: the second sequence has {len_b} tokens "
                f"and {to_remove} must go (the first has {len_a})"
            )
        return len_a, len_b - to_remove
    raise ValueError(f"unknown truncation strategy {strategy!r}; expected longest_first, only_first or only_second")


# ---------------------------------------------------------------------------------------------------------------------
# Shared encoding machinery


RawEncoding = tuple[list[list[int]], list[list[tuple[int, int]]] | None]


class _BaseTokenizer(ABC):
    """What SentencePiece and WordPiece tokenizers share: special tokens, encoding layout, truncation, padding."""

    special_tokens: tuple[str, str, str, str, str]
    model_max_length: int

    def __init__(self, pieces: list[str], special_tokens: tuple[str, str, str, str, str], source: str) -> None:
        self._pieces = pieces
        self._piece_to_id = {p: i for i, p in enumerate(pieces)}
        self.special_tokens = special_tokens
        missing = [t for t in special_tokens if t not in self._piece_to_id]
        if missing:
            raise TokenizerFileError(
                f"{source}: the vocabulary has no {', '.join(missing)} token(s); a tokenizer for this model needs "
                f"{', '.join(special_tokens)}"
            )
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self._piece_to_id[t] for t in special_tokens
        )
        self._word_start_table: np.ndarray | None = None

    # -- subclass hooks -------------------------------------------------------------------------------------------

    @abstractmethod
    def _encode_raw(self, texts: Sequence[str], with_offsets: bool, split_special_tokens: bool = False) -> RawEncoding:
        """Token ids (no special tokens) of each text and, if asked, their character offsets into the text.
        ``split_special_tokens``: special-token strings in the text are ordinary text (never their special ids)."""

    @abstractmethod
    def _decode_batch(self, batch_ids: Sequence[Sequence[int]], skip_special_tokens: bool) -> list[str]:
        """Decode several id lists."""

    @abstractmethod
    def normalize(self, text: str) -> str:
        """The text as the model segments it (after all normalisation), with plain spaces between words."""

    @abstractmethod
    def is_word_start(self, token: str | int) -> bool:
        """Whether a token (piece string or id) starts a word, for whole-word masking."""

    @abstractmethod
    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write the tokenizer files to ``directory``."""

    # -- vocabulary -------------------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self._pieces)

    def __len__(self) -> int:
        return len(self._pieces)

    @property
    def special_ids(self) -> frozenset[int]:
        """Ids of the five special tokens."""
        return frozenset((self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id))

    def get_vocab(self) -> dict[str, int]:
        """Token -> id."""
        return dict(self._piece_to_id)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """Token strings of ``ids``."""
        return [self._pieces[i] for i in ids]

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (unknown tokens map to the unknown token's id)."""
        return [self._piece_to_id.get(t, self.unk_id) for t in tokens]

    @property
    def word_start_table(self) -> np.ndarray:
        """``(V,)`` bool array: ``table[id]`` is :meth:`is_word_start` of that id (for vectorised masking)."""
        if self._word_start_table is None:
            self._word_start_table = np.array([self.is_word_start(p) for p in self._pieces], dtype=bool)
        return self._word_start_table

    # -- encoding ---------------------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (no special tokens)."""
        ids, _ = self._encode_raw([text], False)
        return self.convert_ids_to_tokens(ids[0])

    def encode(
        self,
        text: str,
        pair: str | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | TruncationStrategy = False,
        max_length: int | None = None,
        padding: bool | Padding = False,
        pad_to_multiple_of: int | None = None,
        return_offsets: bool = False,
    ) -> Encoding:
        """Encode one text, or a pair ``(text, pair)`` as ``[CLS] text [SEP] pair [SEP]``. An empty ``pair`` is no
        second segment (``[CLS] text [SEP]``), as in transformers' ``encode(text, "")`` and the original.

        See :meth:`encode_batch` for the arguments.
        """
        batch = self.encode_batch(
            [text],
            None if pair is None else [pair],
            add_special_tokens=add_special_tokens,
            truncation=truncation,
            max_length=max_length,
            padding=padding,
            pad_to_multiple_of=pad_to_multiple_of,
            return_offsets=return_offsets,
        )
        return Encoding(
            input_ids=batch.input_ids[0],
            token_type_ids=batch.token_type_ids[0],
            attention_mask=batch.attention_mask[0],
            offsets=None if batch.offsets is None else batch.offsets[0],
        )

    def encode_batch(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | TruncationStrategy = False,
        max_length: int | None = None,
        padding: bool | Padding = False,
        pad_to_multiple_of: int | None = None,
        return_offsets: bool = False,
        return_tensors: ReturnTensors | None = None,
        split_special_tokens: bool = False,
    ) -> BatchEncoding:
        """Encode many texts (or pairs ``texts[i], pairs[i]``) at once.

        Args:
            texts: first segments.
            pairs: second segments, one per text, or None. An empty string means no second segment for that row
                (``[CLS] A [SEP]``): the original adds B only ``if example.text_b``, and transformers'
                ``tokenizer(a, "")`` does the same.
            add_special_tokens: wrap as ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``.
            truncation: False, True (= ``"longest_first"``), ``"longest_first"``, ``"only_first"`` or
                ``"only_second"``; results equal transformers' (``tokenizers``') truncation.
            max_length: total length (special tokens included) to truncate to; defaults to ``model_max_length``
                when truncating. Also the target of ``padding="max_length"``.
            padding: False, True (= ``"longest"``), ``"longest"`` (longest in the batch) or ``"max_length"``.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_offsets: also return character offsets into the original texts.
            return_tensors: ``"np"`` or ``"pt"`` for ``(B, T)`` int64 arrays/tensors (all rows must have one length).
            split_special_tokens: encode special-token strings in the text (``[SEP]``, ``[MASK]``, ``<pad>``, ...)
                as ordinary text, never as the special ids, as SentencePiece itself does (CONTROL pieces are never
                produced from text) and BERT's original tokenizer does. For pretraining corpora, whose text must not
                inject separators or masks; off by default, as in transformers.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a sequence of texts; use encode() for a single text")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(pairs)} pairs; pass one pair per text")
        strategy: TruncationStrategy | None
        if truncation is True:
            strategy = "longest_first"
        elif truncation is False or truncation is None:
            strategy = None
        elif truncation in ("longest_first", "only_first", "only_second"):
            strategy = truncation
        else:
            raise ValueError(f"truncation={truncation!r}; expected a bool, longest_first, only_first or only_second")
        pad_mode: Padding | None = "longest" if padding is True else (padding or None)
        if pad_mode not in (None, "longest", "max_length"):
            raise ValueError(f"padding={padding!r}; expected a bool, 'longest' or 'max_length'")
        if max_length is None and (strategy is not None or pad_mode == "max_length"):
            max_length = self.model_max_length
        has_pair = [pairs is not None and pairs[i] != "" for i in range(len(texts))]
        n_special = (3 if any(has_pair) else 2) if add_special_tokens else 0
        if strategy is not None and max_length is not None and max_length < n_special:
            raise TruncationError(f"max_length={max_length} leaves no room for the {n_special} special tokens")

        a_ids, a_offs = self._encode_raw(list(texts), return_offsets, split_special_tokens)
        b_ids, b_offs = (None, None) if pairs is None else self._encode_raw(list(pairs), return_offsets,
                                                                            split_special_tokens)

        cls, sep = self.cls_id, self.sep_id
        all_ids: list[list[int]] = []
        all_types: list[list[int]] = []
        all_offs: list[list[tuple[int, int]]] | None = [] if return_offsets else None
        limit = max_length if strategy is not None else None
        for i, a in enumerate(a_ids):
            b = b_ids[i] if has_pair[i] else None  # type: ignore[index]
            la, lb = len(a), None if b is None else len(b)
            if limit is not None:
                budget = limit - ((3 if b is not None else 2) if add_special_tokens else 0)
                la, lb = truncation_lengths(len(a), None if b is None else len(b), budget, strategy)  # type: ignore[arg-type]
                a = a[:la]
                if b is not None:
                    b = b[:lb]
            if b is None:
                ids = [cls, *a, sep] if add_special_tokens else list(a)
                types = [0] * len(ids)
            elif add_special_tokens:
                ids = [cls, *a, sep, *b, sep]
                types = [0] * (la + 2) + [1] * (len(b) + 1)
            else:
                ids = [*a, *b]
                types = [0] * la + [1] * len(b)
            all_ids.append(ids)
            all_types.append(types)
            if all_offs is not None:
                oa = a_offs[i][:la]  # type: ignore[index]
                ob = None if b is None else b_offs[i][: len(b)]  # type: ignore[index]
                if add_special_tokens:
                    offs = [(0, 0), *oa, (0, 0)] + ([] if ob is None else [*ob, (0, 0)])
                else:
                    offs = [*oa] + ([] if ob is None else [*ob])
                all_offs.append(offs)
        all_mask = [[1] * len(x) for x in all_ids]

        if pad_mode is not None:
            target = max((len(x) for x in all_ids), default=0) if pad_mode == "longest" else max_length
            assert target is not None
            if pad_to_multiple_of:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
            for k, ids in enumerate(all_ids):
                n_pad = target - len(ids)
                if n_pad > 0:
                    ids.extend([self.pad_id] * n_pad)
                    all_types[k].extend([0] * n_pad)
                    all_mask[k].extend([0] * n_pad)
                    if all_offs is not None:
                        all_offs[k].extend([(0, 0)] * n_pad)

        if return_tensors is not None:
            lengths = {len(x) for x in all_ids}
            if len(lengths) > 1:
                raise ValueError(
                    f"return_tensors={return_tensors!r} needs sequences of one length, got lengths "
                    f"{min(lengths)}..{max(lengths)}; pass padding='longest' or padding='max_length'"
                )
            return BatchEncoding(
                input_ids=_to_tensor(all_ids, return_tensors),
                token_type_ids=_to_tensor(all_types, return_tensors),
                attention_mask=_to_tensor(all_mask, return_tensors),
                offsets=all_offs,
            )
        return BatchEncoding(input_ids=all_ids, token_type_ids=all_types, attention_mask=all_mask, offsets=all_offs)

    # -- decoding ---------------------------------------------------------------------------------------------------

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Text of ``ids`` (special tokens dropped unless ``skip_special_tokens=False``)."""
        return self._decode_batch([_as_id_list(ids)], skip_special_tokens)[0]

    def decode_batch(self, batch_ids: Sequence[Sequence[int]], *, skip_special_tokens: bool = True) -> list[str]:
        """Texts of several id sequences (rows of a padded batch work: padding is a special token)."""
        return self._decode_batch([_as_id_list(x) for x in batch_ids], skip_special_tokens)


def _as_id_list(ids: Sequence[int]) -> list[int]:
    if hasattr(ids, "tolist"):
        return list(ids.tolist())  # numpy array or torch tensor
    return [int(i) for i in ids]


def _to_tensor(rows: list[list[int]], kind: ReturnTensors) -> Any:
    array = np.asarray(rows, dtype=np.int64).reshape(len(rows), len(rows[0]) if rows else 0)
    if kind == "np":
        return array
    if kind == "pt":
        # Imported here so that tokenizing (e.g. in data-preparation processes) does not pay for importing torch.
        import torch

        return torch.from_numpy(array)
    raise ValueError(f"return_tensors={kind!r}; expected 'np' or 'pt'")


def _fill_zero_width(spans: list[tuple[int, int] | None], text_len: int) -> list[tuple[int, int]]:
    """Give tokens with no characters (a lone ``▁``) an empty span at the start of the next token."""
    out: list[tuple[int, int]] = [(0, 0)] * len(spans)
    nxt = text_len
    for k in range(len(spans) - 1, -1, -1):
        span = spans[k]
        if span is None:
            out[k] = (nxt, nxt)
        else:
            out[k] = span
            nxt = span[0]
    return out


# ---------------------------------------------------------------------------------------------------------------------
# SentencePiece (ALBERT)


def _parse_spm_model(data: bytes, source: str) -> sentencepiece_model_pb2.ModelProto:
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError (not a public class across versions)
        raise TokenizerFileError(f"{source}: not a SentencePiece model file ({e})") from e
    if len(proto.pieces) == 0:
        raise TokenizerFileError(f"{source}: not a SentencePiece model file (no pieces in it)")
    return proto


class _RustUnigramBackend:
    """Unigram SentencePiece model on ``tokenizers``: the pipeline of transformers' ``AlbertTokenizer``."""

    def __init__(
        self, proto: sentencepiece_model_pb2.ModelProto, pieces: list[str], *, lower: bool, keep_accents: bool
    ) -> None:
        self._proto, self._lower, self._keep_accents = proto, lower, keep_accents
        tk = self._build(match_specials=True)
        cls_id, sep_id = pieces.index("[CLS]"), pieces.index("[SEP]")
        tk.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ALBERT_SPECIAL_TOKENS])
        self.rust = tk
        self._plain: RustTokenizer | None = None  # split_special_tokens, built on first use
        self._lone_space_id = pieces.index(SPIECE_UNDERLINE) if SPIECE_UNDERLINE in pieces else -1
        self._quote_start_ids = frozenset(i for i, p in enumerate(pieces) if p.lstrip(SPIECE_UNDERLINE).startswith('"'))

    def _build(self, match_specials: bool) -> RustTokenizer:
        """The normaliser, pre-tokeniser and Unigram model. Without `match_specials`, CONTROL and UNKNOWN pieces
        get a name containing a space, which whitespace splitting makes unmatchable: ``tokenizers``' Unigram would
        otherwise segment text such as "<pad>" into that piece, which SentencePiece never does (ids and scores stay)."""
        proto, lower, keep_accents = self._proto, self._lower, self._keep_accents
        unmatchable = (sentencepiece_model_pb2.ModelProto.SentencePiece.CONTROL,
                       sentencepiece_model_pb2.ModelProto.SentencePiece.UNKNOWN)
        vocab = [
            (p.piece if match_specials or p.type not in unmatchable else f" {p.piece}",
             p.score - DIGIT_COMMA_PENALTY if _is_digit_comma(p.piece) else p.score)
            for p in proto.pieces
        ]
        tk = RustTokenizer(rust_models.Unigram(vocab, unk_id=proto.trainer_spec.unk_id, byte_fallback=False))
        steps: list[Any] = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not keep_accents:
            steps += [normalizers.NFKD(), normalizers.StripAccents()]
        if lower:
            steps.append(normalizers.Lowercase())
        if proto.normalizer_spec.precompiled_charsmap:
            steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
        tk.normalizer = normalizers.Sequence(steps)
        tk.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE)]
        )
        tk.decoder = decoders.Metaspace(replacement=SPIECE_UNDERLINE)
        return tk

    def encode(self, texts: list[str], with_offsets: bool, split_special_tokens: bool = False) -> RawEncoding:
        tk = self.rust
        if split_special_tokens:
            if self._plain is None:
                self._plain = self._build(match_specials=False)
            tk = self._plain
        if not with_offsets:
            return [e.ids for e in tk.encode_batch_fast(texts, add_special_tokens=False)], None
        all_ids, all_offs = [], []
        for text, enc in zip(texts, tk.encode_batch(texts, add_special_tokens=False)):
            ids = enc.ids
            all_ids.append(ids)
            all_offs.append(self._fix_offsets(text, ids, enc.offsets))
        return all_ids, all_offs

    def _fix_offsets(self, text: str, ids: list[int], offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
        # tokenizers aligns a '"' made from `` or '' with the second character of the pair only; and gives a lone "▁"
        # the span of the character after it. Widen the first and give the second an empty span.
        spans: list[tuple[int, int] | None] = []
        for tid, (s, e) in zip(ids, offsets):
            if tid == self._lone_space_id:
                spans.append(None)
                continue
            if tid in self._quote_start_ids and s >= 1 and text[s] in "`'" and text[s - 1] == text[s]:
                s -= 1
            spans.append((s, e))
        return _fill_zero_width(spans, len(text))

    def normalize(self, text: str) -> str:
        return " ".join(self.rust.normalizer.normalize_str(text).split())

    def decode(self, batch_ids: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return self.rust.decode_batch(batch_ids, skip_special_tokens=skip_special_tokens)


class _SentencePieceBackend:
    """Any SentencePiece model on the ``sentencepiece`` C++ library, with ALBERT's preprocessing in Python."""

    def __init__(
        self,
        model_bytes: bytes,
        pieces: list[str],
        *,
        lower: bool,
        keep_accents: bool,
        replace_quotes: bool,
        strip_resplit_prefix: bool,
        num_threads: int,
        special_ids: frozenset[int],
    ) -> None:
        self.sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self._pieces = pieces
        self._lower, self._keep_accents, self._replace_quotes = lower, keep_accents, replace_quotes
        self._strip_resplit_prefix = strip_resplit_prefix
        self._num_threads = num_threads
        self._special_ids = special_ids
        self._digit_comma_ids = frozenset(i for i, p in enumerate(pieces) if _is_digit_comma(p))
        self._resplit_cache: dict[int, tuple[list[int], list[str]]] = {}
        self._decoder = decoders.Metaspace(replacement=SPIECE_UNDERLINE)

    def _preprocess(self, text: str) -> str:
        return preprocess_text(
            text, lower=self._lower, keep_accents=self._keep_accents, replace_quotes=self._replace_quotes
        )

    def _resplit(self, piece_id: int) -> tuple[list[int], list[str]]:
        """google-research/albert ``encode_pieces`` for one ``<digit>,`` piece: re-encode without the comma, add it."""
        cached = self._resplit_cache.get(piece_id)
        if cached is None:
            piece = self._pieces[piece_id]
            sub = self.sp.encode(piece[:-1].replace(SPIECE_UNDERLINE, ""), out_type=str)
            if self._strip_resplit_prefix and sub and not piece.startswith(SPIECE_UNDERLINE):
                if sub[0].startswith(SPIECE_UNDERLINE):
                    sub = sub[1:] if len(sub[0]) == 1 else [sub[0][1:], *sub[1:]]
            sub.append(piece[-1])
            cached = ([self.sp.piece_to_id(p) for p in sub], sub)
            self._resplit_cache[piece_id] = cached
        return cached

    def encode(self, texts: list[str], with_offsets: bool, split_special_tokens: bool = False) -> RawEncoding:
        # sentencepiece never produces CONTROL pieces from text: special-token strings are always split
        pre = [self._preprocess(t) for t in texts]
        if not with_offsets:
            batch = self.sp.encode(pre, num_threads=self._num_threads)
            dc = self._digit_comma_ids
            if dc:
                batch = [ids if dc.isdisjoint(ids) else self._resplit_ids(ids) for ids in batch]
            return batch, None
        protos = self.sp.encode(pre, return_type="proto", num_threads=self._num_threads)
        all_ids, all_offs = [], []
        for text, pre_text, proto in zip(texts, pre, protos):
            ids, offs = self._with_offsets(text, pre_text, proto)
            all_ids.append(ids)
            all_offs.append(offs)
        return all_ids, all_offs

    def _resplit_ids(self, ids: list[int]) -> list[int]:
        out: list[int] = []
        for i in ids:
            if i in self._digit_comma_ids:
                out.extend(self._resplit(i)[0])
            else:
                out.append(i)
        return out

    def _with_offsets(self, text: str, pre: str, proto: Any) -> tuple[list[int], list[tuple[int, int]]]:
        aligned, starts, ends = _preprocess_aligned(
            text, lower=self._lower, keep_accents=self._keep_accents, replace_quotes=self._replace_quotes
        )
        if len(aligned) != len(pre):  # would be a bug in _preprocess_aligned
            raise RuntimeError(f"offset alignment failed for {text[:80]!r}: {len(aligned)} != {len(pre)} characters")
        if pre.isascii():
            byte_to_char = None
        else:
            byte_to_char = []
            for ci, ch in enumerate(pre):
                byte_to_char.extend([ci] * len(ch.encode("utf-8")))
            byte_to_char.append(len(pre))
        ids: list[int] = []
        pre_spans: list[tuple[int, int] | None] = []
        for p in proto.pieces:
            cb, ce = (p.begin, p.end) if byte_to_char is None else (byte_to_char[p.begin], byte_to_char[p.end])
            while cb < ce and pre[cb] == " ":
                cb += 1
            if p.id in self._digit_comma_ids:
                sub_ids, sub_pieces = self._resplit(p.id)
                ids.extend(sub_ids)
                pre_spans.extend(self._resplit_spans(pre, cb, ce, self._pieces[p.id], sub_pieces))
                continue
            ids.append(p.id)
            pre_spans.append((cb, ce) if cb < ce else None)
        spans = [None if s is None else (starts[s[0]], ends[s[1] - 1]) for s in pre_spans]
        return ids, _fill_zero_width(spans, len(text))

    @staticmethod
    def _resplit_spans(pre: str, cb: int, ce: int, piece: str, sub_pieces: list[str]) -> list[tuple[int, int] | None]:
        """Spans (in preprocessed text) of the pieces a ``<digit>,`` piece was re-split into."""
        if ce - cb < 2:
            return [(cb, ce) if cb < ce else None] * len(sub_pieces)
        body = [s.lstrip(SPIECE_UNDERLINE) for s in sub_pieces[:-1]]
        out: list[tuple[int, int] | None] = []
        if pre[cb:ce] == "".join(body) + ",":
            pos = cb
            for b in body:
                out.append((pos, pos + len(b)) if b else None)
                pos += len(b)
        else:  # the model normalised the piece's characters: share the span
            out = [(cb, ce - 1)] * len(body)
        out.append((ce - 1, ce))
        return out

    def normalize(self, text: str) -> str:
        return self.sp.normalize(self._preprocess(text)).replace(SPIECE_UNDERLINE, " ").strip()

    def decode(self, batch_ids: list[list[int]], skip_special_tokens: bool) -> list[str]:
        out = []
        for ids in batch_ids:
            if skip_special_tokens:
                ids = [i for i in ids if i not in self._special_ids]
            out.append(self._decoder.decode([self._pieces[i] for i in ids]) if ids else "")
        return out


class Tokenizer(_BaseTokenizer):
    """ALBERT tokenizer for a SentencePiece model (see the module docstring for the two modes).

    Example:
        >>> tok = Tokenizer("spiece.model")
        >>> enc = tok.encode("Hello world!", "Second segment.", return_offsets=True)
        >>> enc.input_ids, enc.token_type_ids, enc.offsets
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        *,
        mode: Mode = "hf",
        do_lower_case: bool = True,
        keep_accents: bool = False,
        model_max_length: int = 512,
        num_threads: int | None = None,
    ) -> None:
        """Load a SentencePiece model.

        Args:
            model: path of a ``.model`` file, or its bytes.
            mode: ``"hf"`` (released Hugging Face ALBERT tokenizers) or ``"original"`` (google-research/albert).
            do_lower_case: lowercase the text (the English ALBERT models are uncased).
            keep_accents: keep accents instead of NFKD + dropping combining marks.
            model_max_length: default ``max_length`` for truncation and ``padding="max_length"``.
            num_threads: threads for batch encoding with the ``sentencepiece`` library (default: all CPUs).
        """
        if mode not in ("hf", "original"):
            raise ValueError(f"mode={mode!r}; expected 'hf' or 'original'")
        if isinstance(model, bytes):
            source, data = "<SentencePiece model bytes>", model
        else:
            path = Path(model)
            source = str(path)
            if not path.is_file():
                raise TokenizerNotFoundError(f"{path}: no such SentencePiece model file")
            data = path.read_bytes()
        proto = _parse_spm_model(data, source)
        super().__init__([p.piece for p in proto.pieces], ALBERT_SPECIAL_TOKENS, source)
        self.source = source
        self.mode: Mode = mode
        self.do_lower_case = do_lower_case
        self.keep_accents = keep_accents
        self.model_max_length = model_max_length
        self.model_type = sentencepiece_model_pb2.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type).lower()
        self._model_bytes = data
        self._backend: _RustUnigramBackend | _SentencePieceBackend
        if mode == "hf" and self.model_type == "unigram":
            self._backend = _RustUnigramBackend(proto, self._pieces, lower=do_lower_case, keep_accents=keep_accents)
        else:
            self._backend = _SentencePieceBackend(
                data,
                self._pieces,
                lower=do_lower_case,
                keep_accents=keep_accents,
                replace_quotes=mode == "hf",
                strip_resplit_prefix=mode == "hf",
                num_threads=num_threads or os.cpu_count() or 1,
                special_ids=self.special_ids,
            )

    def __repr__(self) -> str:
        return (
            f"Tokenizer({self.source!r}, mode={self.mode!r}, do_lower_case={self.do_lower_case}, "
            f"keep_accents={self.keep_accents}, model_type={self.model_type!r}, vocab_size={self.vocab_size})"
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        mode: Mode | None = None,
        do_lower_case: bool | None = None,
        keep_accents: bool | None = None,
        model_max_length: int | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
    ) -> Tokenizer:
        """Load from an HF-layout directory (``spiece.model`` + ``tokenizer_config.json``), a ``.model`` file, or a
        Hugging Face Hub id (downloaded with ``huggingface_hub``, which reuses its cache).

        Flags not given here are read from ``tokenizer_config.json`` (``do_lower_case``, ``keep_accents``,
        ``model_max_length``, ``litebert_mode``), then default to ``mode="hf"``, lowercasing, accent stripping and 512.
        """
        path = _resolve_pretrained(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
        )
        config: dict[str, Any] = {}
        if path.is_dir():
            model_file = _find_spm_model(path)
            config = _read_config(path)
        else:
            model_file = path
        return cls(
            model_file,
            mode=mode if mode is not None else config.get("litebert_mode", "hf"),
            do_lower_case=do_lower_case if do_lower_case is not None else bool(config.get("do_lower_case", True)),
            keep_accents=keep_accents if keep_accents is not None else bool(config.get("keep_accents", False)),
            model_max_length=model_max_length or _config_max_length(config),
        )

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``spiece.model``, ``tokenizer_config.json``, ``special_tokens_map.json`` and, for unigram models in
        ``"hf"`` mode, ``tokenizer.json`` (the exact pipeline), so that transformers'
        ``AlbertTokenizer.from_pretrained(directory)`` encodes like this tokenizer. Each file is written atomically.

        transformers cannot express ``"original"`` mode (no quote-free normaliser, no re-split) or BPE models; for
        those only the first three files are written and litebert reads the mode back from ``litebert_mode``.
        A WordPiece ``vocab.txt`` (and a ``tokenizer.json`` not written here) left by an earlier save is deleted.
        """
        tokens = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), self.special_tokens))
        config = {
            "tokenizer_class": "AlbertTokenizer",
            "do_lower_case": self.do_lower_case,
            "keep_accents": self.keep_accents,
            "remove_space": True,
            "bos_token": "[CLS]",
            "eos_token": "[SEP]",
            **tokens,
            "model_max_length": self.model_max_length,
            "litebert_mode": self.mode,
        }
        special_map = {"bos_token": "[CLS]", "eos_token": "[SEP]", **tokens}
        files = {
            _SPM_MODEL_FILE: self._model_bytes,
            _CONFIG_FILE: (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode(),
            _SPECIAL_MAP_FILE: (json.dumps(special_map, indent=2) + "\n").encode(),
        }
        if isinstance(self._backend, _RustUnigramBackend):
            files[_TOKENIZER_JSON] = self._backend.rust.to_str(pretty=True).encode()
        # A stale tokenizer.json would override spiece.model in transformers, a stale vocab.txt confuse loaders.
        return _save_files(directory, files, stale=(_TOKENIZER_JSON, _WORDPIECE_VOCAB_FILE))

    # -- hooks ------------------------------------------------------------------------------------------------------

    def _encode_raw(self, texts: Sequence[str], with_offsets: bool, split_special_tokens: bool = False) -> RawEncoding:
        return self._backend.encode(list(texts), with_offsets, split_special_tokens)

    def _decode_batch(self, batch_ids: Sequence[Sequence[int]], skip_special_tokens: bool) -> list[str]:
        return self._backend.decode([list(x) for x in batch_ids], skip_special_tokens)

    def normalize(self, text: str) -> str:
        """The text as the model segments it (preprocessing + the model's normaliser), spaces between words."""
        return self._backend.normalize(text)

    def is_word_start(self, token: str | int) -> bool:
        """google-research/albert's rule (:func:`is_word_start_piece`) for a piece or id.

        The five special tokens count as word starts: the original marks ``[CLS]``/``[SEP]`` as boundaries before
        applying the rule (which would glue ``[CLS]`` to the piece before it), and never sees the others in text.
        """
        piece = self._pieces[token] if isinstance(token, int) else token
        return piece in self.special_tokens or is_word_start_piece(piece)

    def token_text(self, token: str | int) -> str:
        """The text a piece stands for (``▁`` shown as a space, stripped at the start)."""
        piece = self._pieces[token] if isinstance(token, int) else token
        return piece.replace(SPIECE_UNDERLINE, " ").lstrip(" ")


# ---------------------------------------------------------------------------------------------------------------------
# WordPiece (BERT)


def _read_wordpiece_vocab(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"{path}: not a UTF-8 vocab.txt ({e.reason} at byte {e.start})") from e
    if lines and lines[-1] == "":
        lines.pop()
    tokens = [line.rstrip("\r") for line in lines]
    if not tokens:
        raise TokenizerFileError(f"{path}: empty vocabulary; expected one WordPiece token per line")
    if len(set(tokens)) != len(tokens):
        dup = next(t for t in tokens if tokens.count(t) > 1)
        raise TokenizerFileError(f"{path}: token {dup!r} appears more than once; ids would be ambiguous")
    return tokens


class WordPieceTokenizer(_BaseTokenizer):
    """BERT WordPiece tokenizer for a ``vocab.txt``: BERT's basic tokenizer (clean-up, CJK and punctuation
    splitting, lowercasing, accent stripping) and greedy longest-match WordPiece, on the ``tokenizers`` library, with
    the same encoding interface as :class:`Tokenizer`. Matches transformers' ``BertTokenizerFast``.
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike[str],
        *,
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        model_max_length: int = 512,
    ) -> None:
        """Load a ``vocab.txt``.

        Args:
            vocab_file: one token per line; the line number is the id.
            do_lower_case: lowercase the text.
            strip_accents: strip accents; None means "when lowercasing", as in BERT.
            tokenize_chinese_chars: put spaces around CJK ideographs.
            model_max_length: default ``max_length`` for truncation and ``padding="max_length"``.
        """
        path = Path(vocab_file)
        if not path.is_file():
            raise TokenizerNotFoundError(f"{path}: no such WordPiece vocab.txt file")
        tokens = _read_wordpiece_vocab(path)
        super().__init__(tokens, BERT_SPECIAL_TOKENS, str(path))
        self.source = str(path)
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.model_max_length = model_max_length
        tk = RustTokenizer(
            rust_models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]", max_input_chars_per_word=100)
        )
        tk.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=tokenize_chinese_chars,
            strip_accents=strip_accents,
            lowercase=do_lower_case,
        )
        tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tk.decoder = decoders.WordPiece(prefix="##")
        tk.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", self.cls_id), ("[SEP]", self.sep_id)],
        )
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BERT_SPECIAL_TOKENS])
        self._rust = tk
        self._plain: RustTokenizer | None = None  # split_special_tokens, built on first use

    def __repr__(self) -> str:
        return f"WordPieceTokenizer({self.source!r}, do_lower_case={self.do_lower_case}, vocab_size={self.vocab_size})"

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        do_lower_case: bool | None = None,
        strip_accents: bool | None = None,
        model_max_length: int | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
    ) -> WordPieceTokenizer:
        """Load from a directory with ``vocab.txt`` (+ ``tokenizer_config.json`` flags), a vocab file, or a Hub id."""
        path = _resolve_pretrained(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
        )
        config: dict[str, Any] = {}
        if path.is_dir():
            vocab = path / _WORDPIECE_VOCAB_FILE
            if not vocab.is_file():
                raise TokenizerFileError(f"{path}: no {_WORDPIECE_VOCAB_FILE} in this directory")
            config = _read_config(path)
        else:
            vocab = path
        return cls(
            vocab,
            do_lower_case=do_lower_case if do_lower_case is not None else bool(config.get("do_lower_case", True)),
            strip_accents=strip_accents if strip_accents is not None else config.get("strip_accents"),
            tokenize_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
            model_max_length=model_max_length or _config_max_length(config),
        )

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``vocab.txt``, ``tokenizer_config.json``, ``special_tokens_map.json`` and ``tokenizer.json`` (what
        transformers' ``BertTokenizer.from_pretrained`` reads), all or none; a SentencePiece ``spiece.model`` left by
        an earlier save is deleted."""
        tokens = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), self.special_tokens))
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            **tokens,
            "model_max_length": self.model_max_length,
        }
        files = {
            _WORDPIECE_VOCAB_FILE: ("\n".join(self._pieces) + "\n").encode("utf-8"),
            _CONFIG_FILE: (json.dumps(config, indent=2) + "\n").encode(),
            _SPECIAL_MAP_FILE: (json.dumps(tokens, indent=2) + "\n").encode(),
            _TOKENIZER_JSON: self._rust.to_str(pretty=True).encode(),
        }
        return _save_files(directory, files, stale=(_SPM_MODEL_FILE,))

    def _encode_raw(self, texts: Sequence[str], with_offsets: bool, split_special_tokens: bool = False) -> RawEncoding:
        tk = self._rust
        if split_special_tokens:  # BERT's basic tokenizer then splits "[SEP]" into "[", "sep", "]" as the original
            if self._plain is None:
                self._plain = RustTokenizer.from_str(self._rust.to_str())
                self._plain.encode_special_tokens = True
            tk = self._plain
        if not with_offsets:
            return [e.ids for e in tk.encode_batch_fast(list(texts), add_special_tokens=False)], None
        encs = tk.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encs], [list(e.offsets) for e in encs]

    def _decode_batch(self, batch_ids: Sequence[Sequence[int]], skip_special_tokens: bool) -> list[str]:
        return self._rust.decode_batch([list(x) for x in batch_ids], skip_special_tokens=skip_special_tokens)

    def normalize(self, text: str) -> str:
        """The text after BERT's normaliser (lowercasing, accents, clean-up, spaces around CJK ideographs)."""
        return " ".join(self._rust.normalizer.normalize_str(text).split())

    def is_word_start(self, token: str | int) -> bool:
        """google-research/albert ``_is_start_piece_bert``: every token not starting with ``##``."""
        piece = self._pieces[token] if isinstance(token, int) else token
        return not piece.startswith("##")

    def token_text(self, token: str | int) -> str:
        """The text a token stands for (``##`` removed)."""
        piece = self._pieces[token] if isinstance(token, int) else token
        return piece[2:] if piece.startswith("##") else piece


# ---------------------------------------------------------------------------------------------------------------------
# Saving and loading


def _save_files(directory: str | os.PathLike[str], files: dict[str, bytes], stale: Sequence[str]) -> Path:
    """Put a tokenizer's ``files`` (name -> content) into ``directory`` and delete the ``stale`` names not among them
    (another kind of tokenizer's files), so that loaders never find two tokenizers there. Other files (a model's) are
    left alone. Everything is written to a temporary folder inside ``directory`` first and renamed into place only
    once complete, so a save that fails while writing (a full disk) leaves the directory as it was."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tokenizer-save-", dir=out))
    try:
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        for name in files:
            os.replace(staging / name, out / name)
        for name in stale:  # after the new config is in place, which tells loaders the kind if this is cut short
            if name not in files:
                (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _resolve_pretrained(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
) -> Path:
    """A local file/directory, or the local snapshot of a Hugging Face Hub repository (downloaded if needed)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = os.fspath(name_or_path)
    if not _HUB_ID_RE.match(name) or name.endswith((".model", ".txt", ".json")):
        raise TokenizerNotFoundError(f"{name}: no such file or directory")
    try:
        snapshot = snapshot_download(
            repo_id=name,
            revision=revision,
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            local_files_only=local_files_only,
            allow_patterns=[_SPM_MODEL_FILE, _WORDPIECE_VOCAB_FILE, _CONFIG_FILE, _SPECIAL_MAP_FILE],
        )
    except Exception as e:  # huggingface_hub raises many types (HTTP, offline, cache miss, validation)
        raise TokenizerNotFoundError(
            f"{name}: not a local file or directory, and fetching it from the Hugging Face Hub failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no details'}). Offline? Pass the path of "
            f"a local directory that holds {_SPM_MODEL_FILE} (ALBERT) or {_WORDPIECE_VOCAB_FILE} (BERT), e.g. one "
            f"written by save_pretrained() or `hf download {name} --local-dir DIR`"
        ) from e
    return Path(snapshot)


def _find_spm_model(directory: Path) -> Path:
    model = directory / _SPM_MODEL_FILE
    if model.is_file():
        return model
    candidates = sorted(directory.glob("*.model"))
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates) or "none"
    raise TokenizerFileError(
        f"{directory}: expected a SentencePiece model named {_SPM_MODEL_FILE} (or a single *.model file); "
        f"*.model files found: {found}"
    )


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / _CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerFileError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise TokenizerFileError(f"{path}: expected a JSON object, got {type(config).__name__}")
    mode = config.get("litebert_mode", "hf")
    if mode not in ("hf", "original"):
        raise TokenizerFileError(f"{path}: litebert_mode is {mode!r}; expected 'hf' or 'original'")
    return config


def _config_max_length(config: dict[str, Any]) -> int:
    value = config.get("model_max_length")
    # transformers writes 1e30 for "no limit"; ALBERT and BERT have 512 positions.
    return int(value) if isinstance(value, (int, float)) and 0 < value < 1_000_000 else 512


def check_fits_model(tokenizer: Tokenizer | WordPieceTokenizer, model_vocab_size: int, model: object) -> None:
    """A tokenizer whose ids reach past the model's embedding table is an error (naming both), not an IndexError on
    the first rare word; a model with more rows than the tokenizer has tokens (padded tables) is fine."""
    if tokenizer.vocab_size > model_vocab_size:
        raise TokenizerFileError(
            f"the tokenizer {tokenizer.source} has {tokenizer.vocab_size} tokens but the model {model} embeds only "
            f"{model_vocab_size}: ids from {model_vocab_size} on have no embedding. Use the tokenizer the model was "
            f"trained with (its directory's own, or the one its pretraining data names)")


def load_tokenizer(name_or_path: str | os.PathLike[str], **kwargs: Any) -> Tokenizer | WordPieceTokenizer:
    """Load a SentencePiece :class:`Tokenizer` or a :class:`WordPieceTokenizer`, whichever the files are.

    ``name_or_path`` is a directory (``spiece.model`` / ``*.model`` -> SentencePiece, ``vocab.txt`` -> WordPiece), a
    model or vocab file, or a Hugging Face Hub id. Keyword arguments go to the class's ``from_pretrained``.
    """
    hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "local_files_only") if k in kwargs}
    path = _resolve_pretrained(
        name_or_path,
        revision=hub_kwargs.get("revision"),
        cache_dir=hub_kwargs.get("cache_dir"),
        local_files_only=hub_kwargs.get("local_files_only", False),
    )
    if path.is_dir():
        has_spm = (path / _SPM_MODEL_FILE).is_file() or any(path.glob("*.model"))
        if has_spm and (path / _WORDPIECE_VOCAB_FILE).is_file():  # both kinds: follow the config, as transformers
            has_spm = not str(_read_config(path).get("tokenizer_class", "")).startswith("Bert")
        if has_spm:
            return Tokenizer.from_pretrained(path, **kwargs)
        if (path / _WORDPIECE_VOCAB_FILE).is_file():
            return WordPieceTokenizer.from_pretrained(path, **kwargs)
        raise TokenizerFileError(
            f"{path}: no tokenizer here; expected {_SPM_MODEL_FILE} (ALBERT SentencePiece) or "
            f"{_WORDPIECE_VOCAB_FILE} (BERT WordPiece)"
        )
    if path.suffix == ".txt":
        return WordPieceTokenizer.from_pretrained(path, **kwargs)
    return Tokenizer.from_pretrained(path, **kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# Training

_VOCAB_TOO_HIGH_RE = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_VOCAB_TOO_SMALL_RE = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


# SentencePiece's max_sentence_length (its default, which the ALBERT recipe keeps): it silently drops longer sentences,
# so training splits them first.
_SPM_MAX_SENTENCE_BYTES = 4192
_CHECK_LINES = 1000  # lines of each input read before training (not-text checks); the rest is read while training


def _check_inputs(paths: list[Path]) -> None:
    """Fail before training, naming the file, if an input is missing, unreadable, corrupt or not text at its start,
    or has no text."""
    for path in paths:
        has_text = False
        for line_no, line in enumerate(iter_lines(path), 1):
            has_text = has_text or bool(line.strip())
            if has_text and line_no >= _CHECK_LINES:
                break
        if not has_text:
            raise TextFileError(f"{path}: no text in this file (it is empty or blank)")


def _split_long_line(text: str, max_bytes: int = _SPM_MAX_SENTENCE_BYTES) -> list[str]:
    """``text`` (whitespace collapsed to single spaces) cut at spaces into pieces of at most ``max_bytes`` UTF-8
    bytes; a word longer than that is cut at a character boundary."""
    data = text.encode("utf-8")
    chunks = []
    start = 0
    while len(data) - start > max_bytes:
        end = data.rfind(b" ", start, start + max_bytes + 1)
        if end <= start:  # no space in the window: cut the word before a UTF-8 continuation byte
            end = start + max_bytes
            while data[end] & 0xC0 == 0x80:
                end -= 1
        chunks.append(data[start:end])
        start = end + (data[end : end + 1] == b" ")
    chunks.append(data[start:])
    return [c.decode("utf-8") for c in chunks if c]


def train_tokenizer(
    *,
    input: str | list[str],
    output: str,
    vocab_size: int = 30000,
    model_type: Literal["unigram", "bpe", "wordpiece"] = "unigram",
    do_lower_case: bool = True,
    keep_accents: bool = False,
    mode: Mode = "hf",
    character_coverage: float = 0.99995,
    input_sentence_size: int = 10_000_000,
    shuffle_input_sentence: bool = True,
    user_symbols: list[str] | None = None,
    min_frequency: int = 2,
    seed: int = 0,
    num_threads: int | None = None,
) -> Path:
    """Train a vocabulary (e.g. `litebert tokenizer train --input data/*.txt.xz --vocab-size 30000 --output tok/`).

    Trains on text files and writes an HF-layout tokenizer directory. SentencePiece ("unigram", the ALBERT default,
    or "bpe") follows the ALBERT README's spm_train command: pad_id=0 unk_id=1 eos_id=-1 bos_id=-1, control symbols
    [CLS],[SEP],[MASK] (so ids 0-4 are <pad> <unk> [CLS] [SEP] [MASK]), user symbols ( ) " - . – £ €,
    character_coverage 0.99995, at most input_sentence_size sentences (10M) sampled with shuffling. Lines are
    preprocessed as the tokenizer will preprocess them (whitespace, quotes in "hf" mode, accents, case) and streamed
    from the files (plain, .xz, .gz or .bz2); a line longer than SentencePiece's 4,192-byte max_sentence_length is
    split at spaces (with a warning) instead of being dropped. Input that is not text (a NUL byte, a UTF-16 mark, over
    10% of bytes not UTF-8) is an error naming the file and byte. If vocab_size is more than the corpus supports,
    training is redone at the largest size SentencePiece accepts, with a warning. "wordpiece" trains a BERT-style
    vocab.txt with the tokenizers library ([PAD] [UNK] [CLS] [SEP] [MASK] first).

    Args:
        input: text file(s), plain, .xz, .gz or .bz2 (--input a.txt b.txt.xz); UTF-8, with a Windows-1252 fallback
            per line for old files; blank lines are ignored.
        output: directory to write (spiece.model, tokenizer_config.json, ... or vocab.txt, ...).
        vocab_size: number of tokens in the vocabulary.
        model_type: unigram (ALBERT), bpe (SentencePiece BPE) or wordpiece (BERT).
        do_lower_case: lowercase the text (training and encoding).
        keep_accents: keep accents instead of stripping them.
        mode: tokenizer mode to save: hf (Hugging Face ALBERT behaviour) or original (google-research/albert).
        character_coverage: share of characters the SentencePiece vocabulary must cover.
        input_sentence_size: sentences SentencePiece samples from the input (0 = all; otherwise more than 100).
        shuffle_input_sentence: sample sentences at random rather than taking the first ones.
        user_symbols: SentencePiece pieces kept whole (default: ALBERT's).
        min_frequency: minimum pair frequency for a WordPiece merge.
        seed: random seed for SentencePiece sampling.
        num_threads: training threads (default: all CPUs).

    Returns:
        The output directory.
    """
    paths = [Path(p) for p in ([input] if isinstance(input, (str, os.PathLike)) else input)]
    if not paths:
        raise TokenizerTrainingError("no input files given; pass --input FILE [FILE ...]")
    if vocab_size < len(ALBERT_SPECIAL_TOKENS) + 1:
        raise TokenizerTrainingError(f"vocab_size={vocab_size} is too small; it must exceed the 5 special tokens")
    if model_type not in ("unigram", "bpe", "wordpiece"):
        raise TokenizerTrainingError(f"model_type={model_type!r}; expected unigram, bpe or wordpiece")
    if 0 < input_sentence_size <= 100:
        raise TokenizerTrainingError(
            f"input_sentence_size={input_sentence_size}: SentencePiece needs 0 (all sentences) or more than 100"
        )
    _check_inputs(paths)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise TokenizerTrainingError(f"--output {out} is a file, expected a directory to write the tokenizer into")
    held = [f for f in ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
            if (out / f).exists()]
    paired = [f for f in ("spiece.model", "vocab.txt", "tokenizer.json") if (out / f).exists()]
    if held and paired:  # weights with their tokenizer: a new vocabulary would silently no longer match them
        raise TokenizerTrainingError(
            f"--output {out} holds a model ({', '.join(held)}) with its tokenizer ({', '.join(paired)}): a new "
            f"vocabulary there would replace the one its weights were trained with; choose another --output")
    threads = num_threads or os.cpu_count() or 1
    if model_type == "wordpiece":
        return _train_wordpiece(paths, out, vocab_size, do_lower_case, keep_accents, min_frequency)

    # SentencePiece treats an exception raised by the sentence iterator as the end of the input, so a file that turns
    # out corrupt halfway would silently train on part of the corpus: keep the error and raise it after training.
    read_errors: list[Exception] = []
    num_sentences = num_split = 0

    def sentences() -> Iterator[str]:
        nonlocal num_sentences, num_split
        num_sentences = num_split = 0
        try:
            for line in iter_corpus_lines(paths):
                text = preprocess_text(
                    line, lower=do_lower_case, keep_accents=keep_accents, replace_quotes=mode == "hf"
                ).strip()
                chunks = _split_long_line(text) if text else []
                num_sentences += len(chunks)
                num_split += len(chunks) > 1
                yield from chunks
        except Exception as e:
            read_errors.append(e)
            raise

    symbols = list(ALBERT_USER_SYMBOLS if user_symbols is None else user_symbols)
    spm.set_random_generator_seed(seed)
    size = vocab_size
    for _attempt in range(3):
        buffer = _BytesSink()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=sentences(),
                model_writer=buffer,
                vocab_size=size,
                model_type=model_type,
                pad_id=0,
                unk_id=1,
                eos_id=-1,
                bos_id=-1,
                control_symbols=["[CLS]", "[SEP]", "[MASK]"],
                user_defined_symbols=symbols,
                character_coverage=character_coverage,
                input_sentence_size=input_sentence_size,
                shuffle_input_sentence=shuffle_input_sentence,
                max_sentence_length=_SPM_MAX_SENTENCE_BYTES,
                num_threads=threads,
                minloglevel=2,
            )
        except RuntimeError as e:
            if read_errors:
                raise read_errors[0] from None
            message = str(e)
            too_high = _VOCAB_TOO_HIGH_RE.search(message)
            if too_high:
                size = int(too_high.group(2))
                logger.warning(
                    "vocab_size %d is more than this corpus supports for a %s model; training with %d instead",
                    vocab_size,
                    model_type,
                    size,
                )
                continue
            if not num_sentences:
                raise TokenizerTrainingError(
                    f"{', '.join(map(str, paths))}: no sentences to train on; every line is empty once preprocessed "
                    f"(whitespace, accents and combining marks removed); expected lines of text"
                ) from e
            too_small = _VOCAB_TOO_SMALL_RE.search(message)
            if too_small:
                raise TokenizerTrainingError(
                    f"vocab_size={vocab_size} is smaller than the {too_small.group(2)} pieces needed for the "
                    f"characters of this corpus (at character_coverage={character_coverage}) and the special pieces; "
                    f"raise vocab_size or lower character_coverage"
                ) from e
            raise TokenizerTrainingError(f"SentencePiece training failed: {message.strip()}") from e
        if read_errors:
            raise read_errors[0]
        if num_split:
            logger.warning(
                "split %d line(s) longer than %d bytes (SentencePiece's max_sentence_length) at spaces into pieces "
                "that fit; SentencePiece would have dropped them",
                num_split,
                _SPM_MAX_SENTENCE_BYTES,
            )
        tokenizer = Tokenizer(buffer.data, mode=mode, do_lower_case=do_lower_case, keep_accents=keep_accents)
        tokenizer.save_pretrained(out)
        logger.info("trained a %s vocabulary of %d pieces -> %s", model_type, tokenizer.vocab_size, out)
        return out
    raise TokenizerTrainingError(f"SentencePiece could not settle on a vocabulary size (last tried {size})")


class _BytesSink:
    """A ``model_writer`` for SentencePiece: collects the trained model's bytes."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def _train_wordpiece(
    paths: list[Path], out: Path, vocab_size: int, do_lower_case: bool, keep_accents: bool, min_frequency: int
) -> Path:
    strip_accents = False if keep_accents else None  # None: strip when lowercasing, as BERT does
    tk = RustTokenizer(rust_models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tk.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=do_lower_case
    )
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = rust_trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(BERT_SPECIAL_TOKENS),
        limit_alphabet=1000,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tk.train_from_iterator(iter_corpus_lines(paths), trainer=trainer)  # no line-length limit here
    vocab = sorted(tk.get_vocab().items(), key=lambda kv: kv[1])
    if len(vocab) > vocab_size:  # the trainer keeps every character (up to limit_alphabet) and its ## form
        raise TokenizerTrainingError(
            f"vocab_size={vocab_size} is smaller than the {len(vocab)} tokens WordPiece needs for the characters of "
            f"this corpus (each alone and with ##) and the {len(BERT_SPECIAL_TOKENS)} special tokens; raise vocab_size "
            f"to at least {len(vocab)}"
        )
    if len(vocab) < vocab_size:
        logger.warning(
            "vocab_size %d is more than this corpus supports for a wordpiece model; got %d tokens",
            vocab_size,
            len(vocab),
        )
    with tempfile.TemporaryDirectory() as tmp:  # not into `out`: save_pretrained replaces what is there at once
        vocab_path = Path(tmp) / _WORDPIECE_VOCAB_FILE
        vocab_path.write_text("\n".join(t for t, _ in vocab) + "\n", encoding="utf-8")
        tokenizer = WordPieceTokenizer(vocab_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
    tokenizer.save_pretrained(out)
    logger.info("trained a wordpiece vocabulary of %d tokens -> %s", tokenizer.vocab_size, out)
    return out
