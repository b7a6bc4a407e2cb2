"""``glm-tune report RUN_DIR``: a fit run's learning curves and confusion matrix as PNGs.

Everything is read from the files fit wrote: the CSV logs (``logs/version_N/metrics.csv``, one
version per start or resume: training loss every ``--log-every-n-steps``, validation metrics
after each validation), ``metrics.json`` (the final scores) and ``val_predictions.jsonl`` (the
final validation's predictions, for the confusion matrix of a classification run).
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from glm_tune.errors import MissingFileError, OptionError
from glm_tune.table import format_table
from glm_tune.training.run import METRICS_FILE, make_writable_dir, metrics_table
from glm_tune.training.val_predictions import VAL_PREDICTIONS

CURVES = "report.png"
CONFUSION = "confusion.png"
LOSS = "train/loss"


@dataclass
class Report:
    curves: Path
    confusion: Path | None
    table: str
    """The metrics table (metrics.json's, else the last logged validation values)."""


def find_logs(run_dir: str | Path) -> list[Path]:
    """The run's CSV logs, in the order they were written (a resumed run adds a version)."""
    logs = Path(run_dir).glob("logs/version_*/metrics.csv")
    return sorted(logs, key=lambda path: int(re.sub(r"\D", "", path.parent.name) or 0))


def read_logs(run_dir: str | Path) -> list[dict[str, float]]:
    """Every logged row of every version, as numbers; a step logged again after a resume keeps
    its latest value."""
    logs = find_logs(run_dir)
    if not logs:
        raise MissingFileError(f"{Path(run_dir) / 'logs/version_0/metrics.csv'} not found: report reads the CSV "
                               "logs of a fit run (written unless --loggers leaves out csv)")
    merged: dict[tuple[int, int, frozenset], dict[str, float]] = {}
    for path in logs:
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                values = {k: float(v) for k, v in row.items() if v not in ("", None)}
                if "step" in values and "epoch" in values:
                    merged[int(values["step"]), int(values["epoch"]), frozenset(values)] = values
    return list(merged.values())


def _per_epoch(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    """Mean of each epoch's values, epochs counted from 1 as the progress bar counts them."""
    groups = defaultdict(list)
    for epoch, value in points:
        groups[epoch].append(value)
    epochs = sorted(groups)
    return [e + 1 for e in epochs], [sum(groups[e]) / len(groups[e]) for e in epochs]


def plot_curves(rows: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = sorted({k for row in rows for k in row if k.startswith(("val/", "test/"))})
    loss = sorted((row["step"], row["epoch"], row[LOSS]) for row in rows if LOSS in row)
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (loss_steps, loss_epochs), (val_steps, val_epochs) = axes
    if loss:
        loss_steps.plot([s for s, _, _ in loss], [v for _, _, v in loss], marker=".", linewidth=1)
        loss_epochs.plot(*_per_epoch([(e, v) for _, e, v in loss]), marker="o")
    for name in series:
        points = sorted((row["step"], row["epoch"], row[name]) for row in rows if name in row)
        val_steps.plot([s for s, _, _ in points], [v for _, _, v in points], marker="o", label=name)
        val_epochs.plot(*_per_epoch([(e, v) for _, e, v in points]), marker="o", label=name)
    for axis, ylabel, xlabel in ((loss_steps, "training loss", "optimizer step"),
                                 (loss_epochs, "training loss (epoch mean)", "epoch"),
                                 (val_steps, "validation metric", "optimizer step"),
                                 (val_epochs, "validation metric (epoch mean)", "epoch")):
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        if xlabel == "epoch":
            axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in (val_steps, val_epochs):
        if series:
            axis.legend()
        else:
            axis.text(0.5, 0.5, "no validation logged", ha="center", va="center", transform=axis.transAxes)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion(predictions: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({str(p["label"]) for p in predictions} | {str(p["prediction"]) for p in predictions})
    where = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for p in predictions:
        counts[where[str(p["label"])]][where[str(p["prediction"])]] += 1
    size = max(4.0, 0.6 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    top = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            axis.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
    right = sum(counts[i][i] for i in range(len(labels)))
    axis.set_title(f"{title}: {right} of {len(predictions)} right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _classified(run_dir: Path) -> list[dict] | None:
    path = run_dir / VAL_PREDICTIONS
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows if rows and all("label" in row for row in rows) else None


def write_report(run_dir: str | Path, output_dir: str | Path | None = None) -> Report:
    """Write ``report.png`` (and ``confusion.png`` for classification) into ``output_dir``
    (default: the run directory)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise OptionError(f"RUN_DIR {run}: not a directory (give a fit run's --output-dir)")
    rows = read_logs(run)
    out = Path(output_dir) if output_dir else run
    make_writable_dir(out, "--output-dir")
    metrics_path = run / METRICS_FILE
    if metrics_path.is_file():
        record = json.loads(metrics_path.read_text(encoding="utf-8"))
        metrics, title = record["metrics"], f"{record['task']} / {Path(record['model']).name}"
    else:  # a run that stopped early: its latest validation
        metrics = {k: v for row in sorted(rows, key=lambda r: r["step"]) for k, v in row.items() if "/" in k
                   and k != LOSS}
        title = run.name
    curves = out / CURVES
    plot_curves(rows, curves, title)
    predictions = _classified(run)
    confusion = None
    if predictions is not None:
        confusion = out / CONFUSION
        plot_confusion(predictions, confusion, title)
    return Report(curves, confusion, format_table(metrics_table(metrics)) if metrics else "(no metrics logged)")


def report(run_dir: str, output_dir: str | None = None) -> None:
    """Draw a fit run's training loss and validation metrics, per step and per epoch, from its logs.

    Writes report.png, and confusion.png for a classification task (from the final validation's
    predictions, val_predictions.jsonl), and prints the metrics table.

    Args:
        run_dir: the run's directory (fit's --output-dir, e.g. runs/sst2) (positional).
        output_dir: where the PNGs go (default: RUN_DIR).
    """
    result = write_report(run_dir, output_dir)
    print(result.table)
    print(f"\nreport:    {result.curves}")
    if result.confusion is not None:
        print(f"confusion: {result.confusion}")
