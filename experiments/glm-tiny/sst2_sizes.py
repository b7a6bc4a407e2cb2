"""glm-tiny with its finetuning defaults against TF-IDF + logistic regression on SST-2, by
training-set size, on the same rows.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/glm-tiny/sst2_sizes.py ../shared/data/sst2 \\
        experiments/glm-tiny/sst2_sizes.md --work /tmp/sst2-sizes [--recipes defaults lr3e-4 steps400]

For each size, ``--train-limit N`` draws the training rows from GLUE's train.tsv with the seed
(as ``fit`` does); the baseline is trained on exactly those rows. Both are scored on the whole
SST-2 dev set (872 rows, held out: no recipe or baseline setting was tuned on it, but fit picks
``best.ckpt`` by it, so the table gives glm-tiny's last epoch too, which nothing selected).

Recipes (``--recipes``): ``defaults`` (nothing set: glm-tiny's config.json decides),
``lrX`` (learning rate X, default epochs), ``stepsK`` (at least K optimizer steps:
max(default epochs, ceil(K / steps per epoch)) epochs), or both joined by ``+``. A recipe whose
learning rate and epochs equal an earlier run's at a size reuses that run (training is seeded). Results are
written after every run (JSON beside the markdown), so a stopped experiment keeps what it measured.
Needs scikit-learn (an experiment-only dependency).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import time
from pathlib import Path

import torch

from glm_tune.task.registry import get_task
from glm_tune.training.data import DataOptions
from glm_tune.training.finetune_defaults import model_defaults
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, fit
from glm_tune.training.trainer import TrainerOptions

SIZES = (500, 1000, 2000, 4000)
SEED = 1234
BATCH = 16


def same_rows(data_dir: str, size: int) -> list[dict]:
    """The rows ``fit --train-limit size`` trains on (ClozeDataModule's draw, same seed)."""
    train, _ = get_task("sst2").load_split("train", data_dir)
    return random.Random(SEED).sample(train.to_list(), size)


def baseline(rows: list[dict], dev: list[dict]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=1000))
    model.fit([r["sentence"] for r in rows], [r["label"] for r in rows])
    predicted = model.predict([r["sentence"] for r in dev])
    return sum(p == r["label"] for p, r in zip(predicted, dev)) / len(dev)


def recipe_options(recipe: str, size: int) -> tuple[TrainingOptions, TrainerOptions]:
    """Options of a recipe: ``defaults``, or ``+``-joined changes ``lrX`` and ``stepsK``."""
    defaults = model_defaults("glm-tiny")
    training, trainer = TrainingOptions(), TrainerOptions()
    for change in recipe.split("+"):
        steps = re.fullmatch(r"steps(\d+)", change)
        if change == "defaults":
            continue
        if change.startswith("lr"):
            training.learning_rate = float(change[2:])
        elif steps:
            trainer.max_epochs = max(defaults["max_epochs"], math.ceil(int(steps.group(1)) / math.ceil(size / BATCH)))
        else:
            raise SystemExit(f"unknown recipe {recipe!r}")
    return training, trainer


def settings(recipe: str, size: int) -> tuple[float, int]:
    """(learning rate, epochs) a recipe trains with: two recipes that agree share one run."""
    defaults = model_defaults("glm-tiny")
    training, trainer = recipe_options(recipe, size)
    return (training.learning_rate or defaults["learning_rate"], trainer.max_epochs or defaults["max_epochs"])


def val_curve(out: Path) -> list[float]:
    """val/accuracy after each epoch, from the run's CSV log."""
    with (out / "logs" / "version_0" / "metrics.csv").open() as f:
        return [float(row["val/accuracy"]) for row in csv.DictReader(f) if row.get("val/accuracy")]


def run_glm(data_dir: str, work: Path, recipe: str, size: int) -> dict:
    training, trainer = recipe_options(recipe, size)
    trainer.progress_bar, trainer.accelerator = False, "cpu"
    out = work / f"{recipe}-{size}"
    config = FitConfig(task="sst2", model="glm-tiny", output_dir=str(out), overwrite=True, seed=SEED,
                       data=DataOptions(data_dir=data_dir, train_limit=size, batch_size=BATCH),
                       training=training, trainer=trainer)
    start = time.perf_counter()
    result = fit(config)
    curve = val_curve(out)
    saved = json.loads((out / "fit_config.json").read_text())
    return {"best": result.metrics["val/accuracy"], "last": curve[-1], "curve": curve,
            "learning_rate": saved["training"]["learning_rate"], "epochs": saved["trainer"]["max_epochs"],
            "seconds": round(time.perf_counter() - start)}


def write(results: dict, path: Path) -> None:
    path.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# glm-tiny vs TF-IDF + logistic regression on SST-2, by training size",
        "",
        "Written by `experiments/glm-tiny/sst2_sizes.py`. Training rows: `--train-limit N` drawn with seed "
        f"{SEED} from GLUE's train.tsv; the baseline (TF-IDF of word 1-2-grams, sublinear tf, logistic "
        "regression, scikit-learn defaults otherwise) is trained on the same rows. Scored on the whole SST-2 "
        "dev set (872 rows). glm-tiny: batch 16, one CPU thread; `best` is fit's result (best.ckpt, picked by "
        "this dev set, so it flatters), `last` the last epoch's (nothing picked it). Goal (issue #10): "
        "4,000 rows >= 0.78 and above the baseline at every size.",
        "",
        "Recipes: `defaults` is what glm-tiny's config.json recommends now (learning rate 3e-4, 2 epochs); "
        "`lr1e-4` was its first recommendation (1e-4, 2 epochs), which missed the 4,000-row goal. A recipe "
        "with the same learning rate and epochs as another at a size shares its (seeded) run. Seconds are "
        "wall time on a 2-core machine shared with other jobs.",
        "",
        "| recipe | rows | lr | epochs | baseline | glm-tiny last | glm-tiny best | last > baseline | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for recipe, runs in results["glm"].items():
        for size, run in sorted(runs.items(), key=lambda item: int(item[0])):
            base = results["baseline"][size]
            lines.append(f"| {recipe} | {int(size):,} | {run['learning_rate']:g} | {run['epochs']} | {base:.3f} | "
                         f"{run['last']:.3f} | {run['best']:.3f} | {'yes' if run['last'] > base else 'no'} | "
                         f"{run['seconds']} |")
    lines.append("")
    for recipe, runs in results["glm"].items():
        if len(runs) == len(SIZES):
            four = runs[str(SIZES[-1])]["last"]
            wins = all(run["last"] > results["baseline"][size] for size, run in runs.items())
            met = four >= 0.78 and wins
            lines.append(f"- {recipe}: 4,000 rows {four:.3f} (last epoch), beats the baseline at every size: "
                         f"{'yes' if wins else 'no'}; goal {'met' if met else 'not met'}.")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("results", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sst2-sizes"))
    parser.add_argument("--recipes", nargs="+", default=["defaults"])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    json_path = args.results.with_suffix(".json")
    results = json.loads(json_path.read_text()) if json_path.is_file() else {"baseline": {}, "glm": {}}
    dev = get_task("sst2").load_split("validation", args.data_dir)[0].to_list()
    for size in args.sizes:
        results["baseline"][str(size)] = baseline(same_rows(args.data_dir, size), dev)
    for recipe in args.recipes:
        for size in args.sizes:
            # By what each run recorded, so results of another config.json's defaults stay theirs.
            same = [run for runs in results["glm"].values() for key, run in runs.items() if key == str(size)
                    and (run["learning_rate"], run["epochs"]) == settings(recipe, size)]
            results["glm"].setdefault(recipe, {})[str(size)] = (
                same[0] if same else run_glm(args.data_dir, args.work, recipe, size))
            write(results, args.results)
            print(recipe, size, results["glm"][recipe][str(size)], flush=True)


if __name__ == "__main__":
    main()
