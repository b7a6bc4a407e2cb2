"""Would a stricter dev selection keep few-shot at or above zero-shot? Read back from the records.

Each few-shot record holds the test log-probs of the zero-shot weights and of the run's chosen
weights, with both dev accuracies. The rule "keep the trained weights only when their dev accuracy
beats the zero-shot weights' by at least m dev rows" chooses, when it trains at all, the same
weights as now (the best dev epoch and rate), so its test accuracy follows from the records
exactly. This writes the uniform ensemble and the mean single pattern under each margin, beside
zero-shot (the default pattern's zero-shot weights) on the same rows.

    python experiments/glm-tiny/fewshot_margins.py runs/fewshot   # fewshot.sh's OUT; fewshot.sh runs it
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from glm_tune.fewshot.protocol import aggregate, ensemble, run_scores
from glm_tune.fewshot.report import mean_std
from glm_tune.fewshot.runs import accuracy
from glm_tune.task.registry import resolve_task

# (task, fewshot.sh's output folder of trained runs, dev rows per run: FewCLUE dev_K, --shots 4 x 2 labels)
RUNS = [("eprstmt", "eprstmt", 32), ("rte", "rte-min-dev-0", 8)]
MARGINS = (0, 1, 2, 3, 4)


def folds(folder: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted((folder / "runs").glob("p*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault(record["fold"], []).append(record)
    return {name: sorted(runs, key=lambda r: r["pattern"]) for name, runs in found.items()}


def chosen(record: dict, margin: float):
    gain = record["dev_accuracy"] - record["zero_shot_dev_accuracy"]
    trained = record["epoch"] > 0 and gain >= margin - 1e-9  # float dev accuracies of n rows
    return run_scores(record, "few_shot" if trained else "zero_shot", calibrated=False), trained


def main(root: Path, out: Path) -> None:
    lines = ["<!-- written by experiments/glm-tiny/fewshot_margins.py from the fewshot.sh records -->",
             "# Few-shot: a dev margin before the trained weights replace the zero-shot ones", "",
             "Margin m: a run keeps its trained weights only when they get at least m more dev rows right "
             "than the zero-shot weights (0: as `glm-tune fewshot --min-dev-rows 0` chooses; 1: a dev tie "
             "keeps the zero-shot weights). Uncalibrated accuracy, mean ± sample std over the folds/seeds.", "",
             "| task | dev rows | margin (rows) | runs trained | mean pattern | ensemble (uniform) | zero-shot |",
             "|---|---|---|---|---|---|---|"]
    for name, folder, dev_rows in RUNS:
        runs = folds(root / folder)
        default = resolve_task(name).default_pattern_id
        zero = [accuracy(run_scores(next(r for r in rs if r["pattern"] == default), "zero_shot", False),
                         rs[0]["golds"]) for rs in runs.values()]
        for rows in MARGINS:
            merged, single, trained = [], [], 0
            for rs in runs.values():
                picked = [chosen(r, rows / dev_rows) for r in rs]
                trained += sum(t for _, t in picked)
                merged.append(accuracy(ensemble([s for s, _ in picked]), rs[0]["golds"]))
                single.append(statistics.fmean(accuracy(s, rs[0]["golds"]) for s, _ in picked))
            total = sum(len(rs) for rs in runs.values())
            lines.append(f"| {name} | {dev_rows} | {rows} | {trained}/{total} | {mean_std(aggregate(single))} | {mean_std(aggregate(merged))} "
                         f"| {mean_std(aggregate(zero))} |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/fewshot"), Path("experiments/glm-tiny/fewshot-margins.md"))
