"""The Lightning ``Trainer`` shared by ``fit`` and ``pretrain``: options, checkpoints, loggers.

Both commands train with the same machinery, so precision, strategies, accumulation, clipping,
checkpointing and logging behave the same way in each.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar

from glm_tune.errors import GLMTuneError, OptionError, RunInterrupted
from glm_tune.training.finetune_defaults import FALLBACK_MAX_EPOCHS
from glm_tune.training.options import FIT_ONLY

CHECKPOINTS = "checkpoints"
LAST = "last"
BEST = "best"

Logger = Literal["csv", "tensorboard", "wandb"]


@dataclass
class TrainerOptions:
    """How to train: length, precision, devices, accumulation, checkpoints and logging."""

    max_epochs: int | None = field(default=None, metadata=FIT_ONLY)
    """Passes over the training data (ignored when --max_steps is reached first). Default: the
    model's finetuning default (glm-tiny: 2), else 3; with --max_steps given, the steps decide."""
    max_steps: int = field(default=-1, metadata=FIT_ONLY)
    """Stop after this many optimizer steps (-1: no limit, --max_epochs decides)."""
    precision: Literal["32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    """32-true (fp32), bf16-mixed, or 16-mixed (fp16 with a loss scaler, GPU only)."""
    accelerator: str = "auto"
    """cpu, gpu, mps or auto."""
    devices: int | str = 1
    """Devices per node (an int, "auto", or a list such as "0,1")."""
    strategy: str = "auto"
    """auto, ddp, ddp_spawn, fsdp, deepspeed_stage_2, deepspeed_stage_3_offload, ...
    (the deepspeed strategies need the deepspeed package)."""
    num_nodes: int = 1
    """Machines taking part in distributed training."""
    accumulate_grad_batches: int = field(default=1, metadata=FIT_ONLY)
    """Batches whose gradients add up before each optimizer step."""
    gradient_clip_val: float | None = field(default=1.0, metadata=FIT_ONLY)
    """Clip the gradients' global norm to this (None: no clipping)."""
    val_check_interval: float | int | None = field(default=None, metadata=FIT_ONLY)
    """Validate every N training batches (int) or fraction of an epoch (float); default: once
    per epoch."""
    checkpoint_every_n_steps: int | None = field(default=None, metadata=FIT_ONLY)
    """Also write the last checkpoint every N optimizer steps, so that an interrupted long
    epoch resumes close to where it stopped (default: at the end of every epoch)."""
    log_every_n_steps: int = field(default=10, metadata=FIT_ONLY)
    """How often the training loss and learning rate are logged."""
    loggers: list[Logger] = field(metadata=FIT_ONLY, default_factory=lambda: ["csv"])
    """Where metrics are logged: csv (default: OUTPUT_DIR/logs/version_N/metrics.csv, one version
    per start or resume), tensorboard, wandb."""
    progress_bar: bool = True
    """Show progress bars."""
    monitor: str | None = field(default=None, metadata=FIT_ONLY)
    """Validation metric that picks checkpoints/best.ckpt (e.g. f1_macro; default: the task's first)."""
    no_validation: bool = field(default=False, metadata=FIT_ONLY)
    """Train without validating (no validation file needed): the model saved is the last one."""


class NonFiniteLossError(GLMTuneError):
    """The loss became NaN or infinite: training stopped instead of going on with garbage."""


def _skips_on_device(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.found_inf`` makes the step a no-op on the device: the fused
    implementations do, unless they take the loss scaler's ``found_inf`` (then it is the
    scaler's to set)."""
    return (
        isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD))
        and all(group.get("fused") for group in optimizer.param_groups)
        and not getattr(optimizer, "_step_supports_amp_scaling", False)
    )


class StopOnNonFiniteLoss(Callback):
    """Stop at the first NaN/inf loss with a message that says what usually causes it.

    With 16-mixed the loss scaler already skips steps whose *gradients* overflow; a non-finite
    *loss* means the forward pass itself overflowed, which no scaler fixes.

    Asking the host whether the loss is finite waits for the device at every step. So, when
    every optimizer can skip a step on the device (fused AdamW's ``found_inf``, the flag the
    fp16 loss scaler uses, see :func:`_skips_on_device`), the first non-finite loss is only
    recorded on the device and turns this and every later optimizer step into a no-op there:
    the weights and optimizer state stay those of the last good step (with 16-mixed, the loss
    scaler also skips steps whose gradients overflow, as always). The host reads the
    record every ``log_every_n_steps`` batches (when the logger reads the loss anyway), before
    a checkpoint is written, before validation and when training ends. With other optimizers
    (DeepSpeed's, a plain AdamW) the loss is checked before every backward pass.
    """

    def on_train_start(self, trainer, pl_module) -> None:
        self._on_device = all(_skips_on_device(optimizer) for optimizer in trainer.optimizers)
        self._bad = None  # 1.0 on the device from the first non-finite loss on
        self._batches = 0

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        loss = loss.detach()
        if not self._on_device:
            # Before backward: the weights and optimizer state are still those of the last good step.
            if not torch.isfinite(loss).all():
                self._raise(loss, trainer.current_epoch, trainer.global_step, trainer)
            return
        bad = (~torch.isfinite(loss).all()).float()
        if self._bad is None:
            self._bad = torch.zeros_like(bad)
            self._first = [torch.zeros_like(bad) for _ in range(3)]
        # (loss, epoch, optimizer steps) of the first non-finite loss, for the message; the
        # host numbers go in as kernel scalars, not as copies to the device.
        new = bad > self._bad
        self._first = [torch.where(new, value, first) for value, first in zip(
            (loss.float().sum(), float(trainer.current_epoch), float(trainer.global_step)), self._first)]
        self._bad = torch.maximum(self._bad, bad)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._on_device and self._bad is not None:
            optimizer.found_inf = self._bad

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batches += 1
        if self._batches % max(1, trainer.log_every_n_steps) == 0:
            self._check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.state.fn == "fit":  # validation inside fit; not a later trainer.validate()
            self._check(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self._check(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def _check(self, trainer) -> None:
        if getattr(self, "_bad", None) is not None and self._bad.item():
            loss, epoch, step = (value.item() for value in self._first)
            self._raise(loss, int(epoch), int(step), trainer)

    @staticmethod
    def _raise(loss, epoch: int, step: int, trainer) -> None:
        raise NonFiniteLossError(
            f"the training loss is {float(loss)} in epoch {epoch}, after {step} optimizer steps "
            f"(precision {trainer.precision}). Try a lower learning rate, --precision bf16-mixed or 32-true "
            "instead of 16-mixed, or gradient clipping. The last good checkpoint is kept."
        )


class StopOnInterrupt(Callback):
    """Ctrl-C ends training at the next point a resume can start from, with ``last.ckpt`` written.

    Mid-epoch that is the end of the optimizer step under way (the checkpoint is written there,
    as a step checkpoint would be); in the epoch's last batch or its validation it is the start
    of the next epoch, after the epoch-end checkpoints (or the end of fit after the last epoch). Training then stops with :class:`RunInterrupted`.
    Before training starts there is nothing to keep, so Ctrl-C stops at once; a second Ctrl-C
    always quits at once. Use as a context manager around ``trainer.fit`` to own SIGINT.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)
        self.requested = False
        self._training = False
        self._step_at_batch_start = -1
        self._previous_handler = None

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _on_sigint(self, signum, frame) -> None:
        if self.requested:
            print("\nglm-tune: interrupted again: quitting now", file=sys.stderr, flush=True)
            os._exit(130)
        self.requested = True
        if not self._training:
            raise RunInterrupted(f"interrupted before training started; nothing was kept in {self.output_dir}",
                                 str(self.output_dir), resumable=False)
        print("\nglm-tune: interrupted: writing the last checkpoint after this step (Ctrl-C again quits at once)",
              file=sys.stderr, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        self._training = True

    def on_train_batch_start(self, trainer, *args) -> None:
        self._step_at_batch_start = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Only after an optimizer step (gradients being accumulated are in no checkpoint), and
        # not at the epoch's last batch (see StepCheckpoint): there the epoch-end one is next.
        if (self.requested and trainer.global_step != self._step_at_batch_start
                and not _last_batch_of_epoch(trainer, batch_idx)):
            path = last_checkpoint(self.output_dir)
            partial = path.with_suffix(".ckpt.partial")
            trainer.save_checkpoint(partial)
            if trainer.is_global_zero:
                partial.replace(path)
            self.stop(trainer)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # The previous epoch's end wrote last.ckpt (at the very start nothing did: stop after step 1).
        if self.requested and trainer.global_step > 0:
            self.stop(trainer)

    def stop(self, trainer) -> None:
        raise RunInterrupted(
            f"interrupted after {trainer.global_step} optimizer steps; {last_checkpoint(self.output_dir)} holds "
            "the run so far", str(self.output_dir))


def _last_batch_of_epoch(trainer, batch_idx: int) -> bool:
    return batch_idx + 1 >= trainer.num_training_batches


class StepCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every N optimizer steps but never at an epoch's last batch.

    A checkpoint there precedes the epoch's validation, and Lightning resumes from it without
    validating that epoch again: a run killed during that validation would never score the
    epoch. The epoch-end checkpoint, written after validation, covers that point instead.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not _last_batch_of_epoch(trainer, batch_idx):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class ProgressBar(TQDMProgressBar):
    """Epochs counted from 1 out of --max-epochs, and no ``v_num`` (the log version is no metric)."""

    def on_train_epoch_start(self, trainer, *args) -> None:
        # TQDMProgressBar's own, but for the description, set before the bar is drawn (its
        # "Epoch 0" would be printed first: in a log file every state of the bar stays).
        from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf

        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        of = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.desc = f"Epoch {trainer.current_epoch + 1}{of}: "
        self.train_progress_bar.reset(convert_inf(self.total_train_batches))
        self.train_progress_bar.initial = 0

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINTS


def last_checkpoint(output_dir: str | Path) -> Path:
    return checkpoint_dir(output_dir) / f"{LAST}.ckpt"


def build_trainer(
    options: TrainerOptions,
    output_dir: str | Path,
    *,
    monitor: str | None = None,
    mode: Literal["max", "min"] = "max",
    callbacks: list[Callback] | None = None,
    enable_checkpointing: bool = True,
    distributed_sampler: bool = True,
) -> pl.Trainer:
    """A Trainer writing checkpoints and logs under ``output_dir``.

    ``checkpoints/last.ckpt`` is rewritten at every epoch end (and every
    ``checkpoint_every_n_steps``); with ``monitor`` (``"val/accuracy"``) the best validation
    score is kept as ``checkpoints/best.ckpt``. ``distributed_sampler=False`` when the data
    shards itself across processes (``ClozeBatchSampler``).
    """
    output_dir = Path(output_dir)
    all_callbacks: list[Callback] = [StopOnNonFiniteLoss(), *(callbacks or [])]
    if options.progress_bar:
        all_callbacks.append(ProgressBar())
    if enable_checkpointing:
        # best before last: both save at the epoch's end, and last.ckpt must carry the score
        # the best checkpoint has just recorded, or a resumed run forgets which epoch was best.
        if monitor is not None:
            all_callbacks.append(ModelCheckpoint(
                dirpath=checkpoint_dir(output_dir), filename=BEST, monitor=monitor, mode=mode, save_top_k=1,
                enable_version_counter=False, auto_insert_metric_name=False,
            ))
        if options.checkpoint_every_n_steps:
            # A callback of its own: one that also saves at epoch ends skips the epoch-end save
            # when a step save fell on the epoch's last batch, before validation scored it.
            all_callbacks.append(StepCheckpoint(
                dirpath=checkpoint_dir(output_dir), filename=LAST, save_top_k=1, monitor=None,
                every_n_train_steps=options.checkpoint_every_n_steps, every_n_epochs=0,
                save_on_train_epoch_end=False, enable_version_counter=False,
            ))
        all_callbacks.append(ModelCheckpoint(
            dirpath=checkpoint_dir(output_dir), filename=LAST, save_top_k=1, monitor=None,
            save_on_train_epoch_end=True, enable_version_counter=False,
        ))
    return pl.Trainer(
        # Unset with no step limit: the fallback (fit has already put the model's default there).
        max_epochs=(FALLBACK_MAX_EPOCHS if options.max_epochs is None and options.max_steps == -1
                    else options.max_epochs),
        max_steps=options.max_steps,
        precision=options.precision,
        accelerator=options.accelerator,
        devices=options.devices,
        strategy=options.strategy,
        num_nodes=options.num_nodes,
        accumulate_grad_batches=options.accumulate_grad_batches,
        gradient_clip_val=options.gradient_clip_val,
        val_check_interval=options.val_check_interval,
        limit_val_batches=0 if options.no_validation else None,
        log_every_n_steps=options.log_every_n_steps,
        logger=_loggers(options.loggers, output_dir),
        callbacks=all_callbacks,
        enable_checkpointing=enable_checkpointing,
        enable_progress_bar=options.progress_bar,
        enable_model_summary=False,
        default_root_dir=str(output_dir),
        num_sanity_val_steps=0,
        use_distributed_sampler=distributed_sampler,
    )


def _loggers(names: list[Logger], output_dir: Path) -> list:
    loggers = []
    for name in names:
        if name == "csv":
            from lightning.pytorch.loggers import CSVLogger

            # One version folder per (re)start: a resumed run adds logs/version_1 and never
            # overwrites what the interrupted run logged.
            loggers.append(CSVLogger(output_dir, name="logs"))
        elif name == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(output_dir, name="tensorboard"))
        elif name == "wandb":
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(WandbLogger(save_dir=str(output_dir)))
        else:
            raise OptionError(f"unknown logger {name!r}; use csv, tensorboard or wandb")
    return loggers or False
