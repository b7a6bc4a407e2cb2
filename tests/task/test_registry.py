"""Tasks by name, user task files, and reading original data files with located errors."""

from __future__ import annotations

import pytest

from glm_tune.metrics import build_metric
from glm_tune.task.readers import DataError, read_rows
from glm_tune.task.registry import get_task


def test_sst2_loads_renders_and_scores(shared, bert):
    task = get_task("sst2")
    data, report = task.load_split("validation", shared / "data" / "sst2")
    assert len(data) == 872 and report.bad_rows == []
    assert set(data["label"]) == {"0", "1"}
    assert data[0]["_source"].endswith("dev.tsv:2")
    encoded = task.patterns[task.default_pattern_id].encode(data[0], bert, task.max_length, reserve=1)
    assert encoded.input_ids[encoded.mask_position] == bert.mask_token_id
    labels = task.label_words().tokenize(bert)  # raises on <unk> label words
    assert labels.single_token
    metric = build_metric(task.metrics[0], num_classes=2)
    metric.update([int(label) for label in data["label"][:4]], [1, 0, 1, 1])
    assert 0.0 <= float(metric.compute()) <= 1.0


def test_unknown_task_suggests_names():
    with pytest.raises(ValueError, match="Did you mean sst2"):
        get_task("sst-2")


def test_missing_data_file_lists_expected(tmp_path):
    with pytest.raises(DataError, match="train.tsv, dev.tsv"):
        get_task("sst2").load_split("validation", tmp_path)


def test_bad_rows_name_file_line_and_field(tmp_path):
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\ngood film\t1\n\t0\nbad film\t7\nthree\tcolumns\there\n")
    with pytest.raises(DataError, match=r"dev.tsv:3: missing field 'sentence'"):
        get_task("sst2").load_split("validation", tmp_path)
    data, report = get_task("sst2").load_split("validation", tmp_path, skip_bad_rows=True)
    assert len(data) == 1
    assert [m.split(": ", 1)[0][-9:] for m in report.bad_rows] == ["dev.tsv:3", "dev.tsv:4", "dev.tsv:5"]
    assert "label '7' is not one of" in report.bad_rows[1]
    assert "3 columns" in report.bad_rows[2]


def test_malformed_json_line_is_located(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": oops}\n[1, 2]\n')
    with pytest.raises(DataError, match="train.jsonl:2: not valid JSON"):
        read_rows(path, "jsonl", ["text"])
    rows, report = read_rows(path, "jsonl", ["text"], skip_bad_rows=True)
    assert len(rows) == 1 and len(report.bad_rows) == 2 and "JSON object" in report.bad_rows[1]


def test_user_task_file(tmp_path, shared):
    file = tmp_path / "my_tasks.py"
    file.write_text(
        "from glm_tune.task.registry import Task\n"
        "from glm_tune.cloze.template import Patterns, Template\n"
        "from glm_tune.cloze.verbalizer import Verbalizer\n"
        "MINE = Task(name='mine', kind='classification', language='en',\n"
        "            patterns=Patterns([Template('{sentence} All in all, [MASK].')]),\n"
        "            verbalizer=lambda pid: Verbalizer({'0': [' bad'], '1': [' good']}),\n"
        "            files={'validation': 'dev.tsv'}, file_format='tsv', fields=('sentence',), metrics=('accuracy',))\n"
    )
    task = get_task(f"{file}:MINE")
    data, _ = task.load_split("validation", shared / "data" / "sst2")
    assert task.name == "mine" and len(data) == 872
    with pytest.raises(ValueError, match="defines MINE"):
        get_task(f"{file}:OTHER")


def test_tasks_command(capsys):
    from glm_tune.cli import main

    main(["tasks"])
    out = capsys.readouterr().out
    assert "sst2" in out and "classification" in out and "dev.tsv" in out


def test_ignored_labels_are_dropped_and_counted(tmp_path):
    (tmp_path / "dev.json").write_text(
        '{"sentence1": "他来了", "sentence2": "他到了", "label": "entailment"}\n'
        '{"sentence1": "他来了", "sentence2": "他没来", "label": "-"}\n', encoding="utf-8")
    data, report = get_task("ocnli").load_split("validation", tmp_path)
    assert len(data) == 1 and report.rows == 1
    assert report.ignored == [f"{tmp_path / 'dev.json'}:2"]


def test_expanded_rows_are_checked_with_their_line(tmp_path):
    # A MultiRC passage (line 1) whose answer lacks a label: the error names line 1.
    row = ('{"idx": 0, "passage": {"text": "Text.", "questions": [{"idx": 0, "question": "Q?", '
           '"answers": [{"idx": 0, "text": "A"}]}]}}\n')
    (tmp_path / "val.jsonl").write_text(row)
    with pytest.raises(DataError, match=r"val.jsonl:1: missing field 'label'"):
        get_task("multirc").load_split("validation", tmp_path)


def test_every_task_builds_its_metrics_in_its_language():
    from glm_tune.task.registry import all_tasks

    for name, task in all_tasks().items():
        options = {"num_classes": len(task.label_words().labels)} if task.kind == "classification" else {}
        try:
            metrics = task.build_metrics(**options)
        except TypeError:  # multiple choice metrics take no class count
            metrics = task.build_metrics()
        assert sorted(metrics.keys()) == sorted(task.metrics), name
        if task.kind == "generation" and task.language == "zh":
            assert task.metric_options.get("language") == "zh", name


def test_tasks_from_entry_points(monkeypatch):
    import glm_tune.task.registry as task_module
    from glm_tune.cloze.template import Patterns, Template
    from glm_tune.task.registry import Task

    plugin = Task(name="plugin-task", kind="generation", language="en",
                  patterns=Patterns([Template("[gMASK] {text}")]), files={"train": "train.jsonl"},
                  file_format="jsonl", fields=("text",), metrics=("rougeL",), target=lambda row: row["text"])

    class EntryPoint:
        name = "plugin-task"

        def load(self):
            return plugin

    monkeypatch.setattr(task_module, "entry_points", lambda group: [EntryPoint()] if group == "glm_tune.tasks" else [])
    monkeypatch.setattr(task_module, "_REGISTRY", dict(task_module._REGISTRY))
    assert get_task("plugin-task") is plugin
