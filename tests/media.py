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


def _write_silence(container, stream, packets: int) -> None:
    """`packets` x 1024 samples of 16 kHz mono silence on an AAC `stream`, flushed."""
    import av

    for k in range(packets):
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        samples.sample_rate, samples.pts = 16000, k * 1024
        for packet in stream.encode(samples):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def audio_only(path: Path) -> Path:
    import av

    container = av.open(str(path), mode="w")
    _write_silence(container, container.add_stream("aac", rate=16000), 20)
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


# ---------------------------------------------------------------- clips whose frames say which frame they are

CODE_GRID = (4, 3)  # columns x rows of black/white blocks: 12 bits of frame index


def code_image(index: int, width: int = 160, height: int = 96) -> np.ndarray:
    """An RGB frame whose blocks spell `index` in binary (bright = 1), readable after any codec and resize."""
    cols, rows = CODE_GRID
    bits = np.array([(index >> b) & 1 for b in range(cols * rows)], dtype=np.uint8).reshape(rows, cols) * 255
    image = np.repeat(np.repeat(bits, height // rows, axis=0), width // cols, axis=1)
    return np.ascontiguousarray(np.stack([image] * 3, axis=-1))


def read_code(frame: np.ndarray) -> int:
    """The index a `code_image` frame spells (after decoding and resizing)."""
    cols, rows = CODE_GRID
    gray = frame.mean(axis=2).astype(np.float32) if frame.ndim == 3 else frame.astype(np.float32)
    h, w = gray.shape
    value = 0
    for r in range(rows):
        for c in range(cols):
            block = gray[r * h // rows + h // (4 * rows): (r + 1) * h // rows - h // (4 * rows),
                         c * w // cols + w // (4 * cols): (c + 1) * w // cols - w // (4 * cols)]
            if float(block.mean()) > 128:
                value |= 1 << (r * cols + c)
    return value


def timed_clip(path: Path, times: list[float], codec: str = "libx264", pix_fmt: str = "yuv420p",
               rotation: int = 0, audio_seconds: float | None = None, width: int = 160, height: int = 96) -> Path:
    """A clip whose frame i is shown at times[i] (s) and spells i (`code_image`); the container follows the suffix.

    `rotation` writes a display matrix (degrees counter-clockwise, as phones do): the coded picture is
    turned so that the *displayed* frame spells its index. `audio_seconds` adds an AAC track that long.
    """
    import av

    tb = fractions.Fraction(1, 90000)
    turns = (rotation // 90) % 4
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=30)
    stream.width, stream.height = (height, width) if turns % 2 else (width, height)
    stream.pix_fmt = pix_fmt
    stream.codec_context.time_base = tb
    stream.time_base = tb
    if codec == "libsvtav1":
        stream.options = {"preset": "12"}
    elif codec == "libx265":
        stream.options = {"x265-params": "log-level=none"}
    elif codec == "libx264":
        stream.options = {"preset": "ultrafast"}
    if rotation:
        stream.set_display_rotation(rotation)
    audio = container.add_stream("aac", rate=16000) if audio_seconds else None
    ticks = [int(round(t / tb)) for t in times]
    # each frame lasts until the next one; the last as long as the one before it
    lasting = {a: b - a for a, b in zip(ticks, ticks[1:])}
    lasting[ticks[-1]] = ticks[-1] - ticks[-2] if len(ticks) > 1 else 3000

    def mux(packets) -> None:
        for packet in packets:
            if packet.pts is not None:
                packet.duration = lasting.get(packet.pts, packet.duration)
            container.mux(packet)

    for i, tick in enumerate(ticks):
        image = np.ascontiguousarray(np.rot90(code_image(i, width, height), -turns))
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = tick, tb
        mux(stream.encode(frame))
    mux(stream.encode())
    if audio is not None:
        _write_silence(container, audio, int(audio_seconds * 16000 / 1024))
    container.close()
    return path


def cfr_times(frames: int, fps: float = 30.0) -> list[float]:
    return [i / fps for i in range(frames)]


def vfr_times() -> list[float]:
    """The issue's screen recording: 60 fps for 10 s, then 10 fps for 10 s (700 frames, 20.0 s)."""
    return [i / 60 for i in range(600)] + [10 + i / 10 for i in range(100)]
