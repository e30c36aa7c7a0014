"""Domain errors.

Every error hkc raises on purpose is an :class:`HkcError`.  It carries where the problem is
(file, row, column or key) and renders as one line saying what is wrong, where, and what to do.
The command line turns these into that line and exit code 2; any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "HkcError",
    "ExtractError",
    "ConfigError",
    "HistoryError",
    "OutputError",
]


class HkcError(Exception):
    """Base class for errors a user can fix; ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ExtractError(HkcError):
    """The extract cannot be used at all (missing file, missing column, unreadable file)."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.file = file
        self.column = column


class ConfigError(HkcError):
    """A definitions file (TOML) is missing, malformed, or has an unknown key or bad value."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        super().__init__(message)
        self.file = file
        self.key = key


class HistoryError(HkcError):
    """The history database cannot be opened, or a requested run is not in it."""


class OutputError(HkcError):
    """An output folder cannot be written."""
