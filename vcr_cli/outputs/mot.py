"""MOTChallenge text output: one line per frame, readable by standard tracking tools.

Each line is `frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1` (the MOT 2D result format:
1-based frame numbers of the source video, boxes in pixels, no world coordinates).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vcr_cli.outputs.atomic import write_text_atomic


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def format_mot(frames: Iterable[dict], track_id: int = 1, conf: float = 1.0) -> str:
    """`frames` are {"frame": 0-based index, "box": [x0, y0, x1, y1], "source"?} (vcr track's JSON `frames`).

    A `held` frame (no box could be parsed: the start box is repeated) gets confidence 0, so MOT tools that
    filter by confidence do not count it as a detection."""
    lines = []
    for entry in frames:
        x0, y0, x1, y1 = entry["box"]
        score = 0.0 if entry.get("source") == "held" else conf
        lines.append(f"{int(entry['frame']) + 1},{track_id},{_num(x0)},{_num(y0)},{_num(x1 - x0)},{_num(y1 - y0)},"
                     f"{_num(score)},-1,-1,-1")
    return "\n".join(lines) + ("\n" if lines else "")


def write_mot(frames: Iterable[dict], path: str | Path, track_id: int = 1, conf: float = 1.0) -> None:
    """Write MOTChallenge text atomically (the old file stays until the new one is complete)."""
    write_text_atomic(path, format_mot(frames, track_id=track_id, conf=conf))
