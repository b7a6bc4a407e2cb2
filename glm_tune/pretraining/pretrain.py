"""Blank-infilling pretraining: a tiny GLM from scratch, or more pretraining of a checkpoint.

``pretrain(config)`` reads raw text (:mod:`glm_tune.pretraining.corpus`), tokenizes and packs it, trains on
GLM's objective (:mod:`glm_tune.pretraining.infilling`) with the Lightning trainer that finetuning uses
(:func:`glm_tune.training.trainer.build_trainer`), and saves ``output_dir/model`` in the hub layout with
the tokenizer, ready for :func:`glm_tune.model.load_model` and
:func:`glm_tune.tokenizer.load_tokenizer`.

Only torch, lightning, numpy, sentencepiece and safetensors are needed here (no ``datasets``,
``evaluate`` or ``jsonargparse``), so it runs on bare training machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from glm_tune.constants import IGNORE_INDEX
from glm_tune.errors import OptionError
from glm_tune.loading import load_model_and_tokenizer
from glm_tune.model import GLMConfig, GLMModel, save_model
from glm_tune.pretraining.corpus import CorpusReport, read_documents
from glm_tune.pretraining.infilling import (
    EpochSampler,
    InfillingConfig,
    InfillingDataset,
    InfillingIds,
    ResumableLoader,
    collate,
    pack_documents,
)
from glm_tune.tokenizer import GLMTokenizer, load_tokenizer
from glm_tune.training.data import LoaderOptions
from glm_tune.training.optim import OptimizerOptions
from glm_tune.training.options import from_flat_options
from glm_tune.training.trainer import StopOnInterrupt, TrainerOptions, build_trainer, last_checkpoint

MODEL_DIR = "model"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class PretrainConfig(OptimizerOptions, LoaderOptions):
    """What to pretrain on, which model, and how (the optimiser and the loader: the fields of
    OptimizerOptions and LoaderOptions)."""

    corpus: list[str] = field(default_factory=list)
    """Corpus files or directories (.txt, .jsonl, .json, .tsv); training text only."""
    output_dir: str = "pretrain"
    """Checkpoints, logs and the final ``model/`` directory go here."""
    model: str | None = None
    """Checkpoint (name or directory) to continue pretraining; None trains a new model."""
    model_config: str | None = None
    """Config of a --model checkpoint that carries none (THUDM's): a config.json or a known model name."""
    tokenizer: str | None = None
    """Tokenizer directory; required for a new model, default for a checkpoint: its own."""
    hidden_size: int = 256
    """New model: hidden size."""
    num_layers: int = 6
    """New model: transformer layers."""
    num_attention_heads: int = 4
    """New model: attention heads."""
    max_sequence_length: int = 512
    """New model: longest input (size of both position tables, minus one)."""
    activation: Literal["gelu", "gelu_tanh"] | None = None
    """gelu (exact) or gelu_tanh; default: gelu for a new model, for a checkpoint what its config
    records, else by origin (tanh for THUDM, FlagAI and PaddleNLP checkpoints)."""
    dropout: float = 0.1
    """New model: embedding, attention and output dropout."""
    infilling: InfillingConfig = field(default_factory=InfillingConfig)
    """The objective: sequence length, span ratios and objective mixture."""
    min_chars: int = 10
    """Corpus documents shorter than this many characters are dropped (20 would drop a third of
    the short Chinese titles and reviews in FewCLUE's unlabeled text)."""
    # Pretraining's own defaults of the optimiser and loader options it shares with fit
    # (OptimizerOptions and LoaderOptions, where they are documented).
    batch_size: int = 32
    learning_rate: float | None = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    seed: int = 1234
    """Seeds the model's initialisation, the validation split and every sample's corruption."""
    validation_fraction: float = 0.01
    """Fraction of the packed chunks held out for ``val/loss`` (at least one chunk)."""
    save_dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """Dtype of the saved weights (float16 halves the file; load_model upcasts it to float32)."""
    resume: bool = True
    """Continue from ``output_dir/checkpoints/last.ckpt`` when it exists."""
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    """Length, precision, devices, accumulation, checkpoints and logging."""

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> PretrainConfig:
        """The config of flat option values (see :func:`~glm_tune.training.options.from_flat_options`)."""
        return from_flat_options(cls, values, {"infilling": InfillingConfig, "trainer": TrainerOptions})


class PretrainModule(pl.LightningModule):
    """GLM trained on blank infilling: loss = mean token cross-entropy over Part B targets."""

    def __init__(
        self,
        model: GLMModel,
        train_data: InfillingDataset,
        val_data: InfillingDataset | None,
        config: PretrainConfig,
    ) -> None:
        super().__init__()
        self.model = model
        self.train_data = train_data
        self.val_data = val_data
        self.config = config

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Vocabulary logits ``[b, L, V]`` of a collated batch."""
        return self.model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"]).logits

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        hidden = self.model(
            batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"], compute_logits=False
        ).last_hidden_states
        targets = batch["target_rows"], batch["target_columns"]
        return self.model.target_loss(hidden, batch["labels"], targets), len(targets[0])

    def on_before_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict:
        # The targets are found while the batch is still on the CPU: a boolean index or a
        # count on the device would wait for it at every step.
        batch["target_rows"], batch["target_columns"] = (batch["labels"] != IGNORE_INDEX).nonzero(as_tuple=True)
        return batch

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, tokens = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=tokens)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, tokens = self._loss(batch)
        # Weighting each batch by its target tokens makes the epoch value a per-token mean.
        self.log("val/loss", loss, prog_bar=True, batch_size=tokens, sync_dist=True)

    def _loader(self, data: InfillingDataset, shuffle: bool) -> DataLoader:
        # Made here, after the strategy is set up, so the sampler knows the rank and world size.
        sampler = EpochSampler(
            data, shuffle=shuffle, seed=self.config.seed,
            num_replicas=self.trainer.world_size, rank=self.trainer.global_rank,
        )
        options = dict(batch_size=self.config.batch_size, collate_fn=collate, num_workers=self.config.num_workers)
        if not shuffle:
            return DataLoader(data, sampler=sampler, **options)
        return ResumableLoader(
            data, sampler=sampler, drop_last=True, **options,
            progress=lambda: self.trainer.fit_loop.epoch_loop.batch_progress.current.processed,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_data, shuffle=False) if self.val_data is not None else []

    def configure_optimizers(self) -> dict:
        return self.config.build(self, int(self.trainer.estimated_stepping_batches))


def tokenize_corpus(tokenizer: GLMTokenizer, paths: list[str], min_chars: int = 10) -> list[list[int]]:
    """Token ids of every corpus document (no ``[CLS]``/``<eos>``); logs the unknown-token rate."""
    report = CorpusReport()
    documents = [tokenizer.encode(d, add_special_tokens=False) for d in read_documents(paths, min_chars, report)]
    tokens = sum(len(d) for d in documents)
    unknown = sum(tokenizer.count_unknown(d) for d in documents)
    rank_zero_info(
        f"corpus: {report.summary()}; {tokens} tokens, {unknown} unknown ({unknown / max(1, tokens):.3%})"
    )
    if not documents:
        raise OptionError(f"the corpus {paths} holds no document of at least {min_chars} characters")
    return documents


def _new_model(config: PretrainConfig, tokenizer: GLMTokenizer) -> GLMModel:
    return GLMModel(GLMConfig(
        vocab_size=tokenizer.padded_vocab_size, hidden_size=config.hidden_size, num_layers=config.num_layers,
        num_attention_heads=config.num_attention_heads, max_sequence_length=config.max_sequence_length,
        embedding_dropout_prob=config.dropout, attention_dropout_prob=config.dropout,
        output_dropout_prob=config.dropout, activation=config.activation or "gelu",
    ))


def split_chunks(chunks: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Hold out ``fraction`` of the chunks (at least one, never all) for validation, chosen by
    ``seed``; both parts keep the corpus order. ``fraction`` 0 holds out nothing (``None``)."""
    if fraction <= 0:
        return chunks, None
    if len(chunks) < 2:
        raise OptionError(f"only {len(chunks)} chunk of text: too little to hold out validation data")
    order = np.random.default_rng(seed).permutation(len(chunks))
    held_out = min(len(chunks) - 1, max(1, round(fraction * len(chunks))))
    return chunks[np.sort(order[held_out:])], chunks[np.sort(order[:held_out])]


def pretrain(config: PretrainConfig, callbacks: list[Callback] | None = None) -> Path:
    """Pretrain as ``config`` says and return the saved model directory (``output_dir/model``).

    Resumes from ``output_dir/checkpoints/last.ckpt`` when ``config.resume`` and it exists.
    The saved weights are the final ones, in ``config.save_dtype``; the lowest validation loss
    is also kept as ``checkpoints/best.ckpt``. ``callbacks`` are added to the trainer's.
    """
    if not config.corpus:
        raise OptionError("PretrainConfig.corpus is empty: give corpus files or directories")
    if config.model is None and config.tokenizer is None:
        raise OptionError("PretrainConfig.tokenizer is required to train a new model (model is None)")
    if config.save_dtype not in _DTYPES:
        raise OptionError(f"PretrainConfig.save_dtype must be one of {', '.join(_DTYPES)}, got {config.save_dtype!r}")
    out = Path(config.output_dir)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    if config.model is None:
        tokenizer = load_tokenizer(config.tokenizer)
        model = _new_model(config, tokenizer)
    else:
        model, tokenizer = load_model_and_tokenizer(config.model, config.tokenizer, model_config=config.model_config,
                                                    activation=config.activation)
        model.train()
    _check_fits(model.config, tokenizer, config.infilling)

    documents = tokenize_corpus(tokenizer, config.corpus, config.min_chars)
    chunks = pack_documents(documents, config.infilling.chunk_length, tokenizer.eos_token_id)
    train_chunks, val_chunks = split_chunks(chunks, config.validation_fraction, config.seed)
    ids = InfillingIds.from_tokenizer(tokenizer)
    train_data = InfillingDataset(train_chunks, config.infilling, ids, seed=config.seed)
    val_data = InfillingDataset(val_chunks, config.infilling, ids, seed=config.seed) if val_chunks is not None else None
    rank_zero_info(
        f"pretrain: {len(train_chunks)} training and {0 if val_chunks is None else len(val_chunks)} validation "
        f"chunks of {config.infilling.chunk_length} tokens (samples of {config.infilling.seq_length})"
    )

    module = PretrainModule(model, train_data, val_data, config)
    monitor = "val/loss" if val_data is not None else None
    # Ctrl-C ends training where a resume can start, with last.ckpt written, as in fit.
    interrupt = StopOnInterrupt(out)
    trainer = build_trainer(config.trainer, out, monitor=monitor, mode="min",
                            callbacks=[*(callbacks or []), interrupt])
    resume_from = last_checkpoint(out)
    ckpt_path = str(resume_from) if config.resume and resume_from.is_file() else None
    if ckpt_path:
        rank_zero_info(f"pretrain: resuming from {ckpt_path}")
    with interrupt:
        trainer.fit(module, ckpt_path=ckpt_path)
    if interrupt.requested:  # during the last validation: training itself is complete and saved
        interrupt.stop(trainer)

    target = out / MODEL_DIR
    if trainer.is_global_zero:
        # Training is over, so the module's own weights can be cast for saving.
        save_model(module.model.to(_DTYPES[config.save_dtype]), target)
        tokenizer.save_pretrained(target)
    return target


def _check_fits(model_config: GLMConfig, tokenizer: GLMTokenizer, infilling: InfillingConfig) -> None:
    if tokenizer.vocab_size > model_config.vocab_size:
        raise OptionError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model's embedding only "
            f"{model_config.vocab_size} rows: they do not belong together"
        )
    if infilling.seq_length > model_config.max_sequence_length:
        raise OptionError(
            f"InfillingConfig.seq_length {infilling.seq_length} exceeds the model's max_sequence_length "
            f"{model_config.max_sequence_length}"
        )

