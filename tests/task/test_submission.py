"""Leaderboard files from unlabelled test splits, checked against each benchmark's documented format.

Real FewGLUE / FewCLUE rows with their labels dropped stand in for the (absent) test files.
"""

import json

import pytest

from glm_tune.cli import main
from glm_tune.task.registry import get_task
from glm_tune.task.submission import CLUE_FILES, SUPERGLUE_FILES, write_submission

FEWGLUE = {"boolq": "BoolQ", "cb": "CB", "copa": "COPA", "multirc": "MultiRC", "record": "ReCoRD", "rte": "RTE",
           "wic": "WiC", "wsc": "WSC"}
FEWCLUE = ("eprstmt", "bustm", "csldcp", "tnews", "iflytek", "ocnli", "csl", "cluewsc", "chid")


def _unlabelled(row: dict) -> dict:
    row = {k: v for k, v in row.items() if k not in ("label", "label_desc", "label_des", "answer")}
    if "passage" in row and isinstance(row["passage"], dict) and "questions" in row["passage"]:  # MultiRC
        row["passage"] = {**row["passage"], "questions": [
            {**q, "answers": [{k: v for k, v in a.items() if k != "label"} for a in q["answers"]]}
            for q in row["passage"]["questions"]]}
    if "qas" in row:  # ReCoRD
        row["qas"] = [{k: v for k, v in qa.items() if k != "answers"} for qa in row["qas"]]
    return row


def _test_file(source, folder, name, limit=None):
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").split("\n") if line.strip()][:limit]
    test = [_unlabelled(row) for row in rows]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in test), encoding="utf-8")
    return rows, test


def _predict_every_other_class(task, rows):
    """Module-shaped predictions (index, prediction, label_index) that cycle through the classes."""
    out = []
    for index, row in enumerate(rows):
        if task.kind == "classification":
            labels = task.label_words().labels
            choice = index % len(labels)
            out.append({"index": index, "prediction": labels[choice], "label_index": choice})
        else:
            candidates = task.candidates(row)
            choice = index % len(candidates)
            out.append({"index": index, "prediction": candidates[choice].strip(), "label_index": choice})
    return out


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


SUPERGLUE_LABELS = {"boolq": {"true", "false"}, "wic": {"true", "false"}, "wsc": {"True", "False"},
                    "cb": {"entailment", "contradiction", "neutral"}, "rte": {"entailment", "not_entailment"},
                    "copa": {0, 1}}


@pytest.mark.parametrize("name", sorted(FEWGLUE))
def test_superglue_files_follow_the_leaderboard_format(shared, tmp_path, name):
    task = get_task(name)
    labelled, test = _test_file(shared / "data" / "fewglue" / FEWGLUE[name] / "train.jsonl", tmp_path / "data", "test.jsonl")
    data, report = task.load_split("test", tmp_path / "data")
    rows = data.to_list()
    path = write_submission(task, rows, _predict_every_other_class(task, rows), "superglue", tmp_path / "out")
    assert path.name == SUPERGLUE_FILES[name] == f"{FEWGLUE[name]}.jsonl"
    lines = _lines(path)
    if name == "multirc":
        # One line per passage: {"idx": p, "passage": {"questions": [{"idx": q, "answers": [{"idx": a, "label": 0|1}]}]}}
        assert [line["idx"] for line in lines] == [r["idx"] for r in test]
        for line, row in zip(lines, test):
            assert set(line) == {"idx", "passage"} and set(line["passage"]) == {"questions"}
            questions = row["passage"]["questions"]
            assert [q["idx"] for q in line["passage"]["questions"]] == [q["idx"] for q in questions]
            for got, question in zip(line["passage"]["questions"], questions):
                assert set(got) == {"idx", "answers"}
                assert [a["idx"] for a in got["answers"]] == [a["idx"] for a in question["answers"]]
                assert all(set(a) == {"idx", "label"} and a["label"] in (0, 1) for a in got["answers"])
    elif name == "record":
        # One line per query: {"idx": q, "label": "entity text"}, the entity one of the passage's.
        queries = [(qa["idx"], row) for row in test for qa in row["qas"]]
        assert [line["idx"] for line in lines] == [q for q, _ in queries]
        for line, (_, row) in zip(lines, queries):
            text = row["passage"]["text"]
            entities = {text[e["start"]:e["end"] + 1] for e in row["passage"]["entities"]}
            assert set(line) == {"idx", "label"} and line["label"] in entities
    else:
        assert [line["idx"] for line in lines] == [r["idx"] for r in test]
        assert all(set(line) == {"idx", "label"} and line["label"] in SUPERGLUE_LABELS[name] for line in lines)
        if name != "wsc":
            # The labels cycle through the classes: every class reaches the file, spelled as documented.
            assert {line["label"] for line in lines} == SUPERGLUE_LABELS[name]
        if name in ("cb", "rte"):
            assert {line["label"] for line in lines} == {str(r["label"]) for r in labelled} | {line["label"] for line in lines}


@pytest.mark.parametrize("name", FEWCLUE)
def test_fewclue_files_follow_the_leaderboard_format(shared, tmp_path, name):
    task = get_task(name)
    labelled, test = _test_file(shared / "data" / "fewclue" / name / "dev_0.json", tmp_path / "data", "test.json")
    data, _ = task.load_split("test", tmp_path / "data")
    rows = data.to_list()
    path = write_submission(task, rows, _predict_every_other_class(task, rows), "clue", tmp_path / "out")
    assert path.name == CLUE_FILES[name]
    lines = _lines(path)
    key = "idx" if name == "cluewsc" else "id"  # CLUEWSC's rows carry idx; the leaderboard reads id
    assert [line["id"] for line in lines] == [row[key] for row in test]
    if name == "chid":
        assert all(set(line) == {"id", "answer"} and isinstance(line["answer"], int) for line in lines)
        assert all(0 <= line["answer"] < len(row["candidates"]) for line, row in zip(lines, test))
    else:
        # Labels spelled as the data spells them (TNEWS "102", EPRSTMT "Positive", CLUEWSC "true").
        spelled = {str(r["label"]) for r in labelled}
        assert all(set(line) == {"id", "label"} and isinstance(line["label"], str) for line in lines)
        assert {line["label"] for line in lines} <= set(task.label_words().labels)
        assert spelled <= set(task.label_words().labels)


def test_predict_writes_the_submission_end_to_end(shared, tmp_path, capsys):
    labelled, test = _test_file(shared / "data" / "fewclue" / "eprstmt" / "dev_0.json", tmp_path / "data", "test.json")
    main(["predict", "--task", "eprstmt", "--model", str(shared / "golden" / "glm-ref-zh"),
          "--tokenizer", str(shared / "tokenizers" / "glm-chinese"), "--input", str(tmp_path / "data" / "test.json"),
          "--format", "clue", "--output", str(tmp_path / "submit"), "--progress-bar", "false"])
    path = tmp_path / "submit" / "eprstmt_predict.json"
    assert f"predictions: {path}" in capsys.readouterr().out
    lines = _lines(path)
    assert [line["id"] for line in lines] == [row["id"] for row in test]
    assert {line["label"] for line in lines} <= {"Positive", "Negative"}

    _, multirc = _test_file(shared / "data" / "fewglue" / "MultiRC" / "train.jsonl", tmp_path / "mrc", "test.jsonl",
                             limit=4)
    # MultiRC's passages need more positions than the golden model has: glm-tiny (512).
    main(["predict", "--task", "multirc", "--model", "glm-tiny", "--input", str(tmp_path / "mrc" / "test.jsonl"),
          "--format", "superglue", "--progress-bar", "false", "--eval-batch-size", "64"])
    lines = _lines(tmp_path / "mrc" / "MultiRC.jsonl")
    assert [line["idx"] for line in lines] == [row["idx"] for row in multirc]
    answers = sum(len(q["answers"]) for row in multirc for q in row["passage"]["questions"])
    assert sum(len(q["answers"]) for line in lines for q in line["passage"]["questions"]) == answers


def test_a_task_without_a_leaderboard_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--format superglue: task sst2 has no superglue leaderboard file"):
        write_submission(get_task("sst2"), [], [], "superglue", tmp_path)


def test_cmrc2018_file_maps_question_ids_to_answers(shared, tmp_path):
    task = get_task("cmrc2018")
    squad = json.loads((shared / "data" / "cmrc2018" / "cmrc2018_trial.json").read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa.pop("answers", None)
    squad["data"] = squad["data"][:3]
    (tmp_path / "cmrc2018_test.json").write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    rows = task.load_split("test", tmp_path)[0].to_list()
    predictions = [{"index": i, "prediction": row["context"][:4]} for i, row in enumerate(rows)]
    path = write_submission(task, rows, predictions, "clue", tmp_path / "out")
    assert path.name == "cmrc2018_predict.json"
    answers = json.loads(path.read_text(encoding="utf-8"))
    ids = [qa["id"] for article in squad["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    assert list(answers) == ids and all(isinstance(a, str) and a for a in answers.values())
