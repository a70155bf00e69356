"""Generate benchmark clips (cached under benchmarks/out/): sparse keyframes, like real footage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).parent / "out"
CODEC_OPTIONS = {
    "libx264": {"preset": "ultrafast", "g": "250", "crf": "28"},
    "libsvtav1": {"preset": "12", "crf": "40"},
}


def make_clip(name: str, seconds: float, width: int, height: int, fps: int = 30, codec: str = "libx264",
              times: list[float] | None = None, folder: Path = OUT) -> Path:
    """A moving-gradient clip (GOP 250 for H.264) written with PyAV into `folder`; reused when already present.

    `times` gives each frame's presentation time (variable frame rate); otherwise `seconds` at `fps`.
    """
    import av
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.exists():
        return path
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    container = av.open(str(tmp), mode="w")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = CODEC_OPTIONS.get(codec, {})
    tb = Fraction(1, 90000)
    if times is not None:
        stream.codec_context.time_base = stream.time_base = tb
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    count = len(times) if times is not None else int(seconds * fps)
    for i in range(count):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = ((xs + i * 3) % 256).astype(np.uint8)
        frame[..., 1] = ((ys + i * 2) % 256).astype(np.uint8)
        frame[..., 2] = ((xs + ys) / 2 + i) % 256
        size = height // 6
        x = int((width - size) * (0.5 + 0.45 * np.sin(i / 40)))
        y = int((height - size) * (0.5 + 0.45 * np.cos(i / 55)))
        frame[y : y + size, x : x + size] = 255
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        if times is not None:
            video_frame.pts, video_frame.time_base = int(round(times[i] / tb)), tb
        for packet in stream.encode(video_frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    tmp.rename(path)
    return path


def vfr_times(seconds: float) -> list[float]:
    """A screen recording's clock: 60 fps for the first half, then 10 fps."""
    half = seconds / 2
    return [i / 60 for i in range(int(half * 60))] + [half + i / 10 for i in range(int(half * 10))]


class ModelCalls:
    """What a runtime's model does while a benchmark runs: vision-tower passes, and per `generate` call its rows and
    new tokens (decode steps). Installed on `runtime.model`; `reset()` between measured runs."""

    def __init__(self, runtime) -> None:
        import torch

        self.vision_passes = 0
        self.generates: list[tuple[int, int]] = []  # (rows, new tokens) per generate call
        runtime.model.model.visual.register_forward_hook(lambda *_: self._vision_pass())
        real_generate = runtime.model.generate

        def counting_generate(*args, **kwargs):
            output = real_generate(*args, **kwargs)
            sequences = output if isinstance(output, torch.Tensor) else output.sequences
            self.generates.append((sequences.shape[0], sequences.shape[1] - kwargs["input_ids"].shape[1]))
            return output

        runtime.model.generate = counting_generate

    def _vision_pass(self) -> None:
        self.vision_passes += 1

    def reset(self) -> None:
        self.vision_passes, self.generates = 0, []

    @property
    def decode_steps(self) -> int:
        return sum(steps for _, steps in self.generates)

    @property
    def rows_decoded(self) -> int:
        return sum(rows * steps for rows, steps in self.generates)
