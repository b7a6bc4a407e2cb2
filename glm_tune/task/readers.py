"""Reading benchmark files in their original formats, with errors that name file, line and field.

Each reader yields ``(line_number, row, problem)`` for one file (``problem`` is a message for a
line that cannot be parsed, so a malformed line can be skipped like any other bad row). :func:`read_rows` checks the fields a
task needs and either raises :class:`DataError` at the first bad row or, with
``skip_bad_rows``, counts the bad rows and goes on; nothing is dropped silently. The rows become
a :class:`datasets.Dataset`, so caching and mapping come from ``datasets``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glm_tune.errors import GLMTuneError

Row = dict[str, Any]


class DataError(GLMTuneError):
    """A data file or row that cannot be used; the message says where."""


Parsed = Iterator[tuple[int, Row, str | None]]


def _cells_row(number: int, cells: list[str], names: list[str] | tuple[str, ...], owner: str,
               note: str = "") -> tuple[int, Row, str | None]:
    """One line of a delimited file as a row, or the problem when its cells do not match ``names``."""
    if len(cells) != len(names):
        return number, {}, f"{len(cells)} columns, {owner} has {len(names)} ({', '.join(names)}{note})"
    return number, dict(zip(names, cells)), None


def read_tsv(path: Path) -> Parsed:
    """A TSV file with a header line (GLUE). Quotes are not special: GLUE text contains them."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: empty file, expected a header line")
        for number, cells in enumerate(reader, start=2):
            if cells:
                yield _cells_row(number, cells, header, "the header")


def read_jsonl(path: Path) -> Parsed:
    """One JSON object per line (SuperGLUE ``.jsonl``, CLUE ``.json``)."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, {}, f"not valid JSON ({error.msg} at column {error.colno})"
                continue
            if isinstance(row, dict):
                yield number, row, None
            else:
                yield number, {}, f"expected a JSON object, found {type(row).__name__}"


def read_cola_tsv(path: Path) -> Parsed:
    """GLUE CoLA's train.tsv / dev.tsv: no header, columns source, label, author label, sentence."""
    names = ("source", "label", "original_label", "sentence")
    with path.open(encoding="utf-8", newline="") as handle:
        for number, cells in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if cells:
                yield _cells_row(number, cells, names, "CoLA", "; no header line")


def read_csv(path: Path) -> Parsed:
    """A CSV file with a header line; quoted cells may hold commas and line breaks."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: empty file, expected a header line")
        start = reader.line_num + 1
        try:
            for cells in reader:
                # A quoted cell may span lines: a row is named by the line it starts on.
                number, start = start, reader.line_num + 1
                if cells:
                    yield _cells_row(number, cells, header, "the header")
        except csv.Error as error:
            raise DataError(f"{path}:{start}: not valid CSV ({error})") from None


def read_json(path: Path) -> Parsed:
    """A ``.json`` file: a JSON array of objects, or one object per line (CLUE's ``.json``)."""
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("["):
        yield from read_jsonl(path)
        return
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        # Element by element, so every row keeps the line it starts on.
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            raise DataError(f"{path}: the JSON array is not closed with ]")
        if text[position] == "]":
            return
        number = text.count("\n", 0, position) + 1
        try:
            row, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
        if isinstance(row, dict):
            yield number, row, None
        else:
            yield number, {}, f"expected a JSON object, found {type(row).__name__}"


EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json"}
"""File extension -> reader, for files read by extension (task files' data, ``predict --input``)."""


def format_for(path: Path) -> str:
    """The reader name for ``path``'s extension; any other extension is an error naming the file."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot read {path.suffix or 'a file without extension'!r} files; "
                        f"use {', '.join(EXTENSIONS)}")
    return fmt


def read_by_extension(path: Path) -> Parsed:
    """CSV, TSV, JSONL or JSON, chosen by the file's extension."""
    return READERS[format_for(path)](path)


@dataclass
class ReadReport:
    """What reading a file found; printed by commands that load data."""

    path: Path
    rows: int = 0
    bad_rows: list[str] = field(default_factory=list)
    """One message per skipped row (``file:line: why``)."""
    ignored: list[str] = field(default_factory=list)
    """Rows dropped because the task's ``ignore_labels`` marks them unusable (``file:line``)."""


def read_rows(
    path: Path,
    fmt: str,
    required: Sequence[str],
    *,
    check: Callable[[Row], str | None] | None = None,
    skip_bad_rows: bool = False,
) -> tuple[list[Row], ReadReport]:
    """Read ``path``, keep rows that have every ``required`` field and pass ``check``.

    ``check`` returns an error message for a bad row (e.g. an unknown label) or None. Each row
    gets ``_source`` = ``"file:line"`` so later errors (truncation, scoring) can point back.
    """
    if fmt not in READERS:
        raise DataError(f"unknown file format {fmt!r}; known: {', '.join(READERS)}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    report = ReadReport(path)
    rows = []
    try:
        for number, row, problem in READERS[fmt](path):
            row["_source"] = f"{path}:{number}"
            problem = problem or _problem(row, required, check)
            if problem is None:
                rows.append(row)
            else:
                _reject(row, problem, skip_bad_rows, report)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    report.rows = len(rows)
    return rows, report


def validate_rows(
    rows: list[Row],
    required: Sequence[str],
    *,
    check: Callable[[Row], str | None] | None,
    skip_bad_rows: bool,
    report: ReadReport,
) -> list[Row]:
    """Keep rows with every ``required`` field that pass ``check``; errors name ``_source``.

    Used on the rows as read and again on rows a task's ``expand`` built from them (MultiRC
    answers from nested passages), which keep their line's ``_source``.
    """
    kept = []
    for row in rows:
        problem = _problem(row, required, check)
        if problem is None:
            kept.append(row)
        else:
            _reject(row, problem, skip_bad_rows, report)
    report.rows = len(kept)
    return kept


def _problem(row: Row, required: Sequence[str], check: Callable[[Row], str | None] | None) -> str | None:
    missing = [name for name in required if row.get(name) in (None, "")]
    return f"missing field {missing[0]!r}" if missing else (check(row) if check else None)


def _reject(row: Row, problem: str, skip_bad_rows: bool, report: ReadReport) -> None:
    """Count a bad row when skipping is allowed; otherwise stop with its location."""
    where = row.get("_source", report.path)
    if not skip_bad_rows:
        raise DataError(f"{where}: {problem} (use --skip-bad-rows to skip and count such rows)")
    report.bad_rows.append(f"{where}: {problem}")
    return False


def read_source_target(path: Path) -> Parsed:
    """Seq2seq line pairs: ``path`` is ``X.source``; ``X.target`` beside it holds the references.

    Line ``n`` of one file goes with line ``n`` of the other; rows are ``{"source", "target"}``
    (lines stripped). Files with different line counts are an error naming both. Empty lines
    are kept (they are bad rows, reported with their line number) so the pairing never shifts.
    """
    target_path = path.with_suffix(".target")
    if path.suffix != ".source":
        raise DataError(f"{path}: the source_target format reads X.source with X.target beside it")
    if not target_path.is_file():
        raise DataError(f"{target_path}: no such file (the references for {path.name})")
    with path.open(encoding="utf-8") as sources, target_path.open(encoding="utf-8") as targets:
        source_lines, target_lines = sources.read().splitlines(), targets.read().splitlines()
    if len(source_lines) != len(target_lines):
        raise DataError(
            f"{path} has {len(source_lines)} lines but {target_path.name} has {len(target_lines)}; "
            "line n of one must pair with line n of the other"
        )
    for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1):
        yield number, {"source": source.strip(), "target": target.strip()}, None


def read_clge_tsv(path: Path) -> Parsed:
    """The CLUE generation benchmark's (CLGE) TSV: no header, ``summary<TAB>text`` per line.

    Rows are ``{"target": summary, "source": text}`` (cells stripped), the fields the
    ``source_target`` reader gives, so a summarization task reads either layout the same way.
    A line with another number of cells is a bad row; quotes are not special.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != 2:
                yield number, {}, f"{len(cells)} tab-separated cells, CLGE has 2 (summary, text; no header line)"
            else:
                yield number, {"target": cells[0].strip(), "source": cells[1].strip()}, None


def read_squad_json(path: Path) -> Parsed:
    """SQuAD-format JSON (SQuAD v1.1/v2.0, CMRC 2018): one row per question.

    Rows are ``{"id", "title", "context", "question", "answers", "answer_starts"}``;
    ``answers`` lists the gold texts (None when there is none, as in a test file or a SQuAD 2.0
    unanswerable question, so a task that needs answers reports the row). The top level may be
    ``{"data": [...]}`` or the list itself. The line number is that of the question's ``"id"``
    in the file (of its ``"question"`` when ids are missing), found by a forward text search.
    """
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise DataError(f"{path}: expected SQuAD JSON, {{'data': [articles]}} or a list of articles")
    position = 0

    def line_of(key: str, value: Any) -> int:
        nonlocal position
        found = text.find(json.dumps(value, ensure_ascii=False), position) if value is not None else -1
        if found < 0 and value is not None:
            found = text.find(json.dumps(value), position)
        if found >= 0:
            position = found + 1
        return text.count("\n", 0, max(found, position, 0)) + 1

    for article in articles:
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            yield line_of("title", None), {}, "an article without a 'paragraphs' list"
            continue
        for paragraph in article["paragraphs"]:
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                yield line_of("context", None), {}, "a paragraph without a 'qas' list"
                continue
            for qa in paragraph["qas"]:
                if not isinstance(qa, dict):
                    yield line_of("qas", None), {}, f"a question entry that is {type(qa).__name__}, not an object"
                    continue
                number = line_of("id", qa.get("id")) if qa.get("id") is not None else line_of("question", qa.get("question"))
                answers = [a for a in qa.get("answers") or [] if isinstance(a, dict) and a.get("text")]
                row = {
                    "id": qa.get("id"),
                    "title": article.get("title"),
                    "context": paragraph.get("context"),
                    "question": qa.get("question"),
                    "answers": [a["text"] for a in answers] or None,
                    "answer_starts": [a.get("answer_start", -1) for a in answers] or None,
                }
                yield number, row, None


READERS: dict[str, Callable[[Path], Parsed]] = {
    "tsv": read_tsv,
    "cola_tsv": read_cola_tsv,
    "jsonl": read_jsonl,
    "source_target": read_source_target,
    "squad_json": read_squad_json,
    "csv": read_csv,
    "json": read_json,
    "auto": read_by_extension,
    "clge_tsv": read_clge_tsv,
}
