"""The video source: probe once, decode with PyAV (FFmpeg), sample frames by presentation time.

`probe` opens a file once per run (results are cached by path, size and mtime): container, codec,
every frame's presentation timestamp (from the demuxed packets, no decoding), display rotation and
the video stream's own duration. PyAV's bundled FFmpeg decodes AV1 (dav1d), VP9, HEVC and H.264 in
8 and 10 bit, in MP4/MOV, MKV/WebM, MPEG-TS and AVI. decord is not used: its FFmpeg has no AV1
decoder, returns frames from the wrong times on MPEG-TS and numbers frames by index, not time.

The clock: on a constant-frame-rate video frame i is at i / fps (the paper's clock, so sampling
gives exactly qwen-vl-utils' frames). On a variable-frame-rate video `fps` is the average rate
(frames / stream duration) and a "clock index" v means the time v / fps: sampling plans in clock
indices, then reads the real frame nearest to each time, so the time the model's position
encoding claims for a frame is the time it was shown. Model seconds are therefore video seconds
on both kinds, and time 0 is the first frame's presentation time.

Frames are decoded sequentially (seeking only to the first wanted frame) and converted and resized
only when wanted, so memory stays bounded by the *resized* frames. A folder of images (sorted by
name) is a video too (GOT-10k style tracking data), at a nominal 2 fps.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.errors import BadVideoError, first_line
from vcr_cli.sampling import MIN_PIXELS, TOTAL_PIXELS, SamplingPlan

if TYPE_CHECKING:
    import numpy as np

    from vcr_cli.families import SamplingRule

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FRAME_FOLDER_FPS = 2.0
CFR_TOLERANCE = 0.5  # frames: every timestamp within half a frame of i / fps means constant frame rate


@dataclass(frozen=True)
class VideoInfo:
    """What the source video is: float fps end to end, so timestamps stay exact.

    `pts` are the video stream's presentation timestamps (sorted, in `time_base` units; empty for a
    frame folder); `constant_rate` tells which clock applies (see the module docstring).
    """

    path: str
    frames: int
    fps: float
    width: int
    height: int
    codec: str = ""
    container: str = ""
    rotation: int = 0  # degrees counter-clockwise the decoded picture is turned for display
    constant_rate: bool = True
    stream_duration: float | None = None  # the video stream's own duration (None: frames / fps)
    stream_index: int = 0  # among the container's video streams
    time_base: Fraction = Fraction(1, 1)
    pts: tuple[int, ...] = field(default=(), repr=False)
    by_pts: bool = True  # decoded frames carry these pts (not AVI): frames are found by pts, seeking allowed
    keyframes: tuple[int, ...] = field(default=(), repr=False)  # pts of keyframes: where decoding can start

    @property
    def duration(self) -> float:
        if self.stream_duration is not None:
            return self.stream_duration
        return self.frames / self.fps if self.fps > 0 else 0.0

    @property
    def is_frame_folder(self) -> bool:
        """A folder of images (GOT-10k style): no timestamps, a nominal 2 fps."""
        return self.container == "folder"

    def time_of(self, index: int) -> float:
        """Presentation time (s, 0 = first frame) of frame `index`."""
        if self.constant_rate or not self.pts:
            return index / self.fps
        return float((self.pts[index] - self.pts[0]) * self.time_base)

    def frame_at(self, seconds: float) -> int:
        """The frame shown nearest to `seconds` (clamped to the video)."""
        if self.constant_rate or not self.pts:
            return min(self.frames - 1, max(0, int(math.floor(seconds * self.fps + 0.5))))
        target = self.pts[0] + seconds / self.time_base
        k = bisect.bisect_left(self.pts, target)
        if k <= 0:
            return 0
        if k >= len(self.pts):
            return len(self.pts) - 1
        return k if self.pts[k] - target < target - self.pts[k - 1] else k - 1

    def clock_frames(self, indices: list[int]) -> list[int]:
        """Real frames for clock indices: the same on constant frame rate, nearest in time otherwise."""
        if self.constant_rate:
            return list(indices)
        return [self.frame_at(v / self.fps) for v in indices]

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"path": d["path"], "duration": round(self.duration, 4), "fps": round(self.fps, 4),
                "frames": self.frames, "width": self.width, "height": self.height, "codec": self.codec,
                "container": self.container, "rotation": self.rotation, "constant_frame_rate": self.constant_rate}


@dataclass
class SampledVideo:
    """Decoded, resized frames (uint8, T x H x W x 3, RGB) plus the plan that produced them.

    `plan.indices` are real frames of the video. A window of a longer video has `start_frame` (its
    first clock index in the whole video) and `span_frames` (its length in clock indices); the model
    then sees time 0 at the window start, and `offset` maps its answers back to whole-video seconds.
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
    def frame_times(self) -> list[float]:
        """When each fed frame is shown in the video (s): what the JSON reports."""
        return [self.info.time_of(i) for i in self.plan.indices]

    @property
    def timestamps(self) -> list[float]:
        return self.frame_times

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


def _open(path: str | Path):
    import av

    from vcr_cli.console import VERBOSE

    if VERBOSE["on"]:  # FFmpeg's own messages (e.g. "moov atom not found") only with --verbose
        av.logging.set_level(av.logging.WARNING)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # av.error.*: not a media file FFmpeg recognises
        raise BadVideoError(f"cannot decode {path} as a video ({_ffmpeg_reason(exc)})") from None


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words (`Invalid data found when processing input`), without PyAV's `[Errno 1094995529]` and
    the repeated file name."""
    return getattr(exc, "strerror", None) or first_line(exc, limit=160)


def _video_stream(container, path):
    import av

    for ordinal, stream in enumerate(container.streams.video):
        if av.stream.Disposition.attached_pic not in stream.disposition:  # skip cover art
            return ordinal, stream
    raise BadVideoError(f"cannot decode {path} as a video (no video stream)")


def _rotation_turns(rotation: float) -> int:
    """Quarter turns (numpy rot90 k) that put a decoded picture upright."""
    return int(round(rotation / 90)) % 4


def _probe_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


_PROBES: dict[tuple, VideoInfo] = {}
_PROBE_LOCK = threading.Lock()


def probe(path: str | Path) -> VideoInfo:
    """Frame count, timestamps, fps, size, codec and rotation of a video file or a folder of frames.

    BadVideoError if unusable. Cached per (path, size, mtime): a run reads the container once.
    """
    path = Path(path)
    _check_path(path)
    if path.is_dir():
        files = _frame_files(path)
        import cv2

        first = cv2.imread(str(files[0]))
        if first is None:
            raise BadVideoError(f"cannot read image {files[0]}")
        return VideoInfo(str(path), len(files), FRAME_FOLDER_FPS, first.shape[1], first.shape[0], codec="images",
                         container="folder")
    key = _probe_key(path)
    with _PROBE_LOCK:
        if key not in _PROBES:
            _PROBES[key] = _probe_file(path)
        return _PROBES[key]


def _probe_file(path: Path) -> VideoInfo:
    import av
    import numpy as np

    with _open(path) as container:
        ordinal, stream = _video_stream(container, path)
        codec = stream.codec_context.codec.canonical_name if stream.codec_context is not None else "unknown"
        time_base = stream.time_base or Fraction(1, 90000)
        pts, dts, keyframes, durations, first, errors, trusted = [], [], [], {}, None, 0, False
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None and packet.dts is None:
                    if first is None:  # flush: B-frame decoders return their first frame here
                        first = _first_frame(packet, first)
                    continue
                if packet.is_discard:  # before an edit list's start: decoded, never shown
                    continue
                trusted = trusted or packet.pts is not None
                if packet.dts is not None:
                    dts.append(packet.dts)
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is not None:
                    pts.append(stamp)
                    durations[stamp] = packet.duration or 0
                    if packet.is_keyframe:
                        keyframes.append(stamp)
                if first is None and errors < 50:
                    try:
                        first = _first_frame(packet, first)
                    except av.error.FFmpegError:
                        errors += 1
        except av.error.FFmpegError as exc:
            if not pts:
                raise BadVideoError(f"cannot decode {path} as a video ({_ffmpeg_reason(exc)})") from None
        if first is None:
            if stream.codec_context is None:  # FFmpeg knows no decoder for it: name it from the file itself
                raise BadVideoError(f"cannot decode {path}: no decoder for its video codec ({_codec_tag(path)}) "
                                    "in this FFmpeg build; convert it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
            raise BadVideoError(f"cannot decode {path}: no frame of its {codec} video stream decodes "
                                f"({stream.codec_context.codec.long_name}); the file may be damaged")
        names = container.format.name.split(",")  # e.g. "mov,mp4,m4a,3gp,3g2,mj2": name it as the file does
        suffix = path.suffix.lower().lstrip(".")
        container_name = suffix if suffix in names else names[0]
        nominal = [float(r) for r in (stream.average_rate, stream.guessed_rate) if r]
    if len(pts) < 1:
        raise BadVideoError(f"{path} has no video frames")
    rotation = int(round(first.rotation or 0)) % 360
    turns = _rotation_turns(rotation)
    width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
    by_pts = trusted and "avi" not in names
    if not by_pts:
        # AVI stores no presentation times (FFmpeg invents pts from decode order): its frame slots are
        # the decode timestamps, and decoded frames are identified by count, never by pts.
        pts = dts
    pts = sorted(set(pts))
    seconds = (np.asarray(pts, dtype=np.float64) - pts[0]) * float(time_base)
    n = len(pts)
    gaps = np.diff(seconds)
    if len(gaps):
        nominal.append(1.0 / float(np.median(gaps)) if np.median(gaps) > 0 else 0.0)
    positions = np.arange(n, dtype=np.float64)
    for rate in nominal:
        if rate > 0 and float(np.abs(seconds - positions / rate).max()) <= CFR_TOLERANCE / rate:
            return VideoInfo(str(path), n, rate, int(width), int(height), codec=codec, container=container_name,
                             rotation=rotation, constant_rate=True, stream_index=ordinal,
                             time_base=time_base, pts=tuple(pts), by_pts=by_pts,
                             keyframes=tuple(sorted(keyframes)))
    # the last frame lasts what the container says (MP4, MKV store it) or as long as the gap before it
    last = 0.0 if "mpegts" in names else durations.get(pts[-1], 0) * float(time_base)
    if last <= 0:
        last = float(gaps[-1]) if len(gaps) else 0.0
    duration = float(seconds[-1]) + last
    if duration <= 0:
        raise BadVideoError(f"{path} reports no frame rate")
    return VideoInfo(str(path), n, n / duration, int(width), int(height), codec=codec, container=container_name,
                     rotation=rotation, constant_rate=False, stream_duration=duration, stream_index=ordinal,
                     time_base=time_base, pts=tuple(pts), by_pts=by_pts,
                             keyframes=tuple(sorted(keyframes)))


def _codec_tag(path: Path) -> str:
    """Best effort: the codec's tag as the container writes it (MP4/MOV sample entry, Matroska CodecID)."""
    import re

    with open(path, "rb") as f:
        head = f.read(8 << 20)
    found = (re.search(rb"stsd.{12}([a-zA-Z0-9 .]{4})", head, re.S)
             or re.search(rb"\x86[\x81-\xbf](V_[\x20-\x7e]+)", head))
    return found.group(1).decode("ascii", "replace").strip() if found else "unknown"


def _first_frame(packet, first):
    for frame in packet.decode():
        return frame
    return first


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


def _decoder_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """Let swscale pre-shrink big frames to 2x the target (cheap), leaving the last 2x to the area filter."""
    if src_w >= 4 * width and src_h >= 4 * height:
        return 2 * width, 2 * height
    return -1, -1


def frame_converter(info: VideoInfo, width: int | None = None, height: int | None = None,
                    gray: bool = False) -> Callable:
    """PyAV frame -> upright RGB (or gray) uint8 array, resized to width x height when given."""
    import numpy as np

    turns = _rotation_turns(info.rotation)

    def convert(frame) -> np.ndarray:
        kwargs: dict = {}
        if width is not None and height is not None:
            tw, th = (height, width) if turns % 2 else (width, height)  # target in the decoded orientation
            dw, dh = _decoder_size(frame.width, frame.height, tw, th)
            if dw > 0:
                kwargs = {"width": dw, "height": dh, "interpolation": "AREA"}
        image = frame.to_ndarray(format="rgb24", **kwargs)
        if turns:
            image = np.ascontiguousarray(np.rot90(image, turns))
        if width is not None and height is not None:
            image = resize_frame(image, width, height)
        if gray:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return image

    return convert


class _Overshoot(Exception):
    """A seek landed after the first wanted frame: decode from the start instead."""


def decode_frames(info: VideoInfo, indices: list[int], convert: Callable) -> Iterator[np.ndarray]:
    """convert(frame) for each of `indices` (ascending, repeats allowed), in order.

    Frames are identified by presentation timestamp, so decoder reordering, seeking and streams
    that start mid-GOP cannot shift them. A wanted frame that never decodes (corrupt data) is
    replaced by the next decodable one (or the last, at the end of the stream).
    """
    if not indices:
        return
    if Path(info.path).is_dir():
        yield from _folder_frames(info, indices, convert)
        return
    seek = None
    if indices[0] > 0 and info.by_pts and info.keyframes:
        # start at the last keyframe before the first wanted frame (MPEG-TS has no index to find it)
        k = bisect.bisect_right(info.keyframes, info.pts[indices[0]]) - 1
        if k >= 0 and info.keyframes[k] > info.pts[0]:
            seek = info.keyframes[k]
    try:
        yield from _decode_pass(info, indices, convert, seek)
    except _Overshoot:
        yield from _decode_pass(info, indices, convert, None)


def _decode_pass(info: VideoInfo, indices: list[int], convert: Callable, seek: int | None) -> Iterator[np.ndarray]:
    import av

    pts = info.pts if info.by_pts else ()

    def index_of(stamp: int | None) -> int | None:  # pts are sorted and unique: a binary search, no table
        if stamp is None or not pts:
            return None
        i = bisect.bisect_left(pts, stamp)
        return i if i < len(pts) and pts[i] == stamp else None

    k, expected, image = 0, None if seek is not None else 0, None
    with _open(info.path) as container:
        stream = container.streams.video[info.stream_index]
        stream.thread_type = "AUTO"
        if seek is not None:
            container.seek(seek, stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue  # a corrupt packet: its frame is replaced by the next one
            for frame in decoded:
                idx = index_of(frame.pts if frame.pts is not None else frame.dts)
                if idx is None:
                    if expected is None:
                        raise _Overshoot
                    idx = expected
                if expected is None and idx > indices[0]:
                    raise _Overshoot
                if expected is not None and idx < expected:
                    idx = expected  # a repeated timestamp
                expected = idx + 1
                if indices[k] > idx:
                    continue
                image = convert(frame)
                while k < len(indices) and indices[k] <= idx:
                    yield image
                    k += 1
                if k == len(indices):
                    return
    if image is None and seek is not None:
        raise _Overshoot
    if image is None:
        raise BadVideoError(f"cannot decode {info.path}: no frame of its {info.codec} video stream decoded")
    while k < len(indices):
        yield image
        k += 1


def _folder_frames(info: VideoInfo, indices: list[int], convert: Callable) -> Iterator[np.ndarray]:
    import cv2
    import numpy as np

    files = _frame_files(Path(info.path))
    for i in indices:
        img = cv2.imread(str(files[i]))
        if img is None:
            raise BadVideoError(f"cannot read image {files[i]}")
        yield convert(_ImageFrame(np.ascontiguousarray(img[:, :, ::-1])))


class _ImageFrame:
    """An RGB array dressed as a PyAV frame for `frame_converter`."""

    def __init__(self, rgb):
        self.rgb, self.height, self.width = rgb, rgb.shape[0], rgb.shape[1]

    def to_ndarray(self, format: str = "rgb24", width: int | None = None, height: int | None = None,
                   interpolation: str | None = None):
        return self.rgb  # full size: the converter resizes once, as for any image


def iter_frames(path_or_info: str | Path | VideoInfo, first: int = 0, last: int | None = None,
                width: int | None = None, height: int | None = None, gray: bool = False) -> Iterator[np.ndarray]:
    """Every frame first..last (inclusive), upright, optionally resized / gray: annotation and refinement."""
    info = path_or_info if isinstance(path_or_info, VideoInfo) else probe(path_or_info)
    last = info.frames - 1 if last is None else min(last, info.frames - 1)
    yield from decode_frames(info, list(range(first, last + 1)), frame_converter(info, width, height, gray))


def read_frames(path: str | Path, indices: list[int], width: int, height: int,
                source_size: tuple[int, int] | None = None, info: VideoInfo | None = None) -> np.ndarray:
    """Decode `indices` (ascending real frames) from a video or frame folder, each resized to width x height.

    Reads sequentially from the keyframe before the first wanted frame, converting only wanted
    frames: on H.264 with sparse keyframes this beats seeking to each frame by far, and memory holds
    only resized frames. `source_size` is accepted for compatibility (the probe knows the size).
    """
    import numpy as np

    info = info or probe(path)
    out = np.empty((len(indices), height, width, 3), dtype=np.uint8)
    for k, image in enumerate(decode_frames(info, list(indices), frame_converter(info, width, height))):
        out[k] = image
    return out


def plan_video(info: VideoInfo, fps: float | None = None, max_frames: int | None = None,
               max_pixels: int | None = None, frames: int | None = None, total_pixels: int | None = None,
               min_pixels: int | None = None, rule: SamplingRule | None = None) -> SamplingPlan:
    """The family's sampling rule (`rule`; None: VideoChat-R1's training rule) for this video (or its first
    `frames` clock indices); BadVideoError if it cannot be sampled. `fps`, `max_frames`, `max_pixels` override the
    rule's (None keeps them); `total_pixels` / `min_pixels` replace its budget.

    The indices are clock indices (real frames on constant frame rate; see `VideoInfo.clock_frames`).
    """
    from dataclasses import replace

    from vcr_cli.sampling import FRAME_FACTOR

    if rule is None:
        from vcr_cli.families.videochat_r1 import SAMPLING as rule
    if total_pixels is not None or min_pixels is not None:
        rule = replace(rule, total_pixels=rule.total_pixels if total_pixels is None else total_pixels,
                       min_pixels=rule.min_pixels if min_pixels is None else min_pixels)
    total = info.frames if frames is None else frames
    if total < FRAME_FACTOR:
        raise BadVideoError(f"{info.path} has {total} frame; the model needs at least {FRAME_FACTOR}")
    try:
        return rule.plan(total, info.fps, info.width, info.height, fps=fps, max_frames=max_frames,
                         max_pixels=max_pixels)
    except ValueError as exc:  # e.g. an aspect ratio over 200:1
        raise BadVideoError(f"cannot sample {info.path}: {exc}") from None


def _real_plan(info: VideoInfo, plan: SamplingPlan, start: int = 0) -> SamplingPlan:
    return SamplingPlan(indices=info.clock_frames([start + i for i in plan.indices]), width=plan.width,
                        height=plan.height, fps=plan.fps, factor=plan.factor)


def sample_video(
    path: str | Path,
    fps: float | None = None,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    info: VideoInfo | None = None,
    total_pixels: int | None = None,
    min_pixels: int | None = None,
    rule: SamplingRule | None = None,
) -> SampledVideo:
    """Probe, plan (the family's rule and pixel budget, by time; see `plan_video`) and decode a whole video."""
    info = info or probe(path)
    plan = _real_plan(info, plan_video(info, fps=fps, max_frames=max_frames, max_pixels=max_pixels,
                                       total_pixels=total_pixels, min_pixels=min_pixels, rule=rule))
    frames = read_frames(path, plan.indices, plan.width, plan.height, info=info)
    return SampledVideo(info=info, plan=plan, frames=frames)


def sample_span(
    path: str | Path,
    info: VideoInfo,
    start_frame: int,
    end_frame: int,
    fps: float | None = None,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    rule: SamplingRule | None = None,
) -> SampledVideo:
    """Sample clock indices [start_frame, end_frame) by the family's rule, as if they were a whole video."""
    span = end_frame - start_frame
    plan = _real_plan(info, plan_video(info, fps=fps, max_frames=max_frames, max_pixels=max_pixels, frames=span,
                                       rule=rule), start_frame)
    frames = read_frames(path, plan.indices, plan.width, plan.height, info=info)
    return SampledVideo(info=info, plan=plan, frames=frames, start_frame=start_frame, span_frames=span)


def sample_tracking(
    path: str | Path,
    info: VideoInfo | None = None,
    total_pixels: int = TOTAL_PIXELS,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int | None = None,
) -> SampledVideo:
    """A tracking example's input as VideoChat-R1 trained and evaluated it (`vcr_cli.sampling.plan_tracking`).

    The 7 frames become a clip of their own at the nominal 2 fps (as the paper's frame lists), so the processor
    sees time step 1 s per 2-frame grid whatever the source's real rate; it repeats the last frame to make 8.
    """
    from vcr_cli.sampling import plan_tracking

    info = info or probe(path)
    plan = plan_tracking(info.frames, info.width, info.height, total_pixels=total_pixels, min_pixels=min_pixels,
                         max_pixels=max_pixels)
    frames = read_frames(path, plan.indices, plan.width, plan.height, info=info)
    nominal = VideoInfo(info.path, len(plan.indices), plan.fps, info.width, info.height)
    fed = SamplingPlan(indices=list(range(len(plan.indices))), width=plan.width, height=plan.height, fps=plan.fps)
    return SampledVideo(info=nominal, plan=fed, frames=frames)
