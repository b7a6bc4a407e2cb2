"""AdamW with GLM's finetuning recipe: no decay on biases and LayerNorm, warmup then linear decay."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from glm_tune.errors import OptionError


def parameter_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed weights and undecayed biases / norm parameters.

    A norm's scale and every bias are 1-D; decaying them pulls LayerNorm towards zero, which
    the original GLM (Megatron) code avoids, so the split is by shape rather than by name.
    """
    decay, no_decay = [], []
    for parameter in module.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def warmup_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                        decay_ratio: float = 0.0):
    """Linear warmup from 0 to the peak rate over ``warmup_steps``, then linear decay to
    ``decay_ratio`` times the peak (GLM's finetuning: 0.1), reached at the last step."""
    total_steps = max(1, total_steps)
    if not 0.0 <= decay_ratio <= 1.0:
        raise ValueError(f"--lr_decay_ratio must be in [0, 1], got {decay_ratio}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        remaining = max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        return decay_ratio + (1.0 - decay_ratio) * remaining

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_optimizer(
    module: nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    total_steps: int,
    warmup_ratio: float = 0.1,
    decay_ratio: float = 0.0,
) -> dict:
    """The ``configure_optimizers`` return value Lightning expects (the schedule steps per step)."""
    groups = parameter_groups(module, weight_decay)
    if not groups:
        raise OptionError("nothing to train: every parameter is frozen")
    # Fused AdamW can skip a step on the device (``found_inf``), which lets StopOnNonFiniteLoss
    # stop on a NaN loss without waiting for the device at every step. It also advertises that
    # it can unscale fp16 gradients inside its step, and Lightning then refuses gradient
    # clipping under mixed precision; without the advertisement the loss scaler unscales the
    # gradients before clipping, as it does for any optimizer.
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=True)
    vars(optimizer).pop("_step_supports_amp_scaling", None)
    scheduler = warmup_linear_decay(optimizer, total_steps, int(warmup_ratio * total_steps), decay_ratio)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@dataclass
class OptimizerOptions:
    """AdamW with a linear warmup, then a linear decay: the optimiser options fit and pretrain share."""

    learning_rate: float | None = None
    """Peak learning rate of AdamW (fit's default: the model's finetuning default, glm-tiny's 3e-4,
    else 1e-5, GLM-Large's SuperGLUE rate; pretrain's: 5e-4)."""
    weight_decay: float = 0.1
    """AdamW weight decay; biases and LayerNorm parameters are never decayed (pretrain's default: 0.01)."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.999
    """AdamW beta2 (GLM-10B used 0.95)."""
    adam_eps: float = 1e-8
    """AdamW epsilon."""
    warmup_ratio: float = 0.1
    """Fraction of the optimizer steps spent warming the learning rate up from 0, then linear decay
    to --lr-decay-ratio of the peak (pretrain's default: 0.05)."""
    lr_decay_ratio: float = 0.0
    """The learning rate decays linearly to this fraction of the peak (GLM: 0.1), not to 0."""

    def build(self, module: nn.Module, total_steps: int, fallback_learning_rate: float | None = None) -> dict:
        """:func:`build_optimizer` with these options (``fallback_learning_rate`` when none is set)."""
        rate = self.learning_rate if self.learning_rate is not None else fallback_learning_rate
        if rate is None:
            raise OptionError("--learning-rate is not set")
        return build_optimizer(module, learning_rate=rate, weight_decay=self.weight_decay,
                               betas=(self.adam_beta1, self.adam_beta2), eps=self.adam_eps, total_steps=total_steps,
                               warmup_ratio=self.warmup_ratio, decay_ratio=self.lr_decay_ratio)
