"""Rows to label scores: a template, a verbalizer and the scorer, put together.

    template = Template("{sentence} It was [MASK].")
    labels = Verbalizer.from_file("sst2").tokenize(tokenizer)
    scores = label_scores(model, tokenizer, template, labels, rows, max_length=256)  # [rows, labels]
    predictions = [labels.labels[i] for i in scores.argmax(-1)]

One-token label words take the fast path (logits at ``<|startofpiece|>``); otherwise every word
is scored exactly (sum of its tokens' log-probs, ``<|endofpiece|>`` included), all words of an
example packed after one copy of its context. A label with several words gets the log-sum-exp
(or max) of its words' scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from glm_tune.cloze.scoring import score_candidates, single_token_scores
from glm_tune.cloze.template import EncodedCloze, Template
from glm_tune.cloze.verbalizer import Combine, VerbalizedLabels
from glm_tune.model import GLMModel


def encode_rows(
    template: Template, tokenizer: Any, rows: Sequence[Mapping[str, Any]], max_length: int
) -> list[EncodedCloze]:
    """Encode rows as cloze contexts; one place is kept for ``<|startofpiece|>``."""
    return [template.encode(row, tokenizer, max_length, row_id=i, reserve=1) for i, row in enumerate(rows)]


def label_scores(
    model: GLMModel,
    tokenizer: Any,
    template: Template,
    labels: VerbalizedLabels,
    rows: Sequence[Mapping[str, Any]],
    *,
    max_length: int | None = None,
    batch_size: int = 16,
    combine: Combine = "logsumexp",
    length_penalty: float = 0.0,
    prefer_single_token: bool = True,
) -> torch.Tensor:
    """Scores [len(rows), len(labels.labels)]; gradients flow unless called under no_grad."""
    max_length = max_length or model.config.max_sequence_length
    path = labels.scoring_path(prefer_single_token)
    encoded = encode_rows(template, tokenizer, rows, max_length)
    ids = dict(sop_id=tokenizer.sop_token_id, pad_id=tokenizer.pad_token_id)
    out = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start:start + batch_size]
        contexts = [e.input_ids for e in batch]
        masks = [e.mask_position for e in batch]
        if path == "single_token":
            words = single_token_scores(model, contexts, masks, labels.single_token_ids, **ids)
        else:
            words = torch.stack(score_candidates(
                model, contexts, masks, [labels.candidates] * len(batch), eop_id=tokenizer.eop_token_id,
                length_penalty=length_penalty, **ids,
            ))
        out.append(labels.label_scores(words, how=combine))
    return torch.cat(out)
