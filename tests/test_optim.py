"""LAMB, the original AdamW and the schedule against steps computed by hand (plain Python floats)."""

from __future__ import annotations

import math

import pytest
import torch

from litebert.optim import Lamb, OptimConfig, build_optimizer, learning_rate, param_groups


def _hand_step(w, g, m, v, lr, wd, adapt, b1=0.9, b2=0.999, eps=1e-6):
    """One update of the original's LAMB/AdamW on lists of floats (one tensor)."""
    m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
    v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
    u = [mi / (math.sqrt(vi) + eps) + wd * wi for mi, vi, wi in zip(m, v, w)]
    r = 1.0
    if adapt:
        wn, un = math.sqrt(sum(x * x for x in w)), math.sqrt(sum(x * x for x in u))
        r = wn / un if wn > 0 and un > 0 else 1.0
    return [wi - lr * r * ui for wi, ui in zip(w, u)], m, v


def test_lamb_matches_hand_computed_steps():
    torch.manual_seed(0)
    matrix = torch.nn.Parameter(torch.randn(3, 2, dtype=torch.float64))
    vector = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))  # a bias: no decay, no adaptation
    zeros = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))  # ||w|| = 0: trust ratio 1
    model = torch.nn.ParameterList([matrix, vector, zeros])
    opt = Lamb(param_groups(model, 0.01), lr=0.1)
    state = {id(p): (p.detach().flatten().tolist(), [0.0] * p.numel(), [0.0] * p.numel()) for p in model}
    for step in range(3):
        grads = [torch.randn_like(p) for p in model]
        for p, g in zip(model, grads):
            p.grad = g.clone()
        opt.step()
        for p, g in zip(model, grads):
            w, m, v = state[id(p)]
            w, m, v = _hand_step(w, g.flatten().tolist(), m, v, lr=0.1, wd=0.01 if p.dim() >= 2 else 0.0,
                                 adapt=p.dim() >= 2)
            state[id(p)] = (w, m, v)
            torch.testing.assert_close(p.detach().flatten(), torch.tensor(w, dtype=torch.float64), atol=1e-12, rtol=0)


def test_zero_update_norm_gives_trust_ratio_one_and_adamw_has_none():
    w = torch.nn.Parameter(torch.ones(2, 2))
    opt = Lamb([{"params": [w], "weight_decay": 0.0, "adapt": True}], lr=0.5)
    w.grad = torch.zeros(2, 2)
    opt.step()  # update is exactly 0: nothing moves, no NaN
    assert torch.equal(w.detach(), torch.ones(2, 2))
    # the original AdamW: same moments, no trust ratio, no bias correction
    p = torch.nn.Parameter(torch.tensor([[1.0, -2.0]], dtype=torch.float64))
    opt = build_optimizer(torch.nn.ParameterList([p]), OptimConfig(name="adamw", lr=0.01))
    p.grad = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    opt.step()
    w, _, _ = _hand_step([1.0, -2.0], [0.5, 0.25], [0, 0], [0, 0], lr=0.01, wd=0.01, adapt=False)
    torch.testing.assert_close(p.detach().flatten(), torch.tensor(w, dtype=torch.float64), atol=1e-12, rtol=0)


def test_param_groups_exclude_layernorm_and_biases_only():
    from litebert import AlbertConfig, AlbertForPreTraining

    model = AlbertForPreTraining(AlbertConfig.from_preset("tiny"))
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(("norm" in names[id(p)] or names[id(p)].endswith("bias")) for p in no_decay["params"])
    assert all(not names[id(p)].endswith("bias") and "norm" not in names[id(p)] for p in decay["params"])
    assert "mlm.bias" in {names[id(p)] for p in no_decay["params"]}


@pytest.mark.parametrize("step,expected", [
    (0, 0.0), (1, 1e-3 * 1 / 10), (9, 1e-3 * 9 / 10),
    (10, 1e-3 * (1 - 10 / 100)),  # decay on the absolute step: not the peak at the end of warmup
    (55, 1e-3 * (1 - 55 / 100)), (100, 0.0), (150, 0.0),
])
def test_schedule_linear_warmup_then_poly_decay_on_the_absolute_step(step, expected):
    cfg = OptimConfig(lr=1e-3, warmup_steps=10)
    assert learning_rate(step, 100, cfg) == pytest.approx(expected, abs=1e-15)


def test_schedule_poly_power_and_start_warmup_step():
    cfg = OptimConfig(lr=2.0, warmup_steps=4, start_warmup_step=2, poly_power=2.0)
    assert learning_rate(3, 10, cfg) == pytest.approx(2.0 * 1 / 4)
    assert learning_rate(6, 10, cfg) == pytest.approx(2.0 * (1 - 6 / 10) ** 2)
    assert learning_rate(5, 10, OptimConfig(lr=1.0, warmup_steps=0)) == pytest.approx(0.5)


def test_bad_settings_are_config_errors_naming_the_field():
    """They were ValueErrors, printed by the CLI as tracebacks; lr and warmup_steps shared one message."""
    from litebert.config import ConfigError

    for field, value, message in [("name", "sgdx", "optim.name must be lamb, adamw or torch_adamw, got 'sgdx'"),
                                  ("lr", -1.0, r"optim.lr must be > 0, got -1.0"),
                                  ("lr", float("nan"), r"optim.lr must be > 0, got nan"),
                                  ("warmup_steps", -1, r"optim.warmup_steps must be >= 0, got -1"),
                                  ("start_warmup_step", -2, r"optim.start_warmup_step must be >= 0"),
                                  ("beta2", 1.0, r"optim.beta2 must be in \[0, 1\), got 1.0"),
                                  ("eps", 0.0, r"optim.eps must be > 0"),
                                  ("weight_decay", -0.1, r"optim.weight_decay must be >= 0"),
                                  ("clip_grad_norm", -1.0, r"optim.clip_grad_norm must be >= 0 \(0: no clipping\)")]:
        with pytest.raises(ConfigError, match=message):
            OptimConfig(**{field: value})
    OptimConfig(warmup_steps=0, clip_grad_norm=0.0, weight_decay=0.0, beta1=0.0)  # the edges are fine
