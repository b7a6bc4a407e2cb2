"""ROUGE from Google's ``rouge_score`` (the reference implementation), Chinese by character.

English uses rouge_score's own tokeniser: lowercase, every run of characters other than a-z
and 0-9 separates tokens, and with ``use_stemmer`` words longer than 3 letters go through
NLTK's Porter stemmer. That tokeniser drops all non-ASCII text, so ``language="zh"`` passes
rouge_score a :class:`ChineseTokenizer` (every CJK character is a token), the usual way
Chinese ROUGE (LCSTS) is scored. torchmetrics' ``ROUGEScore`` is not used: it downloads
nltk's punkt model for ROUGE-Lsum and drops CJK text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers

from glm_tune.metrics.base import Golds, Language, MeanOfScores, RougeVariant, as_golds, check_same_length

ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")

# The stemmer rouge_score's ``use_stemmer=True`` calls (NLTK's PorterStemmer, NLTK_EXTENSIONS
# mode), for callers that want to see what a word is compared as.
porter_stem = porter.PorterStemmer().stem

# CJK Unified Ideographs with extensions A-F and the compatibility blocks (BERT's definition).
_CJK_CHARS = "\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f"
_ZH_TOKEN = re.compile(f"[{_CJK_CHARS}]|[a-z0-9]+")


class ChineseTokenizer(tokenizers.Tokenizer):
    """rouge_score tokeniser for Chinese: NFKC (full-width letters and digits to ASCII),
    lowercase, then every CJK character is a token, runs of a-z/0-9 are tokens (stemmed as
    rouge_score stems English when asked) and everything else is dropped."""

    def __init__(self, use_stemmer: bool = False) -> None:
        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = _ZH_TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
        if self._stemmer is not None:
            tokens = [self._stemmer.stem(token) if len(token) > 3 else token for token in tokens]
        return tokens


@lru_cache(maxsize=None)
def _tokenizer(language: Language, use_stemmer: bool) -> tokenizers.Tokenizer:
    if language == "en":
        return tokenizers.DefaultTokenizer(use_stemmer)
    if language == "zh":
        return ChineseTokenizer(use_stemmer)
    raise ValueError(f"language must be 'en' or 'zh', got {language!r}")


@lru_cache(maxsize=None)
def _scorer(variant: RougeVariant, language: Language, use_stemmer: bool) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer([variant], tokenizer=_tokenizer(language, use_stemmer))


def rouge_tokenize(text: str, language: Language = "en", use_stemmer: bool = False) -> list[str]:
    """The tokens ROUGE compares: rouge_score's tokeniser for ``"en"``, :class:`ChineseTokenizer`
    for ``"zh"``."""
    return _tokenizer(language, use_stemmer).tokenize(text)


def rouge_f(
    prediction: str,
    references: Golds,
    variant: RougeVariant = "rougeL",
    language: Language = "en",
    use_stemmer: bool = False,
) -> float:
    """ROUGE F-measure of one prediction, the best over its references (rouge_score's
    ``score_multi``).

    ``rougeLsum`` treats each line as a sentence (rouge_score's convention): put one
    sentence per line, as GLM does when it turns ``[SEP]`` into newlines.
    """
    if variant not in ROUGE_VARIANTS:
        raise ValueError(f"variant must be one of {ROUGE_VARIANTS}, got {variant!r}")
    scores = _scorer(variant, language, use_stemmer).score_multi(as_golds(references), prediction)
    return scores[variant].fmeasure

class Rouge(MeanOfScores):
    """Mean per-example ROUGE F-measure (``rouge1``, ``rouge2``, ``rougeL`` or ``rougeLsum``).

    The exact mean, where ``evaluate``'s rouge reports a bootstrap estimate of it. English
    follows rouge_score; ``language="zh"`` scores Chinese character by character (see
    :class:`ChineseTokenizer`).
    """

    def __init__(
        self,
        variant: RougeVariant = "rougeL",
        language: Language = "en",
        use_stemmer: bool = False,
        **kwargs: Any,
    ) -> None:
        if variant not in ROUGE_VARIANTS:
            raise ValueError(f"variant must be one of {ROUGE_VARIANTS}, got {variant!r}")
        if language not in ("en", "zh"):
            raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
        super().__init__(**kwargs)
        self.variant, self.language, self.use_stemmer = variant, language, use_stemmer

    def update(self, preds: Sequence[str], target: Sequence[Golds]) -> None:
        """Add a batch: one generated text per example, and one reference or a list of them."""
        check_same_length(preds, target)
        self.add_scores(
            [
                rouge_f(pred, refs, self.variant, self.language, self.use_stemmer)
                for pred, refs in zip(preds, target, strict=True)
            ]
        )

