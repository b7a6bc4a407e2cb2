"""Tasks from YAML/JSON files and command-line options, over CSV/TSV/JSONL/JSON data."""

import csv
import json
import shutil

import pytest
import torch

from glm_tune.cli import main
from glm_tune.task.file import TaskFileError, TaskOptions, load_task_file
from glm_tune.task.readers import DataError, read_rows
from glm_tune.task.registry import resolve_task
from glm_tune.training.data import DataOptions
from glm_tune.training.run import FitConfig, evaluate, fit, predict
from glm_tune.training.trainer import TrainerOptions

REVIEWS = """\
name: reviews
kind: classification
language: zh
template: "{review}。总之很[MASK]。"
label_field: polarity
label_words: {pos: 好, neg: 差}
files: {train: train.csv, validation: dev.csv, test: test.csv}
metrics: [accuracy]
"""


def _write_csv(path, rows, labelled=True):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review", "polarity"] if labelled else ["id", "review"])
        for row in rows:
            polarity = {"Positive": "pos", "Negative": "neg"}[row["label"]]
            writer.writerow([row["id"], row["sentence"], polarity] if labelled else [row["id"], row["sentence"]])


@pytest.fixture
def reviews(shared, tmp_path):
    """FewCLUE EPRSTMT rows as a user's own CSV files (train_0, dev_0; dev_1 unlabelled as test)."""
    source = shared / "data" / "fewclue" / "eprstmt"
    folder = tmp_path / "reviews"
    folder.mkdir()
    for name, out, labelled in (("train_0", "train.csv", True), ("dev_0", "dev.csv", True), ("dev_1", "test.csv", False)):
        rows = [json.loads(line) for line in (source / f"{name}.json").read_text(encoding="utf-8").splitlines()]
        _write_csv(folder / out, rows, labelled)
    (folder / "reviews.yaml").write_text(REVIEWS, encoding="utf-8")
    return folder


def _config(shared, out, **changes):
    return FitConfig(
        model=str(shared / "golden" / "glm-ref-zh"), tokenizer=str(shared / "tokenizers" / "glm-chinese"),
        output_dir=str(out), data=DataOptions(batch_size=8),
        trainer=TrainerOptions(max_epochs=1, progress_bar=False, accelerator="cpu", loggers=[]), **changes,
    )


def test_yaml_task_over_csv_fit_test_predict_after_the_file_is_gone(shared, reviews, tmp_path):
    result = fit(_config(shared, tmp_path / "run", task=str(reviews / "reviews.yaml")))
    assert 0.0 <= result.metrics["val/accuracy"] <= 1.0
    record = json.loads((result.model_dir / "glm_tune.json").read_text(encoding="utf-8"))
    assert record["task_definition"]["label_words"] == {"pos": "好", "neg": "差"}
    assert record["verbalizer"] == {"pos": ["好"], "neg": ["差"]}

    # `test` finds the data through the recorded task file's folder.
    tested = evaluate(FitConfig(model=str(result.model_dir), trainer=TrainerOptions(progress_bar=False),
                                data=DataOptions(test_split="validation")), "test")
    assert tested.metrics["test/accuracy"] == result.metrics["val/accuracy"]

    # The task file and its data move away: the saved model still predicts, on an unlabelled CSV.
    moved = tmp_path / "moved"
    shutil.move(str(reviews), str(moved))
    out = predict(FitConfig(model=str(result.model_dir), trainer=TrainerOptions(progress_bar=False)),
                  moved / "test.csv", tmp_path / "pred.jsonl").predictions
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with (moved / "test.csv").open(encoding="utf-8") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert [line["id"] for line in lines] == ids
    assert all(line["prediction"] in ("pos", "neg") for line in lines)
    assert all(line["prediction"] == max(line["scores"], key=line["scores"].get) for line in lines)


def test_the_unlabelled_test_split_loads(reviews):
    task = load_task_file(reviews / "reviews.yaml")
    data, report = task.load_split("test")
    assert report.rows == len(data) == 32 and "polarity" not in data.column_names
    # In a labelled split the label is required.
    (reviews / "dev.csv").write_text("id,review,polarity\n1,好东西,pos\n2,还行,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv:3: missing field 'polarity'"):
        task.load_split("validation")


def test_task_on_the_command_line_without_a_file(shared, reviews, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(reviews)
    main(["fit", "--task", "mine", "--template", "{review}。总之很[MASK]。", "--label-words", "{pos: 好, neg: 差}",
          "--label-field", "polarity", "--language", "zh", "--train-file", "train.csv", "--validation-file", "dev.csv",
          "--model", str(shared / "golden" / "glm-ref-zh"), "--tokenizer", str(shared / "tokenizers" / "glm-chinese"),
          "--max-steps", "2", "--batch-size", "8", "--progress-bar", "false", "--loggers", "[]",
          "--output-dir", str(tmp_path / "inline")])
    assert "val    accuracy" in capsys.readouterr().out
    record = json.loads((tmp_path / "inline" / "model" / "glm_tune.json").read_text(encoding="utf-8"))
    assert record["task"] == "mine" and record["task_definition"]["files"] == {"train": "train.csv", "validation": "dev.csv"}
    # Options replace a task file's fields.
    task = resolve_task(str(reviews / "reviews.yaml"), TaskOptions(template="评论：{review}。[MASK]"))
    assert repr(task.patterns[0]) == "Template('评论：{review}。[MASK]')"


def test_no_task_at_all_is_explained(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--model", "glm-tiny"])
    assert "no task: pass --task NAME" in capsys.readouterr().err


def _broken(reviews, text):
    path = reviews / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("change, message", [
    (("kind: classification", "kind: ranking"), r"field 'kind': unknown kind 'ranking'; use classification, multiple_choice"),
    (("总之很[MASK]。", "总之很好。"), r"field 'template': .*blank"),
    (("总之很[MASK]。", "总之很[MASK][MASK]。"), r"field 'template': .*blank"),
    (('"{review}。总之很[MASK]。"', '"总之很[MASK]。"'), r"field 'template': .* reads no column"),
    (("metrics: [accuracy]", "metrics: [acuracy]"), r"field 'metrics': unknown metric 'acuracy'; known metrics: .*accuracy"),
    (("language: zh", "language: fr"), r"field 'language': unknown language 'fr'"),
    (("label_words: {pos: 好, neg: 差}", "label_words: [好, 差]"), r"field 'label_words': expected a mapping"),
    (("label_words: {pos: 好, neg: 差}", "label_words: {pos: 好, neg: 好}"), r"field 'label_words': .*share the word '好'"),
    (("label_words: {pos: 好, neg: 差}\n", ""), r"field 'label_words': missing: a classification task needs label_words"),
    (("test: test.csv}", "test: test.xlsx}"), r"field 'files': test\.xlsx: cannot read '\.xlsx'; use \.csv, \.tsv, \.jsonl, \.json"),
    (("metrics: [accuracy]", "metrics: [accuracy]\nlabel_colum: x"), r"field 'label_colum': unknown field; a task has name, kind"),
    (("kind: classification", "kind: generation\ntarget: summary"), r"field 'label_words': only classification tasks have"),
    (("name: reviews", "name: reviews\n  bad: [indent"), r"broken\.yaml:\d+: not valid YAML"),
])
def test_each_field_error_names_the_file_and_field(reviews, change, message):
    old, new = change
    assert old in REVIEWS
    with pytest.raises(TaskFileError, match=message) as error:
        load_task_file(_broken(reviews, REVIEWS.replace(old, new)))
    assert "broken.yaml" in str(error.value)


def test_data_errors_name_file_line_and_field(reviews):
    task = load_task_file(reviews / "reviews.yaml")
    # A label the label words lack.
    dev = reviews / "dev.csv"
    lines = dev.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",neutral"
    dev.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv:4: field 'polarity': label 'neutral' has no label_words in .*reviews\.yaml"):
        task.load_split("validation")
    # A missing label_field column is named at once, with the columns there are.
    (reviews / "dev.csv").write_text("id,review,stars\n1,好,5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.csv: no column 'polarity' \(label_field of task reviews.*its columns: id, review, stars"):
        task.load_split("validation")
    (reviews / "train.csv").unlink()
    with pytest.raises(DataError, match=r"train\.csv not found: the train file of task reviews"):
        task.load_split("train")
    with pytest.raises(DataError, match=r"task reviews has no dev32 file"):
        task.load_split("dev32")
    with pytest.raises(TaskFileError, match=r"task file .*nothing\.yaml not found"):
        load_task_file(reviews / "nothing.yaml")


def test_command_line_errors_name_the_option():
    with pytest.raises(TaskFileError, match=r"--label_words: missing: a classification task needs label_words"):
        resolve_task(None, TaskOptions(template="{text} [MASK]", train_file="t.csv"))
    with pytest.raises(TaskFileError, match=r"--template defines a task of your own, but --task sst2 is a task defined in Python"):
        resolve_task("sst2", TaskOptions(template="{text} [MASK]"))
    with pytest.raises(TaskFileError, match=r"--train_file: t\.txt: cannot read '\.txt'"):
        resolve_task(None, TaskOptions(template="{text} [MASK]", label_words={"a": "x"}, train_file="t.txt"))


def test_monitor_picks_the_metric_of_best_ckpt(shared, reviews, tmp_path):
    config = _config(shared, tmp_path / "m", task=str(reviews / "reviews.yaml"))
    config.trainer.monitor = "f1_macro"
    with pytest.raises(ValueError, match="--monitor f1_macro: task reviews has no such metric; it has accuracy"):
        fit(config)
    (reviews / "reviews.yaml").write_text(REVIEWS.replace("[accuracy]", "[accuracy, f1_macro]"), encoding="utf-8")
    result = fit(config)
    assert set(result.metrics) == {"val/accuracy", "val/f1_macro"}
    callbacks = torch.load(tmp_path / "m" / "checkpoints" / "best.ckpt", weights_only=True)["callbacks"]
    assert any("'monitor': 'val/f1_macro'" in key for key in callbacks)


def test_no_validation_needs_no_validation_file(shared, reviews, tmp_path):
    (reviews / "reviews.yaml").write_text(REVIEWS.replace("validation: dev.csv, ", ""), encoding="utf-8")
    config = _config(shared, tmp_path / "nv", task=str(reviews / "reviews.yaml"))
    config.trainer = TrainerOptions(max_steps=2, progress_bar=False, accelerator="cpu", loggers=[], no_validation=True)
    result = fit(config)
    assert result.metrics == {} and (result.model_dir / "model.safetensors").is_file()
    assert not (tmp_path / "nv" / "checkpoints" / "best.ckpt").exists()


def test_multiple_choice_and_generation_tasks_from_json_files(shared, tmp_path):
    rows = [json.loads(line) for line in (shared / "data" / "fewclue" / "chid" / "dev_0.json").read_text(encoding="utf-8").splitlines()[:5]]
    (tmp_path / "idioms.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    (tmp_path / "idioms_task.json").write_text(json.dumps({
        "kind": "multiple_choice", "language": "zh", "template": "{content}成语：[MASK]", "candidates": "candidates",
        "answer": "answer", "files": {"train": "idioms.json"}}), encoding="utf-8")
    task = load_task_file(tmp_path / "idioms_task.json")
    data, _ = task.load_split("train")
    assert task.name == "idioms_task" and len(data) == 5
    assert data[0]["_source"] == f"{tmp_path / 'idioms.json'}:2"  # the array's first object starts on line 2
    assert task.answer(data[0]) == rows[0]["answer"] and task.candidates(data[0]) == rows[0]["candidates"]
    rows[1]["answer"] = 9
    (tmp_path / "idioms.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    with pytest.raises(DataError, match=r"idioms\.json:\d+: field 'answer': answer 9 is not an index of the 7 candidates"):
        task.load_split("train")

    (tmp_path / "summaries.tsv").write_text("text\tsummary\nthe long text\tshort\nanother text\t\n", encoding="utf-8")
    (tmp_path / "sum.yaml").write_text("kind: generation\ntemplate: '{text} [gMASK]'\ntarget: summary\n"
                                       "files: {test: summaries.tsv}\n", encoding="utf-8")
    task = load_task_file(tmp_path / "sum.yaml")
    data, _ = task.load_split("test")
    assert task.metrics == ("rouge1", "rouge2", "rougeL") and task.gold_texts(data[0]) == ["short"]
    with pytest.raises(KeyError):
        task.target(data[1])  # an empty target is an unlabelled row


def test_readers_by_extension_keep_line_numbers(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('text,label\n"a cell with, a comma",1\n"two\nlines",0\nthird,\n', encoding="utf-8")
    rows, _ = read_rows(path, "auto", ("text",))
    assert [r["_source"].rsplit(":", 1)[1] for r in rows] == ["2", "3", "5"]
    assert rows[1]["text"] == "two\nlines"
    with pytest.raises(DataError, match=r"rows\.csv:5: missing field 'label'"):
        read_rows(path, "auto", ("text", "label"))
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"rows\.parquet: cannot read '\.parquet' files; use \.csv, \.tsv, \.jsonl, \.json"):
        read_rows(tmp_path / "rows.parquet", "auto", ("text",))
