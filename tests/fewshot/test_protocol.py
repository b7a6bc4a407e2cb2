"""The few-shot protocol: stratified draws, aggregation, ensembles, and `glm-tune fewshot` end to end."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from glm_tune.cli import main
from glm_tune.fewshot.protocol import aggregate, ensemble, stratified_sample
from glm_tune.task.readers import DataError


@pytest.fixture(scope="module")
def eprstmt_rows(shared):
    path = shared / "data" / "fewclue" / "eprstmt" / "train_few_all.json"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_stratified_sample_draws_exactly_k_per_label_disjoint_and_seeded(eprstmt_rows):
    train, dev = stratified_sample(eprstmt_rows, "label", 4, seed=13)
    assert Counter(r["label"] for r in train) == Counter(r["label"] for r in dev) == {"Positive": 4, "Negative": 4}
    ids = lambda rows: {r["id"] for r in rows}  # noqa: E731
    assert not ids(train) & ids(dev)
    again_train, again_dev = stratified_sample(eprstmt_rows, "label", 4, seed=13)
    assert (again_train, again_dev) == (train, dev)
    other_train, _ = stratified_sample(eprstmt_rows, "label", 4, seed=21)
    assert ids(other_train) != ids(train)


def test_stratified_sample_refuses_a_label_with_too_few_rows(eprstmt_rows):
    negatives = [r for r in eprstmt_rows if r["label"] == "Negative"][:5]
    with pytest.raises(DataError, match="label 'Negative' has 5 rows, fewer than the 6"):
        stratified_sample(negatives, "label", 3, seed=1)


def test_aggregate_is_the_mean_and_sample_std_of_the_runs():
    result = aggregate([0.5, 0.7, 0.9])
    assert result["mean"] == pytest.approx(0.7)
    assert result["std"] == pytest.approx(math.sqrt(((0.2 ** 2) * 2) / 2))  # n - 1 = 2
    assert result["runs"] == [0.5, 0.7, 0.9]
    assert aggregate([0.6]) == {"mean": 0.6, "std": 0.0, "runs": [0.6]}


def test_ensemble_averages_the_patterns_log_probs_uniformly_or_by_weight():
    probs = {"a": [[0.9, 0.1], [0.2, 0.8]], "b": [[0.3, 0.7], [0.4, 0.6]], "c": [[0.5, 0.5], [0.1, 0.9]]}
    logs = {k: [[math.log(p) for p in row] for row in v] for k, v in probs.items()}
    scores = [torch.tensor(logs[k], dtype=torch.float64) for k in "abc"]
    uniform = [(logs["a"][i][j] + logs["b"][i][j] + logs["c"][i][j]) / 3 for i in range(2) for j in range(2)]
    assert ensemble(scores).flatten().tolist() == pytest.approx(uniform, rel=1e-6)
    # PET's merge_logits: weights are each pattern's accuracy, normalised by their sum.
    weighted = [(0.75 * logs["a"][i][j] + 0.5 * logs["b"][i][j] + 0.25 * logs["c"][i][j]) / 1.5
                for i in range(2) for j in range(2)]
    assert ensemble(scores, [0.75, 0.5, 0.25]).flatten().tolist() == pytest.approx(weighted, rel=1e-6)


def _fewshot(shared, out, *extra):
    main(["fewshot", "--task", "eprstmt", "--model", str(shared / "golden" / "glm-ref-zh"),
          "--tokenizer", str(shared / "tokenizers" / "glm-chinese"),
          "--data-dir", str(shared / "data" / "fewclue" / "eprstmt"), "--folds", "0,1", "--patterns", "0,1",
          "--test-split", "dev_few_all", "--eval-limit", "12", "--max-epochs", "1", "--max-steps", "1",
          "--learning-rates", "1e-4", "--output-dir", str(out), *extra])


def test_fewshot_command_runs_two_folds_of_real_rows_and_resumes(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    distill = ["--distill", "--unlabelled-limit", "8", "--distill-epochs", "1"]
    _fewshot(shared, out, "--calibrate", *distill)
    captured = capsys.readouterr()
    printed = captured.out
    for name in ("p0-fold0", "p1-fold0", "p0-fold1", "p1-fold1", "distilled-fold0", "distilled-fold1"):
        assert f"{name}: lr " in captured.err  # one progress line per run, on stderr
    for name in ("pattern 0", "pattern 1", "ensemble (uniform)", "distilled", "zero-shot", "majority label",
                 "few-shot +cc"):
        assert name in printed
    result = json.loads((out / "fewshot.json").read_text(encoding="utf-8"))
    assert result["folds"] == ["fold0", "fold1"] and result["test_split"] == "dev_few_all"
    assert result["test_rows"] == {"fold0": 12, "fold1": 12}
    lines = {line["name"]: line for line in result["lines"]}
    assert len(lines["pattern 0"]["few_shot"]["runs"]) == 2
    record = json.loads((out / "runs" / "p0-fold0.json").read_text())
    top = max(sum(g == [k] for g in record["golds"]) for k in (0, 1))
    assert lines["majority label"]["few_shot"]["runs"][0] == pytest.approx(top / 12)
    for name in ("fold0", "fold1"):
        record = json.loads((out / "runs" / f"p0-{name}.json").read_text())
        assert len(record["few_shot"]["log_probs"]) == 12 and len(record["few_shot"]["prior"]) == 2
        assert len(record["unlabelled"]) == 8  # the ensemble's input for the soft labels
        assert json.loads((out / "runs" / f"distilled-{name}.json").read_text())["unlabelled_rows"] == 8
    report = (out / "fewshot.md").read_text(encoding="utf-8")
    assert report.startswith("# Few-shot: eprstmt") and "(`test_public.json`) was not used" in report
    assert (out / "fewshot.png").stat().st_size > 0
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    _fewshot(shared, out, "--calibrate", *distill)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == stamps  # finished runs skipped
    assert captured.err.count(": lr ") == 6 and capsys.readouterr().err.count(": finished earlier, lr ") == 6
    assert json.loads((out / "fewshot.json").read_text(encoding="utf-8"))["lines"] == result["lines"]


def test_a_record_made_with_another_pattern_is_refused_not_reused(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    _fewshot(shared, out, "--patterns", "0", "--folds", "0")
    path = out / "runs" / "p0-fold0.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["prompt"].startswith("Template(") and '"Positive": ["好"]' in record["prompt"]
    # The record as an earlier version of the task's pattern 0 would have left it.
    path.write_text(json.dumps({**record, "prompt": record["prompt"].replace("总之", "")}), encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        _fewshot(shared, out, "--patterns", "0", "--folds", "0")
    assert stop.value.code == 2
    assert f"{path} was made with another pattern 0 or other label words" in capsys.readouterr().err


def test_a_distilled_record_taught_another_way_is_refused_not_reused(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    distill = ["--folds", "0", "--distill", "--unlabelled-limit", "8", "--distill-epochs", "1"]
    _fewshot(shared, out, *distill)
    path = out / "runs" / "distilled-fold0.json"
    assert json.loads(path.read_text())["teacher"] == {
        "patterns": [0, 1], "ensemble": "uniform", "temperature": 2.0, "distill_epochs": 1,
        "distill_learning_rate": 1e-5}
    capsys.readouterr()
    for other in (["--patterns", "0"], ["--ensemble", "weighted"], ["--temperature", "1"]):
        with pytest.raises(SystemExit) as stop:
            _fewshot(shared, out, *distill, *other)
        assert stop.value.code == 2
        assert f"{path} was taught another way" in capsys.readouterr().err
    # Records made when the distilled model's options were among every run's settings are still reused.
    from glm_tune.fewshot.protocol import same_settings

    now = json.loads((out / "runs" / "p0-fold0.json").read_text())["settings"]
    assert "temperature" not in now and same_settings({**now, "temperature": 2.0, "distill_epochs": 3}, now)
    assert not same_settings({**now, "seed": now["seed"] + 1}, now)
    # The pattern runs do not depend on how the distilled model is made: they serve another temperature.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("p*.json")}
    path.unlink()
    _fewshot(shared, out, *distill, "--temperature", "1", "--ensemble", "weighted")
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("p*.json")} == stamps
    assert json.loads(path.read_text())["teacher"]["temperature"] == 1.0
    assert "ensemble (weighted)" in capsys.readouterr().out


def test_a_run_is_scored_with_the_weights_of_the_rate_dev_chose_not_the_last_trained(shared, tmp_path):
    # Every rate trains the one shared backbone: a rate chosen before the grid's last must be scored
    # with its own weights (a run with that rate alone gives them), not those the last rate left.
    only, grid = tmp_path / "only", tmp_path / "grid"
    _fewshot(shared, only, "--folds", "0", "--patterns", "0", "--keep-zero-shot", "false")
    _fewshot(shared, grid, "--folds", "0", "--patterns", "0", "--keep-zero-shot", "false",
             "--learning-rates", "1e-4,10")
    alone = json.loads((only / "runs" / "p0-fold0.json").read_text())
    chosen = json.loads((grid / "runs" / "p0-fold0.json").read_text())
    assert chosen["learning_rate"] == 1e-4, "the test needs the grid's first rate to win on dev"
    assert chosen["few_shot"]["log_probs"] == alone["few_shot"]["log_probs"]


def test_finished_runs_are_reused_when_the_data_dir_is_spelled_another_way(shared, tmp_path, monkeypatch):
    out = tmp_path / "fewshot"
    _fewshot(shared, out, "--patterns", "0", "--folds", "0")
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    monkeypatch.chdir(shared / "data")
    main(["fewshot", "--task", "eprstmt", "--model", str(shared / "golden" / "glm-ref-zh"),
          "--tokenizer", str(shared / "tokenizers" / "glm-chinese"), "--data-dir", "fewclue/../fewclue/eprstmt",
          "--folds", "0", "--patterns", "0", "--test-split", "dev_few_all", "--eval-limit", "12", "--max-epochs", "1",
          "--max-steps", "1", "--learning-rates", "1e-4", "--output-dir", str(out)])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == stamps


def test_fewshot_ensemble_line_equals_the_hand_averaged_records(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    _fewshot(shared, out, "--ensemble", "weighted")
    result = json.loads((out / "fewshot.json").read_text(encoding="utf-8"))
    accuracies = []
    for fold in ("fold0", "fold1"):
        records = [json.loads((out / "runs" / f"p{p}-{fold}.json").read_text()) for p in (0, 1)]
        weights = [r["dev_accuracy"] for r in records]
        merged = sum(w * torch.tensor(r["few_shot"]["log_probs"]) for w, r in zip(weights, records)) / sum(weights)
        best = merged.argmax(-1).tolist()
        accuracies.append(sum(b in g for b, g in zip(best, records[0]["golds"])) / len(best))
    line = next(ln for ln in result["lines"] if ln["name"] == "ensemble (weighted)")
    assert line["few_shot"]["runs"] == pytest.approx(accuracies)
    picked = []
    for fold in ("fold0", "fold1"):
        records = [json.loads((out / "runs" / f"p{p}-{fold}.json").read_text()) for p in (0, 1)]
        best = records[1] if records[1]["dev_accuracy"] > records[0]["dev_accuracy"] else records[0]
        answers = torch.tensor(best["few_shot"]["log_probs"]).argmax(-1).tolist()
        picked.append(sum(a in g for a, g in zip(answers, best["golds"])) / len(answers))
    line = next(ln for ln in result["lines"] if ln["name"] == "pattern chosen on dev")
    assert line["few_shot"]["runs"] == pytest.approx(picked)


def test_a_dev_split_below_min_dev_rows_keeps_the_zero_shot_weights_and_resumes_across_it(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    _fewshot(shared, out, "--min-dev-rows", "33")  # eprstmt's dev_K have 32 rows
    result = json.loads((out / "fewshot.json").read_text(encoding="utf-8"))
    for name in ("p0-fold0", "p1-fold0", "p0-fold1", "p1-fold1"):
        record = json.loads((out / "runs" / f"{name}.json").read_text())
        assert record["trained"] is False and record["epoch"] == 0 and record["grid"] == []
        assert record["learning_rate"] is None and record["dev_accuracy"] == record["zero_shot_dev_accuracy"]
        assert record["few_shot"] == record["zero_shot"]
    for line in result["lines"]:
        if line["name"].startswith(("pattern", "ensemble")):
            assert line["few_shot"] == line["zero_shot"]
    assert "| 0 | fold0 | - | 0 |" in (out / "fewshot.md").read_text(encoding="utf-8")
    _fewshot(shared, out, "--min-dev-rows", "32")  # now large enough: the untrained records are run again
    record = json.loads((out / "runs" / "p0-fold0.json").read_text())
    assert record["trained"] is True and record["learning_rate"] == 1e-4 and len(record["grid"]) == 1


def test_fewshot_refuses_folds_with_shots_in_one_line(shared, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        _fewshot(shared, tmp_path / "x", "--shots", "4")
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "glm-tune: error: give exactly one of --folds (the task's train_K/dev_K) or --shots with --seeds"


FEWCLUE_CLASSIFICATION = ("bustm", "csl", "csldcp", "eprstmt", "iflytek", "ocnli", "tnews", "cluewsc")
FEWGLUE = {"boolq": "BoolQ", "cb": "CB", "copa": "COPA", "multirc": "MultiRC", "rte": "RTE", "record": "ReCoRD",
           "wic": "WiC", "wsc": "WSC"}


@pytest.mark.parametrize("name", FEWCLUE_CLASSIFICATION)
def test_every_fewclue_classification_task_has_three_patterns_that_read_its_rows(shared, zh, name):
    from glm_tune.task.registry import resolve_task

    task = resolve_task(name)
    assert len(task.patterns) >= 3
    data, _ = task.load_split("dev_0", shared / "data" / "fewclue" / name)
    row = data[0]
    for pattern in task.patterns:
        encoded = task.patterns[pattern].encode(row, zh, task.max_length, reserve=1)
        assert encoded.input_ids[encoded.mask_position] == zh.mask_token_id
        labels = task.label_words(pattern).tokenize(zh)  # raises on a word the tokenizer cannot spell
        assert set(labels.labels) >= {str(r["label"]) for r in data}


@pytest.mark.parametrize("name", sorted(FEWGLUE))
def test_every_fewglue_task_has_two_patterns_that_read_its_rows(shared, bert, name):
    from glm_tune.task.registry import resolve_task

    task = resolve_task(name)
    assert len(task.patterns) >= 2
    data, _ = task.load_split("train", shared / "data" / "fewglue" / FEWGLUE[name])
    for pattern in task.patterns:
        encoded = task.patterns[pattern].encode(data[0], bert, task.max_length, reserve=1)
        assert encoded.input_ids[encoded.mask_position] == bert.mask_token_id


@pytest.mark.parametrize(("name", "folder"), [("eprstmt", "fewclue/eprstmt"), ("tnews", "fewclue/tnews"),
                                              ("wic", "fewglue/WiC")])
def test_the_unlabelled_files_read_as_a_split(shared, name, folder):
    from glm_tune.task.registry import resolve_task

    data, report = resolve_task(name).load_split("unlabeled", shared / "data" / folder)
    assert len(data) == report.rows > 1000 and not report.bad_rows


@pytest.mark.parametrize(("extra", "message"), [
    (["--test-split", "test_private"], "--test-split test_private: task eprstmt has splits train, "),
    (["--patterns", "0,7"], "--patterns 0,7: task eprstmt has patterns [0, 1, 2]"),
    (["--learning-rates", "fast"], "--learning-rates fast: expected comma-separated float values"),
    (["--min-dev-rows", "-1"], "--min-dev-rows -1: expected a number of rows, 0 or more"),
])
def test_fewshot_bad_options_name_the_option(shared, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as stop:
        _fewshot(shared, tmp_path / "x", *extra)
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith("glm-tune: error: " + message)


def test_a_run_that_never_beats_the_zero_shot_weights_on_dev_keeps_them(shared):
    from glm_tune.fewshot.runs import TrainSettings, cloze_module, load_backbone, train
    from glm_tune.task.registry import resolve_task
    from glm_tune.training.data import ClozeDataModule, DataOptions

    backbone = load_backbone(str(shared / "golden" / "glm-ref-zh"), str(shared / "tokenizers" / "glm-chinese"),
                             device="cpu")
    task = resolve_task("eprstmt")
    data = ClozeDataModule(task, backbone.tokenizer, DataOptions(
        data_dir=str(shared / "data" / "fewclue" / "eprstmt"), train_split="train_0", validation_split="dev_0",
        max_length=128), pattern_id=0)
    rows, dev = data.split("train_0").examples[:8], data.split("dev_0").examples[:8]

    def run(**options):
        # Learning rate 0: the dev score never improves on epoch 0's, it only equals it.
        settings = TrainSettings(learning_rate=0.0, max_epochs=2, batch_size=4, warmup_ratio=0.0, **options)
        module = cloze_module(backbone, task, data.labels, settings)
        return train(module, rows, dev, settings)

    kept = run()
    assert kept.epoch == 0 and kept.steps == 4 and kept.dev_curve == [kept.dev_curve[0]] * 3
    assert run(keep_zero_shot=False).epoch == 1
    assert run(patience=1).steps == 2  # epoch 1 was no better than epoch 0: stop there




def test_fewshot_ipet_retrains_each_pattern_with_the_others_pseudo_labels(shared, tmp_path, capsys):
    out = tmp_path / "fewshot"
    _fewshot(shared, out, "--ipet", "1", "--unlabelled-limit", "40")
    assert "iPET round 1 (uniform)" in capsys.readouterr().out
    for fold in ("fold0", "fold1"):
        first = json.loads((out / "runs" / f"p0-{fold}.json").read_text())
        second = json.loads((out / "runs" / f"ipet1-p0-{fold}.json").read_text())
        # 32 labelled rows, plus up to 32 x 5 pseudo-labelled ones, an equal share per label, of 40.
        assert first["train_rows"] == 32 and 32 < second["train_rows"] <= 32 + 40
        assert len(first["unlabelled"]) == 40


def test_test_rows_of_the_folds_own_dev_split_are_dropped_whatever_their_ids(shared, tmp_path):
    # dev_few_all holds dev_0..dev_4 with ids renumbered from 0: dev_1's rows must still be found.
    from glm_tune.fewshot.protocol import FewShotConfig, Runner, folds
    from glm_tune.fewshot.runs import load_backbone
    from glm_tune.task.registry import resolve_task

    config = FewShotConfig(task="eprstmt", data_dir=str(shared / "data" / "fewclue" / "eprstmt"), folds="0,1",
                           test_split="dev_few_all")
    task = resolve_task("eprstmt")
    backbone = load_backbone(str(shared / "golden" / "glm-ref-zh"), str(shared / "tokenizers" / "glm-chinese"),
                             device="cpu")
    runner = Runner(config, task, backbone, tmp_path)
    for fold in folds(config, task, tmp_path):
        data = runner.data(fold, 0)
        kept = runner.test_examples(data, fold)
        own = {(r["sentence"], r["label"]) for name in (fold.train, fold.dev) for r in data.split(name).rows}
        test = [(r["sentence"], r["label"]) for r in data.split(fold.test).rows]
        # At least the fold's 32 dev rows go, and any training row dev_few_all repeats (FewCLUE has some).
        assert len(kept) == sum(row not in own for row in test) <= 160 - 32
        assert not any(test[e.index] in own for e in kept)
