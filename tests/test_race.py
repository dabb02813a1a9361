"""RACE: the real dev files, the all.txt layout, the cloze rule and the original's truncation, bad input, and
train -> evaluate -> predict end to end with a tiny model."""

from __future__ import annotations

import json

import pytest

from litebert.__main__ import main
from litebert.finetune import race as R
from litebert.tokenizer import load_tokenizer

from conftest import DATA

RACE = DATA / "race"


def test_reads_the_real_dev_files_per_level():
    dev = R.read_race(RACE, "dev")
    assert (sum(e.level == "middle" for e in dev), sum(e.level == "high" for e in dev)) == (1436, 3451)
    assert all(len(e.options) == 4 and 0 <= e.label < 4 for e in dev)
    assert len(R.read_race(RACE / "RACE", "dev", levels=("high",))) == 3451  # DATA_DIR may be the RACE folder
    assert len(R.read_race(RACE, "dev[10:20]")) == 10
    assert len({e.qid for e in dev}) == len(dev)


def test_all_txt_layout_and_bad_input(tmp_path):
    article = {"article": "Tom has a cat.", "questions": ["Tom has a _ .", "What does Tom have?"],
               "options": [["cat", "dog", "cow", "pig"], ["a cat", "a dog", "a cow", "a pig"]], "answers": ["A", "A"],
               "id": "m1.txt"}
    (tmp_path / "RACE" / "dev" / "middle").mkdir(parents=True)
    (tmp_path / "RACE" / "dev" / "high").mkdir(parents=True)
    lines = [json.dumps(article), json.dumps({**article, "id": "m2.txt"})]
    (tmp_path / "RACE" / "dev" / "middle" / "all.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "RACE" / "dev" / "high" / "all.txt").write_text(json.dumps({**article, "answers": ["A", "E"]}) + "\n")
    qids = [e.qid for e in R.read_race(tmp_path, "dev", ("middle",))]
    assert qids == ["m1.txt-0", "m1.txt-1", "m2.txt-0", "m2.txt-1"]
    with pytest.raises(R.RaceDataError, match=r"high/all.txt:1: question 1 has answer 'E'"):
        R.read_race(tmp_path, "dev")
    (tmp_path / "RACE" / "dev" / "high" / "all.txt").write_text(json.dumps(article) + "\n{broken\n")
    with pytest.raises(R.RaceDataError, match=r"high/all.txt:2: not JSON"):
        R.read_race(tmp_path, "dev")
    with pytest.raises(R.RaceDataError, match=r"RACE/train: no such directory"):
        R.read_race(tmp_path, "train")
    with pytest.raises(R.RaceDataError, match="expected a name"):
        R.read_race(tmp_path, "dev[a:b]")
    (tmp_path / "RACE" / "dev" / "high" / "all.txt").write_text(json.dumps(article) + "\n")
    with pytest.raises(R.RaceDataError, match="expected a name"):
        R.read_race(tmp_path, "dev[-:]")
    with pytest.raises(R.RaceDataError, match="selects no questions"):
        R.read_race(tmp_path, "dev[3:3]")
    (tmp_path / "RACE" / "dev" / "high" / "all.txt").write_text(json.dumps({**article, "answers": ["A", "BC"]}))
    with pytest.raises(R.RaceDataError, match="question 1 has answer 'BC'"):
        R.read_race(tmp_path, "dev")


def test_cloze_rule_and_truncation():
    tok = load_tokenizer(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model")
    assert R.qa_text("Tom has a _ .", "cat") == "Tom has a cat ."
    assert R.qa_text("What does Tom have?", "a cat") == "What does Tom have? a cat"
    article = " ".join(f"word{k}" for k in range(400))
    long_option = " ".join(f"opt{k}" for k in range(100))
    ex = R.RaceExample("x", "high", article, "Which one?", [long_option, "b", "c", "d"], 0)
    data = R.encode(tok, [ex], max_seq_length=128, max_qa_length=20)
    art = tok.encode(article, add_special_tokens=False)["input_ids"]
    for row, types, option in zip(data.input_ids[0], data.token_type_ids[0], ex.options):
        qa = tok.encode(R.qa_text(ex.question, option), add_special_tokens=False)["input_ids"]
        qa = qa[-20:]  # the option keeps its last tokens
        assert len(row) == 128  # the article fills what is left
        assert row == [tok.cls_id, *art[:128 - len(qa) - 3], tok.sep_id, *qa, tok.sep_id]
        assert types == [0] * (128 - len(qa) - 1) + [1] * (len(qa) + 1)
    assert data.input_ids[0][0][-21:-1] == tok.encode(long_option, add_special_tokens=False)["input_ids"][-20:]


def test_race_end_to_end_tiny(pretrained, tmp_path, capsys):
    out = tmp_path / "race"
    # train on part of the real dev set, evaluate on another part holding both levels
    main(["race", "--data_dir", str(RACE), "--model", str(pretrained), "--output", str(out),
          "--train_split", "dev[:24]", "--eval_split", "dev[1420:1452]", "--predict_split", "dev[:6]",
          "--max_seq_length", "96", "--max_qa_length", "32", "--train_steps", "4", "--warmup_steps", "1",
          "--batch_size", "4", "--micro_batch_size", "2", "--lr", "1e-4", "--dropout_prob", "0", "--progress", "false"])
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((out / "best" / "config.json").read_text())["classifier_dropout_prob"] == 0.0  # v2's setting
    report = json.loads((out / "race_results.json").read_text())
    assert report["predictions"].endswith(f"(from {out / 'best'})")  # the original predicts with model.ckpt-best
    last = printed["eval"]["last"]
    assert (last["middle_total"], last["high_total"], last["total"]) == (16, 16, 32)
    assert last["accuracy"] == pytest.approx((last["middle_accuracy"] + last["high_accuracy"]) / 2)
    lines = [json.loads(x) for x in (out / "predictions_dev_6.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all(x["prediction"] in "ABCD" and len(x["scores"]) == 4 for x in lines)
    assert json.loads((out / "last" / "config.json").read_text())["architectures"] == ["AlbertForMultipleChoice"]
    # the saved checkpoint evaluates to the same accuracy
    main(["race", "--data_dir", str(RACE), "--model", str(out / "last"), "--output", str(tmp_path / "again"),
          "--do_train", "false", "--eval_split", "dev[1420:1452]", "--max_seq_length", "96", "--max_qa_length", "32"])
    again = json.loads(capsys.readouterr().out)["eval"]["model"]
    assert again["accuracy"] == last["accuracy"]
    main(["race", "--data_dir", str(RACE), "--model", str(out / "last"), "--output", str(tmp_path / "m"),
          "--do_train", "false", "--eval_split", "dev[:10]", "--middle_only", "true", "--max_seq_length", "64"])
    assert set(json.loads(capsys.readouterr().out)["eval"]["model"]) >= {"middle_accuracy"}
    with pytest.raises(SystemExit):
        main(["race", "--data_dir", str(RACE), "--model", str(pretrained), "--output", str(tmp_path / "x"),
              "--middle_only", "true", "--high_only", "true"])
    assert "exclude each other" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["race", "--data_dir", str(RACE), "--model", str(pretrained), "--output", str(tmp_path / "x")])
    assert "--max_seq_length 512 is longer than" in capsys.readouterr().err  # the tiny model has 128 positions


def test_race_refuses_bad_flags_outputs_and_tokenizers_before_any_work(pretrained, tmp_path, capsys):
    from litebert.tokenizer import TokenizerFileError

    kw = dict(data_dir=str(RACE), model=str(pretrained), output=str(tmp_path / "o"), max_seq_length=64)
    for flag, value in (("train_steps", 0), ("batch_size", 0), ("eval_every", 0), ("lr", 0.0)):
        with pytest.raises(R.RaceDataError, match=f"--{flag} must be positive, got {value}"):
            R.race(**kw, **{flag: value})
    with pytest.raises(TokenizerFileError, match="has 30522 tokens but the model"):
        R.race(**kw, tokenizer=str(DATA / "bert" / "bert-base-uncased-vocab.txt"))
    (tmp_path / "taken").write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["race", "--data_dir", str(RACE), "--model", str(pretrained), "--output", str(tmp_path / "taken"),
              "--max_seq_length", "64"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "taken is a file, not a directory" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
