"""GLM's schedule and optimizer options: decay to a floor, Adam's epsilon; the CLI's recipe flags."""

import pytest
import torch

from glm_tune.cli import _fit_config, _normalise, build_parser
from glm_tune.training.optim import build_optimizer


def _rates(decay_ratio, total=20, warmup_ratio=0.1):
    model = torch.nn.Linear(2, 2)
    built = build_optimizer(model, learning_rate=1e-3, weight_decay=0.1, eps=1e-6, total_steps=total,
                            warmup_ratio=warmup_ratio, decay_ratio=decay_ratio)
    optimizer, scheduler = built["optimizer"], built["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates.append(optimizer.param_groups[0]["lr"])
    return optimizer, rates


def test_learning_rate_decays_to_its_floor():
    optimizer, rates = _rates(0.1)
    assert all(group["eps"] == 1e-6 for group in optimizer.param_groups)
    # Warmup over 2 steps ((step + 1) / 3 of the peak), then the peak.
    assert rates[:3] == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3])
    after = rates[2:]
    assert all(a >= b for a, b in zip(after, after[1:]))
    assert rates[-1] == pytest.approx(1e-4)  # 10% of the peak rate, GLM's floor
    _, to_zero = _rates(0.0)
    assert to_zero[-1] == 0.0 and to_zero[:3] == rates[:3]
    with pytest.raises(ValueError, match="--lr_decay_ratio must be in"):
        _rates(1.5)


def test_recipe_and_lora_options_reach_the_config():
    argv = ["fit", "--task", "sst2", "--lr-decay-ratio", "0.1", "--adam-eps", "1e-6", "--monitor", "accuracy",
            "--no-validation", "--lora-rank", "8", "--lora-alpha", "32", "--lora-targets", "[query_key_value, dense]",
            "--merge-lora", "--label-words", "{pos: great, neg: terrible}"]
    config = _fit_config(build_parser().parse_args(_normalise(argv))["fit"])
    assert (config.training.lr_decay_ratio, config.training.adam_eps) == (0.1, 1e-6)
    assert (config.trainer.monitor, config.trainer.no_validation) == ("accuracy", True)
    assert (config.training.lora_rank, config.training.lora_alpha, config.training.merge_lora) == (8, 32.0, True)
    assert config.training.lora_targets == ["query_key_value", "dense"]
    assert config.task_options.label_words == {"pos": "great", "neg": "terrible"}
