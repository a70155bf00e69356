"""Long videos: split into overlapping windows, and merge the segments found in each.

VideoChat-R1 was trained on ~30 s clips at 2 fps. Past 384 s the 768-frame cap lowers the
sampling rate (coarser timestamps) and one answer can name only one span. Grounding window by
window keeps 2 fps and the training pixel budget per window, lets every window contribute a
candidate, and keeps memory flat (one window's frames decoded at a time).

Default window: 120 s with 20 s overlap. At 2 fps a 120 s window is 240 frames of 196x112 px,
~3,360 visual tokens (the training budget, above the pixel floor); shorter windows raise the
resolution but multiply model passes (60 s windows double them); 20 s of overlap fully contains
events up to 20 s (Charades-STA events average ~8 s) in at least one window. Tuning the default
for accuracy needs the real model on a GPU (see benchmarks/bench_windows.py for speed/memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_WINDOW_S = 120.0
DEFAULT_OVERLAP_S = 20.0
TRACK_WINDOW_S = 15.0  # `vcr track`: about one GOT-10k training sequence (see vcr_cli.tasks.track)
MERGE_IOU = 0.3


@dataclass(frozen=True)
class Window:
    index: int
    start_frame: int
    end_frame: int  # exclusive
    fps: float

    @property
    def start(self) -> float:
        return self.start_frame / self.fps

    @property
    def end(self) -> float:
        return self.end_frame / self.fps


def overlap_problem(window_s: float, overlap_s: float) -> str | None:
    """Why these settings cannot be honoured (windows are spread evenly, sharing at least `overlap_s`), or None."""
    if overlap_s > window_s / 2:
        return (f"--overlap {overlap_s:g} is more than half of --window {window_s:g}; consecutive windows share at "
                f"least --overlap seconds, so use at most {window_s / 2:g} (or a longer --window)")
    return None


def shared_seconds(windows: list[Window]) -> float:
    """The seconds consecutive windows actually share: at least the asked overlap (windows are spread evenly so
    the last ends at the video's end)."""
    return round(min((a.end - b.start for a, b in zip(windows, windows[1:])), default=0.0), 3)


def plan_windows(total_frames: int, fps: float, window_s: float, overlap_s: float) -> list[Window]:
    """Equal windows covering the video, consecutive ones overlapping by at least `overlap_s`.

    A video no longer than one window is a single window (identical to grounding it whole).
    """
    if window_s <= 0:
        raise ValueError("window must be positive")
    overlap_s = min(max(overlap_s, 0.0), window_s / 2)
    duration = total_frames / fps
    if duration <= window_s:
        return [Window(0, 0, total_frames, fps)]
    stride = window_s - overlap_s
    count = math.ceil((duration - window_s) / stride) + 1
    # spread the windows evenly so the last one ends exactly at the end of the video
    step = (duration - window_s) / (count - 1)
    length = int(round(window_s * fps))
    windows = []
    for k in range(count):
        start = min(int(round(k * step * fps)), total_frames - length)
        windows.append(Window(k, start, min(start + length, total_frames), fps))
    return windows


def _iou(a: dict, b: dict) -> float:
    inter = max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    return inter / union if union > 0 else 0.0


def merge_segments(segments: list[dict], iou_threshold: float = MERGE_IOU) -> list[dict]:
    """Merge segments from different windows that describe the same moment.

    Segments overlapping with IoU >= `iou_threshold` become one: boundaries are the score-weighted
    mean, the score is the best one plus a small bonus per agreeing window (agreement is evidence),
    and `windows` lists every contributing window. Result sorted by score, best first.
    """
    clusters: list[list[dict]] = []
    for seg in sorted(segments, key=lambda s: -s["score"]):
        for cluster in clusters:
            if any(_iou(seg, other) >= iou_threshold for other in cluster) and not any(
                seg["window"] == other["window"] for other in cluster
            ):
                cluster.append(seg)
                break
        else:
            clusters.append([seg])
    merged = []
    for cluster in clusters:
        weights = [max(s["score"], 1e-6) for s in cluster]
        total = sum(weights)
        start = sum(w * s["start"] for w, s in zip(weights, cluster)) / total
        end = sum(w * s["end"] for w, s in zip(weights, cluster)) / total
        best = max(s["score"] for s in cluster)
        score = min(1.0, best + 0.05 * (len(cluster) - 1))
        merged.append({"start": round(start, 3), "end": round(end, 3), "score": round(score, 4),
                       "windows": sorted(s["window"] for s in cluster)})
    merged.sort(key=lambda s: (-s["score"], s["start"]))
    return merged
