"""experiments/ configs and the suite runner (glm_tune/training/suite.py, `glm-tune suite`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glm_tune.cli import _fit_config, build_parser, main
from glm_tune.errors import OptionError
from glm_tune.task.registry import all_tasks
from glm_tune.training.run import FitConfig, load_fit_config
from glm_tune.training.suite import load_expected, read_results, run_suite, suite_runs

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
# A suite is a directory with expected.yaml (experiments/glm-tiny holds a training recipe).
SUITES = sorted(p for p in EXPERIMENTS.iterdir() if (p / "expected.yaml").is_file())
CONFIGS = [config for suite in SUITES for config in suite_runs(suite)]


def test_suites_exist():
    names = {suite.name for suite in SUITES}
    assert {"superglue-glm-large", "clue-glm-large-ch", "smoke"} <= names
    superglue = {p.stem for p in suite_runs(EXPERIMENTS / "superglue-glm-large")}
    assert superglue == {"boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_parses_into_fit_config(path):
    # the CLI's own parser, as `glm-tune fit --config PATH` runs it
    namespace = build_parser().parse_args(["fit", "--config", str(path)])
    config = _fit_config(namespace.fit)
    assert isinstance(config, FitConfig)
    assert config.task in all_tasks(), f"{path}: unknown task {config.task}"
    assert load_fit_config(path) == config
    # a run's name is its task's (what expected.yaml and RESULTS.md are keyed by)
    assert path.stem == config.task


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_expected_covers_every_run(suite):
    expected = load_expected(suite)
    runs = {p.stem for p in suite_runs(suite)}
    assert set(expected) == runs
    for name, entry in expected.items():
        config = load_fit_config(suite / f"{name}.yaml")
        assert entry["metric"] in all_tasks()[config.task].metrics, (suite.name, name)
        assert entry["expected"] is None or isinstance(entry["expected"], (int, float))
        assert entry.get("source")


def test_superglue_hyperparameters_and_targets():
    suite = EXPERIMENTS / "superglue-glm-large"
    table = {"boolq": (256, 16, 20), "cb": (256, 16, 50), "copa": (256, 16, 50), "multirc": (512, 64, 15),
             "record": (512, 64, 5), "rte": (256, 16, 50), "wic": (256, 16, 30), "wsc": (128, 16, 50)}
    for name, (max_length, batch_size, epochs) in table.items():
        config = load_fit_config(suite / f"{name}.yaml")
        assert config.model == "glm-large" and config.seed == 1234
        assert (config.data.max_length, config.data.batch_size, config.trainer.max_epochs) == (
            max_length, batch_size, epochs)
        assert config.training.learning_rate == 1e-5
        assert config.training.warmup_ratio == 0.1 and config.training.weight_decay == 0.1
    expected = load_expected(suite)
    assert expected["copa"]["expected"] == 76.0
    assert (expected["cb"]["metric"], expected["cb"]["expected"]) == ("accuracy", 94.6)
    assert (expected["record"]["metric"], expected["record"]["expected"]) == ("em", 81.1)
    assert (expected["multirc"]["metric"], expected["multirc"]["expected"]) == ("f1a", 77.1)
    assert all(entry["expected"] is None for entry in load_expected(EXPERIMENTS / "clue-glm-large-ch").values())


def test_unknown_key_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: copa\nlearning_rat: 1e-5\n")
    with pytest.raises(ValueError, match="learning_rat"):
        load_fit_config(bad)


def test_load_fit_config_takes_dashed_keys_overrides_and_checks_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: copa\nmax-epochs: 2\nlearning_rate: 3e-5\n")
    config = load_fit_config(path, {"batch-size": 4})
    assert (config.task, config.trainer.max_epochs, config.training.learning_rate, config.data.batch_size) == (
        "copa", 2, 3e-5, 4)
    path.write_text("task: copa\nmax_epochs: many\n")
    with pytest.raises(OptionError, match=r"run\.yaml: .*max_epochs"):
        load_fit_config(path)


def _local_smoke_suite(shared: Path, tmp_path: Path) -> Path:
    """experiments/smoke with its ../shared paths made absolute (the test may run from anywhere)."""
    suite = tmp_path / "smoke"
    suite.mkdir()
    for path in (EXPERIMENTS / "smoke").glob("*.yaml"):
        (suite / path.name).write_text(path.read_text().replace("../shared/", f"{shared}/"))
    return suite


def test_smoke_suite_end_to_end(shared, tmp_path):
    suite = _local_smoke_suite(shared, tmp_path)
    results = run_suite(suite, tmp_path / "runs", results=tmp_path / "RESULTS.md")
    assert results == tmp_path / "RESULTS.md"
    rows = read_results(results, "smoke")
    assert [row["run"] for row in rows] == ["copa", "sst2", "tnews"]
    for row in rows:
        assert row["status"].startswith("ok"), row
        assert 0.0 <= float(row["got"]) <= 100.0
        assert row["expected"] == "—" and row["delta"] == "—"
        assert (tmp_path / "runs" / row["run"] / "metrics.json").is_file()
    text = results.read_text()
    assert "| run | task | model | metric | expected | got | delta | status |" in text
    assert "- command: `glm-tune suite" in text and "- date: " in text


def test_failed_run_is_recorded_and_the_suite_goes_on(tmp_path):
    suite = tmp_path / "broken"
    suite.mkdir()
    (suite / "a.yaml").write_text("task: copa\nno_such_option: 1\n")
    (suite / "b.yaml").write_text("task: no-such-task\n")
    (suite / "expected.yaml").write_text(yaml.safe_dump({"a": {"metric": "accuracy", "expected": 76.0}}))
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n<!-- suite: other -->\nkept\n<!-- end suite: other -->\n")
    run_suite(suite, tmp_path / "runs", results=results)
    rows = read_results(results, "broken")
    assert [(row["run"], row["status"].split()[0]) for row in rows] == [("a", "failed"), ("b", "failed")]
    assert rows[0]["expected"] == "76.0" and rows[0]["got"] == "—"
    text = results.read_text()
    assert "no_such_option" in text and "no-such-task" in text
    assert "kept" in text  # other suites' sections survive
    run_suite(suite, tmp_path / "runs", results=results, only=["b"])
    assert [row["run"] for row in read_results(results, "broken")] == ["b"]
    assert results.read_text().count("<!-- suite: broken -->") == 1


def test_cli_suite_subcommand(shared, tmp_path, capsys):
    suite = _local_smoke_suite(shared, tmp_path)
    results = tmp_path / "cli-results.md"
    main(["suite", str(suite), "--output_dir", str(tmp_path / "runs"), "--results", str(results),
          "--only", "copa", "--set", "learning_rate=5e-5", "--set", "eval_limit=4"])
    assert f"results: {results}" in capsys.readouterr().out
    (row,) = read_results(results, "smoke")
    assert row["run"] == "copa" and row["status"].startswith("ok")
    float(row["got"])
    text = results.read_text()
    assert "`learning_rate=5e-05`" in text or "`learning_rate=5e-5`" in text and "--only copa" in text
