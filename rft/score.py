"""Score a predictions file (data lines plus ``"output"``, e.g. from another inference engine)."""

from __future__ import annotations

from pathlib import Path

from rft.data import load_examples
from rft.metrics import score_predictions


def score_file(path: str | Path) -> dict:
    """Metrics (percent, strict parsing) for a predictions JSONL; UsageError ``FILE:LINE: message`` if malformed.

    Videos are not opened: only ``task``, ``solution`` and ``output`` matter.
    """
    return score_predictions(load_examples(path, check_videos=False, require_output=True))
