"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use"; OpenPrompt's ``calibrate``).

A cloze pattern and its label words favour some labels whatever the input says. The model's
label distribution on *content-free* inputs (every field ``N/A``, or every field empty) estimates
that prior; dividing it out of each row's label probabilities and renormalising removes it:

    p_calibrated(y | x)  ∝  p(y | x) / p_prior(y),   p_prior = mean of p(y | content-free input)

Classification tasks only: a multiple-choice row's candidates change from row to row, so there
is no fixed label set to hold a prior over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from glm_tune.cloze.template import Template, TemplateError
from glm_tune.errors import OptionError

CONTENT_FREE = ("N/A", "")
"""The content-free fillings of every field (Zhao et al.'s "N/A" and the empty string)."""


def content_free_rows(fields: Sequence[str], template: Template | None = None) -> list[dict[str, Any]]:
    """One row per content-free string, every field the task's patterns read set to it."""
    names = list(dict.fromkeys([*fields, *(template.fields if template is not None else [])]))
    return [{name: text for name in names} for text in CONTENT_FREE]


def prior(content_free_log_probs: torch.Tensor) -> torch.Tensor:
    """[labels] mean label distribution over the content-free inputs ([inputs, labels] log-probs)."""
    return content_free_log_probs.float().exp().mean(0)


def calibrate(log_probs: torch.Tensor, label_prior: torch.Tensor) -> torch.Tensor:
    """[rows, labels] log-probs with the prior divided out and renormalised over the labels."""
    return (log_probs.float() - label_prior.float().log()).log_softmax(-1)


def encode_content_free(template: Template, fields: Sequence[str], tokenizer: Any, max_length: int,
                        task_name: str) -> list[tuple[list[int], int]]:
    """(input ids, mask position) of each content-free row under ``template``."""
    out = []
    for row in content_free_rows(fields, template):
        try:
            encoded = template.encode(row, tokenizer, max_length, row_id="content-free input", reserve=1)
        except (TemplateError, KeyError, TypeError) as error:
            # A pattern function reading structured fields (CLUEWSC's span dict) fails on a
            # plain "N/A" in its own way: the task has no content-free input, not a bug.
            raise OptionError(f"--calibrate: task {task_name}'s pattern cannot read a content-free input ({error})") from None
        out.append((encoded.input_ids, encoded.mask_position))
    return out
