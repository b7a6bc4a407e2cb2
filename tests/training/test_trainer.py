"""StopOnNonFiniteLoss: a NaN loss stops training with the weights of the last good step."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from glm_tune.training.optim import build_optimizer
from glm_tune.training.trainer import NonFiniteLossError, TrainerOptions, build_trainer


class Regression(pl.LightningModule):
    """A linear model whose loss turns NaN from batch ``nan_from`` on."""

    def __init__(self, nan_from: int, fused: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)
        self.nan_from, self.fused = nan_from, fused

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = ((self.layer(x) - y) ** 2).mean()
        return loss * float("nan") if batch_idx >= self.nan_from else loss

    def train_dataloader(self):
        g = torch.Generator().manual_seed(1)
        return DataLoader([(torch.randn(4, generator=g), torch.randn(1, generator=g)) for _ in range(40)], batch_size=4)

    def configure_optimizers(self):
        if not self.fused:
            return torch.optim.SGD(self.parameters(), lr=0.1)
        return build_optimizer(self, learning_rate=0.1, weight_decay=0.1, total_steps=10, warmup_ratio=0.0)


class Snapshots(Callback):
    def __init__(self) -> None:
        self.weights = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.weights.append(pl_module.layer.weight.detach().clone())


def _fit(module, tmp_path, log_every_n_steps=5):
    snapshots = Snapshots()
    options = TrainerOptions(max_steps=10, accelerator="cpu", progress_bar=False, loggers=[],
                             log_every_n_steps=log_every_n_steps)
    trainer = build_trainer(options, tmp_path, callbacks=[snapshots], enable_checkpointing=False)
    with pytest.raises(NonFiniteLossError, match="loss is nan in epoch 0, after 3 optimizer steps") as error:
        trainer.fit(module)
    return trainer, snapshots, error


def test_a_nan_loss_turns_the_steps_into_no_ops_until_the_host_looks(tmp_path):
    module = Regression(nan_from=3)
    trainer, snapshots, _ = _fit(module, tmp_path)
    # The host looks at the end of every log_every_n_steps-th batch: batches 3 and 4 ran and
    # changed nothing (the stop comes before the snapshot of batch 4 is taken).
    assert len(snapshots.weights) == 4
    assert not torch.equal(snapshots.weights[1], snapshots.weights[2])
    assert torch.equal(snapshots.weights[3], snapshots.weights[2])
    assert torch.equal(module.layer.weight, snapshots.weights[2])
    # The optimizer state is that of the last good step too (fused AdamW's found_inf skip).
    state = trainer.optimizers[0].state[module.layer.weight]
    assert int(state["step"]) == 3 and torch.isfinite(state["exp_avg"]).all()


def test_without_a_device_side_skip_the_loss_is_checked_at_every_step(tmp_path):
    module = Regression(nan_from=3, fused=False)
    _, snapshots, _ = _fit(module, tmp_path)
    assert len(snapshots.weights) == 3  # stopped in batch 3, before its backward pass
    assert torch.equal(module.layer.weight, snapshots.weights[2])


def test_the_adamw_of_build_optimizer_skips_on_the_device_and_allows_clipping_under_amp():
    module = Regression(nan_from=0)
    optimizer = build_optimizer(module, learning_rate=0.1, weight_decay=0.0, total_steps=1)["optimizer"]
    assert optimizer.defaults["fused"]
    # Lightning refuses gradient clipping with mixed precision for an optimizer that says it
    # unscales the loss scaler's gradients itself.
    from lightning.fabric.plugins.precision.amp import _optimizer_handles_unscaling

    assert not _optimizer_handles_unscaling(optimizer)


def test_the_host_looks_before_a_checkpoint_is_written(tmp_path):
    module = Regression(nan_from=3)
    options = TrainerOptions(max_steps=10, accelerator="cpu", progress_bar=False, loggers=[], log_every_n_steps=50,
                             checkpoint_every_n_steps=2)
    trainer = build_trainer(options, tmp_path)
    with pytest.raises(NonFiniteLossError, match="after 3 optimizer steps"):
        trainer.fit(module)
    # The checkpoint of step 2 was written; the one due at step 4 (after the NaN) was not.
    assert trainer.global_step == 4
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 2
