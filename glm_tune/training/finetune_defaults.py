"""Finetuning hyper-parameters a model recommends for itself, applied where the user set none.

A model's ``config.json`` may carry ``"finetune_defaults": {"learning_rate": 3e-4, "max_epochs": 2}``
(glm-tiny does: the project-wide 1e-5, GLM-Large's SuperGLUE rate, teaches an 8M-parameter model
nothing from a few thousand rows). :func:`apply_finetune_defaults` fills the options left unset
(``None`` in the option dataclasses) from it, else from the project-wide fallbacks below, so an
option given on the command line or in a YAML always wins.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from glm_tune.checkpoint import CheckpointError, resolve
from glm_tune.training.options import option_name

FALLBACK_LEARNING_RATE = 1e-5
"""Peak learning rate for a model that recommends none (GLM-Large's SuperGLUE rate)."""
FALLBACK_MAX_EPOCHS = 3
"""Epochs for a model that recommends none."""
CONFIG_KEY = "finetune_defaults"

# option name -> the FitConfig section that holds it
_SECTIONS = {"learning_rate": "training", "max_epochs": "trainer"}


def model_defaults(model: str) -> dict[str, Any]:
    """The ``finetune_defaults`` of a model's ``config.json`` (empty when it has none)."""
    path = resolve(model)
    config = path / "config.json" if path.is_dir() else path.parent / "config.json"
    if not config.is_file():
        return {}
    values = json.loads(config.read_text(encoding="utf-8")).get(CONFIG_KEY) or {}
    unknown = sorted(set(values) - set(_SECTIONS))
    if unknown:
        raise CheckpointError(f"{config}: {CONFIG_KEY} has unknown keys {unknown}; known: {sorted(_SECTIONS)}")
    return values


def apply_finetune_defaults(config: Any, announce: bool = True) -> Any:
    """``config`` (a ``FitConfig``) with every unset finetuning option filled in.

    Unset means ``None``. The model's own defaults come first, then the fallbacks; with
    ``--max-steps`` given, an unset ``--max-epochs`` stays unset, so the steps decide. With
    ``announce`` the model's defaults that were used are printed on one line.
    """
    recommended = model_defaults(config.model)
    fallbacks = {"learning_rate": FALLBACK_LEARNING_RATE, "max_epochs": FALLBACK_MAX_EPOCHS}
    applied = {}
    sections = {name: getattr(config, name) for name in set(_SECTIONS.values())}
    for name, section in _SECTIONS.items():
        if getattr(sections[section], name) is not None:
            continue
        if name == "max_epochs" and config.trainer.max_steps not in (-1, None):
            continue
        value = recommended.get(name, fallbacks[name])
        sections[section] = dataclasses.replace(sections[section], **{name: value})
        if name in recommended:
            applied[name] = value
    if announce and applied:
        given = ", ".join(f"{option_name(name)} {value:g}" for name, value in applied.items())
        print(f"{config.model}'s finetuning defaults: {given} (set an option to override it)", file=sys.stderr)
    return dataclasses.replace(config, **sections)
