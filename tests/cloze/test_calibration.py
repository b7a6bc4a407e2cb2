"""Contextual calibration: the content-free prior divided out of the label probabilities."""

from __future__ import annotations

import math

import pytest
import torch

from glm_tune.cloze.calibration import CONTENT_FREE, calibrate, content_free_rows, encode_content_free, prior
from glm_tune.errors import OptionError
from glm_tune.task.registry import resolve_task


def test_prior_is_the_mean_content_free_distribution_and_calibration_divides_it_out():
    free = torch.tensor([[0.8, 0.2], [0.6, 0.4]]).log()
    label_prior = prior(free)
    assert label_prior.tolist() == pytest.approx([0.7, 0.3])
    rows = torch.tensor([[0.7, 0.3], [0.4, 0.6]]).log()
    # By hand: p / prior, renormalised. Row 0: 1, 1 -> 0.5, 0.5. Row 1: 4/7, 2 -> (4/7, 2) / (18/7).
    expected = [[0.5, 0.5], [4 / 18, 14 / 18]]
    assert calibrate(rows, label_prior).exp().tolist()[0] == pytest.approx(expected[0])
    assert calibrate(rows, label_prior).exp().tolist()[1] == pytest.approx(expected[1])
    assert calibrate(rows, label_prior)[1].tolist() == pytest.approx([math.log(4 / 18), math.log(14 / 18)])


def test_calibration_can_flip_a_prediction_the_prior_alone_made():
    label_prior = torch.tensor([0.9, 0.1])
    row = torch.tensor([[0.8, 0.2]]).log()  # below the prior's 0.9 for label 0: evidence for label 1
    assert int(row.argmax()) == 0 and int(calibrate(row, label_prior).argmax()) == 1


def test_content_free_inputs_fill_every_field_with_na_or_nothing(zh):
    task = resolve_task("tnews")
    template = task.patterns[0]
    rows = content_free_rows(task.fields, template)
    assert rows == [{"sentence": "N/A", "keywords": "N/A"}, {"sentence": "", "keywords": ""}]
    assert CONTENT_FREE == ("N/A", "")
    (na_ids, na_mask), (empty_ids, empty_mask) = encode_content_free(template, task.fields, zh, 256, "tnews")
    assert zh.decode(na_ids).count("N/A") == 2
    assert na_ids[na_mask] == empty_ids[empty_mask] == zh.mask_token_id
    assert len(empty_ids) < len(na_ids)


def test_a_pattern_that_cannot_read_content_free_input_names_the_option(zh):
    task = resolve_task("cluewsc")  # its target field is a dict of spans
    with pytest.raises(OptionError, match="--calibrate: task cluewsc's pattern cannot read a content-free input"):
        encode_content_free(task.patterns[0], task.fields, zh, 256, "cluewsc")
