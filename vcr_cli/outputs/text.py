"""JSON, JSONL and subtitle (SRT / WebVTT) writers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vcr_cli.outputs.atomic import write_text_atomic


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(data: dict, path: str | Path) -> None:
    """Write JSON to `path` atomically, or to stdout when `path` is "-"."""
    text = to_json(data)
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(path, text)


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_srt(cues: list[tuple[float, float, str]]) -> str:
    """SubRip text: numbered cues "HH:MM:SS,mmm --> HH:MM:SS,mmm", in time order (results list segments best
    first; players and WebVTT want cues by start time)."""
    blocks = []
    for i, (start, end, text) in enumerate(_in_time_order(cues), 1):
        blocks.append(f"{i}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def format_vtt(cues: list[tuple[float, float, str]]) -> str:
    """WebVTT text (usable as chapters with <track kind="chapters">)."""
    blocks = ["WEBVTT\n"]
    for i, (start, end, text) in enumerate(_in_time_order(cues), 1):  # WebVTT requires non-decreasing starts
        blocks.append(f"{i}\n{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n")
    return "\n".join(blocks)


def _in_time_order(cues: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    return sorted(cues, key=lambda cue: (cue[0], cue[1]))


def write_srt(cues: list[tuple[float, float, str]], path: str | Path) -> None:
    write_text_atomic(path, format_srt(cues))


def write_vtt(cues: list[tuple[float, float, str]], path: str | Path) -> None:
    write_text_atomic(path, format_vtt(cues))
