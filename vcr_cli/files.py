"""Reading users' input files (manifests, questions, annotations): one clear error for every way it fails."""

from __future__ import annotations

from pathlib import Path

from vcr_cli.errors import UsageError


def read_user_text(path: str | Path, what: str, expected: str) -> str:
    """The text of `path`; UsageError naming `what` when it is missing, a directory or unreadable.

    `expected` completes "give ..." in the directory message, e.g. "a .jsonl file".
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{what} not found: {path}")
    if path.is_dir():
        raise UsageError(f"{what} {path} is a directory; give {expected}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path} ({getattr(exc, 'strerror', None) or exc})") from None
