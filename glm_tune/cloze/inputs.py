"""GLM's input builders: the tensors that fill or score a blank of encoded contexts.

:func:`build_inputs_for_generation` and :func:`build_inputs_for_multiple_choice` reproduce the
Hugging Face port's ``tokenizer.build_inputs_for_generation`` / ``build_inputs_for_multiple_choice``
on encoded contexts ``[CLS] ... <eos>`` (the golden fixtures check them id for id); here they are
functions of a tokenizer, so the tokenizer itself only encodes and decodes. Batches with contexts
of different lengths are right-padded: a real token's position ids and what it attends to are then
exactly those of its unpadded example, since GLM places generated tokens at the blank's position,
not after the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from glm_tune.cloze.scoring import pack_candidates
from glm_tune.constants import IGNORE_INDEX
from glm_tune.tokenizer import GLMTokenizer


def _as_ids(tokenizer: GLMTokenizer, item: str | Sequence[int]) -> list[int]:
    """A string encoded without special tokens, or a list of ids as they are."""
    if isinstance(item, str):
        return tokenizer.encode(item, add_special_tokens=False)
    return [int(i) for i in item]

def _blank_names(tokenizer: GLMTokenizer, ids: frozenset[int] | set[int]) -> str:
    return ", ".join(tokenizer.convert_ids_to_tokens(i) for i in sorted(ids))

def _first_blank(tokenizer: GLMTokenizer, context: list[int], example: int, blanks: frozenset[int]) -> int:
    for position, token_id in enumerate(context):
        if token_id in blanks:
            return position
    found = [tokenizer.convert_ids_to_tokens(t) for t in context if t in tokenizer.mask_token_ids]
    hint = f" (it has {', '.join(found)})" if found else ""
    raise ValueError(f"example {example} has no blank{hint}: this builder needs one of {_blank_names(tokenizer, blanks)}")

def build_inputs_for_generation(
    tokenizer: GLMTokenizer,
    input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor,
    max_gen_length: int,
    targets: str | Sequence[str] | Sequence[Sequence[int]] | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """GLM's inputs to fill the first blank (any type) of each encoded context.

    ``input_ids``: encoded contexts ``[CLS] ... <eos>`` (one list of ids, a list of them, or a
    tensor; with a padded tensor give ``attention_mask``, 1 on real tokens). Contexts of
    different lengths are right-padded with ``pad_token_id`` to the longest, ``L``.

    Without ``targets`` (generation), ``G = max_gen_length`` and the result holds
    ``input_ids`` ``[b, L+1]`` (context + ``<|startofpiece|>``), ``position_ids``
    ``[b, 2, L+G]`` (positions ``0..L-1`` then the blank's position ``G`` times; block
    positions 0, then ``1..G``) and ``generation_attention_mask`` ``[b, 1, L+G, L+G]`` (every
    row sees the real context tokens; the generated block is causal).

    With ``targets`` (one string or id list per example; training), each target is
    ``target + <|endofpiece|>`` cut to ``max_gen_length``, ``G`` is the longest of them, and
    the result holds ``input_ids`` ``[b, L+G]`` (context + sop + target, padded with
    ``pad_token_id``), ``position_ids``, ``attention_mask`` ``[b, 1, L+G, L+G]`` and
    ``labels`` ``[b, L+G]`` (``-100`` over the context and padding, then target + eop).
    """
    if max_gen_length < 1:
        raise ValueError(f"max_gen_length must be at least 1, got {max_gen_length}")
    contexts, device = _as_batch(input_ids, attention_mask)
    batch = len(contexts)
    mask_positions = [_first_blank(tokenizer, c, i, tokenizer.mask_token_ids) for i, c in enumerate(contexts)]
    answers = None
    gen_length = max_gen_length
    if targets is not None:
        answers = [(t + [tokenizer.eop_token_id])[:max_gen_length] for t in _per_example(tokenizer, targets, batch, "targets")]
        gen_length = max(len(a) for a in answers)

    length = max(len(c) for c in contexts)
    context_ids = torch.full((batch, length), tokenizer.pad_token_id, dtype=torch.long)
    context_mask = torch.zeros((batch, length), dtype=torch.long)
    for row, context in enumerate(contexts):
        context_ids[row, : len(context)] = torch.tensor(context, dtype=torch.long)
        context_mask[row, : len(context)] = 1

    at_blank = torch.tensor(mask_positions)[:, None].expand(batch, gen_length)
    positions = torch.cat((torch.arange(length).expand(batch, length), at_blank), dim=1)
    steps = torch.arange(1, gen_length + 1).expand(batch, gen_length)
    blocks = torch.cat((torch.zeros((batch, length), dtype=torch.long), steps), dim=1)
    total = length + gen_length
    mask = torch.zeros((batch, total, total), dtype=torch.long)
    mask[:, :, :length] = context_mask[:, None, :]
    mask[:, length:, length:] = torch.tril(torch.ones((gen_length, gen_length), dtype=torch.long))
    position_ids = torch.stack((positions, blocks), dim=1)

    if answers is None:
        sop = torch.full((batch, 1), tokenizer.sop_token_id, dtype=torch.long)
        out = {
            "input_ids": torch.cat((context_ids, sop), dim=1),
            "position_ids": position_ids,
            "generation_attention_mask": mask.unsqueeze(1),
        }
    else:
        # Padding of short targets is fed as pad tokens (the reference feeds -100 there).
        fed = torch.full((batch, gen_length), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((batch, total), IGNORE_INDEX, dtype=torch.long)
        for row, answer in enumerate(answers):
            fed[row, : len(answer)] = torch.tensor([tokenizer.sop_token_id, *answer[:-1]], dtype=torch.long)
            labels[row, length : length + len(answer)] = torch.tensor(answer, dtype=torch.long)
        out = {
            "input_ids": torch.cat((context_ids, fed), dim=1),
            "position_ids": position_ids,
            "attention_mask": mask.unsqueeze(1),
            "labels": labels,
        }
    return {key: value.to(device) for key, value in out.items()}

def build_inputs_for_multiple_choice(
    tokenizer: GLMTokenizer,
    input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor,
    choices: Sequence[Sequence[str | Sequence[int]]] | Sequence[str | Sequence[int]],
    *,
    include_eop: bool = False,
    attention_mask: torch.Tensor | None = None,
) -> dict[str, Any]:
    """GLM's inputs to score candidate fills of each context's first ``[MASK]``.

    ``choices``: per example, its candidates as strings (encoded without special tokens) or
    id lists; for a single example a flat list of candidates is enough. Each candidate ``c``
    is appended after the context as ``[sop] + c[:-1]`` at the blank's position with block
    positions ``1..len(c)``; it sees the context and its own earlier tokens, never another
    candidate. ``include_eop`` scores ``c + [eop]`` instead (fed as ``[sop] + c``): GLM's
    multi-token cloze scorer; without it (the default) the inputs are the Hugging Face
    port's, whose scores leave ``<|endofpiece|>`` out.

    Returns ``input_ids`` ``[b, T]``, ``position_ids`` ``[b, 2, T]``, ``attention_mask``
    ``[b, 1, T, T]`` (examples right-padded with ``pad_token_id``, the last position repeated,
    padding masked out), and per example the list of candidate tensors ``choice_ids`` and of
    the columns that predict them, ``choice_indices``.
    """
    contexts, device = _as_batch(input_ids, attention_mask)
    single = len(choices) > 0 and (isinstance(choices[0], str) or _is_id_list(choices[0]))
    per_example: Sequence[Any] = [choices] if single else choices
    if len(per_example) != len(contexts):
        raise ValueError(f"choices has {len(per_example)} entries for {len(contexts)} examples")
    # The layout is the scorer's own packing, so these inputs and `score_candidates` agree.
    blanks = frozenset({tokenizer.mask_token_id})
    mask_positions, targets = [], []
    for example, (context, candidates) in enumerate(zip(contexts, per_example)):
        mask_positions.append(_first_blank(tokenizer, context, example, blanks))
        if len(candidates) == 0:
            raise ValueError(f"example {example} has no choices")
        ids = [_as_ids(tokenizer, c) for c in candidates]
        for candidate, target in zip(candidates, ids):
            if not target:
                raise ValueError(f"choice {candidate!r} of example {example} encodes to no tokens")
        targets.append(ids)
    packed = pack_candidates(
        contexts, mask_positions, targets, sop_id=tokenizer.sop_token_id,
        eop_id=tokenizer.eop_token_id if include_eop else None, pad_id=tokenizer.pad_token_id,
    )
    per_candidate = [
        (packed.targets[packed.candidate == c], packed.columns[packed.candidate == c])
        for c in range(len(packed.lengths))
    ]
    firsts = [sum(packed.counts[:i]) for i in range(len(packed.counts))]
    return {
        "input_ids": packed.input_ids.to(device),
        "position_ids": packed.position_ids.to(device),
        "attention_mask": packed.attention_mask.long().to(device),
        "choice_ids": [[per_candidate[f + j][0].to(device) for j in range(n)] for f, n in zip(firsts, packed.counts)],
        "choice_indices": [[per_candidate[f + j][1].to(device) for j in range(n)] for f, n in zip(firsts, packed.counts)],
    }

def _per_example(tokenizer: GLMTokenizer, items: str | Sequence[Any], batch: int, what: str) -> list[list[int]]:
    """One id list per example from a string, an id list, or a list of either."""
    if isinstance(items, str) or _is_id_list(items):
        items = [items]
    if len(items) != batch:
        raise ValueError(f"{what} has {len(items)} entries for {batch} examples")
    return [_as_ids(tokenizer, item) for item in items]


def _is_id_list(value: Any) -> bool:
    """True for a non-empty sequence of ints (one example's ids), not of strings or lists."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 1
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0 and isinstance(value[0], int)


def _as_batch(
    input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[list[list[int]], torch.device]:
    """Contexts as lists of their real tokens, and the device the results go to."""
    device = input_ids.device if isinstance(input_ids, torch.Tensor) else torch.device("cpu")
    if isinstance(input_ids, torch.Tensor):
        rows = input_ids if input_ids.dim() == 2 else input_ids.reshape(1, -1)
        if attention_mask is not None:
            keep = attention_mask.reshape(rows.shape).bool()
            contexts = [row[m].tolist() for row, m in zip(rows, keep)]
        else:
            contexts = rows.tolist()
    else:
        if attention_mask is not None:
            raise ValueError(
                "attention_mask goes with a padded tensor of input_ids; lists of ids are taken as they are"
            )
        contexts = [list(input_ids)] if _is_id_list(input_ids) else [list(c) for c in input_ids]
    if not contexts or any(len(c) == 0 for c in contexts):
        raise ValueError("input_ids must hold at least one non-empty context")
    return [[int(i) for i in c] for c in contexts], device
