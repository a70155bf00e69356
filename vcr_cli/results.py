"""Pieces shared by every task's JSON result (field names are part of vcr's public contract)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vcr_cli import __version__

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo, VideoInfo

SCHEMA_VERSION = 1


def sampling_dict(video: SampledVideo) -> dict:
    """What the model saw; `frame_times` are when each fed frame is shown in the video (seconds)."""
    plan = video.plan
    return {"frames": plan.frames, "fps": round(plan.fps, 6), "width": plan.width, "height": plan.height,
            "video_tokens": plan.video_tokens, "frame_times": [round(t, 3) for t in video.frame_times]}


def header(task: str, runtime: Runtime, info: VideoInfo, sampling: dict) -> dict:
    """The fields every result starts with."""
    return {
        "task": task,
        "schema_version": SCHEMA_VERSION,
        "vcr_version": __version__,
        "model": runtime.model_id,
        "runtime": runtime.describe(),
        "video": info.to_dict(),
        "sampling": sampling,
    }


def base_result(task: str, runtime: Runtime, video: SampledVideo) -> dict:
    return header(task, runtime, video.info, sampling_dict(video))


def clamp_time(t: float, duration: float) -> float:
    """Seconds rounded to the millisecond, never outside [0, duration] (rounding included)."""
    return min(max(round(float(t), 3), 0.0), math.floor(duration * 1000) / 1000)


def add_peak_gpu_memory(result: dict, runtime: Runtime) -> dict:
    """Record the CUDA memory high-water mark (GB) so users can size their settings; nothing on CPU."""
    if runtime.device == "cuda":
        import torch

        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return result
