"""GLM's autoregressive blank-infilling objective (Du et al. 2022), as numpy samples.

A training text (a packed chunk of tokens) is corrupted by cutting out spans:

- **Part A** is ``[CLS]`` followed by the text with each span replaced by one blank token
  (``[MASK]``, ``[sMASK]`` or ``[gMASK]``). It is encoded bidirectionally.
- **Part B** holds, for each span (in random order with ``shuffle_spans``), ``<|startofpiece|>``
  and the span's tokens; the targets are the span's tokens and ``<|endofpiece|>``. It attends
  causally to Part A and to earlier Part B tokens: exactly the ``sep`` mask form that
  :func:`glm_tune.model.build_attention_mask` accepts, with ``sep`` = the length of Part A.
- 2-D positions: Part A tokens have positions ``0..|A|-1`` and block position 0; every token
  of a span in Part B has its blank's position and block positions ``1..n+1``.

Part A starts with ``[CLS]`` because finetuning inputs are ``[CLS] text <eos>`` and GLM's
generation prompts ``[CLS] text [gMASK]``; documents inside a chunk are separated by
``<|endoftext|>`` (:func:`pack_documents`), so no further ``<eos>`` is added.

One objective is drawn per sample from ``mixture``: token spans (``[MASK]``, lengths ~
Poisson(λ), 15% of the tokens), whole sentences (``[sMASK]``, ≈15%), or one span at the end
covering 50-100% of the text (``[gMASK]``, GLM's generation objective).

A chunk of ``L`` tokens with ``k`` spans gives ``1 + L + 2k`` tokens; spans are capped at
:attr:`InfillingConfig.span_budget`, so chunks of :attr:`InfillingConfig.chunk_length` always
fit ``seq_length``.

For training, :class:`InfillingDataset` makes each sample from (seed, epoch, index) alone,
:class:`EpochSampler` shuffles per epoch and shards per rank, :class:`ResumableLoader` lets
Lightning resume mid-epoch without replaying batches, and :func:`collate` batches samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from glm_tune.constants import IGNORE_INDEX
from glm_tune.errors import OptionError

MASK, SMASK, GMASK = 0, 1, 2
"""Objective numbers, as in ``sample["objective"]`` and the order of ``mixture``."""

SENTENCE_END = (".", "!", "?", "。", "！", "？", "\n")
"""Characters that end a sentence for the [sMASK] objective (newlines end one too)."""


@dataclass
class InfillingConfig:
    """How samples are corrupted and how long they are."""

    seq_length: int = 256
    """Tokens per sample (Part A + Part B), padded up to it."""
    mask_ratio: float = 0.15
    """Fraction of a chunk's tokens cut out as [MASK] spans."""
    poisson_lambda: float = 3.0
    """[MASK] span lengths are Poisson(λ), at least 1."""
    sentence_ratio: float = 0.15
    """Fraction of a chunk covered by whole sentences cut out as [sMASK] spans (a sentence ends
    at . ! ? 。！？ or a newline; chunks without a whole sentence fall back to [MASK] spans)."""
    gmask_min: float = 0.5
    """Smallest fraction of a chunk that the single [gMASK] span at its end covers."""
    gmask_max: float = 1.0
    """Largest such fraction; the fraction is uniform between the two."""
    mixture: tuple[float, float, float] = (0.5, 0.25, 0.25)
    """Probabilities of the [MASK], [sMASK] and [gMASK] objectives for a sample."""
    shuffle_spans: bool = True
    """Put Part B's spans in random order (GLM's pretraining) rather than text order."""
    max_spans: int | None = None
    """Most spans per sample; None: 1.5 times the expected number of [MASK] spans."""

    def __post_init__(self) -> None:
        self.mixture = tuple(float(w) for w in self.mixture)  # type: ignore[assignment]
        for name in ("mask_ratio", "sentence_ratio"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise OptionError(f"InfillingConfig.{name} must be in (0, 1), got {getattr(self, name)}")
        if not 0.0 < self.gmask_min <= self.gmask_max <= 1.0:
            raise OptionError(
                f"InfillingConfig needs 0 < gmask_min <= gmask_max <= 1, got {self.gmask_min}, {self.gmask_max}"
            )
        if self.poisson_lambda <= 0:
            raise OptionError(f"InfillingConfig.poisson_lambda must be positive, got {self.poisson_lambda}")
        if len(self.mixture) != 3 or min(self.mixture) < 0 or sum(self.mixture) <= 0:
            raise OptionError(f"InfillingConfig.mixture must be 3 non-negative weights, got {self.mixture}")
        if self.chunk_length < 8:
            raise OptionError(
                f"InfillingConfig: seq_length {self.seq_length} leaves only {self.chunk_length} text tokens "
                f"after [CLS] and {self.span_budget} spans; raise seq_length or lower max_spans"
            )

    @property
    def span_budget(self) -> int:
        """The most spans a sample holds."""
        if self.max_spans is not None:
            return max(1, self.max_spans)
        ratio = max(self.mask_ratio, self.sentence_ratio)
        return max(1, math.ceil(1.5 * ratio * self.seq_length / self.poisson_lambda))

    @property
    def chunk_length(self) -> int:
        """Text tokens per chunk: ``seq_length - 1 - 2 * span_budget`` ([CLS], and per span a
        blank in Part A and a ``<|startofpiece|>`` in Part B)."""
        return self.seq_length - 1 - 2 * self.span_budget

    @property
    def probabilities(self) -> np.ndarray:
        weights = np.asarray(self.mixture, dtype=np.float64)
        return weights / weights.sum()


@dataclass(frozen=True)
class InfillingIds:
    """The token ids the objective needs, and the ids that end a sentence."""

    cls: int
    eos: int
    pad: int
    mask: int
    smask: int | None
    gmask: int | None
    sop: int
    eop: int
    sentence_end: np.ndarray

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> InfillingIds:
        """Ids of a :class:`glm_tune.tokenizer.GLMTokenizer`; sentence ends are the text pieces
        whose last character (ignoring SentencePiece's ``▁``) is in :data:`SENTENCE_END`."""
        commands = set(tokenizer.command_tokens.values())
        ends = []
        for token_id in range(tokenizer.vocab_size):
            if token_id in commands:
                continue
            piece = tokenizer.convert_ids_to_tokens(token_id).rstrip("▁ ")
            if piece and piece[-1] in SENTENCE_END or piece in ("<0x0A>", "Ċ"):
                ends.append(token_id)
        return cls(
            cls=tokenizer.cls_token_id, eos=tokenizer.eos_token_id, pad=tokenizer.pad_token_id,
            mask=tokenizer.mask_token_id, smask=tokenizer.smask_token_id, gmask=tokenizer.gmask_token_id,
            sop=tokenizer.sop_token_id, eop=tokenizer.eop_token_id,
            sentence_end=np.asarray(sorted(ends), dtype=np.int64),
        )


def pack_documents(token_id_lists: Sequence[Sequence[int]], length: int, eos_id: int) -> np.ndarray:
    """Tokenized documents, each followed by ``eos_id``, concatenated and cut into rows of ``length``.

    Returns an int32 array ``[chunks, length]``; the tail shorter than ``length`` is dropped
    (at most one chunk's worth of text), so every sample has the same text length.
    """
    if length < 1:
        raise ValueError(f"pack_documents: length must be positive, got {length}")
    pieces = [np.asarray(ids, dtype=np.int32) for ids in token_id_lists]
    separator = np.asarray([eos_id], dtype=np.int32)
    stream = np.concatenate([part for ids in pieces for part in (ids, separator)]) if pieces else separator[:0]
    chunks = len(stream) // length
    if chunks == 0:
        raise ValueError(
            f"pack_documents: the corpus has {len(stream)} tokens, fewer than one chunk of {length}"
        )
    return stream[: chunks * length].reshape(chunks, length)


def _mask_spans(n: int, config: InfillingConfig, rng: np.random.Generator) -> list[tuple[int, int]]:
    target = max(1, round(config.mask_ratio * n))
    lengths = np.maximum(1, rng.poisson(config.poisson_lambda, size=config.span_budget))
    total = np.cumsum(lengths)
    k = min(int(np.searchsorted(total, target)) + 1, len(lengths))
    lengths = lengths[:k].copy()
    # Trim the last span so the spans cover exactly the target (unless the budget ran out).
    lengths[-1] -= max(0, int(total[k - 1]) - target)
    lengths = rng.permutation(lengths)
    # GLM's placement: spread the free tokens over the k + 1 gaps, keeping spans apart by at
    # least one token so that two blanks never stand for one longer span.
    free_slots = n - int(lengths.sum()) - k + 1
    places = np.sort(rng.integers(0, free_slots + 1, size=k))
    starts = places + np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
    return [(int(s), int(s + length)) for s, length in zip(starts, lengths)]


def sentences(tokens: np.ndarray, ids: InfillingIds) -> list[tuple[int, int]]:
    """The whole sentences of a chunk as ``[start, end)`` ranges.

    A sentence ends with a sentence-end token (included) or just before ``<|endoftext|>``; the
    text before the first boundary is left out, since a chunk may begin mid-sentence, and so is
    the unterminated text after the last one.
    """
    is_eos = tokens == ids.eos
    breaks = np.flatnonzero(np.isin(tokens, ids.sentence_end) | is_eos)
    spans = []
    start = None
    for b in breaks.tolist():
        end = b if is_eos[b] else b + 1
        if start is not None and end > start:
            spans.append((start, end))
        start = b + 1
    return spans


def _sentence_spans(tokens: np.ndarray, config: InfillingConfig, ids: InfillingIds, rng) -> list[tuple[int, int]]:
    target = max(1, round(config.sentence_ratio * len(tokens)))
    # Skipping sentences that would overshoot by half keeps one long sentence from taking a
    # whole chunk (GLM's sentence spans cover about the ratio).
    limit = math.ceil(1.5 * target)
    candidates = sentences(tokens, ids)
    chosen, covered = [], 0
    for i in rng.permutation(len(candidates)).tolist():
        start, end = candidates[i]
        if covered + end - start <= limit:
            chosen.append((start, end))
            covered += end - start
            if covered >= target or len(chosen) == config.span_budget:
                break
    return sorted(chosen)


def make_sample(
    tokens: Sequence[int] | np.ndarray, config: InfillingConfig, ids: InfillingIds, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One blank-infilling sample of a chunk of text tokens (at most ``config.chunk_length``).

    Returns int64 arrays: ``input_ids`` ``[seq_length]``, ``position_ids`` ``[2, seq_length]``,
    ``labels`` ``[seq_length]`` (-100 on Part A and padding; on Part B the token each position
    predicts: the span's tokens, then ``<|endofpiece|>``), ``sep`` (Part A's length, a scalar),
    and ``objective`` (:data:`MASK`, :data:`SMASK` or :data:`GMASK`). Padding is ``pad`` tokens at
    position 0.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    if n > config.chunk_length or n < 1:
        raise ValueError(f"make_sample: a chunk of {n} tokens; expected 1..{config.chunk_length} (chunk_length)")
    objective = int(rng.choice(3, p=config.probabilities))
    spans: list[tuple[int, int]] = []
    if objective == SMASK:
        if ids.smask is None:
            raise ValueError("the [sMASK] objective needs a tokenizer with [sMASK]; set its mixture weight to 0")
        spans = _sentence_spans(tokens, config, ids, rng)
        if not spans:
            objective = MASK
    if objective == GMASK:
        if ids.gmask is None:
            raise ValueError("the [gMASK] objective needs a tokenizer with [gMASK]; set its mixture weight to 0")
        length = min(n, max(1, round(rng.uniform(config.gmask_min, config.gmask_max) * n)))
        spans = [(n - length, n)]
    if objective == MASK:
        spans = _mask_spans(n, config, rng)
    blank = (ids.mask, ids.smask, ids.gmask)[objective]
    return _assemble(tokens, spans, blank, config, ids, rng) | {"objective": np.int64(objective)}


def _assemble(tokens: np.ndarray, spans: list[tuple[int, int]], blank: int, config: InfillingConfig,
              ids: InfillingIds, rng: np.random.Generator) -> dict[str, np.ndarray]:
    part_a: list[np.ndarray] = [np.asarray([ids.cls])]
    blank_positions = []
    length_a, previous = 1, 0
    for start, end in spans:
        part_a += [tokens[previous:start], np.asarray([blank])]
        length_a += start - previous
        blank_positions.append(length_a)
        length_a += 1
        previous = end
    part_a.append(tokens[previous:])
    length_a += len(tokens) - previous

    order = rng.permutation(len(spans)) if config.shuffle_spans else np.arange(len(spans))
    fed, targets, positions, blocks = [], [], [], []
    for i in order.tolist():
        span = tokens[spans[i][0]: spans[i][1]]
        fed += [np.asarray([ids.sop]), span]
        targets += [span, np.asarray([ids.eop])]
        positions.append(np.full(len(span) + 1, blank_positions[i]))
        blocks.append(np.arange(1, len(span) + 2))

    seq = config.seq_length
    real = np.concatenate(part_a + fed)
    total = len(real)
    if total > seq:
        raise ValueError(f"make_sample: {total} tokens exceed seq_length {seq}")
    input_ids = np.full(seq, ids.pad, dtype=np.int64)
    input_ids[:total] = real
    labels = np.full(seq, IGNORE_INDEX, dtype=np.int64)
    position_ids = np.zeros((2, seq), dtype=np.int64)
    position_ids[0, :length_a] = np.arange(length_a)
    if spans:
        labels[length_a:total] = np.concatenate(targets)
        position_ids[0, length_a:total] = np.concatenate(positions)
        position_ids[1, length_a:total] = np.concatenate(blocks)
    return {"input_ids": input_ids, "position_ids": position_ids, "labels": labels, "sep": np.int64(length_a)}


class InfillingDataset(Dataset):
    """Blank-infilling samples of packed chunks, each a pure function of (seed, epoch, index).

    Keys are ``index`` (epoch 0) or ``(epoch, index)`` pairs, as :class:`EpochSampler` yields
    them, so a sample is the same whichever worker makes it, and a resumed run sees the same
    corruption as an uninterrupted one.
    """

    def __init__(self, chunks: np.ndarray, config: InfillingConfig, ids: InfillingIds, seed: int = 0) -> None:
        if chunks.ndim != 2 or chunks.shape[1] > config.chunk_length:
            raise ValueError(
                f"InfillingDataset: chunks of shape {chunks.shape}; expected [n, <= {config.chunk_length}]"
            )
        self.chunks = chunks
        self.config = config
        self.ids = ids
        self.seed = seed

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, np.ndarray]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng((self.seed, epoch, index))
        return make_sample(self.chunks[index], self.config, self.ids, rng)


class EpochSampler(DistributedSampler):
    """Yields ``(epoch, index)`` keys for :class:`InfillingDataset`, shuffled per (seed, epoch).

    It is a ``DistributedSampler`` so that Lightning neither replaces it nor wraps it, and
    calls :meth:`set_epoch` at each epoch; under DDP each rank takes every ``num_replicas``-th
    key (the order is cut to a multiple of the world size so that ranks stay in step).
    """

    def __init__(self, dataset: InfillingDataset, *, shuffle: bool = True, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self._resume_at: tuple[int, int] | None = None

    def resume(self, epoch: int, consumed: int) -> None:
        """Skip the first ``consumed`` keys of this rank the next time ``epoch`` is iterated."""
        self._resume_at = (epoch, consumed)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        size = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(size)
        else:
            order = np.arange(size)
        order = order[: size - size % self.num_replicas]
        epoch = self.epoch if self.shuffle else 0
        skip = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            skip = self._resume_at[1]
            self._resume_at = None
        return iter([(epoch, int(i)) for i in order[self.rank:: self.num_replicas][skip:]])


class ResumableLoader(DataLoader):
    """A DataLoader over an :class:`EpochSampler` that Lightning can stop and resume mid-epoch.

    Lightning stores :meth:`state_dict` in its checkpoints and passes it back to
    :meth:`load_state_dict` before iterating again; the batches already trained on are then
    skipped instead of replayed. ``progress`` returns how many batches of the current epoch
    were trained: the loader cannot count them itself, as Lightning fetches ahead.
    """

    def __init__(self, dataset: InfillingDataset, *, sampler: EpochSampler, progress: Callable[[], int],
                 **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, **kwargs)
        self._progress = progress

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches": int(self._progress())}  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume(state["epoch"], state["batches"] * self.batch_size)  # type: ignore[attr-defined]


def collate(samples: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack samples into a batch: ``input_ids`` [b, L], ``position_ids`` [b, 2, L], ``labels``
    [b, L], ``sep`` [b] (pass it as the model's ``attention_mask``), ``objective`` [b]."""
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}
