"""Writing a file so that it is either the old one or the complete new one, never half written.

An interrupted run (Ctrl-C, a kill, a full disk) must not leave a results table, a predictions
file or a model's weights that look complete but are cut short: each is written to a temporary
name beside its target and renamed over it only once it is whole (a rename within a folder is
atomic on POSIX and Windows).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path``, on an
    error it is removed and ``path`` is left as it was. Creates the parent folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """``Path(path).write_text(text)`` (UTF-8), through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
