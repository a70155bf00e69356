"""Load the model while the video decodes: the two slow steps of every command, overlapped."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vcr_cli.console import quiet_libraries, status
from vcr_cli.runtime import Runtime, load_runtime
from vcr_cli.video import SampledVideo, VideoInfo, probe, sample_video


@dataclass
class SamplingOptions:
    """The user's --fps / --max-frames / --max-pixels; None keeps the family's own rule for the task."""

    fps: float | None = None
    max_frames: int | None = None
    max_pixels: int | None = None


@dataclass
class ModelOptions:
    model: str | None = None
    quant: str = "4bit"
    device: str = "auto"
    family: str | None = None  # --family: None guesses it from the checkpoint


def load_with_video(
    video_path: str | Path,
    model: ModelOptions,
    sampling: SamplingOptions,
    info: VideoInfo | None = None,
    runtime: Runtime | None = None,
    rows: int = 1,
    role: str = "ground",
) -> tuple[Runtime, SampledVideo, dict]:
    """Decode + resize frames in a thread while torch/transformers import and the model loads.

    The frames follow the model family's sampling rule for `role` (a `vcr_cli.families` role); the family is
    resolved from the checkpoint's config before anything slow starts (`runtime`'s own when given).

    `rows`: prompts about the video decoded together at most (--samples draws, questions of a batch), for the
    memory check.
    Decoding needs only PyAV, OpenCV and numpy, so it starts before the (slow) torch import; those
    three are imported here first so the two threads never race on a module import.
    """
    import av  # noqa: F401
    import cv2  # noqa: F401
    import numpy  # noqa: F401

    from vcr_cli.checkpoints import resolve_family
    from vcr_cli.video import plan_video

    info = info or probe(video_path)
    family = runtime.family if runtime is not None else resolve_family(model.model, model.family)
    rule = family.sampling_for(role)
    plan = plan_video(info, fps=sampling.fps, max_frames=sampling.max_frames, max_pixels=sampling.max_pixels,
                      rule=rule)
    timings: dict[str, float] = {}
    outcome: dict = {}
    start = time.perf_counter()

    def decode() -> None:
        try:
            outcome["video"] = sample_video(video_path, fps=sampling.fps, max_frames=sampling.max_frames,
                                            max_pixels=sampling.max_pixels, info=info, rule=rule)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        timings["decode"] = round(time.perf_counter() - start, 3)

    worker = threading.Thread(target=decode, name="vcr-decode", daemon=True)
    worker.start()
    if runtime is None:
        with status(f"Loading {model.model or 'model'} ({model.quant}) and decoding {Path(video_path).name}..."):
            t = time.perf_counter()
            quiet_libraries()
            from vcr_cli.memory import check_gpu_fits

            check_gpu_fits(model.quant, model.device, plan.video_tokens, rows)
            runtime = load_runtime(model.model, quant=model.quant, device=model.device, family=model.family)
            timings["load"] = round(time.perf_counter() - t, 3)
    with status("Decoding video..."):
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    timings["load_and_decode"] = round(time.perf_counter() - start, 3)
    return runtime, outcome["video"], timings
