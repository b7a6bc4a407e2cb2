"""The errors glm-tune raises for input it cannot use: one family, so callers catch one class.

Every project exception derives from :class:`GLMTuneError` alone, and that from ``ValueError``:
one root, so ``except GLMTuneError`` catches every user error and nothing else, and code that
caught ``ValueError`` before the family existed (most project errors already were one)
goes on working. The few that had other built-in bases (``MissingFileError`` was a
``FileNotFoundError``, ``NonFiniteLossError`` a ``RuntimeError``) now have only the family's:
catch them by their own names. ``glm-tune`` prints a ``GLMTuneError`` as one line and exits 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class GLMTuneError(ValueError):
    """Input glm-tune cannot use (an option, a file, a row, a checkpoint); the message says which."""


class OptionError(GLMTuneError):
    """An option value or a combination of options that cannot work; the message names the option."""


class MissingFileError(GLMTuneError):
    """A file or directory that was asked for is not there."""


class RunInterrupted(GLMTuneError):
    """Training stopped on Ctrl-C after writing its last checkpoint; ``--resume`` continues it."""

    def __init__(self, message: str, output_dir: str, resumable: bool = True) -> None:
        super().__init__(message)
        self.output_dir = output_dir
        self.resumable = resumable
