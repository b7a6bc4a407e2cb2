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

from dataclasses import dataclass
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from glm_tune.errors import OptionError
from glm_tune.generation import GenerationConfig, generate_spans
from glm_tune.model import GLMModel
from glm_tune.optim import build_optimizer
from glm_tune.prompt import PromptEncoder, PromptEncoderKind, attach_prompt
from glm_tune.scoring import score_candidates, single_token_scores
from glm_tune.task import Task
from glm_tune.tokenizer import IGNORE_INDEX
from glm_tune.verbalizer import VerbalizedLabels

Loss = Literal["auto", "cross_entropy", "generative", "mix"]

# A padding candidate's score: far below any real log-prob, and finite in fp16.
_NO_CANDIDATE = -1e4


@dataclass
class TrainingOptions:
    """What is trained and how: optimiser, loss, and parameter-efficient options."""

    learning_rate: float = 1e-5
    """Peak learning rate of AdamW (GLM-Large SuperGLUE: 1e-5)."""
    weight_decay: float = 0.1
    """AdamW weight decay; biases and LayerNorm parameters are never decayed."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.999
    """AdamW beta2 (GLM-10B used 0.95)."""
    warmup_ratio: float = 0.1
    """Fraction of the optimizer steps spent warming the learning rate up from 0 (then linear decay)."""
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
        self.loss_kind = task.extra.get("loss", "cross_entropy") if options.loss == "auto" else options.loss
        self.length_penalty = (
            task.extra.get("length_penalty", 0.0) if options.length_penalty is None else options.length_penalty
        )
        if task.kind == "classification":
            if labels is None:
                raise ValueError(f"task {task.name} is classification: the module needs its tokenized label words")
            self.scoring_path = labels.scoring_path(prefer_single_token=True)
        if options.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if options.freeze_backbone:
            if not options.prompt_tokens:
                raise OptionError("--freeze-backbone leaves nothing to train without --prompt-tokens")
            model.requires_grad_(False)
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
        contexts, masks = batch["contexts"], batch["mask_positions"]
        if self.scoring_path == "single_token":
            words = single_token_scores(self.model, contexts, masks, self.labels.single_token_ids, **self._ids)
        else:
            words = torch.stack(score_candidates(
                self.model, contexts, masks, [self.labels.candidates] * len(contexts),
                eop_id=self.tokenizer.eop_token_id, length_penalty=self.length_penalty, **self._ids,
            ))
        return self.labels.label_scores(words)

    def candidate_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        """Multiple choice: [b, most candidates] span log-probs, padding at -1e4."""
        scores = score_candidates(
            self.model, batch["contexts"], batch["mask_positions"], batch["candidates"],
            eop_id=self.tokenizer.eop_token_id, length_penalty=self.length_penalty, **self._ids,
        )
        out = torch.full((len(scores), max(len(s) for s in scores)), _NO_CANDIDATE, device=scores[0].device)
        for row, s in enumerate(scores):
            out[row, : len(s)] = s
        return out

    def cloze_loss(self, scores: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        golds = batch["golds"] if self.task.kind == "multiple_choice" else [[int(y)] if y >= 0 else [] for y in batch["labels"]]
        keep = [i for i, g in enumerate(golds) if g]
        if not keep:
            return scores.sum() * 0.0
        gold_mask = torch.zeros_like(scores, dtype=torch.bool)
        for i in keep:
            gold_mask[i, golds[i]] = True
        scores, gold_mask = scores[keep], gold_mask[keep]
        gold = scores.masked_fill(~gold_mask, float("-inf")).logsumexp(-1)
        # Cross-entropy with possibly several golds: -log(sum of gold probs / sum of all).
        loss = (scores.logsumexp(-1) - gold).mean()
        if self.loss_kind == "generative":
            return -gold.mean()
        if self.loss_kind == "mix":
            return loss - gold.mean()
        return loss

    def generation_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        inputs = self.tokenizer.build_inputs_for_generation(
            batch["contexts"], max_gen_length=max(len(t) for t in batch["targets"]) + 1, targets=batch["targets"]
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        labels = inputs.pop("labels")
        out = self.model(**inputs, compute_logits=False)
        where = labels != IGNORE_INDEX
        logits = self.model.lm_logits(out.last_hidden_states[where]).float()
        return F.cross_entropy(logits, labels[where], label_smoothing=self.options.label_smoothing)

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
        # Dropout draws depend only on (seed, epoch, batch, rank), so a run resumed from any
        # checkpoint trains exactly as an uninterrupted one.
        torch.manual_seed((self.seed * 1_000_003 + self.current_epoch * 100_003 + batch_idx) * 64 + self.global_rank)

    # -- evaluation and prediction -----------------------------------------------------------
    def predict_batch(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One dict per row: ``index``, ``prediction`` and (cloze tasks) ``scores``."""
        rows = batch["index"].tolist()
        if self.task.kind == "generation":
            spans = generate_spans(self.model, batch["contexts"], batch["mask_positions"],
                                   eop_id=self.tokenizer.eop_token_id, config=self.generation, **self._ids)
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

    def _evaluate(self, batch: dict[str, Any], metrics) -> None:
        predictions = self.predict_batch(batch)
        labelled = [j for j, flag in enumerate(batch["labelled"]) if flag]
        if not labelled:
            return
        predictions = [predictions[j] for j in labelled]
        kind = self.task.kind
        extra = {}
        if self.task.group_field:
            rows = self._rows()
            extra["question_ids"] = [str(rows[p["index"]][self.task.group_field]) for p in predictions]
        if kind == "generation":
            rows = self._rows()
            metrics.update([p["prediction"] for p in predictions],
                           [self.task.gold_texts(rows[p["index"]]) for p in predictions], **extra)
        elif kind == "classification":
            metrics.update(torch.tensor([p["label_index"] for p in predictions]),
                           batch["labels"][labelled].cpu(), **extra)
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

    def _rows(self) -> list[dict[str, Any]]:
        datamodule = self.trainer.datamodule
        stage = self.trainer.state.stage
        name = {
            "validate": datamodule.options.validation_split, "sanity_check": datamodule.options.validation_split,
            "train": datamodule.options.validation_split, "test": datamodule.options.test_split,
        }.get(getattr(stage, "value", stage), "predict")
        return datamodule.split(name).rows

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics)

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
        o = self.options
        return build_optimizer(
            self, learning_rate=o.learning_rate, weight_decay=o.weight_decay, betas=(o.adam_beta1, o.adam_beta2),
            total_steps=int(self.trainer.estimated_stepping_batches), warmup_ratio=o.warmup_ratio,
        )
