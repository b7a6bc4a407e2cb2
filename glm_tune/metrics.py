"""Evaluation metrics for glm-tune, computed offline and reproducing the official scorers.

Every metric is a :class:`torchmetrics.Metric`: ``update`` accumulates batch by batch, the states
are synchronised across processes by torchmetrics (sums, or concatenation where a metric needs
the examples themselves), and ``compute`` gives the corpus value. ``update`` also takes plain
Python lists, so each metric can be used and tested without building tensors.

Conventions
    * Values are fractions (accuracy 0.946, not 94.6); MCC lies in [-1, 1].
    * ``compute`` on a metric that has seen no example raises :class:`EmptyMetricError` (a
      ``ValueError``): a score of 0 from an empty dev set would look like a real result.
    * Python sequences of labels are read as integer class ids; pass tensors for logits or
      probabilities (torchmetrics then takes the argmax, which picks the lowest index on ties).

What comes from where
    * torchmetrics built-ins, wrapped only to take lists and refuse empty input: accuracy
      (``MulticlassAccuracy`` with ``average="micro"``; its default, ``"macro"``, is *not*
      accuracy), macro-F1 (``MulticlassF1Score``) and MultiRC F1a (``BinaryF1Score``).
    * Matthews correlation subclasses ``MulticlassMatthewsCorrCoef`` but computes the value
      itself: for two classes torchmetrics returns 1 when every label and prediction is the
      same class, and an epsilon-smoothed non-zero value for a constant prediction, where
      scikit-learn (and so the GLUE/CoLA scorer) returns 0.
    * Written here, because torchmetrics has no exact equivalent: SQuAD/ReCoRD EM and F1
      (torchmetrics' ``SQuAD`` applies the SQuAD 2.0 rule to empty answers, where the v1.1 and
      ReCoRD scripts GLM uses do not), CMRC2018 EM and F1, MultiRC per-question EM, label
      accuracy without a fixed class count (candidate indices), and ROUGE with rouge_score's
      tokenisation, Porter stemming and character-level Chinese (torchmetrics' ``ROUGEScore``
      needs nltk to stem, downloads nltk's punkt model for ROUGE-Lsum and drops CJK text).

The registry (:func:`build_metric`, :func:`build_metrics`) maps names such as ``"accuracy"`` or
``"rougeL"`` to these classes; :class:`Benchmark` averages task scores the way the SuperGLUE,
CLUE and FewCLUE leaderboards do; :func:`results_table` and :func:`results_json` render results.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassMatthewsCorrCoef,
)
from torchmetrics.utilities import dim_zero_cat

from glm_tune.errors import GLMTuneError

__all__ = [
    "CLUE_CLASSIFICATION",
    "CLUE_READING",
    "FEWCLUE",
    "SUPERGLUE",
    "Accuracy",
    "AnswerF1",
    "Benchmark",
    "ChoiceAccuracy",
    "EmptyMetricError",
    "ExactMatch",
    "F1a",
    "MacroF1",
    "MatthewsCorrCoef",
    "MultiRCExactMatch",
    "Rouge",
    "available_metrics",
    "build_metric",
    "build_metrics",
    "cmrc_exact_match",
    "cmrc_f1",
    "cmrc_segment",
    "normalize_answer",
    "porter_stem",
    "register_metric",
    "results_json",
    "results_table",
    "rouge_f",
    "rouge_tokenize",
    "squad_exact_match",
    "squad_f1",
]

Language = Literal["en", "zh"]
RougeVariant = Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]
Labels = Tensor | Sequence[int] | Sequence[bool]
Golds = str | Sequence[str]


class EmptyMetricError(GLMTuneError, ValueError):
    """Raised by ``compute`` when a metric has not seen a single example."""


def _require_examples(metric: Metric, count: Tensor | int) -> None:
    if int(count) == 0:
        raise EmptyMetricError(f"{type(metric).__name__}: no examples were given to update()")


def _as_labels(values: Labels, device: torch.device) -> Tensor:
    """Tensors pass through; Python sequences become int64 labels (bools become 0/1)."""
    if isinstance(values, Tensor):
        tensor = values.to(device)
    else:
        tensor = torch.as_tensor(list(values), dtype=torch.long, device=device)
    return tensor.long() if tensor.dtype == torch.bool else tensor


def _as_golds(golds: Golds) -> list[str]:
    answers = [golds] if isinstance(golds, str) else list(golds)
    if not answers:
        raise ValueError("an example needs at least one gold answer")
    return answers


def _check_same_length(preds: Sequence[Any] | Tensor, target: Sequence[Any] | Tensor) -> None:
    if len(preds) != len(target):
        raise ValueError(f"got {len(preds)} predictions but {len(target)} targets")


# --------------------------------------------------------------------------------------------
# Classification: torchmetrics built-ins that also take lists and refuse empty input
# --------------------------------------------------------------------------------------------


class _StatScoresInput:
    """Mixin for torchmetrics stat-score metrics (states ``tp``, ``fp``, ``tn``, ``fn``)."""

    device: torch.device
    tp: Tensor
    fp: Tensor
    tn: Tensor
    fn: Tensor

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch: ``preds`` are labels (or logits as a tensor), ``target`` gold labels."""
        gold_labels = _as_labels(target, self.device)
        # torchmetrics cannot reshape a zero-length batch; it adds nothing anyway
        if gold_labels.numel() > 0:
            super().update(_as_labels(preds, self.device), gold_labels)  # type: ignore[misc]

    def compute(self) -> Tensor:
        """The metric over every example seen; :class:`EmptyMetricError` if there were none."""
        _require_examples(self, (self.tp + self.fp + self.tn + self.fn).sum())  # type: ignore[arg-type]
        return super().compute()  # type: ignore[misc]


class Accuracy(_StatScoresInput, MulticlassAccuracy):
    """Accuracy over ``num_classes`` labels: torchmetrics' ``MulticlassAccuracy``, micro-averaged."""

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, average="micro", **kwargs)


class MacroF1(_StatScoresInput, MulticlassF1Score):
    """Unweighted mean of the per-class F1 (CB reports it over its 3 classes).

    A class that is neither predicted nor gold is left out of the mean, as scikit-learn's
    ``f1_score(average="macro")`` (used by the GLM and SuperGLUE scorers) does.
    """

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, average="macro", **kwargs)


class F1a(_StatScoresInput, BinaryF1Score):
    """MultiRC F1a: binary F1 of the positive class (True = 1) over all answer options."""


class MatthewsCorrCoef(MulticlassMatthewsCorrCoef):
    """Matthews correlation (CoLA) with scikit-learn's convention: 0 when it is undefined.

    The confusion matrix is accumulated by torchmetrics; the value is the multiclass formula
    ``(c*s - t.p) / sqrt((s^2 - p.p) * (s^2 - t.t))`` with 0 for a zero denominator, i.e. when
    all gold labels or all predictions are one class (torchmetrics would return 1 or a smoothed
    non-zero value there for two classes).
    """

    confmat: Tensor

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, **kwargs)

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch: ``preds`` are labels (or logits as a tensor), ``target`` gold labels."""
        super().update(_as_labels(preds, self.device), _as_labels(target, self.device))

    def compute(self) -> Tensor:
        """MCC over every example seen; :class:`EmptyMetricError` if there were none."""
        confmat = self.confmat.double()
        total = confmat.sum()
        _require_examples(self, total)
        gold_counts, pred_counts = confmat.sum(dim=1), confmat.sum(dim=0)
        covariance = torch.trace(confmat) * total - gold_counts @ pred_counts
        pred_variance = total**2 - pred_counts @ pred_counts
        gold_variance = total**2 - gold_counts @ gold_counts
        denominator = torch.sqrt(pred_variance * gold_variance)
        if denominator == 0:
            return torch.zeros((), dtype=torch.float64, device=self.device)
        return covariance / denominator


class _MeanOfScores(Metric):
    """Base for metrics that are a mean of per-example scores: sum and count states."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    score_sum: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # float64 so corpus means over many examples stay exact to well below display precision
        self.add_state("score_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def _add(self, scores: Sequence[float]) -> None:
        self.score_sum += math.fsum(scores)
        self.total += len(scores)

    def compute(self) -> Tensor:
        """Mean per-example score; :class:`EmptyMetricError` if no example was seen."""
        _require_examples(self, self.total)
        return self.score_sum / self.total


class ChoiceAccuracy(_MeanOfScores):
    """Accuracy of integer labels with no fixed label set.

    For candidate-selection tasks (COPA, ReCoRD entities, RACE) where the prediction is an
    index into a per-example candidate list whose length varies, so ``num_classes`` does not
    exist.
    """

    def update(self, preds: Labels, target: Labels) -> None:
        """Add a batch of predicted and gold labels (any integers)."""
        pred_labels, gold_labels = _as_labels(preds, self.device), _as_labels(target, self.device)
        _check_same_length(pred_labels, gold_labels)
        self.score_sum += (pred_labels == gold_labels).sum()
        self.total += gold_labels.numel()


# --------------------------------------------------------------------------------------------
# Extractive QA: SQuAD v1.1 / ReCoRD and CMRC2018
# --------------------------------------------------------------------------------------------

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
    return float(any(normalized == normalize_answer(gold) for gold in _as_golds(golds)))


def squad_f1(prediction: str, golds: Golds) -> float:
    """Bag-of-words F1 against the best-matching gold answer (SQuAD v1.1, ReCoRD).

    As in the v1.1 script, a prediction and gold that both normalise to nothing score EM 1 but
    F1 0 (the SQuAD 2.0 script would give F1 1).
    """
    tokens = normalize_answer(prediction).split()
    return max(_token_f1(tokens, normalize_answer(gold).split()) for gold in _as_golds(golds))


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
    return float(any(stripped == _cmrc_strip(gold) for gold in _as_golds(golds)))


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
    for gold in _as_golds(golds):
        gold_segments = cmrc_segment(gold)
        overlap = _longest_common_substring(gold_segments, pred_segments)
        if overlap == 0:
            scores.append(0.0)
            continue
        precision, recall = overlap / len(pred_segments), overlap / len(gold_segments)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


AnswerScorer = Callable[[str, Golds], float]


class _AnswerOverlap(_MeanOfScores):
    scorers: ClassVar[dict[str, AnswerScorer]]

    def __init__(self, language: Language = "en", **kwargs: Any) -> None:
        if language not in self.scorers:
            raise ValueError(f"language must be one of {sorted(self.scorers)}, got {language!r}")
        super().__init__(**kwargs)
        self.language = language

    def update(self, preds: Sequence[str], target: Sequence[Golds]) -> None:
        """Add a batch: one predicted string per example, and one gold string or a list of them."""
        _check_same_length(preds, target)
        score = self.scorers[self.language]
        self._add([score(pred, golds) for pred, golds in zip(preds, target, strict=True)])


class ExactMatch(_AnswerOverlap):
    """Exact match, max over gold answers: SQuAD v1.1 / ReCoRD (``"en"``) or CMRC2018 (``"zh"``).

    The GLM paper's ReCoRD "Acc" column is this metric.
    """

    scorers: ClassVar[dict[str, AnswerScorer]] = {"en": squad_exact_match, "zh": cmrc_exact_match}


class AnswerF1(_AnswerOverlap):
    """Answer F1, max over gold answers: SQuAD v1.1 / ReCoRD (``"en"``) or CMRC2018 (``"zh"``)."""

    scorers: ClassVar[dict[str, AnswerScorer]] = {"en": squad_f1, "zh": cmrc_f1}


# --------------------------------------------------------------------------------------------
# MultiRC per-question exact match
# --------------------------------------------------------------------------------------------

QuestionIds = Tensor | Sequence[Hashable]


def _question_key(question_id: Hashable) -> int:
    # States must be tensors to be gathered across processes, and every process must map an id
    # to the same number: a fixed hash of repr() is stable where Python's hash() is salted.
    if isinstance(question_id, int) and not isinstance(question_id, bool):
        return question_id
    digest = hashlib.blake2b(repr(question_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class MultiRCExactMatch(Metric):
    """MultiRC EM: the fraction of questions whose answer options are *all* predicted right.

    ``update`` takes the question each answer option belongs to; ids may be ints, strings or
    tuples such as ``(paragraph, question)``, and the options of one question may be spread
    over several batches or processes. Ids must be unique across the whole data set.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    question_ids: list[Tensor] | Tensor
    correct: list[Tensor] | Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("question_ids", [], dist_reduce_fx="cat")
        self.add_state("correct", [], dist_reduce_fx="cat")

    def update(self, preds: Labels, target: Labels, question_ids: QuestionIds) -> None:
        """Add a batch of answer-option predictions, gold labels and their question ids."""
        pred_labels, gold_labels = _as_labels(preds, self.device), _as_labels(target, self.device)
        if isinstance(question_ids, Tensor):
            ids = question_ids.to(self.device, torch.long)
        else:
            keys = [_question_key(question_id) for question_id in question_ids]
            ids = torch.tensor(keys, dtype=torch.long, device=self.device)
        _check_same_length(pred_labels, gold_labels)
        _check_same_length(pred_labels, ids)
        self.question_ids.append(ids.reshape(-1))  # type: ignore[union-attr]
        self.correct.append((pred_labels == gold_labels).reshape(-1).long())  # type: ignore[union-attr]

    def compute(self) -> Tensor:
        """EM over the questions seen; :class:`EmptyMetricError` if there were none."""
        # a list before any update; a single tensor once torchmetrics has synced processes
        if isinstance(self.question_ids, list) and not self.question_ids:
            _require_examples(self, 0)
        ids, correct = dim_zero_cat(self.question_ids), dim_zero_cat(self.correct)
        _require_examples(self, ids.numel())
        unique_ids, question_index = torch.unique(ids, return_inverse=True)
        all_correct = torch.ones(len(unique_ids), dtype=torch.long, device=correct.device)
        all_correct = all_correct.scatter_reduce(0, question_index, correct, reduce="amin")
        return all_correct.double().mean()


# --------------------------------------------------------------------------------------------
# ROUGE
# --------------------------------------------------------------------------------------------

_VOWELS = frozenset("aeiou")
# NLTK's irregular forms, looked up before the rules (PorterStemmer's NLTK_EXTENSIONS mode).
_IRREGULAR_STEMS = {
    "skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie",
    "news": "news", "innings": "inning", "inning": "inning", "outings": "outing",
    "outing": "outing", "cannings": "canning", "canning": "canning", "howe": "howe",
    "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}  # fmt: skip


def _consonant_flags(word: str) -> list[bool]:
    flags: list[bool] = []
    for i, char in enumerate(word):
        if char in _VOWELS:
            flags.append(False)
        elif char == "y":
            # y is a consonant at the start and after a vowel, a vowel after a consonant
            flags.append(True if i == 0 else not flags[i - 1])
        else:
            flags.append(True)
    return flags


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in the stem."""
    return "".join("c" if flag else "v" for flag in _consonant_flags(stem)).count("vc")


def _contains_vowel(stem: str) -> bool:
    return not all(_consonant_flags(stem))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonant_flags(word)[-1]


def _ends_cvc(word: str) -> bool:
    flags = _consonant_flags(word)
    if len(word) == 2:  # NLTK extension: a vowel-consonant word counts as cvc
        return not flags[0] and flags[1]
    return len(word) >= 3 and flags[-3] and not flags[-2] and flags[-1] and word[-1] not in "wxy"


Rule = tuple[str, str, Callable[[str], bool]]


def _apply_first_rule(word: str, rules: Sequence[Rule]) -> str:
    # Porter's rule lists stop at the first matching suffix even when its condition fails.
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


def _positive_measure(stem: str) -> bool:
    return _measure(stem) > 0


def _measure_above_one(stem: str) -> bool:
    return _measure(stem) > 1


def _always(_: str) -> bool:
    return True


def _step1a(word: str) -> str:
    if word.endswith("ies") and len(word) == 4:
        return word[:-3] + "ie"
    rules = [("sses", "ss", _always), ("ies", "i", _always), ("ss", "ss", _always), ("s", "", _always)]
    return _apply_first_rule(word, rules)


def _step1b(word: str) -> str:
    if word.endswith("ied"):
        return word[:-3] + ("ie" if len(word) == 4 else "i")
    if word.endswith("eed"):
        return word[:-1] if _positive_measure(word[:-3]) else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _contains_vowel(word[: -len(suffix)]):
            stem = word[: -len(suffix)]
            break
    else:
        return word
    if stem.endswith(("at", "bl", "iz")):
        return stem + "e"
    if _ends_double_consonant(stem):
        return stem if stem[-1] in "lsz" else stem[:-1]
    if _measure(stem) == 1 and _ends_cvc(stem):
        return stem + "e"
    return stem


def _step1c(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and _consonant_flags(word)[-2]:
        return word[:-1] + "i"
    return word


_STEP2_RULES: list[Rule] = [
    (suffix, replacement, _positive_measure)
    for suffix, replacement in [
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"),
        ("izer", "ize"), ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"),
        ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"), ("ator", "ate"),
        ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
        ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
    ]
]  # fmt: skip


def _step2(word: str) -> str:
    if word.endswith("alli") and _positive_measure(word[:-4]):
        return _step2(word[:-4] + "al")
    # the 'l' of logi -> log counts towards the stem, so geology -> geolog like philology
    logi_rule: Rule = ("logi", "log", lambda _: _positive_measure(word[:-3]))
    return _apply_first_rule(word, [*_STEP2_RULES, logi_rule])


_STEP3_RULES: list[Rule] = [
    ("icate", "ic", _positive_measure), ("ative", "", _positive_measure),
    ("alize", "al", _positive_measure), ("iciti", "ic", _positive_measure),
    ("ical", "ic", _positive_measure), ("ful", "", _positive_measure),
    ("ness", "", _positive_measure),
]  # fmt: skip

_STEP4_RULES: list[Rule] = [
    *[
        (suffix, "", _measure_above_one)
        for suffix in ("al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent")
    ],
    ("ion", "", lambda stem: _measure(stem) > 1 and stem[-1] in "st"),
    *[(suffix, "", _measure_above_one) for suffix in ("ou", "ism", "ate", "iti", "ous", "ive", "ize")],
]


def _step5(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        if _measure(stem) > 1 or (_measure(stem) == 1 and not _ends_cvc(stem)):
            word = stem
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        word = word[:-1]
    return word


@lru_cache(maxsize=65536)
def porter_stem(word: str) -> str:
    """Porter stemmer as NLTK's ``PorterStemmer()`` (NLTK_EXTENSIONS mode) stems a word.

    This is the stemmer rouge_score's ``use_stemmer=True`` calls. It is Porter (1980) plus
    NLTK's departures: a table of irregular forms, words of one or two letters left alone,
    -ies/-ied on four-letter words to -ie, y -> i only after a consonant, -bli -> -ble,
    -alli handled first, -fulli and -logi rules, and a vowel-consonant word counting as cvc.
    """
    word = word.lower()
    if word in _IRREGULAR_STEMS:
        return _IRREGULAR_STEMS[word]
    if len(word) <= 2:
        return word
    word = _step2(_step1c(_step1b(_step1a(word))))
    word = _apply_first_rule(word, _STEP3_RULES)
    word = _apply_first_rule(word, _STEP4_RULES)
    return _step5(word)


_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
# CJK Unified Ideographs with extensions A-F and the compatibility blocks (BERT's definition).
_CJK_CHARS = "\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f"
_ZH_TOKEN = re.compile(f"[{_CJK_CHARS}]|[a-z0-9]+")


def rouge_tokenize(text: str, language: Language = "en", use_stemmer: bool = False) -> list[str]:
    """Tokens ROUGE compares.

    ``"en"`` is rouge_score's tokeniser: lowercase, every run of characters other than a-z and
    0-9 becomes a space, and with ``use_stemmer`` words longer than 3 letters are Porter-stemmed
    (:func:`porter_stem`). It drops all non-ASCII text, so Chinese needs ``"zh"``: NFKC
    (full-width letters and digits to ASCII), lowercase, then every CJK character is a token,
    runs of a-z/0-9 are tokens (stemmed like English when asked) and everything else is dropped.
    """
    if language == "en":
        tokens = _NON_ALPHANUMERIC.sub(" ", text.lower()).split()
    elif language == "zh":
        tokens = _ZH_TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    else:
        raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
    if use_stemmer:
        tokens = [porter_stem(token) if len(token) > 3 else token for token in tokens]
    return tokens


def _f_measure(overlap: int, pred_count: int, gold_count: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / pred_count, overlap / gold_count
    return 2 * precision * recall / (precision + recall)


def _ngram_overlap(pred: list[str], gold: list[str], n: int) -> tuple[int, int, int]:
    pred_ngrams = Counter(tuple(pred[i : i + n]) for i in range(len(pred) - n + 1))
    gold_ngrams = Counter(tuple(gold[i : i + n]) for i in range(len(gold) - n + 1))
    overlap = sum((pred_ngrams & gold_ngrams).values())
    return overlap, sum(pred_ngrams.values()), sum(gold_ngrams.values())


def _lcs_table(gold: list[str], pred: list[str]) -> list[list[int]]:
    table = [[0] * (len(pred) + 1) for _ in range(len(gold) + 1)]
    for i, gold_token in enumerate(gold, start=1):
        for j, pred_token in enumerate(pred, start=1):
            if gold_token == pred_token:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


def _lcs_gold_positions(gold: list[str], pred: list[str]) -> set[int]:
    """Positions in ``gold`` of one LCS, chosen by rouge_score's backtrack (it decides ties)."""
    table = _lcs_table(gold, pred)
    i, j, positions = len(gold), len(pred), set()
    while i > 0 and j > 0:
        if gold[i - 1] == pred[j - 1]:
            positions.add(i - 1)
            i, j = i - 1, j - 1
        elif table[i][j - 1] > table[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions


def _summary_level_lcs_f(pred_sentences: list[list[str]], gold_sentences: list[list[str]]) -> float:
    """ROUGE-Lsum: union LCS of each gold sentence with all predicted sentences (Lin 2004, 3.2)."""
    pred_count = sum(map(len, pred_sentences))
    gold_count = sum(map(len, gold_sentences))
    if pred_count == 0 or gold_count == 0:
        return 0.0
    # ROUGE-1.5.5 (and rouge_score) cap each token's hits by its count on both sides
    pred_budget = Counter(token for sentence in pred_sentences for token in sentence)
    gold_budget = Counter(token for sentence in gold_sentences for token in sentence)
    hits = 0
    for gold in gold_sentences:
        union = set().union(*(_lcs_gold_positions(gold, pred) for pred in pred_sentences))
        for token in (gold[i] for i in sorted(union)):
            if pred_budget[token] > 0 and gold_budget[token] > 0:
                hits += 1
                pred_budget[token] -= 1
                gold_budget[token] -= 1
    return _f_measure(hits, pred_count, gold_count)


_ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


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
    if variant not in _ROUGE_VARIANTS:
        raise ValueError(f"variant must be one of {_ROUGE_VARIANTS}, got {variant!r}")
    scores = []
    for reference in _as_golds(references):
        if variant == "rougeLsum":
            pred_lines = [rouge_tokenize(line, language, use_stemmer) for line in prediction.split("\n") if line]
            gold_lines = [rouge_tokenize(line, language, use_stemmer) for line in reference.split("\n") if line]
            scores.append(_summary_level_lcs_f(pred_lines, gold_lines))
            continue
        pred = rouge_tokenize(prediction, language, use_stemmer)
        gold = rouge_tokenize(reference, language, use_stemmer)
        if variant == "rougeL":
            lcs = _lcs_table(gold, pred)[-1][-1]
            scores.append(_f_measure(lcs, len(pred), len(gold)))
        else:
            scores.append(_f_measure(*_ngram_overlap(pred, gold, int(variant[5:]))))
    return max(scores)


class Rouge(_MeanOfScores):
    """Mean per-example ROUGE F-measure (``rouge1``, ``rouge2``, ``rougeL`` or ``rougeLsum``).

    The exact mean, where ``evaluate``'s rouge reports a bootstrap estimate of it. English
    follows rouge_score; ``language="zh"`` scores Chinese character by character (see
    :func:`rouge_tokenize`).
    """

    def __init__(
        self,
        variant: RougeVariant = "rougeL",
        language: Language = "en",
        use_stemmer: bool = False,
        **kwargs: Any,
    ) -> None:
        if variant not in _ROUGE_VARIANTS:
            raise ValueError(f"variant must be one of {_ROUGE_VARIANTS}, got {variant!r}")
        if language not in ("en", "zh"):
            raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
        super().__init__(**kwargs)
        self.variant, self.language, self.use_stemmer = variant, language, use_stemmer

    def update(self, preds: Sequence[str], target: Sequence[Golds]) -> None:
        """Add a batch: one generated text per example, and one reference or a list of them."""
        _check_same_length(preds, target)
        self._add(
            [
                rouge_f(pred, refs, self.variant, self.language, self.use_stemmer)
                for pred, refs in zip(preds, target, strict=True)
            ]
        )


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

MetricFactory = Callable[..., Metric]


def _accuracy(num_classes: int | None = None) -> Metric:
    """Accuracy; without ``num_classes`` any integer labels (candidate indices) are accepted."""
    return ChoiceAccuracy() if num_classes is None else Accuracy(num_classes)


def _f1_macro(num_classes: int) -> Metric:
    return MacroF1(num_classes)


def _mcc(num_classes: int) -> Metric:
    return MatthewsCorrCoef(num_classes)


def _em(language: Language = "en") -> Metric:
    return ExactMatch(language)


def _f1(language: Language = "en") -> Metric:
    return AnswerF1(language)


def _rouge_factory(variant: RougeVariant) -> MetricFactory:
    def factory(language: Language = "en", use_stemmer: bool = False) -> Metric:
        return Rouge(variant, language, use_stemmer)

    factory.__doc__ = f"{variant} F-measure."
    return factory


_REGISTRY: dict[str, MetricFactory] = {
    "accuracy": _accuracy,
    "f1_macro": _f1_macro,
    "mcc": _mcc,
    "em": _em,
    "f1": _f1,
    "f1a": F1a,
    "multirc_em": MultiRCExactMatch,
    **{variant: _rouge_factory(variant) for variant in _ROUGE_VARIANTS},
}


def available_metrics() -> list[str]:
    """Names :func:`build_metric` knows, sorted."""
    return sorted(_REGISTRY)


def register_metric(name: str, factory: MetricFactory) -> None:
    """Make a metric buildable by name (for metrics a user task brings); names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"metric {name!r} is already registered")
    _REGISTRY[name] = factory


def _factory(name: str) -> MetricFactory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(available_metrics())}") from None


def build_metric(name: str, **options: Any) -> Metric:
    """A fresh metric by name, e.g. ``build_metric("f1_macro", num_classes=3)``.

    Options go to the metric's factory: ``num_classes`` (``accuracy``, ``f1_macro``, ``mcc``),
    ``language`` ``"en"``/``"zh"`` (``em``, ``f1``, ``rouge*``), ``use_stemmer`` (``rouge*``).
    """
    factory = _factory(name)
    try:
        return factory(**options)
    except TypeError as error:
        raise TypeError(f"metric {name!r}: {error}") from error


def build_metrics(names: Sequence[str], **options: Any) -> MetricCollection:
    """A ``MetricCollection`` keyed by name; each metric gets the options its factory accepts.

    ``build_metrics(["accuracy", "f1_macro"], num_classes=3)`` builds CB's pair. An option no
    listed metric accepts is an error rather than silently dropped. Extra ``update`` keywords
    are filtered per metric by torchmetrics, so ``collection.update(preds, target,
    question_ids=ids)`` feeds both ``f1a`` and ``multirc_em``.
    """
    factories = {name: _factory(name) for name in names}
    accepted = {name: set(inspect.signature(factory).parameters) for name, factory in factories.items()}
    unused = set(options) - set().union(*accepted.values())
    if unused:
        raise TypeError(f"no metric among {list(names)} takes the option(s) {sorted(unused)}")
    return MetricCollection(
        {
            name: build_metric(name, **{key: value for key, value in options.items() if key in accepted[name]})
            for name in names
        }
    )


# --------------------------------------------------------------------------------------------
# Benchmark averages
# --------------------------------------------------------------------------------------------

TaskResult = float | Mapping[str, float] | Sequence[float]


@dataclass(frozen=True)
class Benchmark:
    """How a leaderboard turns task results into one score.

    Each scored task maps to the metric names whose mean is its score (SuperGLUE's CB is
    ``("f1_macro", "accuracy")``); the benchmark score is the unweighted mean over the scored
    tasks. ``unscored`` names tasks the leaderboard reports but leaves out of the mean.
    Results may be in percent or fractions; the mean is linear, so only mixing them is wrong.
    """

    name: str
    tasks: Mapping[str, tuple[str, ...]]
    unscored: frozenset[str] = field(default_factory=frozenset)

    def task_score(self, task: str, result: TaskResult) -> float:
        """One task's score from a number, a ``{metric: value}`` mapping or a tuple of values.

        A mapping must contain every metric the task averages (other keys are ignored); a
        tuple must have one value per metric, in any order.
        """
        task = task.lower()
        metrics = self.tasks[task]
        if isinstance(result, Mapping):
            missing = [metric for metric in metrics if metric not in result]
            if missing:
                raise ValueError(f"{self.name} {task}: result lacks {missing} (has {sorted(result)})")
            values = [float(result[metric]) for metric in metrics]
        elif isinstance(result, Sequence):
            if len(result) != len(metrics):
                raise ValueError(f"{self.name} {task}: expected {len(metrics)} values {metrics}, got {len(result)}")
            values = [float(value) for value in result]
        else:
            return float(result)
        return math.fsum(values) / len(values)

    def score(self, results: Mapping[str, TaskResult]) -> float:
        """The leaderboard score; every scored task is required and unknown tasks are errors."""
        results = {task.lower(): result for task, result in results.items()}
        unknown = sorted(set(results) - set(self.tasks) - self.unscored)
        missing = [task for task in self.tasks if task not in results]
        if unknown or missing:
            raise ValueError(
                f"{self.name}: missing tasks {missing}, unknown tasks {unknown}; scored tasks are {list(self.tasks)}"
            )
        return math.fsum(self.task_score(task, results[task]) for task in self.tasks) / len(self.tasks)


SUPERGLUE = Benchmark(
    "SuperGLUE",
    {
        "boolq": ("accuracy",),
        "cb": ("f1_macro", "accuracy"),
        "copa": ("accuracy",),
        "multirc": ("f1a", "multirc_em"),
        "record": ("f1", "em"),
        "rte": ("accuracy",),
        "wic": ("accuracy",),
        "wsc": ("accuracy",),
    },
    # the diagnostics are reported beside the leaderboard score, never in it
    unscored=frozenset({"axb", "axg"}),
)

# FewCLUE's README (test_public): "CHID is still being experimented with, so its score is not
# yet included in the final Score". The PET row's 54.34 is the mean of the other eight; with
# CHID it would be 55.11.
FEWCLUE = Benchmark(
    "FewCLUE",
    {task: ("accuracy",) for task in ("eprstmt", "bustm", "ocnli", "csldcp", "tnews", "cluewsc", "iflytek", "csl")},
    unscored=frozenset({"chid"}),
)

# CLUE's classification leaderboard (v1.0 task set; v1.1 swapped CMNLI for OCNLI: build a
# Benchmark with "ocnli" for that one).
CLUE_CLASSIFICATION = Benchmark(
    "CLUE classification",
    {task: ("accuracy",) for task in ("afqmc", "tnews", "iflytek", "cmnli", "cluewsc2020", "csl")},
)

# CLUE's reading-comprehension leaderboard: "where F1 and EM are both given, EM is the final
# metric" (CLUE README), so CMRC2018 counts with its EM only.
CLUE_READING = Benchmark(
    "CLUE reading comprehension",
    {"cmrc2018": ("em",), "chid": ("accuracy",), "c3": ("accuracy",)},
)


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

ResultValue = float | int | Tensor
Results = Mapping[str, ResultValue | Mapping[str, ResultValue]]


def _to_float(value: ResultValue) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _rows(results: Results) -> list[tuple[str, dict[str, float]]]:
    """Each top-level key is a row; a bare number goes in the ``value`` column."""
    return [
        (
            str(key),
            {str(metric): _to_float(number) for metric, number in value.items()}
            if isinstance(value, Mapping)
            else {"value": _to_float(value)},
        )
        for key, value in results.items()
    ]


def results_table(results: Results) -> str:
    """Plain-text table of ``{name: value}`` or ``{task: {metric: value}}`` results.

    Values are printed as they are computed (fractions, MCC in [-1, 1]) with 4 decimals, not as
    percentages, so every metric reads on the same scale; a metric a row lacks shows ``-``.
    """
    rows = _rows(results)
    columns = list(dict.fromkeys(metric for _, values in rows for metric in values))
    header = ["", *columns]
    body = [[name, *(f"{values[c]:.4f}" if c in values else "-" for c in columns)] for name, values in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        first, *numbers = cells
        return "  ".join(
            [first.ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(numbers, widths[1:], strict=True))]
        ).rstrip()

    return "\n".join([render(header), "  ".join("-" * width for width in widths), *map(render, body)])


def results_json(results: Results, indent: int | None = 2) -> str:
    """JSON of the same results with plain floats; non-finite values become ``null``
    (JSON has no NaN)."""

    def plain(value: ResultValue | Mapping[str, ResultValue]) -> Any:
        if isinstance(value, Mapping):
            return {str(key): plain(item) for key, item in value.items()}
        number = _to_float(value)
        return number if math.isfinite(number) else None

    return json.dumps(plain(results), indent=indent, ensure_ascii=False)
