"""End to end on CPU: a tokenizer and a tiny GLM pretrained on real bilingual lines, then resumed."""

from __future__ import annotations

import itertools
import os
import signal
import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from glm_tune.errors import RunInterrupted
from glm_tune.model import load_model
from glm_tune.pretraining.infilling import InfillingConfig, collate
from glm_tune.pretraining.pretrain import PretrainConfig, PretrainModule, pretrain
from glm_tune.pretraining.tokenizer_training import train_tokenizer
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.trainer import TrainerOptions, last_checkpoint


class Record(Callback):
    """Keeps the module, the step training started at, and every validation loss."""

    def __init__(self) -> None:
        self.val_losses: list[float] = []
        self.start_step: int | None = None
        self.module: PretrainModule | None = None
        self.batches: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append(batch["input_ids"].clone())

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step
        self.module = pl_module

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val_losses.append(float(trainer.callback_metrics["val/loss"]))


@pytest.fixture(autouse=True)
def one_thread():
    """A model this small trains fastest on one thread; two contend badly on shared 2-core machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus_dir(shared, tmp_path_factory):
    """A few hundred real lines: SST-2 training sentences and FewCLUE TNEWS unlabeled titles."""
    directory = tmp_path_factory.mktemp("corpus")
    for source, name, count in (("sst2/train.tsv", "sst2.tsv", 400), ("fewclue/tnews/unlabeled.json", "tnews.json", 150)):
        with open(shared / "data" / source, encoding="utf-8") as handle:
            (directory / name).write_text("".join(itertools.islice(handle, count)), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def tokenizer_dir(corpus_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer([corpus_dir], directory, vocab_size=800, character_coverage=0.98)
    return directory


def config(corpus_dir, tokenizer_dir, output_dir, max_steps: int, **kwargs) -> PretrainConfig:
    return PretrainConfig(
        corpus=[str(corpus_dir)], output_dir=str(output_dir),
        tokenizer=None if tokenizer_dir is None else str(tokenizer_dir),
        hidden_size=64, num_layers=2, num_attention_heads=4, max_sequence_length=64, dropout=0.0,
        infilling=InfillingConfig(seq_length=64), batch_size=8, learning_rate=3e-3, warmup_ratio=0.1,
        validation_fraction=0.1, seed=3,
        trainer=TrainerOptions(max_epochs=None, max_steps=max_steps, accelerator="cpu", loggers=[],
                               progress_bar=False, log_every_n_steps=5, val_check_interval=5),
        **kwargs,
    )


def run(cfg: PretrainConfig) -> tuple[Record, object]:
    record = Record()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers|GPU available).*")
        directory = pretrain(cfg, callbacks=[record])
    return record, directory


def test_pretrain_learns_saves_and_resumes(corpus_dir, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    record, model_dir = run(config(corpus_dir, tokenizer_dir, out, max_steps=30))
    first = record
    assert record.start_step == 0 and len(record.val_losses) >= 3
    assert record.val_losses[-1] < record.val_losses[0] - 0.5, record.val_losses

    # The saved directory is a hub-layout model with its tokenizer, equal to the trained module.
    model = load_model(model_dir)
    tokenizer = load_tokenizer(model_dir)
    original = load_tokenizer(tokenizer_dir)
    assert tokenizer.command_tokens == original.command_tokens
    assert tokenizer.encode("a good film [MASK] 我们") == original.encode("a good film [MASK] 我们")
    assert model.config.vocab_size == original.padded_vocab_size and model.config.num_layers == 2
    module = record.module.eval()
    batch = collate([module.val_data[i] for i in range(len(module.val_data))])
    with torch.no_grad():
        expected = module(batch)
        got = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"]).logits
    assert torch.allclose(got, expected, atol=1e-5)
    full_size = (model_dir / "model.safetensors").stat().st_size

    # Resuming continues from last.ckpt's step, and float16 saving halves the weights.
    assert torch.load(last_checkpoint(out), weights_only=False)["global_step"] == 30
    record, model_dir = run(config(corpus_dir, tokenizer_dir, out, max_steps=36, save_dtype="float16"))
    assert record.start_step == 30
    assert torch.load(last_checkpoint(out), weights_only=False)["global_step"] == 36
    assert (model_dir / "model.safetensors").stat().st_size < 0.6 * full_size
    model = load_model(model_dir)
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        expected = record.module.model.float()(batch["input_ids"], batch["position_ids"],
                                                attention_mask=batch["sep"]).logits
        got = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"]).logits
    assert torch.allclose(got, expected, atol=1e-5)

    # Continued pretraining starts from the saved weights, with the saved tokenizer.
    first_loss = first.val_losses[0]
    record, more_dir = run(config(corpus_dir, None, tmp_path / "more", max_steps=5, model=str(model_dir)))
    assert record.val_losses[0] < first_loss - 0.5
    assert load_model(more_dir).config.to_dict() == model.config.to_dict()
    assert load_tokenizer(more_dir).command_tokens == original.command_tokens


def test_pretrain_config_errors(corpus_dir, tokenizer_dir, tmp_path):
    with pytest.raises(ValueError, match="tokenizer is required"):
        pretrain(PretrainConfig(corpus=[str(corpus_dir)], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="exceeds the model's max_sequence_length"):
        cfg = config(corpus_dir, tokenizer_dir, tmp_path, max_steps=1)
        cfg.infilling = InfillingConfig(seq_length=128)
        pretrain(cfg)


class Crash(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 20:
            raise KeyboardInterrupt


def test_resuming_mid_epoch_continues_with_the_next_batch(corpus_dir, tokenizer_dir, tmp_path):
    """29 batches per epoch: a run killed after step 20 (checkpointed every 10 steps) and resumed
    trains on the batches an uninterrupted run trains on at steps 21 to 34, across the epoch end."""
    straight, _ = run(config(corpus_dir, tokenizer_dir, tmp_path / "straight", max_steps=34))
    cfg = config(corpus_dir, tokenizer_dir, tmp_path / "stopped", max_steps=34)
    cfg.trainer.checkpoint_every_n_steps = 10
    with pytest.raises((KeyboardInterrupt, SystemExit)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrain(cfg, callbacks=[Crash()])
    assert torch.load(last_checkpoint(cfg.output_dir), weights_only=False)["global_step"] == 20
    resumed, _ = run(cfg)
    assert resumed.start_step == 20 and len(resumed.batches) == 14
    assert all(torch.equal(a, b) for a, b in zip(resumed.batches, straight.batches[20:]))


class CtrlC(Callback):
    """Presses Ctrl-C (a real SIGINT) in the middle of step 7's batch."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 6:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_writes_last_ckpt_after_the_step_and_resume_continues(corpus_dir, tokenizer_dir, tmp_path):
    straight, _ = run(config(corpus_dir, tokenizer_dir, tmp_path / "straight", max_steps=12))
    cfg = config(corpus_dir, tokenizer_dir, tmp_path / "stopped", max_steps=12)
    with pytest.raises(RunInterrupted, match=r"interrupted after 7 optimizer steps; .*last\.ckpt holds the run"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrain(cfg, callbacks=[CtrlC()])
    assert torch.load(last_checkpoint(cfg.output_dir), weights_only=False)["global_step"] == 7
    assert not (Path(cfg.output_dir) / "model").exists()  # nothing is saved as if it were finished
    resumed, _ = run(cfg)
    assert resumed.start_step == 7 and len(resumed.batches) == 5
    assert all(torch.equal(a, b) for a, b in zip(resumed.batches, straight.batches[7:]))


def test_cli_train_tokenizer_pretrain_then_fit_the_new_model(corpus_dir, shared, tmp_path, capsys):
    from glm_tune.cli import main

    main(["train-tokenizer", "--corpus", f"[{corpus_dir}]", "--output-dir", str(tmp_path / "tok"),
          "--vocab-size", "800", "--character-coverage", "0.98"])
    assert "a model needs 896 embedding rows" in capsys.readouterr().out
    main(["pretrain", "--corpus", f"[{corpus_dir}]", "--tokenizer", str(tmp_path / "tok"),
          "--output-dir", str(tmp_path / "pre"), "--hidden-size", "32", "--num-layers", "1",
          "--max-sequence-length", "64", "--seq-length", "64", "--max-steps", "4", "--max-epochs", "null",
          "--accelerator", "cpu", "--progress-bar", "false", "--loggers", "[]", "--mixture", "[1,1,1]"])
    model_dir = tmp_path / "pre" / "model"
    assert f"model: {model_dir}" in capsys.readouterr().out
    # The pretrained directory is a model like any other: fit takes it by path.
    main(["fit", "--task", "sst2", "--model", str(model_dir), "--data-dir", str(shared / "data" / "sst2"),
          "--train-limit", "16", "--eval-limit", "16", "--batch-size", "8", "--max-epochs", "1",
          "--accelerator", "cpu", "--progress-bar", "false", "--output-dir", str(tmp_path / "fit")])
    assert "accuracy" in capsys.readouterr().out
