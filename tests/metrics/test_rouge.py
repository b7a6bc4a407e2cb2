"""Tests for glm_tune.metrics.rouge: rouge_score with the Chinese character tokenizer.

tests/metrics/test_metrics.py checks the scores through the package's public names; these check the
tokenizer handed to rouge_score and the errors. Expected values are worked out by hand.
"""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from glm_tune.metrics import ChineseTokenizer, Rouge, build_metric, rouge_f, rouge_tokenize


def test_chinese_tokenizer_works_inside_rouge_score() -> None:
    # [北 京 欢 迎 你] vs [北 京 欢 迎 您]: 4 of 5 characters shared -> P = R = F = 4/5; without
    # it rouge_score's own tokenizer sees no token at all and scores 0
    scorer = rouge_scorer.RougeScorer(["rouge1"], tokenizer=ChineseTokenizer())
    assert scorer.score("北京欢迎您", "北京欢迎你")["rouge1"].fmeasure == pytest.approx(4 / 5)
    assert rouge_scorer.RougeScorer(["rouge1"]).score("北京欢迎您", "北京欢迎你")["rouge1"].fmeasure == 0.0


def test_chinese_tokenizer_stems_ascii_runs_when_asked() -> None:
    assert ChineseTokenizer().tokenize("Running模型") == ["running", "模", "型"]
    assert ChineseTokenizer(use_stemmer=True).tokenize("Running模型") == ["run", "模", "型"]


def test_chinese_rouge_lsum_reads_one_sentence_per_line() -> None:
    # reference lines [我 爱 你] [他 走 了], prediction lines [他 走 了] [我 爱 你]: each
    # reference line is matched whole by one predicted line -> 6 hits of 6 -> 1; flat rougeL
    # over [他走了我爱你] vs [我爱你他走了] has LCS 3 -> 1/2
    assert rouge_f("他走了\n我爱你", "我爱你\n他走了", "rougeLsum", "zh") == pytest.approx(1.0)
    assert rouge_f("他走了\n我爱你", "我爱你\n他走了", "rougeL", "zh") == pytest.approx(1 / 2)


def test_a_multi_reference_example_takes_the_best_reference() -> None:
    # refs [上 海] (F 0) and [北 京 大 学] (2 of 2 predicted, 2 of 4 gold: F = 2/3) -> 2/3
    metric = build_metric("rouge1", language="zh")
    metric.update(["北京"], [["上海", "北京大学"]])
    assert float(metric.compute()) == pytest.approx(2 / 3)


def test_unknown_language_or_variant_is_an_error() -> None:
    with pytest.raises(ValueError, match="language must be 'en' or 'zh', got 'fr'"):
        rouge_tokenize("bonjour", "fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="language must be 'en' or 'zh', got 'fr'"):
        Rouge("rouge1", "fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="variant must be one of"):
        rouge_f("a", "a", "rouge3")  # type: ignore[arg-type]
