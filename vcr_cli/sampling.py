"""Frame-count and resize maths, exactly as VideoChat-R1 was trained (qwen-vl-utils 0.0.10 rules).

Pure functions with no heavy imports, so they are cheap to test against the reference's worked
examples. Changing any constant here changes what the model sees: keep them equal to training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

IMAGE_FACTOR = 28  # patch 14 x spatial merge 2
FRAME_FACTOR = 2  # temporal patch size
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
VIDEO_MAX_PIXELS = 768 * 28 * 28  # per-frame cap
TOTAL_PIXELS = 3584 * 28 * 28  # VideoChat-R1's training budget for the whole video
MIN_PIXELS = 16 * 28 * 28  # VideoChat-R1's per-frame floor
MAX_RATIO = 200


def round_by_factor(number: float, factor: int) -> int:
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def smart_nframes(
    total_frames: int,
    video_fps: float,
    fps: float = FPS,
    min_frames: int = FPS_MIN_FRAMES,
    max_frames: int = FPS_MAX_FRAMES,
) -> int:
    """How many frames to sample: `fps` per second, clamped to [min, max], floored to an even count."""
    if total_frames < FRAME_FACTOR:
        raise ValueError(f"a video needs at least {FRAME_FACTOR} frames, this one has {total_frames}")
    min_frames = ceil_by_factor(min_frames, FRAME_FACTOR)
    max_frames = floor_by_factor(min(max_frames, total_frames), FRAME_FACTOR)
    nframes = total_frames / video_fps * fps
    nframes = min(min(max(nframes, min_frames), max_frames), total_frames)
    nframes = floor_by_factor(nframes, FRAME_FACTOR)
    return max(nframes, FRAME_FACTOR)


def frame_indices(total_frames: int, nframes: int) -> list[int]:
    """Evenly spread indices, first and last included, exactly as qwen-vl-utils computes them:
    `torch.linspace(0, total_frames - 1, nframes).round().long()`.

    Reproduced in numpy, without importing torch, so a video's frames decode while torch imports
    (`pipeline.load_with_video`). torch's CPU kernel works in float32: the first half of the points is
    `start + step * i`, the second `end - step * (n - 1 - i)`, each a fused multiply-add (one rounding), with
    `step = (end - start) / (n - 1)` in float32; rounding is half to even. A float64 `linspace` cast to float32
    is not the same: past ~12,000 frames it picks a neighbouring frame for 1-2 of 768 indices
    (tests/test_sampling.py compares with torch itself).
    """
    import numpy as np

    if nframes == 1:
        return [0]
    end = np.float32(total_frames - 1)
    step = np.float64(np.float32(end / np.float32(nframes - 1)))
    i = np.arange(nframes, dtype=np.float64)
    # float64 holds the float32 products exactly, so one cast to float32 is the fused multiply-add's one rounding
    first = (step * i).astype(np.float32)
    second = (np.float64(end) - step * (nframes - 1 - i)).astype(np.float32)
    values = np.where(np.arange(nframes) < nframes // 2, first, second)
    return [int(v) for v in np.round(values)]


def smart_resize(
    height: int,
    width: int,
    factor: int = IMAGE_FACTOR,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = VIDEO_MAX_PIXELS,
) -> tuple[int, int]:
    """Height and width rounded to multiples of `factor`, scaled into [min_pixels, max_pixels]."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"aspect ratio must be under {MAX_RATIO}, got {max(height, width) / min(height, width):.1f}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def frame_pixel_cap(
    nframes: int,
    total_pixels: int = TOTAL_PIXELS,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int | None = None,
) -> int:
    """Per-frame pixel cap: an even share of the video budget, never below 1.05 x the floor."""
    cap = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * FRAME_FACTOR), int(min_pixels * 1.05))
    if max_pixels is not None:
        cap = min(cap, max_pixels)
    return int(cap)


@dataclass(frozen=True)
class SamplingPlan:
    """Which frames to read and at what size; `fps` is the real sampled rate the model must see."""

    indices: list[int]
    width: int
    height: int
    fps: float
    factor: int = IMAGE_FACTOR  # the sides' multiple: one visual token per factor x factor px per 2 frames

    @property
    def frames(self) -> int:
        return len(self.indices)

    @property
    def video_tokens(self) -> int:
        """Visual tokens: one per factor x factor patch (28 or 32 px) per 2-frame temporal grid."""
        return (self.frames // FRAME_FACTOR) * (self.height // self.factor) * (self.width // self.factor)


def plan_sampling(
    total_frames: int,
    video_fps: float,
    width: int,
    height: int,
    fps: float = FPS,
    max_frames: int = FPS_MAX_FRAMES,
    total_pixels: int = TOTAL_PIXELS,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int | None = None,
) -> SamplingPlan:
    """The training-time sampling rule for a whole video: frame indices, frame size, sampled fps.

    VideoChat-R1's rule (`families.videochat_r1.SAMPLING.plan`, the one place the rule is computed) with this
    budget."""
    from dataclasses import replace

    from vcr_cli.families.videochat_r1 import SAMPLING

    rule = replace(SAMPLING, total_pixels=total_pixels, min_pixels=min_pixels)
    return rule.plan(total_frames, video_fps, width, height, fps=fps, max_frames=max_frames, max_pixels=max_pixels)


TRACK_FED_FRAMES = 7  # VideoChat-R1 tracking feeds 7 frames; the processor repeats the last to make 8
TRACK_ANSWER_BOXES = 8


def tracking_frame_indices(total_frames: int) -> list[int]:
    """The 7 frames VideoChat-R1's tracking training and evaluation feed: first, int(i*(n-1)/6) for i=1..5, last.

    One rule for `vcr track` windows, `vcr rft train/eval` and `vcr rft validate` (reference §5). Indices can
    repeat when the span has fewer than 7 frames, exactly as the paper's list indexing would.
    """
    if total_frames < 1:
        raise ValueError("a tracking span needs at least one frame")
    step = (total_frames - 1) / 6
    return [0] + [int(i * step) for i in range(1, 6)] + [total_frames - 1]


# Answer box k -> index of the fed tracking frame it belongs to. Inferred, not published (reference §5): in
# VideoChat-R1's training data gt[0] is the start box and gt[1] nearly repeats it while 7 frames are fed, so box 0
# echoes the start box and box k >= 1 belongs to fed frame k - 1. `vcr track` reads answers and `vcr rft convert`
# writes GOT-10k ground truth by this one table.
BOX_FRAME = (0, 0, 1, 2, 3, 4, 5, 6)
BOX_ALIGNMENT_NOTE = ("inferred, not published: in VideoChat-R1's training data gt[0] is the start box and gt[1] "
                      "nearly repeats it while 7 frames are fed, so box 0 echoes the start box and box k >= 1 "
                      "belongs to fed frame k-1")

TRACK_FPS = 2.0  # tracking frame lists carry no timing: VideoChat-R1 always fed them at fps 2


def plan_tracking(
    total_frames: int,
    width: int,
    height: int,
    total_pixels: int = TOTAL_PIXELS,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int | None = None,
) -> SamplingPlan:
    """The paper's tracking input: the 7 `tracking_frame_indices`, at the training budget shared by the 8 frames
    the processor makes of them (1008x560 for 1080p), at the nominal fps 2 (reference §5, §6.2)."""
    cap = frame_pixel_cap(TRACK_ANSWER_BOXES, total_pixels=total_pixels, min_pixels=min_pixels, max_pixels=max_pixels)
    resized_h, resized_w = smart_resize(height, width, min_pixels=min_pixels, max_pixels=cap)
    return SamplingPlan(indices=tracking_frame_indices(total_frames), width=resized_w, height=resized_h,
                        fps=TRACK_FPS)
