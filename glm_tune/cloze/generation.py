"""Filling blanks by generation: greedy, beam search and sampling over the key/value cache.

GLM generates a blank's content in Part B: after the context (Part A, bidirectional) it is fed
``<|startofpiece|>`` at the blank's position with block position 1, then each new token with
block positions 2, 3, ... until it predicts ``<|endofpiece|>`` (or ``<|endoftext|>``: THUDM's
generation and FlagAI end a span at either, given ``eos_id``). The context is encoded once and
every step feeds one token on top of the key/value cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from glm_tune.errors import OptionError
from glm_tune.model import GLMModel, KVCache


@dataclass
class GenerationConfig:
    """How to decode a blank."""

    strategy: Literal["greedy", "beam", "sample"] = "greedy"
    """greedy, beam (beam search) or sample."""
    max_new_tokens: int = 32
    """Upper bound on generated tokens per blank, ``<|endofpiece|>`` included."""
    min_new_tokens: int = 0
    """``<|endofpiece|>`` is forbidden before this many tokens."""
    num_beams: int = 4
    """Beams for beam search."""
    length_penalty: float = 1.0
    """Beam search ranks finished spans by sum log-prob / length ** length_penalty (length
    counts the generated tokens, ``<|endofpiece|>`` included)."""
    no_repeat_ngram_size: int = 0
    """Forbid repeating any n-gram of this size within the generated span (the context is not
    counted: a summary may quote its source)."""
    repetition_penalty: float = 1.0
    """CTRL's repetition penalty (Keskar et al. 2019, as in transformers): before the softmax,
    the logit of every token already generated in this span is divided by it when positive and
    multiplied by it when negative (1: off; above 1 discourages repeats). Only the span's own
    tokens count, not the context: an answer or summary is often copied from its source."""
    temperature: float = 1.0
    """Sampling temperature (logits divided by it)."""
    top_k: int = 0
    """Sample only from the k most likely tokens (0: no limit)."""
    top_p: float = 1.0
    """Sample only from the smallest set of tokens whose probability reaches p (nucleus)."""
    seed: int | None = None
    """Seed of the sampling generator, for reproducible samples."""
    banned_ids: tuple[int, ...] = ()
    """Ids never generated (glm-10b-chinese bans 50009, a copy of ``<|endofpiece|>``)."""

    def __post_init__(self) -> None:
        if self.strategy not in ("greedy", "beam", "sample"):
            raise OptionError(f"strategy must be greedy, beam or sample, got {self.strategy!r}")
        if self.max_new_tokens < 1 or self.min_new_tokens < 0 or self.min_new_tokens > self.max_new_tokens:
            raise OptionError("need 0 <= min_new_tokens <= max_new_tokens and max_new_tokens >= 1")
        if self.strategy == "beam" and self.num_beams < 1:
            raise OptionError("num_beams must be at least 1")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise OptionError("need temperature > 0, 0 < top_p <= 1 and top_k >= 0")
        if self.repetition_penalty <= 0:
            raise OptionError(f"repetition_penalty must be positive, got {self.repetition_penalty}")


@dataclass
class _State:
    """The cache and the per-row facts a decoding step needs."""

    cache: KVCache
    key_valid: torch.Tensor  # [rows, cached length] which cached columns are real tokens
    mask_pos: torch.Tensor  # [rows] position id of the blank being filled
    block_start: int  # block position of the next fed token minus one


def encode_context(model: GLMModel, contexts: Sequence[Sequence[int]], pad_id: int) -> _State:
    """Encode left-padded contexts (Part A, bidirectional) into a cache."""
    device = next(model.parameters()).device
    width = max(map(len, contexts))
    ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    valid = torch.zeros(len(contexts), width, dtype=torch.bool)
    positions = torch.zeros(len(contexts), width, dtype=torch.long)
    for row, context in enumerate(contexts):
        # Left padding keeps every row's next token at the same column; positions stay 0..n-1.
        ids[row, width - len(context):] = torch.tensor(list(context))
        valid[row, width - len(context):] = True
        positions[row, width - len(context):] = torch.arange(len(context))
    ids, valid, positions = ids.to(device), valid.to(device), positions.to(device)
    position_ids = torch.stack([positions, torch.zeros_like(positions)], dim=1)
    mask = valid[:, None, None, :].expand(-1, 1, width, -1)
    out = model(ids, position_ids=position_ids, attention_mask=mask, use_cache=True, compute_logits=False)
    return _State(out.past_key_values, valid, torch.zeros(len(contexts), dtype=torch.long, device=device), 0)


def _step(model: GLMModel, state: _State, tokens: torch.Tensor) -> torch.Tensor:
    """Feed one token per row at (blank position, next block); return its logits [rows, V]."""
    rows = tokens.shape[0]
    state.block_start += 1
    position_ids = torch.stack([state.mask_pos, torch.full_like(state.mask_pos, state.block_start)], dim=1)
    state.key_valid = torch.cat([state.key_valid, state.key_valid.new_ones(rows, 1)], dim=1)
    out = model(
        tokens.view(rows, 1),
        position_ids=position_ids.view(rows, 2, 1),
        attention_mask=state.key_valid,
        past_key_values=state.cache,
        use_cache=True,
    )
    state.cache = out.past_key_values
    return out.logits[:, -1].float()


def apply_repetition_penalty(logits: torch.Tensor, generated: Sequence[Sequence[int]], penalty: float) -> torch.Tensor:
    """CTRL's penalty on one step's logits [rows, V]: each row's already generated tokens get
    ``logit / penalty`` where the logit is positive and ``logit * penalty`` where it is not."""
    if penalty == 1.0:
        return logits
    logits = logits.clone()
    for row, tokens in enumerate(generated):
        if tokens:
            ids = torch.tensor(sorted(set(tokens)), device=logits.device)
            seen = logits[row, ids]
            logits[row, ids] = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits


def _log_probs(logits: torch.Tensor, generated: Sequence[Sequence[int]], config: GenerationConfig) -> torch.Tensor:
    return apply_repetition_penalty(logits, generated, config.repetition_penalty).log_softmax(-1)


def _reorder(state: _State, index: torch.Tensor) -> None:
    state.cache = tuple((k.index_select(0, index), v.index_select(0, index)) for k, v in state.cache)
    state.key_valid = state.key_valid.index_select(0, index)
    state.mask_pos = state.mask_pos.index_select(0, index)


def _forbid(
    log_probs: torch.Tensor, generated: list[list[int]], step: int, config: GenerationConfig, stop_ids: tuple[int, ...]
) -> torch.Tensor:
    log_probs = log_probs.clone()
    if config.banned_ids:
        log_probs[:, list(config.banned_ids)] = -float("inf")
    if step < config.min_new_tokens:
        log_probs[:, list(stop_ids)] = -float("inf")
    n = config.no_repeat_ngram_size
    if n:
        for row, tokens in enumerate(generated):
            if len(tokens) + 1 < n:
                continue
            prefix = tuple(tokens[len(tokens) - n + 1:]) if n > 1 else ()
            banned = [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n - 1]) == prefix]
            if banned:
                log_probs[row, banned] = -float("inf")
    return log_probs


def _sample(log_probs: torch.Tensor, config: GenerationConfig, generator: torch.Generator | None) -> torch.Tensor:
    logits = log_probs / config.temperature
    if config.top_k:
        kth = logits.topk(min(config.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -float("inf"))
    if config.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the mass before it already reaches p; the top token always stays.
        drop = (cumulative - sorted_logits.softmax(-1)) >= config.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, -float("inf")))
    probs = logits.softmax(-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(log_probs.device)


def _decode(
    model: GLMModel, state: _State, sop_id: int, stop_ids: tuple[int, ...], config: GenerationConfig
) -> list[list[int]]:
    """Generate one span per row from the current cache (which this call extends)."""
    rows = state.mask_pos.shape[0]
    if config.strategy == "beam":
        return _beam_search(model, state, sop_id, stop_ids, config)
    generator = None
    if config.strategy == "sample":
        generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    generated: list[list[int]] = [[] for _ in range(rows)]
    finished = [False] * rows
    tokens = torch.full((rows,), sop_id, device=state.mask_pos.device)
    for step in range(config.max_new_tokens):
        log_probs = _forbid(_log_probs(_step(model, state, tokens), generated, config), generated, step, config, stop_ids)
        tokens = log_probs.argmax(-1) if config.strategy == "greedy" else _sample(log_probs, config, generator)
        for row, token in enumerate(tokens.tolist()):
            if finished[row]:
                continue
            if token in stop_ids:
                finished[row] = True
            else:
                generated[row].append(token)
        if all(finished):
            break
    return generated


def _beam_search(
    model: GLMModel, state: _State, sop_id: int, stop_ids: tuple[int, ...], config: GenerationConfig
) -> list[list[int]]:
    batch, beams = state.mask_pos.shape[0], config.num_beams
    device = state.mask_pos.device
    _reorder(state, torch.arange(batch, device=device).repeat_interleave(beams))
    # Only the first beam is live at the start, so the first step does not pick one token `beams` times.
    scores = torch.full((batch, beams), -1e9, device=device)
    scores[:, 0] = 0.0
    running: list[list[int]] = [[] for _ in range(batch * beams)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    tokens = torch.full((batch * beams,), sop_id, device=device)

    def rank(total: float, length: int) -> float:
        return total / length**config.length_penalty

    for step in range(config.max_new_tokens):
        log_probs = _forbid(_log_probs(_step(model, state, tokens), running, config), running, step, config, stop_ids)
        vocab = log_probs.shape[-1]
        candidates = (scores.view(-1, 1) + log_probs).view(batch, beams * vocab)
        # Every beam can rank each stop id first, so beams x len(stop_ids) candidates may be ends:
        # taking that many more than `beams` always leaves `beams` that go on.
        top_scores, top_ids = candidates.topk((1 + len(stop_ids)) * beams, dim=-1)
        next_rows, next_tokens, next_scores = [], [], []
        for b in range(batch):
            chosen = 0
            for rank_in_step, (total, flat) in enumerate(zip(top_scores[b].tolist(), top_ids[b].tolist())):
                row, token = b * beams + flat // vocab, flat % vocab
                if token in stop_ids:
                    # Like Hugging Face: an end only counts when it is among the best `beams`.
                    if rank_in_step < beams and not done[b]:
                        finished[b].append((rank(total, step + 1), running[row]))
                    continue
                next_rows.append(row)
                next_tokens.append(token)
                next_scores.append(total)
                chosen += 1
                if chosen == beams:
                    break
            if len(finished[b]) >= beams:
                best_possible = rank(max(next_scores[-beams:]), step + 1)
                done[b] = done[b] or min(s for s, _ in sorted(finished[b], reverse=True)[:beams]) >= best_possible
        if all(done):
            break
        index = torch.tensor(next_rows, device=device)
        _reorder(state, index)
        running = [running[r] + [t] for r, t in zip(next_rows, next_tokens)]
        tokens = torch.tensor(next_tokens, device=device)
        scores = torch.tensor(next_scores, device=device).view(batch, beams)
    else:
        for b in range(batch):
            if not done[b]:
                for k in range(beams):
                    finished[b].append((rank(scores[b, k].item(), config.max_new_tokens), running[b * beams + k]))
    return [max(hyps, key=lambda h: h[0])[1] for hyps in finished]


def _stop_ids(eop_id: int, eos_id: int | None) -> tuple[int, ...]:
    return (eop_id,) if eos_id is None or eos_id == eop_id else (eop_id, eos_id)


def generate_spans(
    model: GLMModel,
    contexts: Sequence[Sequence[int]],
    mask_positions: Sequence[int],
    *,
    sop_id: int,
    eop_id: int,
    pad_id: int,
    config: GenerationConfig | None = None,
    eos_id: int | None = None,
) -> list[list[int]]:
    """Fill one blank per context; returns the new token ids of each (without the end token).

    ``contexts`` are full encodings (``[CLS] ... <eos>``) of possibly different lengths, and
    ``mask_positions`` the index of the blank in each. A span ends at ``eop_id`` or, when given,
    ``eos_id``.
    """
    config = config or GenerationConfig()
    with torch.no_grad():
        state = encode_context(model, contexts, pad_id)
        state.mask_pos = torch.tensor(list(mask_positions), device=state.mask_pos.device)
        return _decode(model, state, sop_id, _stop_ids(eop_id, eos_id), config)


def fill_blanks_in_turn(
    model: GLMModel,
    context: Sequence[int],
    blank_positions: Sequence[int],
    *,
    sop_id: int,
    eop_id: int,
    pad_id: int,
    config: GenerationConfig | None = None,
    eos_id: int | None = None,
) -> list[list[int]]:
    """Fill every blank of one context in order, as the original GLM does (a span ends at
    ``eop_id`` or, when given, ``eos_id``).

    Each filled span is fed (``<|startofpiece|>`` + span) into the cache before the next blank
    is generated, so later blanks see the earlier answers.
    """
    config = config or GenerationConfig()
    spans = []
    with torch.no_grad():
        state = encode_context(model, [context], pad_id)
        for position in blank_positions:
            state.mask_pos = torch.tensor([position], device=state.mask_pos.device)
            state.block_start = 0
            checkpoint = (state.cache, state.key_valid)
            span = _decode(model, state, sop_id, _stop_ids(eop_id, eos_id), config)[0]
            spans.append(span)
            # Rewind to before this blank and feed the chosen span once: whatever the strategy
            # explored (beams, the eop step) must not stay in the cache.
            state.cache, state.key_valid = checkpoint
            fed = torch.tensor([[sop_id, *span]], device=state.mask_pos.device)
            blocks = torch.arange(1, fed.shape[1] + 1, device=fed.device)
            out = model(
                fed,
                position_ids=torch.stack([torch.full_like(blocks, position), blocks])[None],
                attention_mask=0,  # the whole cache (one unpadded context) plus causal within the span
                past_key_values=state.cache,
                use_cache=True,
                compute_logits=False,
            )
            state.cache = out.past_key_values
            state.key_valid = torch.cat([state.key_valid, state.key_valid.new_ones(1, fed.shape[1])], dim=1)
    return spans
