"""Leaderboard averages: how SuperGLUE, FewCLUE and CLUE turn task results into one score."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TaskResult = float | Mapping[str, float] | Sequence[float]


@dataclass(frozen=True)
class Benchmark:
    """How a leaderboard turns task results into one score.

    Each scored task maps to the metric names whose mean is its score (SuperGLUE's CB is
    ``("f1_macro", "accuracy")``); the benchmark score is the unweighted mean over the scored
    tasks. ``unscored`` names tasks the leaderboard reports but leaves out of the mean.
    Results may be in percent or fractions; the mean is linear, so only mixing them is wrong.
    """

    name: str
    tasks: Mapping[str, tuple[str, ...]]
    unscored: frozenset[str] = field(default_factory=frozenset)

    def task_score(self, task: str, result: TaskResult) -> float:
        """One task's score from a number, a ``{metric: value}`` mapping or a tuple of values.

        A mapping must contain every metric the task averages (other keys are ignored); a
        tuple must have one value per metric, in any order.
        """
        task = task.lower()
        metrics = self.tasks[task]
        if isinstance(result, Mapping):
            missing = [metric for metric in metrics if metric not in result]
            if missing:
                raise ValueError(f"{self.name} {task}: result lacks {missing} (has {sorted(result)})")
            values = [float(result[metric]) for metric in metrics]
        elif isinstance(result, Sequence):
            if len(result) != len(metrics):
                raise ValueError(f"{self.name} {task}: expected {len(metrics)} values {metrics}, got {len(result)}")
            values = [float(value) for value in result]
        else:
            return float(result)
        return math.fsum(values) / len(values)

    def score(self, results: Mapping[str, TaskResult]) -> float:
        """The leaderboard score; every scored task is required and unknown tasks are errors."""
        results = {task.lower(): result for task, result in results.items()}
        unknown = sorted(set(results) - set(self.tasks) - self.unscored)
        missing = [task for task in self.tasks if task not in results]
        if unknown or missing:
            raise ValueError(
                f"{self.name}: missing tasks {missing}, unknown tasks {unknown}; scored tasks are {list(self.tasks)}"
            )
        return math.fsum(self.task_score(task, results[task]) for task in self.tasks) / len(self.tasks)


SUPERGLUE = Benchmark(
    "SuperGLUE",
    {
        "boolq": ("accuracy",),
        "cb": ("f1_macro", "accuracy"),
        "copa": ("accuracy",),
        "multirc": ("f1a", "multirc_em"),
        "record": ("f1", "em"),
        "rte": ("accuracy",),
        "wic": ("accuracy",),
        "wsc": ("accuracy",),
    },
    # the diagnostics are reported beside the leaderboard score, never in it
    unscored=frozenset({"axb", "axg"}),
)

# FewCLUE's README (test_public): "CHID is still being experimented with, so its score is not
# yet included in the final Score". The PET row's 54.34 is the mean of the other eight; with
# CHID it would be 55.11.
FEWCLUE = Benchmark(
    "FewCLUE",
    {task: ("accuracy",) for task in ("eprstmt", "bustm", "ocnli", "csldcp", "tnews", "cluewsc", "iflytek", "csl")},
    unscored=frozenset({"chid"}),
)

# CLUE's classification leaderboard (v1.0 task set; v1.1 swapped CMNLI for OCNLI: build a
# Benchmark with "ocnli" for that one).
CLUE_CLASSIFICATION = Benchmark(
    "CLUE classification",
    {task: ("accuracy",) for task in ("afqmc", "tnews", "iflytek", "cmnli", "cluewsc2020", "csl")},
)

# CLUE's reading-comprehension leaderboard: "where F1 and EM are both given, EM is the final
# metric" (CLUE README), so CMRC2018 counts with its EM only.
CLUE_READING = Benchmark(
    "CLUE reading comprehension",
    {"cmrc2018": ("em",), "chid": ("accuracy",), "c3": ("accuracy",)},
)
