"""``OUTPUT_DIR/val_predictions.jsonl``: what the finetuned model predicted for each validation
row, written by fit's final validation for ``glm-tune report`` (a classification run's
confusion matrix)."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from glm_tune.atomic import write_text_atomic

VAL_PREDICTIONS = "val_predictions.jsonl"


class ValidationPredictions(Callback):
    """Collect the validation steps' outputs (one dict per labelled row: ``index``,
    ``prediction``, ``label`` for classification) and write them as JSONL after each validation.

    Written by a single process only: under a distributed strategy each process sees a share of
    the rows, and a file of one share would mislead.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows: list[dict] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._rows = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._rows.extend({k: v for k, v in row.items() if k != "scores"} for row in outputs or [])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.world_size == 1:
            rows = sorted(self._rows, key=lambda row: row["index"])
            write_text_atomic(self.path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
