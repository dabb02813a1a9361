"""SQuAD: the official metrics to the last digit, windowing and answer alignment on the real files, the
post-processing rules, streaming, and train -> predict -> evaluate end to end with a tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from litebert.__main__ import main
from litebert.finetune import squad as Q
from litebert.finetune.squad_eval import SquadDataError, evaluate_files, evaluate_v1, evaluate_v2, load_dataset
from litebert.model import QuestionAnsweringOutput
from litebert.tokenizer import load_tokenizer

from conftest import DATA

SQ = DATA / "squad"
V1 = SQ / "dev-v1.1.json"
V2 = SQ / "samples" / "dev-v2.0_cs224n_half.json"
V1_PRED = SQ / "predictions" / "v1.1_dev_pred_BERT_ensemble_GoogleAI.json"
V2_PRED = SQ / "predictions" / "v2.0_cs224n_half_synthetic_preds.json"
V2_NA = SQ / "predictions" / "v2.0_cs224n_half_synthetic_na_probs.json"


def expected() -> tuple[dict, dict, dict]:
    """The three outputs recorded in EXPECTED.md, parsed from its text (not copied into this test)."""
    text = (SQ / "EXPECTED.md").read_text()
    v1 = json.loads(re.search(r'\{"exact_match".*?\}', text).group(0))
    blocks = [json.loads(b) for b in re.findall(r"\n    \{\n.*?\n    \}", text, flags=re.S)]
    return v1, blocks[0], blocks[1]


@pytest.fixture(scope="module")
def albert_tokenizer():
    return load_tokenizer(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model")


def test_official_metrics_reproduce_expected_to_the_last_digit():
    v1, v2, v2_na = expected()
    assert json.dumps(evaluate_files(str(V1), str(V1_PRED))) == json.dumps(v1)
    assert json.dumps(evaluate_files(str(V2), str(V2_PRED))) == json.dumps(v2)
    assert json.dumps(evaluate_files(str(V2), str(V2_PRED), str(V2_NA))) == json.dumps(v2_na)


def test_gold_answers_score_100():
    data, _ = load_dataset(V1)
    gold = {qa["id"]: qa["answers"][0]["text"] for a in data for p in a["paragraphs"] for qa in p["qas"]}
    assert evaluate_v1(data, gold) == {"exact_match": 100.0, "f1": 100.0}
    data2, _ = load_dataset(V2)
    gold2 = {qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "")
             for a in data2 for p in a["paragraphs"] for qa in p["qas"]}
    m = evaluate_v2(data2, gold2)
    assert (m["exact"], m["f1"], m["HasAns_f1"], m["NoAns_exact"]) == (100.0, 100.0, 100.0, 100.0)


def test_metric_hand_cases():
    data = [{"paragraphs": [{"qas": [{"id": "a", "answers": [{"text": "the Denver Broncos"}]},
                                     {"id": "b", "answers": [{"text": "Santa Clara, California"}]},
                                     {"id": "c", "answers": []}]}]}]
    # "Broncos" vs "the Denver Broncos" (article dropped): P 1, R 1/2 -> F1 2/3; punctuation and case ignored
    v1_data = [{"paragraphs": [{"qas": data[0]["paragraphs"][0]["qas"][:2]}]}]
    m = evaluate_v1(v1_data, {"a": "Broncos", "b": "santa clara california"})
    assert m["exact_match"] == 50.0 and m["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert evaluate_v1(v1_data, {"b": "Santa Clara"})["exact_match"] == 0.0  # "a" unanswered: 0, still counted
    m = evaluate_v2(data, {"a": "Denver Broncos!", "b": "Santa Clara", "c": ""})
    assert m["exact"] == pytest.approx(100 * 2 / 3)
    assert m["f1"] == pytest.approx(100 * (1 + 2 * (1 * 2 / 3) / (1 + 2 / 3) + 1) / 3)
    assert m["NoAns_total"] == 1 and m["HasAns_total"] == 2


def test_evaluate_command_prints_the_official_keys(capsys):
    _, _, v2_na = expected()
    main(["squad", "evaluate", str(V2), str(V2_PRED), "--na-probs", str(V2_NA)])
    assert json.loads(capsys.readouterr().out) == v2_na
    main(["squad", "evaluate", str(V1), str(V1_PRED)])
    assert json.loads(capsys.readouterr().out) == expected()[0]
    main(["squad", "check", str(SQ / "samples" / "dev-v2.0_hf_dummy_2q.json"), "--tokenizer",
          str(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model")])
    checked = json.loads(capsys.readouterr().out)
    assert checked["questions"] == 2 and checked["exact"] + checked["mismatched"] == checked["answers"]


def test_evaluate_bad_files_name_the_problem(tmp_path, capsys):
    bad = tmp_path / "preds.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SystemExit) as e:
        main(["squad", "evaluate", str(V1), str(bad)])
    assert e.value.code == 1
    assert "preds.json: expected a JSON object" in capsys.readouterr().err
    with pytest.raises(SquadDataError, match="no such predictions file"):
        evaluate_files(str(V1), str(tmp_path / "missing.json"))


def test_read_squad_errors_name_the_field(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"version": "1.1", "data": [{"paragraphs": [
        {"context": "short", "qas": [{"id": "x", "question": "q?",
                                      "answers": [{"text": "long answer", "answer_start": 2}]}]}]}]}))
    with pytest.raises(SquadDataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: answer_start 2"):
        Q.read_squad(p)


def test_doc_spans_and_max_context():
    spans = Q.doc_spans(10, 4, 2)
    assert spans == [(0, 4), (2, 6), (4, 8), (6, 10)]
    # token 3: window 0 has (3, 0) context, window 1 (1, 2) -> window 1; token 5: windows 1 (3, 0), 2 (1, 2) -> 2
    assert Q.max_context_window(spans, 3) == 1
    assert Q.max_context_window(spans, 5) == 2
    assert Q.max_context_window(spans, 0) == 0 and Q.max_context_window(spans, 9) == 3
    assert Q.doc_spans(3, 4, 2) == [(0, 3)]


@pytest.mark.parametrize("path,seq,stride", [(V1, 384, 128), (V2, 384, 128), (V1, 96, 32)])
def test_gold_spans_survive_windowing_on_the_real_files(albert_tokenizer, path, seq, stride):
    examples, _ = Q.read_squad(path)
    s = Q.Settings(max_seq_length=seq, doc_stride=stride)
    report = Q.AlignmentReport()
    ws = Q.training_windows(albert_tokenizer, examples, s, report)
    answerable = [e for e in examples if not e.is_impossible]
    assert report.answers == len(answerable)
    assert report.exact + len(report.mismatched) + report.no_tokens + len(report.wrong_offset) == report.answers
    assert not report.wrong_offset  # the real files' answer texts are all at their answer_start
    # the original drops ~0.1% as alignment mismatches; answers that start or end inside a token are as rare here
    assert len(report.mismatched) / report.answers < 0.005, report.as_dict()
    assert report.no_tokens == 0
    # every labelled window decodes back to the answer; every answerable example has a window holding it
    ctx = None
    by_example: dict[int, list] = {}
    for w in ws:
        by_example.setdefault(w.example, []).append(w)
    mismatched = {m["id"] for m in report.mismatched}
    for i, ex in enumerate(examples):
        if ex.is_impossible:
            assert all(w.start == w.end == 0 for w in by_example[i])
            continue
        if ctx is None or ctx.text != ex.context:
            ctx = Q.Context.of(albert_tokenizer, ex.context)
        held = [w for w in by_example[i] if w.start > 0]
        assert held or report.unreachable, ex.qid
        for w in held:
            assert len(w.input_ids) <= seq
            cs, ce = w.span[0] + w.start - w.first, w.span[0] + w.end - w.first
            decoded = ctx.text_of(cs, ce)
            if ex.qid not in mismatched:
                assert decoded == ex.answers[0][0].strip(), (ex.qid, decoded, ex.answers[0][0])
            else:
                assert ex.answers[0][0].strip() in decoded
    if seq < 384:  # short windows: many examples span several windows and some answers fall outside a window
        assert report.windows_without_answer > 0


class FakeQA(torch.nn.Module):
    """Start/end logits from fixed per-token scores: each window scores a context token by its value in `table`."""

    def __init__(self, tok, start_token: str, end_token: str):
        super().__init__()
        self.s, self.e = tok.convert_tokens_to_ids([start_token, end_token])

    def forward(self, input_ids, attention_mask, token_type_ids):
        ctx = token_type_ids.bool() & attention_mask.bool()
        start = torch.where(ctx & (input_ids == self.s), 5.0, 0.0) - 1.0 * (~ctx)
        end = torch.where(ctx & (input_ids == self.e), 5.0, 0.0) - 1.0 * (~ctx)
        return QuestionAnsweringOutput(start, end)


def test_prediction_streams_and_averages_spans_across_windows(albert_tokenizer):
    tok = albert_tokenizer
    context = " ".join(f"w{k}" for k in range(60)) + " the golden gate bridge " + " ".join(f"v{k}" for k in range(60))
    ex = Q.SquadExample("q1", "which bridge?", context, [("golden gate bridge", context.index("golden"))])
    pieces = tok.tokenize("golden gate bridge")
    model = FakeQA(tok, pieces[0], pieces[-1])
    s = Q.Settings(max_seq_length=64, doc_stride=16)
    consumed = []

    def examples():
        for k in range(50):
            consumed.append(k)
            yield Q.SquadExample(f"q{k}", ex.question, ex.context, ex.answers)

    stream = Q.predict(model, tok, examples(), s, torch.device("cpu"), batch_size=4)
    first = next(stream)
    assert first.text == "golden gate bridge"
    assert len(consumed) <= 3  # streamed: the first answer comes out after a batch, not after the whole set
    rest = list(stream)
    assert len(rest) == 49 and all(p.text == "golden gate bridge" for p in rest)
    # several windows hold the span, but it is scored once: only from the window where its start has the most
    # context (so its score is 5 + 5, never a sum over windows)
    assert first.nbest[0]["start_logit"] + first.nbest[0]["end_logit"] == pytest.approx(10.0)
    assert abs(sum(e["probability"] for e in first.nbest) - 1) < 1e-6
    # v2 BERT-style: null = [CLS] span score (-1 - 1) - best span (10) = -12 <= 0 -> answered; threshold -20 -> ""
    p = next(Q.predict(model, tok, [ex], s, torch.device("cpu"), version="2.0"))
    assert (p.text, p.null_odds) == ("golden gate bridge", pytest.approx(-12.0))
    p = next(Q.predict(model, tok, [ex], s, torch.device("cpu"), version="2.0", null_threshold=-20))
    assert p.text == ""


def _slice(src: Path, dst: Path, articles: slice, paragraphs: slice = slice(0, 2)) -> Path:
    data = json.loads(src.read_text())
    data["data"] = [{**a, "paragraphs": a["paragraphs"][paragraphs]} for a in data["data"][articles]]
    dst.write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("version,head", [("1.1", "albert"), ("2.0", "albert"), ("2.0", "bert")])
def test_squad_end_to_end_tiny(pretrained, tmp_path, capsys, version, head):
    src = V1 if version == "1.1" else V2
    train = _slice(src, tmp_path / "train.json", slice(0, 3))
    dev = _slice(src, tmp_path / "dev.json", slice(3, 5), slice(0, 1))
    out = tmp_path / "run"
    main(["squad", "--version", version, "--train-file", str(train), "--predict-file", str(dev),
          "--model", str(pretrained), "--output", str(out), "--head", head, "--train_steps", "6",
          "--batch_size", "8", "--max_seq_length", "128", "--doc_stride", "64", "--progress", "false",
          "--from_scratch", str(head == "bert").lower()])
    printed = json.loads(capsys.readouterr().out)
    dev_ids = [qa["id"] for a in json.loads(dev.read_text())["data"] for p in a["paragraphs"] for qa in p["qas"]]
    preds = json.loads((out / "predictions.json").read_text())
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert list(preds) == dev_ids and list(nbest) == dev_ids
    contexts = [p["context"] for a in json.loads(dev.read_text())["data"] for p in a["paragraphs"]]
    assert all(t == "" or any(t in c for c in contexts) for t in preds.values())  # exact substrings of the context
    assert {"text", "probability"} <= set(nbest[dev_ids[0]][0])
    last = printed["eval"]["last"]
    if version == "1.1":
        assert set(last) >= {"exact_match", "f1"}
        assert not (out / "null_odds.json").exists()
    else:
        odds = json.loads((out / "null_odds.json").read_text())
        assert list(odds) == dev_ids
        assert {"exact", "f1", "HasAns_total", "NoAns_total"} <= set(last)
        assert "best_f1_thresh" in last["tuned_on_this_set (optimistic, not applied)"]
        # the files on disk are the last checkpoint's: evaluating them gives the reported numbers
        again = evaluate_files(str(dev), str(out / "predictions.json"))
        assert again["f1"] == pytest.approx(last["f1"])
    for d in ("best", "last"):
        assert (out / d / "model.safetensors").is_file() and (out / d / "spiece.model").is_file()
    assert json.loads((out / "last" / "config.json").read_text())["architectures"] == [
        "AlbertForSquadV2" if version == "2.0" and head == "albert" else "AlbertForQuestionAnswering"]
    from safetensors.torch import load_file

    emb = "albert.embeddings.word_embeddings.weight"
    moved = (load_file(out / "last" / "model.safetensors")[emb]
             - load_file(pretrained / "model.safetensors")[emb]).abs()
    # 6 small steps move pretrained weights a little; --from_scratch (the bert run) never loaded them
    assert (moved.max() > 1e-2) == (head == "bert") and moved.max() > 0
    results = json.loads((out / "squad_results.json").read_text())
    assert results["alignment"]["answers"] > 0 and results["train_windows"] > 0
    # predict only, from the fine-tuned checkpoint
    main(["squad", "--version", version, "--predict-file", str(dev), "--model", str(out / "last"),
          "--output", str(tmp_path / "again"), "--max_seq_length", "128", "--doc_stride", "64"])
    capsys.readouterr()
    assert json.loads((tmp_path / "again" / "predictions.json").read_text()) == preds


def test_squad_refuses_mismatched_version_and_untrained_model(pretrained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["squad", "--version", "1.1", "--predict-file", str(V2), "--model", str(pretrained),
              "--output", str(tmp_path / "x"), "--max_seq_length", "128"])
    assert "is a SQuAD 2.0 file but --version is 1.1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["squad", "--version", "1.1", "--predict-file", str(V1), "--model", str(pretrained),
              "--output", str(tmp_path / "x"), "--max_seq_length", "128"])
    assert "no question-answering head" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["squad", "--predict-file", str(V1), "--model", str(pretrained), "--output", str(tmp_path / "x")])
    assert "--max_seq_length 384 is longer than" in capsys.readouterr().err  # the tiny model has 128 positions


def test_v2_scoring_applies_the_threshold_once_and_tunes_on_every_answer():
    data, _ = load_dataset(V2)
    rng = __import__("random").Random(0)
    qids = [(qa["id"], qa["answers"]) for a in data for p in a["paragraphs"] for qa in p["qas"]]
    # non-null answers: gold for 70% of answerable questions, a wrong span otherwise; odds spread over [-3, 3]
    texts = {q: (ans[0]["text"] if ans and rng.random() < 0.7 else "wrong words") for q, ans in qids}
    odds = {q: rng.uniform(-3, 3) for q, _ in qids}
    tuned = None
    for t in (-1.0, 0.0, 1.5, 2.5):
        m = Q.score(data, texts, odds, "2.0", t)
        written = {q: "" if odds[q] > t else texts[q] for q in texts}  # what predictions.json holds
        assert m["f1"] == evaluate_v2(data, written)["f1"] and m["exact"] == evaluate_v2(data, written)["exact"]
        t_best = m["tuned_on_this_set (optimistic, not applied)"]
        assert tuned is None or t_best == tuned  # the search sees the answers, whatever threshold was applied
        tuned = t_best
    assert Q.score(data, texts, odds, "2.0", tuned["best_f1_thresh"])["f1"] == pytest.approx(tuned["best_f1"])


def test_settings_and_files_are_checked_before_any_work(tmp_path):
    with pytest.raises(SquadDataError, match="doc_stride"):
        Q.Settings(doc_stride=0)
    with pytest.raises(SquadDataError, match="leaves no room"):
        Q.Settings(max_seq_length=3)
    examples, _ = Q.read_squad(V1)
    with pytest.raises(SquadDataError, match=r"dev-v1.1.json: a question of 20 tokens leaves no room"):
        Q.Settings(max_seq_length=23, max_query_length=20).check_room(
            load_tokenizer(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model"), examples, str(V1))
    data, _ = load_dataset(V2)
    with pytest.raises(SquadDataError, match="has no gold answer: this is SQuAD 2.0"):
        evaluate_v1(data, {})
    with pytest.raises(SquadDataError, match="no answer for 6077 of 6078 questions"):
        evaluate_v2(data, {data[0]["paragraphs"][0]["qas"][0]["id"]: ""})
    p = tmp_path / "v2.json"
    p.write_text(json.dumps({"version": "2.0", "data": data[:1]}))  # "2.0", not "v2.0": still SQuAD 2.0
    assert Q.read_squad(p)[1] == "2.0"
    p.write_text(json.dumps({"data": [{"title": "x"}]}))
    with pytest.raises(SquadDataError, match=r"data\[0\]: expected an object with a 'paragraphs' list"):
        evaluate_files(str(p), str(V1_PRED))


def test_predict_restores_training_mode_when_stopped_early(albert_tokenizer):
    model = FakeQA(albert_tokenizer, "▁the", "▁the").train()
    ex = Q.SquadExample("q", "what?", "the cat and the dog", [])
    stream = Q.predict(model, albert_tokenizer, [ex, ex, ex], Q.Settings(max_seq_length=32), torch.device("cpu"),
                       batch_size=1)
    next(stream)
    assert not model.training
    stream.close()
    assert model.training


def test_version_comes_from_the_file_and_unlabelled_v1_questions_are_predictable(pretrained, tmp_path):
    qa = {"id": "q1", "question": "What colour is the sky?"}  # no answers: a question to predict
    para = {"context": "The sky is blue.", "qas": [qa]}
    assert Q.data_version([{"paragraphs": [para]}], "1.1") == "1.1"
    assert Q.data_version([{"paragraphs": [para]}], "") == "2.0"  # nothing declared: a missing answer means 2.0
    impossible = {**para, "qas": [{**qa, "is_impossible": True, "answers": []}]}
    assert Q.data_version([{"paragraphs": [impossible]}], "1.1") == "2.0"
    p = tmp_path / "v1.json"
    p.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [para]}]}))
    examples, version = Q.read_squad(p)
    assert version == "1.1" and examples[0].answers == []
    Q._check_version(str(p), version, "1.1")  # accepted as a v1.1 prediction file
    mixed = tmp_path / "mixed.json"  # answered and unanswered questions in a 1.1 file: refused before any work
    answered = {"id": "q0", "question": "What is blue?", "answers": [{"text": "The sky", "answer_start": 0}]}
    mixed.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {**para, "qas": [answered, qa]}]}]}))
    with pytest.raises(SquadDataError, match=r"mixed.json: question 'q1' has no answer while others have"):
        Q.squad(version="1.1", predict_file=str(mixed), model=str(pretrained), output=str(tmp_path / "o"),
                max_seq_length=64)
    with pytest.raises(SquadDataError, match=r"v1.json: question 'q1' has no answer; SQuAD 1.1 training needs one"):
        Q.squad(version="1.1", train_file=str(p), predict_file=str(p), model=str(pretrained),
                output=str(tmp_path / "out"), max_seq_length=64)


@pytest.mark.parametrize("value", ["0.3", None, [0.3], True, float("nan")])
def test_na_probs_must_be_numbers(tmp_path, value):
    sample = SQ / "samples" / "dev-v2.0_hf_dummy_2q.json"
    qids = [qa["id"] for a in load_dataset(sample)[0] for p in a["paragraphs"] for qa in p["qas"]]
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({q: "" for q in qids}))
    probs = tmp_path / "na.json"
    probs.write_text(json.dumps({qids[0]: 0.5, qids[1]: value}))
    with pytest.raises(SquadDataError, match=rf"na.json: the no-answer probability of question '{qids[1]}' is "
                                             rf".*; expected a number"):
        evaluate_files(str(sample), str(preds), str(probs))
    probs.write_text(json.dumps({qids[0]: 0.5, qids[1]: 1}))  # ints are numbers
    assert evaluate_files(str(sample), str(preds), str(probs))["total"] == 2


@pytest.mark.parametrize("version", ["1.1", "v2.0"])
def test_a_data_file_without_questions_is_an_error(tmp_path, capsys, version):
    empty = tmp_path / "empty.json"
    preds = tmp_path / "preds.json"
    preds.write_text("{}")
    for data in ([], [{"title": "t", "paragraphs": [{"context": "c", "qas": []}]}]):
        empty.write_text(json.dumps({"version": version, "data": data}))
        with pytest.raises(SquadDataError, match=r"empty.json: no questions; expected at least one"):
            evaluate_files(str(empty), str(preds))
    with pytest.raises(SystemExit) as e:
        main(["squad", "evaluate", str(empty), str(preds)])
    assert e.value.code == 1 and "empty.json: no questions" in capsys.readouterr().err


def _hand_file(path: Path, qas: list[dict], context: str = "The Broncos beat the Panthers 24 to 10 in Santa Clara.") \
        -> Path:
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": qas}]}]}))
    return path


def test_duplicate_question_ids_are_an_error_naming_the_id_and_file(tmp_path):
    """Predictions are keyed by id: 55 questions with a repeated id gave 54 predictions, scored silently."""
    qa = {"question": "Who won?", "answers": [{"text": "The Broncos", "answer_start": 0}]}
    p = _hand_file(tmp_path / "dup.json", [{**qa, "id": "a"}, {**qa, "id": "b"}, {**qa, "id": "a"}])
    with pytest.raises(SquadDataError, match=r"dup.json: data\[0\]\.paragraphs\[0\]\.qas\[2\]: question id 'a' is "
                                             r"already used at data\[0\]\.paragraphs\[0\]\.qas\[0\]"):
        Q.read_squad(p)


def test_training_skips_answers_whose_text_is_not_at_answer_start(pretrained, tmp_path, albert_tokenizer, capsys):
    """The original skips such a question ("Could not find answer") rather than train on the span at the offset; the
    count and the first ids are printed as a warning. An answer cut inside a word is still trained on (its span is
    the whole token), as before."""
    context = "The Broncos beat the Panthers 24 to 10 in Santa Clara."
    qas = [{"id": "good", "question": "Who won?", "answers": [{"text": "The Broncos", "answer_start": 0}]},
           {"id": "shifted", "question": "Who lost?", "answers": [{"text": "the Panthers", "answer_start": 3}]},
           {"id": "cut", "question": "In?", "answers": [{"text": "Santa Cl", "answer_start": context.index("Santa")}]},
           {"id": "elsewhere", "question": "Where?", "answers": [{"text": "Santa Clara", "answer_start": 0}]}]
    train = _hand_file(tmp_path / "train.json", qas, context)
    examples, _ = Q.read_squad(train)
    report = Q.AlignmentReport()
    ws = Q.training_windows(albert_tokenizer, examples, Q.Settings(max_seq_length=64), report)
    assert {w.example for w in ws} == {0, 2}  # no window at all for the wrong offsets: never a wrong span
    assert [x["id"] for x in report.wrong_offset] == ["shifted", "elsewhere"]
    assert (report.exact, len(report.mismatched), report.answers) == (1, 1, 4)
    assert report.as_dict()["wrong_offset"] == 2
    main(["squad", "--train-file", str(train), "--predict-file", str(train), "--model", str(pretrained), "--output",
          str(tmp_path / "run"), "--max_seq_length", "64", "--train_steps", "1", "--batch_size", "2", "--progress",
          "false"])
    err = capsys.readouterr().err
    assert "train.json: skipped 2 training question(s) whose answer text is not at its answer_start (the original's " \
           "\"Could not find answer\"): 'shifted', 'elsewhere'" in err
    results = json.loads((tmp_path / "run" / "squad_results.json").read_text())
    assert results["alignment"]["wrong_offset"] == 2 and results["train_windows"] == len(ws)


def test_squad_refuses_bad_flags_outputs_and_tokenizers_before_any_work(pretrained, tmp_path, capsys):
    from litebert.tokenizer import TokenizerFileError

    kw = dict(predict_file=str(V1), model=str(pretrained), output=str(tmp_path / "o"), max_seq_length=64)
    for flag, value in (("train_steps", 0), ("epochs", 0.0), ("batch_size", 0), ("predict_batch_size", 0)):
        with pytest.raises(SquadDataError, match=f"--{flag} must be positive, got {value}"):
            Q.squad(**kw, train_file=str(V1), **{flag: value})
    with pytest.raises(TokenizerFileError, match="has 30522 tokens but the model"):
        Q.squad(**kw, tokenizer=str(DATA / "bert" / "bert-base-uncased-vocab.txt"))
    (tmp_path / "taken").write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["squad", "--predict-file", str(V1), "--model", str(pretrained), "--output", str(tmp_path / "taken"),
              "--max_seq_length", "64"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "taken is a file, not a directory" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
