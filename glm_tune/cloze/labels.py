"""The one scorer (model + tokenizer -> label or candidate scores of encoded contexts), and rows
to label scores: a template, a verbalizer and the scorer, put together.

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
from dataclasses import dataclass
from typing import Any

import torch

from glm_tune.cloze.scoring import score_candidates, single_token_scores
from glm_tune.cloze.template import EncodedCloze, Template
from glm_tune.cloze.verbalizer import Combine, ScoringPath, VerbalizedLabels
from glm_tune.model import GLMModel


@dataclass
class Scorer:
    """Scores the fills of each context's blank: what ``fill --choices``, :func:`label_scores`
    and the Lightning module all call, so the three cannot drift apart.

    Contexts are encoded ids with their blank's position. Candidate scores are exact (the sum of
    the fill's token log-probs, every candidate of an example packed after one copy of its
    context), divided by ``tokens ** length_penalty``; ``include_eop`` scores the closing
    ``<|endofpiece|>`` too (GLM's multi-token cloze scorer; without it, the Hugging Face port's
    multiple-choice scores). Gradients flow unless called under ``torch.no_grad``.
    """

    model: GLMModel
    tokenizer: Any
    length_penalty: float = 0.0
    include_eop: bool = True

    def candidate_scores(self, contexts: Sequence[Sequence[int]], mask_positions: Sequence[int],
                         candidates: Sequence[Sequence[Sequence[int]]]) -> list[torch.Tensor]:
        """Per context, the scores of its candidate fills (id lists)."""
        return score_candidates(
            self.model, contexts, mask_positions, candidates, sop_id=self.tokenizer.sop_token_id,
            eop_id=self.tokenizer.eop_token_id if self.include_eop else None, pad_id=self.tokenizer.pad_token_id,
            length_penalty=self.length_penalty,
        )

    def label_scores(self, contexts: Sequence[Sequence[int]], mask_positions: Sequence[int],
                     labels: VerbalizedLabels, *, combine: Combine = "logsumexp",
                     path: ScoringPath | None = None) -> torch.Tensor:
        """``[contexts, labels]``: each label's words scored at the blank and combined.

        ``path`` (default: ``labels.scoring_path()``): ``single_token`` reads the logits at
        ``<|startofpiece|>`` (every word one token), ``multi_token`` scores every word exactly.
        """
        path = path or labels.scoring_path()
        if path == "single_token":
            words = single_token_scores(self.model, contexts, mask_positions, labels.single_token_ids,
                                        sop_id=self.tokenizer.sop_token_id, pad_id=self.tokenizer.pad_token_id)
        else:
            words = torch.stack(self.candidate_scores(contexts, mask_positions, [labels.candidates] * len(contexts)))
        return labels.label_scores(words, how=combine)


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
    scorer = Scorer(model, tokenizer, length_penalty=length_penalty)
    out = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start:start + batch_size]
        out.append(scorer.label_scores([e.input_ids for e in batch], [e.mask_position for e in batch], labels,
                                       combine=combine, path=path))
    return torch.cat(out)
