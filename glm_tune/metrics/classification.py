"""Label metrics: torchmetrics built-ins that also take lists and refuse empty input.

Accuracy is ``MulticlassAccuracy`` with ``average="micro"`` (its default, ``"macro"``, is *not*
accuracy), macro-F1 is ``MulticlassF1Score`` and MultiRC F1a ``BinaryF1Score``. Matthews
correlation subclasses ``MulticlassMatthewsCorrCoef`` but computes the value itself: for two
classes torchmetrics returns 1 when every label and prediction is the same class, and an
epsilon-smoothed non-zero value for a constant prediction, where scikit-learn (and so the
GLUE/CoLA scorer) returns 0. :class:`ChoiceAccuracy` is accuracy without a fixed class count
(candidate indices).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics.classification import (
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassMatthewsCorrCoef,
)

from glm_tune.metrics.base import Labels, MeanOfScores, as_labels, check_same_length, require_examples


class _StatScoresInput:
    """Mixin for torchmetrics stat-score metrics (states ``tp``, ``fp``, ``tn``, ``fn``)."""

    device: torch.device
    tp: Tensor
    fp: Tensor
    tn: Tensor
    fn: Tensor

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch: ``preds`` are labels (or logits as a tensor), ``target`` gold labels."""
        gold_labels = as_labels(target, self.device)
        # torchmetrics cannot reshape a zero-length batch; it adds nothing anyway
        if gold_labels.numel() > 0:
            super().update(as_labels(preds, self.device), gold_labels)  # type: ignore[misc]

    def compute(self) -> Tensor:
        """The metric over every example seen; :class:`EmptyMetricError` if there were none."""
        require_examples(self, (self.tp + self.fp + self.tn + self.fn).sum())  # type: ignore[arg-type]
        return super().compute()  # type: ignore[misc]


class Accuracy(_StatScoresInput, MulticlassAccuracy):
    """Accuracy over ``num_classes`` labels: torchmetrics' ``MulticlassAccuracy``, micro-averaged."""

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, average="micro", **kwargs)


class MacroF1(_StatScoresInput, MulticlassF1Score):
    """Unweighted mean of the per-class F1 (CB reports it over its 3 classes).

    A class that is neither predicted nor gold is left out of the mean, as scikit-learn's
    ``f1_score(average="macro")`` (used by the GLM and SuperGLUE scorers) does.
    """

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, average="macro", **kwargs)


class F1a(_StatScoresInput, BinaryF1Score):
    """MultiRC F1a: binary F1 of the positive class (True = 1) over all answer options."""


class MatthewsCorrCoef(MulticlassMatthewsCorrCoef):
    """Matthews correlation (CoLA) with scikit-learn's convention: 0 when it is undefined.

    The confusion matrix is accumulated by torchmetrics; the value is the multiclass formula
    ``(c*s - t.p) / sqrt((s^2 - p.p) * (s^2 - t.t))`` with 0 for a zero denominator, i.e. when
    all gold labels or all predictions are one class (torchmetrics would return 1 or a smoothed
    non-zero value there for two classes).
    """

    confmat: Tensor

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, **kwargs)

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch: ``preds`` are labels (or logits as a tensor), ``target`` gold labels."""
        super().update(as_labels(preds, self.device), as_labels(target, self.device))

    def compute(self) -> Tensor:
        """MCC over every example seen; :class:`EmptyMetricError` if there were none."""
        confmat = self.confmat.double()
        total = confmat.sum()
        require_examples(self, total)
        gold_counts, pred_counts = confmat.sum(dim=1), confmat.sum(dim=0)
        covariance = torch.trace(confmat) * total - gold_counts @ pred_counts
        pred_variance = total**2 - pred_counts @ pred_counts
        gold_variance = total**2 - gold_counts @ gold_counts
        denominator = torch.sqrt(pred_variance * gold_variance)
        if denominator == 0:
            return torch.zeros((), dtype=torch.float64, device=self.device)
        return covariance / denominator




class ChoiceAccuracy(MeanOfScores):
    """Accuracy of integer labels with no fixed label set.

    For candidate-selection tasks (COPA, ReCoRD entities, RACE) where the prediction is an
    index into a per-example candidate list whose length varies, so ``num_classes`` does not
    exist.
    """

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch of predicted and gold labels (any integers)."""
        pred_labels, gold_labels = as_labels(preds, self.device), as_labels(target, self.device)
        check_same_length(pred_labels, gold_labels)
        self.score_sum += (pred_labels == gold_labels).sum()
        self.total += gold_labels.numel()
