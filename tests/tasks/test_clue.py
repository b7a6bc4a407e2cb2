"""CLUE / FewCLUE tasks: real FewCLUE files, the real Chinese tokenizer, label words, metrics."""

from __future__ import annotations

import json

import pytest

from glm_tune.metrics import build_metric
from glm_tune.task.readers import DataError
from glm_tune.task.registry import get_task

FEWCLUE = ["tnews", "iflytek", "ocnli", "cluewsc", "csl", "eprstmt", "bustm", "csldcp"]


@pytest.mark.parametrize("name", FEWCLUE)
def test_fewclue_task_loads_renders_and_scores(name, shared, zh):
    task = get_task(name)
    data, report = task.load_split("dev_0", shared / "data" / "fewclue" / name)
    assert len(data) > 0 and report.bad_rows == []
    labels = task.label_words()
    assert set(data["label"]) <= set(labels.labels)
    verbalized = labels.tokenize(zh)  # raises on <unk> or colliding label words
    assert len(verbalized.candidates) == len(labels)
    template = task.patterns[task.default_pattern_id]
    for row in data.select(range(3)):
        encoded = template.encode(row, zh, task.max_length, reserve=1)
        assert encoded.input_ids[encoded.mask_position] == zh.mask_token_id
        assert len(encoded.input_ids) + 1 <= task.max_length
    golds = [labels.index(label) for label in data["label"][:4]]
    for metric_name in task.metrics:
        options = {"num_classes": len(labels)}
        metric = build_metric(metric_name, **options)
        metric.update(golds, golds)
        assert float(metric.compute()) == pytest.approx(1.0)


def test_fewclue_splits_are_named(shared):
    task = get_task("tnews")
    assert {"train", "validation", "test", "train_0", "dev_4", "train_few_all", "dev_few_all"} <= set(task.files)
    data, _ = task.load_split("train_few_all", shared / "data" / "fewclue" / "tnews")
    assert len(data) > 0 and all(label.isdigit() for label in data["label"])  # numeric codes as strings


def test_tnews_rendering(shared, zh):
    task = get_task("tnews")
    data, _ = task.load_split("train_0", shared / "data" / "fewclue" / "tnews")
    encoded = task.patterns[0].encode(data[0], zh, 256, reserve=1)
    assert encoded.text.startswith("标题：") and encoded.text.endswith("类别：[MASK]")


def test_cluewsc_marks_spans(shared):
    task = get_task("cluewsc")
    data, _ = task.load_split("train_0", shared / "data" / "fewclue" / "cluewsc")
    rendered = task.patterns[0].render(data[0]).text
    assert "*他*" in rendered and "#树叶#" in rendered and rendered.endswith("代词'*他*'[MASK]指#树叶#.")


def test_chid_multiple_choice(shared, zh):
    task = get_task("chid")
    data, report = task.load_split("dev_0", shared / "data" / "fewclue" / "chid")
    assert task.kind == "multiple_choice" and len(data) > 0
    row = data[0]
    candidates = task.candidates(row)
    assert len(candidates) == 7 and 0 <= task.answer(row) < 7
    encoded = task.patterns[0].encode(row, zh, task.max_length, reserve=1 + 8)
    assert encoded.input_ids.count(zh.mask_token_id) == 1 and "#idiom#" not in encoded.text
    for idiom in candidates:
        ids = zh.encode(idiom, add_special_tokens=False)
        assert not zh.count_unknown(ids)
    metric = build_metric("accuracy")
    metric.update([task.answer(r) for r in data.select(range(4))], [task.answer(r) for r in data.select(range(4))])
    assert float(metric.compute()) == 1.0


def test_chid_several_blanks_expand(tmp_path):
    row = {"id": 1, "candidates": ["一心一意", "三心二意"], "content": "他做事#idiom#，从不#idiom#。", "answer": [0, 1]}
    (tmp_path / "dev.json").write_text(json.dumps(row, ensure_ascii=False) + "\n")
    task = get_task("chid")
    data, _ = task.load_split("validation", tmp_path)
    assert [task.answer(r) for r in data] == [0, 1]
    texts = [task.patterns[0].render(r).text for r in data]
    assert texts == ["他做事[MASK]，从不______。", "他做事______，从不[MASK]。"]


@pytest.mark.parametrize("name", ["afqmc", "cmnli"])
def test_clue_fixture_tasks(name, tmp_path, zh):
    rows = {
        "afqmc": [{"sentence1": "花呗如何还款", "sentence2": "花呗怎么还钱", "label": "1"},
                  {"sentence1": "借呗能提前还吗", "sentence2": "花呗额度怎么提升", "label": "0"}],
        "cmnli": [{"sentence1": "他今天去了北京。", "sentence2": "他出门了。", "label": "entailment"},
                  {"sentence1": "他今天在家。", "sentence2": "他去了北京。", "label": "contradiction"},
                  {"sentence1": "他今天去了北京。", "sentence2": "他坐的飞机。", "label": "neutral"}],
    }[name]
    (tmp_path / "dev.json").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    task = get_task(name)
    data, _ = task.load_split("validation", tmp_path)
    labels = task.label_words()
    labels.tokenize(zh)
    for row in data:
        encoded = task.patterns[task.default_pattern_id].encode(row, zh, task.max_length, reserve=1)
        assert encoded.input_ids[encoded.mask_position] == zh.mask_token_id and encoded.part_b_start is not None
    golds = [labels.index(label) for label in data["label"]]
    metric = build_metric("accuracy", num_classes=len(labels))
    metric.update([0] * len(golds), golds)
    assert float(metric.compute()) == pytest.approx(sum(g == 0 for g in golds) / len(golds))


def test_clue_bad_rows_name_file_and_line(tmp_path):
    good = {"sentence": "不错", "label": "Positive"}
    lines = [json.dumps(good), '{"sentence": oops', json.dumps({"label": "Negative"}),
             json.dumps({"sentence": "一般", "label": "Neutral"})]
    (tmp_path / "dev_0.json").write_text("\n".join(lines) + "\n")
    task = get_task("eprstmt")
    with pytest.raises(DataError, match=r"dev_0.json:2: not valid JSON"):
        task.load_split("dev_0", tmp_path)
    data, report = task.load_split("dev_0", tmp_path, skip_bad_rows=True)
    assert len(data) == 1
    assert [m.split(": ", 1)[0].rsplit("/", 1)[1] for m in report.bad_rows] == [
        "dev_0.json:2", "dev_0.json:3", "dev_0.json:4"]
    assert "missing field 'sentence'" in report.bad_rows[1] and "'Neutral' is not one of" in report.bad_rows[2]
