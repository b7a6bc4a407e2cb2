"""One few-shot run: a plain training loop over a handful of rows, with the epoch chosen on dev.

Few-shot runs are many (patterns x folds x learning rates) and tiny (32 rows), so they reuse one
loaded backbone, reset to its pretrained weights before each run, and train without Lightning's
per-run setup. The scores come from :class:`glm_tune.training.module.ClozeModule` (the same label and
candidate scoring as ``fit``); every score handed back is a log-softmax over the row's labels
(or candidates), the quantity ensembles average and calibration divides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from glm_tune.cloze.verbalizer import VerbalizedLabels
from glm_tune.loading import load_model_and_tokenizer
from glm_tune.task.registry import Task
from glm_tune.training.data import ClozeBatchSampler, Example, collate
from glm_tune.training.module import ClozeModule, TrainingOptions, dropout_seed

Loss = Callable[[ClozeModule, torch.Tensor, dict[str, Any]], torch.Tensor]
"""(module, [b, labels] scores, batch) -> scalar loss."""


@dataclass
class Backbone:
    """A model and tokenizer loaded once, and the pretrained weights every run starts from."""

    model: Any
    tokenizer: Any
    initial: dict[str, torch.Tensor]
    device: torch.device

    def reset(self) -> None:
        self.model.load_state_dict(self.initial)
        self.model.requires_grad_(True)


def load_backbone(model: str, tokenizer: str | None = None, device: str | None = None) -> Backbone:
    where = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded, tok = load_model_and_tokenizer(model, tokenizer, device=where)
    loaded.float()
    initial = {k: v.detach().clone() for k, v in loaded.state_dict().items()}
    return Backbone(loaded, tok, initial, where)


@dataclass
class TrainSettings:
    learning_rate: float
    max_epochs: int
    batch_size: int = 16
    eval_batch_size: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int | None = None
    """Stop after this many epochs without a better dev score (None: train every epoch)."""
    freeze_embeddings: bool = False
    keep_zero_shot: bool = True
    """Epoch 0 (the pretrained weights) is a candidate of the dev selection: a run whose training
    never beats it on dev keeps the zero-shot model."""
    max_steps: int | None = None
    """Stop after this many optimizer steps in all (tests)."""
    seed: int = 1234


@dataclass
class TrainResult:
    epoch: int
    """The selected epoch (0: the pretrained weights)."""
    dev_accuracy: float
    dev_curve: list[float] = field(default_factory=list)
    """Dev accuracy after each epoch, from epoch 0."""
    steps: int = 0


def cloze_module(backbone: Backbone, task: Task, labels: VerbalizedLabels | None, settings: TrainSettings) -> ClozeModule:
    """A module over the backbone reset to its pretrained weights."""
    backbone.reset()
    options = TrainingOptions(learning_rate=settings.learning_rate, weight_decay=settings.weight_decay,
                              warmup_ratio=settings.warmup_ratio)
    module = ClozeModule(backbone.model, backbone.tokenizer, task, options, labels=labels, seed=settings.seed)
    if settings.freeze_embeddings:
        # The output layer shares these weights: freezing them keeps every label word's output
        # vector where pretraining left it, which 32 rows cannot move far without overfitting.
        module.model.word_embeddings.requires_grad_(False)
    return module


def _on(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {**batch, "labels": batch["labels"].to(device)}


def raw_scores(module: ClozeModule, batch: dict[str, Any]) -> torch.Tensor:
    if module.task.kind == "classification":
        return module.label_scores(batch)
    return module.candidate_scores(batch)


def log_probs(module: ClozeModule, examples: Sequence[Example], batch_size: int = 64) -> torch.Tensor:
    """[rows, labels or most candidates] log-softmax of the module's scores, on the CPU."""
    module.model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = _on(collate(list(examples[start:start + batch_size])), module.model.word_embeddings.weight.device)
            out.append(raw_scores(module, batch).float().log_softmax(-1).cpu())
    module.model.train()
    return torch.cat(out) if out else torch.zeros(0, 0)


def golds(examples: Sequence[Example]) -> list[list[int]]:
    """The right label (or candidates) of each row."""
    return [list(e.golds) if e.candidates is not None else [e.label] for e in examples]


def accuracy(scores: torch.Tensor, gold: Sequence[Sequence[int]]) -> float:
    """Share of rows whose best-scored label is one of its golds."""
    if not len(gold):
        return 0.0
    best = scores.argmax(-1).tolist()
    return sum(b in g for b, g in zip(best, gold)) / len(gold)


def _dev_key(scores: torch.Tensor, gold: Sequence[Sequence[int]]) -> tuple[float, float]:
    # 32 dev rows tie often on accuracy: the mean gold log-prob breaks ties.
    mean_gold = sum(float(scores[i, g].logsumexp(-1)) for i, g in enumerate(gold)) / max(len(gold), 1)
    return accuracy(scores, gold), mean_gold


def cross_entropy(module: ClozeModule, scores: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    return module.cloze_loss(scores, batch)


def train(module: ClozeModule, train_examples: Sequence[Example], dev_examples: Sequence[Example],
          settings: TrainSettings, loss: Loss = cross_entropy) -> TrainResult:
    """Train for up to ``max_epochs``, keep the weights of the best dev epoch (early stopping)."""
    device = module.model.word_embeddings.weight.device
    sampler = ClozeBatchSampler([len(e) for e in train_examples], settings.batch_size, shuffle=True,
                                seed=settings.seed)
    total = len(sampler) * settings.max_epochs
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    optim = module.options.build(module, max(total, 1))
    optimizer, scheduler = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    dev_gold = golds(dev_examples)
    curve: list[float] = []
    best_key, best_epoch, best_state = None, 0, None
    if settings.keep_zero_shot:
        key = _dev_key(log_probs(module, dev_examples, settings.eval_batch_size), dev_gold)
        curve.append(key[0])
        best_key, best_state = key, copy.deepcopy(module.model.state_dict())
    stale, steps = 0, 0
    module.model.train()
    for epoch in range(1, settings.max_epochs + 1):
        sampler.set_epoch(epoch)
        for number, indices in enumerate(sampler):
            if steps >= total:
                break
            torch.manual_seed(dropout_seed(settings.seed, epoch, number))
            batch = _on(collate([train_examples[i] for i in indices]), device)
            value = loss(module, raw_scores(module, batch), batch)
            value.backward()
            torch.nn.utils.clip_grad_norm_([p for p in module.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
        key = _dev_key(log_probs(module, dev_examples, settings.eval_batch_size), dev_gold)
        curve.append(key[0])
        if best_key is None or key > best_key:
            best_key, best_epoch, best_state, stale = key, epoch, copy.deepcopy(module.model.state_dict()), 0
        else:
            stale += 1
        if steps >= total or (settings.patience is not None and stale >= settings.patience):
            break
    if best_state is not None:
        module.model.load_state_dict(best_state)
    return TrainResult(best_epoch, best_key[0], curve, steps)
