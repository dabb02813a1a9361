"""`litebert convert`: the real TensorFlow-written fixtures (../shared/fixtures/tf) read without TensorFlow, every
tensor equal to the fixture's expected.npz after the documented transposes, outputs equal to transformers' on the
converted directory, checksums that catch corruption, and names that are never dropped silently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from litebert import AlbertConfig, AlbertForPreTraining, AlbertForSequenceClassification, AlbertForSquadV2, AlbertModel
from litebert.__main__ import main
from litebert.checkpoint import CheckpointError
from litebert.convert import convert, convert_hf
from litebert.tf_checkpoint import TFCheckpoint, TFCheckpointError, find_prefix, map_names
from litebert.tokenizer import train_tokenizer

from conftest import DATA

FIXTURES = DATA.parent / "fixtures" / "tf"
ALL = ["albert_tiny_shared", "albert_tiny_groups", "albert_tiny_hub", "albert_tiny_sharded", "albert_tiny_glue",
       "albert_tiny_squad2"]
ARCH = {"albert_tiny_glue": "AlbertForSequenceClassification", "albert_tiny_squad2": "AlbertForSquadV2"}


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_tensor_converts_exactly(name, tmp_path):
    report = convert(str(FIXTURES / name), output=str(tmp_path / "out"))
    expected = np.load(FIXTURES / name / "expected.npz")
    prefix, hub = find_prefix(FIXTURES / name)
    assert hub == (name == "albert_tiny_hub")
    assert report["architecture"] == ARCH.get(name, "AlbertForPreTraining")
    saved = load_file(tmp_path / "out" / "model.safetensors")
    mapped, skipped, unknown = map_names(list(expected.files))
    assert not unknown
    assert {n.split("/")[-1] for n in skipped} <= {"adam_m", "adam_v", "global_step"}
    checked = 0
    for tf_name, (hf_key, transpose) in mapped.items():
        if hf_key.startswith("albert.pooler.") and name == "albert_tiny_squad2":
            assert hf_key not in saved  # the SQuAD 2.0 head has no pooler: skipped, and said so
            assert any(s.startswith(tf_name) and "pooler" in s for s in report["skipped"])
            checked += 1
            continue
        want = expected[tf_name].T if transpose else expected[tf_name]
        assert transpose == tf_name.endswith("/kernel")  # [in, out] kernels only; output_weights are [out, in]
        np.testing.assert_array_equal(saved[hf_key].numpy(), want, err_msg=f"{tf_name} -> {hf_key}")
        checked += 1
    assert checked + len(skipped) == len(expected.files)
    if name == "albert_tiny_groups":  # 2 groups x 2 inner groups, every one of them filled
        assert sum(".attention.query.weight" in k for k in saved) == 4
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["hidden_act"] == "gelu_new"  # the original's "gelu" is the tanh approximation


@pytest.mark.parametrize("name", ["albert_tiny_shared", "albert_tiny_groups", "albert_tiny_glue",
                                  "albert_tiny_squad2"])
def test_converted_outputs_equal_transformers_on_the_same_directory(name, tmp_path):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "out"
    convert(str(FIXTURES / name), output=str(out))
    ids = torch.randint(0, 99, (2, 11), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    if name == "albert_tiny_glue":
        ours = AlbertForSequenceClassification.from_pretrained(out).eval()
        theirs = transformers.AlbertForSequenceClassification.from_pretrained(out).eval()
        with torch.no_grad():
            torch.testing.assert_close(ours(ids, mask, types).logits, theirs(input_ids=ids, attention_mask=mask,
                                       token_type_ids=types).logits, atol=1e-5, rtol=1e-5)
        return
    if name == "albert_tiny_squad2":  # no transformers twin: the encoder against transformers, the head by hand
        ours = AlbertModel.from_pretrained(out).eval()
        theirs = transformers.AlbertModel.from_pretrained(out, add_pooling_layer=False).eval()
        with torch.no_grad():
            h = ours(ids, mask, types).last_hidden_state
            torch.testing.assert_close(h, theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
                                       .last_hidden_state, atol=1e-5, rtol=1e-5)
            head = AlbertForSquadV2.from_pretrained(out).eval().squad_v2
            exp = np.load(FIXTURES / name / "expected.npz")
            direct = h.numpy() @ exp["start_logits/dense/kernel"] + exp["start_logits/dense/bias"]
            np.testing.assert_allclose(head.start_dense(h).numpy(), direct, atol=1e-6)
        return
    ours = AlbertForPreTraining.from_pretrained(out).eval()
    theirs = transformers.AlbertForPreTraining.from_pretrained(out).eval()
    with torch.no_grad():
        a = ours(ids, mask, types)
        b = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.sop_logits, b.sop_logits, atol=1e-5, rtol=1e-5)


def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dst


def test_a_flipped_byte_fails_with_a_checksum_error_naming_the_tensor(tmp_path):
    d = _copy("albert_tiny_shared", tmp_path)
    info = TFCheckpoint(d / "model.ckpt-100").tensors["bert/pooler/dense/kernel"]
    shard = d / f"model.ckpt-100.data-{info.shard:05d}-of-00001"
    data = bytearray(shard.read_bytes())
    data[info.offset + 5] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError, match=r"checksum mismatch for tensor 'bert/pooler/dense/kernel'"):
        convert(str(d), output=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_truncated_shard_and_a_corrupt_index_are_refused(tmp_path, capsys):
    d = _copy("albert_tiny_sharded", tmp_path)
    shard = d / "model.ckpt-100.data-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(SystemExit) as e:
        main(["convert", "--from", "tf", str(d), "--output", str(tmp_path / "out")])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "data-00001-of-00002: checksum cannot match for tensor '" in err and "(truncated)" in err
    d2 = _copy("albert_tiny_glue", tmp_path)
    index = d2 / "model.ckpt-100.index"
    data = bytearray(index.read_bytes())
    data[20] ^= 0x40
    index.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError, match="checksum mismatch in the block"):
        TFCheckpoint(d2 / "model.ckpt-100")


def test_names_never_dropped_silently_and_both_layernorm_namings():
    names = ["bert/encoder/transformer/group_0/inner_group_0/layer_normalization_24/gamma",
             "bert/encoder/transformer/group_0/inner_group_0/layer_normalization_25/beta",
             "module/bert/embeddings/layer_normalization/beta",
             "bert/encoder/transformer/group_0/inner_group_0/ffn_1/intermediate/dense/kernel/lamb_m",
             "global_step", "bert/encoder/some_new_thing/kernel", "output_weights"]
    mapped, skipped, unknown = map_names(names)
    base = "albert.encoder.albert_layer_groups.0.albert_layers.0."
    assert mapped[names[0]] == (base + "attention.LayerNorm.weight", False)  # the lower-numbered one: attention
    assert mapped[names[1]] == (base + "full_layer_layer_norm.bias", False)
    assert mapped[names[2]] == ("albert.embeddings.LayerNorm.bias", False)
    assert mapped["output_weights"] == ("classifier.weight", False)
    assert set(skipped) == {names[3], "global_step"}
    assert unknown == ["bert/encoder/some_new_thing/kernel"]
    mapped, _, _ = map_names(["bert/encoder/transformer/group_1/inner_group_0/LayerNorm/beta",
                              "bert/encoder/transformer/group_1/inner_group_0/LayerNorm_1/beta"])
    assert [v[0].split("albert_layers.0.")[1] for v in mapped.values()] == ["attention.LayerNorm.bias",
                                                                         "full_layer_layer_norm.bias"]


def test_shape_mismatch_and_wrong_head_name_the_tensor(tmp_path):
    d = _copy("albert_tiny_shared", tmp_path)
    cfg = json.loads((d / "albert_config.json").read_text())
    (tmp_path / "wrong.json").write_text(json.dumps({**cfg, "vocab_size": 100}))
    with pytest.raises(CheckpointError, match=r"word_embeddings\.weight has shape \(99, 16\).*\(100, 16\)"):
        convert(str(d), output=str(tmp_path / "o"), albert_config=str(tmp_path / "wrong.json"))
    with pytest.raises(TFCheckpointError, match=r"does not fill AlbertModel .*unexpected \['predictions"):
        convert(str(d), output=str(tmp_path / "o"), head="encoder")
    (d / "albert_config.json").unlink()
    with pytest.raises(TFCheckpointError, match="no albert_config.json beside the checkpoint; pass --config"):
        convert(str(d), output=str(tmp_path / "o"))


def test_sentencepiece_model_beside_the_checkpoint_and_hf_round_trip(tmp_path, capsys):
    d = _copy("albert_tiny_shared", tmp_path)
    corpus = tmp_path / "corpus.txt"  # a vocabulary that fits the fixture's 99 embeddings
    corpus.write_text("".join(f"the {w} sat on a mat and then ran off.\n" for w in ("cat", "dog", "rat", "bat") * 50))
    train_tokenizer(input=str(corpus), output=str(tmp_path / "tok"), vocab_size=60)
    shutil.copy(tmp_path / "tok" / "spiece.model", d / "30k-clean.model")
    main(["convert", "--from", "tf", str(d / "model.ckpt-100"), "--config", str(d / "albert_config.json"),
          "--output", str(tmp_path / "hf")])
    assert (tmp_path / "hf" / "spiece.model").is_file()
    assert json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())["model_max_length"] == 64
    report = json.loads((tmp_path / "hf" / "conversion.json").read_text())
    assert report["tokenizer"].endswith("30k-clean.model") and report["converted"] == 32
    # HF -> HF: the identity layout, checked tensor by tensor
    main(["convert", "--from", "hf", str(tmp_path / "hf"), "--to", "hf", "--output", str(tmp_path / "again")])
    a, b = load_file(tmp_path / "hf" / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "again" / "spiece.model").is_file()
    extra = load_file(tmp_path / "hf" / "model.safetensors")
    extra["albert.encoder.stray.weight"] = torch.zeros(2)
    from safetensors.torch import save_file

    save_file(extra, tmp_path / "hf" / "model.safetensors")
    with pytest.raises(TFCheckpointError, match=r"unexpected \['albert.encoder.stray.weight'\]"):
        convert(str(tmp_path / "hf"), output=str(tmp_path / "x"), from_="hf")


def test_hf_conversion_of_an_electra_layout_pretraining_checkpoint(tmp_path):
    """litebert's ELECTRA-layout pretraining model (MLM + SOP) names ElectraForMaskedLM in config.json; converting it
    from HF keeps the SOP head (AlbertForPreTraining), tensor for tensor, where an ElectraForMaskedLM class would refuse
    the SOP tensors as left over."""
    cfg = AlbertConfig(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_hidden_groups=2,
                       num_attention_heads=4, intermediate_size=37, model_type="electra")
    torch.manual_seed(0)
    AlbertForPreTraining(cfg).save_pretrained(tmp_path / "pre")
    model, report, _ = convert_hf(tmp_path / "pre")
    assert type(model) is AlbertForPreTraining
    convert(str(tmp_path / "pre"), output=str(tmp_path / "again"), from_="hf")
    a, b = load_file(tmp_path / "pre" / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert any("seq_relationship" in k for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_converted_tensors_by_hand_written_names(tmp_path):
    """Independent of map_names: raw TF variables read with the repo's reader, compared with the converted HF tensors
    under names written out here (kernels transposed; LayerNorm is the attention block's, LayerNorm_1 the FFN's), so a
    mapping that swapped query and key, or the two LayerNorms, would fail."""
    d = FIXTURES / "albert_tiny_groups"
    tf = TFCheckpoint(d / "model.ckpt-100")
    convert(str(d), output=str(tmp_path / "out"))
    hf = {k: v.numpy() for k, v in load_file(tmp_path / "out" / "model.safetensors").items()}
    enc, grp = "bert/encoder/", "bert/encoder/transformer/group_1/inner_group_0/"
    ours = "albert.encoder.albert_layer_groups.1.albert_layers.0."
    pairs = [  # (TF variable, HF key, transposed)
        ("bert/embeddings/word_embeddings", "albert.embeddings.word_embeddings.weight", False),
        ("bert/embeddings/position_embeddings", "albert.embeddings.position_embeddings.weight", False),
        ("bert/embeddings/token_type_embeddings", "albert.embeddings.token_type_embeddings.weight", False),
        ("bert/embeddings/LayerNorm/gamma", "albert.embeddings.LayerNorm.weight", False),
        (enc + "embedding_hidden_mapping_in/kernel", "albert.encoder.embedding_hidden_mapping_in.weight", True),
        (enc + "embedding_hidden_mapping_in/bias", "albert.encoder.embedding_hidden_mapping_in.bias", False),
        (grp + "attention_1/self/query/kernel", ours + "attention.query.weight", True),
        (grp + "attention_1/self/key/kernel", ours + "attention.key.weight", True),
        (grp + "attention_1/self/value/kernel", ours + "attention.value.weight", True),
        (grp + "attention_1/self/query/bias", ours + "attention.query.bias", False),
        (grp + "attention_1/self/key/bias", ours + "attention.key.bias", False),
        (grp + "attention_1/output/dense/kernel", ours + "attention.dense.weight", True),
        (grp + "LayerNorm/gamma", ours + "attention.LayerNorm.weight", False),
        (grp + "LayerNorm/beta", ours + "attention.LayerNorm.bias", False),
        (grp + "ffn_1/intermediate/dense/kernel", ours + "ffn.weight", True),
        (grp + "ffn_1/intermediate/output/dense/kernel", ours + "ffn_output.weight", True),
        (grp + "LayerNorm_1/gamma", ours + "full_layer_layer_norm.weight", False),
        (grp + "LayerNorm_1/beta", ours + "full_layer_layer_norm.bias", False),
        ("bert/encoder/transformer/group_0/inner_group_1/attention_1/self/value/kernel",
         "albert.encoder.albert_layer_groups.0.albert_layers.1.attention.value.weight", True),
        ("bert/pooler/dense/kernel", "albert.pooler.weight", True),
        ("bert/pooler/dense/bias", "albert.pooler.bias", False),
        ("cls/predictions/transform/dense/kernel", "predictions.dense.weight", True),
        ("cls/predictions/transform/LayerNorm/gamma", "predictions.LayerNorm.weight", False),
        ("cls/predictions/output_bias", "predictions.bias", False),
        ("cls/seq_relationship/output_weights", "sop_classifier.classifier.weight", False),  # [out, in] already
    ]
    for tf_name, hf_key, transposed in pairs:
        raw = tf.read(tf_name)
        np.testing.assert_array_equal(hf[hf_key], raw.T if transposed else raw, err_msg=f"{tf_name} -> {hf_key}")
    # the fixture's values differ per variable, so the comparisons above can tell the slots apart
    q, k = (tf.read(grp + f"attention_1/self/{n}/kernel") for n in ("query", "key"))
    assert not np.array_equal(q, k)
    assert not np.array_equal(tf.read(grp + "LayerNorm/gamma"), tf.read(grp + "LayerNorm_1/gamma"))


def test_e_equal_h_checkpoint_without_projection_gets_the_identity(tmp_path, monkeypatch):
    """The original creates embedding_hidden_mapping_in only when E != H: such a checkpoint converts with an identity
    projection (what the original computes); with E != H a missing projection is still an error."""
    import litebert.convert as C

    exp = np.load(FIXTURES / "albert_tiny_shared" / "expected.npz")
    rng = np.random.default_rng(0)
    # the same checkpoint with E = H = 32: every E-wide tensor widened, no embedding_hidden_mapping_in
    arrays = {n: (rng.normal(size=tuple(32 if s == 16 else s for s in exp[n].shape)).astype(np.float32)
                  if 16 in exp[n].shape else exp[n])
              for n in exp.files if "embedding_hidden_mapping_in" not in n}

    class FakeCheckpoint:
        def __init__(self, prefix):
            self.tensors = dict.fromkeys(arrays)

        def verify(self):
            pass

        def read(self, name):
            return arrays[name]

    monkeypatch.setattr(C, "TFCheckpoint", FakeCheckpoint)
    cfg = json.loads((FIXTURES / "albert_tiny_shared" / "albert_config.json").read_text())
    (tmp_path / "eh.json").write_text(json.dumps({**cfg, "embedding_size": 32}))
    report = convert(str(FIXTURES / "albert_tiny_shared"), output=str(tmp_path / "out"),
                     albert_config=str(tmp_path / "eh.json"))
    assert any("identity" in n for n in report["notes"])
    saved = load_file(tmp_path / "out" / "model.safetensors")
    assert torch.equal(saved["albert.encoder.embedding_hidden_mapping_in.weight"], torch.eye(32))
    assert not saved["albert.encoder.embedding_hidden_mapping_in.bias"].any()
    np.testing.assert_array_equal(saved["albert.embeddings.word_embeddings.weight"].numpy(),
                                  arrays["bert/embeddings/word_embeddings"])
    # E != H (the fixture's own config): the projection is not invented
    (tmp_path / "eh.json").write_text(json.dumps(cfg))
    arrays = {n: exp[n] for n in exp.files if "embedding_hidden_mapping_in" not in n}
    with pytest.raises(TFCheckpointError, match="missing .*embedding_projection"):
        convert(str(FIXTURES / "albert_tiny_shared"), output=str(tmp_path / "o2"), albert_config=str(tmp_path / "eh.json"))


def test_cli_config_flag_is_used_not_swallowed(tmp_path, capsys):
    """`convert --config F` reaches the conversion (jsonargparse treats --config as its own file of arguments)."""
    d = _copy("albert_tiny_shared", tmp_path)
    cfg = json.loads((d / "albert_config.json").read_text())
    (d / "albert_config.json").unlink()
    (tmp_path / "wrong.json").write_text(json.dumps({**cfg, "vocab_size": 100}))
    with pytest.raises(SystemExit) as e:
        main(["convert", "--from", "tf", str(d), "--config", str(tmp_path / "wrong.json"), "--output",
              str(tmp_path / "o")])
    assert e.value.code == 1 and "(99, 16)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", "--from", "tf", str(d), "--config", str(tmp_path / "nope.json"), "--output",
              str(tmp_path / "o")])
    assert "nope.json: no such file" in capsys.readouterr().err
    (tmp_path / "right.json").write_text(json.dumps(cfg))
    main(["convert", "--from", "tf", str(d), "--config", str(tmp_path / "right.json"), "--output", str(tmp_path / "o")])
    assert json.loads((tmp_path / "o" / "conversion.json").read_text())["config"] == str(tmp_path / "right.json")


def test_output_never_replaces_the_source_or_an_unrelated_directory(tmp_path):
    d = _copy("albert_tiny_shared", tmp_path)
    before = sorted(p.name for p in d.iterdir())
    for out in (d, tmp_path):  # the checkpoint's own directory, or one that contains it
        with pytest.raises(TFCheckpointError, match="holds the checkpoint being converted"):
            convert(str(d / "model.ckpt-100"), output=str(out))
    assert sorted(p.name for p in d.iterdir()) == before
    other = tmp_path / "models"
    (other / "keep").mkdir(parents=True)
    with pytest.raises(TFCheckpointError, match="exists and is not an earlier conversion"):
        convert(str(d), output=str(other))
    assert (other / "keep").is_dir()
    convert(str(d), output=str(tmp_path / "hf"))
    convert(str(d), output=str(tmp_path / "hf"))  # an earlier conversion is replaced
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def test_checkpoint_named_by_one_of_its_files_or_the_hub_variables_path():
    shared = FIXTURES / "albert_tiny_shared"
    assert find_prefix(shared / "model.ckpt-100.index") == (shared / "model.ckpt-100", False)
    data = next(shared.glob("model.ckpt-100.data-*"))
    assert find_prefix(data) == (shared / "model.ckpt-100", False)
    hub = FIXTURES / "albert_tiny_hub"
    for p in (hub, hub / "variables", hub / "variables" / "variables"):
        assert find_prefix(p) == (hub / "variables" / "variables", True)


def test_checkpoint_state_file_with_the_absolute_path_of_a_moved_run(tmp_path):
    d = _copy("albert_tiny_groups", tmp_path)
    shutil.copy(d / "model.ckpt-100.index", d / "model.ckpt-50.index")  # two checkpoints: the state file decides
    (d / "checkpoint").write_text('model_checkpoint_path: "/gcs/run/model.ckpt-100"\n'
                                  'all_model_checkpoint_paths: "/gcs/run/model.ckpt-100"\n')
    assert find_prefix(d) == (d / "model.ckpt-100", False)


def test_missing_index_file_is_named(tmp_path):
    d = _copy("albert_tiny_shared", tmp_path)
    (d / "model.ckpt-100.index").unlink()
    with pytest.raises(TFCheckpointError, match=r"model\.ckpt-100\.data-.* is there but its \.index file is missing"):
        find_prefix(d / "model.ckpt-100")


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    d = _copy("albert_tiny_shared", tmp_path)  # vocab_size 99
    shutil.copy(DATA / "spm" / "albert_en_30k-clean.RECONSTRUCTED.model", d / "30k-clean.model")
    with pytest.raises(TFCheckpointError, match="30000 pieces, but the checkpoint's vocab_size is 99"):
        convert(str(d), output=str(tmp_path / "o"))


@pytest.mark.parametrize("layers,groups", [(18, 14), (22, 22)])
def test_odd_layouts_keep_the_originals_layer_to_group_mapping(layers, groups):
    """Where the original's int(i / L * G) and transformers' int(i / (L / G)) disagree, conversion gives every layer
    its own copy of the group the original used: the converted model computes the original's function."""
    from litebert.config import AlbertConfig
    from litebert.tf_checkpoint import original_group_index, unshare_odd_groups

    cfg = AlbertConfig.from_preset("tiny").replace(num_hidden_layers=layers, num_hidden_groups=groups,
                                                   inner_group_num=2)
    torch.manual_seed(0)
    original = AlbertModel(cfg).eval()
    state = original.hf_state_dict()
    unused = set(range(groups)) - {original_group_index(i, layers, groups) for i in range(layers)}
    assert (groups == layers) == bool(unused)  # L=G=22: the original never creates group_15
    state = {k: v for k, v in state.items() if not any(f"albert_layer_groups.{g}." in k for g in unused)}
    notes = []
    converted_state, converted_cfg = unshare_odd_groups(state, cfg, notes)
    assert converted_cfg.num_hidden_groups == layers and "one group per layer" in notes[0]
    converted = AlbertModel(converted_cfg).eval()
    assert converted.load_hf_state_dict(converted_state) == ([], [])
    ids = torch.randint(5, cfg.vocab_size, (2, 9))
    original.config = cfg  # run the unconverted model the way the original does
    object.__setattr__(cfg, "group_index", lambda i: original_group_index(i, layers, groups))
    want = original(ids).last_hidden_state
    torch.testing.assert_close(converted(ids).last_hidden_state, want)
    # the released layouts (and any layout where the two formulas agree) convert unchanged
    same = AlbertConfig.from_preset("tiny").replace(num_hidden_layers=12, num_hidden_groups=3)
    assert unshare_odd_groups({}, same, notes)[1] is same
