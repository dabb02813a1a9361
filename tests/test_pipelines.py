"""Pipelines equal the direct model call; answers are exact substrings of the context, found across doc-stride
windows; the CLI reads stdin and writes JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from litebert import (AlbertConfig, AlbertForMultipleChoice, AlbertForQuestionAnswering,
                      AlbertForSequenceClassification, AlbertForSquadV2, AlbertModel, load_tokenizer)
from litebert.model import AlbertForMaskedLM, QuestionAnsweringOutput, mean_pool
from litebert.pipelines import Answer, Choose, Classify, Embed, PipelineError

SPM = Path(__file__).resolve().parents[2] / "shared" / "data" / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"
pytestmark = pytest.mark.skipif(not SPM.is_file(), reason="../shared/data not present")
TEXTS = ["The whale surfaced near the ship.", "Call me Ishmael.", "It was the best of times, it was the worst."]


def _save(tmp_path, cls, name, **cfg):
    torch.manual_seed(0)
    config = AlbertConfig.from_preset("tiny", vocab_size=30000, **cfg)
    model = cls(config).eval()
    d = tmp_path / name
    model.save_pretrained(d)
    shutil.copy(SPM, d / "spiece.model")
    return d, model, load_tokenizer(d)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="torch.compile needs a C compiler")
def test_compiled_embed_equals_eager(tmp_path):
    """Embed(compile=...): batches padded to multiples of 16 through the compiled encoder give the eager vectors,
    every pooling, texts of several lengths (two batches of different widths), in input order."""
    d, _, _ = _save(tmp_path, AlbertModel, "enc")
    texts = TEXTS + ["word " * 20, "a much longer text " * 3]
    eager = Embed.from_pretrained(str(d), device="cpu", batch_size=3)
    compiled = Embed.from_pretrained(str(d), device="cpu", batch_size=3, compile="default")
    for pooling in ("mean", "cls", "pooled"):
        np.testing.assert_allclose(compiled(texts, pooling=pooling), eager(texts, pooling=pooling), atol=1e-5)
    for a, b in zip(compiled(texts, pooling="tokens"), eager(texts, pooling="tokens")):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(PipelineError, match="compile must be none, default"):
        Embed.from_pretrained(str(d), device="cpu", compile="fast")


def test_embed_equals_the_direct_call(tmp_path):
    d, model, tok = _save(tmp_path, AlbertModel, "enc")
    pipe = Embed.from_pretrained(str(d), device="cpu", batch_size=2)
    enc = tok.encode_batch(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        o = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    np.testing.assert_allclose(pipe(TEXTS, pooling="mean"), mean_pool(o.last_hidden_state, enc["attention_mask"]),
                               atol=1e-5)
    np.testing.assert_allclose(pipe(TEXTS, pooling="cls"), o.last_hidden_state[:, 0], atol=1e-5)
    np.testing.assert_allclose(pipe(TEXTS, pooling="pooled"), o.pooler_output, atol=1e-5)
    normed = pipe(TEXTS, pooling="mean", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    tokens = pipe(TEXTS, pooling="tokens")
    for k, t in enumerate(tokens):
        n = int(enc["attention_mask"][k].sum())
        np.testing.assert_allclose(t, o.last_hidden_state[k, :n], atol=1e-5)
    out = tmp_path / "v.npy"
    proc = subprocess.run([sys.executable, "-m", "litebert", "embed", str(d), "--output", str(out), "--device", "cpu"],
                          input="\n".join(TEXTS) + "\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out), pipe(TEXTS), atol=1e-5)
    proc = subprocess.run([sys.executable, "-m", "litebert", "embed", str(d), "--text", "Call me Ishmael.",
                           "--device", "cpu"], capture_output=True, text=True)
    row = json.loads(proc.stdout)
    assert row["text"] == "Call me Ishmael." and len(row["embedding"]) == 32
    # another layer's states (transformers' hidden_states index), also from the CLI
    with torch.no_grad():
        states = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], output_hidden_states=True)
    n = len(states.hidden_states)
    for layer in (0, -2):
        np.testing.assert_allclose(pipe(TEXTS, layer=layer), mean_pool(states.hidden_states[layer],
                                                                       enc["attention_mask"]), atol=1e-5)
    np.testing.assert_allclose(pipe(TEXTS, layer=n - 1), pipe(TEXTS), atol=1e-6)
    with pytest.raises(PipelineError, match=f"layer must be in \\[-{n}, {n - 1}\\]"):
        pipe(TEXTS, layer=n)
    proc = subprocess.run([sys.executable, "-m", "litebert", "embed", str(d), "--text", TEXTS[0], "--layer", "-2",
                           "--device", "cpu"], capture_output=True, text=True)
    np.testing.assert_allclose(json.loads(proc.stdout)["embedding"], pipe(TEXTS[:1], layer=-2)[0], atol=1e-5)


@pytest.mark.parametrize("problem,labels", [("single_label_classification", {0: "negative", 1: "positive"}),
                                            ("multi_label_classification", {0: "a", 1: "b", 2: "c"}),
                                            ("regression", {0: "score"})])
def test_classify_equals_the_direct_call_with_label_names(tmp_path, problem, labels):
    d, model, tok = _save(tmp_path, AlbertForSequenceClassification, "clf", id2label=labels, problem_type=problem)
    out = Classify.from_pretrained(str(d), device="cpu")(TEXTS, pairs=["a pair"] * 3)
    enc = tok.encode_batch(TEXTS, ["a pair"] * 3, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
    expect = logits if problem == "regression" else logits.sigmoid() if problem.startswith("multi") \
        else logits.softmax(-1)
    for row, ranked in zip(expect.tolist(), out):
        assert {r["label"] for r in ranked} == set(labels.values())
        assert sorted(r["score"] for r in ranked) == pytest.approx(sorted(row), abs=1e-5)
        assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    proc = subprocess.run([sys.executable, "-m", "litebert", "classify", str(d), "--device", "cpu"],
                          input="first text\tits pair\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["labels"][0]["label"] in labels.values()


def test_choose_equals_the_direct_call(tmp_path):
    d, model, tok = _save(tmp_path, AlbertForMultipleChoice, "mc")
    choices = ["a whale", "a ship", "the sea"]
    # a passage longer than the model takes: the passage is cut, never the question or the choice (as RACE trains)
    passage = "The crew waited on deck all morning. " * 40
    ranked = Choose.from_pretrained(str(d), device="cpu")(passage, choices, question="What surfaced _ at noon?")
    limit = model.config.max_position_embeddings
    art = tok.encode(passage, add_special_tokens=False)["input_ids"]
    rows, types = [], []
    for c in choices:
        qa = tok.encode(f"What surfaced {c} at noon?", add_special_tokens=False)["input_ids"]
        rows.append([tok.cls_id, *art[:limit - len(qa) - 3], tok.sep_id, *qa, tok.sep_id])
        types.append([0] * (limit - len(qa) - 1) + [1] * (len(qa) + 1))
    assert all(len(r) == limit for r in rows)
    with torch.no_grad():
        probs = model(torch.tensor([rows]), torch.ones(1, 3, limit, dtype=torch.long),
                      torch.tensor([types])).logits.softmax(-1)
    assert {r["index"]: r["score"] for r in ranked} == pytest.approx(dict(enumerate(probs[0].tolist())), abs=1e-5)
    with pytest.raises(PipelineError, match="at least 2"):
        Choose.from_pretrained(str(d), device="cpu")("q", ["only one"])
    with pytest.raises(PipelineError, match="cannot be used here"):
        Classify.from_pretrained(str(d), device="cpu")


class _PointAt(torch.nn.Module):
    """A QA 'model' whose start/end logits peak on one token id: tests windowing and offsets, not learning."""

    def __init__(self, start_id, end_id):
        super().__init__()
        self.start_id, self.end_id = start_id, end_id

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        s = (input_ids == self.start_id).float() * 10 - 5
        e = (input_ids == self.end_id).float() * 10 - 5
        return QuestionAnsweringOutput(start_logits=s, end_logits=e)


def test_answer_finds_a_span_far_into_a_long_context(tmp_path):
    d, _, tok = _save(tmp_path, AlbertForQuestionAnswering, "qa")
    filler = " ".join(f"Sentence number {i} says nothing at all." for i in range(120))
    context = filler + " The captain was  Ahab of Nantucket, “the old man”. " + filler
    ids = tok.encode("Ahab of Nantucket", add_special_tokens=False)["input_ids"]
    pipe = Answer(_PointAt(ids[0], ids[-1]), tok, torch.device("cpu"), max_seq_length=64, doc_stride=24)
    assert len(pipe._windows(len(tok.encode(context, add_special_tokens=False)["input_ids"]), 4)) > 20
    best = pipe("Who was the captain?", context)[0]
    assert best["answer"] == "Ahab of Nantucket" and context[best["start"]:best["end"]] == best["answer"]
    # a real (random) model: every answer is an exact substring, within max_answer_length tokens, ranked
    real = Answer.from_pretrained(str(d), device="cpu", max_seq_length=64, doc_stride=24, max_answer_length=5)
    answers = real("Who was the captain?", context, top_k=5)
    assert len(answers) == 5 and [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    for a in answers:
        assert context[a["start"]:a["end"]] == a["answer"] and a["answer"]
        assert len(tok.encode(a["answer"], add_special_tokens=False)["input_ids"]) <= 6
    from litebert.pipelines import PipelineError, answer

    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(PipelineError, match="empty.txt: empty; expected the passage"):
        answer(str(d), question="Who?", context_file=str(tmp_path / "empty.txt"))


def test_answer_with_the_squad_v2_head_and_its_null_threshold(tmp_path):
    d, model, tok = _save(tmp_path, AlbertForSquadV2, "qa2")
    context = "Moby-Dick was written by Herman Melville in 1851. " * 30
    loose = Answer.from_pretrained(str(d), device="cpu", max_seq_length=48, doc_stride=16, null_threshold=1e9)
    ans = loose("Who wrote Moby-Dick?", context, top_k=3)
    assert not ans[0].get("no_answer") and all(context[a["start"]:a["end"]] == a["answer"] for a in ans)
    strict = Answer.from_pretrained(str(d), device="cpu", max_seq_length=48, doc_stride=16, null_threshold=-1e9)
    null = strict("Who wrote Moby-Dick?", context)[0]
    assert null["no_answer"] and null["answer"] == "" and null["score"] == pytest.approx(_min_cls(strict, context))
    proc = subprocess.run([sys.executable, "-m", "litebert", "answer", str(d), "--device", "cpu",
                           "--max_seq_length", "48", "--doc_stride", "16"],
                          input=json.dumps({"question": "Who?", "context": context}) + "\n",
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "answers" in json.loads(proc.stdout)


def _min_cls(pipe: Answer, context: str) -> float:
    """The no-answer score recomputed by hand: the minimum over windows of the head's cls_logits."""
    tok = pipe.tokenizer
    q = tok.encode("Who wrote Moby-Dick?", add_special_tokens=False)["input_ids"]
    c = tok.encode(context, add_special_tokens=False)["input_ids"]
    scores = []
    for s, e in pipe._windows(len(c), len(q)):
        row = torch.tensor([[tok.cls_id, *q, tok.sep_id, *c[s:e], tok.sep_id]])
        types = torch.zeros_like(row)
        types[0, len(q) + 2:] = 1
        p = torch.ones_like(row)
        p[0, 0] = 0
        p[0, len(q) + 2:-1] = 0
        with torch.no_grad():
            scores.append(pipe.model(row, torch.ones_like(row), types, p_mask=p).cls_logits.item())
    return min(scores)


def test_long_inputs_are_truncated_to_what_the_model_can_take(tmp_path):
    d, model, _ = _save(tmp_path, AlbertForSequenceClassification, "clf_long")  # 128 positions, tokenizer says 512
    assert model.config.max_position_embeddings < 512
    out = Classify.from_pretrained(str(d), device="cpu")(["word " * 600])
    assert len(out[0]) == 2
    with pytest.raises(ValueError, match="longer than the model's max_position_embeddings"):
        model(torch.ones(1, 129, dtype=torch.long))


def test_a_file_and_stdin_give_the_same_lines(tmp_path, monkeypatch):
    import io

    from litebert.pipelines import _read_inputs

    text = "first\u2028still first\u0085and still\r\nsecond\n\n  \nthird"
    p = tmp_path / "in.txt"
    p.write_bytes(text.encode())
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8"))
    assert _read_inputs(None, str(p)) == _read_inputs(None, "-") == [
        "first\u2028still first\u0085and still", "second", "third"]


def test_a_checkpoint_without_the_pipelines_head_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    # a classifier checkpoint whose head tensors are missing (e.g. saved under other names): noise, not predictions
    d, _, _ = _save(tmp_path, AlbertForSequenceClassification, "clf")
    state = load_file(d / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith("classifier.")}, d / "model.safetensors")
    with pytest.raises(PipelineError, match=r"2 weights the AlbertForSequenceClassification pipeline needs are not"):
        Classify.from_pretrained(str(d), device="cpu")
    d, _, _ = _save(tmp_path, AlbertForMaskedLM, "mlm")  # no pooler saved: mean and cls pooling still work
    assert Embed.from_pretrained(str(d), device="cpu").model.pooler is None


def test_unpadded_embed_equals_padded(tmp_path):
    """Embed(unpad=True) gives the padded run's vectors for every pooling and another layer; the default turns it on
    only where varlen FlashAttention runs (a GPU, no compile, half precision); unpad with compile is refused."""
    d, _, _ = _save(tmp_path, AlbertModel, "enc")
    texts = TEXTS + ["word " * 20, "a much longer text " * 3]
    padded = Embed.from_pretrained(str(d), device="cpu", batch_size=3)
    padded(texts)
    assert padded.unpad is None and padded.model.unpad_inputs is False
    unpadded = Embed.from_pretrained(str(d), device="cpu", batch_size=3, unpad=True)
    assert unpadded.model.unpad_inputs is True
    for pooling in ("mean", "cls", "pooled"):
        np.testing.assert_allclose(unpadded(texts, pooling=pooling), padded(texts, pooling=pooling), atol=1e-5)
    np.testing.assert_allclose(unpadded(texts, layer=-2), padded(texts, layer=-2), atol=1e-5)
    for a, b in zip(unpadded(texts, pooling="tokens"), padded(texts, pooling="tokens")):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(PipelineError, match="unpad and compile exclude each other"):
        Embed.from_pretrained(str(d), device="cpu", unpad=True, compile="default")

    # the default's rule, read without running on a GPU
    rule = Embed.from_pretrained(str(d), device="cpu")
    assert rule._unpad_pays() is False  # CPU
    rule.device = torch.device("cuda")
    assert rule._unpad_pays() is False  # fp32 weights, no autocast: each layer would re-pad around SDPA
    rule.model.to(torch.bfloat16)
    assert rule._unpad_pays() is True
    rule.compile = "reduce-overhead"
    assert rule._unpad_pays() is False


BERT_VOCAB = SPM.parents[1] / "bert" / "bert-base-uncased-vocab.txt"


def _cli(capsys, *argv) -> str:
    """Run the litebert CLI in-process; returns its one-line user error (exit status 1, no traceback)."""
    from litebert.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main([*argv, "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 1 and err.startswith("litebert: error: ") and "\n" not in err, err
    return err


@pytest.mark.skipif(not BERT_VOCAB.is_file(), reason="../shared/data/bert not present")
def test_a_tokenizer_bigger_than_the_model_is_refused_by_every_pipeline(tmp_path, capsys):
    """A 30522-token BERT vocab on a 30000-row model: ids past the table would end in an IndexError on a rare word."""
    from litebert.pipelines import FillMask
    from litebert.tokenizer import TokenizerFileError

    for cls, pipe in [(AlbertForMaskedLM, FillMask), (AlbertModel, Embed), (AlbertForSequenceClassification, Classify),
                      (AlbertForMultipleChoice, Choose), (AlbertForQuestionAnswering, Answer)]:
        d, _, _ = _save(tmp_path, cls, cls.__name__)
        with pytest.raises(TokenizerFileError, match="has 30522 tokens but the model .* embeds only 30000"):
            pipe.from_pretrained(str(d), tokenizer=str(BERT_VOCAB), device="cpu")
    assert "30522 tokens" in _cli(capsys, "classify", str(tmp_path / "AlbertForSequenceClassification"),
                                  "--tokenizer", str(BERT_VOCAB), "--text", "zymurgy")


def test_choose_input_lines_are_checked_and_named(tmp_path, capsys):
    """--input JSON lines: choices a list of at least 2 strings (a string is not split into characters), context a
    string, question a string when given (optional, ""); errors give the file, its line (blank lines counted) and
    the field."""
    from litebert.pipelines import choose

    d, _, _ = _save(tmp_path, AlbertForMultipleChoice, "mc")
    good = json.dumps({"context": "The sky is blue.", "question": "Colour?", "choices": ["red", "blue"]})
    f = tmp_path / "mc.jsonl"
    for bad, expect in [({"context": "c", "question": "q", "choices": "red or blue"}, "'choices' must be a list"),
                        ({"context": "c", "question": "q", "choices": ["red"]}, "'choices' must be a list of at least 2"),
                        ({"context": "c", "question": "q", "choices": ["red", 1]}, "at least 2 strings"),
                        ({"context": "c", "question": 7, "choices": ["red", "blue"]}, "'question' must be a string"),
                        ({"question": "q", "choices": ["red", "blue"]}, "no 'context'"),
                        (["c", "q"], "expected a JSON object")]:
        f.write_text(f"{good}\n\n{json.dumps(bad)}\n")
        with pytest.raises(PipelineError, match=f"^{f}:3: .*{expect}"):
            choose(str(d), input=str(f), device="cpu")
    f.write_text(f"{good}\n{{not json\n")
    assert "mc.jsonl:2: not valid JSON" in _cli(capsys, "choose", str(d), "--input", str(f))
    f.write_text(good + "\n")
    choose(str(d), input=str(f), device="cpu")
    assert json.loads(capsys.readouterr().out)["ranked"][0]["choice"] in ("red", "blue")
    f.write_text(json.dumps({"context": "The sky is blue.", "choices": ["red", "blue"]}) + "\n")  # no question
    choose(str(d), input=str(f), device="cpu")
    assert json.loads(capsys.readouterr().out)["question"] == ""


def test_conflicting_inputs_are_refused(tmp_path):
    """--text with --input, the flags with --input, --context with --context_file: an error, not one ignored."""
    from litebert.pipelines import answer, choose, classify, embed, fill_mask

    f = tmp_path / "in.txt"
    f.write_text("The [MASK] surfaced.\n")
    for run in (fill_mask, embed, classify):
        with pytest.raises(PipelineError, match=f"both --text and --input {f} given; give one of them"):
            run("unused", text="Call me Ishmael.", input=str(f))
    with pytest.raises(PipelineError, match="both --input .* and --context/--question/--choices given"):
        choose("unused", context="c", choices=["a", "b"], input=str(f))
    with pytest.raises(PipelineError, match="--question and --choices need a --context"):
        choose("unused", choices=["a", "b"])
    with pytest.raises(PipelineError, match="both --context and --context_file .* given; give one of them"):
        answer("unused", question="Who?", context="Ahab.", context_file=str(f))
    with pytest.raises(PipelineError, match="both --input .* and --question/--context/--context_file given"):
        answer("unused", question="Who?", context="Ahab.", input=str(f))
    with pytest.raises(PipelineError, match="--context and --context_file need a --question"):
        answer("unused", context="Ahab.")


def test_settings_below_1_and_top_k_beyond_the_vocabulary_are_refused(tmp_path, capsys):
    """top_k and batch_size must be at least 1. fill-mask's top_k above the vocabulary is an error, as in
    transformers' FillMaskPipeline (it caps top_k only to the number of targets, and torch.topk fails beyond the
    vocabulary); with targets, top_k is capped to them here too."""
    from litebert.pipelines import FillMask

    d, _, _ = _save(tmp_path, AlbertForSequenceClassification, "clf")
    clf = Classify.from_pretrained(str(d), device="cpu")
    for k in (0, -1):
        with pytest.raises(PipelineError, match=f"top_k must be at least 1, got {k}"):
            clf(TEXTS, top_k=k)
    assert len(clf(TEXTS, top_k=1)[0]) == 1 and len(clf(TEXTS)[0]) == 2
    assert _cli(capsys, "classify", str(d), "--text", "x", "--batch_size", "0").endswith(
        "batch_size must be at least 1, got 0")
    m, _, _ = _save(tmp_path, AlbertForMaskedLM, "mlm")
    fm = FillMask.from_pretrained(str(m), device="cpu")
    with pytest.raises(PipelineError, match="top_k must be at least 1, got 0"):
        fm(["The [MASK] surfaced."], top_k=0)
    with pytest.raises(PipelineError, match=r"top_k must be at most the vocabulary size \(30000\), got 100000"):
        fm(["The [MASK] surfaced."], top_k=100000)
    assert len(fm(["The [MASK] surfaced."], top_k=100000, targets=["whale", "ship"])[0][0]) == 2
    for make in (lambda: FillMask.from_pretrained(str(m), device="cpu", batch_size=0),
                 lambda: Embed.from_pretrained(str(m), device="cpu", batch_size=0),
                 lambda: Answer(_PointAt(1, 2), clf.tokenizer, torch.device("cpu"), batch_size=0)):
        with pytest.raises(PipelineError, match="batch_size must be at least 1, got 0"):
            make()
    with pytest.raises(PipelineError, match="doc_stride must be at least 1, got 0"):
        Answer(_PointAt(1, 2), clf.tokenizer, torch.device("cpu"), doc_stride=0)
    with pytest.raises(PipelineError, match="top_k must be at least 1, got 0"):
        Answer(_PointAt(1, 2), clf.tokenizer, torch.device("cpu"))("Who?", "Ahab.", top_k=0)


def test_binary_or_non_utf8_input_names_the_file_and_line(tmp_path, monkeypatch, capsys):
    import io

    from litebert.pipelines import _read_inputs, answer
    from litebert.textio import TextFileError

    binary, latin1 = tmp_path / "bin.dat", tmp_path / "latin1.txt"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe")
    latin1.write_bytes("first line\ncaf\u00e9 [MASK]\n".encode("latin-1"))
    with pytest.raises(TextFileError, match=f"^{binary}:1: byte 7: a NUL byte"):
        _read_inputs(None, str(binary))
    with pytest.raises(TextFileError, match=f"^{latin1}:2: not valid UTF-8"):
        _read_inputs(None, str(latin1))
    with pytest.raises(TextFileError, match=f"^{latin1}:2: not valid UTF-8"):
        answer("unused", question="Who?", context_file=str(latin1))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(latin1.read_bytes()), encoding="utf-8"))
    with pytest.raises(TextFileError, match="^stdin: not valid UTF-8"):
        _read_inputs(None, "-")
    d, _, _ = _save(tmp_path, AlbertModel, "enc")
    assert f"{binary}:1: byte 7" in _cli(capsys, "embed", str(d), "--input", str(binary))


def test_embed_output_that_is_a_directory_is_refused(tmp_path, capsys):
    """Refused before the model runs; files are written atomically (no temporary file left beside them)."""
    from litebert.pipelines import embed

    d, _, _ = _save(tmp_path, AlbertModel, "enc")
    out = tmp_path / "out"
    out.mkdir()
    assert f"--output {out} is a directory" in _cli(capsys, "embed", str(d), "--text", "x", "--output", str(out))
    embed(str(d), text="Call me Ishmael.", output=str(out / "v.jsonl"), device="cpu")
    assert [p.name for p in out.iterdir()] == ["v.jsonl"]
