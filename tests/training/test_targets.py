"""Generation targets without a bare SentencePiece word-start piece, and training contexts that
keep their answer (glm_tune.training.targets), on glm-tiny's tokenizer and the real CMRC 2018 trial file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import glm_tune
from glm_tune.cloze.template import encode_piece
from glm_tune.task.registry import get_task
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.data import ClozeDataModule, DataOptions
from glm_tune.training.targets import WORD_START, answer_position, answer_window, encode_target


@pytest.fixture(scope="module")
def tiny():
    return load_tokenizer(Path(glm_tune.__file__).parent / "models" / "glm-tiny")


def test_chinese_target_ids_no_longer_begin_with_a_bare_word_start(tiny):
    text = "现存最大的古代宫殿建筑"
    plain = tiny.encode(text, add_special_tokens=False)
    assert tiny.convert_ids_to_tokens(plain[0]) == WORD_START  # the piece the fix removes
    ids = encode_target(tiny, text)
    assert ids == plain[1:] and tiny.convert_ids_to_tokens(ids[0]) == "现"
    # The rest is the text's encoding in the middle of a line, and spells the same text.
    assert ids == encode_piece(tiny, text, continues=True) and tiny.decode(ids) == tiny.decode(plain) == text


def test_a_word_start_merged_into_a_piece_stays(tiny, zh, golden_dir):
    # English words keep their word start; "▁北京" is one piece of glm-tiny's vocabulary.
    assert tiny.convert_ids_to_tokens(encode_target(tiny, "Hello world"))[0] == "▁He"
    assert tiny.convert_ids_to_tokens(encode_target(tiny, "北京")) == ["▁北京"]
    # cog-pretrain's target in the golden training inputs is encoded as the reference does.
    case = json.loads((golden_dir.parent / "tokenizer-zh.json").read_text(encoding="utf-8"))["training_inputs"]
    ids = encode_target(zh, case["target"])
    assert ids == [i for i in case["labels"][0] if i != -100][:-1]


def test_cmrc_training_rows_learn_targets_without_the_bare_piece(tiny, shared):
    options = DataOptions(data_dir=str(shared / "data" / "cmrc2018"), train_split="trial", train_limit=40,
                          max_length=256, max_target_length=32, skip_bad_rows=True)
    data = ClozeDataModule(get_task("cmrc2018"), tiny, options)
    examples = data.split("trial").examples
    plain = [tiny.encode(r["answer"], add_special_tokens=False) for r in data.split("trial").rows]
    assert sum(tiny.convert_ids_to_tokens(p[0]) == WORD_START for p in plain) > len(plain) // 2
    assert not any(tiny.convert_ids_to_tokens(e.target[0]) == WORD_START for e in examples)


def _spelled(tokenizer, text: str) -> str:
    """Text as the tokenizer spells it back (SentencePiece normalises full-width punctuation)."""
    return tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)).replace(" ", "")


def test_training_contexts_keep_their_answer_and_evaluation_contexts_are_cut_as_given(tiny, shared):
    cmrc = shared / "data" / "cmrc2018"
    rows = get_task("cmrc2018").load_split("trial", cmrc, skip_bad_rows=True)[0].to_list()[:60]

    def contexts(train_split: str) -> list[str]:
        options = DataOptions(data_dir=str(cmrc), train_split=train_split, validation_split="trial", eval_limit=60,
                              train_limit=None, max_length=256, skip_bad_rows=True)
        data = ClozeDataModule(get_task("cmrc2018"), tiny, options)
        return [tiny.decode(e.context).replace(" ", "") for e in data.split("trial").examples[:60]]

    # With "trial" as the evaluation split its contexts are cut from the end; as the training
    # split (the first 60 rows, as train_limit=None keeps every row in file order) a cut that
    # would lose the answer moves to a window around it.
    evaluated = contexts("train")
    trained = contexts("trial")
    answers = [_spelled(tiny, r["answer"]) for r in rows]
    lost = [i for i, (c, a) in enumerate(zip(evaluated, answers)) if a not in c]
    assert len(lost) >= 10
    assert all(a in c for c, a in zip(trained, answers))
    # A row whose answer sits in the first half of what the cut keeps is left as it was.
    early = [i for i, (c, a) in enumerate(zip(evaluated, answers)) if 0 <= c.find(a) < len(c) // 2]
    assert len(early) >= 20 and all(trained[i] == evaluated[i] for i in early)


def test_answer_window_is_centred_on_the_answer_and_leaves_a_kept_answer_alone():
    context = "甲" * 300 + "答案" + "乙" * 100
    row = {"context": context, "answer": "答案", "answers": ["答案"], "answer_starts": [300]}
    assert answer_position(row) == (300, 302)
    windowed = answer_window(row, context_tokens=402, cut_tokens=201)
    width = int(402 * 201 / 402 * 0.9)
    assert len(windowed["context"]) == width and windowed["context"].index("答案") == (width - 2) // 2
    assert answer_window(row, context_tokens=402, cut_tokens=20) is None  # the answer survives the cut
    # A start that does not match the text is not trusted: the answer is looked up instead.
    assert answer_position({**row, "answer_starts": [5]}) == (300, 302)
    assert answer_position({**row, "answer": "缺"}) is None
