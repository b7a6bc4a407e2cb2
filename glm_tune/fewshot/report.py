"""What ``glm-tune fewshot`` writes: the terminal table, fewshot.json, fewshot.md and fewshot.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glm_tune.table import format_table

COLUMNS = (("zero_shot", "zero-shot"), ("few_shot", "few-shot"),
           ("zero_shot_calibrated", "zero-shot +cc"), ("few_shot_calibrated", "few-shot +cc"))
"""Result keys of a line and their column titles (+cc: contextual calibration)."""


def mean_std(value: dict[str, Any] | None) -> str:
    """An aggregate (:func:`glm_tune.fewshot.protocol.aggregate`) as ``0.505 ± 0.017``; blank for none."""
    return "" if value is None else f"{value['mean']:.3f} ± {value['std']:.3f}"


def table(result: dict[str, Any]) -> str:
    """One line per pattern, the ensemble, the distilled model and zero-shot: mean ± std over folds."""
    keys = [(k, title) for k, title in COLUMNS if any(k in line for line in result["lines"])]
    rows = [("", *(title for _, title in keys))]
    rows += [(line["name"], *(mean_std(line.get(k)) for k, _ in keys)) for line in result["lines"]]
    return format_table(rows)


def markdown(result: dict[str, Any]) -> str:
    config = result["config"]
    protocol = (f"folds {config['folds']} (train_K / dev_K)" if config["folds"] is not None else
                f"{config['shots']} rows per label, seeds {config['seeds']}, drawn from {config['pool_split']}")
    rows = ", ".join(f"{name} {count}" for name, count in result["test_rows"].items())
    lines = [
        f"# Few-shot: {result['task']} with {result['model']}",
        "",
        "Written by `glm-tune fewshot`; do not edit by hand.",
        "",
        f"- Protocol: {protocol}; accuracy on `{result['test_split']}`, mean ± sample std over the runs.",
        f"- Test rows per run, after dropping rows that are in the run's own train or dev split: {rows}"
        + (f" (at most the first {config['eval_limit']}: --eval-limit)." if config.get("eval_limit") else "."),
        f"- Grid: learning rates {config['learning_rates']}, up to {config['max_epochs']} epochs "
        f"(patience {config['patience']}, epoch 0 = zero-shot weights a candidate: {config['keep_zero_shot']}), "
        f"batch {config['batch_size']}, frozen embeddings: {config['freeze_embeddings']}, "
        f"ensemble: {config['ensemble']}; a run trains only on a dev split of at least {config['min_dev_rows']} "
        "rows (else it keeps the zero-shot weights: lr -).",
        "",
        "| line | " + " | ".join(title for k, title in COLUMNS if any(k in ln for ln in result["lines"])) + " |",
    ]
    keys = [k for k, _ in COLUMNS if any(k in ln for ln in result["lines"])]
    lines.append("|---|" + "---|" * len(keys))
    for line in result["lines"]:
        lines.append(f"| {line['name']} | " + " | ".join(mean_std(line.get(k)) for k in keys) + " |")
    lines += ["", "Runs (the learning rate and epoch chosen on the fold's dev split):", "",
              "| pattern | fold | lr | epoch | dev acc | zero-shot dev acc |", "|---|---|---|---|---|---|"]
    for run in result["runs"]:
        rate = "-" if run["learning_rate"] is None else f"{run['learning_rate']:g}"  # untrained: dev too small
        lines.append(f"| {run['pattern']} | {run['fold']} | {rate} | {run['epoch']} | "
                     f"{run['dev_accuracy']:.3f} | {run['zero_shot_dev_accuracy']:.3f} |")
    for note in result.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> bool:
    """Bars of zero-shot and few-shot accuracy per line with std error bars; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = [(k, title) for k, title in COLUMNS if any(k in line for line in result["lines"])]
    names = [line["name"] for line in result["lines"]]
    width = 0.8 / len(keys)
    figure, axes = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.6))
    for number, (key, title) in enumerate(keys):
        xs = [i + number * width for i, line in enumerate(result["lines"]) if key in line]
        means = [line[key]["mean"] for line in result["lines"] if key in line]
        stds = [line[key]["std"] for line in result["lines"] if key in line]
        axes.bar(xs, means, width, yerr=stds, capsize=3, label=title)
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names, rotation=20, ha="right", fontsize=8)
    axes.set_ylabel(f"accuracy on {result['test_split']}")
    axes.set_title(f"{result['task']} few-shot, {result['model']}", fontsize=10)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_report(result: dict[str, Any], out: Path) -> None:
    (out / "fewshot.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "fewshot.md").write_text(markdown(result), encoding="utf-8")
    plot(result, out / "fewshot.png")
