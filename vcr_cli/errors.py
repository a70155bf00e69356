"""Typed errors: each carries the exit code and one line for the user (no traceback)."""

from __future__ import annotations


class VcrError(Exception):
    """An expected failure with a one-line message for the user."""

    exit_code = 1


class UsageError(VcrError):
    """The user asked for something invalid (bad path, bad option value): exit 2."""

    exit_code = 2


class BadVideoError(UsageError):
    """The input is missing, empty, a directory, or not a decodable video."""


class ModelLoadError(VcrError):
    """The model could not be found, downloaded or loaded."""


class OutputError(VcrError):
    """An output file could not be written."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """A library exception as one short line for a user-facing message (its type name when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
