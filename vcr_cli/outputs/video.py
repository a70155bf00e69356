"""Annotated MP4 output: H.264 (yuv420p) through PyAV so browsers play it.

OpenCV's wheels cannot write H.264, and `mp4v` files do not play in Chromium; PyAV bundles
libx264. If libx264 is missing we fall back to MPEG-4 Part 2 with a warning, never silently to
another container. Frames are decoded, drawn and encoded in a streaming loop with a reader
thread, so memory stays flat for long videos and decoding overlaps drawing and encoding.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.errors import OutputError
from vcr_cli.outputs.atomic import atomic_path

if TYPE_CHECKING:
    import numpy as np

    from vcr_cli.video import VideoInfo

# draw(frame_rgb, frame_index, time_seconds) -> frame_rgb (same size)
DrawFn = Callable[["np.ndarray", int, float], "np.ndarray"]
TIMED_BASE = Fraction(1, 1000)


def h264_available() -> bool:
    import av

    try:
        av.codec.Codec("libx264", "w")
        return True
    except Exception:
        return False


def iter_frames(path: str | Path, info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video (or frame folder), in order, upright, as RGB uint8 arrays (vcr_cli.video)."""
    from vcr_cli import video

    yield from video.iter_frames(info if info is not None else path)


def _prefetch(iterator: Iterator, size: int = 32) -> Iterator:
    """Run `iterator` in a thread with a bounded queue (decode overlaps draw + encode)."""
    q: queue.Queue = queue.Queue(maxsize=size)
    done = object()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            for item in iterator:
                q.put(item)
        except BaseException as exc:  # re-raised in the consumer
            failure.append(exc)
        finally:
            q.put(done)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        item = q.get()
        if item is done:
            break
        yield item
    thread.join()
    if failure:
        raise failure[0]


class Mp4Writer:
    """Write RGB frames to an MP4 at a float fps; H.264 yuv420p when available.

    `timed=True` (variable frame rate sources): each `write` gives the frame's own time in seconds,
    kept to the millisecond, so the output shows every frame when the source did.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, timed: bool = False):
        import av

        self.codec = "libx264" if h264_available() else "mpeg4"
        self.container = av.open(str(path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(100_000) if fps > 0 else Fraction(25)
        self.stream = self.container.add_stream(self.codec, rate=rate)
        self.timed = timed
        self._last_pts = -1
        if timed:
            self.stream.codec_context.time_base = self.stream.time_base = TIMED_BASE
        # yuv420p needs even sizes; odd sizes are padded by one pixel (noted in the output JSON).
        self.width, self.height = width, height
        self.stream.width = width + (width % 2)
        self.stream.height = height + (height % 2)
        self.stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self.stream.options = {"crf": "20", "preset": "veryfast", "movflags": "+faststart"}
        self.count = 0

    def write(self, frame_rgb: np.ndarray, seconds: float | None = None) -> None:
        import av
        import numpy as np

        if frame_rgb.shape[1] != self.stream.width or frame_rgb.shape[0] != self.stream.height:
            padded = np.zeros((self.stream.height, self.stream.width, 3), dtype=np.uint8)
            padded[: frame_rgb.shape[0], : frame_rgb.shape[1]] = frame_rgb
            frame_rgb = padded
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        if self.timed and seconds is not None:
            pts = max(self._last_pts + 1, int(round(seconds / TIMED_BASE)))
            frame.pts, frame.time_base, self._last_pts = pts, TIMED_BASE, pts
        else:
            frame.pts = self.count
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def annotate_video(
    source: str | Path,
    dest: str | Path,
    info: VideoInfo,
    draw: DrawFn,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Decode every frame of `source`, draw on it, encode to `dest` (atomically). Returns a summary.

    `draw` gets each frame's presentation time from the probe (`info.time_of`), and a variable
    frame rate source keeps its timing in the output: the annotation runs on the video's own clock.
    """
    from vcr_cli.console import warn

    try:
        with atomic_path(dest) as tmp:
            writer = Mp4Writer(tmp, info.width, info.height, info.fps, timed=not info.constant_rate)
            if writer.codec != "libx264":
                warn("libx264 is not available in this PyAV build; writing MPEG-4 Part 2 (may not play in browsers)")
            for index, frame in enumerate(_prefetch(iter_frames(source, info))):
                t = info.time_of(index)
                writer.write(draw(frame.copy(), index, t), t)
                if progress:
                    progress(index + 1)
            writer.close()
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc}") from None
    return {"path": str(dest), "codec": "h264" if writer.codec == "libx264" else "mpeg4", "frames": writer.count,
            "width": info.width, "height": info.height, "fps": info.fps}
