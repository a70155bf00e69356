"""Awkward media for the bad-input suite: each builder writes one file and returns its path."""

from __future__ import annotations

import fractions
import shutil
import struct
from pathlib import Path

import numpy as np


def _h264(path: Path, frames: int, width: int, height: int, fps: int = 10, pts=None) -> Path:
    import av

    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if pts is not None:
        stream.time_base = fractions.Fraction(1, 1000)
    for i in range(frames):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[..., 0] = (i * 7) % 256
        img[height // 4 : height // 2, width // 4 : width // 2] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts[i], fractions.Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def h264(path: Path) -> Path:
    return _h264(path, 30, 96, 64)


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def truncated(path: Path, source: Path) -> Path:
    data = Path(source).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return path


def text(path: Path) -> Path:
    path.write_text("definitely not a video\n" * 100)
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def audio_only(path: Path) -> Path:
    import av

    container = av.open(str(path), mode="w")
    stream = container.add_stream("aac", rate=16000)
    for i in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def one_frame(path: Path) -> Path:
    return _h264(path, 1, 96, 64)


def rotated_portrait(path: Path) -> Path:
    """A 96x64 clip whose track header says "rotate 90°" (phones write this): displayed as 64x96."""
    _h264(path, 20, 96, 64)
    data = bytearray(path.read_bytes())
    box = data.find(b"tkhd") - 4
    offset = box + (48 if data[box + 8] == 0 else 60)
    struct.pack_into(">9i", data, offset, 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


def variable_frame_rate(path: Path) -> Path:
    times, t = [], 0
    for i in range(40):
        times.append(t)
        t += 33 if i % 2 else 100
    return _h264(path, 40, 96, 64, fps=30, pts=times)


def huge(path: Path) -> Path:
    return _h264(path, 4, 3840, 2160)


def odd_name(path: Path, source: Path) -> Path:
    target = path.parent / "my vidéo – ünïcode clip.mp4"
    shutil.copy(source, target)
    return target
