"""Generate benchmark clips (cached under benchmarks/out/): H.264 with sparse keyframes, like real footage."""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).parent / "out"


def make_clip(name: str, seconds: float, width: int, height: int, fps: int = 30) -> Path:
    """A moving-gradient H.264 clip (GOP 250) written with PyAV; reused when already present."""
    import av
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.mp4")
    container = av.open(str(tmp), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "g": "250", "crf": "28"}
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    for i in range(int(seconds * fps)):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = ((xs + i * 3) % 256).astype(np.uint8)
        frame[..., 1] = ((ys + i * 2) % 256).astype(np.uint8)
        frame[..., 2] = ((xs + ys) / 2 + i) % 256
        size = height // 6
        x = int((width - size) * (0.5 + 0.45 * np.sin(i / 40)))
        y = int((height - size) * (0.5 + 0.45 * np.cos(i / 55)))
        frame[y : y + size, x : x + size] = 255
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in stream.encode(video_frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    tmp.rename(path)
    return path
