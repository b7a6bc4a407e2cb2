"""Seq2seq tasks: fixtures in the original formats, loading, the blank, targets, metrics."""

from __future__ import annotations

import json

import pytest

from glm_tune.task.readers import DataError
from glm_tune.task.registry import get_task


def _pairs(tmp_path, stem, sources, targets):
    (tmp_path / f"{stem}.source").write_text("".join(s + "\n" for s in sources))
    (tmp_path / f"{stem}.target").write_text("".join(t + "\n" for t in targets))


def test_cnn_dm_loads_with_sentence_breaks(tmp_path, gpt2):
    _pairs(tmp_path, "val", ["-LRB- CNN -RRB- The cat sat on the mat . It did n't move ."],
           ["The cat sat . <S_SEP> It did n't move ."])
    task = get_task("cnn_dm")
    data, report = task.load_split("validation", tmp_path)
    row = data[0]
    assert row["_source"].endswith("val.source:1")
    assert task.target(row) == "The cat sat .\nIt didn't move ."
    assert "<S_SEP>" not in row["source"] and row["source"].startswith("( CNN )")
    encoded = task.patterns[task.default_pattern_id].encode(row, gpt2, task.max_length)
    assert encoded.input_ids[1] == gpt2.mask_token_id and encoded.text.startswith("[MASK] Content: ( CNN )")
    sencoded = task.patterns[1].encode(row, gpt2, task.max_length)
    assert sencoded.input_ids[sencoded.mask_position] == gpt2.smask_token_id
    g = task.generation
    assert (g.strategy, g.num_beams, g.max_new_tokens, g.min_new_tokens, g.length_penalty, g.no_repeat_ngram_size) == (
        "beam", 5, 160, 55, 0.7, 3)
    metric = task.build_metrics()[task.metrics[-1]]
    metric.update([task.target(row)], [task.target(row)])
    assert float(metric.compute()) == pytest.approx(1.0)


@pytest.mark.parametrize("name,beams,max_new,min_new,lp", [("xsum", 6, 60, 10, 1.0), ("gigaword", 5, 32, 0, 0.6)])
def test_english_summaries(name, beams, max_new, min_new, lp, tmp_path, gpt2):
    _pairs(tmp_path, "train", ["police arrest man -lrb- ## -rrb- in city", "second source"],
           ["man arrested", "second summary"])
    task = get_task(name)
    data, _ = task.load_split("train", tmp_path)
    assert len(data) == 2 and task.target(data[1]) == "second summary"
    g = task.generation
    assert (g.num_beams, g.max_new_tokens, g.min_new_tokens, g.length_penalty) == (beams, max_new, min_new, lp)
    metric = task.build_metrics()["rouge1"]
    metric.update(["man arrested today"], ["man arrested"])
    assert 0.5 < float(metric.compute()) < 1.0


def test_lcsts_chinese(tmp_path, zh):
    (tmp_path / "test.tsv").write_text("北京天气晴朗\t新华社北京电，今天北京天气晴朗，气温回升。\n", encoding="utf-8")
    task = get_task("lcsts")
    data, _ = task.load_split("test", tmp_path)
    assert (data[0]["target"], data[0]["_source"][-10:]) == ("北京天气晴朗", "test.tsv:1")
    encoded = task.patterns[task.default_pattern_id].encode(data[0], zh, task.max_length)
    assert encoded.input_ids[encoded.mask_position] == zh.smask_token_id and encoded.mask_position == 1
    metric = task.build_metrics()["rouge1"]
    metric.update(["北京天气晴朗"], [task.target(data[0])])
    assert float(metric.compute()) == pytest.approx(1.0)


def test_source_target_mismatch_and_empty_lines(tmp_path):
    _pairs(tmp_path, "val", ["a", "b"], ["x"])
    with pytest.raises(DataError, match="val.source has 2 lines but val.target has 1"):
        get_task("xsum").load_split("validation", tmp_path)
    _pairs(tmp_path, "val", ["a", "", "c"], ["x", "y", "z"])
    with pytest.raises(DataError, match=r"val.source:2: missing field 'source'"):
        get_task("xsum").load_split("validation", tmp_path)
    data, report = get_task("xsum").load_split("validation", tmp_path, skip_bad_rows=True)
    assert data["target"] == ["x", "z"] and len(report.bad_rows) == 1


SQUAD = {
    "version": "1.1",
    "data": [{"title": "Cats", "paragraphs": [{
        "context": "The cat sat on the mat in Paris.",
        "qas": [
            {"id": "q1", "question": "Where did the cat sit?",
             "answers": [{"text": "on the mat", "answer_start": 8}, {"text": "on the mat", "answer_start": 8},
                         {"text": "the mat", "answer_start": 11}]},
            {"id": "q2", "question": "What sat?", "answers": []},
        ]}]}],
}


def test_squad_qg(tmp_path, gpt2):
    (tmp_path / "dev.json").write_text(json.dumps(SQUAD, indent=1))
    task = get_task("squad_qg")
    with pytest.raises(DataError, match=r"dev.json:\d+: missing field 'answers'"):
        task.load_split("validation", tmp_path)
    data, report = task.load_split("validation", tmp_path, skip_bad_rows=True)
    assert [r["answer"] for r in data] == ["on the mat", "the mat"] and len(report.bad_rows) == 1
    assert task.target(data[0]) == "Where did the cat sit?"
    encoded = task.patterns[task.default_pattern_id].encode(data[0], gpt2, task.max_length)
    assert encoded.text == "The cat sat on the mat in Paris. Question:[MASK] Answer: on the mat"
    assert encoded.input_ids[encoded.mask_position] == gpt2.mask_token_id
    metric = task.build_metrics()[task.metrics[0]]
    metric.update(["Where did the cat sit?"], [task.target(data[0])])
    assert float(metric.compute()) == pytest.approx(1.0)


def test_cmrc2018(tmp_path, zh):
    cmrc = {"version": "v1.0", "data": [{"id": "D1", "title": "", "paragraphs": [{
        "id": "D1_P1", "context": "故宫位于北京市中心，是明清两代的皇家宫殿。",
        "qas": [{"id": "D1_Q1", "question": "故宫位于哪里？",
                 "answers": [{"text": "北京市中心", "answer_start": 4}, {"text": "北京", "answer_start": 4}]}]}]}]}
    (tmp_path / "cmrc2018_train.json").write_text(json.dumps(cmrc, ensure_ascii=False, indent=2))
    task = get_task("cmrc2018")
    data, _ = task.load_split("train", tmp_path)
    row = data[0]
    assert task.target(row) == "北京市中心" and task.gold_texts(row) == ["北京市中心", "北京"]
    assert row["_source"].endswith("cmrc2018_train.json:13")  # the line of the question's "id"
    encoded = task.patterns[task.default_pattern_id].encode(row, zh, task.max_length)
    assert encoded.input_ids[encoded.mask_position] == zh.smask_token_id
    assert encoded.input_ids[-2] == zh.smask_token_id  # the blank ends the context, before <eos>
    metrics = task.build_metrics()
    em, f1 = metrics["em"], metrics["f1"]
    em.update(["北京"], [task.gold_texts(row)])
    f1.update(["北京市"], [task.gold_texts(row)])
    assert float(em.compute()) == 1.0 and 0.0 < float(f1.compute()) <= 1.0
