"""Which subcommands show an option, and the checks every option value passes before any
data or model is loaded.

An option is a documented field of an option dataclass (``FitConfig``, ``DataOptions``,
``TrainerOptions``, ...). A field that only training reads carries ``metadata=FIT_ONLY``, so
``validate``, ``test`` and ``predict`` leave it out of their options and ``--help``; any other
field is offered wherever its dataclass is. This module imports nothing heavy: the CLI reads
it before it knows which command runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from glm_tune.errors import OptionError

FIT_ONLY: dict[str, Any] = {"fit_only": True}
"""Field metadata: only ``fit`` (training) reads this option."""


def option_name(field: str) -> str:
    """How an option is spelled on the command line, in ``--help`` and in errors: ``--max-epochs``."""
    return "--" + field.replace("_", "-")


def fit_only_fields(kind: type) -> set[str]:
    """The fields of an option dataclass marked :data:`FIT_ONLY`."""
    return {f.name for f in dataclasses.fields(kind) if f.metadata.get("fit_only")}


def from_flat_options(kind: type, values: dict[str, Any], sections: dict[str, type]) -> Any:
    """A ``kind`` (``FitConfig``, ``PretrainConfig``) from flat option values, as the command line
    and a YAML spell them (``max_epochs``, not ``trainer.max_epochs``): each value goes to the
    section (a field of ``kind`` holding one of the ``sections`` dataclasses) that has the field,
    the rest to ``kind`` itself. Keys that are no option (``config``, jsonargparse's ``__path__``)
    are left out."""
    values = dict(values)
    nested = {}
    for section, section_kind in sections.items():
        names = {f.name for f in dataclasses.fields(section_kind)}
        nested[section] = section_kind(**{k: values.pop(k) for k in list(values) if k in names})
    own = {f.name for f in dataclasses.fields(kind)} - set(nested)
    return kind(**{k: v for k, v in values.items() if k in own}, **nested)


def _at_least(values: dict[str, Any], minimum: float, *names: str) -> None:
    for name in names:
        value = values.get(name)
        if value is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and value < minimum:
            raise OptionError(f"{option_name(name)} {value}: must be at least {minimum:g}")


def _fraction(values: dict[str, Any], *names: str, closed: bool = False) -> None:
    for name in names:
        value = values.get(name)
        if value is not None and not (0 <= value <= 1 if closed else 0 <= value < 1):
            raise OptionError(f"{option_name(name)} {value}: must be in [0, 1{']' if closed else ')'}")


def check_options(config: Any, command: str = "fit") -> None:
    """Refuse option values that cannot work, naming the option, before anything is loaded.

    ``config`` is a ``FitConfig``; ``command`` is fit, validate, test or predict (the options
    only training reads are checked for fit alone).
    """
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if not dataclasses.is_dataclass(getattr(config, f.name))}
    for section in ("data", "training", "trainer"):
        values.update(dataclasses.asdict(getattr(config, section)))
    _at_least(values, 1, "batch_size", "eval_batch_size", "eval_limit", "max_length", "max_target_length")
    _at_least(values, 0, "num_workers", "pattern_id", "prompt_tokens")
    if command != "fit":
        return
    _at_least(values, 1, "train_limit", "accumulate_grad_batches", "checkpoint_every_n_steps", "log_every_n_steps",
              "num_nodes")
    _at_least(values, 0, "weight_decay", "gradient_clip_val")
    lr = values.get("learning_rate")
    if lr is not None and lr <= 0:
        raise OptionError(f"{option_name('learning_rate')} {lr}: must be positive")
    _fraction(values, "warmup_ratio", "label_smoothing", "dropout")
    max_epochs, max_steps = values.get("max_epochs"), values.get("max_steps")
    if max_epochs is not None and (max_epochs == 0 or max_epochs < -1):
        raise OptionError(f"{option_name('max_epochs')} {max_epochs}: must be at least 1 (or -1 with "
                          f"{option_name('max_steps')}); 0 would train nothing")
    if max_steps is not None and (max_steps == 0 or max_steps < -1):
        raise OptionError(f"{option_name('max_steps')} {max_steps}: must be at least 1 (-1: no limit); "
                          "0 would train nothing")
    if max_epochs == -1 and max_steps in (-1, None):
        raise OptionError(f"{option_name('max_epochs')} -1 needs {option_name('max_steps')}: "
                          "otherwise training never ends")
