"""Evaluation metrics for glm-tune, computed offline and reproducing the official scorers.

Every metric is a :class:`torchmetrics.Metric`: ``update`` accumulates batch by batch, the states
are synchronised across processes by torchmetrics (sums, or concatenation where a metric needs
the examples themselves), and ``compute`` gives the corpus value. ``update`` also takes plain
Python lists, so each metric can be used and tested without building tensors.

Conventions
    * Values are fractions (accuracy 0.946, not 94.6); MCC lies in [-1, 1].
    * ``compute`` on a metric that has seen no example raises :class:`EmptyMetricError` (a
      ``ValueError``): a score of 0 from an empty dev set would look like a real result.
    * Python sequences of labels are read as integer class ids; pass tensors for logits or
      probabilities (torchmetrics then takes the argmax, which picks the lowest index on ties).

Modules
    * :mod:`~glm_tune.metrics.classification`: accuracy, macro-F1, F1a and Matthews
      correlation (torchmetrics built-ins, wrapped to take lists, refuse empty input and follow
      scikit-learn's conventions), and accuracy over candidate indices.
    * :mod:`~glm_tune.metrics.qa`: SQuAD v1.1 / ReCoRD and CMRC2018 exact match and F1.
    * :mod:`~glm_tune.metrics.multirc`: MultiRC's per-question exact match.
    * :mod:`~glm_tune.metrics.rouge`: ROUGE from Google's ``rouge_score``, Chinese by character.
    * :mod:`~glm_tune.metrics.benchmarks`: :class:`Benchmark` averages task scores the way the
      SuperGLUE, CLUE and FewCLUE leaderboards do.
    * :mod:`~glm_tune.metrics.reporting`: :func:`results_table` and :func:`results_json`.
    * :mod:`~glm_tune.metrics.base`: what they share (input types, the empty-input rule).

This package holds the registry (:func:`build_metric`, :func:`build_metrics`), which maps names
such as ``"accuracy"`` or ``"rougeL"`` to these classes, and re-exports every public name, so
``from glm_tune.metrics import Rouge`` works whichever module defines it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torchmetrics import Metric, MetricCollection

from glm_tune.metrics.base import EmptyMetricError, Language, MeanOfScores, RougeVariant
from glm_tune.metrics.benchmarks import CLUE_CLASSIFICATION, CLUE_READING, FEWCLUE, SUPERGLUE, Benchmark
from glm_tune.metrics.classification import Accuracy, ChoiceAccuracy, F1a, MacroF1, MatthewsCorrCoef
from glm_tune.metrics.multirc import MultiRCExactMatch
from glm_tune.metrics.qa import (
    AnswerF1,
    ExactMatch,
    SpanMatchAccuracy,
    cmrc_exact_match,
    cmrc_f1,
    cmrc_segment,
    normalize_answer,
    squad_exact_match,
    squad_f1,
)
from glm_tune.metrics.reporting import results_json, results_table
from glm_tune.metrics.rouge import ROUGE_VARIANTS, ChineseTokenizer, Rouge, porter_stem, rouge_f, rouge_tokenize

__all__ = [
    "CLUE_CLASSIFICATION",
    "CLUE_READING",
    "FEWCLUE",
    "ROUGE_VARIANTS",
    "SUPERGLUE",
    "Accuracy",
    "AnswerF1",
    "Benchmark",
    "ChineseTokenizer",
    "ChoiceAccuracy",
    "EmptyMetricError",
    "ExactMatch",
    "SpanMatchAccuracy",
    "F1a",
    "MacroF1",
    "MatthewsCorrCoef",
    "MeanOfScores",
    "MultiRCExactMatch",
    "Rouge",
    "available_metrics",
    "build_metric",
    "build_metrics",
    "cmrc_exact_match",
    "cmrc_f1",
    "cmrc_segment",
    "normalize_answer",
    "porter_stem",
    "register_metric",
    "results_json",
    "results_table",
    "rouge_f",
    "rouge_tokenize",
    "squad_exact_match",
    "squad_f1",
]

# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

MetricFactory = Callable[..., Metric]


def _accuracy(num_classes: int | None = None) -> Metric:
    """Accuracy; without ``num_classes`` any integer labels (candidate indices) are accepted."""
    return ChoiceAccuracy() if num_classes is None else Accuracy(num_classes)


def _f1_macro(num_classes: int) -> Metric:
    return MacroF1(num_classes)


def _mcc(num_classes: int) -> Metric:
    return MatthewsCorrCoef(num_classes)


def _em(language: Language = "en") -> Metric:
    return ExactMatch(language)


def _f1(language: Language = "en") -> Metric:
    return AnswerF1(language)


def _rouge_factory(variant: RougeVariant) -> MetricFactory:
    def factory(language: Language = "en", use_stemmer: bool = False) -> Metric:
        return Rouge(variant, language, use_stemmer)

    factory.__doc__ = f"{variant} F-measure."
    return factory


_REGISTRY: dict[str, MetricFactory] = {
    "accuracy": _accuracy,
    "f1_macro": _f1_macro,
    "mcc": _mcc,
    "em": _em,
    "f1": _f1,
    "f1a": F1a,
    "multirc_em": MultiRCExactMatch,
    "span_match_accuracy": SpanMatchAccuracy,
    **{variant: _rouge_factory(variant) for variant in ROUGE_VARIANTS},
}


def available_metrics() -> list[str]:
    """Names :func:`build_metric` knows, sorted."""
    return sorted(_REGISTRY)


def register_metric(name: str, factory: MetricFactory) -> None:
    """Make a metric buildable by name (for metrics a user task brings); names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"metric {name!r} is already registered")
    _REGISTRY[name] = factory


def _factory(name: str) -> MetricFactory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(available_metrics())}") from None


def build_metric(name: str, **options: Any) -> Metric:
    """A fresh metric by name, e.g. ``build_metric("f1_macro", num_classes=3)``.

    Options go to the metric's factory: ``num_classes`` (``accuracy``, ``f1_macro``, ``mcc``),
    ``language`` ``"en"``/``"zh"`` (``em``, ``f1``, ``rouge*``), ``use_stemmer`` (``rouge*``).
    """
    factory = _factory(name)
    try:
        return factory(**options)
    except TypeError as error:
        raise TypeError(f"metric {name!r}: {error}") from error


def build_metrics(names: Sequence[str], **options: Any) -> MetricCollection:
    """A ``MetricCollection`` keyed by name; each metric gets the options its factory accepts.

    ``build_metrics(["accuracy", "f1_macro"], num_classes=3)`` builds CB's pair. An option no
    listed metric accepts is an error rather than silently dropped. Extra ``update`` keywords
    are filtered per metric by torchmetrics, so ``collection.update(preds, target,
    question_ids=ids)`` feeds both ``f1a`` and ``multirc_em``.
    """
    factories = {name: _factory(name) for name in names}
    accepted = {name: set(inspect.signature(factory).parameters) for name, factory in factories.items()}
    unused = set(options) - set().union(*accepted.values())
    if unused:
        raise TypeError(f"no metric among {list(names)} takes the option(s) {sorted(unused)}")
    return MetricCollection(
        {
            name: build_metric(name, **{key: value for key, value in options.items() if key in accepted[name]})
            for name in names
        }
    )

