"""Video probing and frame decoding (decord), resized as VideoChat-R1 saw its training frames.

Frames are decoded in chunks and resized immediately, so memory stays bounded by the *resized*
video even for long, high-resolution inputs. A folder of images (sorted by name) is a video too
(GOT-10k style tracking data), at a nominal 2 fps.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.errors import BadVideoError
from vcr_cli.sampling import MIN_PIXELS, TOTAL_PIXELS, SamplingPlan, plan_sampling

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FRAME_FOLDER_FPS = 2.0


@dataclass(frozen=True)
class VideoInfo:
    """What the source video is: float fps end to end, so timestamps stay exact."""

    path: str
    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"path": d["path"], "duration": round(self.duration, 4), "fps": self.fps, "frames": self.frames,
                "width": self.width, "height": self.height}


@dataclass
class SampledVideo:
    """Decoded, resized frames (uint8, T x H x W x 3, RGB) plus the plan that produced them.

    A window of a longer video has `start_frame` (its first frame in the whole video) and
    `span_frames` (its length); the model then sees time 0 at the window start, and `offset`
    maps its answers back to whole-video seconds.
    """

    info: VideoInfo
    plan: SamplingPlan
    frames: np.ndarray
    start_frame: int = 0
    span_frames: int | None = None

    @property
    def offset(self) -> float:
        return self.start_frame / self.info.fps

    @property
    def span_seconds(self) -> float:
        return (self.span_frames or self.info.frames) / self.info.fps

    @property
    def timestamps(self) -> list[float]:
        return [i / self.info.fps for i in self.plan.indices]

    def metadata(self) -> dict:
        """What transformers' video processor needs to compute the real time step per grid.

        transformers derives sampled_fps = len(frames_indices) / total_num_frames * fps.
        """
        return {"total_num_frames": self.span_frames or self.info.frames, "fps": self.info.fps,
                "frames_indices": [i - self.start_frame for i in self.plan.indices]}


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise BadVideoError(f"video not found: {path}")
    if path.is_dir():
        if not _frame_files(path):
            raise BadVideoError(f"{path} is a directory with no image frames; pass a video file")
        return
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except PermissionError:
        raise BadVideoError(f"cannot read {path}: permission denied") from None
    if size == 0:
        raise BadVideoError(f"video is empty (0 bytes): {path}")


def _open_reader(path: Path):
    import decord

    try:
        return decord.VideoReader(str(path), num_threads=0)
    except Exception as exc:  # decord raises DECORDError/RuntimeError with C++ noise
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise BadVideoError(f"cannot decode {path} as a video ({first})") from None


def probe(path: str | Path) -> VideoInfo:
    """Frame count, fps and size of a video file or a folder of frames; BadVideoError if unusable."""
    path = Path(path)
    _check_path(path)
    if path.is_dir():
        files = _frame_files(path)
        import cv2

        first = cv2.imread(str(files[0]))
        if first is None:
            raise BadVideoError(f"cannot read image {files[0]}")
        return VideoInfo(str(path), len(files), FRAME_FOLDER_FPS, first.shape[1], first.shape[0])
    reader = _open_reader(path)
    frames = len(reader)
    fps = float(reader.get_avg_fps())
    if frames < 1:
        raise BadVideoError(f"{path} has no video frames")
    height, width = reader[0].shape[:2]
    if not fps or fps != fps or fps <= 0:
        raise BadVideoError(f"{path} reports no frame rate")
    return VideoInfo(str(path), frames, fps, int(width), int(height))


def resize_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased resize of one RGB uint8 frame.

    Downscaling uses OpenCV's area filter: within 0.2/255 mean absolute difference of the
    bicubic-antialiased torchvision resize qwen-vl-utils applies, and ~10x faster on CPU
    (benchmarks/bench_ground.py measures the difference against qwen-vl-utils' frames).
    """
    import cv2

    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    interpolation = cv2.INTER_AREA if width <= w and height <= h else cv2.INTER_CUBIC
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    import numpy as np

    return np.stack([resize_frame(f, width, height) for f in frames]) if len(frames) else frames


def _decoder_threads() -> int:
    """All cores but one: decoding usually overlaps model loading or generation in the main thread."""
    return max(1, (os.cpu_count() or 2) - 1)


def _decoder_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """Let the decoder pre-shrink big frames to 2x the target (cheap), leaving the last 2x to the area filter."""
    if src_w >= 4 * width and src_h >= 4 * height:
        return 2 * width, 2 * height
    return -1, -1


def read_frames(path: str | Path, indices: list[int], width: int, height: int,
                source_size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode `indices` (ascending) from a video or frame folder, each resized to width x height.

    Reads sequentially, skipping unwanted frames without converting them: on H.264 with sparse
    keyframes this beats seeking to each frame by far, and memory holds only resized frames.
    """
    import numpy as np

    path = Path(path)
    out = np.empty((len(indices), height, width, 3), dtype=np.uint8)
    if path.is_dir():
        import cv2

        files = _frame_files(path)
        for k, i in enumerate(indices):
            img = cv2.imread(str(files[i]))
            if img is None:
                raise BadVideoError(f"cannot read image {files[i]}")
            out[k] = resize_frame(np.ascontiguousarray(img[:, :, ::-1]), width, height)
        return out
    import decord

    if source_size is None:  # (width, height) as decord decodes it, rotation applied
        first = _open_reader(path)[0].shape
        source_size = (first[1], first[0])
    dec_w, dec_h = _decoder_size(source_size[0], source_size[1], width, height)
    try:
        reader = decord.VideoReader(str(path), num_threads=_decoder_threads(), width=dec_w, height=dec_h)
    except Exception:
        raise BadVideoError(f"cannot decode {path} as a video") from None
    previous = -1
    for k, index in enumerate(indices):
        try:
            gap = index - previous - 1
            if gap < 0 or (previous < 0 and index > 0):
                # backwards, or the first frame of a span that starts later (a window of a long video):
                # decode from the nearest keyframe instead of from the start of the file
                reader.seek_accurate(index)
            elif gap > 0:
                reader.skip_frames(gap)
            frame = reader.next().asnumpy()
        except Exception as exc:
            raise BadVideoError(f"cannot decode frame {index} of {path} ({type(exc).__name__})") from None
        out[k] = resize_frame(frame, width, height)
        previous = index
    return out


def plan_video(info: VideoInfo, fps: float = 2.0, max_frames: int = 768, max_pixels: int | None = None,
               frames: int | None = None, total_pixels: int = TOTAL_PIXELS, min_pixels: int = MIN_PIXELS,
               ) -> SamplingPlan:
    """The training sampling rule for this video (or its first `frames`); BadVideoError if it can't apply."""
    from vcr_cli.sampling import FRAME_FACTOR

    total = info.frames if frames is None else frames
    if total < FRAME_FACTOR:
        raise BadVideoError(f"{info.path} has {total} frame; the model needs at least {FRAME_FACTOR}")
    try:
        return plan_sampling(total, info.fps, info.width, info.height, fps=fps, max_frames=max_frames,
                             max_pixels=max_pixels, total_pixels=total_pixels, min_pixels=min_pixels)
    except ValueError as exc:  # e.g. an aspect ratio over 200:1
        raise BadVideoError(f"cannot sample {info.path}: {exc}") from None


def sample_video(
    path: str | Path,
    fps: float = 2.0,
    max_frames: int = 768,
    max_pixels: int | None = None,
    info: VideoInfo | None = None,
    total_pixels: int = TOTAL_PIXELS,
    min_pixels: int = MIN_PIXELS,
) -> SampledVideo:
    """Probe, plan (training rule and pixel budget) and decode a whole video."""
    info = info or probe(path)
    plan = plan_video(info, fps=fps, max_frames=max_frames, max_pixels=max_pixels, total_pixels=total_pixels,
                      min_pixels=min_pixels)
    frames = read_frames(path, plan.indices, plan.width, plan.height, source_size=(info.width, info.height))
    return SampledVideo(info=info, plan=plan, frames=frames)


def sample_span(
    path: str | Path,
    info: VideoInfo,
    start_frame: int,
    end_frame: int,
    fps: float = 2.0,
    max_frames: int = 768,
    max_pixels: int | None = None,
) -> SampledVideo:
    """Sample frames [start_frame, end_frame) by the training rule, as if they were a whole video."""
    span = end_frame - start_frame
    plan = plan_video(info, fps=fps, max_frames=max_frames, max_pixels=max_pixels, frames=span)
    plan = SamplingPlan(indices=[start_frame + i for i in plan.indices], width=plan.width, height=plan.height,
                        fps=plan.fps)
    frames = read_frames(path, plan.indices, plan.width, plan.height, source_size=(info.width, info.height))
    return SampledVideo(info=info, plan=plan, frames=frames, start_frame=start_frame, span_frames=span)
