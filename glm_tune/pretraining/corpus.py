"""Raw-text documents for pretraining, read from plain text, JSON-lines and TSV files.

What a document is, per format:

- ``.txt``: one document per paragraph, paragraphs separated by blank lines; the lines of a
  paragraph stay joined by newlines (the infilling objective splits sentences at newlines too).
- ``.jsonl`` / ``.json`` (one JSON object per line, as SuperGLUE and CLUE ship them): the text
  strings of one object, joined by newlines, in the object's order. A string is text when it
  holds whitespace or a CJK character and its key is not id/label-like (``id``, ``idx``,
  ``label``, ``label_desc``, ``keywords``, ``candidates``, ...); nested dicts and lists are
  searched too (MultiRC's ``passage.text``, questions and answers).
- ``.tsv`` with a header row: the ``sentence`` or ``text`` column, else every column that is not
  numeric in the data rows; the cells of a row joined by newlines.

Documents shorter than ``min_chars`` characters are dropped. Files of other types are skipped
and listed in :class:`CorpusReport`, never silently ignored. Nothing here knows which split a
file holds: pass training text only (:func:`default_corpus_files` lists the shared data's).
"""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glm_tune.errors import GLMTuneError, MissingFileError

TEXT_SUFFIXES = (".txt",)
JSON_SUFFIXES = (".jsonl", ".json")
TSV_SUFFIXES = (".tsv",)

_NOT_TEXT_KEYS = frozenset(
    {"id", "idx", "uid", "guid", "label", "labels", "label_desc", "version", "keywords", "candidates", "word"}
)
_TEXT_RE = re.compile(r"\s|[\u3400-\u9fff\uf900-\ufaff]")
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class CorpusError(GLMTuneError):
    """A corpus file could not be read; the message names the file and line."""


@dataclass
class CorpusReport:
    """What :func:`read_documents` read: counts per file and the files it skipped."""

    documents: dict[str, int] = field(default_factory=dict)
    """Documents yielded, per file read."""
    skipped: list[str] = field(default_factory=list)
    """Files of a type this module does not read."""

    def summary(self) -> str:
        total = sum(self.documents.values())
        text = f"{total} documents from {len(self.documents)} files"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} files of other types: {', '.join(self.skipped)}"
        return text


def default_corpus_files(shared_data_dir: str | Path) -> list[Path]:
    """The training-only raw text of the shared data folder.

    Exactly ``sst2/train.tsv``, ``fewglue/*/unlabeled.jsonl`` and ``fewclue/*/unlabeled.json``:
    dev and test files are never pretraining text, or later evaluations would be contaminated.
    """
    root = Path(shared_data_dir)
    files = [root / "sst2" / "train.tsv"]
    files += sorted(root.glob("fewglue/*/unlabeled.jsonl"))
    files += sorted(root.glob("fewclue/*/unlabeled.json"))
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise MissingFileError(f"corpus files missing under {root}: {', '.join(missing)}")
    return files


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise MissingFileError(f"corpus path {path} does not exist")


def read_documents(
    paths: Iterable[str | Path], min_chars: int = 20, report: CorpusReport | None = None
) -> Iterator[str]:
    """Documents (strings) of the given files and directories (recursed in sorted order).

    See the module docstring for what a document is in each format. ``report`` (optional) is
    filled as files are read; skipped files are also announced with a warning.
    """
    report = report if report is not None else CorpusReport()
    for path in _files(paths):
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            documents = _text_documents(path)
        elif suffix in JSON_SUFFIXES:
            documents = _json_documents(path)
        elif suffix in TSV_SUFFIXES:
            documents = _tsv_documents(path)
        else:
            report.skipped.append(str(path))
            warnings.warn(f"corpus: skipped {path} (not .txt, .jsonl, .json or .tsv)", stacklevel=2)
            continue
        count = 0
        for document in documents:
            if len(document) >= min_chars:
                count += 1
                yield document
        report.documents[str(path)] = count


def _text_documents(path: Path) -> Iterator[str]:
    paragraph: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                paragraph.append(line)
            elif paragraph:
                yield "\n".join(paragraph)
                paragraph = []
    if paragraph:
        yield "\n".join(paragraph)


def _strings(value: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(value, str):
        if key not in _NOT_TEXT_KEYS and _TEXT_RE.search(value.strip()):
            yield value.strip()
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _NOT_TEXT_KEYS:
                yield from _strings(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)


def _json_documents(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise CorpusError(
                    f"{path}, line {number}: invalid JSON ({error.msg}); expected one JSON object per line"
                ) from None
            if not isinstance(row, dict):
                raise CorpusError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
            document = "\n".join(_strings(row))
            if document:
                yield document


def _tsv_documents(path: Path) -> Iterator[str]:
    # Sentences may hold quote characters that are not CSV quoting (SST-2 has many).
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        named = [i for i, h in enumerate(header) if h.lower() in ("sentence", "text")]
        columns: list[int] | None = named or None
        for number, row in enumerate(rows, 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CorpusError(
                    f"{path}, line {number}: {len(row)} columns, but the header has {len(header)} ({', '.join(header)})"
                )
            if columns is None:
                # Without a named text column, the first row decides which columns are numeric.
                columns = [i for i, cell in enumerate(row) if not _NUMBER_RE.fullmatch(cell.strip())]
                if not columns:
                    raise CorpusError(f"{path}, line {number}: no text column (no sentence/text header, all numeric)")
            document = "\n".join(row[i].strip() for i in columns if row[i].strip())
            if document:
                yield document
