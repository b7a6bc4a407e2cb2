"""A model's recommended finetuning options fill only what the user left unset."""

from __future__ import annotations

import dataclasses
import json

import pytest

from glm_tune.checkpoint import CheckpointError, resolve
from glm_tune.training.finetune_defaults import (
    FALLBACK_LEARNING_RATE,
    FALLBACK_MAX_EPOCHS,
    apply_finetune_defaults,
    model_defaults,
)
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig
from glm_tune.training.trainer import TrainerOptions


def _config(model="glm-tiny", **trainer) -> FitConfig:
    return FitConfig(task="sst2", model=model, trainer=TrainerOptions(**trainer))


def _model_without_defaults(tmp_path, defaults=None):
    config = json.loads((resolve("glm-tiny") / "config.json").read_text())
    config.pop("finetune_defaults")
    if defaults is not None:
        config["finetune_defaults"] = defaults
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def test_glm_tiny_carries_its_defaults():
    assert model_defaults("glm-tiny") == {"learning_rate": 3e-4, "max_epochs": 2}


def test_unset_options_take_the_models_defaults_and_say_so(capsys):
    config = apply_finetune_defaults(_config())
    assert (config.training.learning_rate, config.trainer.max_epochs) == (3e-4, 2)
    assert capsys.readouterr().err == (
        "glm-tiny's finetuning defaults: --learning-rate 0.0003, --max-epochs 2 (set an option to override it)\n")


def test_the_users_value_wins(capsys):
    given = FitConfig(task="sst2", model="glm-tiny", training=TrainingOptions(learning_rate=5e-4),
                      trainer=TrainerOptions(max_epochs=5))
    config = apply_finetune_defaults(given)
    assert (config.training.learning_rate, config.trainer.max_epochs) == (5e-4, 5)
    assert capsys.readouterr().err == ""
    config = apply_finetune_defaults(dataclasses.replace(given, training=TrainingOptions()))
    assert (config.training.learning_rate, config.trainer.max_epochs) == (3e-4, 5)
    assert "--learning-rate 0.0003 (" in capsys.readouterr().err


def test_max_steps_leaves_the_epochs_to_the_steps():
    config = apply_finetune_defaults(_config(max_steps=50), announce=False)
    assert (config.training.learning_rate, config.trainer.max_epochs) == (3e-4, None)


def test_a_model_without_defaults_gets_the_fallbacks_silently(tmp_path, capsys):
    config = apply_finetune_defaults(_config(model=_model_without_defaults(tmp_path)))
    assert (config.training.learning_rate, config.trainer.max_epochs) == (FALLBACK_LEARNING_RATE, FALLBACK_MAX_EPOCHS)
    assert (FALLBACK_LEARNING_RATE, FALLBACK_MAX_EPOCHS) == (1e-5, 3)
    assert capsys.readouterr().err == ""


def test_an_unknown_default_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"finetune_defaults has unknown keys \['batch_size'\]"):
        model_defaults(_model_without_defaults(tmp_path, {"batch_size": 8}))


def test_the_cli_leaves_unset_options_unset():
    from glm_tune.cli import _fit_config, _normalise, build_parser

    parser = build_parser({"fit"})
    unset = _fit_config(parser.parse_args(_normalise(["fit", "--task", "sst2"])).fit)
    assert (unset.training.learning_rate, unset.trainer.max_epochs) == (None, None)
    given = _fit_config(parser.parse_args(_normalise(["fit", "--task", "sst2", "--learning-rate", "5e-4"])).fit)
    assert given.training.learning_rate == 5e-4
