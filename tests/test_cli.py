"""The command line: start-up imports, one option spelling, per-command options, tables."""

import json
import subprocess
import sys
import textwrap

import pytest

from glm_tune.cli import _normalise, build_parser, dashed, main, resume_command
from glm_tune.table import display_width, format_table

# A fresh interpreter: imports of the test session must not count.
_IMPORTED = textwrap.dedent("""
    import json, sys
    from glm_tune.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
    heavy = ("lightning", "lightning.pytorch", "datasets", "transformers", "torchmetrics")
    print(json.dumps([name for name in heavy if name in sys.modules]), file=sys.stderr)
""")


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["tasks"]])
def test_help_models_and_tasks_import_no_heavy_library(argv):
    process = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], capture_output=True, text=True, timeout=300)
    assert json.loads(process.stderr.strip().splitlines()[-1]) == []


def test_help_spells_options_with_dashes(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "--max-epochs" in text and "--output-dir" in text and "--skip-bad-rows" in text
    assert "--max_epochs" not in text and "--output_dir" not in text


def test_both_spellings_are_accepted(tmp_path):
    parser = build_parser({"fit"})
    a = parser.parse_args(_normalise(["fit", "--task", "sst2", "--max-epochs", "2", "--learning-rate", "-1e-4"]))
    b = parser.parse_args(_normalise(["fit", "--task", "sst2", "--max_epochs", "2", "--learning_rate=-1e-4"]))
    assert a.fit.max_epochs == b.fit.max_epochs == 2
    assert a.fit.learning_rate == b.fit.learning_rate == -1e-4


def _options(command):
    parser = build_parser({command})
    sub = parser._subcommands_action._name_parser_map[command]
    return {option for action in sub._actions for option in action.option_strings}


def test_evaluation_commands_show_no_training_options():
    fit = _options("fit")
    assert {"--max_epochs", "--learning_rate", "--train_limit", "--resume", "--output_dir"} <= fit
    for command in ("validate", "test", "predict"):
        options = _options(command)
        assert {"--batch_size", "--data_dir", "--eval_limit", "--precision", "--model"} <= options
        assert not options & {"--max_epochs", "--max_steps", "--learning_rate", "--train_limit", "--group_by_length",
                              "--accumulate_grad_batches", "--resume", "--overwrite", "--output_dir", "--loggers"}


def test_fit_only_fields_come_from_the_dataclasses():
    """A field is fit's alone by its FIT_ONLY metadata, so one added later is placed by that too."""
    import dataclasses

    from glm_tune.training.options import FIT_ONLY, fit_only_fields

    @dataclasses.dataclass
    class Options:
        shared: int = 1
        only_training: int = dataclasses.field(default=2, metadata=FIT_ONLY)

    assert fit_only_fields(Options) == {"only_training"}


def test_dashed_spelling():
    assert dashed("raise --max_length or --test_split; --max-epochs stays") == (
        "raise --max-length or --test-split; --max-epochs stays")


def test_resume_command_keeps_the_arguments_and_drops_overwrite():
    argv = ["fit", "--task", "sst2", "--overwrite", "--output-dir", "runs/my run", "--max_epochs=3"]
    assert resume_command(argv) == "glm-tune fit --task sst2 --output-dir 'runs/my run' --max_epochs=3 --resume"
    assert resume_command(["fit", "--overwrite", "true", "--task", "x"]) == "glm-tune fit --task x --resume"


def test_table_aligns_chinese_text():
    table = format_table([("choice", "log-prob"), ("* 北京故宫", "-1.0000"), ("  Shanghai", "-2.0000")])
    header, rule, *rows = table.splitlines()
    # The second column starts at the same terminal column in every row (a CJK character is two wide).
    starts = {display_width(line[: line.index("-" if line is not header else "l", 2)]) for line in rows + [header]}
    assert len(starts) == 1, table
    assert display_width("北京") == 4 and display_width("ab") == 2


def test_progress_bar_counts_epochs_from_one_without_v_num(shared, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    (data / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    main(["fit", "--task", "sst2", "--model", str(shared / "golden" / "glm-ref-zh"),
          "--tokenizer", str(shared / "tokenizers" / "glm-chinese"), "--data-dir", str(data),
          "--output-dir", str(tmp_path / "run"), "--max-epochs", "2", "--accelerator", "cpu"])
    captured = capsys.readouterr()
    bars = captured.out + captured.err
    assert "Epoch 1/2" in bars and "Epoch 2/2" in bars
    assert "Epoch 0" not in bars and "v_num" not in bars
    assert captured.err.count("sst2 train: 2 rows") == 1 and captured.err.count("sst2 validation: 1 rows") == 1
