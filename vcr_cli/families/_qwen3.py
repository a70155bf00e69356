"""Qwen3-VL checkpoints (Qwen3-VL, TimeLens-8B, TimeLens2): time is text, `<t seconds>` before each 2-frame group.

The processor computes `t = (idx[2g] + idx[2g+1]) / 2 / fps` from `video_metadata` (`frames_indices` padded
to even length by repeating the last) and writes `<{t:.1f} seconds>`; the position encoding carries no time.
Without metadata it assumes fps 24, so the metadata is the whole time contract (model-families.md §4):
- constant frame rate: the source fps and the sampled frame indices (what qwen-vl-utils returns);
- variable frame rate: fps 1.0 and the frames' presentation times in seconds as `frames_indices` (the
  processor only divides them by fps), so each marker is the time the frame was shown.
Frames are sampled by the family's rule and passed with `do_sample_frames=False` (else the processor samples
again) and `do_resize=False` (they are already at a multiple of 32).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vcr_cli.families._base import SamplingRule

MODEL_TYPE = "qwen3_vl"
PATCH_SIZE = 16
FACTOR = 32  # patch 16 x spatial merge 2: one LLM token = 32 x 32 px x 2 frames
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768  # qwen-vl-utils 0.0.14
VIDEO_MIN_PIXELS = 128 * FACTOR * FACTOR  # qwen-vl-utils 0.0.14 per-frame floor with image_patch_size=16
VIDEO_FRAME_MAX_PIXELS = 768 * FACTOR * FACTOR  # its per-frame cap
TIME_CONTRACT = ("text timestamps: '<t seconds>' before each 2-frame group from video_metadata "
                 "(source fps + frame indices; variable frame rate: fps 1 + presentation times)")
PROCESSOR_KWARGS = {"do_sample_frames": False, "do_resize": False}

# Where the trained layout puts the video: 4.57-era training replaced the chat template's whole
# `<|vision_start|><|video_pad|><|vision_end|>` with the per-group blocks (transformers 5.25 does the same;
# 5.24 left an outer start/end pair around all groups). `trained_layout` checks the rendered text itself.
VIDEO_TRIPLE = "<|vision_start|><|video_pad|><|vision_end|>"
_MARKER = re.compile(r"<(\d+(?:\.\d+)?) seconds>")


def rule(fps: float = FPS, max_frames: int = FPS_MAX_FRAMES, min_pixels: int = VIDEO_MIN_PIXELS,
         total_pixels: int = 20480 * FACTOR * FACTOR, frame_max_pixels: int = VIDEO_FRAME_MAX_PIXELS,
         source: str = "") -> SamplingRule:
    """A Qwen3-VL sampling rule (qwen-vl-utils 0.0.14 with image_patch_size=16) with a family's budget."""
    return SamplingRule(fps=fps, min_frames=FPS_MIN_FRAMES, max_frames=max_frames, patch_size=PATCH_SIZE,
                        min_pixels=min_pixels, frame_max_pixels=frame_max_pixels, total_pixels=total_pixels,
                        source=source)


def video_metadata(indices: Sequence[int], fps: float, total_frames: int,
                   times: Sequence[float] | None = None) -> dict:
    """Metadata whose `<t seconds>` markers are the shown times: indices + source fps, or (VFR) seconds + fps 1."""
    if times is not None:
        return {"total_num_frames": int(total_frames), "fps": 1.0, "frames_indices": [float(t) for t in times]}
    return {"total_num_frames": int(total_frames), "fps": float(fps), "frames_indices": [int(i) for i in indices]}


def group_times(frames_indices: Sequence[float], fps: float, temporal_patch_size: int = 2) -> list[float]:
    """The time each 2-frame group is labelled with (before the `.1f`): the mean of its first and last frame."""
    values = list(frames_indices)
    if values and len(values) % temporal_patch_size:
        values += [values[-1]] * (temporal_patch_size - len(values) % temporal_patch_size)
    return [(values[i] + values[i + temporal_patch_size - 1]) / 2 / fps
            for i in range(0, len(values), temporal_patch_size)]


def timestamp_markers(text: str) -> list[float]:
    """The `<t seconds>` markers of a rendered prompt, in order."""
    return [float(m) for m in _MARKER.findall(text)]


def trained_layout(text: str) -> bool:
    """Whether a rendered prompt has the trained (4.57-era) layout: the first marker directly follows the
    user turn's start, with no outer `<|vision_start|>` wrapping all the groups."""
    first = _MARKER.search(text)
    if first is None:
        return False
    before = text[: first.start()]
    return not before.endswith("<|vision_start|>")
