"""What a task is: its data files, cloze patterns, label words and metrics (:class:`Task`).

The built-in tasks in ``tasks/`` and a user's own task files build :class:`Task` objects from
this module; finding a task by name is :mod:`glm_tune.task.registry`'s job. Keeping the two apart keeps
the imports one-way: ``glm_tune.task.registry`` imports ``tasks/``, which imports this module.
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glm_tune.cloze.generation import GenerationConfig
from glm_tune.cloze.template import Patterns
from glm_tune.cloze.verbalizer import Verbalizer
from glm_tune.hub import offline_reason
from glm_tune.task.readers import DataError, Row, read_rows, validate_rows

Kind = Literal["classification", "multiple_choice", "generation"]
SAMPLES = Path(__file__).parents[1] / "samples"
"""Small samples of some tasks' data, shipped so that they train offline (``Task.sample``)."""
Expand = Callable[[list[Row], str, random.Random], list[Row]]


@dataclass(frozen=True)
class Task:
    """Everything glm-tune needs to turn a data set into cloze questions and score them.

    Frozen: a registered task is shared by every run in the process, so a run that changed it
    would change the next one; make a variant with ``dataclasses.replace``."""

    name: str
    kind: Kind
    language: Literal["en", "zh"]
    patterns: Patterns
    """Cloze templates by pattern id."""
    files: dict[str, str]
    """Split name (train, validation, ...) -> file name inside ``--data-dir``."""
    file_format: str
    """A reader name from :data:`glm_tune.task.readers.READERS` (``tsv``, ``jsonl``, ...)."""
    fields: tuple[str, ...]
    """Row fields the patterns read; a row without one is a bad row."""
    metrics: tuple[str, ...]
    """Metric names from :mod:`glm_tune.metrics`; the first selects the best checkpoint."""
    verbalizer: Callable[[int], Verbalizer] | None = None
    """Pattern id -> label words (classification tasks)."""
    label_field: str = "label"
    candidates: Callable[[Row], list[str]] | None = None
    """Multiple choice: the candidate fills of a row (COPA's two choices, ReCoRD's entities)."""
    answer: Callable[[Row], int | list[int]] | None = None
    """Multiple choice: index (or indices, for several golds) of the right candidate(s)."""
    target: Callable[[Row], str] | None = None
    """Generation: the reference text a model trains on."""
    references: Callable[[Row], list[str]] | None = None
    """Generation: every gold text of a row for evaluation (default: ``[target(row)]``)."""
    metric_options: dict[str, Any] = field(default_factory=dict)
    """Options for the metric factories (``language="zh"`` for Chinese ROUGE/EM/F1,
    ``use_stemmer=True``); see :meth:`build_metrics`."""
    raw_fields: tuple[str, ...] | None = None
    """Fields required of the rows as read when ``expand`` builds the task's ``fields`` from
    nested data (a MultiRC line is a passage holding questions holding answers); the task's
    fields and labels are then checked on the expanded rows."""
    ignore_labels: tuple[str, ...] = ()
    """Labels that mark unusable rows, dropped and counted (CMNLI/OCNLI's "-": no annotator
    majority), as the benchmarks' own baselines do."""
    expand: Expand | None = None
    """Per-split row transform applied after reading, with a seeded random generator: COPA's
    mirrored training copies, ReCoRD's one-example-per-answer with sampled negatives,
    MultiRC's one row per (question, answer)."""
    group_field: str | None = None
    """Field that groups rows for per-group metrics (MultiRC's question id for EM)."""
    generation: GenerationConfig | None = None
    """Decoding defaults (generation tasks; GLM-NOTES part 2 section 4)."""
    unlabelled_splits: tuple[str, ...] = ("test",)
    """Splits whose rows may lack a label (benchmark test files, rows to predict for a
    leaderboard); a row that has one is still checked."""
    default_pattern_id: int = 0
    max_length: int = 256
    hub_dataset: tuple[str, ...] | None = None
    """``datasets.load_dataset`` arguments for the same data on the hub (needs a network)."""
    sample: str | None = None
    """Folder under :data:`SAMPLES` holding a sample of the task's files in their original
    format: read instead of the hub when no data directory is given and the hub is offline."""
    description: str = ""
    loss: Literal["cross_entropy", "generative", "mix"] = "cross_entropy"
    """The training loss ``--loss auto`` picks: cross-entropy over the label or candidate
    scores, the gold fill's log-prob (generative), or both (mix: GLM's WSC loss)."""
    length_penalty: float = 0.0
    """Candidate log-probs are divided by ``tokens ** length_penalty`` unless ``--length-penalty``
    is given (0: summed log-probs; GLM's WSC uses 1, the mean per token)."""

    def label_words(self, pattern_id: int | None = None) -> Verbalizer:
        if self.verbalizer is None:
            raise ValueError(f"task {self.name} ({self.kind}) has no verbalizer")
        return self.verbalizer(self.default_pattern_id if pattern_id is None else pattern_id)

    def build_metrics(self, **options: Any):
        """The task's metrics as a torchmetrics ``MetricCollection`` (``num_classes=`` etc. here)."""
        from glm_tune.metrics import build_metrics

        options = {**self.metric_options, **options}
        if "num_classes" in options:
            try:
                return build_metrics(self.metrics, **options)
            except TypeError:
                # Every classification task is offered its class count; binary metrics over the
                # positive class (MultiRC's f1a, multirc_em) take none.
                del options["num_classes"]
        return build_metrics(self.metrics, **options)

    def gold_texts(self, row: Row) -> list[str]:
        if self.references is not None:
            return self.references(row)
        if self.target is None:
            raise ValueError(f"task {self.name} ({self.kind}) has no target text")
        return [self.target(row)]

    def load_split(
        self, split: str, data_dir: str | Path | None = None, *, skip_bad_rows: bool = False, seed: int = 1234
    ):
        """Rows of one split as a :class:`datasets.Dataset`, with a report of skipped rows.

        With ``data_dir`` the original file is read (``files[split]``); without it the hub
        dataset is loaded through ``datasets`` when there is one, or, offline, the task's
        shipped sample (``sample``) when it has one.
        """
        import datasets

        if split not in self.files:
            raise DataError(f"task {self.name} has no split {split!r}; it has {', '.join(self.files)}")
        if data_dir is None and self.sample is not None:
            reason = offline_reason()
            if reason is not None:
                data_dir = SAMPLES / self.sample
                announce_sample(self.name, str(data_dir), reason, ", ".join(self.files.values()))
        if data_dir is None:
            data = self._load_from_hub(split)
            if self.expand is not None:
                data = datasets.Dataset.from_list(self.expand(data.to_list(), split, random.Random(seed)))
            return data, None
        path = Path(data_dir) / self.files[split]
        if not path.is_file():
            expected = ", ".join(self.files.values())
            raise DataError(f"{path} not found: task {self.name} reads {expected} from --data-dir {data_dir}")
        check = self._label_check() if self.kind == "classification" else None
        labelled = self.kind == "classification" and split not in self.unlabelled_splits
        required = (*self.fields, self.label_field) if labelled else self.fields
        if split in self.unlabelled_splits and self.raw_fields is not None:
            required = self.raw_fields  # a test file has the inputs only, no answers
        if self.raw_fields is None:
            rows, report = read_rows(path, self.file_format, required, check=check, skip_bad_rows=skip_bad_rows)
            rows = self._expand(rows, split, seed)
        else:
            rows, report = read_rows(path, self.file_format, self.raw_fields, skip_bad_rows=skip_bad_rows)
            rows = validate_rows(self._expand(rows, split, seed), required, check=check,
                                 skip_bad_rows=skip_bad_rows, report=report)
        if self.ignore_labels:
            report.ignored = [r["_source"] for r in rows if r.get(self.label_field) in self.ignore_labels]
            rows = [r for r in rows if r.get(self.label_field) not in self.ignore_labels]
            report.rows = len(rows)
        return datasets.Dataset.from_list(rows), report

    def _expand(self, rows: list[Row], split: str, seed: int) -> list[Row]:
        if self.kind == "classification":
            for row in rows:
                if row.get(self.label_field) is not None:
                    row[self.label_field] = str(row[self.label_field])
        return self.expand(rows, split, random.Random(seed)) if self.expand else rows

    def _label_check(self) -> Callable[[Row], str | None]:
        labels = set(self.label_words().labels)

        def check(row: Row) -> str | None:
            if row.get(self.label_field) in (None, ""):
                return None  # allowed only in unlabelled splits: elsewhere the field is required
            label = str(row[self.label_field])
            if label not in labels and label not in self.ignore_labels:
                return f"field {self.label_field!r}: label {label!r} is not one of the verbalizer's {sorted(labels)}"
            return None

        return check

    def _load_from_hub(self, split: str):
        import datasets

        if self.hub_dataset is None:
            raise DataError(f"task {self.name} has no hub dataset; pass --data-dir with {', '.join(self.files.values())}")
        hub_split = {"validation": "validation"}.get(split, split)
        reason = offline_reason()
        if reason is not None:  # datasets would retry for about 24 s before failing
            raise DataError(
                f"could not load {'/'.join(self.hub_dataset)} from the hub: offline ({reason}); "
                f"pass --data-dir with the original files: {', '.join(self.files.values())}"
            )
        try:
            data = datasets.load_dataset(*self.hub_dataset, split=hub_split)
        except Exception as error:  # offline, missing repo: many exception types
            raise DataError(
                f"could not load {'/'.join(self.hub_dataset)} from the hub ({type(error).__name__}); "
                f"offline, pass --data-dir with the original files: {', '.join(self.files.values())}"
            ) from None
        if self.kind == "classification":
            # As the file readers give them: strings (a map() to str would keep the int column type).
            labels = [str(label) for label in data[self.label_field]]
            data = data.remove_columns(self.label_field).add_column(self.label_field, labels)
        return data


@functools.cache
def announce_sample(task: str, directory: str, reason: str, files: str) -> None:
    """The one line (once per process, not per split) that says the data is a sample."""
    print(f"{task}: offline ({reason}): using the sample shipped with glm-tune ({directory}, see its README.md); "
          f"for the full data set run online or pass --data-dir with {files}", file=sys.stderr)
