"""Verbalizers: files, checks with the real tokenizers, single/multi-token paths, combination."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

from glm_tune.cloze.verbalizer import Verbalizer, VerbalizerError, combine

TNEWS_WORDS = "故事 文化 娱乐 体育 金融 居家 汽车 教育 科技 军事 旅游 世界 股票 农业 游戏".split()
TNEWS_CODES = ["100", "101", "102", "103", "104", "106", "107", "108", "109", "110", "112", "113", "114", "115", "116"]



# --- building ------------------------------------------------------------------------------


def test_from_python():
    v = Verbalizer({"0": " terrible", "1": [" great", " good"]})
    assert v.labels == ("0", "1") and len(v) == 2
    assert v.words == {"0": (" terrible",), "1": (" great", " good")}
    assert v.index("1") == 1


def test_construction_errors():
    with pytest.raises(VerbalizerError, match="labels '0' and '1' share the word ' great'"):
        Verbalizer({"0": [" great"], "1": [" good", " great"]})
    with pytest.raises(VerbalizerError, match="label '1' has an empty word"):
        Verbalizer({"0": [" bad"], "1": [" "]})
    with pytest.raises(VerbalizerError, match="label '1' has no words"):
        Verbalizer({"0": [" bad"], "1": []})
    with pytest.raises(VerbalizerError, match="lists the word ' bad' twice"):
        Verbalizer({"0": [" bad", " bad"]})
    with pytest.raises(VerbalizerError, match=r"label 100 \(int\) is not a string"):
        Verbalizer({100: ["故事"]})


def test_builtin_files():
    sst2 = Verbalizer.from_file("sst2", pattern_id=0)
    assert sst2.words == {"0": (" terrible",), "1": (" great",)}
    assert Verbalizer.from_file("sst2", pattern_id=1).words == {"0": (" bad",), "1": (" good",)}
    tnews = Verbalizer.from_file("tnews")  # one pattern: no id needed
    assert list(tnews.labels) == TNEWS_CODES
    assert [w for (w,) in tnews.words.values()] == TNEWS_WORDS
    with pytest.raises(VerbalizerError, match=r"no pattern 3; known pattern ids: \['0', '1'\]"):
        Verbalizer.from_file("sst2", pattern_id=3)
    with pytest.raises(VerbalizerError, match="pass pattern_id"):
        Verbalizer.from_file("sst2")
    with pytest.raises(VerbalizerError, match="built-in: .*'sst2'.*'tnews'"):
        Verbalizer.from_file("no-such-task")


def test_tnews_codes_match_the_data(shared):
    """The file's label codes are the CLUE codes, paired with the right label_desc."""
    descs = {}
    with open(shared / "data" / "fewclue" / "tnews" / "train_few_all.json", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            descs[str(row["label"])] = row["label_desc"]
    assert sorted(descs) == TNEWS_CODES
    tnews = Verbalizer.from_file("tnews")
    tnews.check_labels(descs, source="train_few_all.json")
    expected = {"news_finance": "金融", "news_house": "居家", "news_world": "世界", "news_game": "游戏", "news_car": "汽车"}
    for code, desc in descs.items():
        if desc in expected:
            assert tnews.words[code] == (expected[desc],)


def test_user_files_json_and_yaml(tmp_path):
    (tmp_path / "rte.json").write_text(json.dumps({"labels": {"entailment": " Yes", "not_entailment": " No"}}))
    assert Verbalizer.from_file(tmp_path / "rte.json", pattern_id=2).labels == ("entailment", "not_entailment")
    wanke = 'description: FlagAI Wanke\nlabels:\n  "0": [中立]\n  "1": [利好]\n  "2": 利空\n'
    (tmp_path / "wanke.yaml").write_text(wanke, encoding="utf-8")
    assert Verbalizer.from_file(str(tmp_path / "wanke.yaml")).words["2"] == ("利空",)
    (tmp_path / "bad.yaml").write_text("labels:\n  100: [故事]\n", encoding="utf-8")
    with pytest.raises(VerbalizerError, match="not a string.*quote it in YAML"):
        Verbalizer.from_file(tmp_path / "bad.yaml")
    (tmp_path / "typo.json").write_text(json.dumps({"label": {"0": "a"}}))
    with pytest.raises(VerbalizerError, match="unknown keys"):
        Verbalizer.from_file(tmp_path / "typo.json")


def test_check_labels_names_label_and_source():
    v = Verbalizer.from_file("sst2", pattern_id=0)
    v.check_labels(["0", "1", "1"])
    expected = r"label '2' in dev.tsv is not in the verbalizer \(from .*sst2.json \(pattern 0\)\)"
    with pytest.raises(VerbalizerError, match=expected):
        v.check_labels(["0", "2"], source="dev.tsv")
    with pytest.raises(VerbalizerError, match="convert them with str"):
        v.check_labels([0, 1], source="train.tsv")


# --- tokenizing ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_sst2_single_token(request, name):
    tok = request.getfixturevalue(name)
    labels = Verbalizer.from_file("sst2", pattern_id=0).tokenize(tok)
    assert labels.single_token
    expected = [tok.encode(word, add_special_tokens=False)[0] for word in (" terrible", " great")]
    assert labels.single_token_ids == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert labels.scoring_path() == "single_token"


def test_tnews_words_with_chinese_sentencepiece(zh):
    """Encoded on its own, only 居家 splits (into the bare word-start piece and 居家)."""
    labels = Verbalizer.from_file("tnews").tokenize(zh)
    lengths = {word: len(ids) for (word,), (ids,) in zip(labels.words, labels.token_ids)}
    assert {w for w, n in lengths.items() if n > 1} == {"居家"}
    assert [zh.decode([i]) for i in labels.token_ids[5][0]] == ["", "居家"]
    assert not labels.single_token
    assert labels.multi_token_words() == {"106": ["居家"]}
    with pytest.warns(UserWarning, match=r"106: '居家' -> 2 tokens.*exact multi-token path will be used"):
        assert labels.scoring_path(prefer_single_token=True) == "multi_token"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert labels.scoring_path(prefer_single_token=False) == "multi_token"
    with pytest.raises(VerbalizerError, match="several tokens"):
        labels.single_token_ids
    assert len(labels.candidates) == 15 and labels.word_label == list(range(15))


def test_tnews_words_as_continuations_are_single_pieces(zh):
    """After other text (as after "类别：" in the pattern) every TNEWS word is one piece."""
    labels = Verbalizer.from_file("tnews").tokenize(zh, continuation=True)
    assert labels.single_token
    assert [zh.decode([i]) for i in labels.single_token_ids] == TNEWS_WORDS
    whole = zh.encode("类别：居家", add_special_tokens=False)
    assert labels.candidates[5] == whole[-1:] == [22761]
    assert Verbalizer.from_file("tnews").tokenize(zh).candidates[5] == [43358, 22761]


def test_english_words_same_either_way(bert, gpt2):
    sst2 = Verbalizer.from_file("sst2", pattern_id=1)
    for tok in (bert, gpt2):
        assert sst2.tokenize(tok, continuation=True) == sst2.tokenize(tok)


def test_multi_token_english_word_warns(gpt2):
    labels = Verbalizer({"0": [" No"], "1": [" Yes", " absolutely certain"]}).tokenize(gpt2)
    assert labels.candidates[2] == gpt2.encode(" absolutely certain", add_special_tokens=False)
    with pytest.warns(UserWarning, match="' absolutely certain' -> 2 tokens"):
        assert labels.scoring_path() == "multi_token"


def test_unknown_word_is_rejected(zh):
    with pytest.raises(VerbalizerError, match=r"label '1': word '😀' contains a piece unknown to .*glm-chinese"):
        Verbalizer({"0": ["好"], "1": ["😀"]}).tokenize(zh)


def test_words_that_tokenize_alike_are_rejected(bert):
    with pytest.raises(VerbalizerError, match=r"labels '0' and '1': words ' Yes' and ' yes' encode to the same ids"):
        Verbalizer({"0": [" Yes"], "1": [" yes"]}).tokenize(bert)  # an uncased vocabulary


def test_special_token_word_is_rejected(gpt2):
    with pytest.raises(VerbalizerError, match="encodes to a special token"):
        Verbalizer({"0": [" No"], "1": ["[MASK]"]}).tokenize(gpt2)


# --- combining word scores -----------------------------------------------------------------


def test_combine_by_hand():
    scores = torch.log(torch.tensor([0.1, 0.3]))
    assert combine(scores).item() == pytest.approx(math.log(0.4))
    assert combine(scores, "max").item() == pytest.approx(math.log(0.3))
    with pytest.raises(ValueError, match="unknown combination"):
        combine(scores, "mean")


def test_label_scores_by_hand(gpt2):
    verbalized = Verbalizer({"neg": [" bad", " awful"], "pos": [" good"]}).tokenize(gpt2)
    assert verbalized.words_per_label == [2, 1] and verbalized.word_label == [0, 0, 1]
    word_probs = torch.tensor([[0.2, 0.1, 0.5], [0.05, 0.05, 0.6]])  # [batch, words]
    out = verbalized.label_scores(word_probs.log())
    expected = torch.tensor([[math.log(0.3), math.log(0.5)], [math.log(0.1), math.log(0.6)]])
    torch.testing.assert_close(out, expected)
    out_max = verbalized.label_scores(word_probs.log(), how="max")
    torch.testing.assert_close(out_max, torch.tensor([[math.log(0.2), math.log(0.5)], [math.log(0.05), math.log(0.6)]]))
    with pytest.raises(ValueError, match="has 2 scores"):
        verbalized.label_scores(torch.zeros(2, 2))
