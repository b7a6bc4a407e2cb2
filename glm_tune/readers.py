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

Row = dict[str, Any]


class DataError(ValueError):
    """A data file or row that cannot be used; the message says where."""


Parsed = Iterator[tuple[int, Row, str | None]]


def read_tsv(path: Path) -> Parsed:
    """A TSV file with a header line (GLUE). Quotes are not special: GLUE text contains them."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: empty file, expected a header line")
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                yield number, {}, f"{len(cells)} columns, the header has {len(header)} ({', '.join(header)})"
            else:
                yield number, dict(zip(header, cells)), None


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


READERS: dict[str, Callable[[Path], Parsed]] = {"tsv": read_tsv, "jsonl": read_jsonl}


@dataclass
class ReadReport:
    """What reading a file found; printed by commands that load data."""

    path: Path
    rows: int = 0
    bad_rows: list[str] = field(default_factory=list)
    """One message per skipped row (``file:line: why``)."""


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
            where = f"{path}:{number}"
            if problem is None:
                missing = [name for name in required if row.get(name) in (None, "")]
                problem = f"missing field {missing[0]!r}" if missing else (check(row) if check else None)
            if problem:
                if not skip_bad_rows:
                    raise DataError(f"{where}: {problem} (use --skip-bad-rows to skip and count such rows)")
                report.bad_rows.append(f"{where}: {problem}")
                continue
            row["_source"] = where
            rows.append(row)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    report.rows = len(rows)
    return rows, report
