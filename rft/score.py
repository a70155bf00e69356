"""Score a predictions file (data lines plus ``"output"``, e.g. from another inference engine), or several."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rft.data import load_examples
from rft.metrics import score_predictions
from vcr_cli.errors import UsageError


def score_file(path: str | Path) -> dict:
    """Metrics (percent, strict parsing) for a predictions JSONL; UsageError ``FILE:LINE: message`` if malformed.

    Videos are not opened: only ``task``, ``solution`` and ``output`` matter.
    """
    return score_predictions(load_examples(path, check_videos=False, require_output=True))


def predictions_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files to score: each file as given, each folder's ``*.jsonl`` (sorted by name; a results folder)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix == ".jsonl" and p.is_file())
            if not found:
                raise UsageError(f"{path} holds no predictions (*.jsonl); give the files or a folder of them")
            files += found
        elif not path.exists():
            raise UsageError(f"predictions file not found: {path}")
        else:
            files.append(path)
    return files


def labels_for(files: Sequence[Path]) -> list[str]:
    """A table label per file: its name without .jsonl, or its whole path where two names would clash."""
    stems = [f.stem for f in files]
    return [stem if stems.count(stem) == 1 else str(f) for stem, f in zip(stems, files)]


def score_files(paths: Sequence[str | Path]) -> dict[str, dict]:
    """``{label: metrics}`` for several predictions files or results folders, in the order given."""
    files = predictions_files(paths)
    labels = labels_for(files)
    if len(set(labels)) != len(labels):
        raise UsageError("the same predictions file is given twice: " + ", ".join(sorted(
            {label for label in labels if labels.count(label) > 1})))
    return {label: score_file(path) for label, path in zip(labels, files)}
