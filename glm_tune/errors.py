"""The errors glm-tune raises for input it cannot use: one family, so callers catch one class.

Every project exception derives from :class:`GLMTuneError`; each also keeps the built-in base
it had before the family existed (``DataError`` is still a ``ValueError``), so code catching
those goes on working. ``glm-tune`` prints a ``GLMTuneError`` as one line and exits 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class GLMTuneError(Exception):
    """Input glm-tune cannot use (an option, a file, a row, a checkpoint); the message says which."""


class OptionError(GLMTuneError, ValueError):
    """An option value or a combination of options that cannot work; the message names the option."""


class MissingFileError(GLMTuneError, FileNotFoundError):
    """A file or directory that was asked for is not there."""


class RunInterrupted(GLMTuneError):
    """Training stopped on Ctrl-C after writing its last checkpoint; ``--resume`` continues it."""

    def __init__(self, message: str, output_dir: str, resumable: bool = True) -> None:
        super().__init__(message)
        self.output_dir = output_dir
        self.resumable = resumable
