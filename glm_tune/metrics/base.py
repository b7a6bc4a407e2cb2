"""What every metric here shares: input types, conversions, the empty-input rule, a mean base.

Python sequences of labels are read as integer class ids (tensors pass through), gold answers
are one string or a list of them, and ``compute`` on a metric that has seen no example raises
:class:`EmptyMetricError` rather than returning a score of 0 that would look like a result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from glm_tune.errors import GLMTuneError

Language = Literal["en", "zh"]
RougeVariant = Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]
Labels = Tensor | Sequence[int] | Sequence[bool]
Golds = str | Sequence[str]


class EmptyMetricError(GLMTuneError):
    """Raised by ``compute`` when a metric has not seen a single example."""


def require_examples(metric: Metric, count: Tensor | int) -> None:
    """Raise :class:`EmptyMetricError` naming ``metric`` when ``count`` is 0."""
    if int(count) == 0:
        raise EmptyMetricError(f"{type(metric).__name__}: no examples were given to update()")


def as_labels(values: Labels, device: torch.device) -> Tensor:
    """Tensors pass through; Python sequences become int64 labels (bools become 0/1)."""
    if isinstance(values, Tensor):
        tensor = values.to(device)
    else:
        tensor = torch.as_tensor(list(values), dtype=torch.long, device=device)
    return tensor.long() if tensor.dtype == torch.bool else tensor


def as_golds(golds: Golds) -> list[str]:
    """One gold string or a list of them, as a non-empty list."""
    answers = [golds] if isinstance(golds, str) else list(golds)
    if not answers:
        raise ValueError("an example needs at least one gold answer")
    return answers


def check_same_length(preds: Sequence[Any] | Tensor, target: Sequence[Any] | Tensor) -> None:
    """Raise when a batch has a different number of predictions and targets."""
    if len(preds) != len(target):
        raise ValueError(f"got {len(preds)} predictions but {len(target)} targets")


class MeanOfScores(Metric):
    """Base for metrics that are a mean of per-example scores: sum and count states."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    score_sum: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # float64 so corpus means over many examples stay exact to well below display precision
        self.add_state("score_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def add_scores(self, scores: Sequence[float]) -> None:
        """Add the per-example scores of a batch (what a subclass's ``update`` computes)."""
        self.score_sum += math.fsum(scores)
        self.total += len(scores)

    def compute(self) -> Tensor:
        """Mean per-example score; :class:`EmptyMetricError` if no example was seen."""
        require_examples(self, self.total)
        return self.score_sum / self.total
