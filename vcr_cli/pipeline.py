"""Load the model while the video decodes: the two slow steps of every command, overlapped."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vcr_cli.console import quiet_libraries, status
from vcr_cli.runtime import Runtime, load_runtime
from vcr_cli.video import SampledVideo, VideoInfo, probe, sample_video


@dataclass
class SamplingOptions:
    fps: float = 2.0
    max_frames: int = 768
    max_pixels: int | None = None


@dataclass
class ModelOptions:
    model: str | None = None
    quant: str = "4bit"
    device: str = "auto"


def load_with_video(
    video_path: str | Path,
    model: ModelOptions,
    sampling: SamplingOptions,
    info: VideoInfo | None = None,
    runtime: Runtime | None = None,
) -> tuple[Runtime, SampledVideo, dict]:
    """Decode + resize frames in a thread while the model loads; returns timings in seconds."""
    quiet_libraries()
    info = info or probe(video_path)
    import torch  # noqa: F401  (import once, before threads, to avoid import-lock contention)

    quiet_libraries()
    if runtime is None:
        from vcr_cli.memory import check_gpu_fits
        from vcr_cli.video import plan_video

        plan = plan_video(info, fps=sampling.fps, max_frames=sampling.max_frames, max_pixels=sampling.max_pixels)
        check_gpu_fits(model.quant, model.device, plan.video_tokens)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def decode() -> SampledVideo:
        t = time.perf_counter()
        sampled = sample_video(video_path, fps=sampling.fps, max_frames=sampling.max_frames,
                               max_pixels=sampling.max_pixels, info=info)
        timings["decode"] = round(time.perf_counter() - t, 3)
        return sampled

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(decode)
        if runtime is None:
            with status(f"Loading {model.model or 'model'} ({model.quant}) and decoding {Path(video_path).name}..."):
                t = time.perf_counter()
                runtime = load_runtime(model.model, quant=model.quant, device=model.device)
                timings["load"] = round(time.perf_counter() - t, 3)
        with status("Decoding video..."):
            sampled = future.result()
    timings["load_and_decode"] = round(time.perf_counter() - start, 3)
    return runtime, sampled, timings
