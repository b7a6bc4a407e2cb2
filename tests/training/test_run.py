"""End to end: fit, test and predict on real SST-2 rows with the golden tiny GLM."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from glm_tune.cli import main
from glm_tune.model import load_model
from glm_tune.task.readers import DataError
from glm_tune.training.data import DataOptions
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, fit, predict
from glm_tune.training.trainer import TrainerOptions


@pytest.fixture(scope="module")
def small(shared):
    def config(out, **changes):
        data = dict(data_dir=str(shared / "data" / "sst2"), train_limit=48, eval_limit=24, batch_size=8)
        training = dict(learning_rate=1e-3)
        trainer = dict(max_epochs=2, progress_bar=False, accelerator="cpu")
        for section, values in (("data", data), ("training", training), ("trainer", trainer)):
            values.update({k: changes.pop(k) for k in list(changes) if k in _FIELDS[section]})
        return FitConfig(
            task="sst2", model=str(shared / "golden" / "glm-ref-zh"),
            tokenizer=str(shared / "tokenizers" / "glm-chinese"), output_dir=str(out),
            data=DataOptions(**data), training=TrainingOptions(**training), trainer=TrainerOptions(**trainer),
            **changes,
        )

    return config


_FIELDS = {
    "data": set(DataOptions.__dataclass_fields__),
    "training": set(TrainingOptions.__dataclass_fields__),
    "trainer": set(TrainerOptions.__dataclass_fields__),
}


def test_fit_test_predict_from_saved_directory(small, tmp_path, capsys):
    result = fit(small(tmp_path / "run", test_split="validation"))
    assert 0.0 <= result.metrics["val/accuracy"] <= 1.0
    assert result.metrics["test/accuracy"] == result.metrics["val/accuracy"]  # same rows, same weights
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert "val/accuracy" in (run / "logs" / "version_0" / "metrics.csv").read_text()
    assert json.loads((run / "metrics.json").read_text())["metrics"] == result.metrics

    # The saved directory is a hub-layout model plus the task record.
    model = load_model(run / "model")
    record = json.loads((run / "model" / "glm_tune.json").read_text())
    assert record["task"] == "sst2" and record["pattern_id"] == 0
    assert record["verbalizer"] == {"0": [" terrible"], "1": [" great"]}
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(model.word_embeddings.weight, best["model.word_embeddings.weight"])

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sentence": "a charming and often affecting journey"}\n{"sentence": "bleak and desperate"}\n')
    out = predict(FitConfig(task="", model=str(run / "model"), trainer=TrainerOptions(progress_bar=False)),
                  rows, tmp_path / "pred.jsonl").predictions
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["sentence"] for line in lines] == ["a charming and often affecting journey", "bleak and desperate"]
    for line in lines:
        assert line["prediction"] in ("0", "1")
        assert set(line["scores"]) == {"0", "1"}
        assert line["prediction"] == max(line["scores"], key=line["scores"].get)

    # The CLI's test command on the saved model reproduces fit's number.
    capsys.readouterr()
    main(["test", "--model", str(run / "model"), "--data-dir", str(small(tmp_path).data.data_dir),
          "--test-split", "validation", "--eval-limit", "24", "--progress-bar", "false"])
    table = capsys.readouterr().out
    assert f"{result.metrics['val/accuracy']:.4f}" in table and "accuracy" in table


def test_output_dir_holding_a_run_is_refused_unless_told(small, tmp_path):
    fit(small(tmp_path / "run", max_steps=1, max_epochs=1))
    with pytest.raises(ValueError, match="already holds a run.*--resume.*--overwrite"):
        fit(small(tmp_path / "run", max_steps=1, max_epochs=1))
    fit(small(tmp_path / "run", max_steps=1, max_epochs=1, overwrite=True))
    with pytest.raises(ValueError, match="not found; nothing to resume"):
        fit(small(tmp_path / "other", resume=True))


def test_missing_data_files_are_listed(small, tmp_path):
    with pytest.raises(DataError, match=r"train\.tsv not found.*reads train\.tsv, dev\.tsv"):
        fit(small(tmp_path / "run", data_dir=str(tmp_path)))


@pytest.mark.parametrize("argv, message", [
    (["fit", "--task", "sst3"], "unknown task 'sst3'. Did you mean sst2"),
    (["fit", "--task", "sst2", "--model", "glm-lrage"], "glm-large"),
    (["fit", "--task", "sst2", "--no-such-option", "1"], "--no-such-option"),
])
def test_cli_errors_name_the_problem(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_config_file_with_unknown_key_is_refused(tmp_path, capsys):
    config = tmp_path / "x.yaml"
    config.write_text("task: sst2\nmax_epoch: 3\n")
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(config)])
    assert "max_epoch" in capsys.readouterr().err


_KILLER = textwrap.dedent("""
    import json, os, signal, sys
    import lightning.pytorch as pl
    from glm_tune.training.run import FitConfig, fit

    class KillAt(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final checkpoint

    fit(FitConfig.from_dict(json.loads(open(sys.argv[1]).read())), callbacks=[KillAt()])
""")


def test_kill_9_then_resume_reaches_the_uninterrupted_result(small, tmp_path):
    changes = dict(max_epochs=2, checkpoint_every_n_steps=2, dropout=0.1)
    reference = fit(small(tmp_path / "reference", **changes))

    config = small(tmp_path / "killed", **changes)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.to_dict()))
    # 6 steps per epoch: killed after step 9, the last checkpoint is step 8, in mid-epoch 2.
    process = subprocess.run([sys.executable, "-c", _KILLER, str(config_file), "9"], capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    saved = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 8 and saved["ClozeDataModule"] == {"epoch": 1, "batches": 2}

    config.resume = True
    resumed = fit(config)
    assert resumed.metrics == reference.metrics
    a = load_file(str(tmp_path / "reference" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert os.path.exists(tmp_path / "killed" / "model" / "glm_tune.json")
    # Both parts of the run keep their logs.
    assert sorted(p.name for p in (tmp_path / "killed" / "logs").iterdir()) == ["version_0", "version_1"]
