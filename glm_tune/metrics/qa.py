"""Extractive QA answers: SQuAD v1.1 / ReCoRD and CMRC2018 exact match and F1.

Written here because torchmetrics' ``SQuAD`` applies the SQuAD 2.0 rule to empty answers,
where the v1.1 and ReCoRD scripts GLM uses do not, and has no CMRC2018 scorer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from glm_tune.metrics.base import Golds, Language, MeanOfScores, as_golds, check_same_length

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop ASCII punctuation and a/an/the, squash spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: list[str], gold: list[str]) -> float:
    common = sum((Counter(prediction) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_exact_match(prediction: str, golds: Golds) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(gold) for gold in as_golds(golds)))


def squad_f1(prediction: str, golds: Golds) -> float:
    """Bag-of-words F1 against the best-matching gold answer (SQuAD v1.1, ReCoRD).

    As in the v1.1 script, a prediction and gold that both normalise to nothing score EM 1 but
    F1 0 (the SQuAD 2.0 script would give F1 1).
    """
    tokens = normalize_answer(prediction).split()
    return max(_token_f1(tokens, normalize_answer(gold).split()) for gold in as_golds(golds))


# The official CMRC2018 list, verbatim. Its "……" entry is two characters and the script tests
# one character at a time, so an ellipsis is never stripped; ASCII . , ! ? ; ' " ( ) are kept
# as well. Both quirks are reproduced because the published numbers include them.
_CMRC_PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
# Exactly the script's test for "a Chinese character": the basic CJK block up to U+9FA5.
_CMRC_CJK = re.compile(r"[\u4e00-\u9fa5]")
# The script word-tokenises the text between CJK characters with nltk.word_tokenize. These are
# NLTK's Treebank rules (in NLTK's order) that can still fire once the script has deleted its
# punctuation list (- : _ * / ` and the full-width marks are gone by then): quotes become `` and
# '', a comma splits off unless a digit follows, a final period and runs of periods split off,
# ; @ # $ % & ? ! dashes and brackets split off, clitics ('s n't 'll ...) split off, and every
# other symbol stays attached to its word (28.5％, 93×10, p＞0.05).
_TREEBANK_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"([«‘„])"), r" \1 "),
    (re.compile(r'^"'), "``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r'([ (\[{<])("|\'\')'), r"\1 `` "),
    (re.compile(r"(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
    (re.compile(r'([^.])(\.)([\])}>"\'»” ]*)\s*$'), r"\1 \2 \3 "),
    (re.compile(r",([^\d])"), r" , \1"),
    (re.compile(r",$"), " , "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&\u2012-\u2015?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[\][(){}<>]"), r" \g<0> "),
]
# applied after NLTK pads the text with a space at each end, which the clitic rules rely on
_TREEBANK_CLOSING_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"([^' ])('s|'m|'d|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'re|'ve|n't) "), r"\1 \2 "),
]


def _treebank_tokenize(text: str) -> list[str]:
    for pattern, replacement in _TREEBANK_RULES:
        text = pattern.sub(replacement, text)
    text = f" {text} "
    for pattern, replacement in _TREEBANK_CLOSING_RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def cmrc_segment(text: str) -> list[str]:
    """Tokens the CMRC2018 script's F1 compares (``mixed_segmentation(text, rm_punc=True)``).

    Lowercase and trim, delete the script's punctuation list, then every character in
    U+4E00..U+9FA5 is a token and the runs between them are word-tokenised by NLTK's Treebank
    rules. Two parts of ``nltk.word_tokenize`` are left out: Punkt sentence splitting (it needs
    a downloaded model; it only matters for a period inside a run, e.g. "Mr. Smith") and the
    MacIntyre contractions (cannot, gonna, 'tis), which CMRC answers do not contain.
    """
    segments: list[str] = []
    run: list[str] = []
    for char in text.lower().strip():
        if char in _CMRC_PUNCTUATION:
            # dropped without ending the run: "e-mail" is one word, as in the script
            continue
        if _CMRC_CJK.match(char):
            segments.extend(_treebank_tokenize("".join(run)))
            run.clear()
            segments.append(char)
        else:
            run.append(char)
    segments.extend(_treebank_tokenize("".join(run)))
    return segments


def _cmrc_strip(text: str) -> str:
    return "".join(ch for ch in text.lower().strip() if ch not in _CMRC_PUNCTUATION)


def cmrc_exact_match(prediction: str, golds: Golds) -> float:
    """CMRC2018 EM: equality after lowercasing, trimming and removing the script's punctuation."""
    stripped = _cmrc_strip(prediction)
    return float(any(stripped == _cmrc_strip(gold) for gold in as_golds(golds)))


def _longest_common_substring(first: list[str], second: list[str]) -> int:
    best = 0
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0] * (len(second) + 1)
        for j, other in enumerate(second, start=1):
            if item == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def cmrc_f1(prediction: str, golds: Golds) -> float:
    """CMRC2018 F1 against the best-matching gold answer.

    Unlike SQuAD, the overlap is the longest common *contiguous* run of segments (the script's
    ``find_lcs``), not the multiset intersection: "北京的大学" against "北京大学" shares 2 of 5
    segments in a row, not 4.
    """
    pred_segments = cmrc_segment(prediction)
    scores = []
    for gold in as_golds(golds):
        gold_segments = cmrc_segment(gold)
        overlap = _longest_common_substring(gold_segments, pred_segments)
        if overlap == 0:
            scores.append(0.0)
            continue
        precision, recall = overlap / len(pred_segments), overlap / len(gold_segments)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


AnswerScorer = Callable[[str, Golds], float]


class _AnswerOverlap(MeanOfScores):
    scorers: ClassVar[dict[str, AnswerScorer]]

    def __init__(self, language: Language = "en", **kwargs: Any) -> None:
        if language not in self.scorers:
            raise ValueError(f"language must be one of {sorted(self.scorers)}, got {language!r}")
        super().__init__(**kwargs)
        self.language = language

    def update(self, preds: Sequence[str], target: Sequence[Golds]) -> None:
        """Add a batch: one predicted string per example, and one gold string or a list of them."""
        check_same_length(preds, target)
        score = self.scorers[self.language]
        self.add_scores([score(pred, golds) for pred, golds in zip(preds, target, strict=True)])


class ExactMatch(_AnswerOverlap):
    """Exact match, max over gold answers: SQuAD v1.1 / ReCoRD (``"en"``) or CMRC2018 (``"zh"``).

    The GLM paper's ReCoRD "Acc" column is this metric.
    """

    scorers: ClassVar[dict[str, AnswerScorer]] = {"en": squad_exact_match, "zh": cmrc_exact_match}


class AnswerF1(_AnswerOverlap):
    """Answer F1, max over gold answers: SQuAD v1.1 / ReCoRD (``"en"``) or CMRC2018 (``"zh"``)."""

    scorers: ClassVar[dict[str, AnswerScorer]] = {"en": squad_f1, "zh": cmrc_f1}


class SpanMatchAccuracy(MeanOfScores):
    """Accuracy of "the generated span is the reference span" as a yes/no prediction.

    GLM's generative WSC (``config_tasks/task_wsc_generative.sh``) predicts True iff the model
    reproduces span1 (its teacher-forced argmax; greedy decoding gives the same span), and
    scores that against the row's True/False label. ``target`` per example is
    ``[label, reference span]``; spans are compared after stripping surrounding whitespace.
    """

    def update(self, preds: Sequence[str], target: Sequence[Sequence[str]]) -> None:
        """Add a batch: one generated span per example and its ``[label, reference]``."""
        check_same_length(preds, target)
        self.add_scores([float((pred.strip() == span.strip()) == (label == "True"))
                         for pred, (label, span) in zip(preds, target, strict=True)])
