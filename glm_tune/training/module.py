"""The LightningModule that finetunes a GLM on any task kind as a cloze question.

* classification: label words scored at the blank (one-token words: logits at
  ``<|startofpiece|>``; otherwise exact span log-probs), cross-entropy over the labels;
* multiple choice: every candidate span scored exactly (``<|endofpiece|>`` included),
  cross-entropy over the candidates; the ``mix`` loss (WSC) adds the gold span's negative
  log-prob;
* generation: token cross-entropy over the target and ``<|endofpiece|>`` (optional label
  smoothing); evaluation decodes with the task's generation settings.

Evaluation feeds the task's metrics; prediction returns labels, candidates or text with scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import lightning.pytorch as pl
import torch

from glm_tune.cloze.generation import GenerationConfig, generate_spans
from glm_tune.cloze.inputs import build_inputs_for_generation
from glm_tune.cloze.labels import Scorer
from glm_tune.cloze.verbalizer import VerbalizedLabels
from glm_tune.constants import IGNORE_INDEX
from glm_tune.errors import OptionError
from glm_tune.metrics.postprocess import clean_summary
from glm_tune.model import GLMModel
from glm_tune.task.registry import Task
from glm_tune.training.finetune_defaults import FALLBACK_LEARNING_RATE
from glm_tune.training.lora import DEFAULT_TARGETS, add_lora
from glm_tune.training.optim import OptimizerOptions
from glm_tune.training.prompt import PromptEncoder, PromptEncoderKind, attach_prompt

Loss = Literal["auto", "cross_entropy", "generative", "mix"]

# A padding candidate's score: far below any real log-prob, and finite in fp16.
_NO_CANDIDATE = -1e4


def dropout_seed(seed: int, epoch: int, batch: int, rank: int = 0) -> int:
    """The torch seed of one training batch. Dropout draws depend only on (seed, epoch, batch,
    rank), so a run resumed from any checkpoint trains exactly as an uninterrupted one."""
    return (seed * 1_000_003 + epoch * 100_003 + batch) * 64 + rank


@dataclass
class TrainingOptions(OptimizerOptions):
    """What is trained and how: the optimiser (OptimizerOptions' fields), loss, and
    parameter-efficient options."""

    loss: Loss = "auto"
    """cross_entropy over label/candidate scores, generative (minus the gold span's log-prob),
    or mix (both; GLM's WSC loss). auto: the task's choice (WSC: mix), else cross_entropy."""
    length_penalty: float | None = None
    """Multi-token scores are divided by token count ** this (0: plain sum, GLM's default; 1:
    mean). Default: the task's (WSC: 1)."""
    label_smoothing: float = 0.0
    """Generation tasks: label smoothing of the token cross-entropy."""
    freeze_backbone: bool = False
    """Train only the prompt encoder (with --prompt_tokens) and nothing of the GLM itself."""
    prompt_tokens: int = 0
    """Continuous prompt tokens (P-tuning) placed after [CLS] (0: none)."""
    prompt_encoder: PromptEncoderKind = "lstm"
    """How prompt embeddings are produced: lstm (GLM's default), mlp, or none (free vectors)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass: much less memory, ~30% slower."""
    dropout: float | None = None
    """Override the model's dropout probabilities (default: the checkpoint's, 0.1 for GLM)."""
    lora_rank: int = 0
    """LoRA through peft: rank of the low-rank updates added to --lora_targets (0: no LoRA). Only
    the adapters train (and the prompt encoder with --prompt_tokens); the GLM's weights stay frozen."""
    lora_alpha: float = 16.0
    """LoRA scaling numerator: the update is B A * lora_alpha / lora_rank."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA branch's input during training."""
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    """Linear layers that get LoRA updates (GLM's attention query_key_value and dense, MLP
    dense_h_to_4h and dense_4h_to_h)."""
    merge_lora: bool = False
    """After a LoRA run, write OUTPUT_DIR/model with the updates merged into the weights (the hub
    layout, loadable alone) and the adapter to OUTPUT_DIR/adapter; without it OUTPUT_DIR/model
    holds the adapter (adapter_model.safetensors + adapter_config.json) over the base model."""


class ClozeModule(pl.LightningModule):
    """Finetunes ``model`` on ``task``; see the module docstring for the losses."""

    def __init__(
        self,
        model: GLMModel,
        tokenizer: Any,
        task: Task,
        options: TrainingOptions,
        *,
        labels: VerbalizedLabels | None = None,
        prompt_token_id: int | None = None,
        generation: GenerationConfig | None = None,
        rouge_postprocess: bool = False,
        seed: int = 1234,
    ) -> None:
        super().__init__()
        # Checkpoints load in eval mode, and Lightning keeps the mode it finds: without this,
        # dropout would silently stay off during training.
        self.model = model.train()
        self.tokenizer = tokenizer
        self.task = task
        self.options = options
        self.labels = labels
        self.seed = seed
        self.generation = generation or task.generation or GenerationConfig()
        if rouge_postprocess and not any(m.startswith("rouge") for m in task.metrics):
            raise ValueError(f"--rouge_postprocess cleans summaries before ROUGE; task {task.name} is scored with "
                             f"{', '.join(task.metrics)}")
        self.rouge_postprocess = rouge_postprocess
        self.loss_kind = task.loss if options.loss == "auto" else options.loss
        self.length_penalty = (
            task.length_penalty if options.length_penalty is None else options.length_penalty
        )
        self.scorer = Scorer(model, tokenizer, length_penalty=self.length_penalty)
        if task.kind == "classification":
            if labels is None:
                raise ValueError(f"task {task.name} is classification: the module needs its tokenized label words")
            self.scoring_path = labels.scoring_path(prefer_single_token=True)
        if options.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if options.freeze_backbone:
            if not options.prompt_tokens and not options.lora_rank:
                raise OptionError("--freeze-backbone leaves nothing to train without --prompt-tokens or --lora-rank")
            model.requires_grad_(False)
        if options.lora_rank:
            add_lora(model, options.lora_rank, options.lora_alpha, options.lora_dropout, options.lora_targets)
        self.prompt = None
        if options.prompt_tokens:
            self.prompt = PromptEncoder(options.prompt_tokens, model.config.hidden_size, options.prompt_encoder)
            attach_prompt(model.word_embeddings, self.prompt, prompt_token_id)
        metric_options = {"num_classes": len(labels.labels)} if task.kind == "classification" else {}
        self.val_metrics = task.build_metrics(**metric_options)
        self.test_metrics = task.build_metrics(**metric_options)
        self._ids = dict(sop_id=tokenizer.sop_token_id, pad_id=tokenizer.pad_token_id)

    # -- scores and losses -------------------------------------------------------------------
    def label_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        """Classification: [b, labels] log-probs of each label's words at the blank."""
        return self.scorer.label_scores(batch["contexts"], batch["mask_positions"], self.labels, path=self.scoring_path)

    def candidate_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        """Multiple choice: [b, most candidates] span log-probs, padding at -1e4."""
        scores = self.scorer.candidate_scores(batch["contexts"], batch["mask_positions"], batch["candidates"])
        out = torch.full((len(scores), max(len(s) for s in scores)), _NO_CANDIDATE, device=scores[0].device)
        for row, s in enumerate(scores):
            out[row, : len(s)] = s
        return out

    def cloze_loss(self, scores: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        # Built without reading anything back from the device (a per-row `int(label)` would
        # wait for it once per example): multiple-choice golds are Python lists, class labels
        # a device tensor turned into a mask there.
        if self.task.kind == "multiple_choice":
            gold_mask = torch.zeros(scores.shape, dtype=torch.bool)
            for i, g in enumerate(batch["golds"]):
                gold_mask[i, g] = True
            gold_mask = gold_mask.to(scores.device, non_blocking=True)
        else:
            labels = batch["labels"]
            gold_mask = (labels[:, None] == torch.arange(scores.shape[-1], device=scores.device)) & (labels[:, None] >= 0)
        keep = gold_mask.any(-1)
        kept = keep.sum().clamp(min=1)
        # A row without a gold takes every candidate as gold: its terms are finite and then
        # weighted by zero, so it adds neither loss nor gradient (nor NaN through -inf).
        gold = scores.masked_fill(~(gold_mask | ~keep[:, None]), float("-inf")).logsumexp(-1)
        # Cross-entropy with possibly several golds: -log(sum of gold probs / sum of all).
        loss = torch.where(keep, scores.logsumexp(-1) - gold, 0.0).sum() / kept
        gold_mean = torch.where(keep, gold, 0.0).sum() / kept
        if self.loss_kind == "generative":
            return -gold_mean
        if self.loss_kind == "mix":
            return loss - gold_mean
        return loss

    def generation_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        inputs = build_inputs_for_generation(
            self.tokenizer, batch["contexts"], max_gen_length=max(len(t) for t in batch["targets"]) + 1,
            targets=batch["targets"],
        )
        labels = inputs.pop("labels")
        # The target rows are found on the CPU: a boolean index on the device would wait for it.
        rows, columns = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.model(**inputs, compute_logits=False)
        return self.model.target_loss(out.last_hidden_states, labels.to(self.device),
                                      (rows.to(self.device), columns.to(self.device)), self.options.label_smoothing)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.task.kind == "generation":
            loss = self.generation_loss(batch)
        elif self.task.kind == "classification":
            loss = self.cloze_loss(self.label_scores(batch), batch)
        else:
            loss = self.cloze_loss(self.candidate_scores(batch), batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["contexts"]))
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(dropout_seed(self.seed, self.current_epoch, batch_idx, self.global_rank))

    # -- evaluation and prediction -----------------------------------------------------------
    def predict_batch(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One dict per row: ``index``, ``prediction`` and (cloze tasks) ``scores``."""
        rows = batch["index"].tolist()
        if self.task.kind == "generation":
            spans = generate_spans(self.model, batch["contexts"], batch["mask_positions"],
                                   eop_id=self.tokenizer.eop_token_id, eos_id=self.tokenizer.eos_token_id,
                                   config=self.generation, **self._ids)
            return [{"index": i, "prediction": self.tokenizer.decode(s).strip()} for i, s in zip(rows, spans)]
        if self.task.kind == "classification":
            scores = self.label_scores(batch).float()
            names = self.labels.labels
            return [
                {"index": i, "prediction": names[int(s.argmax())], "label_index": int(s.argmax()),
                 "scores": {n: round(float(v), 6) for n, v in zip(names, s)}}
                for i, s in zip(rows, scores)
            ]
        scores = self.candidate_scores(batch).float()
        out = []
        for i, s, cands in zip(rows, scores, batch["candidates"]):
            s = s[: len(cands)]
            best = int(s.argmax())
            out.append({"index": i, "prediction": self.tokenizer.decode(cands[best]).strip(), "label_index": best,
                        "scores": [round(float(v), 6) for v in s]})
        return out

    def _evaluate(self, batch: dict[str, Any], metrics) -> list[dict[str, Any]]:
        """Update ``metrics`` with the batch's labelled rows; returns their predictions (with the
        gold ``label`` for classification), which callbacks see as the step's outputs."""
        predictions = self.predict_batch(batch)
        labelled = [j for j, flag in enumerate(batch["labelled"]) if flag]
        if not labelled:
            return []
        predictions = [predictions[j] for j in labelled]
        kind = self.task.kind
        extra = {}
        if self.task.group_field:
            extra["question_ids"] = [batch["groups"][j] for j in labelled]
        if kind == "generation":
            texts = [p["prediction"] for p in predictions]
            if self.rouge_postprocess:
                texts = [clean_summary(t, self.task.language) for t in texts]
            metrics.update(texts, [batch["references"][j] for j in labelled], **extra)
        elif kind == "classification":
            golds = batch["labels"][labelled].cpu()
            metrics.update(torch.tensor([p["label_index"] for p in predictions]), golds, **extra)
            for p, gold in zip(predictions, golds.tolist()):
                p["label"] = self.labels.labels[gold]
        elif set(self.task.metrics) & {"em", "f1"}:
            golds = [[self.tokenizer.decode(batch["candidates"][j][g]).strip() for g in batch["golds"][j]]
                     for j in labelled]
            metrics.update([p["prediction"] for p in predictions], golds, **extra)
        else:
            # Right when the chosen candidate is one of the golds (WSC's False rows have
            # several golds: every candidate but span1).
            chosen = [p["label_index"] for p in predictions]
            target = [c if c in batch["golds"][j] else -1 for c, j in zip(chosen, labelled)]
            metrics.update(chosen, target, **extra)
        return predictions

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        return self._evaluate(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics, "test")

    def _log_metrics(self, metrics, prefix: str) -> None:
        values = metrics.compute()
        metrics.reset()
        for name, value in values.items():
            # compute() already gathered every process's examples: no further reduction.
            self.log(f"{prefix}/{name}", value.float(), prog_bar=True, sync_dist=False, rank_zero_only=False)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        return self.predict_batch(batch)

    def configure_optimizers(self) -> dict:
        return self.options.build(self, int(self.trainer.estimated_stepping_batches), FALLBACK_LEARNING_RATE)
