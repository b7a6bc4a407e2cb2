"""One error path: every user error is a GLMTuneError, and glm-tune prints it as one line
naming the option, file, line or field, exits 2, and shows no traceback unless --debug."""

import json

import pytest
import torch

from glm_tune.checkpoint import CheckpointError, load_tensors
from glm_tune.cli import main
from glm_tune.cloze.template import TemplateError, UnknownPatternError
from glm_tune.cloze.verbalizer import VerbalizerError
from glm_tune.errors import GLMTuneError, MissingFileError, OptionError
from glm_tune.metrics import EmptyMetricError
from glm_tune.pretraining.corpus import CorpusError
from glm_tune.task.readers import DataError
from glm_tune.training.trainer import NonFiniteLossError


def test_every_project_error_has_the_one_root_and_is_still_a_value_error():
    for kind in (DataError, CheckpointError, CorpusError, TemplateError, VerbalizerError, EmptyMetricError,
                 NonFiniteLossError, OptionError, MissingFileError, UnknownPatternError):
        assert issubclass(kind, GLMTuneError) and issubclass(kind, ValueError)
        # one family: no second built-in base beside the root's
        assert all(issubclass(base, GLMTuneError) for base in kind.__bases__), kind


def _error(argv, capsys, code=2):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("glm-tune:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
    (["--learning-rate", "-1e-4"], "--learning-rate -0.0001: must be positive"),
    (["--max-epochs", "0"], "--max-epochs 0: must be at least 1"),
    (["--max-steps", "0"], "--max-steps 0: must be at least 1"),
    (["--warmup-ratio", "1.5"], "--warmup-ratio 1.5: must be in [0, 1)"),
    (["--max-epochs", "x"], "--max-epochs x: expected int or none"),
    (["--precision", "17"], "--precision 17: expected one of 32-true"),
])
def test_bad_option_values_are_refused_before_anything_loads(extra, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _error(["fit", "--task", "sst2", "--model", "no-such-model", *extra], capsys)
    assert message in line
    assert not (tmp_path / "runs").exists()


def test_output_dir_that_cannot_be_created(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    line = _error(["fit", "--task", "sst2", "--output-dir", str(tmp_path / "afile" / "run")], capsys)
    assert f"--output-dir {tmp_path / 'afile' / 'run'}: cannot create the directory (Not a directory)" in line


def test_debug_keeps_the_traceback(tmp_path):
    with pytest.raises(OptionError, match="--batch-size 0"):
        main(["fit", "--task", "sst2", "--batch-size", "0", "--debug"])


def test_predict_output_is_checked_before_predicting(capsys, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sentence": "fine"}\n')
    # --model is not even looked at: the output is refused first.
    line = _error(["predict", "--model", "no-such-model", "--input", str(rows), "--output", str(rows)], capsys)
    assert "is the --input file" in line and rows.read_text() == '{"sentence": "fine"}\n'
    (tmp_path / "afile").write_text("x")
    line = _error(["predict", "--model", "no-such-model", "--input", str(rows),
                   "--output", str(tmp_path / "afile" / "p.jsonl")], capsys)
    assert f"--output {tmp_path / 'afile' / 'p.jsonl'}: cannot write there" in line


def test_pickle_payload_refusal_gives_no_unsafe_advice(tmp_path):
    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code from a checkpoint ran')",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": Payload()}}, path)
    with pytest.raises(CheckpointError) as error:
        load_tensors(path)
    assert "refused" in str(error.value) and "weights_only" not in str(error.value)


def test_suite_with_failed_runs_exits_non_zero_with_one_line_each(capsys, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a.yaml").write_text("task: sst3\n")
    (suite / "b.yaml").write_text("task: nope\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["suite", str(suite), "--output-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "R.md")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "run a failed: OptionError: unknown task 'sst3'" in err
    assert "run b failed: OptionError: unknown task 'nope'" in err
    assert "2 of the suite's runs failed" in err


def test_header_only_file_and_prediction_lines(shared, capsys, tmp_path):
    model = ["--model", str(shared / "golden" / "glm-ref-zh"), "--tokenizer", str(shared / "tokenizers" / "glm-chinese")]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\n")
    (data / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    line = _error(["fit", "--task", "sst2", *model, "--data-dir", str(data), "--output-dir", str(tmp_path / "run"),
                   "--progress-bar", "false"], capsys)
    assert f"{data / 'train.tsv'}: no usable rows" in line

    # A model directory to predict with: one optimizer step is enough.
    (data / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    main(["fit", "--task", "sst2", *model, "--data-dir", str(data), "--output-dir", str(tmp_path / "run"),
          "--max-steps", "1", "--progress-bar", "false"])
    err = capsys.readouterr().err
    assert err.count("sst2 validation: 1 rows") == 1  # row counts are printed once
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"idx": 7, "sentence": "good"}\n{"idx": 8}\n\n{"idx": 9, "sentence": "bad"}\n')
    main(["predict", "--model", str(tmp_path / "run" / "model"), "--input", str(rows), "--skip-bad-rows",
          "--output", str(tmp_path / "p.jsonl"), "--progress-bar", "false"])
    out = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(r["idx"], r["input_line"]) for r in out] == [(7, 1), (9, 4)]
