"""GLM's summary clean-up before ROUGE: short and repeated sentences dropped."""

from __future__ import annotations

from glm_tune.metrics.postprocess import clean_summary, sentences, words


def test_english_drops_sentences_of_four_words_or_fewer():
    text = "The cat sat on the mat. It was fine. A dog barked at the cat loudly!"
    assert clean_summary(text) == "The cat sat on the mat.\nA dog barked at the cat loudly!"


def test_english_drops_a_sentence_mostly_made_of_earlier_words():
    # 5 of the second sentence's 6 distinct words were seen: 0.83 > 0.7, a duplicate.
    text = "the cat sat on the mat today. the cat sat on the mat again. birds sing in green trees now."
    assert clean_summary(text).split("\n") == ["the cat sat on the mat today.", "birds sing in green trees now."]


def test_a_dropped_duplicate_still_counts_as_seen():
    # GLM adds every sentence's words to the history, kept or not.
    first, second, third = "a b c d e f g.", "a b c d e f h.", "g h i j k l m n."
    # third: distinct {g..n} = 8, seen g and h: 0.25, kept.
    assert clean_summary(f"{first} {second} {third}") == f"{first}\n{third}"


def test_chinese_counts_characters_as_words():
    assert words("北京2022年冬奥会", "zh") == ["北", "京", "2022", "年", "冬", "奥", "会"]
    assert sentences("故宫是故宫。故宫故宫故宫！北京的故宫很大") == ["故宫是故宫。", "故宫故宫故宫！", "北京的故宫很大"]
    # 4 characters or fewer go; a repeat of the first sentence goes.
    text = "故宫位于北京市中心。好的。故宫位于北京市中心。明清两代的皇家宫殿"
    assert clean_summary(text, "zh") == "故宫位于北京市中心。\n明清两代的皇家宫殿"


def test_nothing_left_is_an_empty_prediction():
    assert clean_summary("好的。", "zh") == "" and clean_summary("") == ""
