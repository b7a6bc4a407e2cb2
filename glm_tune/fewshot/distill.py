"""PET's distillation: the pattern ensemble labels unlabelled rows softly, one model learns them.

The ensemble's averaged label log-probs on the task's unlabelled split become soft labels
``softmax(scores / T)`` (PET's temperature, 2 by default); a single model (the task's default
pattern, from the pretrained weights) then trains on those rows with the KL divergence from the
soft labels to its own label distribution, ``sum_y q(y) (log q(y) - log p(y | x))``, averaged over
the rows of a batch.

iPET (``--ipet N``) first retrains every pattern N times, each time on its labelled rows plus
unlabelled rows labelled by the other patterns' ensemble of the round before
(:func:`pseudo_labelled`), ``IPET_SCALE`` times more of them each round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from glm_tune.fewshot.runs import Loss
from glm_tune.training.data import Example


def soft_labels(ensemble_log_probs: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """[rows, labels] target distributions from the ensemble's scores."""
    return (ensemble_log_probs.float() / temperature).softmax(-1)


def distillation_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(targets || softmax(scores)) ([rows, labels] each)."""
    # torch's KL: a target probability of 0 contributes 0 (xlogy), not 0 * log 0 = NaN.
    return F.kl_div(scores.float().log_softmax(-1), targets.float(), reduction="batchmean")


def distillation(examples: Sequence[Example], targets: torch.Tensor) -> Loss:
    """The training loss over ``examples`` (rows of the unlabelled split) with their soft labels."""
    position = {e.index: k for k, e in enumerate(examples)}

    def loss(module, scores: torch.Tensor, batch) -> torch.Tensor:
        rows = [position[i] for i in batch["index"].tolist()]
        return distillation_loss(scores, targets[rows].to(scores.device))

    return loss


IPET_SCALE = 5
"""PET's iPET scale factor: round r adds (training rows) x 5^r pseudo-labelled rows."""


def pseudo_labelled(examples: Sequence[Example], scores: torch.Tensor, count: int) -> list[Example]:
    """Up to ``count`` of ``examples`` with the label ``scores`` ([rows, labels] log-probs) gives them.

    Each label gets an equal share, taken from the rows it wins with the highest probability
    (a label that wins fewer rows gives up the rest of its share), so that the rounds do not
    drift towards the label the ensemble favours.
    """
    labels = scores.shape[-1]
    best = scores.float().softmax(-1).max(-1)
    chosen: list[Example] = []
    for label in range(labels):
        rows = [i for i in range(len(examples)) if int(best.indices[i]) == label]
        rows.sort(key=lambda i: -float(best.values[i]))
        chosen += [dataclasses.replace(examples[i], label=label, labelled=True) for i in rows[: count // labels]]
    return chosen
