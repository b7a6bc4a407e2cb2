"""Fill the blanks of a text, or score choices for its blank: the seed use case, from Python.

    from glm_tune.loading import load_model_and_tokenizer
    model, tokenizer = load_model_and_tokenizer("glm-large-ch")
    fill_text(model, tokenizer, "北京故宫是中国[MASK]非物质文化遗产。").text
    score_choices(model, tokenizer, "凯旋门是为纪念[MASK]而建。", ["拿破仑", "凯撒大帝"])
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import torch

from glm_tune.cloze.generation import GenerationConfig, fill_blanks_in_turn
from glm_tune.cloze.labels import Scorer
from glm_tune.constants import BLANKS
from glm_tune.errors import OptionError
from glm_tune.model import GLMModel

FILL_DEFAULTS = GenerationConfig(repetition_penalty=1.3, no_repeat_ngram_size=3)
"""Decoding of :func:`fill_text` and `glm-tune fill` when none is given: greedy with a repetition
penalty and no repeated trigram, against the loops small models fall into (glm-tiny fills
``北京故宫是中国[MASK]非物质文化遗产。`` with ``的故宫,故宫是故宫故宫,故宫故宫故宫,...`` without
them, ``的故宫,是#idiom#,`` with them; see its model card)."""
_BLANK_RE = re.compile("|".join(re.escape(b) for b in BLANKS))
_EMPTY_RETRIES = 3


@dataclass
class Filled:
    text: str
    """The input with every blank replaced by its generated span."""
    spans: list[str]
    span_ids: list[list[int]]
    appended_gmask: bool
    """True when the text had no blank and ``[gMASK]`` was appended (left-to-right generation)."""
    unknown_tokens: int
    """How many ``<unk>`` tokens the input produced (SentencePiece folds a run of unknown
    characters into one)."""


def _check_text(text: str) -> None:
    if not text.strip():
        raise OptionError("the text is empty: give a text with a blank ([MASK], [sMASK] or [gMASK])")


def _encode(model: GLMModel, tokenizer, text: str, room: int) -> list[int]:
    ids = tokenizer.encode(text)
    limit = model.config.max_sequence_length
    if len(ids) > limit or room > limit:
        raise OptionError(
            f"the text is {len(ids)} tokens and {room} new tokens were asked for; the model accepts "
            f"positions up to {limit}: shorten the text or lower max_new_tokens"
        )
    return ids


def eos_after_blank_default(model: GLMModel) -> bool:
    """Whether ``fill`` ends a text that ends with a blank with ``<|endoftext|>`` by default.

    THUDM's ``generate_samples.py`` adds no eos after a text ending in a blank (FlagAI's predictor
    the same after ``[gMASK]``), and their checkpoints were trained that way; the Hugging Face port's
    tokenizer always adds it, and the golden fixtures follow the port.
    """
    return model.config.origin not in ("thudm", "flagai")


def fill_text(model: GLMModel, tokenizer, text: str, config: GenerationConfig | None = None,
              eos_after_blank: bool | None = None) -> Filled:
    """Fill every blank of ``text`` in turn (each answer joins the context of the next).

    A text without a blank gets ``[gMASK]`` appended, as GLM's own generation script does.
    ``eos_after_blank`` says whether a text that ends with a blank is still followed by
    ``<|endoftext|>`` (default: :func:`eos_after_blank_default`).
    Without ``config`` it decodes with :data:`FILL_DEFAULTS`.
    """
    _check_text(text)
    config = config or FILL_DEFAULTS
    appended = _BLANK_RE.search(text) is None
    if appended:
        text = text + "[gMASK]"
    ids = _encode(model, tokenizer, text, config.max_new_tokens)
    if eos_after_blank is None:
        eos_after_blank = eos_after_blank_default(model)
    if not eos_after_blank and text.rstrip().endswith(BLANKS) and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]
    # Embedding rows past the tokenizer's vocabulary are padding (to a multiple of 128): no text.
    padding_rows = tuple(range(tokenizer.vocab_size, model.config.vocab_size))
    config = dataclasses.replace(config, banned_ids=tuple(config.banned_ids) + padding_rows)
    blank_ids = {tokenizer.mask_token_id, tokenizer.smask_token_id, tokenizer.gmask_token_id} - {None}
    positions = [i for i, t in enumerate(ids) if t in blank_ids]
    # A small model often ends a blank at once, or after a lone space piece: a blank filled
    # with nothing is no answer. Such a text is filled again with one more token required per
    # blank (min_new_tokens forbids <|endofpiece|> before it), a few times, then refused.
    blanks = _BLANK_RE.findall(text)
    least = config.min_new_tokens
    for need in range(least, min(least + _EMPTY_RETRIES, config.max_new_tokens) + 1):
        span_ids = fill_blanks_in_turn(
            model, ids, positions, sop_id=tokenizer.sop_token_id, eop_id=tokenizer.eop_token_id,
            pad_id=tokenizer.pad_token_id, config=dataclasses.replace(config, min_new_tokens=need),
            eos_id=tokenizer.eos_token_id,
        )
        spans = [tokenizer.decode(s) for s in span_ids]
        empty = [f"{n} ({blanks[n - 1]})" for n, span in enumerate(spans, 1) if not span.strip()]
        if not empty:
            break
    else:
        raise OptionError(
            f"the model filled blank {', '.join(empty)} of {len(spans)} with nothing but white space even when "
            f"made to write {need} tokens; try --strategy beam or sample, or fewer blanks"
        )
    pieces = _BLANK_RE.split(text)
    filled = pieces[0] + "".join(span + rest for span, rest in zip(spans, pieces[1:]))
    return Filled(filled, spans, span_ids, appended, tokenizer.count_unknown(text))


def score_choices(
    model: GLMModel,
    tokenizer,
    text: str,
    choices: list[str],
    *,
    include_eop: bool = True,
    length_penalty: float = 0.0,
) -> list[float]:
    """Exact log-probability of each choice filling the text's single blank.

    Choices are short spans, so the blank is asked as ``[MASK]`` whatever its type (the
    reference's multiple-choice builder accepts only ``[MASK]``). ``include_eop`` scores the
    final ``<|endofpiece|>`` too (GLM's multi-token cloze scorer); without it the scores are
    those of the Hugging Face port's multiple-choice head.
    """
    _check_text(text)
    if not choices or any(not c.strip() for c in choices):
        raise OptionError("give at least one non-empty choice")
    found = _BLANK_RE.findall(text)
    if len(found) != 1:
        raise OptionError(f"scoring choices needs exactly one blank in the text, found {len(found)}")
    ids = _encode(model, tokenizer, _BLANK_RE.sub("[MASK]", text), 0)
    mask_pos = ids.index(tokenizer.mask_token_id)
    candidates = [tokenizer.encode(c, add_special_tokens=False) for c in choices]
    for choice, cand in zip(choices, candidates):
        if tokenizer.unk_token_id in cand:
            raise OptionError(f"choice {choice!r} contains characters the tokenizer maps to <unk>")
    scorer = Scorer(model, tokenizer, length_penalty=length_penalty, include_eop=include_eop)
    with torch.no_grad():
        return scorer.candidate_scores([ids], [mask_pos], [candidates])[0].tolist()
