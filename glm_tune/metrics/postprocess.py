"""GLM's clean-up of generated summaries before ROUGE (``tasks/seq2seq/evaluate.py``).

GLM splits a prediction into sentences, drops each sentence of 4 words or fewer, then (its
``remove_duplicate`` with ``duplicate_rate=0.7``) drops each sentence whose distinct words are
more than 70% words of the sentences before it, and joins what is left with line breaks (one
sentence per line, the layout ROUGE-Lsum reads). GLM also skips a sentence whose word F1 with a
kept one exceeds 1.0, which no F1 does: that check never fires and is left out.

A "word" follows GLM's code, ``sentence.split()``, for English. Chinese has no spaces, so that
rule would make every sentence one word and drop it; glm-tune counts a Chinese "word" the way
its Chinese ROUGE counts tokens: each CJK character, and each run of ASCII letters or digits.
Sentences end at a line break (GLM's ``[SEP]``), and after ``。！？`` or after ``. ! ?``
followed by a space.
"""

from __future__ import annotations

import re
from typing import Literal

MIN_WORDS = 5
"""A sentence needs more than 4 words to be kept (GLM: ``if s_len <= 4: continue``)."""
DUPLICATE_RATE = 0.7
"""GLM's default: a sentence whose distinct words are over 70% seen before is a duplicate."""

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.!?])\s+|\n+")
_ZH_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")


def words(sentence: str, language: Literal["en", "zh"] = "en") -> list[str]:
    """The words GLM's rules count: lowercased whitespace tokens (en); CJK characters and runs
    of ASCII letters or digits (zh)."""
    if language == "zh":
        return _ZH_WORD.findall(sentence.lower())
    return sentence.lower().split()


def sentences(text: str) -> list[str]:
    """``text`` cut after sentence-final punctuation and at line breaks; empty pieces dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def clean_summary(text: str, language: Literal["en", "zh"] = "en") -> str:
    """GLM's summary post-processing (see the module docstring): short and repeated sentences
    dropped, one kept sentence per line."""
    kept, seen = [], set()
    for sentence in sentences(text):
        tokens = words(sentence, language)
        if len(tokens) < MIN_WORDS:
            continue
        distinct = set(tokens)
        if len(distinct & seen) / len(distinct) <= DUPLICATE_RATE:
            kept.append(sentence)
        seen |= distinct
    return "\n".join(kept)
