"""`glm-tune report` draws a real fit run from the files the run wrote."""

from __future__ import annotations

import json

import pytest

from glm_tune.cli import main
from glm_tune.training.data import DataOptions
from glm_tune.training.module import TrainingOptions
from glm_tune.training.report import read_logs, write_report
from glm_tune.training.run import FitConfig, fit
from glm_tune.training.trainer import TrainerOptions

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(shared, tmp_path_factory):
    """Two epochs of the golden tiny GLM on 48 SST-2 rows, validated on 24."""
    out = tmp_path_factory.mktemp("report") / "run"
    fit(FitConfig(
        task="sst2", model=str(shared / "golden" / "glm-ref-zh"), tokenizer=str(shared / "tokenizers" / "glm-chinese"),
        output_dir=str(out), data=DataOptions(data_dir=str(shared / "data" / "sst2"), train_limit=48, eval_limit=24,
                                              batch_size=8),
        training=TrainingOptions(learning_rate=1e-3),
        trainer=TrainerOptions(max_epochs=2, log_every_n_steps=2, progress_bar=False, accelerator="cpu"),
    ))
    return out


def test_fit_saves_the_final_validations_predictions(run):
    rows = [json.loads(line) for line in (run / "val_predictions.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(24))
    assert all(row["label"] in ("0", "1") and row["prediction"] in ("0", "1") for row in rows)
    accuracy = json.loads((run / "metrics.json").read_text())["metrics"]["val/accuracy"]
    assert sum(row["label"] == row["prediction"] for row in rows) / 24 == pytest.approx(accuracy)


def test_the_report_reads_the_logs_and_writes_pngs(run, tmp_path):
    rows = read_logs(run)
    assert sum("train/loss" in row for row in rows) == 12 // 2  # 2 epochs of 48 / 8 steps, logged every 2
    assert sorted(row["epoch"] for row in rows if "val/accuracy" in row) == [0, 1]
    result = write_report(run, tmp_path / "pictures")
    assert result.curves == tmp_path / "pictures" / "report.png"
    assert result.confusion == tmp_path / "pictures" / "confusion.png"
    for path in (result.curves, result.confusion):
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5_000  # a drawn figure, not an empty canvas
    assert result.table.splitlines()[0].split() == ["split", "metric", "value"]


def test_the_report_command_prints_the_table(run, tmp_path, capsys):
    main(["report", str(run), "--output-dir", str(tmp_path)])
    accuracy = json.loads((run / "metrics.json").read_text())["metrics"]["val/accuracy"]
    out = capsys.readouterr().out
    assert f"val    accuracy  {accuracy:.4f}" in out
    assert f"report:    {tmp_path / 'report.png'}" in out and f"confusion: {tmp_path / 'confusion.png'}" in out


def test_a_directory_without_logs_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", str(tmp_path)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"glm-tune: error: {tmp_path}/logs/version_0/metrics.csv not found: report reads the CSV logs of a fit run "
        "(written unless --loggers leaves out csv)\n")
