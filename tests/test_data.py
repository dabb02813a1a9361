"""Pretraining data: the original's algorithm checked by its statistics on the real corpus, determinism across
worker counts, the reader's rank split and resume, dynamic masking, and bad input."""

from __future__ import annotations

import filecmp
import json
import random
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from litebert.data import create as C
from litebert.data.instances import MaskingOptions, Vocab, create_instances_from_document, truncate_seq_pair
from litebert.data.masking import DynamicMasker
from litebert.data.shards import MANIFEST, BatchIterator, DataError, PretrainingData
from litebert.data.stats import data_statistics
from litebert.data.text import read_documents

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = DATA / "pretrain_text"
ALBERT_SPM = DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/data not present")


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("albert_tok")
    shutil.copy(ALBERT_SPM, d / "spiece.model")
    return d


@pytest.fixture(scope="module")
def adapter(tok_dir):
    return C.TokenizerAdapter(str(tok_dir))


def _files(n: int) -> list[str]:
    return [str(p) for p in sorted((CORPUS / "gutenberg").glob("PG*.txt.xz"))[:n]]


@pytest.fixture(scope="module")
def real_data(tmp_path_factory, tok_dir) -> Path:
    """~3 MB of real Gutenberg text at seq 512, statically masked, the original's defaults otherwise."""
    out = tmp_path_factory.mktemp("real") / "data"
    C.create_pretraining_data(_files(5), str(tok_dir), str(out),
                              C.CreateOptions(dupe_factor=2, chunk_chars=1_500_000),
                              strip_gutenberg=True, progress=False)
    return out


# -- the algorithm on small hand-made inputs --------------------------------------------------------------------------

def _toy_vocab(V=100) -> Vocab:
    ws = np.zeros(V, dtype=bool)
    ws[5::2] = True  # odd ids >= 5 start words, even ids continue them
    return Vocab(cls_id=2, sep_id=3, mask_id=4, pad_id=0, word_start=ws, replacement_ids=np.arange(5, V))


def test_truncate_seq_pair_trims_the_longer_side_from_either_end():
    rng = random.Random(0)
    for _ in range(200):
        a, b = list(range(rng.randint(1, 40))), list(range(100, 100 + rng.randint(1, 40)))
        a0, b0 = list(a), list(b)
        truncate_seq_pair(a, b, 25, rng)
        assert len(a) + len(b) <= 25 or (a == a0 and b == b0)
        for cut, orig in ((a, a0), (b, b0)):  # what is left is a contiguous slice of the original
            assert any(orig[i:i + len(cut)] == cut for i in range(len(orig) - len(cut) + 1))
        # a side is only trimmed while it is the longer one: a trimmed side ends no shorter than the other - 1
        for cut, orig, other in ((a, a0, b), (b, b0, a)):
            if len(cut) < len(orig):
                assert len(cut) >= len(other) - 1, (len(a0), len(b0), len(a), len(b))


def test_instance_layout_segments_and_sop_labels():
    vocab = _toy_vocab()
    rng = random.Random(1)
    docs = [[[5, 6, 7], [9, 10], [11, 13, 14], [15], [17, 18, 19, 20]] for _ in range(3)] + [[[21, 22], [23, 24]]]
    labels = Counter()
    for _ in range(300):
        for inst in create_instances_from_document(docs, 0, max_seq_length=16, short_seq_prob=0.0,
                                                   random_next_sentence=False, vocab=vocab, masking=None, rng=rng):
            t = inst.tokens
            assert t[0] == 2 and t[-1] == 3 and t[inst.num_a - 1] == 3 and t.count(3) == 2 and len(t) <= 16
            a, b = t[1:inst.num_a - 1], t[inst.num_a:-1]
            assert a and b
            labels[inst.sentence_order_label] += 1
            if inst.sentence_order_label == 0:  # natural order: A precedes B in the document
                flat = [x for s in docs[0] for x in s]
                assert flat.index(a[0]) < flat.index(b[0])
    assert abs(labels[1] / sum(labels.values()) - 0.5) < 0.06


def test_masking_respects_budget_words_and_specials():
    vocab = _toy_vocab()
    rng = random.Random(2)
    opts = MaskingOptions(max_predictions_per_seq=7)
    sent = [[5, 6, 6, 7, 9, 11, 12, 13, 15, 16, 16, 17]] * 6
    for _ in range(200):
        for inst in create_instances_from_document([sent, sent], 0, max_seq_length=40, short_seq_prob=0.1,
                                                   random_next_sentence=False, vocab=vocab, masking=opts, rng=rng):
            n = len(inst.masked_positions)
            assert 1 <= n <= min(7, max(1, round(len(inst.tokens) * 0.15)))
            assert inst.masked_positions == sorted(set(inst.masked_positions))
            assert all(inst.tokens[p] not in (2, 3) for p in inst.masked_positions if inst.tokens[p] != 4)
            assert all(inst.masked_labels[i] not in (2, 3) for i in range(n))
            _assert_whole_words([inst.word_start], [inst.masked_positions], [len(inst.tokens)])


def _assert_whole_words(word_starts, positions, lengths):
    """Every masked position's whole word (word start up to the next start) is masked."""
    for ws, pos, n in zip(word_starts, positions, lengths):
        ws = np.asarray(ws[:n])
        word = np.cumsum(ws)
        masked = np.zeros(n, dtype=bool)
        masked[np.asarray(pos, dtype=int)] = True
        for w in np.unique(word[masked]):
            assert masked[word == w].all(), f"word {w} partially masked"


# -- statistics on the real corpus ------------------------------------------------------------------------------------

def test_real_corpus_statistics_match_the_algorithm(real_data):
    m = json.loads((real_data / MANIFEST).read_text())
    totals = m["totals"]
    s = data_statistics(str(real_data))
    assert s["instances"] > 1500, s["instances"]
    # n-gram length: the draw is p(n) ~ 1/n exactly ...
    drawn = np.array(totals["ngram_drawn"], float)
    drawn /= drawn.sum()
    np.testing.assert_allclose(drawn, [6 / 11, 3 / 11, 2 / 11], atol=0.03)
    # ... and the masked units come out shorter, as in the original: near the 20-prediction cap a drawn n-gram that
    # does not fit falls back to a shorter one, and longer ones collide with covered words more often.
    real = np.array(totals["ngram_hist"], float)
    real /= real.sum()
    np.testing.assert_allclose(real, [6 / 11, 3 / 11, 2 / 11], atol=0.08)  # 0.58-0.60 / 0.26 / 0.14-0.15 measured
    assert real[0] > drawn[0] and real[2] < drawn[2]
    # 80/10/10, measured from the stored tokens against the labels
    mk = s["masking"]
    np.testing.assert_allclose([mk["mask"], mk["keep"], mk["random"]], [0.8, 0.1, 0.1], atol=0.02)
    assert mk["predictions_per_instance"] <= 20
    # sentence order: two-segment chunks are swapped with p=0.5; single-segment chunks (random other document)
    # are always label 1, so the overall rate is 0.5 + random_b/2.
    n, swapped, random_b = s["instances"], totals["sop_swapped"], totals["random_b"]
    two_segment_rate = (swapped - random_b) / (n - random_b)
    assert abs(two_segment_rate - 0.5) < 0.03
    assert abs(s["sentence_order"]["swapped_fraction"] - (0.5 + random_b / n / 2)) < 0.03


def test_masks_never_touch_specials_and_cover_whole_words(real_data, adapter):
    data = PretrainingData(real_data)
    v = adapter.vocab
    checked = 0
    for shard in data.shards:
        for i in range(min(len(shard), 400)):
            lo, hi = int(shard.offsets[i]), int(shard.offsets[i + 1])
            mlo, mhi = int(shard.mask_offsets[i]), int(shard.mask_offsets[i + 1])
            pos = np.asarray(shard.mask_positions[mlo:mhi])
            labels = np.asarray(shard.mask_labels[mlo:mhi])
            toks = np.asarray(shard.tokens[lo:hi])
            assert toks[0] == v.cls_id and toks[-1] == v.sep_id
            assert (pos > 0).all() and (pos < hi - lo).all()  # never [CLS], never padding
            assert not np.isin(labels, [v.cls_id, v.sep_id, v.pad_id]).any()  # never [SEP]
            assert not np.isin(toks[pos], [v.cls_id, v.sep_id, v.pad_id]).any()
            _assert_whole_words([shard.word_start[lo:hi]], [pos], [hi - lo])
            checked += 1
    assert checked > 500


def test_word_start_follows_the_original_rule(adapter):
    """Start pieces: '▁'-prefixed, '<...>', single punctuation, or containing a non-[a-z] character."""
    tok = adapter.tokenizer
    ws = adapter.vocab.word_start
    expect = {"▁the": True, "s": False, "ing": False, ".": True, ",": True, "1": True, "▁1990": True, "<unk>": True}
    for piece, start in expect.items():
        i = tok.convert_tokens_to_ids([piece])[0]
        assert piece == "<unk>" or i != tok.unk_id, piece
        assert ws[i] == start, piece


# -- determinism, reader, resume --------------------------------------------------------------------------------------

def _create(out: Path, tok_dir: Path, workers: int, **kw) -> dict:
    return C.create_pretraining_data(_files(3), str(tok_dir), str(out),
                                     C.CreateOptions(max_seq_length=128, dupe_factor=2, chunk_chars=300_000, **kw),
                                     workers=workers, strip_gutenberg=True, progress=False)


def test_byte_identical_output_whatever_the_worker_count(tmp_path, tok_dir):
    m1 = _create(tmp_path / "w1", tok_dir, 1)
    m2 = _create(tmp_path / "w2", tok_dir, 2)
    assert len(m1["shards"]) >= 3
    for shard in m1["shards"]:
        cmp = filecmp.dircmp(tmp_path / "w1" / shard["name"], tmp_path / "w2" / shard["name"])
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
        for f in (tmp_path / "w1" / shard["name"]).iterdir():
            assert f.read_bytes() == (tmp_path / "w2" / shard["name"] / f.name).read_bytes()
    for m in (m1, m2):
        m.pop("creation")
    assert m1 == m2
    m3 = _create(tmp_path / "seed2", tok_dir, 1, random_seed=7)  # and the seed matters
    assert (tmp_path / "seed2" / "shard_00000" / "tokens.npy").read_bytes() != \
           (tmp_path / "w1" / "shard_00000" / "tokens.npy").read_bytes()
    assert m3["totals"]["instances"] > 0


def test_reader_ranks_are_disjoint_and_resume_is_exact(tmp_path, tok_dir):
    _create(tmp_path / "d", tok_dir, 1)
    data = PretrainingData(tmp_path / "d")
    its = [BatchIterator(data, 8, rank=r, world_size=2, seed=3) for r in range(2)]
    seen = [set(), set()]
    for r, it in enumerate(its):
        for _ in range(it.batches_per_epoch):
            seen[r].update((s, i) for s, i in it._indices(it.epoch, it.batch))
            it.batch += 1
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == its[0].batches_per_epoch * 16  # every instance of the epoch at most once
    # resume: a fresh iterator loaded with the state continues with identical batches, across an epoch boundary
    it = BatchIterator(data, 8, rank=1, world_size=2, seed=3)
    stream = iter(it)
    ref = [next(stream) for _ in range(it.batches_per_epoch + 3)]
    it2 = BatchIterator(data, 8, rank=1, world_size=2, seed=3)
    s2 = iter(it2)
    for _ in range(5):
        next(s2)
    state = json.loads(json.dumps(it2.state_dict()))
    it3 = BatchIterator(data, 8, rank=1, world_size=2, seed=3)
    it3.load_state_dict(state)
    for k, batch in enumerate(iter(it3)):
        if 5 + k >= len(ref):
            break
        for key in batch:
            np.testing.assert_array_equal(batch[key], ref[5 + k][key])
    b = ref[0]
    assert b["input_ids"].shape == (8, 128) and b["masked_positions"].shape == (8, 20)
    assert ((b["token_type_ids"] == 1) <= (b["attention_mask"] == 1)).all()
    with pytest.raises(ValueError, match="world_size"):
        BatchIterator(data, 8, rank=0, world_size=4, seed=3).load_state_dict(state)


def test_resume_with_another_batch_size_continues_at_the_same_instance(tmp_path, tok_dir):
    """The position is stored in batches with their size: a micro_batch_size changed on resume neither repeats nor
    skips data, or is refused when the instances consumed are not whole new batches."""
    rng = random.Random(0)
    words = "the cat sat on a mat while dogs ran far away from home every single day".split()
    docs = ["\n".join(" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(6)) for _ in range(60)]
    (tmp_path / "c.txt").write_text("\n\n".join(docs) + "\n")
    C.create_pretraining_data([str(tmp_path / "c.txt")], str(tok_dir), str(tmp_path / "d"),
                              C.CreateOptions(max_seq_length=32, dupe_factor=1), input_format="lines", progress=False)
    data = PretrainingData(tmp_path / "d")
    assert data.manifest["tokenizer"]["path"] == str(Path(tok_dir).resolve())  # found from any working directory
    it = BatchIterator(data, 8, rank=1, world_size=2, seed=3)
    assert it.batches_per_epoch >= 4
    rank_stream = [x for b in range(it.batches_per_epoch) for x in it._indices(0, b)]  # whatever the batch size
    stream = iter(it)
    for _ in range(3):  # 24 instances consumed
        next(stream)
    state = json.loads(json.dumps(it.state_dict()))
    for size in (4, 6, 12):
        again = BatchIterator(data, size, rank=1, world_size=2, seed=3)
        again.load_state_dict(state)
        assert again._indices(again.epoch, again.batch) == rank_stream[24:24 + size], size
    with pytest.raises(ValueError, match="3 batch.* of 8 per rank \\(24 instances.*not a whole number of batches of 5"):
        BatchIterator(data, 5, rank=1, world_size=2, seed=3).load_state_dict(state)
    old = {k: v for k, v in state.items() if k != "batch_size"}  # saved before the size was stored: this size
    again = BatchIterator(data, 8, rank=1, world_size=2, seed=3)
    again.load_state_dict(old)
    assert (again.epoch, again.batch) == (0, 3)


# -- dynamic masking --------------------------------------------------------------------------------------------------

def test_dynamic_masking_matches_the_static_rules_and_changes_every_draw(tmp_path, tok_dir, adapter):
    _create(tmp_path / "dyn", tok_dir, 1, static_masking=False)
    data = PretrainingData(tmp_path / "dyn")
    assert not data.static_masking and not (tmp_path / "dyn" / "shard_00000" / "mask_labels.npy").exists()
    batch = next(iter(BatchIterator(data, 64, seed=0)))
    v = adapter.vocab
    masker = DynamicMasker(v, MaskingOptions(max_predictions_per_seq=20), seed=0)
    hist = np.zeros(3)
    counts = Counter()
    draws = []
    for epoch in range(30):
        out = masker(batch, rng=np.random.default_rng([11, epoch]))
        hist += out["ngram_hist"]
        pos, lab = out["masked_positions"], out["masked_labels"]
        has = lab != -100
        n = has.sum(1)
        budget = np.minimum(20, np.maximum(1, np.rint(batch["attention_mask"].sum(1) * 0.15)))
        assert (n <= budget).all() and (n >= 1).all()
        orig = np.take_along_axis(batch["input_ids"], pos, 1)[has]
        assert not np.isin(orig, [v.cls_id, v.sep_id, v.pad_id]).any()
        np.testing.assert_array_equal(lab[has], orig)
        new = np.take_along_axis(out["input_ids"], pos, 1)[has]
        counts.update(mask=int((new == v.mask_id).sum()), keep=int(((new == orig) & (new != v.mask_id)).sum()),
                      total=int(has.sum()))
        unchanged = np.ones_like(batch["input_ids"], dtype=bool)
        np.put_along_axis(unchanged, np.where(has, pos, 0), ~has, axis=1)
        assert (out["input_ids"][unchanged] == batch["input_ids"][unchanged]).all()
        _assert_whole_words(batch["word_start"], [p[h] for p, h in zip(pos, has)], batch["attention_mask"].sum(1))
        draws.append(pos.copy())
    assert not np.array_equal(draws[0], draws[1])  # a new draw each epoch
    again = masker(batch, rng=np.random.default_rng([11, 0]))
    np.testing.assert_array_equal(again["masked_positions"], draws[0])  # and reproducible from its seed
    assert abs(counts["mask"] / counts["total"] - 0.8) < 0.02 and abs(counts["keep"] / counts["total"] - 0.1) < 0.02
    np.testing.assert_allclose(hist / hist.sum(), [6 / 11, 3 / 11, 2 / 11], atol=0.06)


# -- bad input --------------------------------------------------------------------------------------------------------

def test_bad_inputs_are_reported_not_fatal(tmp_path, tok_dir, capsys):
    (tmp_path / "empty.txt").write_text("")
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"First sentence of doc one.\nSecond one here.\n   \nDoc two starts.\n\xff\xfe broken\n"
                      b"A closing line of doc two.\n" + (b"word " * 700) + b"\n")
    counts = Counter()
    warnings = []
    docs = list(read_documents([lines, tmp_path / "empty.txt"], input_format="lines", counts=counts,
                               warn=warnings.append))
    assert docs[0] == ["First sentence of doc one.", "Second one here."]  # whitespace-only line ends a document
    assert len(docs) == 2 and counts["invalid_utf8_lines"] == 1 and counts["empty_files"] == 1
    assert any(f"{lines}:5" in w for w in warnings) and any("empty.txt" in w for w in warnings)
    with pytest.raises(DataError, match=rf"{lines.name}:5: invalid UTF-8"):
        list(read_documents([lines], input_format="lines", on_invalid="fail"))
    m = C.create_pretraining_data([str(lines)], str(tok_dir), str(tmp_path / "out"),
                                  C.CreateOptions(max_seq_length=64, dupe_factor=1), input_format="lines",
                                  progress=False)
    assert m["totals"]["long_sentences"] == 1 and m["inputs"]["invalid_utf8_lines"] == 1
    assert [Path(f).name for f in m["inputs"]["files"]] == [lines.name]  # the names, not the count of files read
    with pytest.raises(DataError, match="no text found"):
        C.create_pretraining_data([str(tmp_path / "empty.txt")], str(tok_dir), str(tmp_path / "out2"),
                                  progress=False)
    with pytest.raises(DataError, match="no such file"):
        C.create_pretraining_data([str(tmp_path / "missing*.txt")], str(tok_dir), str(tmp_path / "out3"))
    with pytest.raises(DataError, match="not empty"):
        C.create_pretraining_data([str(lines)], str(tok_dir), str(tmp_path / "out"), input_format="lines")


def test_jsonl_input_and_bad_json_lines(tmp_path, tok_dir):
    f = tmp_path / "docs.jsonl"
    f.write_text(json.dumps({"text": "One sentence. Another sentence here. And a third!"}) + "\n{not json\n"
                 + json.dumps({"body": "no text field"}) + "\n" + json.dumps({"text": "Second doc. Two parts."}) + "\n")
    counts = Counter()
    docs = list(read_documents([f], counts=counts, warn=lambda m: None))
    assert docs == [["One sentence.", "Another sentence here.", "And a third!"], ["Second doc.", "Two parts."]]
    assert counts["bad_json_lines"] == 2
    with pytest.raises(DataError, match=r"docs\.jsonl:2"):
        list(read_documents([f], on_invalid="fail"))


def test_interrupted_creation_is_never_taken_for_complete_data(tmp_path, tok_dir, monkeypatch):
    calls = {"n": 0}
    real = C.write_shard

    def crash_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if killed while writing shard 1
        return real(*a, **k)

    monkeypatch.setattr(C, "write_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _create(tmp_path / "d", tok_dir, 1)
    assert not (tmp_path / "d" / MANIFEST).exists()
    with pytest.raises(DataError, match="no manifest.json"):
        PretrainingData(tmp_path / "d")
    # a shard directory missing a file is refused even with a manifest
    monkeypatch.setattr(C, "write_shard", real)
    _create(tmp_path / "e", tok_dir, 1)
    (tmp_path / "e" / "shard_00001" / "num_a.npy").unlink()
    with pytest.raises(DataError, match="incomplete"):
        PretrainingData(tmp_path / "e")


def test_gutenberg_boilerplate_is_stripped(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("Header junk. License.\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nIt was a dark night. "
                 "Rain fell.\n\nThe end came.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nMore license text.\n")
    said = []
    docs = list(read_documents([f, f], strip_gutenberg=True, warn=said.append))
    assert docs == [["It was a dark night.", "Rain fell.", "The end came."]] * 2 and not said
    list(read_documents([f, f], warn=said.append))  # auto -> raw: said once per run
    assert len(said) == 1 and "read as raw text" in said[0] and "--input_format lines" in said[0]
    assert "License" in " ".join(next(read_documents([f])))


def _small(tmp_path: Path, tok_dir: Path, out: Path, text: str = "", **kw) -> dict:
    f = tmp_path / "small.txt"
    if not f.exists():
        f.write_text("".join(f"Sentence {i} of document {d} is here.\n" + ("\n" if i == 5 else "")
                             for d in range(40) for i in range(6)))
    return C.create_pretraining_data([text or str(f)], str(tok_dir), str(out),
                                     C.CreateOptions(max_seq_length=32, dupe_factor=1, chunk_chars=2_000),
                                     input_format="lines", progress=False, **kw)


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_overwrite_swaps_the_new_data_in_only_when_it_is_complete(tmp_path, tok_dir, monkeypatch):
    """--overwrite used to empty OUTPUT first: a failing run (here: an empty input) lost the user's good shards."""
    out = tmp_path / "out"
    _small(tmp_path, tok_dir, out)
    before = _snapshot(out)
    assert len(before) > 9 and MANIFEST in before
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="no text found"):
        _small(tmp_path, tok_dir, out, text=str(tmp_path / "empty.txt"), overwrite=True)
    assert _snapshot(out) == before and not (out / C.STAGE).exists()  # no staging left
    (out / C.STAGE).mkdir()  # as a killed run leaves it
    (out / C.STAGE / "shard_00000").mkdir()
    m = _small(tmp_path, tok_dir, out, overwrite=True)  # a successful overwrite replaces it
    assert len(PretrainingData(out)) == m["totals"]["instances"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt", "out", "small.txt"]
    assert sorted(p.name for p in out.iterdir()) == sorted([s["name"] for s in m["shards"]] + [MANIFEST])
    # the output directory itself is never renamed: `--output .` (the current directory, or a mount point) works
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    m = _small(tmp_path, tok_dir, Path("."))
    m = _small(tmp_path, tok_dir, Path("."), overwrite=True)
    assert Path.cwd() == here and len(PretrainingData(here)) == m["totals"]["instances"]
    # a fresh output that fails is not left behind
    with pytest.raises(DataError, match="no text found"):
        _small(tmp_path, tok_dir, tmp_path / "fresh", text=str(tmp_path / "empty.txt"))
    assert not (tmp_path / "fresh").exists()
    # --overwrite never deletes a directory that data create did not write
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(DataError, match=r"mine: not a data directory written by `litebert data create` \(it holds "
                                        r"notes\.txt\), so --overwrite does not replace it"):
        _small(tmp_path, tok_dir, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "precious"
    # an output that is a file (or under one): named, not FileExistsError / NotADirectoryError
    with pytest.raises(DataError, match=r"notes\.txt: a file, not a directory; --output names the directory"):
        _small(tmp_path, tok_dir, mine / "notes.txt")
    with pytest.raises(DataError, match=r"notes\.txt/sub: .*notes\.txt is a file, not a directory"):
        _small(tmp_path, tok_dir, mine / "notes.txt" / "sub")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_input_is_refused_naming_the_file(tmp_path, tok_dir, encoding):
    """It decoded as "UTF-8" with NUL bytes: a warning for line 1, then exit 0 with `<unk> o <unk> u` instances."""
    f = tmp_path / "wide.txt"
    f.write_text("Some text in a wide encoding.\nAnother sentence.\n", encoding=encoding)
    why = "a UTF-16/32 byte-order mark" if encoding != "utf-16-le" else r"a NUL byte \(byte 1 of the line\)"
    with pytest.raises(DataError, match=rf"wide\.txt:1: {why}; expected UTF-8 text, not a binary or UTF-16/32 file"):
        C.create_pretraining_data([str(f)], str(tok_dir), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


def test_a_damaged_data_directory_is_a_data_error_naming_the_file(tmp_path, tok_dir, capsys):
    from litebert.__main__ import main

    good = tmp_path / "good"
    _small(tmp_path, tok_dir, good)
    cases = {
        "truncated": (lambda d: (d / "shard_00001" / "tokens.npy").write_bytes(
            (d / "shard_00001" / "tokens.npy").read_bytes()[:200]),
            r"shard_00001/tokens\.npy: not a readable \.npy array, truncated or damaged"),
        "header": (lambda d: (d / "shard_00000" / "sop.npy").write_bytes(b"\x93NUMPY"),
                   r"shard_00000/sop\.npy: not a readable \.npy array"),
        "short": (lambda d: np.save(d / "shard_00000" / "word_start.npy", np.zeros(3, dtype=np.uint8)),
                  r"shard_00000: shard is inconsistent \(word_start\.npy has 3 entries, expected \d+\)"),
        "json": (lambda d: (d / MANIFEST).write_text('{"format_version": 1, "options": '),
                 r"manifest\.json: not valid JSON \(line 1, column 34"),
        "fields": (lambda d: (d / MANIFEST).write_text(json.dumps(
            {k: v for k, v in json.loads((d / MANIFEST).read_text()).items() if k != "options"})),
            r"manifest\.json: malformed, no options;"),
        "shards": (lambda d: (d / MANIFEST).write_text(json.dumps(
            {**json.loads((d / MANIFEST).read_text()), "shards": [{"name": "../../etc", "num_instances": 1}]})),
            r"manifest\.json: malformed, shards must be a list of \{name: shard_NNNNN"),
    }
    for name, (damage, message) in cases.items():
        d = tmp_path / name
        shutil.copytree(good, d)
        damage(d)
        with pytest.raises(DataError, match=message):
            PretrainingData(d)
        with pytest.raises(DataError, match=message):
            data_statistics(str(d))
    with pytest.raises(SystemExit) as e:  # the CLI: one line, exit 1, no traceback
        main(["data", "stats", str(tmp_path / "json")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.startswith("litebert: error: ") and "manifest.json: not valid JSON" in err
    assert len(err.strip().splitlines()) == 1


def test_shard_names_past_99999_are_data_shards():
    """shard_name(100000) is shard_100000: the manifest check and --overwrite must know it as ours."""
    from litebert.data.shards import SHARD_NAME, shard_name

    assert SHARD_NAME.match(shard_name(100_000)) and C._DATA_ENTRY.match(shard_name(100_000))
    assert not SHARD_NAME.match("shard_12") and not C._DATA_ENTRY.match("notes.txt")
