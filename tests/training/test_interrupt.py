"""Interrupted runs: kill -9 and Ctrl-C at an epoch boundary and mid-epoch, then --resume, give
what the uninterrupted run gives (metrics.json, best.ckpt, final weights); a run that fails
before its first checkpoint leaves nothing that blocks the rerun."""

import json
import shlex
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from glm_tune.cli import main

# The golden tiny GLM on 48 SST-2 rows, 8 per batch: 6 optimizer steps per epoch, 2 epochs.
_STEPS_PER_EPOCH = 6


def _argv(shared, out, *extra):
    return [
        "fit", "--task", "sst2", "--model", str(shared / "golden" / "glm-ref-zh"),
        "--tokenizer", str(shared / "tokenizers" / "glm-chinese"), "--data-dir", str(shared / "data" / "sst2"),
        "--train-limit", "48", "--eval-limit", "24", "--batch-size", "8", "--learning-rate", "1e-3",
        "--dropout", "0.1", "--max-epochs", "2", "--checkpoint-every-n-steps", "2", "--progress-bar", "false",
        "--accelerator", "cpu", "--output-dir", str(out), *extra,
    ]


# Runs `glm-tune ARGV` with a callback that sends itself SIGKILL or SIGINT (twice for
# sigint2) at step:N (after optimizer step N), validation:E (as epoch E's validation starts) or
# epoch:E (as epoch E starts); epochs count from 0 here, as in Lightning.
_INTERRUPTED = textwrap.dedent("""
    import os, signal, sys
    import lightning.pytorch as pl
    import glm_tune.training.run as run
    from glm_tune.cli import main

    mode, where = sys.argv[1], sys.argv[2]
    sig = signal.SIGKILL if mode == "kill9" else signal.SIGINT

    class Interrupt(pl.Callback):
        def send(self, here):
            if here == where:
                for _ in range(2 if mode == "sigint2" else 1):
                    os.kill(os.getpid(), sig)

        def on_train_batch_end(self, trainer, *args):
            self.send(f"step:{trainer.global_step}")

        def on_validation_start(self, trainer, *args):
            self.send(f"validation:{trainer.current_epoch}")

        def on_train_epoch_start(self, trainer, *args):
            self.send(f"epoch:{trainer.current_epoch}")

    build = run.build_trainer

    def with_interrupt(*args, callbacks=None, **kwargs):
        if kwargs.get("enable_checkpointing", True):  # the training trainer, not the evaluation one
            callbacks = [Interrupt(), *(callbacks or [])]
        return build(*args, callbacks=callbacks, **kwargs)

    run.build_trainer = with_interrupt
    main(sys.argv[3:])
""")


def _interrupted(mode, where, argv):
    return subprocess.run([sys.executable, "-c", _INTERRUPTED, mode, where, *argv], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def reference(shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    main(_argv(shared, out))
    return out


def _checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _best_score(checkpoint):
    scores = [v["best_model_score"] for k, v in checkpoint["callbacks"].items() if "val/accuracy" in k]
    assert len(scores) == 1
    return scores[0]


def _assert_same_run(reference, run):
    assert json.loads((run / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())
    best_a, best_b = _checkpoint(reference / "checkpoints" / "best.ckpt"), _checkpoint(run / "checkpoints" / "best.ckpt")
    assert (best_b["epoch"], best_b["global_step"]) == (best_a["epoch"], best_a["global_step"])
    assert _best_score(best_b) == _best_score(best_a)
    for key, value in best_a["state_dict"].items():
        torch.testing.assert_close(best_b["state_dict"][key], value, rtol=0, atol=1e-6)
    assert _best_score(_checkpoint(run / "checkpoints" / "last.ckpt")) == _best_score(
        _checkpoint(reference / "checkpoints" / "last.ckpt"))
    a = load_file(str(reference / "model" / "model.safetensors"))
    b = load_file(str(run / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode, where, resumed_at", [
    ("kill9", "epoch:1", _STEPS_PER_EPOCH),  # at the epoch boundary, after epoch 1's checkpoints
    ("kill9", "step:3", 2),  # mid-epoch in the first epoch: back to the step-2 checkpoint
    ("kill9", "validation:0", 4),  # in epoch 1's validation: back to step 4, no step checkpoint at step 6
    ("sigint", "step:3", 3),  # Ctrl-C mid-epoch in the first epoch: saved at step 3
    ("sigint", "validation:0", _STEPS_PER_EPOCH),  # Ctrl-C during epoch 1's validation: saved at its end
    ("sigint", "step:6", _STEPS_PER_EPOCH),  # Ctrl-C in epoch 1's last step: saved after its validation
])
def test_interrupted_run_resumes_to_the_uninterrupted_result(shared, reference, tmp_path, capsys, mode, where,
                                                             resumed_at):
    out = tmp_path / "run"
    argv = _argv(shared, out)
    process = _interrupted(mode, where, argv)
    last = _checkpoint(out / "checkpoints" / "last.ckpt")
    assert last["global_step"] == resumed_at
    if mode == "kill9":
        assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
        resume = argv + ["--resume"]
    else:
        assert process.returncode == 130, process.stderr[-2000:]
        assert "Traceback" not in process.stderr
        lines = [line for line in process.stderr.splitlines() if line.startswith("continue with: ")]
        assert len(lines) == 1, process.stderr[-2000:]
        command = shlex.split(lines[0].removeprefix("continue with: "))
        assert command == ["glm-tune", *argv, "--resume"]
        resume = command[1:]
    main(resume)
    _assert_same_run(reference, out)


def test_second_ctrl_c_quits_at_once(shared, tmp_path):
    process = _interrupted("sigint2", "step:3", _argv(shared, tmp_path / "run"))
    assert process.returncode == 130
    assert "quitting now" in process.stderr and "Traceback" not in process.stderr
    assert "continue with" not in process.stderr


def test_resume_may_train_longer(shared, reference, tmp_path, capsys):
    out = tmp_path / "run"
    main(_argv(shared, out, "--max-epochs", "1"))
    assert _checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == _STEPS_PER_EPOCH
    main(_argv(shared, out, "--max-epochs", "2", "--resume"))
    assert _checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 2 * _STEPS_PER_EPOCH
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["version_0", "version_1"]
    assert (out / "model" / "model.safetensors").is_file()


def test_failure_before_the_first_checkpoint_leaves_nothing(shared, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.tsv").write_text("sentence\tlabel\n")  # header only
    (bad / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    out = tmp_path / "run"
    argv = _argv(shared, out)
    data_dir = argv.index("--data-dir") + 1
    with pytest.raises(SystemExit) as exit_info:
        main(argv[:data_dir] + [str(bad)] + argv[data_dir + 1:])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"{bad / 'train.tsv'}: no usable rows" in error and len(error.strip().splitlines()) == 1
    assert not out.exists()
    main(argv)  # the corrected rerun: no "already holds a run", no --resume needed
    assert (out / "metrics.json").is_file()


def test_run_killed_before_its_first_checkpoint_does_not_block_the_rerun(shared, tmp_path, capsys):
    out = tmp_path / "run"
    argv = _argv(shared, out)
    process = _interrupted("kill9", "step:1", argv)
    assert process.returncode == -signal.SIGKILL
    assert (out / "fit_config.json").is_file() and not (out / "checkpoints" / "last.ckpt").exists()
    with pytest.raises(SystemExit):
        main(argv + ["--resume"])
    assert "nothing to resume" in capsys.readouterr().err
    main(argv)
    assert (out / "metrics.json").is_file()


def test_ctrl_c_as_training_starts_saves_after_the_first_step(shared, tmp_path):
    out = tmp_path / "run"
    process = _interrupted("sigint", "epoch:0", _argv(shared, out))
    assert process.returncode == 130, process.stderr[-2000:]
    assert _checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 1
