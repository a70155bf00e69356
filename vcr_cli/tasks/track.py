"""Object tracking: a box on every frame. The Python API behind `vcr track`.

VideoChat-R1 tracks the way it was trained on GOT-10k: given the object's name and its box in the
first frame (normalized, written as a Python list), it answers 8 normalized boxes. vcr covers a clip
(or a --start/--end range) with windows (15 s by default), each starting at the previous window's last
frame from the previous window's last box, then fills every frame in between (`vcr_cli.tracking`: linear
interpolation, refined by template matching where the match is trustworthy). A folder of frames (a
GOT-10k sequence) is one window by default, as the paper, training and `vcr rft eval` feed it: 7 frames
spread over the whole folder (`sampling.plan_tracking`'s frames).

On a variable-frame-rate video windows and keyframes are placed by presentation time (`window_keyframes`),
and boxes between keyframes are interpolated in time, so evenly timed frames reach the model and boxes
land on the frames' real times.

Frames per window, as in training and the paper's evaluation: the 7 frames of
`sampling.tracking_frame_indices` (first, int(i*(n-1)/6) for i = 1..5, last), the last repeated to
make the 8 the processor needs (as qwen-vl-utils pads a frame list), resized under the 3584*28*28
video budget (at most 768*28*28 pixels per frame, 1008x560 for 16:9 sources) and fed at a *nominal
2 fps*: VideoChat-R1's tracking data are frame lists, which its trainer and evaluator always passed
at fps 2 (the real spacing is recorded in the JSON).

Which frame each of the 8 answer boxes belongs to is *inferred, not published* (reference §5): in the
training data `gt[0]` is the start box (the prompt's `[START]`) and `gt[1]` is nearly identical to it
in every example, while 7 frames are fed. So box 0 echoes the start box, and box k >= 1 belongs to
fed frame k-1 (box 1 to the start frame, box 7 to the last frame). `sampling.BOX_FRAME` encodes this
(and `vcr rft convert` writes GOT-10k ground truth by it).

Without a start box the object is located in the first frame by Qwen2.5-VL's image grounding
(`{"bbox_2d": [...]}` in pixels of the resized image, mapped back to the original frame).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.errors import UsageError, VcrError
from vcr_cli.families import TRACK
from vcr_cli.parsing import extract_think, parse_bbox_2d, parse_track_lenient, parse_track_strict
from vcr_cli.results import base_result
from vcr_cli.sampling import (
    BOX_ALIGNMENT_NOTE,
    BOX_FRAME,
    IMAGE_FACTOR,
    SamplingPlan,
    plan_tracking,
    smart_resize,
    tracking_frame_indices,
)
from vcr_cli.scoring import (
    SAMPLE_AGREEMENT,
    TOKEN_PROBABILITY,
    agreement,
    answer_confidence,
    boxes_agree,
    samples_record,
)
from vcr_cli.tracking import box_area, box_to_norm, box_to_pixels, clip_box, interpolate, round_box
from vcr_cli.video import SampledVideo, VideoInfo
from vcr_cli.windows import TRACK_WINDOW_S

if TYPE_CHECKING:
    import numpy as np

    from vcr_cli.runtime import Runtime

KEYFRAMES = 8  # boxes per answer (VideoChat-R1's tracking format), and frames the processor sees (7 + 1 repeated)
FED_FRAMES = 7  # distinct frames fed per window: sampling.tracking_frame_indices (reference §5)
DEFAULT_WINDOW_S = TRACK_WINDOW_S  # about one GOT-10k training sequence (~150 frames at 10 fps)
TRAINING_TRACK_FPS = 2.0  # the nominal fps VideoChat-R1's tracking frame lists were always fed at
GROUNDING_PROMPT = "Locate the {object} in this image and output its bbox coordinates in JSON format."
GROUNDING_MAX_PIXELS = 1280 * 28 * 28  # transformers' default image budget for Qwen2-VL processors
GROUNDING_MIN_PIXELS = 4 * 28 * 28
GROUNDING_MAX_NEW_TOKENS = 256
MIN_LOCATED_SIDE = 2.0  # pixels of the original frame: a located box narrower or lower than this is refused
PIXEL_ANSWER_THRESHOLD = 1.5  # an answer with larger values is in pixels, not normalized (lenient parsing only)


class LocateError(VcrError):
    """The model could not find the object in the first frame (exit 1)."""


# ---------------------------------------------------------------- input validation (before any model work)


def parse_box_text(text: str) -> list[float]:
    """"X0,Y0,X1,Y1" (brackets and spaces allowed) -> 4 floats; UsageError otherwise."""
    cleaned = text.strip().strip("[]()").replace(" ", ",")
    parts = [p for p in cleaned.split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise UsageError(f"--box must be four numbers X0,Y0,X1,Y1 (got {text!r})")
    return values


def validate_start_box(box: list[float], width: int, height: int, normalized: bool) -> list[float]:
    """The user's start box in original pixels; UsageError when reversed, empty or outside the frame."""
    x0, y0, x1, y1 = box
    shown = ",".join(f"{v:g}" for v in box)
    if x1 <= x0 or y1 <= y0:
        raise UsageError(f"--box {shown} is reversed or empty: need X0 < X1 and Y0 < Y1")
    if normalized:
        if min(box) < 0 or max(box) > 1:
            raise UsageError(f"--box {shown} lies outside the frame: --normalized values go from 0 to 1")
        return box_to_pixels(box, width, height)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise UsageError(f"--box {shown} lies outside the {width}x{height} frame (pixels of the original video; "
                         "add --normalized for 0..1 values)")
    return [float(v) for v in box]


def frame_range(info: VideoInfo, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    """First and last frame (inclusive) of the --start/--end range; UsageError if it is empty."""
    duration = info.duration
    if start_s is not None and start_s < 0:
        raise UsageError(f"--start must be 0 or more (got {start_s:g})")
    if start_s is not None and start_s >= duration:
        raise UsageError(f"--start {start_s:g}s is past the end of the video ({duration:.2f}s)")
    if end_s is not None and end_s <= (start_s or 0.0):
        raise UsageError(f"--end {end_s:g}s must come after --start ({start_s or 0.0:g}s)")
    first = 0 if start_s is None else info.frame_at(start_s)
    last = info.frames - 1 if end_s is None else info.frame_at(end_s)
    if last - first < 1:
        raise UsageError(f"the range {start_s or 0.0:g}s..{end_s if end_s is not None else duration:g}s holds "
                         "fewer than 2 frames; widen --start/--end")
    return first, last


# ---------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """One model call: the 7 fed frames from `first` to `last` (inclusive, both fed)."""

    index: int
    first: int
    last: int
    keyframes: tuple[int, ...]


def window_keyframes(info: VideoInfo, first: int, last: int) -> tuple[int, ...]:
    """The 7 fed frames of the window first..last: the paper's tracking rule, by presentation time.

    Constant frame rate: `first + tracking_frame_indices(n)`, the paper's frames exactly. Variable frame rate: the
    frames shown nearest to the 5 times evenly spaced between the first and last frame's times (frame indices
    there are not a clock: 60 fps then 10 fps would put 5 of 7 keyframes in the first half), so the model, which
    was trained on evenly timed frames, gets evenly timed frames.
    """
    if info.constant_rate:
        return tuple(first + i for i in tracking_frame_indices(last - first + 1))
    t0, t1 = info.time_of(first), info.time_of(last)
    step = (t1 - t0) / (FED_FRAMES - 1)
    middle = [min(max(info.frame_at(t0 + i * step), first), last) for i in range(1, FED_FRAMES - 1)]
    return (first, *middle, last)


def span_seconds(info: VideoInfo, first: int, last: int) -> float:
    """How long frames first..last are shown: frames / fps on a constant frame rate, by their times otherwise
    (until the next frame, or the video's end)."""
    if info.constant_rate:
        return (last - first + 1) / info.fps
    end = info.time_of(last + 1) if last + 1 < info.frames else info.duration
    return end - info.time_of(first)


def default_window(info: VideoInfo) -> float | None:
    """`--window` when not given: one window over a frame folder (as the paper, `vcr rft eval` and training feed a
    GOT-10k sequence: 7 frames spread over all of it), `TRACK_WINDOW_S` over a video."""
    return None if info.is_frame_folder else DEFAULT_WINDOW_S


def plan_windows(info: VideoInfo, first: int, last: int, window_s: float | None = None) -> list[Window]:
    """Cover frames first..last with windows of about `window_s` seconds that share their boundary frames.

    `window_s` None is `default_window(info)`: one window over a frame folder, 15 s windows over a video. The
    count is round(range / window_s) (so each window lasts 0.67-1.5x the target), at least 1, and small enough
    that every window still spans 7 distinct frames (the paper's tracking rule). Boundaries and keyframes are
    placed by presentation time (`window_keyframes`), which on a constant frame rate is by index.
    """
    window_s = default_window(info) if window_s is None else window_s
    if window_s is not None and window_s <= 0:
        raise UsageError(f"--window must be positive (got {window_s:g})")
    frames = last - first + 1
    t0, t1 = info.time_of(first), info.time_of(last)
    count = 1 if window_s is None else max(1, round(span_seconds(info, first, last) / window_s))
    count = max(1, min(count, (frames - 1) // (FED_FRAMES - 1)))
    while True:
        if info.constant_rate:
            bounds = [first + round(k * (frames - 1) / count) for k in range(count + 1)]
        else:
            bounds = [first, *(info.frame_at(t0 + k * (t1 - t0) / count) for k in range(1, count)), last]
        if count == 1 or all(b - a >= FED_FRAMES - 1 for a, b in zip(bounds, bounds[1:])):
            break
        count -= 1  # a variable-rate stretch too sparse for 7 distinct frames per window: fewer, longer windows
    return [Window(k, a, b, window_keyframes(info, a, b)) for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def window_size(info: VideoInfo, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of the frames the model sees: the training video budget shared by 8 frames (7 + 1 pad)."""
    plan = plan_tracking(FED_FRAMES, info.width, info.height, max_pixels=max_pixels)
    return plan.width, plan.height


def window_video(info: VideoInfo, frames: np.ndarray) -> SampledVideo:
    """A window's fed frames as a SampledVideo at the nominal training fps (a frame list, as in GOT-10k training).

    An odd count is padded by repeating the last frame, as qwen-vl-utils pads a frame list (7 -> 8).
    """
    import numpy as np

    if len(frames) % 2:
        frames = np.concatenate([frames, frames[-1:]], axis=0)
    n = len(frames)
    nominal = VideoInfo(info.path, n, TRAINING_TRACK_FPS, info.width, info.height)
    plan = SamplingPlan(indices=list(range(n)), width=int(frames.shape[2]), height=int(frames.shape[1]),
                        fps=TRAINING_TRACK_FPS)
    return SampledVideo(info=nominal, plan=plan, frames=frames)


def _decode_windows(path: Path, windows: list[Window], width: int, height: int,
                    source_size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Each window's keyframes, resized, in window order (vcr_cli.video.read_frames: seeks to each window)."""
    from vcr_cli.video import read_frames

    for w in windows:
        yield read_frames(path, list(w.keyframes), width, height, source_size=source_size)


class WindowFrames:
    """Decodes windows' keyframes in a background thread (starts at once: overlaps model loading).

    At most `ahead` windows wait in memory; `seconds` is the time spent decoding (not waiting).
    """

    def __init__(self, path: str | Path, windows: list[Window], width: int, height: int,
                 source_size: tuple[int, int] | None = None, ahead: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._done = object()
        self._stop = threading.Event()
        self.seconds = 0.0

        def work() -> None:
            try:
                decoder = _decode_windows(Path(path), windows, width, height, source_size)
                while not self._stop.is_set():
                    start = time.perf_counter()
                    frames = next(decoder, None)
                    self.seconds += time.perf_counter() - start
                    if frames is None:
                        break
                    self._put(frames)
            except BaseException as exc:  # re-raised in the consumer
                self._put(exc)
            finally:
                self._put(self._done)

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._queue.get()
            if item is self._done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop decoding (e.g. after a failure) and let the thread end."""
        self._stop.set()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------- start box from the model


def grounding_size(info: VideoInfo, max_pixels: int | None = None) -> tuple[int, int]:
    cap = GROUNDING_MAX_PIXELS if max_pixels is None else min(GROUNDING_MAX_PIXELS, max_pixels)
    height, width = smart_resize(info.height, info.width, factor=IMAGE_FACTOR, min_pixels=GROUNDING_MIN_PIXELS,
                                 max_pixels=max(cap, GROUNDING_MIN_PIXELS))
    return width, height


def locate(runtime: Runtime, info: VideoInfo, frame: int, object_name: str, max_pixels: int | None = None,
           image: np.ndarray | None = None) -> tuple[list[float], dict]:
    """Find the object in one frame with image grounding; (box in original pixels, record for the JSON)."""
    from vcr_cli.video import read_frames

    width, height = grounding_size(info, max_pixels)
    if image is None:
        image = read_frames(info.path, [frame], width, height)[0]
    prompt = GROUNDING_PROMPT.format(object=object_name)
    generation = runtime.generate_image(prompt, image, max_new_tokens=GROUNDING_MAX_NEW_TOKENS)
    found = parse_bbox_2d(generation.text)
    record = {"frame": frame, "prompt": prompt, "image_size": [width, height], "raw": generation.text,
              "box_resized": found, "tokens": {"prompt": generation.prompt_tokens,
                                               "generated": generation.new_tokens},
              "seconds": round(generation.seconds, 3)}
    if found is None:
        raise LocateError(f"the model did not locate {object_name!r} in the first frame (answer: "
                          f"{generation.text.strip()[:120]!r}); pass its box with --box X0,Y0,X1,Y1")
    if max(found) <= 1.0:
        # Qwen2.5-VL answers image grounding in pixels of the image it saw; VideoChat-R1 was trained to answer
        # tracking in 0..1 coordinates and may do so here too. No real pixel box fits in 1x1 pixel.
        record["box_units"] = "normalized"
        sx, sy = float(info.width), float(info.height)
    else:
        record["box_units"] = f"pixels of the {width}x{height} image"
        sx, sy = info.width / width, info.height / height
    box = clip_box([found[0] * sx, found[1] * sy, found[2] * sx, found[3] * sy], info.width, info.height)
    if box[2] - box[0] < MIN_LOCATED_SIDE or box[3] - box[1] < MIN_LOCATED_SIDE:
        raise LocateError(f"the model's box for {object_name!r} ({found}, {record['box_units']}) is "
                          f"{box[2] - box[0]:.1f}x{box[3] - box[1]:.1f} pixels inside the {info.width}x{info.height} "
                          "frame: too small to track; pass the object's box with --box X0,Y0,X1,Y1")
    return box, record


# ---------------------------------------------------------------- the task


def _normalized(boxes: list[list[float]] | None, size: tuple[int, int]) -> list[list[float]] | None:
    """An answer's boxes in 0..1 (a pixel answer, Qwen2.5-VL's habit, is divided by the keyframes' size)."""
    if not boxes:
        return None
    if max(max(b) for b in boxes) <= PIXEL_ANSWER_THRESHOLD:
        return boxes
    w, h = size
    return [[b[0] / w, b[1] / h, b[2] / w, b[3] / h] for b in boxes]


def score_window(runtime: Runtime, generation, boxes: list[list[float]] | None, drawn: list, strict: bool,
                 size: tuple[int, int], seed: int) -> dict:
    """A window's `score` (+ `token_score` and `samples` with K draws); see `vcr_cli.scoring`."""
    parsed = boxes is not None and len(boxes) == KEYFRAMES
    confidence = answer_confidence(runtime, generation, "numbers") if parsed else None
    fields: dict = {"score": round(confidence, 4) if confidence is not None else None}
    if not drawn:
        return fields
    parse = parse_track_strict if strict else parse_track_lenient
    answers = [parse(g.text) for g in drawn]
    answers = [a if a is not None and len(a) == KEYFRAMES else None for a in answers]
    share = agreement(_normalized(boxes, size), [_normalized(a, size) for a in answers], boxes_agree) if parsed \
        else None
    if share is not None:
        fields = {"score": round(share, 4), "token_score": fields["score"]}
    fields["samples"] = samples_record(len(drawn), seed, "mean box IoU >= 0.5 with the reported boxes",
                                       [{"raw": g.text, "boxes": a} for g, a in zip(drawn, answers)],
                                       agreeing=round(share * len(drawn)) if share is not None else 0)
    return fields


def _time(frame: int, info: VideoInfo) -> float:
    """The frame's presentation time (s): the video's own clock, variable frame rate included."""
    return round(info.time_of(frame), 3)


def track(
    runtime: Runtime,
    video: str | Path,
    object_name: str,
    start_box: list[float] | None = None,
    *,
    info: VideoInfo | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    window_s: float | None = None,
    think: bool = True,
    strict: bool = False,
    refine: bool = True,
    max_new_tokens: int | None = None,
    max_pixels: int | None = None,
    frames: WindowFrames | None = None,
    windows: list[Window] | None = None,
    progress: Callable[[str], None] | None = None,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Track `object_name` through the video (or start_s..end_s): keyframes from the model, a box per frame.

    `start_box` is in original pixels of the range's first frame (validated by the caller; see
    `validate_start_box`); None locates the object with image grounding. `frames`/`windows` let the
    caller start decoding before the model is loaded (see `WindowFrames`). Boxes are clipped to the frame.
    Each window's `score` is the probability of the tokens writing its boxes' numbers, or with `samples` K > 0 the
    share of K answers drawn at temperature 1 whose boxes have a mean IoU >= 0.5 with the reported ones; the
    result's `score` is the mean over the parsed windows.
    """
    from vcr_cli.video import probe

    runtime.family.require(TRACK)  # one line naming the families that track, before any decoding
    layout = runtime.family.layout(TRACK)
    max_new_tokens = runtime.new_token_budget(max_new_tokens)
    timings: dict[str, float] = {}
    info = info or probe(video)
    first, last = frame_range(info, start_s, end_s)
    windows = windows or plan_windows(info, first, last, window_s)
    width, height = window_size(info, max_pixels)
    if frames is None:
        frames = WindowFrames(video, windows, width, height, source_size=(info.width, info.height))

    grounding = None
    if start_box is None:
        if progress:
            progress(f"Locating {object_name} in the first frame...")
        try:
            start_box, grounding = locate(runtime, info, first, object_name, max_pixels)
        except BaseException:
            frames.close()
            raise
        source = "model"
    else:
        source = "user"
        start_box = clip_box(start_box, info.width, info.height)

    # the first keyframe is the start box: "user" (--box) or "grounding" (located by the model in that frame)
    keyframes: dict[int, dict] = {first: {"frame": first, "time": _time(first, info), "box": round_box(start_box),
                                          "source": "user" if source == "user" else "grounding", "window": 0}}
    known = (first, start_box)  # the latest frame with a box, and that box
    raws, window_records = [], []
    prompt_tokens = new_tokens = 0
    generate_s = 0.0
    template = None
    try:
        for window, window_frames in zip(windows, frames):
            if progress:
                progress(f"Tracking {object_name}: window {window.index + 1}/{len(windows)}...")
            carried = known[0] != window.first
            prompt_box = box_to_norm(known[1], info.width, info.height)
            template, prompt = runtime.family.render(TRACK, object_name=object_name, start_box_norm=prompt_box,
                                                     think=think)
            clip = window_video(info, window_frames)
            if samples:
                generation, drawn = runtime.answer_and_sample(prompt, clip, samples, max_new_tokens=max_new_tokens,
                                                              seed=seed + window.index, layout=layout)
            else:
                generation, drawn = runtime.generate_scored(prompt, clip, max_new_tokens=max_new_tokens,
                                                            layout=layout), []
            prompt_tokens += generation.prompt_tokens
            new_tokens += generation.new_tokens
            generate_s += generation.seconds
            raws.append(generation.text)
            strict_boxes = parse_track_strict(generation.text)
            boxes = strict_boxes if strict else parse_track_lenient(generation.text)
            record = {"index": window.index, "first_frame": window.first, "last_frame": window.last,
                      "start": _time(window.first, info), "end": _time(window.last, info),
                      "keyframe_frames": list(window.keyframes),
                      "box_frames": [window.keyframes[i] for i in BOX_FRAME], "start_box_norm": prompt_box,
                      "start_box_source": "carried" if carried else ("previous window" if window.index else source),
                      "strict_format_ok": strict_boxes is not None, "boxes": boxes, "units": "normalized",
                      "thinking": extract_think(generation.text),
                      "tokens": {"prompt": generation.prompt_tokens, "generated": generation.new_tokens},
                      "seconds": round(generation.seconds, 3)}
            record.update(score_window(runtime, generation, boxes, drawn, strict, (width, height), seed + window.index))
            window_records.append(record)
            if boxes is None or len(boxes) != KEYFRAMES:
                record["status"] = "unparsed" if not boxes else f"{len(boxes)} boxes (need {KEYFRAMES})"
                continue
            scale_w, scale_h = info.width, info.height
            if not strict and max(max(b) for b in boxes) > PIXEL_ANSWER_THRESHOLD:
                # Qwen2.5-VL's habit (absolute pixels of the frames it saw) instead of the trained 0..1 values
                record["units"] = f"pixels of the {width}x{height} keyframes"
                scale_w, scale_h = info.width / width, info.height / height
            dropped = []
            # box 0 echoes the prompt's start box; box 1 is the start frame, whose box is already known (given,
            # located or the previous window's last) unless the previous window failed; box k is fed frame k-1
            for k, (frame, answer) in enumerate(zip(record["box_frames"], boxes)):
                if k == 0 or frame in keyframes:
                    continue
                box = clip_box([answer[0] * scale_w, answer[1] * scale_h, answer[2] * scale_w, answer[3] * scale_h],
                               info.width, info.height)
                if box_area(box) <= 0:
                    dropped.append(k)
                    continue
                keyframes[frame] = {"frame": frame, "time": _time(frame, info), "box": round_box(box),
                                    "source": "model", "window": window.index}
                known = (frame, box)
            record["status"] = "ok"
            if dropped:
                record["dropped_empty_boxes"] = dropped
    finally:
        frames.close()
    timings["decode_keyframes"] = round(frames.seconds, 3)
    timings["generate"] = round(generate_s, 3)

    ordered = [keyframes[f] for f in sorted(keyframes)]
    keys = [(k["frame"], k["box"]) for k in ordered]
    clock = None if info.constant_rate else info.time_of  # variable frame rate: in-between boxes follow time
    boxes = interpolate(keys, first, last, clock)
    refinement, report, sources = "linear", None, None
    if refine and len(keys) >= 2:
        from vcr_cli.tracking import iter_gray_frames, tracking_size
        from vcr_cli.tracking import refine as refine_boxes

        if progress:
            progress("Refining boxes between keyframes...")
        t = time.perf_counter()
        tw, th = tracking_size(info.width, info.height)
        refined, refine_report = refine_boxes(keys, iter_gray_frames(video, first, last, tw, th), first, last,
                                              info.width, info.height, clock)
        timings["refine"] = round(time.perf_counter() - t, 3)
        report = refine_report.to_dict()
        refinement = "template-matching" if refine_report.refined else "linear"  # what the boxes really are
        sources = [None if a == b else "refined" for a, b in zip(boxes, refined)]
        boxes = refined
    key_frames = set(keyframes)
    last_key = ordered[-1]["frame"]
    frames_out = []
    for i, box in enumerate(boxes):
        frame = first + i
        if frame in key_frames:
            kind = "keyframe"
        elif frame > last_key:
            kind = "held"
        else:
            kind = (sources[i] if sources else None) or "interpolated"
        frames_out.append({"frame": frame, "time": _time(frame, info), "box": round_box(box), "source": kind})

    parsed = sum(1 for r in window_records if r["status"] == "ok")
    scores = [r["score"] for r in window_records if r["status"] == "ok" and r.get("score") is not None]
    status = "ok" if parsed == len(windows) else ("partial" if parsed else "unparsed")
    anchor = SampledVideo(info=info, plan=SamplingPlan(list(windows[0].keyframes), width, height, TRAINING_TRACK_FPS),
                          frames=None)
    result = base_result("track", runtime, anchor)
    span = span_seconds(info, windows[0].first, windows[0].last)
    result["sampling"] = {"frames": KEYFRAMES, "distinct_frames": FED_FRAMES, "fps": TRAINING_TRACK_FPS,
                          "width": width, "height": height, "video_tokens": anchor.plan.video_tokens,
                          "windows": len(windows), "window_s": round(span, 3), "window_s_requested": window_s,
                          "window_rule": ("as requested" if window_s is not None else
                                          "one window over the frame folder (the paper's 7 frames spread over it, "
                                          "as in training and vcr rft eval)" if info.is_frame_folder else
                                          f"{DEFAULT_WINDOW_S:g} s windows (the default on a video)"),
                          "real_fps": round(FED_FRAMES / span, 6),
                          "fps_note": "7 frames per window (the paper's tracking rule, the last repeated to make 8) "
                                      "fed at VideoChat-R1's nominal tracking fps (2), as in training",
                          "box_alignment": BOX_ALIGNMENT_NOTE}
    result.update(
        {
            "object": object_name,
            "status": status,
            "score": round(sum(scores) / len(scores), 4) if scores else None,
            "score_method": SAMPLE_AGREEMENT if samples else TOKEN_PROBABILITY,
            "start_box": round_box(start_box),
            "start_box_source": source,
            "start_box_norm": box_to_norm(start_box, info.width, info.height),
            "grounding": grounding,
            "range": {"first_frame": first, "last_frame": last, "start": _time(first, info),
                      "end": _time(last, info)},
            "keyframes": ordered,
            "frames": frames_out,
            "refinement": refinement,
            "refinement_report": report,
            "raw": raws,
            "windows": window_records,
            "prompt_template": template,
            "parser": "strict" if strict else "lenient",
            "tokens": {"prompt": prompt_tokens, "generated": new_tokens},
            "timings_s": timings,
        }
    )
    if grounding is not None:
        result["tokens"]["prompt"] += grounding["tokens"]["prompt"]
        result["tokens"]["generated"] += grounding["tokens"]["generated"]
        timings["locate"] = grounding["seconds"]
    return result


# ---------------------------------------------------------------- annotation


def track_drawer(result: dict):
    """A draw function for annotate_video: the box, a label, and the path traced so far (supervision)."""
    import cv2
    import numpy as np
    import supervision as sv

    by_frame = {f["frame"]: f for f in result["frames"]}
    keyframes = result["keyframes"]
    name = result["object"]
    longest = max(1, len(by_frame))
    scale = max(0.4, min(result["video"]["width"], result["video"]["height"]) / 720)
    color = sv.Color(r=113, g=204, b=46)  # supervision writes BGR; frames here are RGB: this draws (46, 204, 113)
    box_annotator = sv.BoxAnnotator(color=color, thickness=max(2, int(round(3 * scale))))
    label_annotator = sv.LabelAnnotator(color=color, text_color=sv.Color.BLACK, text_scale=0.6 * scale,
                                        text_thickness=max(1, int(round(1.5 * scale))),
                                        text_padding=max(4, int(8 * scale)))
    trace_annotator = sv.TraceAnnotator(color=color, trace_length=longest, thickness=max(2, int(round(2 * scale))))
    key_set = {k["frame"] for k in keyframes}

    def draw(frame: np.ndarray, index: int, t: float) -> np.ndarray:
        entry = by_frame.get(index)
        if entry is None:
            return frame
        detections = sv.Detections(xyxy=np.array([entry["box"]], dtype=np.float32), class_id=np.array([0]),
                                   tracker_id=np.array([1]))
        frame = trace_annotator.annotate(frame, detections)
        for k in keyframes:  # the model's keyframes seen so far, as dots
            if k["frame"] > index:
                break
            x0, y0, x1, y1 = k["box"]
            cv2.circle(frame, (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))), max(3, int(4 * scale)),
                       (255, 255, 255), -1, cv2.LINE_AA)
        frame = box_annotator.annotate(frame, detections)
        label = f"{name} (keyframe)" if index in key_set else name
        return label_annotator.annotate(frame, detections, labels=[label])

    return draw
