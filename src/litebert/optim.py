"""Optimizers and the learning-rate schedule of google-research/albert, as multi-tensor (torch._foreach_*) PyTorch.

LAMB (lamb_optimizer.py) and the original AdamW (optimization.AdamWeightDecayOptimizer):
    m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2          (no bias correction)
    u <- m / (sqrt(v) + eps) + wd * w                            (decoupled decay, excluded params: wd = 0)
    LAMB: r = ||w|| / ||u|| (1 when either norm is 0; excluded params: r = 1);  AdamW: r = 1
    w <- w - lr * r * u
The original excludes parameters by the name regex ["LayerNorm", "layer_norm", "bias"]; here the rule is p.dim() < 2,
which selects exactly the LayerNorm weights/biases and all biases (the MLM output bias included) and needs no names.

Schedule (optimization.create_optimizer): linear warmup lr * (step - start) / warmup while step - start < warmup,
otherwise polynomial decay on the ABSOLUTE step: lr * (1 - min(step, total) / total) ** poly_power (so at the end of
warmup the rate is lr * (1 - warmup / total), not lr).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from litebert.config import ConfigError


@dataclass
class OptimConfig:
    name: str = "lamb"
    """lamb | adamw (the original's: no bias correction) | torch_adamw (torch.optim.AdamW, bias-corrected)."""
    lr: float = 0.00176
    """Peak learning rate (the original's xxlarge/base recipe: 0.00176 for batch 4096 with LAMB)."""
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-6
    warmup_steps: int = 3125
    start_warmup_step: int = 0
    poly_power: float = 1.0
    """Power of the polynomial decay to 0 at the last step (1.0: linear)."""
    clip_grad_norm: float = 1.0
    """Global gradient-norm clip (the original clips at 1.0 for every task); 0 disables it."""

    def __post_init__(self):
        if self.name not in ("lamb", "adamw", "torch_adamw"):
            raise ConfigError(f"optim.name must be lamb, adamw or torch_adamw, got {self.name!r}")
        # `not x >= 0` (rather than `x < 0`) also refuses NaN
        for name, ok, rule in (("lr", self.lr > 0, "> 0"), ("eps", self.eps > 0, "> 0"),
                               ("weight_decay", self.weight_decay >= 0, ">= 0"),
                               ("beta1", 0 <= self.beta1 < 1, "in [0, 1)"), ("beta2", 0 <= self.beta2 < 1, "in [0, 1)"),
                               ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
                               ("start_warmup_step", self.start_warmup_step >= 0, ">= 0"),
                               ("poly_power", self.poly_power >= 0, ">= 0"),
                               ("clip_grad_norm", self.clip_grad_norm >= 0, ">= 0 (0: no clipping)")):
            if not ok:
                raise ConfigError(f"optim.{name} must be {rule}, got {getattr(self, name)}")


def learning_rate(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """The rate applied at `step` (0-based count of updates already made)."""
    warm = step - cfg.start_warmup_step
    if cfg.warmup_steps and warm < cfg.warmup_steps:
        return cfg.lr * max(warm, 0) / cfg.warmup_steps
    return cfg.lr * (1.0 - min(step, total_steps) / total_steps) ** cfg.poly_power


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices (decayed, LAMB-adapted) and vectors (LayerNorm parameters, biases: neither)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay, "adapt": True},
            {"params": no_decay, "weight_decay": 0.0, "adapt": False}]


class Lamb(torch.optim.Optimizer):
    """LAMB and the original AdamW (`adapt=False` everywhere), exactly as google-research/albert computes them."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, adapt: bool = True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, adapt=adapt))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            for p, s in zip(params, states):
                if not s:
                    s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            m = [s["exp_avg"] for s in states]
            v = [s["exp_avg_sq"] for s in states]
            b1, b2 = group["betas"]
            torch._foreach_lerp_(m, grads, 1 - b1)  # m = b1 m + (1 - b1) g
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - b2)  # v = b2 v + (1 - b2) g^2
            denom = torch._foreach_sqrt(v)
            torch._foreach_add_(denom, group["eps"])
            update = torch._foreach_div(m, denom)  # no bias correction, as the original
            if group["weight_decay"]:
                torch._foreach_add_(update, params, alpha=group["weight_decay"])
            if group["adapt"]:
                w_norm = torch.stack(torch._foreach_norm(params))
                u_norm = torch.stack(torch._foreach_norm(update))
                ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                torch._foreach_mul_(update, list((ratio * -group["lr"]).unbind(0)))
                torch._foreach_add_(params, update)
            else:
                torch._foreach_add_(params, update, alpha=-group["lr"])
        return loss


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if cfg.name == "torch_adamw":
        for g in groups:
            g.pop("adapt")
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=True)
    if cfg.name == "adamw":
        for g in groups:
            g["adapt"] = False
    return Lamb(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
