"""Scoring candidate fills of a blank: single-token logits or exact multi-token log-probs.

GLM reads a blank's answer from Part B: the answer is fed as ``<|startofpiece|> a1 .. a(n-1)``
at the blank's position (block positions 1..n) and predicts ``a1 .. an``. A candidate's exact
score is the sum of those log-probabilities; with ``eop_id`` the final ``<|endofpiece|>`` is
predicted too, which is what tells "Paris" from "Paris Hilton" (GLM's multi-token cloze
scorer does this; the Hugging Face port's multiple-choice head does not).

Candidates of one example are packed after a single copy of its context with a
block-diagonal mask: each candidate sees the context and its own earlier tokens, never another
candidate, so the context is encoded once and the result equals scoring every candidate in its
own sequence. Examples are batched, right-padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from glm_tune.model import GLMModel


@dataclass
class PackedCandidates:
    """Model inputs for a batch of examples with their candidates packed after the context."""

    input_ids: torch.Tensor  # [b, L]
    position_ids: torch.Tensor  # [b, 2, L]
    attention_mask: torch.Tensor  # [b, 1, L, L] bool
    rows: torch.Tensor  # [N] batch row of each scored target token
    columns: torch.Tensor  # [N] column whose output predicts it
    targets: torch.Tensor  # [N] the target token id
    candidate: torch.Tensor  # [N] flat index of the candidate it belongs to
    lengths: torch.Tensor  # [C] scored tokens per candidate (incl. eop when asked)
    counts: list[int]  # candidates per example


def pack_candidates(
    contexts: Sequence[Sequence[int]],
    mask_positions: Sequence[int],
    candidates: Sequence[Sequence[Sequence[int]]],
    *,
    sop_id: int,
    eop_id: int | None = None,
    pad_id: int = 0,
) -> PackedCandidates:
    """Lay out each example as ``context, [sop] c1.., [sop] c1.., ...`` with its mask.

    ``contexts`` are full encodings (``[CLS] ... <eos>``) with the blank at ``mask_positions``.
    ``eop_id`` (when given) is appended to every candidate's targets.
    """
    if not (len(contexts) == len(mask_positions) == len(candidates)):
        raise ValueError("contexts, mask_positions and candidates must have one entry per example")
    ids_rows, pos_rows, block_rows, seg_rows = [], [], [], []
    rows, columns, targets, owner, lengths, counts = [], [], [], [], [], []
    for b, (context, mask_pos, cands) in enumerate(zip(contexts, mask_positions, candidates)):
        if not cands:
            raise ValueError(f"example {b} has no candidates")
        ids, pos, block, seg = list(context), list(range(len(context))), [0] * len(context), [0] * len(context)
        for j, cand in enumerate(cands):
            if not cand:
                raise ValueError(f"example {b}, candidate {j} is empty")
            target = list(cand) + ([eop_id] if eop_id is not None else [])
            start = len(ids)
            ids += [sop_id, *target[:-1]]
            pos += [mask_pos] * len(target)
            block += list(range(1, len(target) + 1))
            seg += [j + 1] * len(target)
            rows += [b] * len(target)
            columns += range(start, start + len(target))
            targets += target
            owner += [len(lengths)] * len(target)
            lengths.append(len(target))
        counts.append(len(cands))
        ids_rows.append(ids)
        pos_rows.append(pos)
        block_rows.append(block)
        seg_rows.append(seg)
    width = max(map(len, ids_rows))

    def pad(values: list[list[int]], fill: int | None) -> torch.Tensor:
        # fill=None repeats each row's last value, as the reference pads positions.
        return torch.tensor([v + [v[-1] if fill is None else fill] * (width - len(v)) for v in values])

    segment, block = pad(seg_rows, -1), pad(block_rows, None)
    seg_q, seg_k = segment[:, :, None], segment[:, None, :]
    # Everything real sees the whole context (Part A is bidirectional); a candidate token also
    # sees the earlier tokens of its own candidate and nothing else.
    mask = ((seg_k == 0) & (seg_q >= 0)) | ((seg_q == seg_k) & (seg_q > 0) & (block[:, None, :] <= block[:, :, None]))
    return PackedCandidates(
        input_ids=pad(ids_rows, pad_id),
        position_ids=torch.stack([pad(pos_rows, None), block], dim=1),
        attention_mask=mask[:, None],
        rows=torch.tensor(rows),
        columns=torch.tensor(columns),
        targets=torch.tensor(targets),
        candidate=torch.tensor(owner),
        lengths=torch.tensor(lengths),
        counts=counts,
    )


def score_candidates(
    model: GLMModel,
    contexts: Sequence[Sequence[int]],
    mask_positions: Sequence[int],
    candidates: Sequence[Sequence[Sequence[int]]],
    *,
    sop_id: int,
    eop_id: int | None = None,
    pad_id: int = 0,
    length_penalty: float = 0.0,
) -> list[torch.Tensor]:
    """Exact log-probability of each candidate fill, one tensor of scores per example.

    score = sum of log p(target token) / (number of scored tokens) ** ``length_penalty``;
    0 (GLM's default) is the plain sum, 1 the mean (GLM uses it for WSC). Gradients flow, so
    the scores can be trained on with cross-entropy; wrap in ``torch.no_grad()`` to evaluate.
    """
    packed = pack_candidates(contexts, mask_positions, candidates, sop_id=sop_id, eop_id=eop_id, pad_id=pad_id)
    log_probs = _target_log_probs(model, packed)
    device = log_probs.device
    token_scores = log_probs.gather(-1, packed.targets.to(device)[:, None]).squeeze(-1)
    sums = torch.zeros(len(packed.lengths), device=device, dtype=token_scores.dtype)
    sums = sums.index_add(0, packed.candidate.to(device), token_scores)
    if length_penalty:
        sums = sums / packed.lengths.to(device, sums.dtype) ** length_penalty
    return list(sums.split(packed.counts))


def single_token_scores(
    model: GLMModel,
    contexts: Sequence[Sequence[int]],
    mask_positions: Sequence[int],
    label_ids: Sequence[int],
    *,
    sop_id: int,
    pad_id: int = 0,
) -> torch.Tensor:
    """Log-probabilities [b, K] of K one-token label words at the blank (GLM's fast path).

    One ``<|startofpiece|>`` is fed per example and its output row is read at the label ids.
    Cross-entropy over these K scores equals GLM's loss over the raw logits of the K words
    (they differ by a per-example constant), and each score equals the exact multi-token
    score of that word without ``eop``.
    """
    # A one-token placeholder candidate lays out `context, [sop]`; only its sop row is read.
    packed = pack_candidates(contexts, mask_positions, [[[pad_id]] for _ in contexts], sop_id=sop_id, pad_id=pad_id)
    log_probs = _target_log_probs(model, packed)
    return log_probs[:, torch.as_tensor(list(label_ids), device=log_probs.device)]


def _target_log_probs(model: GLMModel, packed: PackedCandidates) -> torch.Tensor:
    """Vocabulary log-probs [N, V] of the rows that predict a target token."""
    device = next(model.parameters()).device
    out = model(
        packed.input_ids.to(device),
        position_ids=packed.position_ids.to(device),
        attention_mask=packed.attention_mask.to(device),
        compute_logits=False,
    )
    # Project only the rows that predict a target: [N, vocab] instead of [b, L, vocab].
    hidden = out.last_hidden_states[packed.rows.to(device), packed.columns.to(device)]
    return model.lm_logits(hidden).float().log_softmax(-1)
