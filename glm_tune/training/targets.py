"""Generation rows as the model learns them: the target ids, and a training context that keeps its answer.

* :func:`encode_target`: SentencePiece starts every encoded text with its word-start marker
  ``▁`` (the dummy prefix). In cog-pretrain's 50,000 pieces the marker is mostly merged into the
  first word (``▁北京``; bare in 32 and 44 of the first 200 LCSTS and CMRC dev targets), but a
  small vocabulary often has no such piece and writes a bare ``▁`` first: glm-tiny's 16k unigram
  model encodes ``现存最大的`` as ``▁ 现 存 最大的`` (152 and 162 of the same 200). That piece
  carries no text (decoding drops it), yet it would be the first token of most targets, so a finetuned model learns to spend its
  first step, and much of its probability, on whitespace; in pretraining, spans taken from
  inside a text rarely start with it. The bare marker is dropped; what follows is exactly the
  encoding of the text without the prefix (the unigram segmentation after a piece boundary is
  the best one of the rest). A merged marker stays, as the reference encodes it.
  :func:`glm_tune.cloze.inputs.build_inputs_for_generation` keeps the Hugging Face port's plain encoding of
  string targets (the golden parity fixtures); training rows go through this function.
* :func:`answer_window`: a template cuts a long context from its end, which can cut away the
  answer of a reading-comprehension row (CMRC 2018 cut to 256 glm-tiny tokens: 93 of the first
  300 trial answers and 58 of the first 300 dev answers). For training rows only, the context is
  moved to a window of about the kept length centred on the answer; evaluation rows are cut as a
  user's input is.
"""

from __future__ import annotations

from typing import Any

from glm_tune.task.readers import Row

WORD_START = "▁"
"""SentencePiece's word-start marker (U+2581)."""


def encode_target(tokenizer: Any, text: str) -> list[int]:
    """Ids of ``text`` as a generated span, without special tokens and without a bare leading ``▁``."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) > 1 and tokenizer.convert_ids_to_tokens(ids[0]) == WORD_START:
        return ids[1:]
    return ids


def answer_position(row: Row) -> tuple[int, int] | None:
    """Character span ``(start, end)`` of the row's ``answer`` in its ``context``, if it has one."""
    answer, context = row.get("answer"), row.get("context")
    if not answer or not isinstance(context, str):
        return None
    starts, answers = row.get("answer_starts") or [], row.get("answers") or []
    start = starts[answers.index(answer)] if answer in answers and len(starts) == len(answers) else -1
    if start < 0 or context[start:start + len(answer)] != answer:
        start = context.find(answer)  # a start that does not match the text is not trusted
    return (start, start + len(answer)) if start >= 0 else None


def answer_window(row: Row, context_tokens: int, cut_tokens: int) -> Row | None:
    """The row with its context moved to a window around its answer, or ``None`` when the cut
    keeps the answer (or the row has none).

    ``context_tokens`` is the context's length in tokens and ``cut_tokens`` how many of them the
    template cut from its end. The kept share of tokens is taken as the kept share of characters,
    less a tenth, so that the window fits and the answer sits well inside what is kept.
    """
    span = answer_position(row)
    if span is None or cut_tokens <= 0 or context_tokens <= 0:
        return None
    context = row["context"]
    kept = int(len(context) * (context_tokens - cut_tokens) / context_tokens * 0.9)
    if span[1] <= kept:
        return None
    width = max(kept, span[1] - span[0])
    start = max(0, min((span[0] + span[1] - width) // 2, len(context) - width))
    return {**row, "context": context[start:start + width]}
