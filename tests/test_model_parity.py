"""Numerical parity with transformers on random-init tiny models, for every head, through real checkpoint files.

Each config exercises what defines ALBERT: fewer groups than layers, inner groups > 1, E != H and E == H, and batches
with padding. Both directions are checked: a transformers checkpoint loaded into litebert, and a litebert checkpoint
loaded into transformers (with no missing or unexpected keys), each giving the same outputs within 1e-5 (fp32).
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import litebert
from litebert import AlbertConfig

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=0)

ALBERT_CONFIGS = {
    # 4 layers over 2 groups of 2 inner blocks each, factorised embeddings (E != H)
    "groups2-inner2-E16-H32": dict(embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
                                   inner_group_num=2, num_attention_heads=4, intermediate_size=48),
    # E == H (the projection still exists, as in ALBERT), 3 layers sharing 1 group of 2 blocks, erf GELU
    "groups1-inner2-E32-H32-gelu": dict(embedding_size=32, hidden_size=32, num_hidden_layers=3, num_hidden_groups=1,
                                        inner_group_num=2, num_attention_heads=2, intermediate_size=40,
                                        hidden_act="gelu"),
    # 6 layers over 3 groups, relu
    "groups3-inner1-relu": dict(embedding_size=8, hidden_size=24, num_hidden_layers=6, num_hidden_groups=3,
                                inner_group_num=1, num_attention_heads=3, intermediate_size=20, hidden_act="relu"),
}
BASE = dict(vocab_size=99, max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu_new",
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, classifier_dropout_prob=0.1)


def _batch(B: int = 3, T: int = 11, vocab: int = 99, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (B, T), generator=g)
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, T // 2:] = 1
    mask = torch.ones(B, T, dtype=torch.long)
    for b in range(1, B):  # rows 1.. are padded by b*2 tokens
        mask[b, T - 2 * b:] = 0
        ids[b, T - 2 * b:] = 0
        types[b, T - 2 * b:] = 0
    return ids, mask, types


def _hf_config(cfg: dict, **extra):
    return transformers.AlbertConfig(**{**BASE, **cfg, **extra})


HEADS = [
    # (litebert class, transformers class, extra config, output field pairs (ours, theirs))
    ("AlbertModel", "AlbertModel", {}, [("last_hidden_state", "last_hidden_state"), ("pooler_output", "pooler_output")]),
    ("AlbertForPreTraining", "AlbertForPreTraining", {}, [("prediction_logits", "prediction_logits"),
                                                          ("sop_logits", "sop_logits")]),
    ("AlbertForMaskedLM", "AlbertForMaskedLM", {}, [("logits", "logits")]),
    ("AlbertForSequenceClassification", "AlbertForSequenceClassification", dict(num_labels=3), [("logits", "logits")]),
    ("AlbertForTokenClassification", "AlbertForTokenClassification", dict(num_labels=5), [("logits", "logits")]),
    ("AlbertForQuestionAnswering", "AlbertForQuestionAnswering", {}, [("start_logits", "start_logits"),
                                                                      ("end_logits", "end_logits")]),
    ("AlbertForMultipleChoice", "AlbertForMultipleChoice", {}, [("logits", "logits")]),
]


def _inputs(head: str):
    ids, mask, types = _batch()
    if head == "AlbertForMultipleChoice":  # (B, C, T): 3 questions x 4 choices built from shifted rows
        stack = lambda t: torch.stack([t.roll(k, 0) for k in range(4)], dim=1)  # noqa: E731
        return dict(input_ids=stack(ids), attention_mask=stack(mask), token_type_ids=stack(types))
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=types)


def _labels(head: str, inputs: dict, cfg: dict):
    g = torch.Generator().manual_seed(1)
    B, T = inputs["input_ids"].shape[0], inputs["input_ids"].shape[-1]
    if head in ("AlbertForPreTraining", "AlbertForMaskedLM"):
        labels = torch.full((B, T), -100)
        labels[:, 1:4] = torch.randint(0, 99, (B, 3), generator=g)
        extra = {"sentence_order_label": torch.tensor([0, 1, 1])} if head == "AlbertForPreTraining" else {}
        return dict(labels=labels, **extra)
    if head == "AlbertForSequenceClassification":
        return dict(labels=torch.tensor([0, 2, 1]))
    if head == "AlbertForTokenClassification":
        labels = torch.randint(0, 5, (B, T), generator=g)
        labels[inputs["attention_mask"] == 0] = -100
        return dict(labels=labels)
    if head == "AlbertForQuestionAnswering":
        return dict(start_positions=torch.tensor([1, 3, 40]), end_positions=torch.tensor([2, 5, 6]))
    if head == "AlbertForMultipleChoice":
        return dict(labels=torch.tensor([0, 3, 1]))
    return {}


@pytest.mark.parametrize("cfg_name", list(ALBERT_CONFIGS))
@pytest.mark.parametrize("ours_name,theirs_name,extra,fields", HEADS, ids=[h[0] for h in HEADS])
def test_hf_to_litebert_parity(tmp_path, cfg_name, ours_name, theirs_name, extra, fields):
    cfg = ALBERT_CONFIGS[cfg_name]
    torch.manual_seed(0)
    theirs = getattr(transformers, theirs_name)(_hf_config(cfg, **extra)).eval()
    theirs.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every weight must be used and none missing
        ours = getattr(litebert, ours_name).from_pretrained(tmp_path).eval()
    inputs = _inputs(ours_name)
    labels = _labels(ours_name, inputs, cfg)
    with torch.no_grad():
        o, t = ours(**inputs, **labels), theirs(**inputs, **labels)
    for a, b in fields:
        torch.testing.assert_close(getattr(o, a), getattr(t, b), **TOL)
    if labels:
        torch.testing.assert_close(o.loss, t.loss, **TOL)


@pytest.mark.parametrize("cfg_name", list(ALBERT_CONFIGS))
@pytest.mark.parametrize("head", ["AlbertForPreTraining", "AlbertForMaskedLM"])
def test_masked_positions_parity_with_the_last_block_at_those_positions_only(tmp_path, cfg_name, head):
    """With masked_positions litebert runs its last block at [CLS] and those positions only: the MLM logits there
    (and SOP) are transformers' full-sequence ones, gathered. Positions include a padded row's last real token, a
    repeat and 0 (the padding of a positions list)."""
    cfg = ALBERT_CONFIGS[cfg_name]
    torch.manual_seed(0)
    theirs = getattr(transformers, head)(_hf_config(cfg)).eval()
    theirs.save_pretrained(tmp_path)
    ours = getattr(litebert, head).from_pretrained(tmp_path).eval()
    assert ours.albert.subset_last_layer
    inputs = _inputs(head)
    positions = torch.tensor([[1, 5, 10], [2, 8, 8], [6, 0, 0]])  # row 2 has 11 - 4 = 7 real tokens
    with torch.no_grad():
        o, t = ours(**inputs, masked_positions=positions), theirs(**inputs)
    logits = t.prediction_logits if head == "AlbertForPreTraining" else t.logits
    expected = torch.gather(logits, 1, positions[..., None].expand(-1, -1, logits.shape[-1]))
    torch.testing.assert_close(o.prediction_logits if head == "AlbertForPreTraining" else o.logits, expected, **TOL)
    if head == "AlbertForPreTraining":
        torch.testing.assert_close(o.sop_logits, t.sop_logits, **TOL)


@pytest.mark.parametrize("cfg_name", list(ALBERT_CONFIGS))
@pytest.mark.parametrize("ours_name,theirs_name,extra,fields", HEADS, ids=[h[0] for h in HEADS])
def test_litebert_to_hf_round_trip(tmp_path, cfg_name, ours_name, theirs_name, extra, fields):
    cfg = ALBERT_CONFIGS[cfg_name]
    torch.manual_seed(1)
    config = AlbertConfig(**{**BASE, **cfg, **extra})
    ours = getattr(litebert, ours_name)(config).eval()
    ours.save_pretrained(tmp_path / "ours")
    theirs, info = getattr(transformers, theirs_name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    theirs.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    inputs = _inputs(ours_name)
    with torch.no_grad():
        o, t = ours(**inputs), theirs(**inputs)
    for a, b in fields:
        torch.testing.assert_close(getattr(o, a), getattr(t, b), **TOL)
    # ... and back: transformers' save of that model loads into litebert bit-exactly
    theirs.save_pretrained(tmp_path / "theirs")
    again = getattr(litebert, ours_name).from_pretrained(tmp_path / "theirs").eval()
    for (k, v), (k2, v2) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k


@pytest.mark.parametrize("problem_type,labels", [
    ("regression", torch.tensor([0.5, -1.0, 2.0])),
    ("single_label_classification", torch.tensor([0, 1, 0])),
    ("multi_label_classification", torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])),
])
def test_sequence_classification_problem_types(tmp_path, problem_type, labels):
    cfg = ALBERT_CONFIGS["groups2-inner2-E16-H32"]
    num_labels = 1 if problem_type == "regression" else 2
    torch.manual_seed(2)
    theirs = transformers.AlbertForSequenceClassification(
        _hf_config(cfg, num_labels=num_labels, problem_type=problem_type)).eval()
    theirs.save_pretrained(tmp_path)
    ours = litebert.AlbertForSequenceClassification.from_pretrained(tmp_path).eval()
    assert ours.config.problem_type == problem_type
    ids, mask, types = _batch()
    with torch.no_grad():
        o = ours(ids, mask, types, labels=labels)
        t = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    torch.testing.assert_close(o.logits, t.logits, **TOL)
    torch.testing.assert_close(o.loss, t.loss, **TOL)


def test_problem_type_inferred_like_transformers(tmp_path):
    """problem_type unset: integer labels -> CE, float labels with 2 outputs -> BCE, one output -> MSE."""
    cfg = ALBERT_CONFIGS["groups3-inner1-relu"]
    ids, mask, types = _batch()
    for num_labels, labels in ((2, torch.tensor([1, 0, 1])), (2, torch.tensor([[1.0, 0.0]] * 3)), (1, torch.rand(3))):
        torch.manual_seed(3)
        theirs = transformers.AlbertForSequenceClassification(_hf_config(cfg, num_labels=num_labels)).eval()
        theirs.save_pretrained(tmp_path / str(num_labels))
        ours = litebert.AlbertForSequenceClassification.from_pretrained(tmp_path / str(num_labels)).eval()
        with torch.no_grad():
            torch.testing.assert_close(ours(ids, mask, types, labels=labels).loss,
                                       theirs(input_ids=ids, attention_mask=mask, token_type_ids=types,
                                              labels=labels).loss, **TOL)


# ---------------------------------------------------------------------------------------------------------------------
# BERT (E == H, one group per layer) in its own checkpoint layout

BERT_CFG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64, hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1)


@pytest.mark.parametrize("ours_name,theirs_name,fields", [
    ("AlbertModel", "BertModel", [("last_hidden_state", "last_hidden_state"), ("pooler_output", "pooler_output")]),
    ("AlbertForPreTraining", "BertForPreTraining", [("prediction_logits", "prediction_logits"),
                                                    ("sop_logits", "seq_relationship_logits")]),
    ("AlbertForMaskedLM", "BertForMaskedLM", [("logits", "logits")]),
    ("AlbertForSequenceClassification", "BertForSequenceClassification", [("logits", "logits")]),
    ("AlbertForQuestionAnswering", "BertForQuestionAnswering", [("start_logits", "start_logits")]),
])
def test_bert_parity_both_ways(tmp_path, ours_name, theirs_name, fields):
    torch.manual_seed(4)
    theirs = getattr(transformers, theirs_name)(transformers.BertConfig(**BERT_CFG)).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(litebert, ours_name).from_pretrained(tmp_path / "theirs").eval()
    assert ours.config.model_type == "bert" and ours.config.num_hidden_groups == 3
    assert ours.albert.encoder.embedding_projection is None if hasattr(ours, "albert") else True
    ids, mask, types = _batch()
    with torch.no_grad():
        o, t = ours(ids, mask, types), theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
    for a, b in fields:
        torch.testing.assert_close(getattr(o, a), getattr(t, b), **TOL)
    ours.save_pretrained(tmp_path / "ours")  # written in BERT's layout, loadable by transformers with nothing missing
    back, info = getattr(transformers, theirs_name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with torch.no_grad():
        b2 = back.eval()(input_ids=ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(getattr(b2, fields[0][1]), getattr(t, fields[0][1]), **TOL)


def test_electra_discriminator_encoder_parity(tmp_path):
    """ELECTRA: E != H, no sharing, no pooler in the checkpoint (ours is initialised and reported)."""
    cfg = transformers.ElectraConfig(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    torch.manual_seed(5)
    theirs = transformers.ElectraModel(cfg).eval()
    theirs.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="pooler"):
        ours = litebert.AlbertModel.from_pretrained(tmp_path).eval()
    assert ours.config.model_type == "electra" and ours.encoder.embedding_projection is not None
    ids, mask, types = _batch()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, mask, types).last_hidden_state,
                                   theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state,
                                   **TOL)


ELECTRA_CFG = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=37, max_position_embeddings=64, hidden_act="gelu_new", hidden_dropout_prob=0.1,
                   attention_probs_dropout_prob=0.1)
ELECTRA_HEADS = [  # (ours, theirs, extra config, output fields): every ELECTRA head transformers has a twin for
    ("AlbertForSequenceClassification", "ElectraForSequenceClassification", dict(num_labels=3), ["logits"]),
    ("AlbertForMultipleChoice", "ElectraForMultipleChoice", {}, ["logits"]),
    ("AlbertForMaskedLM", "ElectraForMaskedLM", {}, ["logits"]),
    ("AlbertForQuestionAnswering", "ElectraForQuestionAnswering", {}, ["start_logits", "end_logits"]),
    ("AlbertForTokenClassification", "ElectraForTokenClassification", dict(num_labels=5), ["logits"]),
]


@pytest.mark.parametrize("ours_name,theirs_name,extra,fields", ELECTRA_HEADS, ids=[h[1] for h in ELECTRA_HEADS])
def test_electra_heads_parity_both_ways(tmp_path, ours_name, theirs_name, extra, fields):
    """ELECTRA heads are transformers' (ElectraClassificationHead on [CLS], the sequence summary for multiple choice,
    generator_predictions + generator_lm_head with erf GELU whatever hidden_act says), not BERT's: an HF-fine-tuned
    ELECTRA loads here with every tensor used, and ours loads in transformers with nothing missing."""
    inputs = _inputs(ours_name)
    labels = _labels(ours_name, inputs, {})
    # HF -> litebert
    torch.manual_seed(6)
    theirs = getattr(transformers, theirs_name)(transformers.ElectraConfig(**ELECTRA_CFG, **extra)).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every weight used, none initialised
        ours = getattr(litebert, ours_name).from_pretrained(tmp_path / "theirs").eval()
    assert ours.config.model_type == "electra" and ours.albert.pooler is None
    with torch.no_grad():
        o, t = ours(**inputs, **labels), theirs(**inputs, **labels)
    for f in fields:
        torch.testing.assert_close(getattr(o, f), getattr(t, f), **TOL)
    torch.testing.assert_close(o.loss, t.loss, **TOL)
    # litebert -> HF
    torch.manual_seed(7)
    mine = getattr(litebert, ours_name)(AlbertConfig(**ELECTRA_CFG, model_type="electra", num_hidden_groups=2,
                                                     **extra)).eval()
    mine.save_pretrained(tmp_path / "ours")
    back, info = getattr(transformers, theirs_name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    with torch.no_grad():
        o, t = mine(**inputs), back.eval()(**inputs)
    for f in fields:
        torch.testing.assert_close(getattr(o, f), getattr(t, f), **TOL)


def test_electra_pretraining_model_saves_as_transformers_masked_lm(tmp_path):
    """AlbertForPreTraining with model_type electra is MLM + SOP: its config names ElectraForMaskedLM (whose
    generator head it shares), not ElectraForPreTraining (the replaced-token discriminator, none of whose head
    weights it has); transformers' ElectraForMaskedLM loads it with nothing missing (the SOP head and the pooler it
    reads are the unused part) and computes the same MLM logits."""
    torch.manual_seed(8)
    mine = litebert.AlbertForPreTraining(AlbertConfig(**ELECTRA_CFG, model_type="electra", num_hidden_groups=2)).eval()
    mine.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["ElectraForMaskedLM"]
    back, info = transformers.ElectraForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert info["unexpected_keys"] == {f"{m}.{p}" for m in ("cls.seq_relationship", "electra.pooler.dense")
                                       for p in ("weight", "bias")}, info  # SOP reads the pooler: neither in HF
    inputs = _inputs("AlbertForMaskedLM")
    with torch.no_grad():
        torch.testing.assert_close(mine(**inputs).prediction_logits, back.eval()(**inputs).logits, **TOL)


@pytest.mark.parametrize("layers,groups", [(18, 14), (22, 22)])
def test_odd_group_layouts_map_layers_as_transformers(tmp_path, layers, groups):
    """Layouts where the original's int(i / L * G) and transformers' int(i / (L / G)) disagree: an HF-layout
    checkpoint computes transformers' function in litebert too (TF checkpoints of such layouts are unshared by
    `litebert convert`, tests/test_convert.py)."""
    cfg = dict(embedding_size=8, hidden_size=16, num_hidden_layers=layers, num_hidden_groups=groups, inner_group_num=1,
               num_attention_heads=2, intermediate_size=20)
    torch.manual_seed(0)
    theirs = transformers.AlbertModel(_hf_config(cfg)).eval()
    theirs.save_pretrained(tmp_path)
    ours = litebert.AlbertModel.from_pretrained(tmp_path).eval()
    inputs = _inputs("AlbertModel")
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs).last_hidden_state, theirs(**inputs).last_hidden_state, **TOL)


@pytest.mark.parametrize("family", ["albert", "bert", "electra"])
@pytest.mark.parametrize("unpad", [False, True])
def test_hidden_states_equal_transformers(tmp_path, family, unpad):
    """output_hidden_states: transformers' states (projected embeddings, then every block: 1 + 4 layers x 2 inner
    blocks for the ALBERT config, which shares 2 groups over 4 layers); unpadded, equal at the real tokens."""
    hf_cls, hf_cfg = {
        "albert": (transformers.AlbertModel, _hf_config(ALBERT_CONFIGS["groups2-inner2-E16-H32"])),
        "bert": (transformers.BertModel, transformers.BertConfig(**BERT_CFG)),
        "electra": (transformers.ElectraModel, transformers.ElectraConfig(**ELECTRA_CFG)),
    }[family]
    torch.manual_seed(6)
    theirs = hf_cls(hf_cfg).eval()
    theirs.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ELECTRA's checkpoint has no pooler
        ours = litebert.AlbertModel.from_pretrained(tmp_path).eval()
    ours.unpadded_enable(unpad)
    ids, mask, types = _batch()
    with torch.no_grad():
        o = ours(ids, mask, types, output_hidden_states=True)
        t = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    blocks = hf_cfg.num_hidden_layers * getattr(hf_cfg, "inner_group_num", 1)
    assert len(o.hidden_states) == len(t.hidden_states) == blocks + 1
    real = mask.bool()
    for a, b in zip(o.hidden_states, t.hidden_states):
        torch.testing.assert_close(a[real], b[real], **TOL)
    torch.testing.assert_close(o.hidden_states[-1], o.last_hidden_state)
    assert ours(ids, mask, types).hidden_states is None
