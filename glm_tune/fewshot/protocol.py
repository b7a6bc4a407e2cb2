"""The few-shot protocol behind ``glm-tune fewshot``: folds or seeds x patterns, ensembles, mean ± std.

    from glm_tune.fewshot.protocol import FewShotConfig, run_fewshot
    result = run_fewshot(FewShotConfig(task="eprstmt", data_dir="../shared/data/fewclue/eprstmt",
                                       folds="0,1,2,3,4", output_dir="runs/eprstmt-fewshot"))
    result["lines"]          # one per pattern, the ensemble, (distilled), zero-shot: mean, std, runs

Protocols:

* **folds** (``--folds 0,1,2,3,4``): FewCLUE's ``train_K`` / ``dev_K`` (a task's splits named so);
* **seeds** (``--shots k --seeds 13,21,...``, LM-BFF's): from ``--pool-split`` each seed draws k rows
  per label for training and k more per label for dev, disjoint (:func:`stratified_sample`); the
  draws are written to ``OUTPUT_DIR/samples/seed_S/`` and read back as the run's splits.

For each fold and pattern (``--patterns all``), one run per learning rate of the grid trains from
the pretrained weights for up to ``--max-epochs`` epochs, the epoch (0, the zero-shot weights,
included unless ``--keep-zero-shot false``) chosen by dev accuracy; the rate with the best dev
score is kept. Each finished run is recorded in ``OUTPUT_DIR/runs/`` with its test scores, so an
interrupted command skips it when run again. Test rows that also appear in the fold's train or dev
split are dropped (FewCLUE's ``dev_few_all`` is the union of the ``dev_K``). The ensemble averages
the patterns' label log-probs per fold (:func:`ensemble`); ``--distill`` trains one more model on
the unlabelled split's soft labels (:mod:`glm_tune.fewshot.distill`); ``--calibrate`` adds contextual
calibration (:mod:`glm_tune.cloze.calibration`) to every line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from glm_tune.atomic import write_text_atomic
from glm_tune.cloze.calibration import calibrate, encode_content_free, prior
from glm_tune.errors import OptionError
from glm_tune.fewshot.distill import IPET_SCALE, distillation, pseudo_labelled, soft_labels
from glm_tune.fewshot.report import write_report
from glm_tune.fewshot.runs import (
    Backbone,
    TrainSettings,
    accuracy,
    cloze_module,
    golds,
    load_backbone,
    log_probs,
    train,
)
from glm_tune.task.readers import DataError
from glm_tune.task.registry import Task, resolve_task
from glm_tune.training.data import ClozeDataModule, DataOptions, Example


@dataclass
class FewShotConfig:
    """A few-shot experiment: task, model, protocol, patterns, training grid, what to add."""

    task: str = ""
    """Task name (see `glm-tune tasks`)."""
    model: str = "glm-tiny"
    """Model name, hub id or directory in the hub layout."""
    tokenizer: str | None = None
    """Tokenizer directory when the model directory has none."""
    data_dir: str | None = None
    """Directory with the task's files (FewCLUE: train_K.json, dev_K.json, dev_few_all.json, unlabeled.json)."""
    output_dir: str = "runs/fewshot"
    """Where the runs' records, fewshot.json, fewshot.md and fewshot.png go; finished runs there are skipped."""
    folds: str | None = None
    """Comma-separated fold numbers (0,1,2,3,4): train on train_K, choose on dev_K. Exclusive with --shots."""
    shots: int | None = None
    """k: each seed draws k training rows and k dev rows per label from --pool-split (LM-BFF)."""
    seeds: str = "13,21,42,87,100"
    """With --shots: the seeds of the draws, one run per seed."""
    pool_split: str = "train"
    """With --shots: the labelled split the rows are drawn from."""
    patterns: str = "all"
    """all, or comma-separated pattern ids of the task."""
    test_split: str | None = None
    """Split every run is scored on (default: test_public when the task has it, else validation); with
    --shots, rest: the pool's rows that no draw of that seed took."""
    ensemble: Literal["uniform", "weighted"] = "uniform"
    """How patterns merge: uniform mean of label log-probs, or weighted by each run's dev accuracy (PET)."""
    calibrate: bool = False
    """Also report every line with contextual calibration (content-free prior divided out)."""
    distill: bool = False
    """Train one model (default pattern) on the unlabelled split's ensemble soft labels, KL loss (PET)."""
    unlabelled_split: str = "unlabeled"
    """With --distill: the split of unlabelled rows."""
    unlabelled_limit: int = 2000
    """With --distill: use the first N rows of the unlabelled split."""
    ipet: int = 0
    """iPET rounds (PET): in each, every pattern trains again on its fold's rows plus unlabelled rows the
    other patterns' previous ensemble labels (5x the training rows per round, the most confident per label)."""
    temperature: float = 2.0
    """With --distill: soft labels are softmax(ensemble log-probs / T)."""
    distill_epochs: int = 3
    """With --distill: most epochs over the unlabelled rows (the epoch is chosen on the fold's dev split)."""
    distill_learning_rate: float = 1e-5
    """With --distill: learning rate of the distilled model."""
    learning_rates: str = "1e-5,3e-5,1e-4"
    """Comma-separated learning-rate grid; each fold keeps the rate with the best dev score. With glm-tiny
    the dev splits chose 1e-4 in 14 of 15 tnews runs, and on eprstmt the grid with it kept every run at or
    above its zero-shot test accuracy (experiments/glm-tiny/fewshot-stability.md)."""
    max_epochs: int = 10
    """Most epochs per run; the epoch kept is the best on dev."""
    patience: int | None = 3
    """Early stopping: stop a run after this many epochs without a better dev score (none: never)."""
    keep_zero_shot: bool = True
    """Count the pretrained weights as epoch 0 of the dev selection, so a run that never beats them on
    dev keeps the zero-shot model."""
    min_dev_rows: int = 16
    """A pattern run trains only when its dev split has at least this many rows; below, it keeps the
    zero-shot weights (0: always train). On FewGLUE RTE's 8 dev rows (--shots 4) one row is 12.5
    accuracy points: glm-tiny's dev gains of up to 3 rows there did not carry to the test rows."""
    freeze_embeddings: bool = False
    """Do not train the word embeddings (which are also the output layer)."""
    batch_size: int = 8
    """Training rows per step."""
    eval_batch_size: int = 64
    """Rows per scoring batch."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_steps: int | None = None
    """Stop each run after this many optimizer steps (quick checks)."""
    eval_limit: int | None = None
    """Score only the first N rows of the test split (quick checks)."""
    max_length: int | None = None
    """Most tokens of a cloze context (default: the task's)."""
    seed: int = 1234
    """Seed of batch order and dropout in every run."""


def parse_list(text: str | Sequence[Any] | None, kind: type, option: str) -> list[Any]:
    """``"0,1,2"`` (or a list) as a list of ``kind``; a bad item names the option."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        return [kind(str(item).strip()) for item in items if str(item).strip()]
    except ValueError:
        raise OptionError(f"--{option.replace('_', '-')} {text}: expected comma-separated {kind.__name__} values") from None


def stratified_sample(rows: Sequence[dict[str, Any]], label_field: str, k: int, seed: int):
    """(train, dev): k rows per label each, disjoint, drawn with ``random.Random(seed)``."""
    by_label: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_label.setdefault(str(row[label_field]), []).append(index)
    rng = random.Random(seed)
    train_ids, dev_ids = [], []
    for label in sorted(by_label):
        ids = by_label[label]
        if len(ids) < 2 * k:
            raise DataError(f"--shots {k}: label {label!r} has {len(ids)} rows, fewer than the {2 * k} "
                            "that k training and k dev rows need")
        rng.shuffle(ids)
        train_ids += ids[:k]
        dev_ids += ids[k:2 * k]
    rng.shuffle(train_ids)
    rng.shuffle(dev_ids)
    return [rows[i] for i in train_ids], [rows[i] for i in dev_ids]


def aggregate(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (0 for one run) of the runs' scores."""
    values = [float(v) for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "runs": values}


def ensemble(scores: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """The patterns' [rows, labels] log-probs averaged, uniformly or with ``weights`` (PET's merge_logits)."""
    w = torch.tensor([1.0] * len(scores) if weights is None else [float(x) for x in weights])
    if float(w.sum()) <= 0:
        w = torch.ones(len(scores))  # every pattern scored 0 on dev: nothing to weight by
    stacked = torch.stack([s.float() for s in scores])
    return (stacked * w[:, None, None]).sum(0) / w.sum()


@dataclass
class Fold:
    """One fold or seed: the task whose splits it names, and those splits."""

    name: str
    task: Task
    train: str
    dev: str
    test: str


def check_config(config: FewShotConfig, task: Task) -> None:
    if not config.task:
        raise OptionError("--task is required")
    if not config.data_dir:
        raise OptionError("--data-dir is required: the few-shot splits are read from the task's files")
    if (config.folds is None) == (config.shots is None):
        raise OptionError("give exactly one of --folds (the task's train_K/dev_K) or --shots with --seeds")
    if config.shots is not None and config.shots < 1:
        raise OptionError(f"--shots {config.shots}: expected at least 1 row per label")
    if config.shots is not None and task.kind != "classification":
        raise OptionError(f"--shots draws rows per label; task {task.name} is {task.kind}: use --folds")
    if task.kind == "generation":
        raise OptionError(f"--task {task.name}: few-shot scoring needs a classification or multiple-choice task")
    if config.calibrate and task.kind != "classification":
        raise OptionError(f"--calibrate needs a fixed label set; task {task.name} is {task.kind}")
    if config.max_epochs < 1 or config.distill_epochs < 1:
        raise OptionError("--max-epochs and --distill-epochs must be at least 1")
    if config.min_dev_rows < 0:
        raise OptionError(f"--min-dev-rows {config.min_dev_rows}: expected a number of rows, 0 or more")
    if config.ipet < 0:
        raise OptionError(f"--ipet {config.ipet}: expected a number of rounds, 0 or more")
    if config.temperature <= 0:
        raise OptionError(f"--temperature {config.temperature}: expected a positive number")
    if config.ensemble not in ("uniform", "weighted"):
        raise OptionError(f"--ensemble {config.ensemble}: expected uniform or weighted")
    test = default_test_split(config, task)
    if test not in task.files and not (test == "rest" and config.shots is not None):
        raise OptionError(f"--test-split {test}: task {task.name} has splits {', '.join(task.files)}"
                          + (" (or rest, with --shots)" if config.shots is not None else ""))
    if not parse_list(config.learning_rates, float, "learning_rates"):
        raise OptionError("--learning-rates is empty")
    for pattern in pattern_ids(config, task):
        if pattern not in task.patterns:
            raise OptionError(f"--patterns {config.patterns}: task {task.name} has patterns {sorted(task.patterns)}")


def pattern_ids(config: FewShotConfig, task: Task) -> list[int]:
    if config.patterns.strip() == "all":
        return sorted(task.patterns)
    return parse_list(config.patterns, int, "patterns")


def default_test_split(config: FewShotConfig, task: Task) -> str:
    if config.test_split:
        return config.test_split
    return "test_public" if "test_public" in task.files else "validation"


def folds(config: FewShotConfig, task: Task, out: Path) -> list[Fold]:
    test = default_test_split(config, task)
    if config.folds is not None:
        found = []
        for k in parse_list(config.folds, int, "folds"):
            train_split, dev_split = f"train_{k}", f"dev_{k}"
            if train_split not in task.files or dev_split not in task.files:
                raise OptionError(f"--folds {config.folds}: task {task.name} has no {train_split}/{dev_split} splits")
            found.append(Fold(f"fold{k}", task, train_split, dev_split, test))
        return found
    pool, _ = task.load_split(config.pool_split, config.data_dir)
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in pool.to_list()]
    found = []
    for seed in parse_list(config.seeds, int, "seeds"):
        train_rows, dev_rows = stratified_sample(rows, task.label_field, config.shots, seed)
        folder = out / "samples" / f"seed_{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        files = {"fewshot_train": train_rows, "fewshot_dev": dev_rows}
        if test == "rest":
            taken = {row_key(r, task) for r in train_rows + dev_rows}
            files["fewshot_test"] = [r for r in rows if row_key(r, task) not in taken]
        for name, chosen in files.items():
            (folder / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen),
                                                  encoding="utf-8")
        own = dataclasses.replace(task, file_format="jsonl",
                                  files={**task.files, **{n: str((folder / f"{n}.jsonl").resolve()) for n in files}})
        found.append(Fold(f"seed{seed}", own, "fewshot_train", "fewshot_dev", "fewshot_test" if test == "rest" else test))
    return found


def row_key(row: dict[str, Any], task: Task) -> str:
    """A row by what the model reads and its label: FewCLUE numbers each file's ids from 0, so
    dev_few_all's copy of a dev_K row has another id."""
    names = (*task.fields, task.label_field)
    return json.dumps({k: row.get(k) for k in names}, sort_keys=True, ensure_ascii=False)


_DISTILLED_ONLY = ("temperature", "distill_epochs", "distill_learning_rate")
"""Options of the distilled model alone: kept in its record's "teacher", not in every run's settings."""


def _settings(config: FewShotConfig) -> dict[str, Any]:
    """What a run's result depends on: a record made with other values is not reused."""
    # A round's runs depend only on the rounds before it: adding rounds reuses the finished ones.
    # min_dev_rows only decides whether a run trains, which its record says ("trained"): a record
    # made on the other side of the threshold is run again (Runner.finished).
    # The distilled model's own options are in its record's "teacher" (Runner.teacher), so that trying
    # another temperature does not refuse every pattern run.
    skip = {"output_dir", "folds", "seeds", "patterns", "ensemble", "eval_batch_size", "distill", "ipet",
            "min_dev_rows", *_DISTILLED_ONLY}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


def same_settings(made: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Whether a record's settings are ``now``'s, the data directory compared as the folder it names
    (``../shared/data/x`` and its absolute path are one)."""
    if made is None:
        return False
    # Records made before the distilled model's options moved to its own record hold them too.
    made = {k: v for k, v in made.items() if k not in _DISTILLED_ONLY}
    if set(made) != set(now):
        return False
    folder = lambda value: str(Path(value).resolve()) if value else value  # noqa: E731
    return all(folder(made[k]) == folder(v) if k == "data_dir" else made[k] == v for k, v in now.items())


def _recorded(record: dict[str, Any], key: str) -> Any:
    """What a record says it was made with, for an error that refuses it."""
    return record.get(key) or "not recorded: an earlier glm-tune made it"


class Runner:
    """Runs (or reads back) every pattern x fold of one configuration."""

    def __init__(self, config: FewShotConfig, task: Task, backbone: Backbone, out: Path,
                 progress: tqdm | None = None) -> None:
        self.config, self.task, self.backbone, self.out = config, task, backbone, out
        self.settings = _settings(config)
        self.rates = parse_list(config.learning_rates, float, "learning_rates")
        self.progress = progress
        self._trains: dict[str, bool] = {}  # by fold: its dev split's size is read once
        self._prompts: dict[int, str] = {}  # by pattern: its label words are read once

    def announce(self, name: str, record: dict[str, Any], reused: bool) -> dict[str, Any]:
        """One line per run (a log of a long command shows where it is), and the bar moved on."""
        if self.progress is not None:
            rate = record.get("learning_rate")
            zero = record.get("zero_shot_dev_accuracy")
            self.progress.write(  # beside the bar, on its stream (stderr): stdout keeps the table
                f"{name}: {'finished earlier, ' if reused else ''}lr {rate if rate is not None else '-'}, "
                f"epoch {record['epoch']}, dev accuracy {record['dev_accuracy']:.3f}"
                + (f" (zero-shot {zero:.3f})" if zero is not None else ""), file=self.progress.fp)
            self.progress.update()
        return record

    def data(self, fold: Fold, pattern: int, eval_limit: int | None = None) -> ClozeDataModule:
        # Contexts longer than the model's positions cannot be scored (a small model has 128).
        length = min(self.config.max_length or fold.task.max_length, self.backbone.model.config.max_sequence_length)
        options = DataOptions(data_dir=self.config.data_dir, train_split=fold.train, validation_split=fold.dev,
                              test_split=fold.test, max_length=length, eval_limit=eval_limit)
        return ClozeDataModule(fold.task, self.backbone.tokenizer, options, pattern_id=pattern, seed=self.config.seed)

    def train_settings(self, rate: float, epochs: int) -> TrainSettings:
        c = self.config
        return TrainSettings(learning_rate=rate, max_epochs=epochs, batch_size=c.batch_size,
                             eval_batch_size=c.eval_batch_size, weight_decay=c.weight_decay, patience=c.patience,
                             freeze_embeddings=c.freeze_embeddings, keep_zero_shot=c.keep_zero_shot,
                             max_steps=c.max_steps, seed=c.seed)

    def record_path(self, name: str) -> Path:
        return self.out / "runs" / f"{name}.json"

    def trains(self, fold: Fold) -> bool:
        """Whether ``fold``'s dev split is large enough (--min-dev-rows) to choose trained weights on."""
        if not self.config.min_dev_rows:
            return True
        if fold.name not in self._trains:
            rows, _ = fold.task.load_split(fold.dev, self.config.data_dir)
            self._trains[fold.name] = len(rows) >= self.config.min_dev_rows
        return self._trains[fold.name]

    def teacher(self, runs: list[dict[str, Any]], distilled: bool = False) -> dict[str, Any]:
        """How an iPET run or the distilled model was taught: which runs' ensemble labelled the unlabelled
        rows, and for the distilled model its soft labels' temperature and its training."""
        taught = {"patterns": sorted(r["pattern"] for r in runs), "ensemble": self.config.ensemble}
        if distilled:
            taught |= {k: getattr(self.config, k) for k in _DISTILLED_ONLY}
        return taught

    def finished(self, name: str, trains: bool = True, pattern: int | None = None,
                 teacher: dict[str, Any] | None = None) -> dict[str, Any] | None:
        path = self.record_path(name)
        if not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        if not same_settings(record.get("settings"), self.settings):
            raise OptionError(f"--output-dir {self.out} holds runs made with other settings ({path}); "
                              "use another --output-dir or delete it")
        if pattern is not None and record.get("prompt") != self.prompt(pattern):
            # The settings name a pattern by its id: a task file edited since would be skipped silently.
            raise OptionError(f"{path} was made with another pattern {pattern} or other label words "
                              f"({_recorded(record, 'prompt')}); delete that record to run the pattern as it is now")
        if record.get("teacher") != teacher:
            # --patterns and --ensemble are not settings (pattern runs are shared across them), but a
            # model taught by the ensemble depends on both.
            raise OptionError(f"{path} was taught another way ({_recorded(record, 'teacher')}; this command's: "
                              f"{teacher}); use another --output-dir or delete that record")
        unscored = "unlabelled" in record and record["unlabelled"] is None
        if (self.config.distill or self.config.ipet) and unscored:
            return None  # made without --distill: run again to score the unlabelled rows too
        if record.get("trained", True) != trains:
            return None  # made with a --min-dev-rows on the other side of this fold's dev size
        return record

    def prompt(self, pattern: int) -> str:
        """Pattern ``pattern`` as written, with its label words: what a run record was made with."""
        if pattern not in self._prompts:
            words = self.task.label_words(pattern).words if self.task.kind == "classification" else None
            written = json.dumps(words, ensure_ascii=False, sort_keys=True)
            self._prompts[pattern] = f"{self.task.patterns[pattern]!r} {written}"
        return self._prompts[pattern]

    def save(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        record = {"settings": self.settings, **record}
        # A run interrupted while writing leaves no half record to skip.
        write_text_atomic(self.record_path(name), json.dumps(record) + "\n")
        return record

    def test_examples(self, data: ClozeDataModule, fold: Fold) -> list[Example]:
        seen = {row_key(r, fold.task) for name in (fold.train, fold.dev) for r in data.split(name).rows}
        split = data.split(fold.test)
        kept = [e for e in split.examples if row_key(split.rows[e.index], fold.task) not in seen and e.labelled]
        if not kept:
            raise DataError(f"--test-split {fold.test}: no labelled rows left after dropping {fold.name}'s own rows")
        return kept[: self.config.eval_limit] if self.config.eval_limit else kept

    def scores(self, module, data: ClozeDataModule, examples: list[Example]) -> dict[str, Any]:
        """Log-probs on ``examples`` plus, with --calibrate, the content-free prior."""
        out: dict[str, Any] = {"log_probs": log_probs(module, examples, self.config.eval_batch_size).tolist()}
        if self.config.calibrate:
            free = encode_content_free(data.template, self.task.fields, self.backbone.tokenizer, data.max_length,
                                       self.task.name)
            inputs = [Example(i, ids, mask) for i, (ids, mask) in enumerate(free)]
            out["prior"] = prior(log_probs(module, inputs, self.config.eval_batch_size)).tolist()
        return out

    def run(self, fold: Fold, pattern: int, generation: int = 0, previous: list[dict[str, Any]] | None = None):
        """One pattern on one fold; from iPET ``generation`` 1 on, with ``previous``'s pseudo-labels too."""
        name = f"{f'ipet{generation}-' if generation else ''}p{pattern}-{fold.name}"
        trains = self.trains(fold)
        others = ([r for r in previous if r["pattern"] != pattern] or previous) if generation else []
        teacher = self.teacher(others) if generation else None
        done = self.finished(name, trains, pattern, teacher)
        if done is not None:
            return self.announce(name, done, reused=True)
        data = self.data(fold, pattern)
        train_examples, dev_examples = data.split(fold.train).examples, data.split(fold.dev).examples
        if generation:
            merged = fold_scores(others, "unlabelled", self.config.ensemble, calibrated=False)
            unlabelled = self.data(fold, pattern, eval_limit=self.config.unlabelled_limit)
            count = len(train_examples) * IPET_SCALE ** generation
            train_examples = train_examples + pseudo_labelled(
                unlabelled.split(self.config.unlabelled_split).examples, merged, count)
        test = self.test_examples(data, fold)
        module = cloze_module(self.backbone, fold.task, data.labels, self.train_settings(self.rates[0], 1))
        zero_dev = accuracy(log_probs(module, dev_examples, self.config.eval_batch_size), golds(dev_examples))
        zero = self.scores(module, data, test)
        record = {"pattern": pattern, "prompt": self.prompt(pattern), "fold": fold.name, "teacher": teacher,
                  "labels": list(data.labels.labels) if data.labels else None,
                  "zero_shot_dev_accuracy": zero_dev, "golds": golds(test), "test_rows": len(test),
                  "train_rows": len(train_examples), "zero_shot": zero, "trained": trains}
        if not trains:
            return self.announce(name, self.save(name, {
                **record, "learning_rate": None, "epoch": 0, "dev_accuracy": zero_dev, "grid": [],
                "few_shot": zero, "unlabelled": self.unlabelled(module, fold, pattern)}), reused=False)
        best, grid = None, []
        for rate in self.rates:
            module = cloze_module(self.backbone, fold.task, data.labels, self.train_settings(rate, self.config.max_epochs))
            result = train(module, train_examples, dev_examples, self.train_settings(rate, self.config.max_epochs))
            grid.append({"learning_rate": rate, "epoch": result.epoch, "dev_accuracy": result.dev_accuracy,
                         "dev_curve": result.dev_curve})
            if best is None or result.dev_accuracy > best[1].dev_accuracy:
                # The weights are kept, not scored yet: the test and unlabelled rows are scored once,
                # for the winner. A copy, since every rate's module trains the one shared backbone.
                best = (rate, result, copy.deepcopy(module.state_dict()))
        rate, result, state = best
        module.load_state_dict(state)
        return self.announce(name, self.save(name, {
            **record, "learning_rate": rate, "epoch": result.epoch, "dev_accuracy": result.dev_accuracy,
            "grid": grid, "few_shot": self.scores(module, data, test),
            "unlabelled": self.unlabelled(module, fold, pattern)}), reused=False)

    def unlabelled(self, module, fold: Fold, pattern: int) -> list | None:
        if not (self.config.distill or self.config.ipet):
            return None
        data = self.data(fold, pattern, eval_limit=self.config.unlabelled_limit)
        return log_probs(module, data.split(self.config.unlabelled_split).examples, self.config.eval_batch_size).tolist()

    def distilled(self, fold: Fold, runs: list[dict[str, Any]]) -> dict[str, Any]:
        name = f"distilled{f'-ipet{self.config.ipet}' if self.config.ipet else ''}-{fold.name}"
        teacher = self.teacher(runs, distilled=True)
        done = self.finished(name, teacher=teacher)
        if done is not None:
            return self.announce(name, done, reused=True)
        merged = fold_scores(runs, "unlabelled", self.config.ensemble, calibrated=False)
        targets = soft_labels(merged, self.config.temperature)
        pattern = self.task.default_pattern_id
        data = self.data(fold, pattern, eval_limit=self.config.unlabelled_limit)
        rows = data.split(self.config.unlabelled_split).examples
        settings = self.train_settings(self.config.distill_learning_rate, self.config.distill_epochs)
        module = cloze_module(self.backbone, fold.task, data.labels, settings)
        full = self.data(fold, pattern)
        result = train(module, rows, full.split(fold.dev).examples, settings, loss=distillation(rows, targets))
        test = self.test_examples(full, fold)
        return self.announce(name, self.save(name, {
            "pattern": pattern, "fold": fold.name, "teacher": teacher, "epoch": result.epoch,
            "dev_accuracy": result.dev_accuracy, "unlabelled_rows": len(rows), "golds": golds(test),
            "few_shot": self.scores(module, full, test)}),
            reused=False)


def run_scores(run: dict[str, Any], which: str, calibrated: bool) -> torch.Tensor:
    """A run's [rows, labels] test log-probs (``which``: zero_shot, few_shot, unlabelled)."""
    if which == "unlabelled":
        return torch.tensor(run["unlabelled"])
    scores = torch.tensor(run[which]["log_probs"])
    return calibrate(scores, torch.tensor(run[which]["prior"])) if calibrated else scores


def fold_scores(runs: list[dict[str, Any]], which: str, how: str, calibrated: bool) -> torch.Tensor:
    """The ensemble of one fold's pattern runs."""
    key = "zero_shot_dev_accuracy" if which == "zero_shot" else "dev_accuracy"
    weights = [r[key] for r in runs] if how == "weighted" else None
    return ensemble([run_scores(r, which, calibrated) for r in runs], weights)


def summarise(config: FewShotConfig, task: Task, runs: dict[str, list[dict[str, Any]]],
              distilled: list[dict[str, Any]], rounds: Sequence[dict[str, list[dict[str, Any]]]] = ()):
    """The table's lines: each pattern, the pattern chosen on dev, the ensemble, the distilled model,
    zero-shot (default pattern)."""
    variants = [("zero_shot", False), ("few_shot", False)]
    if config.calibrate:
        variants += [("zero_shot", True), ("few_shot", True)]
    columns = lambda which, cc: which + ("_calibrated" if cc else "")  # noqa: E731
    lines = []
    patterns = sorted({r["pattern"] for fold_runs in runs.values() for r in fold_runs})
    for pattern in patterns:
        line: dict[str, Any] = {"name": f"pattern {pattern}"}
        for which, cc in variants:
            line[columns(which, cc)] = aggregate([
                accuracy(run_scores(r, which, cc), r["golds"]) for fold_runs in runs.values()
                for r in fold_runs if r["pattern"] == pattern])
        lines.append(line)
    if len(patterns) > 1:
        # What a user who keeps one pattern gets: the fold's best on dev (ties: the lowest id), the
        # single-pattern choice an ensemble should be read against (the best line above is chosen on test).
        line = {"name": "pattern chosen on dev"}
        for which, cc in variants:
            key = "zero_shot_dev_accuracy" if which == "zero_shot" else "dev_accuracy"
            chosen = [max(fold_runs, key=lambda r: r[key]) for fold_runs in runs.values()]
            line[columns(which, cc)] = aggregate([accuracy(run_scores(r, which, cc), r["golds"]) for r in chosen])
        lines.append(line)
    line = {"name": f"ensemble ({config.ensemble})"}
    for which, cc in variants:
        line[columns(which, cc)] = aggregate([
            accuracy(fold_scores(fold_runs, which, config.ensemble, cc), fold_runs[0]["golds"])
            for fold_runs in runs.values()])
    lines.append(line)
    for number, later in enumerate(rounds, 1):
        line = {"name": f"iPET round {number} ({config.ensemble})"}
        for which, cc in variants[1::2]:  # few-shot only: a round's zero-shot is generation 0's
            line[columns(which, cc)] = aggregate([
                accuracy(fold_scores(fold_runs, which, config.ensemble, cc), fold_runs[0]["golds"])
                for fold_runs in later.values()])
        lines.append(line)
    if distilled:
        line = {"name": "distilled"}
        line["few_shot"] = aggregate([accuracy(run_scores(r, "few_shot", False), r["golds"]) for r in distilled])
        if config.calibrate:
            line["few_shot_calibrated"] = aggregate([accuracy(run_scores(r, "few_shot", True), r["golds"])
                                                     for r in distilled])
        lines.append(line)
    default = next((ln for ln in lines if ln["name"] == f"pattern {task.default_pattern_id}"), lines[0])
    lines.append({"name": "zero-shot", "few_shot": default["zero_shot"],
                  **({"few_shot_calibrated": default["zero_shot_calibrated"]} if config.calibrate else {})})
    if task.kind == "classification":
        # What always answering the test rows' most frequent label scores: the floor to read
        # small test sets (FewGLUE's rest of 32 rows) against.
        lines.append({"name": "majority label", "few_shot": aggregate([
            max(Counter(g[0] for g in fold_runs[0]["golds"]).values()) / len(fold_runs[0]["golds"])
            for fold_runs in runs.values()])})
    return lines


def run_fewshot(config: FewShotConfig, backbone: Backbone | None = None) -> dict[str, Any]:
    """Run (or resume) the protocol; write OUTPUT_DIR/fewshot.{json,md,png}; return what the json holds."""
    task = resolve_task(config.task)
    check_config(config, task)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone = backbone or load_backbone(config.model, config.tokenizer)
    chosen = folds(config, task, out)
    patterns = pattern_ids(config, task)
    total = len(chosen) * (len(patterns) * (1 + config.ipet) + int(config.distill))
    runs: dict[str, list[dict[str, Any]]] = {}
    distilled = []
    rounds: list[dict[str, list[dict[str, Any]]]] = []
    with tqdm(total=total, desc=f"fewshot {task.name}", unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
        runner = Runner(config, task, backbone, out, progress=bar)
        for fold in chosen:
            runs[fold.name] = [runner.run(fold, p) for p in patterns]
        for generation in range(1, config.ipet + 1):
            previous = rounds[-1] if rounds else runs
            rounds.append({fold.name: [runner.run(fold, p, generation, previous[fold.name]) for p in patterns]
                           for fold in chosen})
        if config.distill:
            last = rounds[-1] if rounds else runs
            distilled = [runner.distilled(fold, last[fold.name]) for fold in chosen]
    result = {
        "task": task.name, "model": config.model, "config": dataclasses.asdict(config),
        "test_split": default_test_split(config, task), "folds": [f.name for f in chosen],
        "test_rows": {name: fold_runs[0]["test_rows"] for name, fold_runs in runs.items()},
        "lines": summarise(config, task, runs, distilled, rounds),
        "runs": [{k: r[k] for k in ("pattern", "fold", "learning_rate", "epoch", "dev_accuracy",
                                    "zero_shot_dev_accuracy")} for fold_runs in runs.values() for r in fold_runs],
    }
    result["notes"] = notes(config, task)
    write_report(result, out)
    return result


def notes(config: FewShotConfig, task: Task) -> list[str]:
    """What a reader of the numbers must know about the test rows."""
    test = default_test_split(config, task)
    found = []
    if "test_public" in task.files and test != "test_public":
        found.append(f"The task's labelled test set (`{task.files['test_public']}`) was not used: the runs are "
                     f"scored on `{test}` instead, without each run's own train and dev rows.")
    if test == "rest":
        found.append(f"`rest`: the rows of `{config.pool_split}` that no draw of the seed took, so each test set is "
                     "small; read it against the majority-label line.")
    return found
