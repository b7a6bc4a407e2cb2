"""MultiRC's per-question exact match, with question ids that survive a multi-process sync."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from glm_tune.metrics.base import Labels, as_labels, check_same_length, require_examples

QuestionIds = Tensor | Sequence[Hashable]


def _question_key(question_id: Hashable) -> int:
    # States must be tensors to be gathered across processes, and every process must map an id
    # to the same number: a fixed hash of repr() is stable where Python's hash() is salted.
    if isinstance(question_id, int) and not isinstance(question_id, bool):
        return question_id
    digest = hashlib.blake2b(repr(question_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class MultiRCExactMatch(Metric):
    """MultiRC EM: the fraction of questions whose answer options are *all* predicted right.

    ``update`` takes the question each answer option belongs to; ids may be ints, strings or
    tuples such as ``(paragraph, question)``, and the options of one question may be spread
    over several batches or processes. Ids must be unique across the whole data set.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    question_ids: list[Tensor] | Tensor
    correct: list[Tensor] | Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("question_ids", [], dist_reduce_fx="cat")
        self.add_state("correct", [], dist_reduce_fx="cat")

    def update(self, preds: Labels, target: Labels, question_ids: QuestionIds) -> None:
        """Add a batch of answer-option predictions, gold labels and their question ids."""
        pred_labels, gold_labels = as_labels(preds, self.device), as_labels(target, self.device)
        if isinstance(question_ids, Tensor):
            ids = question_ids.to(self.device, torch.long)
        else:
            keys = [_question_key(question_id) for question_id in question_ids]
            ids = torch.tensor(keys, dtype=torch.long, device=self.device)
        check_same_length(pred_labels, gold_labels)
        check_same_length(pred_labels, ids)
        self.question_ids.append(ids.reshape(-1))  # type: ignore[union-attr]
        self.correct.append((pred_labels == gold_labels).reshape(-1).long())  # type: ignore[union-attr]

    def compute(self) -> Tensor:
        """EM over the questions seen; :class:`EmptyMetricError` if there were none."""
        # a list before any update; a single tensor once torchmetrics has synced processes
        if isinstance(self.question_ids, list) and not self.question_ids:
            require_examples(self, 0)
        ids, correct = dim_zero_cat(self.question_ids), dim_zero_cat(self.correct)
        require_examples(self, ids.numel())
        unique_ids, question_index = torch.unique(ids, return_inverse=True)
        all_correct = torch.ones(len(unique_ids), dtype=torch.long, device=correct.device)
        all_correct = all_correct.scatter_reduce(0, question_index, correct, reduce="amin")
        return all_correct.double().mean()
