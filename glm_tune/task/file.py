"""Tasks from a YAML or JSON file, or from command-line options: your own data without Python.

    name: reviews
    kind: classification            # classification | multiple_choice | generation
    language: zh                    # zh | en
    template: "{review}。总之很[MASK]。"    # one blank; a list [Part A, Part B] splits the parts
    label_field: polarity           # column holding the label (default: label)
    label_words: {pos: 好, neg: 差}  # label -> word or list of words
    files: {train: train.csv, validation: dev.csv, test: test.csv}
    metrics: [accuracy]

Generation tasks name the column of the reference text (``target: summary``); multiple choice
names the column holding the candidate list (``candidates: options``) and the one holding the
right candidate, by index or by text (``answer: answer``). Data files are read by extension
(``.csv``, ``.tsv``, ``.jsonl``, ``.json``) relative to the task file's folder, or to
``--data-dir`` when given. ``--template``, ``--label-words``, ``--train-file``, ...
(:class:`TaskOptions`, resolved by :func:`glm_tune.task.registry.resolve_task`) define the same task on
the command line, or replace a file's fields.

Every problem is a :class:`TaskFileError` naming the file (or option) and the field. A model
finetuned on such a task records the definition itself (:func:`task_from_record`), so
``predict`` needs neither the file nor the data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glm_tune.cloze.template import Patterns, Template, TemplateError
from glm_tune.cloze.verbalizer import Verbalizer, VerbalizerError
from glm_tune.task.definition import Task
from glm_tune.task.readers import EXTENSIONS, DataError, Row, format_for

TASK_FILE_SUFFIXES = (".yaml", ".yml", ".json")
KINDS = ("classification", "multiple_choice", "generation")
FIELDS = {
    "name": "the task's name (default: the file's name)",
    "kind": "classification, multiple_choice or generation (default: classification)",
    "language": "zh or en (default: en); English label words and candidates get GLM's leading space",
    "template": "the cloze template with one blank ([MASK], [sMASK] or [gMASK]), or [Part A, Part B]",
    "label_field": "classification: the column holding the label (default: label)",
    "label_words": "classification: label -> word or list of words",
    "target": "generation: the column holding the reference text",
    "candidates": "multiple choice: the column holding the list of candidates",
    "answer": "multiple choice: the column holding the right candidate (index or text)",
    "files": "split -> data file (train, validation, test, ...)",
    "metrics": "metric names (default: accuracy; generation: rouge1, rouge2, rougeL)",
}
_KIND_FIELDS = {"classification": ("label_words",), "generation": ("target",),
                "multiple_choice": ("candidates",)}
_ONLY_FOR = {"label_words": "classification", "target": "generation", "candidates": "multiple_choice",
             "answer": "multiple_choice"}
_DEFAULT_METRICS = {"classification": ["accuracy"], "multiple_choice": ["accuracy"],
                    "generation": ["rouge1", "rouge2", "rougeL"]}


class TaskFileError(DataError):
    """A task file or task option that cannot be used; the message names the file or option and field."""


@dataclass
class TaskOptions:
    """A task of your own on the command line: with --task NAME (or none) these define it; with
    --task file.yaml they replace the file's fields."""

    template: str | None = None
    """Cloze template with one blank over the data's columns, e.g. "{review} It was [MASK]."."""
    label_words: dict[str, str | list[str]] | None = None
    """Classification: label -> word or list of words, e.g. '{pos: great, neg: terrible}'."""
    label_field: str | None = None
    """Classification: the column holding the label (default: label)."""
    language: Literal["en", "zh"] | None = None
    """Language of the task's text: en (default) or zh."""
    train_file: str | None = None
    """Training data (.csv, .tsv, .jsonl or .json)."""
    validation_file: str | None = None
    """Validation data, read like --train_file."""
    test_file: str | None = None
    """Test data for --test_split test (its rows may lack labels: they can be predicted)."""

    def given(self) -> dict[str, Any]:
        """The options set, as task-file fields (the files under ``files``)."""
        values = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        files = {split: values.pop(f"{split}_file") for split in ("train", "validation", "test")
                 if f"{split}_file" in values}
        return {**values, "files": files} if files else values


def is_task_file(name: str) -> bool:
    return Path(name).suffix.lower() in TASK_FILE_SUFFIXES


def load_task_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Task:
    """A :class:`Task` from a YAML or JSON task file (fields: :data:`FIELDS`)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"task file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        definition = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise TaskFileError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise TaskFileError(f"{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(definition, dict):
        raise TaskFileError(f"{path}: a task file holds a mapping of fields ({', '.join(FIELDS)}), "
                            f"found {type(definition).__name__}")
    definition = {"name": path.stem, **definition}
    for key, value in (overrides or {}).items():
        definition[key] = {**(definition.get("files") or {}), **value} if key == "files" else value
    return task_from_definition(definition, source=str(path), base_dir=path.resolve().parent)


def task_from_definition(definition: Mapping[str, Any], *, source: str | None, base_dir: Path | None) -> Task:
    """Check a definition field by field and build its :class:`Task`.

    ``source`` (the task file) is named in errors; ``None`` means command-line options. Data
    files are relative to ``base_dir`` (``--data-dir`` replaces it when given).
    """
    def error(key: str, message: str) -> TaskFileError:
        where = f"{source}: field {key!r}" if source else f"--{_option(key)}"
        return TaskFileError(f"{where}: {message}")

    unknown = [k for k in definition if k not in FIELDS]
    if unknown:
        raise error(unknown[0], f"unknown field; a task has {', '.join(FIELDS)}")
    d = dict(definition)
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise error("name", f"expected the task's name, got {name!r}")
    kind = d.get("kind", "classification")
    if kind not in KINDS:
        raise error("kind", f"unknown kind {kind!r}; use {', '.join(KINDS)}")
    language = d.get("language", "en")
    if language not in ("en", "zh"):
        raise error("language", f"unknown language {language!r}; use en or zh")
    for key in _KIND_FIELDS[kind]:
        if d.get(key) in (None, "", {}):
            raise error(key, f"missing: a {kind} task needs {key} ({FIELDS[key]})")
    for key, needed in _ONLY_FOR.items():
        if key in d and kind != needed:
            raise error(key, f"only {needed} tasks have {key}; this task is {kind}")
    for key in ("label_field", "target", "candidates", "answer"):
        if key in d and (not isinstance(d[key], str) or not d[key]):
            raise error(key, f"expected a column name, got {d[key]!r}")

    template = _template(d.get("template"), error)
    fields = list(template.fields)
    if kind == "multiple_choice":
        fields.append(d["candidates"])
    verbalizer = None
    if kind == "classification":
        words = d["label_words"]
        if not isinstance(words, Mapping):
            raise error("label_words", f"expected a mapping label -> word(s), got {type(words).__name__}")
        words = {str(k): _spaced(v, language) for k, v in words.items()}
        try:
            verbalizer = Verbalizer(words, source=source or "--label_words")
        except VerbalizerError as problem:
            raise error("label_words", str(problem)) from None

    files = d.get("files") or {}
    if not isinstance(files, Mapping):
        raise error("files", f"expected a mapping split -> file, got {type(files).__name__}")
    for split, file in files.items():
        if not isinstance(file, str) or not file:
            raise error("files" if source else f"{split}_file", f"split {split!r}: expected a file name, got {file!r}")
        try:
            format_for(Path(file))
        except DataError:
            raise error("files" if source else f"{split}_file",
                        f"{file}: cannot read {Path(file).suffix or 'files without extension'!r}; "
                        f"use {', '.join(EXTENSIONS)}") from None

    metrics = d.get("metrics", _DEFAULT_METRICS[kind])
    if isinstance(metrics, str):
        metrics = [metrics]
    from glm_tune.metrics import available_metrics, build_metrics

    known = available_metrics()
    for metric in metrics:
        if metric not in known:
            raise error("metrics", f"unknown metric {metric!r}; known metrics: {', '.join(known)}")
    try:
        # Text metrics (em, f1, rouge) tokenise by language; the others take no such option.
        build_metrics(metrics, language=language)
        metric_options = {"language": language}
    except TypeError:
        metric_options = {}

    label_field = d.get("label_field", "label")
    task = FileTask(
        name=name, kind=kind, language=language, patterns=Patterns({0: template}), files=dict(files),
        file_format="auto", fields=tuple(fields), metrics=tuple(metrics), label_field=label_field,
        verbalizer=(lambda pattern_id: verbalizer) if verbalizer is not None else None,
        candidates=_candidates(d["candidates"], language) if kind == "multiple_choice" else None,
        answer=_answer(d["candidates"], d.get("answer")) if kind == "multiple_choice" else None,
        target=_target(d["target"]) if kind == "generation" else None,
        metric_options=metric_options,
        description=f"defined in {source}" if source else "defined by command-line options",
        definition=d, source=source or "the command line", base_dir=base_dir,
    )
    return task


def task_from_record(record: Mapping[str, Any]) -> Task | None:
    """The task a saved model's ``glm_tune.json`` defines, or None when it names a registered task."""
    definition = record.get("task_definition")
    if not definition:
        return None
    base = record.get("task_base_dir")
    return task_from_definition(definition, source=record.get("task_source"), base_dir=Path(base) if base else None)


def task_record(task: Task) -> dict[str, Any]:
    """What ``glm_tune.json`` keeps of a task defined by a file or options (empty for other tasks)."""
    if not isinstance(task, FileTask):
        return {}
    source = task.source if task.source != "the command line" else None
    return {"task_definition": task.definition, "task_source": source,
            "task_base_dir": str(task.base_dir) if task.base_dir else None}


@dataclass(frozen=True)
class FileTask(Task):
    """A task from a file or options: data files relative to its folder, errors that name it."""

    source: str = "the command line"
    """Where the definition came from (a file name), for error messages."""
    base_dir: Path | None = None
    """The folder data file names are relative to."""
    definition: dict[str, Any] = field(default_factory=dict)
    """The definition as read, kept in a saved model's glm_tune.json so the task can be rebuilt."""

    def load_split(self, split: str, data_dir: str | Path | None = None, *, skip_bad_rows: bool = False,
                   seed: int = 1234):
        if split not in self.files:
            option = f"{split}_file" if split in ("train", "validation", "test") else None
            hint = f" (--{option})" if option else ""
            raise DataError(f"task {self.name} has no {split} file{hint}; its files: "
                            f"{', '.join(f'{k}: {v}' for k, v in self.files.items()) or 'none'}")
        root = Path(data_dir) if data_dir is not None else self.base_dir or Path.cwd()
        path = root / self.files[split]
        if not path.is_file():
            raise DataError(f"{path} not found: the {split} file of task {self.name} ({self.source})")
        self._check_columns(path, split)
        data, report = super().load_split(split, root, skip_bad_rows=skip_bad_rows, seed=seed)
        if self.kind == "multiple_choice":
            for row in data:
                self._check_choices(row)
        return data, report

    def _check_columns(self, path: Path, split: str) -> None:
        """A CSV/TSV header without a column the task reads is named at once, not row by row."""
        fmt = format_for(path)
        if fmt not in ("csv", "tsv"):
            return
        from glm_tune.task.readers import READERS

        columns = next(iter(READERS[fmt](path)), (0, {}, None))[1].keys()
        if not columns:
            return
        needed = [(f, "template" if f in self.patterns[0].fields else "candidates") for f in self.fields]
        if self.kind == "classification" and split not in self.unlabelled_splits:
            needed.append((self.label_field, "label_field"))
        for column, role in needed:
            if column not in columns:
                shown = ", ".join(c for c in columns if not c.startswith("_"))
                raise DataError(f"{path}: no column {column!r} ({role} of task {self.name}, {self.source}); "
                                f"its columns: {shown}")

    def _check_choices(self, row: Row) -> None:
        """Candidates and answers are checked as rows load, so a bad one is named by its line."""
        column = self.definition.get("answer")
        try:
            self.candidates(row)
            if column is not None and row.get(column) not in (None, ""):
                self.answer(row)
        except (ValueError, IndexError) as problem:
            raise DataError(f"{row.get('_source', self.name)}: {problem}") from None

    def _label_check(self):
        labels = set(self.label_words().labels)

        def check(row: Row) -> str | None:
            label = row.get(self.label_field)
            if label in (None, ""):
                return None
            if str(label) not in labels:
                return (f"field {self.label_field!r}: label {str(label)!r} has no label_words in {self.source} "
                        f"(they cover {sorted(labels)})")
            return None

        return check


def _option(key: str) -> str:
    return {"files": "train_file"}.get(key, key)


def _template(value: Any, error) -> Template:
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list) or not 1 <= len(parts) <= 2 or not all(isinstance(p, str) for p in parts):
        raise error("template", f"expected a string or [Part A, Part B], got {value!r}")
    try:
        template = Template(*parts)
    except TemplateError as problem:
        raise error("template", str(problem)) from None
    if not template.fields:
        raise error("template", f"{value!r} reads no column: name the data's columns in braces, e.g. {{text}}")
    return template


def _spaced(words: Any, language: str) -> Any:
    """English words follow text after a space, so GLM scores them with one (" great")."""
    if language != "en":
        return words
    if isinstance(words, str):
        return words if words[:1].isspace() else " " + words
    if isinstance(words, list):
        return [_spaced(w, language) if isinstance(w, str) else w for w in words]
    return words


def _candidate_list(row: Row, column: str) -> list[str]:
    value = row[column]
    if isinstance(value, str):
        # A CSV/TSV cell holds a JSON list or texts separated by "|".
        value = json.loads(value) if value.lstrip().startswith("[") else value.split("|")
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {column!r}: expected a non-empty list of candidates, got {row[column]!r}")
    return [str(v).strip() for v in value]


def _candidates(column: str, language: str):
    def candidates(row: Row) -> list[str]:
        texts = _candidate_list(row, column)
        return [" " + t for t in texts] if language == "en" else texts

    return candidates


def _answer(candidates_column: str, column: str | None):
    def answer(row: Row) -> int:
        if column is None:
            raise KeyError("answer")
        value = row[column]
        texts = _candidate_list(row, candidates_column)
        if isinstance(value, bool) or value in (None, ""):
            raise KeyError(column)
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            index = int(value)
            if not 0 <= index < len(texts):
                raise IndexError(f"field {column!r}: answer {index} is not an index of the {len(texts)} candidates")
            return index
        if str(value).strip() not in texts:
            raise ValueError(f"field {column!r}: answer {value!r} is not one of the candidates {texts}")
        return texts.index(str(value).strip())

    return answer


def _target(column: str):
    def target(row: Row) -> str:
        value = row[column]
        if value in (None, ""):
            raise KeyError(column)  # an unlabelled row (prediction input)
        return str(value)

    return target
