"""Tests for glm_tune.metrics.

Expected values are worked out by hand in the comments next to them (or come from the published
tables the brief names), never from running the code under test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torchmetrics import Metric

from glm_tune import metrics
from glm_tune.metrics import (
    CLUE_CLASSIFICATION,
    CLUE_READING,
    FEWCLUE,
    SUPERGLUE,
    Accuracy,
    AnswerF1,
    Benchmark,
    ChoiceAccuracy,
    EmptyMetricError,
    ExactMatch,
    F1a,
    MacroF1,
    MatthewsCorrCoef,
    MultiRCExactMatch,
    Rouge,
    available_metrics,
    build_metric,
    build_metrics,
    cmrc_exact_match,
    cmrc_f1,
    cmrc_segment,
    normalize_answer,
    porter_stem,
    register_metric,
    results_json,
    results_table,
    rouge_f,
    rouge_tokenize,
    squad_exact_match,
    squad_f1,
)


def value(metric: Metric) -> float:
    return float(metric.compute())


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


def test_accuracy_is_micro_averaged() -> None:
    # 3 of 4 right -> 0.75. torchmetrics' default "macro" would average the per-class recalls
    # (class 0: 3/3, class 2: 0/1, class 1 never occurs) and report 0.5 instead.
    metric = Accuracy(num_classes=3)
    metric.update([0, 0, 0, 1], [0, 0, 0, 2])
    assert value(metric) == pytest.approx(0.75)


def test_accuracy_takes_logits_and_breaks_ties_towards_the_lowest_class() -> None:
    # row 0 ties classes 0 and 1 -> argmax 0 (right); row 1 ties 1 and 2 -> 1 (right);
    # row 2 is clearly class 2 but gold is 0 (wrong): 2/3
    logits = torch.tensor([[1.0, 1.0, 0.0], [0.2, 0.5, 0.5], [0.0, 0.0, 3.0]])
    metric = Accuracy(num_classes=3)
    metric.update(logits, torch.tensor([0, 1, 0]))
    assert value(metric) == pytest.approx(2 / 3)


def test_choice_accuracy_takes_any_candidate_index() -> None:
    # ReCoRD-style candidate indices with no class count: 5==5, 0!=1, 12==12 -> 2/3
    metric = ChoiceAccuracy()
    metric.update([5, 0, 12], [5, 1, 12])
    assert value(metric) == pytest.approx(2 / 3)


def test_macro_f1_by_hand() -> None:
    # gold [0,0,0,1,1,2], pred [0,0,1,1,2,2]; per class F1 = 2tp / (2tp + fp + fn):
    #   class 0: tp 2, fp 0, fn 1 -> 4/5
    #   class 1: tp 1 (idx 3), fp 1 (idx 2), fn 1 (idx 4) -> 2/4
    #   class 2: tp 1 (idx 5), fp 1 (idx 4), fn 0 -> 2/3
    # macro = (4/5 + 1/2 + 2/3) / 3 = (24 + 15 + 20) / 90 = 59/90
    gold, pred = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
    metric = MacroF1(num_classes=3)
    metric.update(pred, gold)
    assert value(metric) == pytest.approx(59 / 90)
    # a 4th class that is neither gold nor predicted is left out of the mean (scikit-learn)
    metric = MacroF1(num_classes=4)
    metric.update(pred, gold)
    assert value(metric) == pytest.approx(59 / 90)


def test_mcc_binary_by_hand() -> None:
    # gold [1,1,1,0,0,0], pred [1,1,0,0,0,1]: tp 2, tn 2, fp 1, fn 1
    # MCC = (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (4 - 1) / sqrt(3^4) = 1/3
    metric = MatthewsCorrCoef(num_classes=2)
    metric.update([1, 1, 0, 0, 0, 1], [1, 1, 1, 0, 0, 0])
    assert value(metric) == pytest.approx(1 / 3)


def test_mcc_multiclass_by_hand() -> None:
    # gold [0,1,2,0], pred [0,1,1,0]: trace c = 3, s = 4, gold counts t = [2,1,1],
    # pred counts p = [2,2,0]
    # cov(y,p) = c*s - t.p = 12 - (4+2+0) = 6; cov(p,p) = 16 - (4+4+0) = 8;
    # cov(y,y) = 16 - (4+1+1) = 10; MCC = 6 / sqrt(80)
    metric = MatthewsCorrCoef(num_classes=3)
    metric.update([0, 1, 1, 0], [0, 1, 2, 0])
    assert value(metric) == pytest.approx(6 / math.sqrt(80))


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ([1, 1, 1], [1, 1, 1]),  # everything one class and all right: torchmetrics says 1
        ([1, 1, 1, 1], [1, 1, 1, 0]),  # constant prediction: torchmetrics says 0.577
        ([0, 1, 0, 1], [0, 0, 0, 0]),  # constant gold
    ],
)
def test_mcc_is_zero_when_undefined(pred: list[int], gold: list[int]) -> None:
    # one of the two variances in the denominator is 0; scikit-learn/GLUE define MCC as 0
    metric = MatthewsCorrCoef(num_classes=2)
    metric.update(pred, gold)
    assert value(metric) == 0.0


# ---------------------------------------------------------------------------------------------
# SQuAD / ReCoRD
# ---------------------------------------------------------------------------------------------


def test_normalize_answer() -> None:
    # lowercase, punctuation gone, articles gone, whitespace squashed; "theory" keeps its "the"
    assert normalize_answer("  The Theory of  an Apple, A.B.!") == "theory of apple ab"


def test_squad_scores_take_the_best_gold() -> None:
    # pred -> [big, red, barn]
    # gold 1 [red, barn, door]: overlap 2, P 2/3, R 2/3 -> F1 2/3
    # gold 2 "a barn" -> [barn]: overlap 1, P 1/3, R 1 -> F1 2*(1/3)/(4/3) = 1/2
    prediction, golds = "the big red barn", ["red barn door", "a barn"]
    assert squad_f1(prediction, golds) == pytest.approx(2 / 3)
    assert squad_exact_match(prediction, golds) == 0.0
    # normalisation makes these equal to the second gold
    assert squad_exact_match("Barack Obama", ["Obama", "barack obama."]) == 1.0


def test_squad_f1_counts_repeated_tokens_once_per_match() -> None:
    # [x, x, y] vs [x, y, y]: overlap min(2,1) + min(1,2) = 2, P = R = 2/3 -> F1 2/3
    assert squad_f1("x x y", "x y y") == pytest.approx(2 / 3)


def test_squad_empty_answers_follow_v1_1() -> None:
    # both normalise to "": equal strings (EM 1) but no shared token (F1 0), as in v1.1
    assert squad_exact_match("", "The") == 1.0
    assert squad_f1("", "The") == 0.0


def test_an_example_needs_a_gold_answer() -> None:
    with pytest.raises(ValueError, match="at least one gold"):
        squad_f1("x", [])


def test_record_em_and_f1_metrics() -> None:
    # example 1: exact (EM 1, F1 1)
    # example 2: "Paris France" vs golds ["Paris", "France"]: each gold overlaps 1 token,
    #   P 1/2, R 1 -> F1 2/3; EM 0
    # corpus: EM (1 + 0) / 2 = 1/2, F1 (1 + 2/3) / 2 = 5/6
    em, f1 = ExactMatch(), AnswerF1()
    for metric in (em, f1):
        metric.update(["Lionel Messi"], [["lionel messi", "Messi"]])
        metric.update(["Paris France"], [["Paris", "France"]])
    assert value(em) == pytest.approx(1 / 2)
    assert value(f1) == pytest.approx(5 / 6)


# ---------------------------------------------------------------------------------------------
# CMRC2018
# ---------------------------------------------------------------------------------------------


def test_cmrc_segment_mixes_characters_and_words() -> None:
    # CJK characters one by one, the runs between them word-tokenised, lowercased;
    # "《" "》" and "-" are on the script's punctuation list and vanish (keeping "e-mail" whole)
    assert cmrc_segment("2013年NBA总决赛") == ["2013", "年", "nba", "总", "决", "赛"]
    assert cmrc_segment("《Windows 10》系统e-mail") == ["windows", "10", "系", "统", "email"]
    # Treebank rules: a comma splits off unless a digit follows; other symbols stay attached
    assert cmrc_segment("约3,000万，SaaS,B2B") == ["约", "3,000", "万", "saas", ",", "b2b"]
    assert cmrc_segment("增长28.5％") == ["增", "长", "28.5％"]


def test_cmrc_exact_match_strips_only_the_script_punctuation() -> None:
    assert cmrc_exact_match("《红楼梦》", "红楼梦") == 1.0
    assert cmrc_exact_match("红楼梦。", ["水浒传", "红楼梦"]) == 1.0
    # ASCII "." is not on the official list, and its "……" entry never matches one character
    assert cmrc_exact_match("红楼梦.", "红楼梦") == 0.0
    assert cmrc_exact_match("红楼梦……", "红楼梦") == 0.0


def test_cmrc_f1_uses_the_longest_common_substring() -> None:
    # gold [北,京,大,学], pred [北,京,的,大,学]: longest contiguous common run is 2
    # P 2/5, R 2/4 -> F1 = 2 * 0.2 / 0.9 = 4/9  (a bag-of-characters F1 would give 8/9)
    assert cmrc_f1("北京的大学", "北京大学") == pytest.approx(4 / 9)
    # gold [2013, 年], pred [2013, 年, nba]: LCS 2, P 2/3, R 1 -> F1 (4/3)/(5/3) = 4/5
    assert cmrc_f1("2013年NBA", ["上海", "2013年"]) == pytest.approx(4 / 5)
    assert cmrc_f1("上海", "北京") == 0.0


def test_chinese_em_and_f1_metrics() -> None:
    # example 1: EM 1, F1 1; example 2: EM 0, F1 4/9 (previous test)
    # corpus EM 1/2, F1 (1 + 4/9) / 2 = 13/18
    em, f1 = build_metric("em", language="zh"), build_metric("f1", language="zh")
    for metric in (em, f1):
        metric.update(["《红楼梦》", "北京的大学"], ["红楼梦", ["北京大学"]])
    assert value(em) == pytest.approx(1 / 2)
    assert value(f1) == pytest.approx(13 / 18)


# ---------------------------------------------------------------------------------------------
# MultiRC
# ---------------------------------------------------------------------------------------------

# three questions, six answer options
MULTIRC_IDS = ["p0-q0", "p0-q0", "p0-q0", "p0-q1", "p0-q1", "p1-q0"]
MULTIRC_GOLD = [1, 0, 1, 0, 1, 0]
MULTIRC_PRED = [1, 0, 1, 0, 0, 1]


def test_multirc_em_and_f1a_by_hand() -> None:
    # EM: p0-q0 all 3 right; p0-q1 misses its 2nd option; p1-q0 wrong -> 1/3
    # F1a over all options: gold positives {0, 2, 4}, predicted {0, 2, 5}: tp 2, fp 1, fn 1
    #   -> 2*2 / (2*2 + 1 + 1) = 2/3
    em, f1a = MultiRCExactMatch(), F1a()
    em.update(MULTIRC_PRED, MULTIRC_GOLD, MULTIRC_IDS)
    f1a.update(MULTIRC_PRED, MULTIRC_GOLD)
    assert value(em) == pytest.approx(1 / 3)
    assert value(f1a) == pytest.approx(2 / 3)


def test_multirc_groups_a_question_split_over_batches() -> None:
    # p0-q1's two options land in different batches and are still judged together: EM 1/3
    # again; int and tuple ids work as well as strings
    em = MultiRCExactMatch()
    em.update(MULTIRC_PRED[:4], MULTIRC_GOLD[:4], [(0, 0), (0, 0), (0, 0), (0, 1)])
    em.update(MULTIRC_PRED[4:], MULTIRC_GOLD[4:], [(0, 1), (1, 0)])
    assert value(em) == pytest.approx(1 / 3)
    ints = MultiRCExactMatch()
    ints.update(torch.tensor(MULTIRC_PRED), torch.tensor(MULTIRC_GOLD), torch.tensor([7, 7, 7, 3, 3, 9]))
    assert value(ints) == pytest.approx(1 / 3)


def test_multirc_through_a_metric_collection() -> None:
    # the collection hands question_ids to multirc_em only; f1a's update never sees it
    collection = build_metrics(["f1a", "multirc_em"])
    collection.update(MULTIRC_PRED, MULTIRC_GOLD, question_ids=MULTIRC_IDS)
    results = collection.compute()
    assert float(results["f1a"]) == pytest.approx(2 / 3)
    assert float(results["multirc_em"]) == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------------------------
# ROUGE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("caresses", "caress"),  # sses -> ss
        ("ponies", "poni"),  # ies -> i
        ("ties", "tie"),  # NLTK: four-letter -ies -> -ie
        ("running", "run"),  # -ing, then the double n is undoubled
        ("falling", "fall"),  # ...but a double l is kept
        ("filing", "file"),  # m=1 and cvc: the e comes back
        ("happy", "happi"),  # y -> i after a consonant
        ("enjoy", "enjoy"),  # ...not after a vowel (NLTK)
        ("relational", "relat"),  # ational -> ate (step 2), then -ate goes (step 4)
        ("generalization", "gener"),
        ("geology", "geolog"),  # NLTK's logi -> log
        ("dying", "die"),  # irregular form
        ("is", "is"),  # two letters: untouched
    ],
)
def test_porter_stem(word: str, stem: str) -> None:
    assert porter_stem(word) == stem


def test_rouge_tokenize() -> None:
    # lowercase, anything outside a-z0-9 separates tokens, non-ASCII text disappears in "en"
    assert rouge_tokenize("The U.S.-based co. (2024) 北京") == ["the", "u", "s", "based", "co", "2024"]
    # stemming only touches tokens longer than 3 characters ("dogs" -> "dog", "was" stays)
    assert rouge_tokenize("Dogs was running", use_stemmer=True) == ["dog", "was", "run"]
    # zh: NFKC turns full-width ＧＬＭ / ２０２２ into ASCII, each CJK character is a token
    assert rouge_tokenize("ＧＬＭ模型２０２２年，很好！", "zh") == ["glm", "模", "型", "2022", "年", "很", "好"]


def test_rouge_english_by_hand() -> None:
    # pred [the cat sat on the mat], ref [the cat is on the mat], 6 tokens each
    # R1: overlap the*2 + cat + on + mat = 5 -> P = R = 5/6
    # R2: pred bigrams {the-cat, cat-sat, sat-on, on-the, the-mat}, ref {the-cat, cat-is, is-on,
    #     on-the, the-mat}: overlap 3 of 5 each -> 3/5
    # RL: LCS "the cat on the mat" = 5 -> 5/6
    pred, ref = "The cat sat on the mat.", "the cat is on the mat"
    assert rouge_f(pred, ref, "rouge1") == pytest.approx(5 / 6)
    assert rouge_f(pred, ref, "rouge2") == pytest.approx(3 / 5)
    assert rouge_f(pred, ref, "rougeL") == pytest.approx(5 / 6)


def test_rouge_stemming() -> None:
    # unstemmed [running, dogs] vs [the, dog, runs] share nothing; stemmed [run, dog] vs
    # [the, dog, run] share 2: P 2/2, R 2/3 -> F = 2 * (2/3) / (5/3) = 4/5
    assert rouge_f("running dogs", "the dog runs", "rouge1") == 0.0
    assert rouge_f("running dogs", "the dog runs", "rouge1", use_stemmer=True) == pytest.approx(4 / 5)


def test_rouge_lsum_by_hand() -> None:
    # Sentences swapped: rougeL on the flat sequences [one two three four] / [three four one two]
    # has LCS 2 -> 1/2, but rougeLsum matches each reference line against every predicted line
    # (union LCS): "one two" gets 2 hits, "three four" 2 hits -> 4/4 -> 1.
    pred, ref = "three four\none two", "one two\nthree four"
    assert rouge_f(pred, ref, "rougeL") == pytest.approx(1 / 2)
    assert rouge_f(pred, ref, "rougeLsum") == pytest.approx(1.0)
    # ties decide the union: the reference line [cat, cat] has LCS 1 with each predicted line
    # [cat], and rouge_score's backtrack picks reference position 1 both times, so the union is
    # one hit: P 1/2, R 1/2 -> 1/2 (choosing positions 0 and 1 would give 1)
    assert rouge_f("cat\ncat", "cat cat", "rougeLsum") == pytest.approx(1 / 2)


def test_rouge_chinese_is_character_level() -> None:
    # [我 爱 北 京] vs [我 爱 上 海]: R1 overlap 2/4 -> 1/2; R2 bigrams {我爱, 爱北, 北京} vs
    # {我爱, 爱上, 上海} -> 1/3; RL LCS 我爱 = 2 -> 1/2
    metric = {variant: Rouge(variant, language="zh") for variant in ("rouge1", "rouge2", "rougeL")}
    for rouge in metric.values():
        rouge.update(["我爱北京。"], ["我爱上海"])
    assert value(metric["rouge1"]) == pytest.approx(1 / 2)
    assert value(metric["rouge2"]) == pytest.approx(1 / 3)
    assert value(metric["rougeL"]) == pytest.approx(1 / 2)


def test_rouge_takes_the_best_reference_and_averages_examples() -> None:
    # example 1: refs "a b" (R1 F 1) and "c" (0) -> 1; example 2: "x y" vs "x z": P = R = 1/2
    # -> 1/2; empty prediction scores 0. Mean over 3 examples = (1 + 1/2 + 0) / 3 = 1/2
    metric = build_metric("rouge1")
    metric.update(["a b", "x y", ""], [["c", "a b"], "x z", "x"])
    assert value(metric) == pytest.approx(1 / 2)


# ---------------------------------------------------------------------------------------------
# Every metric: accumulation, process merge, empty input, mismatched lengths
# ---------------------------------------------------------------------------------------------

# (factory, batch 1 arguments, batch 2 arguments)
ACCUMULATION_CASES: list[tuple[str, Callable[[], Metric], tuple[list[Any], ...], tuple[list[Any], ...]]] = [
    ("accuracy", lambda: Accuracy(3), ([0, 2, 1], [0, 1, 1]), ([2, 2], [2, 0])),
    ("choice_accuracy", ChoiceAccuracy, ([4, 0], [4, 1]), ([7], [7])),
    ("f1_macro", lambda: MacroF1(3), ([0, 2, 1], [0, 1, 1]), ([2, 2], [2, 0])),
    ("mcc", lambda: MatthewsCorrCoef(2), ([1, 0, 1], [1, 1, 0]), ([0, 0], [0, 1])),
    ("f1a", F1a, ([1, 0, 1], [1, 1, 0]), ([0, 1], [0, 1])),
    ("multirc_em", MultiRCExactMatch, ([1, 0, 1], [1, 0, 0], ["a", "a", "b"]), ([0, 1], [0, 1], ["b", "c"])),
    ("em", ExactMatch, (["the cat", "dog"], ["Cat", ["a dog", "cat"]]), (["x y"], ["x"])),
    ("f1", AnswerF1, (["the cat", "big dog"], ["Cat", ["a dog", "cat"]]), (["x y"], ["x"])),
    ("f1_zh", lambda: AnswerF1("zh"), (["北京的大学"], ["北京大学"]), (["上海市"], [["上海", "北京"]])),
    ("rougeL", lambda: Rouge("rougeL"), (["a b c", "d"], ["a c", "d e"]), (["f g"], ["g f"])),
    ("rouge2_zh", lambda: Rouge("rouge2", "zh"), (["我爱北京"], ["我爱上海"]), (["天安门"], ["北京天安门"])),
]
CASE_IDS = [case[0] for case in ACCUMULATION_CASES]


@pytest.mark.parametrize(("name", "factory", "first", "second"), ACCUMULATION_CASES, ids=CASE_IDS)
def test_two_updates_equal_one_update_on_the_concatenation(
    name: str, factory: Callable[[], Metric], first: tuple[list[Any], ...], second: tuple[list[Any], ...]
) -> None:
    split, whole = factory(), factory()
    split.update(*first)
    split.update(*second)
    whole.update(*(a + b for a, b in zip(first, second, strict=True)))
    assert value(split) == pytest.approx(value(whole))


@pytest.mark.parametrize(("name", "factory", "first", "second"), ACCUMULATION_CASES, ids=CASE_IDS)
def test_merging_process_states_equals_one_process(
    name: str, factory: Callable[[], Metric], first: tuple[list[Any], ...], second: tuple[list[Any], ...]
) -> None:
    # merge_state applies each state's dist_reduce_fx, the same reduction a multi-process sync does
    rank0, rank1, single = factory(), factory(), factory()
    rank0.update(*first)
    rank1.update(*second)
    rank0.merge_state(rank1)
    single.update(*(a + b for a, b in zip(first, second, strict=True)))
    assert value(rank0) == pytest.approx(value(single))


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
@pytest.mark.parametrize(("name", "factory", "first", "second"), ACCUMULATION_CASES, ids=CASE_IDS)
def test_empty_input_is_an_error(
    name: str, factory: Callable[[], Metric], first: tuple[list[Any], ...], second: tuple[list[Any], ...]
) -> None:
    with pytest.raises(EmptyMetricError):
        factory().compute()
    metric = factory()
    metric.update(*([] for _ in first))
    with pytest.raises(EmptyMetricError):
        metric.compute()


@pytest.mark.parametrize(
    "metric", [ChoiceAccuracy(), ExactMatch(), Rouge(), MultiRCExactMatch()], ids=lambda m: type(m).__name__
)
def test_mismatched_lengths_are_an_error(metric: Metric) -> None:
    args: tuple[list[Any], ...] = (["a", "b"], ["a"]) if isinstance(metric, ExactMatch | Rouge) else ([1, 0], [1])
    if isinstance(metric, MultiRCExactMatch):
        args = ([1, 0], [1, 0], ["q"])
    with pytest.raises(ValueError, match="predictions"):
        metric.update(*args)


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


def test_registry_builds_every_named_metric() -> None:
    names = ["accuracy", "f1_macro", "mcc", "em", "f1", "f1a", "multirc_em", "rouge1", "rouge2", "rougeL"]
    assert set(names) <= set(available_metrics())
    options = {"accuracy": {"num_classes": 2}, "f1_macro": {"num_classes": 3}, "mcc": {"num_classes": 2}}
    for name in available_metrics():
        assert isinstance(build_metric(name, **options.get(name, {})), Metric)
    assert isinstance(build_metric("accuracy"), ChoiceAccuracy)
    assert isinstance(build_metric("accuracy", num_classes=3), Accuracy)


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'bleu'.*accuracy.*rougeL"):
        build_metric("bleu")


def test_missing_or_wrong_options_name_the_metric() -> None:
    with pytest.raises(TypeError, match="'f1_macro'"):
        build_metric("f1_macro")
    with pytest.raises(TypeError, match="'em'"):
        build_metric("em", num_classes=3)


def test_build_metrics_routes_options_to_the_metrics_that_take_them() -> None:
    # CB: accuracy 3/4 = 0.75 (gold [0,1,2,2], pred [0,1,2,1]); macro-F1: class 0 1, class 1
    # 2/(2+1) = 2/3, class 2 2/(2+0+1) = 2/3 -> (1 + 2/3 + 2/3) / 3 = 7/9
    collection = build_metrics(["accuracy", "f1_macro", "em"], num_classes=3)
    assert isinstance(collection["accuracy"], Accuracy)
    cb = build_metrics(["accuracy", "f1_macro"], num_classes=3)
    cb.update([0, 1, 2, 1], [0, 1, 2, 2])
    results = cb.compute()
    assert float(results["accuracy"]) == pytest.approx(3 / 4)
    assert float(results["f1_macro"]) == pytest.approx(7 / 9)
    with pytest.raises(TypeError, match="use_stemmer"):
        build_metrics(["accuracy", "f1"], use_stemmer=True)


def test_register_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_REGISTRY", dict(metrics._REGISTRY))
    register_metric("choice_accuracy", ChoiceAccuracy)
    assert isinstance(build_metric("choice_accuracy"), ChoiceAccuracy)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("accuracy", ChoiceAccuracy)


# ---------------------------------------------------------------------------------------------
# Benchmark averages
# ---------------------------------------------------------------------------------------------

# GLM paper Table 1 (GLM-NOTES part 2, section 6): ReCoRD F1/Acc, COPA, WSC, RTE, BoolQ, WiC,
# CB F1/Acc, MultiRC F1a/EM, published average.
SUPERGLUE_ROWS = {
    "BERT_Large": ((76.3, 75.6), 69.0, 64.4, 73.6, 80.1, 71.0, (94.8, 92.9), (71.9, 24.1), 72.0),
    "GLM_Base": ((73.5, 72.8), 71.0, 72.1, 71.2, 77.0, 64.7, (89.5, 85.7), (72.1, 26.1), 70.7),
    "GLM_Large": ((81.7, 81.1), 76.0, 81.7, 74.0, 82.1, 68.5, (96.1, 94.6), (77.1, 36.3), 77.0),
    "T5_Large": ((85.7, 85.0), 78.0, 84.6, 84.8, 84.3, 71.6, (96.4, 98.2), (80.9, 46.6), 81.2),
    "RoBERTa_Large": ((89.0, 88.4), 90.0, 63.5, 87.0, 86.1, 72.6, (96.1, 94.6), (84.4, 52.9), 81.5),
    "GLM_RoBERTa": ((89.6, 89.0), 82.0, 83.7, 87.7, 84.7, 71.2, (98.7, 98.2), (82.4, 50.1), 82.9),
}


def superglue_results(row: tuple[Any, ...]) -> dict[str, Any]:
    record, copa, wsc, rte, boolq, wic, cb, multirc, _ = row
    return {
        "ReCoRD": record, "COPA": copa, "WSC": wsc, "RTE": rte,
        "BoolQ": boolq, "WiC": wic, "CB": cb, "MultiRC": multirc,
    }  # fmt: skip


def test_superglue_glm_large_by_hand() -> None:
    # task scores: ReCoRD (81.7+81.1)/2 = 81.4, COPA 76.0, WSC 81.7, RTE 74.0, BoolQ 82.1,
    # WiC 68.5, CB (96.1+94.6)/2 = 95.35, MultiRC (77.1+36.3)/2 = 56.7
    # sum 615.75 over 8 tasks = 76.96875, published as 77.0
    assert SUPERGLUE.score(superglue_results(SUPERGLUE_ROWS["GLM_Large"])) == pytest.approx(76.96875)


@pytest.mark.parametrize("model", list(SUPERGLUE_ROWS))
def test_superglue_reproduces_the_paper_averages(model: str) -> None:
    # the published average is rounded to one decimal: within 0.05 of our mean
    row = SUPERGLUE_ROWS[model]
    assert abs(SUPERGLUE.score(superglue_results(row)) - row[-1]) <= 0.05 + 1e-9


def test_superglue_takes_metric_dicts_in_fractions() -> None:
    # the same GLM_Large row as computed metrics (fractions, registry names): 0.7696875
    row = superglue_results(SUPERGLUE_ROWS["GLM_Large"])
    as_fractions = {task: [x / 100 for x in v] if isinstance(v, tuple) else v / 100 for task, v in row.items()}
    as_fractions["CB"] = {"f1_macro": 0.961, "accuracy": 0.946, "loss": 0.1}  # extra keys ignored
    as_fractions["ReCoRD"] = {"f1": 0.817, "em": 0.811}
    as_fractions["MultiRC"] = {"f1a": 0.771, "multirc_em": 0.363}
    as_fractions["AXb"] = 0.3  # diagnostics are allowed but not scored
    assert SUPERGLUE.score(as_fractions) == pytest.approx(0.7696875)


FEWCLUE_PET = {
    "eprstmt": 78.6, "bustm": 64.0, "ocnli": 43.9, "csldcp": 56.9, "tnews": 51.2,
    "cluewsc": 50.0, "iflytek": 35.1, "csl": 55.0, "chid": 61.3,
}  # fmt: skip


def test_fewclue_pet_leaves_chid_out() -> None:
    # all nine tasks sum to 496.0 -> 55.11, not the published 54.34. The FewCLUE README says
    # CHID is not yet in the Score: (496.0 - 61.3) / 8 = 434.7 / 8 = 54.3375 -> 54.34
    assert math.fsum(FEWCLUE_PET.values()) / 9 == pytest.approx(55.1111, abs=1e-4)
    assert FEWCLUE.score(FEWCLUE_PET) == pytest.approx(54.3375)


def test_fewclue_ptuning_row() -> None:
    # PtuningB: 88.5+65.4+35.0+44.4+48.2+51.0+32.0+50.0 = 414.5 -> /8 = 51.8125, published 51.81
    row = {
        "eprstmt": 88.5, "bustm": 65.4, "ocnli": 35.0, "csldcp": 44.4, "tnews": 48.2,
        "cluewsc": 51.0, "iflytek": 32.0, "csl": 50.0, "chid": 57.6,
    }  # fmt: skip
    assert FEWCLUE.score(row) == pytest.approx(51.8125)


def test_clue_leaderboards() -> None:
    # PaddleNLP's CLUE benchmark README, BERT-base. Classification: 73.70+56.58+60.29+79.69+62.0
    # +80.36 = 412.62 -> /6 = 68.77. Reading comprehension, CMRC2018 by EM: 71.60+82.04+64.50
    # = 218.14 -> /3 = 72.7133, published 72.71
    classification = {
        "afqmc": 73.70,
        "tnews": 56.58,
        "iflytek": 60.29,
        "cmnli": 79.69,
        "cluewsc2020": 62.0,
        "csl": 80.36,
    }
    assert CLUE_CLASSIFICATION.score(classification) == pytest.approx(68.77)
    reading = {"cmrc2018": {"em": 71.60, "f1": 88.0}, "chid": 82.04, "c3": 64.50}
    assert CLUE_READING.score(reading) == pytest.approx(218.14 / 3)


def test_benchmark_errors() -> None:
    results = superglue_results(SUPERGLUE_ROWS["GLM_Large"])
    with pytest.raises(ValueError, match=r"missing tasks \['boolq'\]"):
        SUPERGLUE.score({task: v for task, v in results.items() if task != "BoolQ"})
    with pytest.raises(ValueError, match=r"unknown tasks \['mnli'\]"):
        SUPERGLUE.score({**results, "mnli": 80.0})
    with pytest.raises(ValueError, match="expected 2 values"):
        SUPERGLUE.score({**results, "CB": (96.1,)})
    with pytest.raises(ValueError, match=r"lacks \['accuracy'\]"):
        SUPERGLUE.score({**results, "CB": {"f1_macro": 96.1}})
    assert SUPERGLUE.task_score("CB", {"f1_macro": 96.1, "accuracy": 94.6}) == pytest.approx(95.35)
    custom = Benchmark("two tasks", {"a": ("accuracy",), "b": ("accuracy",)})
    assert custom.score({"a": 1.0, "b": 0.5}) == pytest.approx(0.75)


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def test_results_table() -> None:
    results = {
        "cb": {"accuracy": 0.9464, "f1_macro": 0.961},
        "copa": {"accuracy": torch.tensor(0.76)},
        "superglue": 0.77,
    }
    assert results_table(results) == (
        "           accuracy  f1_macro   value\n"
        "---------  --------  --------  ------\n"
        "cb           0.9464    0.9610       -\n"
        "copa         0.7600         -       -\n"
        "superglue         -         -  0.7700"
    )
    assert results_table({"mcc": -0.25}) == "       value\n---  -------\nmcc  -0.2500"


def test_results_json() -> None:
    results = {"record": {"em": torch.tensor(0.5, dtype=torch.float64), "f1": 2 / 3}, "bad": float("nan")}
    assert json.loads(results_json(results)) == {"record": {"em": 0.5, "f1": 2 / 3}, "bad": None}
