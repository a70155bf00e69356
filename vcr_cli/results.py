"""Pieces shared by every task's JSON result (field names are part of vcr's public contract)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vcr_cli import __version__

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo, VideoInfo

SCHEMA_VERSION = 1


def sampling_dict(video: SampledVideo) -> dict:
    plan = video.plan
    return {"frames": plan.frames, "fps": round(plan.fps, 6), "width": plan.width, "height": plan.height,
            "video_tokens": plan.video_tokens}


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
    return round(min(max(float(t), 0.0), duration), 3)
