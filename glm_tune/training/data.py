"""Task rows to model-ready cloze examples, batched for Lightning.

:class:`ClozeDataModule` reads a task's splits (original files under ``data_dir``, or the
hub), renders each row with the task's template, and keeps the token ids in memory: a
context with its blank, plus the label (classification), the candidates and gold indices
(multiple choice) or the target ids (generation). Batches stay lists of ids; the scoring and
generation functions pad each batch to its own longest row (dynamic padding), and
:class:`ClozeBatchSampler` puts rows of similar length together so that padding stays small.

Resuming mid-epoch is exact: batch order depends only on ``(seed, epoch)``, and the number of
batches already trained in the epoch is saved with every checkpoint and skipped on resume.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from glm_tune.atomic import atomic_path
from glm_tune.cloze.template import Template, TruncationError
from glm_tune.cloze.verbalizer import VerbalizedLabels, Verbalizer
from glm_tune.task.definition import Task
from glm_tune.task.readers import DataError, ReadReport, Row, format_for, read_rows
from glm_tune.training.options import FIT_ONLY
from glm_tune.training.targets import answer_window, encode_target


@dataclass
class LoaderOptions:
    """How batches are loaded: the data options fit and pretrain share."""

    batch_size: int = 16
    """Rows (pretrain: samples) per batch per device; the global batch is batch_size x devices x
    accumulation (pretrain's default: 32)."""
    num_workers: int = 0
    """DataLoader worker processes (0: load in the main process; fit's batches are lists of ids,
    so there is little work to hand off)."""


@dataclass
class DataOptions(LoaderOptions):
    """Which data to read and how to batch it (the loader: LoaderOptions' fields)."""

    data_dir: str | None = None
    """Directory with the task's original files (see `glm-tune tasks`); without it the task's
    hub dataset is downloaded, or, offline, the sample shipped with glm-tune is read (sst2)."""
    train_split: str = field(default="train", metadata=FIT_ONLY)
    """Split to train on (FewCLUE tasks also have train_0 .. train_4 and train_few_all)."""
    validation_split: str = "validation"
    """Split for validation during fit and for `glm-tune validate` (dev_0.., dev_few_all for FewCLUE)."""
    test_split: str | None = None
    """Split for `glm-tune test` (and evaluated after fit when given); it must have labels."""
    max_length: int | None = None
    """Most tokens of a cloze context; longer rows lose tokens from their longest field
    (default: the task's max_length)."""
    max_target_length: int = 128
    """Generation tasks: most target tokens trained on, <|endofpiece|> included."""
    eval_batch_size: int | None = None
    """Rows per evaluation batch (default: batch_size)."""
    group_by_length: bool = field(default=True, metadata=FIT_ONLY)
    """Batch training rows of similar length together (less padding, same rows per epoch)."""
    train_limit: int | None = field(default=None, metadata=FIT_ONLY)
    """Train on this many rows drawn at random with the seed (few-shot runs); default: all."""
    eval_limit: int | None = None
    """Evaluate on the first N rows of the validation/test split only (quick checks)."""
    skip_bad_rows: bool = False
    """Skip malformed rows (each is reported with its file and line) instead of stopping."""


@dataclass
class Example:
    """One row as model inputs; ``index`` points back to the row of its split."""

    index: int
    context: list[int]
    mask_position: int
    label: int | None = None
    golds: list[int] = field(default_factory=list)
    candidates: list[list[int]] | None = None
    target: list[int] | None = None
    labelled: bool = False
    """Whether the row's label / answer / target is known (prediction inputs have none)."""
    references: list[str] | None = None
    """Generation: every gold text of the row, which evaluation compares the generated text with."""
    group: str | None = None
    """The row's ``task.group_field`` (MultiRC's question id), for per-group metrics."""

    def __len__(self) -> int:
        extra = sum(len(c) + 1 for c in self.candidates) if self.candidates else len(self.target or ()) + 1
        return len(self.context) + extra


@dataclass
class SplitData:
    """A split's rows (for metrics, predictions and error messages) and their encodings."""

    name: str
    rows: list[Row]
    examples: list[Example]
    report: ReadReport | None = None
    truncated: int = 0


class ExampleDataset(Dataset):
    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]


def collate(examples: list[Example]) -> dict[str, Any]:
    """A batch keeps the id lists as they are; the scorer pads them to this batch's longest."""
    return {
        "index": torch.tensor([e.index for e in examples]),
        "contexts": [e.context for e in examples],
        "mask_positions": [e.mask_position for e in examples],
        "labels": torch.tensor([e.label if e.label is not None else -1 for e in examples]),
        "golds": [e.golds for e in examples],
        "labelled": [e.labelled for e in examples],
        "candidates": [e.candidates for e in examples],
        "targets": [e.target for e in examples],
        "references": [e.references for e in examples],
        "groups": [e.group for e in examples],
    }


class ClozeBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of indices for one process, the same global batches for any number of processes.

    Training order is a function of ``(seed, epoch)``: rows are shuffled, cut into windows of
    50 global batches, each window is sorted by length (``group_by_length``) and cut into
    global batches, and the global batches are shuffled. A process of rank ``r`` among ``w``
    takes every ``w``-th row of each global batch, so 2 devices x 8 rows see exactly the rows
    that 1 device x 16 rows sees. Evaluation order is the split's order, sharded the same way
    without duplicates. ``skip_batches`` makes the next epoch start after the batches a
    resumed run has already trained on.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool,
        group_by_length: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        size = self.batch_size * self.world_size
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            return [order[i:i + size] for i in range(0, len(order), size)]
        rng = random.Random(f"{self.seed}-{self.epoch}")
        rng.shuffle(order)
        if self.group_by_length:
            window = size * 50
            order = [i for s in range(0, len(order), window)
                     for i in sorted(order[s:s + window], key=lambda i: -self.lengths[i])]
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if self.world_size > 1:
            # Every process must take the same number of steps: a short global batch would
            # leave some process with fewer rows or none, so it is dropped (as drop_last would).
            batches = [b for b in batches if len(b) == size]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip_batches = self.skip_batches, 0
        for batch in self.global_batches()[skip:]:
            mine = batch[self.rank::self.world_size]
            if mine:
                yield mine

    def __len__(self) -> int:
        # Counted, not built: Lightning asks for the length several times per epoch, and
        # building the order shuffles and sorts every row.
        rows, size = len(self.lengths), self.batch_size * self.world_size
        if self.shuffle and self.world_size > 1:
            return rows // size  # a short final global batch is dropped
        full, rest = divmod(rows, size)
        return full + (1 if self.rank < rest else 0)


class ClozeDataModule(pl.LightningDataModule):
    """Reads, encodes and batches one task's splits (see :class:`DataOptions`)."""

    def __init__(
        self,
        task: Task,
        tokenizer: Any,
        options: DataOptions,
        *,
        pattern_id: int | None = None,
        prompt_tokens: int = 0,
        prompt_token_id: int | None = None,
        seed: int = 1234,
        predict_file: str | Path | None = None,
        verbalizer: Verbalizer | None = None,
    ) -> None:
        super().__init__()
        self.task = task
        self.tokenizer = tokenizer
        self.options = options
        self.pattern_id = task.default_pattern_id if pattern_id is None else pattern_id
        self.template: Template = task.patterns[self.pattern_id]
        self.prompt_tokens = prompt_tokens
        self.prompt_token_id = prompt_token_id
        self.seed = seed
        self.predict_file = predict_file
        self.max_length = options.max_length or task.max_length
        self.labels: VerbalizedLabels | None = (
            (verbalizer or task.label_words(self.pattern_id)).tokenize(tokenizer)
            if task.kind == "classification" else None
        )
        self.splits: dict[str, SplitData] = {}
        self._resume: dict[str, int] = {}
        self._announced: set[str] = set()

    # -- reading and encoding ----------------------------------------------------------------
    def split(self, name: str) -> SplitData:
        """A split read and encoded once (``"predict"`` is the --input file)."""
        if name not in self.splits:
            if name == "predict":
                rows, report = self._read_predict_file()
            else:
                data, report = self.task.load_split(
                    name, self.options.data_dir, skip_bad_rows=self.options.skip_bad_rows, seed=self.seed
                )
                rows = data.to_list()
            if name == self.options.train_split and self.options.train_limit:
                rows = random.Random(self.seed).sample(rows, min(self.options.train_limit, len(rows)))
            elif name != self.options.train_split and self.options.eval_limit:
                rows = rows[: self.options.eval_limit]
            if not rows:
                where = f"{report.path}: " if report is not None else ""
                bad = len(report.bad_rows) if report is not None else 0
                skipped = f" ({bad} bad rows skipped)" if bad else ""
                raise DataError(f"{where}no usable rows{skipped}: split {name!r} of task {self.task.name} is empty")
            self.splits[name] = self._encode_split(name, rows, report)
        return self.splits[name]

    def _read_predict_file(self) -> tuple[list[Row], ReadReport]:
        path = Path(self.predict_file)
        if not path.is_file():
            raise DataError(f"--input {path} not found")
        # The task's own reader for its own kind of file (SQuAD JSON, CoLA's TSV), else by extension.
        own = {Path(f).suffix for f in self.task.files.values()}
        fmt = self.task.file_format if path.suffix in own and self.task.file_format != "auto" else format_for(path)
        fields = self.task.raw_fields or self.task.fields
        rows, report = read_rows(path, fmt, fields, skip_bad_rows=self.options.skip_bad_rows)
        if self.task.expand is not None:
            rows = self.task.expand(rows, "predict", random.Random(self.seed))
        return rows, report

    def _encode_split(self, name: str, rows: list[Row], report: ReadReport | None) -> SplitData:
        examples, truncated = [], 0
        budget = self.max_length - self.prompt_tokens
        for index, row in enumerate(rows):
            where = row.get("_source", f"{name} row {index}")
            try:
                encoded = self.template.encode(row, self.tokenizer, budget, row_id=where, reserve=1)
            except TruncationError as error:
                raise DataError(f"{error} (raise --max-length, now {self.max_length})") from None
            if name == self.options.train_split and self.task.kind == "generation" and encoded.truncated:
                # Training only: a cut that loses the answer teaches nothing (glm_tune.training.targets).
                windowed = answer_window(row, len(self.tokenizer.encode(row.get("context") or "", False)),
                                         encoded.truncated_fields.get("context", 0))
                if windowed is not None:
                    encoded = self.template.encode(windowed, self.tokenizer, budget, row_id=where, reserve=1)
            truncated += encoded.truncated > 0
            context, mask_position = encoded.input_ids, encoded.mask_position
            if self.prompt_tokens:
                # Continuous prompt slots right after [CLS]; their embeddings come from the
                # prompt encoder (glm_tune.training.prompt).
                context = context[:1] + [self.prompt_token_id] * self.prompt_tokens + context[1:]
                mask_position += self.prompt_tokens
            examples.append(self._example(index, row, context, mask_position, where))
        return SplitData(name, rows, examples, report, truncated)

    def _example(self, index: int, row: Row, context: list[int], mask_position: int, where: str) -> Example:
        task = self.task
        example = Example(index, context, mask_position)
        if task.group_field and row.get(task.group_field) is not None:
            example.group = str(row[task.group_field])
        if task.kind == "classification":
            label = row.get(task.label_field)
            if label not in (None, "") and str(label) not in task.ignore_labels:
                example.label = self.labels.labels.index(str(label))
                example.labelled = True
        elif task.kind == "multiple_choice":
            texts = task.candidates(row)
            example.candidates = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
            for number, ids in enumerate(example.candidates):
                if not ids:
                    raise DataError(f"{where}: candidate {number} ({texts[number]!r}) encodes to no tokens")
            try:
                answer = task.answer(row)
            except (KeyError, ValueError, TypeError):
                answer = None  # an unlabeled row (prediction input)
            if answer is not None:
                example.golds = [answer] if isinstance(answer, int) else list(answer)
                example.label = example.golds[0] if example.golds else -1
                example.labelled = True
        else:
            try:
                target = task.target(row)
            except KeyError:
                target = None
            if target is not None:
                ids = encode_target(self.tokenizer, target)
                example.target = ids[: self.options.max_target_length - 1]
                example.references = task.gold_texts(row)
                example.labelled = True
        return example

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage == "fit":
            for name in (self.options.train_split, self.options.validation_split):
                if name:  # None: --no_validation
                    self._announce(self.split(name))
        elif stage == "validate":
            self._announce(self.split(self.options.validation_split))
        elif stage == "test":
            self._announce(self.split(self._test_split()))
        elif stage == "predict":
            self._announce(self.split("predict"))

    def _test_split(self) -> str:
        if not self.options.test_split:
            raise DataError(f"no --test-split given; task {self.task.name} has splits {', '.join(self.task.files)}")
        return self.options.test_split

    def _announce(self, split: SplitData) -> None:
        # Once per split: fit's final evaluation sets the validation split up a second time.
        if split.name in self._announced:
            return
        self._announced.add(split.name)
        notes = []
        if split.report is not None and split.report.bad_rows:
            notes.append(f"{len(split.report.bad_rows)} bad rows skipped (first: {split.report.bad_rows[0]})")
        if split.report is not None and split.report.ignored:
            notes.append(f"{len(split.report.ignored)} rows with unusable labels dropped")
        if split.truncated:
            notes.append(f"{split.truncated} rows truncated to {self.max_length} tokens")
        unknown = sum(self.tokenizer.count_unknown(e.context) for e in split.examples[:2000])
        total = sum(len(e.context) for e in split.examples[:2000])
        if total and unknown / total > 0.01:
            notes.append(f"{unknown / total:.1%} of the tokens are unknown to the tokenizer (<unk>)")
        rank = getattr(self.trainer, "global_rank", 0) if self.trainer is not None else 0
        if rank == 0:
            extra = f" ({'; '.join(notes)})" if notes else ""
            print(f"{self.task.name} {split.name}: {len(split.examples)} rows{extra}", file=sys.stderr)

    def _sampler(self, split: SplitData, batch_size: int, shuffle: bool) -> ClozeBatchSampler:
        trainer = self.trainer
        return ClozeBatchSampler(
            [len(e) for e in split.examples], batch_size, shuffle=shuffle,
            group_by_length=self.options.group_by_length, seed=self.seed,
            rank=trainer.global_rank if trainer else 0, world_size=trainer.world_size if trainer else 1,
        )

    def _loader(self, split: SplitData, batch_size: int, shuffle: bool) -> DataLoader:
        sampler = self._sampler(split, batch_size, shuffle)
        if shuffle and self._resume:
            # A checkpoint from the end of an epoch resumes with the next one: nothing to skip.
            if self._resume["batches"] < len(sampler):
                sampler.set_epoch(self._resume["epoch"])
                sampler.skip_batches = self._resume["batches"]
            self._resume = {}
        return DataLoader(
            ExampleDataset(split.examples), batch_sampler=sampler, collate_fn=collate,
            num_workers=self.options.num_workers, persistent_workers=self.options.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split(self.options.train_split), self.options.batch_size, shuffle=True)

    def _eval_batch_size(self) -> int:
        return self.options.eval_batch_size or self.options.batch_size

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.split(self.options.validation_split), self._eval_batch_size(), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split(self._test_split()), self._eval_batch_size(), shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.split("predict"), self._eval_batch_size(), shuffle=False)

    # -- checkpoint state: where in the epoch training stopped -------------------------------
    def state_dict(self) -> dict[str, int]:
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return {}
        # Saved from on_train_batch_end (step checkpoints) or at the epoch's end; `processed`
        # counts the batches trained in this epoch at either point.
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": trainer.current_epoch, "batches": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        # Applied when the training loader is made (it knows how many batches an epoch has).
        self._resume = dict(state)


def write_predictions(path: Path, rows: list[Row], predictions: list[dict[str, Any]]) -> None:
    """JSONL: each input row (without glm-tune's bookkeeping fields) plus its prediction and
    ``input_line``, its line in the input file (rows skipped by --skip-bad-rows leave gaps)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for prediction in sorted(predictions, key=lambda p: p["index"]):
            source = rows[prediction["index"]]
            row = {k: v for k, v in source.items() if not k.startswith("_")}
            if "_source" in source:
                row["input_line"] = int(source["_source"].rsplit(":", 1)[1])
            row.update({k: v for k, v in prediction.items() if k != "index"})
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
