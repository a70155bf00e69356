"""Long videos: when to split into windows, the windows themselves, and merging the segments found in each.

VideoChat-R1 samples every video whole at 2 fps up to 768 frames, i.e. up to 384 s (`sampling.FPS_MAX_FRAMES /
sampling.FPS`), and was evaluated that way. So `vcr ground` feeds any video up to 384 s to the model whole, in one
pass, whatever its length below that (`choose_windowing`). Past 384 s the 768-frame cap would lower the sampling
rate (coarser timestamps) and one answer can name only one span: such a video is grounded window by window, each
window sampled like a whole video (2 fps, the training pixel budget), each contributing a candidate, with memory
flat (one window's frames decoded at a time). `--window` windows any video longer than it.

Windows past 384 s: 120 s, sharing at least 20 s. At 2 fps a 120 s window is 240 frames of 196x112 px for a 16:9
source, ~3,360 visual tokens (the training budget, above the pixel floor); a 384 s window would sit at the 140x84
pixel floor (5,760 tokens) and two of them would mostly repeat each other on a 400 s video; shorter windows raise
the resolution but multiply model passes (60 s windows double them). The default overlap follows the window: a
sixth of it (20 s of a 120 s window fully contains events up to 20 s, Charades-STA events average ~8 s), so
`--window` alone is always valid; an explicit overlap may go up to half the window. Tuning for accuracy needs the
real model on a GPU (see benchmarks/bench_windows.py for speed/memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vcr_cli.sampling import FPS, FPS_MAX_FRAMES

WHOLE_VIDEO_MAX_S = FPS_MAX_FRAMES / FPS  # 384 s: the longest video the paper's rule samples whole at 2 fps
DEFAULT_WINDOW_S = 120.0  # windows past WHOLE_VIDEO_MAX_S (see the module docstring)
OVERLAP_FRACTION = 1 / 6  # default overlap: a sixth of the window (20 s of 120 s)
DEFAULT_OVERLAP_S = DEFAULT_WINDOW_S * OVERLAP_FRACTION
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


def default_overlap(window_s: float) -> float:
    """The overlap used when none is asked: a sixth of the window (never more than the half allowed)."""
    return round(window_s * OVERLAP_FRACTION, 3)


def overlap_problem(window_s: float | None, overlap_s: float | None) -> str | None:
    """Why an asked overlap cannot be honoured (windows are spread evenly, sharing at least `overlap_s`), or None.

    None for either means "the default": the default window (past 384 s) and the default overlap, always valid.
    """
    if overlap_s is None:
        return None
    window_s = DEFAULT_WINDOW_S if window_s is None else window_s
    if overlap_s > window_s / 2:
        return (f"--overlap {overlap_s:g} is more than half of --window {window_s:g}; consecutive windows share at "
                f"least --overlap seconds, so use at most {window_s / 2:g} (or a longer --window)")
    return None


@dataclass(frozen=True)
class Windowing:
    """How a video is grounded: whole (one pass, `window_s` None) or in windows, and why (for the JSON)."""

    window_s: float | None
    overlap_s: float | None
    reason: str  # "within_whole_video_limit" | "shorter_than_window" | "longer_than_whole_video_limit" | "window_given"

    @property
    def whole(self) -> bool:
        return self.window_s is None

    def to_dict(self) -> dict:
        return {"mode": "whole_video" if self.whole else "windows", "reason": self.reason,
                "whole_video_max_s": WHOLE_VIDEO_MAX_S}


def choose_windowing(duration: float, window_s: float | None = None, overlap_s: float | None = None) -> Windowing:
    """The one rule of `vcr ground`, `vcr batch` and `tasks.ground.ground_video`.

    Without `window_s`: the whole video in one pass up to 384 s (the paper's input), 120 s windows beyond.
    With it: windows on a video longer than `window_s`, one pass otherwise. `overlap_s` None is
    `default_overlap(window)`; ValueError if an asked overlap is more than half the window.
    """
    problem = overlap_problem(window_s, overlap_s)
    if problem:
        raise ValueError(problem)
    if window_s is None:
        if duration <= WHOLE_VIDEO_MAX_S:
            return Windowing(None, None, "within_whole_video_limit")
        window_s, reason = DEFAULT_WINDOW_S, "longer_than_whole_video_limit"
    elif duration <= window_s:
        return Windowing(None, None, "shorter_than_window")
    else:
        reason = "window_given"
    return Windowing(window_s, default_overlap(window_s) if overlap_s is None else overlap_s, reason)


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
