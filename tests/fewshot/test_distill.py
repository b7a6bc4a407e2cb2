"""PET's distillation: soft labels from the ensemble, KL from them to the student's distribution."""

from __future__ import annotations

import math

import pytest
import torch

from glm_tune.fewshot.distill import distillation, distillation_loss, pseudo_labelled, soft_labels
from glm_tune.training.data import Example


def test_soft_labels_are_the_tempered_softmax_of_the_ensemble_scores():
    scores = torch.tensor([[math.log(0.8), math.log(0.2)]])
    # T = 2: softmax(log p / 2) = sqrt(p) / sum sqrt(p).
    expected = [math.sqrt(0.8) / (math.sqrt(0.8) + math.sqrt(0.2)), math.sqrt(0.2) / (math.sqrt(0.8) + math.sqrt(0.2))]
    assert soft_labels(scores, 2.0)[0].tolist() == pytest.approx(expected)
    assert soft_labels(scores, 1.0)[0].tolist() == pytest.approx([0.8, 0.2])


def test_distillation_loss_is_the_mean_kl_from_the_soft_labels_by_hand():
    scores = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    targets = torch.tensor([[0.75, 0.25], [1.0, 0.0]])
    p0 = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]
    p1 = [1 / (1 + math.exp(2)), math.exp(2) / (1 + math.exp(2))]
    kl0 = 0.75 * math.log(0.75 / p0[0]) + 0.25 * math.log(0.25 / p0[1])
    kl1 = 1.0 * math.log(1.0 / p1[0])  # the 0-probability label adds nothing (0 log 0 = 0)
    assert float(distillation_loss(scores, targets)) == pytest.approx((kl0 + kl1) / 2)
    reference = torch.nn.functional.kl_div(scores.log_softmax(-1), targets, reduction="batchmean")
    assert float(distillation_loss(scores, targets)) == pytest.approx(float(reference))


def test_distillation_loss_matches_each_row_to_its_own_soft_label():
    # Unlabelled rows 5 and 9 in a batch that lists 9 first.
    examples = [Example(5, [1, 2], 1), Example(9, [1, 3], 1)]
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = distillation(examples, targets)
    scores = torch.tensor([[0.0, 3.0], [3.0, 0.0]])  # row 9 favours label 1, row 5 label 0: both right
    right = float(loss(None, scores, {"index": torch.tensor([9, 5])}))
    wrong = float(loss(None, scores, {"index": torch.tensor([5, 9])}))
    assert right == pytest.approx(math.log(1 + math.exp(-3))) and wrong > right


def test_pseudo_labels_take_an_equal_share_of_the_most_confident_rows_per_label():
    examples = [Example(i, [1, i], 1) for i in range(6)]
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.7, 0.3]])
    chosen = pseudo_labelled(examples, probs.log(), 4)
    # Label 0 wins rows 0, 2, 5, 1 (0.9, 0.8, 0.7, 0.6): its share of 2 is rows 0 and 2;
    # label 1 wins rows 3 and 4 (0.7, 0.55).
    assert [(e.index, e.label, e.labelled) for e in chosen] == [(0, 0, True), (2, 0, True), (3, 1, True), (4, 1, True)]
    assert examples[0].label is None  # the unlabelled rows themselves are left as they were
