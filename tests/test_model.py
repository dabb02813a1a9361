"""The model's own invariants: sharing, presets, the SQuAD 2.0 head, the sparse MLM head, checkpoint loading rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings

import pytest
import torch
import torch.nn.functional as F

import litebert
from litebert import AlbertConfig, AlbertForPreTraining, AlbertForSquadV2, AlbertModel, CheckpointError, ConfigError
from litebert import checkpoint as ckpt

SHARED = dict(vocab_size=50, embedding_size=8, hidden_size=16, num_attention_heads=2, intermediate_size=24,
              max_position_embeddings=32)


# -- sharing ----------------------------------------------------------------------------------------------------------

def test_parameter_count_does_not_depend_on_depth_with_one_group():
    counts = {L: AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=L, num_hidden_groups=1)).num_parameters()
              for L in (1, 2, 6, 24)}
    assert len(set(counts.values())) == 1, counts
    # ... while groups do add parameters: one layer's worth per extra group
    two = AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=6, num_hidden_groups=2)).num_parameters()
    layer = sum(p.numel() for p in AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=1)).encoder.groups[0].parameters())
    assert two == counts[6] + layer


def test_every_layer_application_uses_the_shared_tensors():
    """Count calls per module: with L=6, G=2, inner=2, each of the 4 blocks runs 3 times, in the original's order."""
    c = AlbertConfig(**SHARED, num_hidden_layers=6, num_hidden_groups=2, inner_group_num=2)
    model = AlbertModel(c).eval()
    order = []
    for g, group in enumerate(model.encoder.groups):
        for i, block in enumerate(group):
            block.register_forward_hook(lambda m, a, o, key=(g, i): order.append(key))
    model(torch.randint(0, 50, (2, 5)))
    assert order == [(0, 0), (0, 1)] * 3 + [(1, 0), (1, 1)] * 3
    assert [c.group_index(i) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    # the original's rule int(i / L * G) for uneven splits
    c = AlbertConfig(**SHARED, num_hidden_layers=12, num_hidden_groups=5)
    assert [c.group_index(i) for i in range(12)] == [int(i / 12 * 5) for i in range(12)]


def test_presets_have_the_released_parameter_counts():
    expected = {"albert-base-v2": 11_683_584, "albert-large-v2": 17_683_968, "albert-xlarge-v2": 58_724_864,
                "albert-xxlarge-v2": 222_595_584, "bert-base-uncased": 109_482_240, "bert-large-uncased": 335_141_888}
    with torch.device("meta"):
        got = {name: AlbertModel(AlbertConfig.from_preset(name)).num_parameters() for name in expected}
    assert got == expected
    v1, v2 = AlbertConfig.from_preset("albert-base-v1"), AlbertConfig.from_preset("albert-base-v2")
    assert (v1.hidden_dropout_prob, v2.hidden_dropout_prob) == (0.1, 0.0) and v1.hidden_act == "gelu_new"
    assert AlbertConfig.from_preset("albert-xxlarge-v1").hidden_dropout_prob == 0.0
    small = AlbertConfig.from_preset("electra-small-discriminator")
    assert small.embedding_size != small.hidden_size and small.num_hidden_groups == small.num_hidden_layers


@pytest.mark.parametrize("act,fn", [("gelu", F.gelu), ("gelu_new", lambda x: F.gelu(x, approximate="tanh")),
                                    ("relu", F.relu)])
def test_hidden_act_is_honoured_literally(act, fn):
    head = litebert.model.MaskedLMHead(AlbertConfig(**SHARED, hidden_act=act))
    x = torch.randn(4, 16)
    torch.testing.assert_close(head.act(x), fn(x))


def test_gradient_checkpointing_gives_identical_gradients():
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    torch.manual_seed(0)
    model = AlbertForPreTraining(c)
    ids = torch.randint(0, 50, (2, 7))
    grads = []
    for enabled in (False, True):
        model.zero_grad()
        model.gradient_checkpointing_enable(enabled)
        model(ids, labels=ids, sentence_order_label=torch.tensor([0, 1])).loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_cpu_bf16_autocast_runs_attention_in_fp32():
    """Under CPU bf16 autocast the attention itself is computed in fp32 (torch's bf16 CPU SDPA backward is ~3.7x
    slower): its output equals fp32 attention on the bf16-rounded projections, and gradients flow in bf16 around it."""
    c = AlbertConfig(**SHARED, num_hidden_layers=2, num_hidden_groups=1, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = AlbertModel(c)
    attn = next(m for m in model.modules() if m.__class__.__name__ == "SelfAttention")
    x = torch.randn(2, 5, 16, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).bool()[:, None, None, :]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attn(x, mask)
        q, k, v = attn.qkv(x).view(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    assert y.dtype == torch.bfloat16
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = attn.out(ref.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(y, expected, atol=0, rtol=0)
    y.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_residual_stream_dtype_under_autocast():
    """Under bf16 autocast the residual stream (every block's output) and its gradient stay in bf16 (litebert's
    default), or in fp32 as CUDA autocast's LayerNorm keeps them (`fp32_residual_enable`); both within bf16 tolerance
    of the fp32 model, and the same model as before without autocast (fp32: both policies are `norm(x + y)`)."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    ids = torch.randint(5, 50, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        ref = model(ids, mask).last_hidden_state
        model.fp32_residual_enable()
        torch.testing.assert_close(model(ids, mask).last_hidden_state, ref, atol=0, rtol=0)
    for fp32, dtype in ((False, torch.bfloat16), (True, torch.float32)):
        model.fp32_residual_enable(fp32)
        seen = []
        hooks = [layer.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
                 for group in model.encoder.groups for layer in group]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(ids, mask).last_hidden_state
        for h in hooks:
            h.remove()
        assert seen == [dtype] * 8, (fp32, seen)  # 4 layers x 2 blocks per group
        real = mask.bool()
        torch.testing.assert_close(out.float()[real], ref[real], atol=0.1, rtol=0.05)
    # a model converted to bf16 (no autocast) runs with either policy, in bf16
    half = AlbertModel(c).eval().to(torch.bfloat16)
    for fp32 in (False, True):
        half.fp32_residual_enable(fp32)
        with torch.no_grad():
            assert half(ids, mask).last_hidden_state.dtype == torch.bfloat16
    # the gradient reaches every shared weight through the bf16 stream
    model.fp32_residual_enable(False)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(ids, mask).last_hidden_state.float().square().mean().backward()
    for name, p in model.named_parameters():
        if "pooler" not in name:
            assert p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_mean_pool_counts_and_sums_in_fp32():
    """bf16 states (autocast's last_hidden_state) are pooled in fp32: a bf16 sum of 301 rows keeps 8 significant bits
    (it is off by up to 0.2% here), and bf16 cannot represent a count of 301."""
    from litebert.model import mean_pool
    h = (1 + torch.arange(320 * 4).reshape(1, 320, 4) % 7 / 8).to(torch.bfloat16)  # values exact in bf16
    mask = torch.zeros(1, 320, dtype=torch.long)
    mask[0, :301] = 1
    h[0, 301:] = 100.0  # padding must not count
    expected = h[:, :301].double().mean(1).float()
    pooled = mean_pool(h, mask)
    assert pooled.dtype == torch.float32
    torch.testing.assert_close(pooled, expected, atol=0, rtol=1e-6)
    in_bf16 = (h * mask[..., None].to(h.dtype)).sum(1) / mask.sum(1, keepdim=True).to(h.dtype)  # what it must not be
    assert not torch.allclose(in_bf16.float(), expected, atol=0, rtol=1e-4)


# -- heads ------------------------------------------------------------------------------------------------------------

def test_sparse_mlm_head_equals_full_logits_at_the_masked_positions():
    torch.manual_seed(0)
    model = AlbertForPreTraining(AlbertConfig(**SHARED, num_hidden_layers=2)).eval()
    ids = torch.randint(5, 50, (3, 9))
    positions = torch.tensor([[1, 4, 0], [2, 3, 8], [7, 0, 0]])
    labels = torch.tensor([[7, 9, -100], [1, 2, 3], [4, -100, -100]])
    sparse = model(ids, masked_positions=positions, labels=labels)
    full = model(ids)
    assert sparse.prediction_logits.shape == (3, 3, 50)
    torch.testing.assert_close(sparse.prediction_logits, torch.stack([full.prediction_logits[b, positions[b]]
                                                                      for b in range(3)]))
    dense_labels = torch.full((3, 9), -100)
    for b in range(3):
        for p, lab in zip(positions[b].tolist(), labels[b].tolist()):
            if lab != -100:
                dense_labels[b, p] = lab
    torch.testing.assert_close(sparse.masked_lm_loss, model(ids, labels=dense_labels).masked_lm_loss)


def _squad_model(**kw):
    torch.manual_seed(0)
    c = AlbertConfig(**SHARED, num_hidden_layers=2, start_n_top=3, end_n_top=2, **kw)
    return AlbertForSquadV2(c).eval()


def _squad_batch():
    ids = torch.randint(5, 50, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 8:] = 0
    p_mask = torch.zeros(2, 10, dtype=torch.long)
    p_mask[:, 1:4] = 1  # question + [SEP]
    p_mask[mask == 0] = 1
    return ids, mask, p_mask


def test_squad_v2_inference_shapes_and_beams():
    model = _squad_model()
    ids, mask, p_mask = _squad_batch()
    with torch.no_grad():
        out = model(ids, mask, p_mask=p_mask)
    assert out.start_top_log_probs.shape == out.start_top_index.shape == (2, 3)
    assert out.end_top_log_probs.shape == out.end_top_index.shape == (2, 6)
    assert out.cls_logits.shape == (2,)
    # beams never point at masked positions, and are sorted
    for idx in (out.start_top_index, out.end_top_index):
        assert not p_mask.gather(1, idx).any()
    assert (out.start_top_log_probs[:, :-1] >= out.start_top_log_probs[:, 1:]).all()
    # each start beam's ends equal the teacher-forced end distribution given that start
    for k in range(3):
        with torch.no_grad():
            forced = model(ids, mask, p_mask=p_mask, start_positions=out.start_top_index[:, k])
        top, idx = forced.end_log_probs.topk(2, dim=-1)
        torch.testing.assert_close(out.end_top_log_probs.view(2, 3, 2)[:, k], top)
        assert torch.equal(out.end_top_index.view(2, 3, 2)[:, k], idx)
        torch.testing.assert_close(forced.start_log_probs.gather(1, out.start_top_index[:, k:k + 1]).squeeze(1),
                                   out.start_top_log_probs[:, k])
        torch.testing.assert_close(forced.cls_logits, out.cls_logits)  # answerability does not see the end


def test_squad_v2_head_math_matches_a_direct_computation():
    """Recompute the original's formulas from the module's weights with plain ops."""
    model = _squad_model()
    ids, mask, p_mask = _squad_batch()
    head = model.squad_v2
    with torch.no_grad():
        h = model.albert(ids, mask).last_hidden_state
        starts = torch.tensor([4, 5])
        out = model(ids, mask, p_mask=p_mask, start_positions=starts, end_positions=torch.tensor([6, 7]),
                    is_impossible=torch.tensor([0, 1]))
        s = head.start_dense(h).squeeze(-1) * (1 - p_mask) - 1e30 * p_mask
        start_lp = torch.log_softmax(s, -1)
        hs = h[torch.arange(2), starts][:, None].expand_as(h)
        e = head.end_dense1(F.layer_norm(torch.tanh(head.end_dense0(torch.cat([h, hs], -1))), (16,),
                                         head.end_norm.weight, head.end_norm.bias, 1e-12)).squeeze(-1)
        end_lp = torch.log_softmax(e * (1 - p_mask) - 1e30 * p_mask, -1)
        start_feat = (torch.softmax(s, -1)[..., None] * h).sum(1)
        cls = (head.answer_dense1(torch.tanh(head.answer_dense0(torch.cat([start_feat, h[:, 0]], -1))))).squeeze(-1)
        loss = 0.5 * (-start_lp[torch.arange(2), starts].mean() - end_lp[torch.arange(2), torch.tensor([6, 7])].mean()) \
            + 0.5 * F.binary_cross_entropy_with_logits(cls, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(out.start_log_probs, start_lp)
    torch.testing.assert_close(out.end_log_probs, end_lp)
    torch.testing.assert_close(out.cls_logits, cls)
    torch.testing.assert_close(out.loss, loss)
    assert head.answer_dense1.bias is None


def test_squad_v2_trains():
    model = _squad_model().train()
    ids, mask, p_mask = _squad_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    targets = dict(start_positions=torch.tensor([5, 0]), end_positions=torch.tensor([6, 0]),
                   is_impossible=torch.tensor([0, 1]))
    first = None
    for _ in range(30):
        loss = model(ids, mask, p_mask=p_mask, **targets).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    model.eval()
    with torch.no_grad():
        out = model(ids, mask, p_mask=p_mask)
    assert out.start_top_index[0, 0] == 5 and out.end_top_index[0, 0] == 6
    assert out.cls_logits[1] > out.cls_logits[0]


def test_squad_v2_save_load_round_trip(tmp_path):
    model = _squad_model()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["AlbertForSquadV2"]
    again = AlbertForSquadV2.from_pretrained(tmp_path).eval()
    ids, mask, p_mask = _squad_batch()
    with torch.no_grad():
        a, b = model(ids, mask, p_mask=p_mask), again(ids, mask, p_mask=p_mask)
    torch.testing.assert_close(a.end_top_log_probs, b.end_top_log_probs, atol=0, rtol=0)


# -- checkpoints ------------------------------------------------------------------------------------------------------

def test_other_head_checkpoint_warns_once_with_the_missing_and_unused_weights(tmp_path):
    c = AlbertConfig(**SHARED, num_hidden_layers=2)
    AlbertForPreTraining(c).save_pretrained(tmp_path)
    with pytest.warns(UserWarning) as record:
        model = litebert.AlbertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert len(record) == 1
    msg = str(record[0].message)
    assert "classifier.weight" in msg and "classifier.bias" in msg and "newly initialised" in msg
    assert "predictions.dense.weight" in msg and "sop_classifier.classifier.weight" in msg and "not used" in msg
    assert model.classifier.out_features == 3
    with warnings.catch_warnings():  # the encoder alone loads silently from a head checkpoint, and the reverse
        warnings.simplefilter("error")
        bare = AlbertModel(c)
        missing, unexpected = bare.load_hf_state_dict(ckpt.read_state_dict(tmp_path))
        assert missing == [] and all(k.startswith(("predictions.", "sop_classifier.")) for k in unexpected)


def test_legacy_gamma_beta_and_pytorch_model_bin(tmp_path):
    c = AlbertConfig(**SHARED, num_hidden_layers=2)
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    hf = model.hf_state_dict()
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
              for k, v in hf.items()}
    legacy["embeddings.position_ids"] = torch.arange(32)[None]  # old files carry the buffer
    assert any(k.endswith("gamma") for k in legacy)
    torch.save(legacy, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(c.to_json_string())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = AlbertModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 50, (2, 6))
    torch.testing.assert_close(again(ids).last_hidden_state, model(ids).last_hidden_state, atol=0, rtol=0)


class _NotATensor:
    pass


def test_pickled_objects_in_a_bin_file_are_refused(tmp_path):
    torch.save({"x": _NotATensor()}, tmp_path / "pytorch_model.bin")  # unpickling it would run arbitrary code
    (tmp_path / "config.json").write_text(AlbertConfig(**SHARED, num_hidden_layers=1).to_json_string())
    with pytest.raises(CheckpointError, match="tensors-only"):
        AlbertModel.from_pretrained(tmp_path)


def test_shape_mismatch_names_the_tensor(tmp_path):
    AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=1)).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["vocab_size"] = 51
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"embeddings\.word_embeddings\.weight.*\(50, 8\).*\(51, 8\)"):
        AlbertModel.from_pretrained(tmp_path)


def test_original_albert_config_json_with_unknown_keys(tmp_path):
    original = {"attention_probs_dropout_prob": 0, "hidden_act": "gelu", "hidden_dropout_prob": 0,
                "embedding_size": 128, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
                "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12,
                "num_hidden_groups": 1, "net_structure_type": 0, "gap_size": 0, "num_memory_blocks": 0,
                "inner_group_num": 1, "down_scale_factor": 1, "type_vocab_size": 2, "vocab_size": 30000,
                "layers_to_keep": []}
    (tmp_path / "albert_config.json").write_text(json.dumps(original))
    c = AlbertConfig.from_json_file(tmp_path / "albert_config.json")
    assert c.hidden_act == "gelu" and c.hidden_size == 768 and c.model_type == "albert"
    assert c.extra["net_structure_type"] == 0 and c.extra["layers_to_keep"] == []
    assert json.loads(c.to_json_string())["gap_size"] == 0  # kept on save


@pytest.mark.parametrize("bad,match", [
    ('{"hidden_act": "swishy"}', "hidden_act"),
    ('{"hidden_size": 30, "num_attention_heads": 4}', "divisible"),
    ('{"num_hidden_layers": 2, "num_hidden_groups": 3}', "num_hidden_groups"),
    ('{"model_type": "gpt2"}', "model_type"),
    ('{"hidden_size": 8,', "not valid JSON"),
    ('{"hidden_size": "32"}', "hidden_size: expected an integer, got '32'"),
    ('{"num_hidden_layers": 2.5}', "num_hidden_layers: expected an integer, got 2.5"),
    ('{"hidden_dropout_prob": "0.1"}', "hidden_dropout_prob: expected a number"),
    ('{"vocab_size": 0}', "vocab_size: expected a positive integer"),
    ('{"attention_probs_dropout_prob": 1.5}', "attention_probs_dropout_prob: expected a probability"),
])
def test_bad_config_files_name_file_and_field(tmp_path, bad, match):
    path = tmp_path / "config.json"
    path.write_text(bad)
    with pytest.raises(ConfigError, match=match) as e:
        AlbertConfig.from_json_file(path)
    assert str(path) in str(e.value)


def test_config_numbers_written_as_json_floats_or_null_pad_id_load():
    c = AlbertConfig.from_dict({"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2.0,
                                "hidden_dropout_prob": 0, "pad_token_id": None})
    assert c.num_hidden_layers == 2 and isinstance(c.num_hidden_layers, int)
    assert c.hidden_dropout_prob == 0.0 and isinstance(c.hidden_dropout_prob, float) and c.pad_token_id == 0


def test_missing_checkpoint_directory_and_offline_hub_id(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        AlbertModel.from_pretrained(tmp_path / "nope" / "deeper" / "still")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        AlbertModel.from_pretrained(tmp_path / "empty")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CheckpointError, match="pass DIR"):
        AlbertModel.from_pretrained("albert/albert-base-v2", cache_dir=str(tmp_path / "cache"))


def test_hub_id_resolves_from_a_hub_cache_offline(tmp_path, monkeypatch):
    """A cache laid out as huggingface_hub writes it (models--org--name/snapshots/REV, refs/main) is used offline."""
    c = AlbertConfig(**SHARED, num_hidden_layers=1)
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-albert"
    model.save_pretrained(repo / "snapshots" / rev)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    again = AlbertModel.from_pretrained("someone/tiny-albert", cache_dir=str(tmp_path / "cache")).eval()
    ids = torch.randint(0, 50, (1, 4))
    torch.testing.assert_close(again(ids).last_hidden_state, model(ids).last_hidden_state, atol=0, rtol=0)


def test_save_is_atomic_a_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    c = AlbertConfig(**SHARED, num_hidden_layers=1)
    AlbertModel(c).save_pretrained(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        AlbertModel(c).save_pretrained(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files left, nothing changed


def test_weights_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    """The rename is atomic only for data already on disk: the temp file is fsynced first (as atomic_write_bytes)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(a), str(b))), real_replace(a, b))[1])
    AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=1)).save_pretrained(tmp_path)
    rename = next(i for i, e in enumerate(events) if e[0] == "replace" and e[2].endswith("model.safetensors"))
    assert ("fsync", events[rename][1]) in events[:rename], events


def test_saved_weights_are_readable_as_the_umask_allows(tmp_path):
    """Not mkstemp's 0600: a model others (a server, a colleague) cannot read is a surprise."""
    old = os.umask(0o022)
    try:
        AlbertModel(AlbertConfig(**SHARED, num_hidden_layers=1)).save_pretrained(tmp_path)
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"model.safetensors": 0o644,
                                                                            "config.json": 0o644}


# transformers' names of the MLM decoder copy, per layout (the tie target is the word-embedding matrix)
_DECODER = {"albert": "predictions.decoder.weight", "bert": "cls.predictions.decoder.weight",
            "electra": "generator_lm_head.weight"}


@pytest.mark.parametrize("model_type", list(_DECODER))
def test_untied_mlm_decoder_is_refused_naming_checkpoint_and_key(tmp_path, model_type):
    """tie_word_embeddings false + a decoder of its own: litebert's decoder is the embedding matrix, so loading would
    silently drop the trained decoder. Refused for models with an MLM head; an equal copy loads as before."""
    dims = dict(SHARED, embedding_size=16) if model_type == "bert" else SHARED
    c = AlbertConfig(**dims, num_hidden_layers=2, num_hidden_groups=2 if model_type != "albert" else 1,
                     model_type=model_type)
    torch.manual_seed(0)
    litebert.AlbertForMaskedLM(c).save_pretrained(tmp_path)
    state = ckpt.read_state_dict(tmp_path)
    emb = state[f"{model_type}.embeddings.word_embeddings.weight"]
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "tie_word_embeddings": False}))
    key = _DECODER[model_type]
    ckpt.save_file({**state, key: emb.clone()}, tmp_path / "model.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tied = litebert.AlbertForMaskedLM.from_pretrained(tmp_path)  # equal to the embeddings: it is a tied copy
    tied.save_pretrained(tmp_path / "again")
    assert "tie_word_embeddings" not in json.loads((tmp_path / "again" / "config.json").read_text())
    ckpt.save_file({**state, key: emb + 1.0}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=rf"{tmp_path}: {re.escape(key)} is an untied MLM decoder"):
        litebert.AlbertForMaskedLM.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="untied MLM decoder"):
        AlbertForPreTraining.from_pretrained(tmp_path)
    with pytest.warns(UserWarning, match=rf"not used: .*{re.escape(key)}"):  # no MLM head: merely unused
        litebert.AlbertForSequenceClassification.from_pretrained(tmp_path)
    if model_type != "electra":  # the decoder bias must equal the output bias too
        bias = {"albert": "predictions.bias", "bert": "cls.predictions.bias"}[model_type]
        ckpt.save_file({**state, key.replace("weight", "bias"): state[bias] + 1.0}, tmp_path / "model.safetensors")
        with pytest.raises(CheckpointError, match="decoder.bias is an untied MLM decoder"):
            litebert.AlbertForMaskedLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("model_type,kw", [
    ("bert", dict(embedding_size=16, num_hidden_layers=2, num_hidden_groups=1)),
    ("bert", dict(embedding_size=16, num_hidden_layers=2, num_hidden_groups=2, inner_group_num=2)),
    ("electra", dict(num_hidden_layers=2, num_hidden_groups=1)),
    ("electra", dict(num_hidden_layers=3, num_hidden_groups=3, inner_group_num=2)),
])
def test_bert_and_electra_configs_cannot_share_layers(model_type, kw):
    """Their layouts hold one block per layer (encoder.layer.{i}): shared blocks would overwrite each other on save."""
    with pytest.raises(ConfigError, match=f"a '{model_type}' model cannot share layers"):
        AlbertConfig(**{**SHARED, **kw}, model_type=model_type)
    with pytest.raises(ConfigError, match="embedding_size == hidden_size"):
        AlbertConfig(**SHARED, num_hidden_layers=1, model_type="bert")  # E 8 != H 16


def test_bert_and_electra_configs_default_to_transformers_defaults():
    """A field a `bert`/`electra` config.json leaves out means transformers' BertConfig/ElectraConfig default."""
    bert = AlbertConfig.from_dict({"model_type": "bert"})
    assert (bert.vocab_size, bert.hidden_size, bert.embedding_size, bert.num_hidden_layers, bert.num_hidden_groups,
            bert.num_attention_heads, bert.intermediate_size, bert.hidden_act, bert.hidden_dropout_prob,
            bert.attention_probs_dropout_prob, bert.max_position_embeddings, bert.type_vocab_size,
            bert.layer_norm_eps) == (30522, 768, 768, 12, 12, 12, 3072, "gelu", 0.1, 0.1, 512, 2, 1e-12)
    electra = AlbertConfig.from_dict({"model_type": "electra", "num_hidden_layers": 4})
    assert (electra.vocab_size, electra.hidden_size, electra.embedding_size, electra.num_hidden_layers,
            electra.num_hidden_groups, electra.num_attention_heads, electra.intermediate_size, electra.hidden_act,
            electra.hidden_dropout_prob, electra.layer_norm_eps) == (30522, 256, 128, 4, 4, 4, 1024, "gelu", 0.1, 1e-12)
    assert AlbertConfig.from_dict({"model_type": "bert", "hidden_size": 64, "num_attention_heads": 4}).embedding_size \
        == 64


def test_position_embedding_type_other_than_absolute_is_refused_for_albert_too():
    c = AlbertConfig(**SHARED, num_hidden_layers=1).to_dict()
    assert "position_embedding_type" not in AlbertConfig.from_dict({**c, "position_embedding_type": "absolute"}).extra
    for model_type in ("albert", "bert", "electra"):
        with pytest.raises(ConfigError, match="position_embedding_type"):
            AlbertConfig.from_dict({**c, "embedding_size": 16, "model_type": model_type,
                                    "position_embedding_type": "relative_key"})


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="torch.compile needs a C compiler")
@pytest.mark.parametrize("checkpointing,bf16", [(False, False), (True, False), (False, True)])
def test_compiled_model_matches_eager_with_shared_layers(checkpointing, bf16):
    """torch.compile (the tiny recipe's and the benchmark's fast path) keeps the math: same loss and gradients as
    eager, with cross-layer sharing exercised (2 groups, 2 inner groups, 4 layers) and a padded row. fullgraph: the
    pretraining forward compiles as one graph (no graph break, so CUDA graphs can take the whole step), with
    activation checkpointing too, and under bf16 autocast (the bf16 residual stream's autocast-free LayerNorm) within
    bf16 tolerance: Inductor keeps fused intermediates in fp32 where eager rounds them."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    torch.manual_seed(0)
    model = AlbertForPreTraining(c)
    model.gradient_checkpointing_enable(checkpointing)
    ids = torch.randint(0, 50, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    positions = torch.tensor([[1, 4], [2, 5]])
    results = []
    for fn in (model, torch.compile(model, fullgraph=True)):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = fn(ids, mask, torch.zeros_like(ids), masked_positions=positions)
        loss = out.prediction_logits.float().logsumexp(-1).sum() + out.sop_logits.float().sum()
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    tol = dict(atol=2e-2, rtol=2e-2) if bf16 else dict(atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(results[0][0], results[1][0], **tol)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, **tol)


# -- unpadded execution -----------------------------------------------------------------------------------------------

def _ragged_batch(B=4, T=9, vocab=50, seed=0):
    """Rows of lengths T, T-3, 2, T-1 padded at the end (a full row, a short one, one of two tokens)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T, T - 3, 2, T - 1][:B])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    ids = torch.randint(1, vocab, (B, T), generator=g) * mask
    types = (torch.arange(T)[None, :] >= (lengths[:, None] // 2)).long() * mask
    return ids, mask, types


@pytest.mark.parametrize("head", ["pretraining", "sequence", "token", "qa", "choice", "squad_v2"])
def test_unpadded_batch_gives_the_padded_outputs_and_gradients(head):
    """Every head: the same model run unpadded (dense layers on real tokens only) equals the padded run at every real
    position, loss and gradient included; 4 layers from 2 groups x 2 inner blocks, so each shared block is revisited."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, num_labels=3,
                     classifier_dropout_prob=0.0)
    ids, mask, types = _ragged_batch()
    T = ids.shape[1]
    real = mask.bool()
    if head == "pretraining":
        cls, kw = AlbertForPreTraining, dict(masked_positions=torch.tensor([[1, 3], [0, 2], [1, 0], [4, 5]]),
                                             labels=torch.tensor([[5, 6], [7, -100], [8, -100], [9, 10]]),
                                             sentence_order_label=torch.tensor([0, 1, 1, 0]))
    elif head == "sequence":
        cls, kw = litebert.AlbertForSequenceClassification, dict(labels=torch.tensor([0, 2, 1, 1]))
    elif head == "token":
        cls, kw = litebert.AlbertForTokenClassification, dict(labels=torch.where(real, ids % 3, -100))
    elif head == "qa":
        cls, kw = litebert.AlbertForQuestionAnswering, dict(start_positions=torch.tensor([1, 2, 0, 3]),
                                                            end_positions=torch.tensor([2, 4, 1, 3]))
    elif head == "choice":  # (batch 2, 2 choices): the model flattens choices into rows of the padded batch
        cls = litebert.AlbertForMultipleChoice
        ids, mask, types = ids.view(2, 2, T), mask.view(2, 2, T), types.view(2, 2, T)
        kw = dict(labels=torch.tensor([1, 0]))
    else:
        cls, kw = AlbertForSquadV2, dict(start_positions=torch.tensor([1, 2, 0, 3]),
                                         end_positions=torch.tensor([2, 4, 1, 3]), is_impossible=torch.tensor([0, 0, 1, 0]))
    torch.manual_seed(0)
    model = cls(c).train()  # every dropout is 0 here: train mode exercises the training path
    runs = []
    for unpadded in (False, True):
        model.zero_grad()
        model.unpadded_enable(unpadded)
        out = model(ids, attention_mask=mask, token_type_ids=types, **kw)
        if head == "qa" and not unpadded:  # unpadded, padding leaves the QA softmax (see AlbertForQuestionAnswering)
            out.loss = sum(F.cross_entropy(z.masked_fill(~real, float("-inf")), kw[k])
                           for z, k in ((out.start_logits, "start_positions"), (out.end_logits, "end_positions"))) / 2
        out.loss.backward()
        runs.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (padded, g_padded), (unpadded, g_unpadded) = runs
    torch.testing.assert_close(unpadded.loss, padded.loss, atol=1e-5, rtol=1e-5)
    for name in ("prediction_logits", "sop_logits", "cls_logits"):
        if hasattr(padded, name):
            torch.testing.assert_close(getattr(unpadded, name), getattr(padded, name), atol=1e-5, rtol=1e-5)
    if head == "token":
        torch.testing.assert_close(unpadded.logits[real], padded.logits[real], atol=1e-5, rtol=1e-5)
    elif head in ("sequence", "choice"):
        torch.testing.assert_close(unpadded.logits, padded.logits, atol=1e-5, rtol=1e-5)
    elif head == "qa":
        torch.testing.assert_close(unpadded.start_logits[real], padded.start_logits[real], atol=1e-5, rtol=1e-5)
    assert g_padded.keys() == g_unpadded.keys() and len(g_padded) == len(list(model.parameters()))
    for n in g_padded:
        torch.testing.assert_close(g_unpadded[n], g_padded[n], atol=1e-5, rtol=1e-4, msg=n)


def test_unpadded_encoder_any_padding_layout_and_no_padding():
    """Padding anywhere in a row (left, middle) is dropped the same way; real positions match, padded ones are zero;
    a batch without attention_mask is unaffected by the switch."""
    c = AlbertConfig(**SHARED, num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2)
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    ids = torch.randint(1, 50, (3, 8))
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]])
    padded = model(ids, mask).last_hidden_state
    model.unpadded_enable(True)
    unpadded = model(ids, mask).last_hidden_state
    torch.testing.assert_close(unpadded[mask.bool()], padded[mask.bool()], atol=1e-5, rtol=1e-5)
    assert (unpadded[~mask.bool()] == 0).all()
    model.unpadded_enable(False)
    no_mask = model(ids).last_hidden_state
    model.unpadded_enable(True)
    torch.testing.assert_close(model(ids).last_hidden_state, no_mask, atol=0, rtol=0)
    empty = torch.zeros(0, 8, dtype=torch.long)  # an empty batch, as the padded path allows
    assert model(empty, empty).last_hidden_state.shape == (0, 8, 16)
    layout = litebert.model.Unpadded.from_mask(mask)
    assert layout.cu_seqlens.tolist() == [0, 6, 12, 20] and layout.max_len == 8 and layout.indices.numel() == 20
    torch.testing.assert_close(layout.unpad(layout.pad(torch.arange(20.0)[:, None])), torch.arange(20.0)[:, None])


def test_varlen_attention_plumbing_matches_padded_sdpa(monkeypatch):
    """The GPU path (torch's varlen FlashAttention on the (nnz, N, D) layout) runs here through a per-row SDPA stand-in
    with the same signature: the split of the fused projections, the offsets and the output layout are what is tested;
    the kernel itself is torch's."""
    calls = []

    def varlen_reference(q, k, v, cu_q, cu_k, max_q, max_k):
        calls.append((q.shape, cu_q.dtype, max_q))
        assert q.dim() == 3 and torch.equal(cu_q, cu_k) and max_q == max_k
        rows = [F.scaled_dot_product_attention(*(t[a:b].transpose(0, 1) for t in (q, k, v))).transpose(0, 1)
                for a, b in zip(cu_q.tolist(), cu_q[1:].tolist())]
        return torch.cat(rows)

    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    ids, mask, types = _ragged_batch()
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    padded = model(ids, mask, types).last_hidden_state
    monkeypatch.setattr(litebert.model, "_use_varlen", lambda qkv, p, head_dim: varlen_reference)
    model.unpadded_enable(True)
    unpadded = model(ids, mask, types).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(unpadded[real], padded[real], atol=1e-5, rtol=1e-5)
    assert len(calls) == 8 and calls[0] == (torch.Size([int(mask.sum()), 2, 8]), torch.int32, 9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_varlen_flash_attention_on_gpu_matches_padded_in_bf16():
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    ids, mask, types = (t.cuda() for t in _ragged_batch())
    torch.manual_seed(0)
    model = AlbertModel(c).cuda().eval()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        padded = model(ids, mask, types).last_hidden_state
        model.unpadded_enable(True)
        unpadded = model(ids, mask, types).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(unpadded[real].float(), padded[real].float(), atol=3e-2, rtol=3e-2)


# -- right-padded batches as varlen segments (pretraining on a GPU) ----------------------------------------------------

def block_diagonal_reference(q, k, v, cu_q, cu_k, max_q, max_k):
    """What varlen FlashAttention computes (query segment i attends to key segment i), as one SDPA over all tokens with
    a block-diagonal mask built from the offsets (tensor ops only: it traces under torch.compile fullgraph)."""
    assert q.dim() == 3 and cu_q.dtype == cu_k.dtype == torch.int32 and cu_q.shape == cu_k.shape
    seg_q, seg_k = (torch.searchsorted(cu[1:].long(), torch.arange(t.shape[0]), right=True)  # each token's segment
                    for cu, t in ((cu_q, q), (cu_k, k)))
    q_, k_, v_ = (t.transpose(0, 1)[None] for t in (q, k, v))  # (1, N, tokens, D)
    y = F.scaled_dot_product_attention(q_, k_, v_, attn_mask=seg_q[:, None] == seg_k[None, :])
    return y[0].transpose(0, 1)


def test_right_padded_segments_match_the_masked_model_at_real_positions():
    """The pretraining fast path: a right-padded batch as 2B varlen segments (each row's tokens, then its padding; a
    full row's padding segment is empty) gives the masked model's MLM logits, SOP logits, loss and every gradient, with
    4 layers from 2 groups x 2 inner blocks; FlashAttention is stood in for by a block-diagonal SDPA (fp32 here)."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = _ragged_batch()  # lengths 9 (full), 6, 2, 8
    positions = torch.tensor([[1, 8], [2, 5], [1, 1], [3, 7]])
    layout = litebert.model.RightPadded.from_mask(mask, None)
    assert layout.cu_seqlens.tolist() == [0, 9, 9, 15, 18, 20, 27, 35, 36]
    calls = []

    def kernel(*args):
        calls.append((args[0].shape, args[5], args[6]))  # q's shape, max_q, max_k
        return block_diagonal_reference(*args)

    torch.manual_seed(0)
    model = AlbertForPreTraining(c)
    results = []
    for k in (None, kernel):
        assert model.right_padded_enable(kernel=k) == (k is not None)
        model.zero_grad()
        out = model(ids, mask, types, masked_positions=positions)
        loss = out.prediction_logits.float().logsumexp(-1).sum() + out.sop_logits.float().sum()
        loss.backward()
        results.append((out.prediction_logits.float(), out.sop_logits.float(), [p.grad.clone() for p in model.parameters()]))
    # every layer application (4 x 2 inner) on all B*T tokens; the last one's queries at [CLS] and the 2 predictions
    assert calls == [(torch.Size([36, 2, 8]), 9, 9)] * 7 + [(torch.Size([12, 2, 8]), 3, 9)]
    for a, b in zip(results[0][:2], results[1][:2]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for a, b in zip(results[0][2], results[1][2]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert model.right_padded_enable("cpu") is False and model.albert.right_padded_kernel is None
    # the check is sensitive to the segmentation: offsets of whole rows (real tokens attending to padding) fail it
    def rows_only(q, k, v, cu, cu_k, t, t_k):
        return block_diagonal_reference(q, k, v, cu[::2], cu_k[::2], t, t_k)

    model.right_padded_enable(kernel=rows_only)
    wrong = model(ids, mask, types, masked_positions=positions).prediction_logits
    assert not torch.allclose(wrong, results[0][0], atol=1e-4)


# -- the last block at the predicted positions only (MosaicBERT's subset_idx) -----------------------------------------

def _whole_then_subset(model, forward, loss):
    """Runs `forward()` with the whole last block, then with the subset, each followed by `loss(outputs).backward()`:
    the outputs and parameter gradients of both runs (whole, subset), and the rows the last block's module saw in the
    subset's forward (one entry per call: in ALBERT it is shared with earlier layers)."""
    rows = []
    model.albert.encoder.groups[-1][-1].ffn_in.register_forward_pre_hook(
        lambda module, args: rows.append(args[0].shape[:-1].numel()))
    results = []
    for subset in (False, True):
        model.subset_last_layer_enable(subset)
        model.zero_grad()
        rows.clear()
        outputs = forward()
        forward_rows = list(rows)  # before a checkpointed backward runs the module again
        loss(outputs).backward()
        results.append((outputs, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (whole, whole_grads), (subset, subset_grads) = results
    for a, b in zip(whole, subset):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    assert len(subset_grads) == len(whole_grads) > 0
    for a, b in zip(whole_grads, subset_grads):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    return subset, subset_grads, forward_rows


def varlen_segments_reference(q, k, v, cu_q, cu_k, max_q, max_k):
    """torch's varlen FlashAttention, segment by segment through SDPA: query segment i attends to key segment i."""
    assert q.dim() == 3 and cu_q.dtype == cu_k.dtype == torch.int32 and cu_q.shape == cu_k.shape
    assert max_q == int(cu_q.diff().max()) and max_k == int(cu_k.diff().max())
    return torch.cat([F.scaled_dot_product_attention(q[a:b].transpose(0, 1), k[c:d].transpose(0, 1),
                                                     v[c:d].transpose(0, 1)).transpose(0, 1)
                      for a, b, c, d in zip(cu_q.tolist(), cu_q[1:].tolist(), cu_k.tolist(), cu_k[1:].tolist())])


@pytest.mark.parametrize("layout", ["mask", "no_mask", "right_padded", "unpadded", "unpadded_varlen", "checkpointing",
                                    "masked_lm"])
def test_last_block_at_the_predicted_positions_equals_the_full_block(layout, monkeypatch):
    """With masked_positions the last block runs at [CLS] and the P predictions only: the MLM logits, the SOP logits,
    the loss and every gradient are the full model's (4 layers from 2 groups x 2 inner blocks, so the last block is a
    shared module that also ran full-length 3 times before), in each layout the pretraining step can take; the last
    block's FFN then sees B x (P + 1) rows instead of B x T. Duplicate positions and padded ones (0) included."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = _ragged_batch()  # lengths 9, 6, 2, 8
    positions = torch.tensor([[1, 8, 4], [2, 5, 0], [1, 1, 0], [3, 7, 7]])
    if layout == "no_mask":
        mask = None
    torch.manual_seed(0)
    model = (litebert.AlbertForMaskedLM if layout == "masked_lm" else AlbertForPreTraining)(c)
    if layout == "right_padded":
        model.right_padded_enable(kernel=block_diagonal_reference)
    model.unpadded_enable(layout.startswith("unpadded"))
    if layout == "unpadded_varlen":  # the GPU path: (nnz, N, D) tokens, K queries per row against its real keys
        monkeypatch.setattr(litebert.model, "_use_varlen", lambda qkv, p, head_dim: varlen_segments_reference)
    model.gradient_checkpointing_enable(layout == "checkpointing")

    def forward():
        out = model(ids, mask, types, masked_positions=positions)
        return (out.logits,) if layout == "masked_lm" else (out.prediction_logits, out.sop_logits)

    outputs, grads, forward_rows = _whole_then_subset(model, forward, lambda o: o[0].logsumexp(-1).sum() + o[-1].sum())
    B, T = ids.shape
    K = positions.shape[1] + (layout != "masked_lm")
    assert forward_rows == [int(mask.sum()) if layout.startswith("unpadded") else B * T, B * K]
    assert outputs[0].shape == (B, positions.shape[1], c.vocab_size)
    assert len(grads) == sum(1 for _ in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("layout", ["right_padded", "unpadded"])
def test_last_block_subset_on_gpu_varlen_flash_matches_the_full_block_in_bf16(layout):
    """On a GPU the subset last block runs torch's varlen FlashAttention with K queries per row against each row's
    real keys (right-padded: empty query segments for the padding): the same logits and gradients as the full block."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = (t.cuda() for t in _ragged_batch())
    positions = torch.tensor([[1, 8, 4], [2, 5, 0], [1, 1, 0], [3, 7, 7]]).cuda()
    torch.manual_seed(0)
    model = AlbertForPreTraining(c).cuda()
    if layout == "right_padded":
        assert model.right_padded_enable("cuda")
    else:
        model.unpadded_enable(True)
    outs = []
    for subset in (False, True):
        model.subset_last_layer_enable(subset)
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(ids, mask, types, masked_positions=positions)
        (out.prediction_logits.float().logsumexp(-1).sum() + out.sop_logits.float().sum()).backward()
        outs.append((out.prediction_logits.float(), out.sop_logits.float(),
                     [p.grad.float().clone() for p in model.parameters()]))
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(outs[1][1], outs[0][1], atol=3e-2, rtol=3e-2)
    for a, b in zip(outs[0][2], outs[1][2]):
        torch.testing.assert_close(b, a, atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("head,model_type", [("AlbertForSequenceClassification", "albert"),
                                             ("AlbertForSequenceClassification", "electra"),
                                             ("AlbertForMultipleChoice", "albert"),
                                             ("AlbertForMultipleChoice", "electra")])
def test_cls_heads_run_the_last_block_at_cls_only(head, model_type):
    """Sequence classification and multiple choice read [CLS] only (the pooler, or ELECTRA's heads on h[:, 0]): the
    last block runs on one row per sequence, with the whole block's logits, loss and gradients."""
    sharing = dict(num_hidden_groups=2, inner_group_num=2) if model_type == "albert" else dict(num_hidden_groups=4)
    # initializer_range 0.5: at the usual 0.02 attention is near uniform and the logits near 0, too flat to tell a
    # wrong query from the right one within the tolerance
    c = AlbertConfig(**SHARED, num_hidden_layers=4, **sharing, num_labels=3, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0, model_type=model_type,
                     initializer_range=0.5)
    ids, mask, types = _ragged_batch()
    labels = torch.tensor([0, 2, 1, 1])
    if head == "AlbertForMultipleChoice":  # (2, 2, T): two questions with two choices each
        ids, mask, types = (t.view(2, 2, -1) for t in (ids, mask, types))
        labels = torch.tensor([1, 0])
    torch.manual_seed(0)
    model = getattr(litebert, head)(c).eval()  # eval: ELECTRA's sequence summary has dropout 0.1; gradients still flow

    def forward():
        out = model(ids, mask, types, labels=labels)
        return out.logits, out.loss

    _, _, forward_rows = _whole_then_subset(model, forward, lambda o: o[1])
    assert forward_rows == [4 * 9] * (model_type == "albert") + [4]  # shared by layers 3 and 4 in ALBERT


@pytest.mark.parametrize("unpad", [False, True])
def test_subset_last_block_on_padding_and_empty_batches_equals_the_whole_block(unpad):
    """Inputs the heads rarely see: an all-padding row (a missing choice: its [CLS] is padding), a masked position on
    padding, an empty batch. Unpadded, a kept position on padding has no row of its own (it must not read another
    row's token), so the whole block runs and its zeros are gathered, as without the subset."""
    c = AlbertConfig(**SHARED, num_hidden_layers=2, num_labels=3, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0, initializer_range=0.5)
    ids, mask, types = _ragged_batch(B=3)
    ids[2], mask[2], types[2] = 0, 0, 0  # the last row is all padding
    torch.manual_seed(0)
    clf, mlm = litebert.AlbertForSequenceClassification(c).eval(), AlbertForPreTraining(c).eval()
    positions = torch.tensor([[1, 8], [2, 7], [0, 0]])  # row 1 has 6 real tokens: 7 is padding
    for m in (clf, mlm):
        m.unpadded_enable(unpad)
    outs = []
    for subset in (False, True):
        clf.subset_last_layer_enable(subset)
        mlm.subset_last_layer_enable(subset)
        other = ids.clone()
        other[0, 3] = 7  # another row's token must not move these outputs
        outs.append([clf(x, mask, types).logits for x in (ids, other)] +
                    [mlm(ids, mask, types, masked_positions=positions).prediction_logits[1:]] +
                    [clf(ids[:0], mask[:0], types[:0]).logits,
                     mlm(ids[:0], mask[:0], types[:0], masked_positions=positions[:0]).prediction_logits])
    for a, b in zip(*outs):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[1][0][1:], outs[1][1][1:], atol=0, rtol=0)  # rows 1, 2 ignore row 0's tokens
    assert outs[1][3].shape == (0, 3) and outs[1][4].shape == (0, 2, c.vocab_size)


def test_keep_positions_in_the_bare_encoder_equal_the_full_output_gathered():
    """AlbertModel(keep_positions=...) returns the last hidden states there, and the pooler reads the first kept one,
    padded and unpadded; with hidden states asked for (or the subset off) the whole last block runs and is gathered."""
    c = AlbertConfig(**SHARED, num_hidden_layers=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = _ragged_batch()
    keep = torch.tensor([[0, 3], [0, 5], [0, 1], [0, 6]])
    torch.manual_seed(0)
    model = AlbertModel(c).eval()
    full = model(ids, mask, types)
    expected = torch.gather(full.last_hidden_state, 1, keep[..., None].expand(-1, -1, 16))
    for setup in ("subset", "hidden_states", "unpadded", "off"):
        model.unpadded_enable(setup == "unpadded")
        model.subset_last_layer_enable(setup != "off")
        out = model(ids, mask, types, keep_positions=keep, output_hidden_states=setup == "hidden_states")
        torch.testing.assert_close(out.last_hidden_state, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooler_output, full.pooler_output, atol=1e-5, rtol=1e-5)
        if setup == "hidden_states":
            torch.testing.assert_close(out.hidden_states[-1], full.last_hidden_state, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="torch.compile needs a C compiler")
def test_right_padded_segments_compile_as_one_graph():
    """No host sync and static shapes: the varlen layout traces with fullgraph=True and equals eager."""
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = _ragged_batch()
    torch.manual_seed(0)
    model = AlbertForPreTraining(c)
    model.right_padded_enable(kernel=block_diagonal_reference)
    positions = torch.tensor([[1, 8], [2, 5], [1, 1], [3, 7]])
    eager = model(ids, mask, types, masked_positions=positions).prediction_logits
    compiled = torch.compile(model, fullgraph=True)(ids, mask, types, masked_positions=positions)
    torch.testing.assert_close(compiled.prediction_logits, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_right_padded_varlen_flash_on_gpu_matches_masked_sdpa_in_bf16():
    c = AlbertConfig(**SHARED, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids, mask, types = (t.cuda() for t in _ragged_batch())
    positions = torch.tensor([[1, 8], [2, 5], [1, 1], [3, 7]]).cuda()
    torch.manual_seed(0)
    model = AlbertForPreTraining(c).cuda()
    outs = []
    for device in (None, "cuda"):
        model.right_padded_enable(device)
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(ids, mask, types, masked_positions=positions)
        (out.prediction_logits.float().logsumexp(-1).sum() + out.sop_logits.float().sum()).backward()
        outs.append((out.prediction_logits.float(), [p.grad.float().clone() for p in model.parameters()]))
    assert model.albert.right_padded_kernel is not None
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=3e-2, rtol=3e-2)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(b, a, atol=5e-2, rtol=5e-2)


def test_from_pretrained_initialises_only_what_the_checkpoint_lacks(tmp_path):
    """No init pass over weights that are loaded anyway (xxlarge: ~15 s per pass on a CPU); a new head and a missing
    pooler get the original's init (truncated normal within 2 std, zero bias), the loaded weights are the file's."""
    c = AlbertConfig(**SHARED, num_hidden_layers=2)
    torch.manual_seed(0)
    AlbertModel(c, add_pooling_layer=False).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="newly initialised"):
        clf = litebert.AlbertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert sorted(clf.loading_info["missing"]) == ["albert.pooler.bias", "albert.pooler.weight", "classifier.bias",
                                                   "classifier.weight"]
    std = c.initializer_range
    for name in ("albert.pooler", "classifier"):
        w, b = clf.get_submodule(name).weight, clf.get_submodule(name).bias
        assert w.abs().max() <= 2 * std and w.std() > std / 2 and not b.any()  # not torch's default init
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "model.safetensors")
    torch.testing.assert_close(clf.albert.embeddings.word_embeddings.weight, saved["embeddings.word_embeddings.weight"])
    assert sum(p.numel() for n, p in clf.named_parameters() if not n.startswith(("albert.pooler", "classifier"))) == \
        sum(v.numel() for v in saved.values())


def test_loading_in_one_thread_never_skips_the_init_of_a_model_built_in_another():
    """from_pretrained builds without the init pass; that must hold for its own thread only (a server building and
    loading models concurrently), and nested uses restore the outer setting."""
    import threading

    from litebert.model import _INIT_WEIGHTS, weights_to_be_loaded

    inside, built = threading.Event(), threading.Event()

    def loader():
        with weights_to_be_loaded():
            inside.set()
            built.wait(10)

    t = threading.Thread(target=loader)
    t.start()
    inside.wait(10)
    c = AlbertConfig(**SHARED, num_hidden_layers=1)
    w = AlbertModel(c).pooler.weight  # torch's default init would reach 1/sqrt(H) > 2 std
    built.set()
    t.join()
    assert w.abs().max() <= 2 * c.initializer_range
    with weights_to_be_loaded():
        with weights_to_be_loaded():
            pass
        assert not _INIT_WEIGHTS.get()
    assert _INIT_WEIGHTS.get()
