"""The README's first command, end to end (fewer steps): corpus from the standard library, vocabulary, data,
pretraining, evaluation, checkpoint, fill-mask. Also the fill-mask pipeline against the direct model call."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from litebert import AlbertForMaskedLM, AlbertForPreTraining, AlbertForSequenceClassification, load_tokenizer
from litebert.pipelines import FillMask, PipelineError
from litebert.quickstart import QuickstartError, quickstart, stdlib_docstrings


@pytest.fixture(scope="module")
def qs(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    return quickstart(out_dir=str(out), steps=300, device="cpu")


def test_quickstart_outputs(qs):
    # the pretrained model beats always predicting the most frequent masked token
    assert qs["masked_lm_accuracy"] > qs["masked_lm_majority_baseline"], qs
    assert json.loads(open(f"{qs['out_dir']}/quickstart.json").read())["model"] == qs["model"]
    # the checkpoint reloads, as ours and as another head
    model = AlbertForPreTraining.from_pretrained(qs["model"])
    assert model.config.hidden_size == 128 and model.config.num_hidden_layers == 4
    with pytest.warns(UserWarning, match="classifier"):
        AlbertForSequenceClassification.from_pretrained(qs["model"], num_labels=2)
    assert load_tokenizer(qs["model"]).vocab_size == model.config.vocab_size
    # fill-mask returned ranked tokens for every probe
    assert all(len(p) == 5 for p in qs["fill_mask"])


def test_quickstart_never_deletes_what_it_did_not_write(tmp_path):
    """out_dir is replaced only when it holds an earlier quickstart run; inputs are checked before it is touched."""
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(QuickstartError, match="thesis.txt"):
        quickstart(out_dir=str(precious), steps=2, device="cpu")
    assert (precious / "thesis.txt").read_text() == "years of work" and (precious / "sub").is_dir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(QuickstartError, match="is a file"):
        quickstart(out_dir=str(tmp_path / "afile"), steps=2, device="cpu")
    earlier = tmp_path / "earlier"  # looks like an earlier run
    (earlier / "model").mkdir(parents=True)
    (earlier / "quickstart.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        quickstart(out_dir=str(earlier), input=str(tmp_path / "missing.txt"), steps=2, device="cpu")
    with pytest.raises(QuickstartError, match="--overwrite true"):
        quickstart(out_dir=str(earlier), steps=2, device="cpu", overwrite=False)
    assert (earlier / "quickstart.json").read_text() == "{}"
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("Only a few words here.\n")
    with pytest.raises(QuickstartError, match="22 characters of text"):
        quickstart(out_dir=str(earlier), input=str(tiny), steps=2, device="cpu")
    assert (earlier / "quickstart.json").read_text() == "{}"  # too little text: checked before the run is replaced


def test_quickstart_on_a_small_text_file_of_the_users(tmp_path):
    """`litebert quickstart --input my.txt` with ~80k characters in one file (data create would read it as one
    document, one shard): cut into documents, several shards, the last held out, evaluated."""
    text = tmp_path / "my.txt"
    text.write_text("\n\n".join(stdlib_docstrings(max_chars=60_000)))
    out = quickstart(out_dir=str(tmp_path / "run"), input=str(text), steps=3, device="cpu")
    manifest = json.loads((tmp_path / "run" / "data" / "manifest.json").read_text())
    assert len(manifest["shards"]) >= 3
    assert 0 <= out["sentence_order_accuracy"] <= 1 and len(out["fill_mask"]) == 4


def test_fill_mask_equals_the_direct_model_call(qs):
    pipe = FillMask.from_pretrained(qs["model"], device="cpu")
    texts = ["The [MASK] is returned.", "Raise an [MASK] if the [MASK] is empty."]
    out = pipe(texts, top_k=3)
    tok, model = pipe.tokenizer, AlbertForMaskedLM.from_pretrained(qs["model"]).eval()
    enc = tok.encode_batch(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        probs = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits.softmax(-1)
    assert [len(x) for x in out] == [1, 2]
    for b, per_mask in enumerate(out):
        positions = (enc["input_ids"][b] == tok.mask_id).nonzero().flatten().tolist()
        for pos, ranked in zip(positions, per_mask):
            top = probs[b, pos].topk(3)
            assert [r["token"] for r in ranked] == top.indices.tolist()
            torch.testing.assert_close(torch.tensor([r["score"] for r in ranked]), top.values, atol=1e-6, rtol=0)
            assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]
    # targets restrict the ranking to the given words
    words = ["the", "a"]
    restricted = pipe(["The [MASK] is returned."], top_k=2, targets=words)[0][0]
    assert {r["token_str"].lstrip("▁") for r in restricted} <= set(words)
    with pytest.raises(PipelineError, match="no \\[MASK\\]"):
        pipe(["nothing to fill"])
    with pytest.raises(PipelineError, match="too long"):
        pipe(["word " * 600 + "[MASK]."])


def test_fill_mask_cli_reads_stdin_and_writes_json(qs):
    proc = subprocess.run([sys.executable, "-m", "litebert", "fill-mask", qs["model"], "--json_output", "true",
                           "--top_k", "2", "--device", "cpu"], input="The [MASK] is returned.\n",
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["text"] == "The [MASK] is returned." and len(row["predictions"][0]) == 2
    bad = subprocess.run([sys.executable, "-m", "litebert", "fill-mask", qs["model"], "--text", "no mask here",
                          "--device", "cpu"], capture_output=True, text=True)
    assert bad.returncode == 1 and "no [MASK]" in bad.stderr and "Traceback" not in bad.stderr
