"""Dense boxes from sparse keyframes: linear interpolation, refined by template matching.

VideoChat-R1 answers 8 boxes per window; `vcr track` needs one box on every frame. Between two
keyframes the box is first interpolated linearly (centre and size). Refinement then follows the
object's *appearance* between them: a template cut at each keyframe is matched forward from the
earlier keyframe and backward from the later one (normalized cross-correlation, sub-pixel peak,
scaled with the interpolated size), and the two centre tracks are blended with weights that go
linearly from one keyframe to the other. Keyframe boxes are therefore kept exactly, drift cannot
accumulate past the next keyframe, and motion that is not a straight line between keyframes is
followed. A segment whose match is weak or whose two tracks disagree falls back to the linear
boxes, so refinement never invents a path it did not see.

OpenCV 5's headless wheel ships only TrackerMIL (no CSRT/KCF, and the DNN trackers need model
files); plain template matching is faster than MIL and is what benchmarks/bench_track_interp.py
and tests/test_track.py measure against a clip with a known path.

Boxes are [x0, y0, x1, y1] in pixels of the original frame throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Box = list[float]

MIN_SCORE = 0.5  # weakest acceptable normalized cross-correlation on any frame of a segment
MAX_DISAGREEMENT = 0.5  # forward vs backward centre distance, as a fraction of the box diagonal (mean)
MIN_TEMPLATE_PX = 6  # templates smaller than this (at tracking resolution) are not matched
MAX_TEMPLATE_PX = 64  # larger boxes are matched on frames scaled down so that their long side is this
TRACK_LONG_SIDE = 480  # frames are matched at most this large (long side), for speed
CONTEXTS = (0.0, 0.15)  # template margins tried around the box (fraction of its size): background rarely moves
MIN_TEMPLATE_STD = 6.0  # gray levels; flatter templates have nothing to match
LINEAR_TOLERANCE_PX = 1.5  # a segment whose tracks never leave the linear path by more is kept linear


# ---------------------------------------------------------------- boxes


def clip_box(box: Sequence[float], width: float, height: float) -> Box:
    """Corners sorted and clipped to the frame [0, width] x [0, height]."""
    x0, x1 = sorted((float(box[0]), float(box[2])))
    y0, y1 = sorted((float(box[1]), float(box[3])))
    return [min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width),
            min(max(y1, 0.0), height)]


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def round_box(box: Sequence[float], ndigits: int = 2) -> Box:
    return [round(float(v), ndigits) + 0.0 for v in box]


def box_to_pixels(box_norm: Sequence[float], width: int, height: int) -> Box:
    return [box_norm[0] * width, box_norm[1] * height, box_norm[2] * width, box_norm[3] * height]


def box_to_norm(box: Sequence[float], width: int, height: int, ndigits: int = 3) -> list[float]:
    """Normalized to 0..1 with 3 decimals, like VideoChat-R1's GOT-10k annotations."""
    return [round(box[0] / width, ndigits), round(box[1] / height, ndigits), round(box[2] / width, ndigits),
            round(box[3] / height, ndigits)]


def lerp_box(a: Sequence[float], b: Sequence[float], w: float) -> Box:
    return [a[i] + (b[i] - a[i]) * w for i in range(4)]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def mean_iou(pred: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> float:
    if len(pred) != len(truth) or not pred:
        raise ValueError(f"need two equally long, non-empty box lists ({len(pred)} vs {len(truth)})")
    return sum(box_iou(p, t) for p, t in zip(pred, truth)) / len(pred)


# ---------------------------------------------------------------- interpolation


def interpolate(keyframes: Sequence[tuple[int, Sequence[float]]], first: int, last: int,
                time_of: Callable[[int], float] | None = None) -> list[Box]:
    """One box per frame first..last: linear between keyframes, held before the first and after the last.

    Linear in `time_of(frame)` (presentation time, for a variable-frame-rate video) when given, else in the index.
    """
    if not keyframes:
        raise ValueError("interpolation needs at least one keyframe")
    keys = sorted(keyframes, key=lambda k: k[0])
    out: list[Box] = []
    j = 0
    for frame in range(first, last + 1):
        while j + 1 < len(keys) and keys[j + 1][0] <= frame:
            j += 1
        fa, a = keys[j]
        if frame <= fa:
            out.append(list(map(float, a)))
        elif j + 1 < len(keys):
            fb, b = keys[j + 1]
            if time_of is not None and time_of(fb) > time_of(fa):
                w = (time_of(frame) - time_of(fa)) / (time_of(fb) - time_of(fa))
            else:
                w = (frame - fa) / (fb - fa)
            out.append(lerp_box(a, b, w))
        else:
            out.append(list(map(float, a)))
    return out


# ---------------------------------------------------------------- refinement


def tracking_size(width: int, height: int, long_side: int = TRACK_LONG_SIDE) -> tuple[int, int]:
    """The (even) size frames are matched at: the original, or smaller with the long side at `long_side`."""
    scale = min(1.0, long_side / max(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def iter_gray_frames(path: str | Path, first: int, last: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Frames first..last of a video (or frame folder), upright, at width x height, as grayscale uint8."""
    from vcr_cli.video import iter_frames

    yield from iter_frames(path, first, last, width, height, gray=True)


def _subpixel(values: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Parabolic refinement of a correlation peak."""
    dx = dy = 0.0
    h, w = values.shape
    if 0 < x < w - 1:
        left, mid, right = values[y, x - 1], values[y, x], values[y, x + 1]
        denom = left - 2 * mid + right
        if denom < 0:
            dx = float(0.5 * (left - right) / denom)
    if 0 < y < h - 1:
        up, mid, down = values[y - 1, x], values[y, x], values[y + 1, x]
        denom = up - 2 * mid + down
        if denom < 0:
            dy = float(0.5 * (up - down) / denom)
    return max(-0.5, min(0.5, dx)), max(-0.5, min(0.5, dy))


def _match_track(frames: Sequence[np.ndarray], boxes: Sequence[Sequence[float]]) -> tuple[list, list] | None:
    """Follow frames[0]'s content inside boxes[0] through the frames (tracking pixels).

    `boxes` are the interpolated boxes (their sizes scale the template; their centres are not used
    after the first). Returns per-frame centres and match scores, or None if no template can be cut.
    """
    import cv2
    import numpy as np

    fh, fw = frames[0].shape[:2]
    x0, y0, x1, y1 = boxes[0]
    bw, bh = x1 - x0, y1 - y0
    if bw < MIN_TEMPLATE_PX or bh < MIN_TEMPLATE_PX:
        return None
    for context in CONTEXTS:  # the box itself, unless it is flat inside: then its edges too
        mx, my = context * bw, context * bh
        tx0, ty0 = int(math.floor(max(0.0, x0 - mx))), int(math.floor(max(0.0, y0 - my)))
        tx1, ty1 = int(math.ceil(min(float(fw), x1 + mx))), int(math.ceil(min(float(fh), y1 + my)))
        template = frames[0][ty0:ty1, tx0:tx1].astype(np.float32)
        if float(template.std()) >= MIN_TEMPLATE_STD:
            break
    else:
        return None
    if template.shape[0] < MIN_TEMPLATE_PX or template.shape[1] < MIN_TEMPLATE_PX:
        return None
    # where the box centre sits inside the template (templates are clipped at the frame border)
    off_x, off_y = (x0 + x1) / 2 - tx0, (y0 + y1) / 2 - ty0
    centres = [((x0 + x1) / 2, (y0 + y1) / 2)]
    scores = [1.0]
    cx, cy = centres[0]
    vx = vy = 0.0
    for frame, box in zip(frames[1:], boxes[1:]):
        sx, sy = (box[2] - box[0]) / bw, (box[3] - box[1]) / bh
        if abs(sx - 1) > 0.02 or abs(sy - 1) > 0.02:
            tw, th = max(MIN_TEMPLATE_PX, round(template.shape[1] * sx)), max(MIN_TEMPLATE_PX,
                                                                                 round(template.shape[0] * sy))
            tmpl = cv2.resize(template, (tw, th), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
            ox, oy = off_x * tw / template.shape[1], off_y * th / template.shape[0]
        else:
            tmpl, ox, oy = template, off_x, off_y
        th, tw = tmpl.shape[:2]
        radius = 0.75 * max(tw, th) + 4
        px, py = cx + vx, cy + vy  # constant-velocity prediction
        sx0 = int(max(0, math.floor(px - ox - radius)))
        sy0 = int(max(0, math.floor(py - oy - radius)))
        sx1 = int(min(fw, math.ceil(px - ox + tw + radius)))
        sy1 = int(min(fh, math.ceil(py - oy + th + radius)))
        if sx1 - sx0 < tw or sy1 - sy0 < th:  # pushed out of the frame: no match from here on
            missing = len(frames) - len(centres)
            return centres + [centres[-1]] * missing, scores + [0.0] * missing
        search = frame[sy0:sy1, sx0:sx1].astype(np.float32)
        result = cv2.matchTemplate(search, tmpl, cv2.TM_CCOEFF_NORMED)
        result = np.nan_to_num(result, nan=-1.0)
        _, score, _, (mx_, my_) = cv2.minMaxLoc(result)
        dx, dy = _subpixel(result, mx_, my_)
        ncx, ncy = sx0 + mx_ + dx + ox, sy0 + my_ + dy + oy
        vx, vy = ncx - cx, ncy - cy
        cx, cy = ncx, ncy
        centres.append((cx, cy))
        scores.append(float(score))
    return centres, scores


@dataclass
class RefineReport:
    """How refinement went: segments refined by matching vs kept linear (and why)."""

    segments: int = 0
    refined: int = 0
    linear: int = 0
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"segments": self.segments, "refined": self.refined, "linear": self.linear,
                "fallback_reasons": dict(self.reasons)}


def refine_segment(frames: Sequence[np.ndarray], linear: Sequence[Sequence[float]],
                   report: RefineReport | None = None) -> list[Box] | None:
    """Refined boxes for one segment (frames[0] and frames[-1] are the keyframes), in tracking pixels.

    `linear` holds the linearly interpolated boxes of the same frames. Returns None (keep linear)
    when matching is weak or the forward and backward tracks disagree.
    """
    n = len(frames) - 1

    def fallback(reason: str) -> None:
        if report is not None:
            report.reasons[reason] = report.reasons.get(reason, 0) + 1
        return None

    if n < 2:
        return fallback("adjacent keyframes")
    # large boxes are matched on smaller frames: the cost stays bounded, the relative precision does not suffer
    longest = max(max(b[2] - b[0], b[3] - b[1]) for b in (linear[0], linear[-1]))
    factor = min(1.0, MAX_TEMPLATE_PX / max(longest, 1e-6))
    if factor < 1.0:
        import cv2

        h, w = frames[0].shape[:2]
        size = (max(2, int(round(w * factor))), max(2, int(round(h * factor))))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        fx, fy = size[0] / w, size[1] / h
        scaled = [[b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy] for b in linear]
    else:
        fx = fy = 1.0
        scaled = linear
    forward = _match_track(frames, scaled)
    backward = _match_track(frames[::-1], scaled[::-1])
    if forward is None or backward is None:
        return fallback("no usable template")
    (cf, sf), (cb, sb) = forward, backward
    cf = [(x / fx, y / fy) for x, y in cf]
    cb = [(x / fx, y / fy) for x, y in cb[::-1]]
    sb = sb[::-1]
    if min(sf[1:-1] + sb[1:-1]) < MIN_SCORE:
        return fallback("weak match")
    disagreement = 0.0
    for k in range(1, n):
        box = linear[k]
        diag = math.hypot(box[2] - box[0], box[3] - box[1])
        disagreement += math.hypot(cf[k][0] - cb[k][0], cf[k][1] - cb[k][1]) / max(diag, 1e-6)
    if disagreement / (n - 1) > MAX_DISAGREEMENT:
        return fallback("forward and backward tracks disagree")
    centres = []
    for k in range(n + 1):
        w = k / n
        centres.append(((1 - w) * cf[k][0] + w * cb[k][0], (1 - w) * cf[k][1] + w * cb[k][1]))
    deviation = max(math.hypot(c[0] - (b[0] + b[2]) / 2, c[1] - (b[1] + b[3]) / 2) for c, b in zip(centres, linear))
    if deviation < LINEAR_TOLERANCE_PX / min(fx, fy):  # in pixels of the frames matched
        return fallback("motion is linear")
    out = []
    for (cx, cy), box in zip(centres, linear):
        hw, hh = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
        out.append([cx - hw, cy - hh, cx + hw, cy + hh])
    return out


def refine(
    keyframes: Sequence[tuple[int, Sequence[float]]],
    frames: Iterable[np.ndarray],
    first: int,
    last: int,
    width: int,
    height: int,
    time_of: Callable[[int], float] | None = None,
) -> tuple[list[Box], RefineReport]:
    """One box per frame first..last (original pixels): linear boxes refined segment by segment.

    `frames` yields the frames first..last in order (grayscale, any size: boxes are scaled to it).
    Keyframe boxes are returned unchanged; frames outside the keyframes' span are held (as linear).
    Memory holds one segment of (small) frames at a time.
    """
    keys = sorted(keyframes, key=lambda k: k[0])
    boxes = interpolate(keys, first, last, time_of)
    report = RefineReport()
    key_frames = [f for f, _ in keys]
    buffer: list = []
    seg = 0  # index into key_frames of the current segment's start
    scale_x = scale_y = None
    for frame_index, frame in zip(range(first, last + 1), frames):
        if scale_x is None:
            scale_x, scale_y = frame.shape[1] / width, frame.shape[0] / height
        while seg + 1 < len(key_frames) and frame_index > key_frames[seg + 1]:
            seg += 1
        if frame_index < key_frames[0] or seg + 1 >= len(key_frames):
            continue
        fa, fb = key_frames[seg], key_frames[seg + 1]
        if frame_index == fa:
            buffer = [frame]
            continue
        buffer.append(frame)
        if frame_index < fb:
            continue
        report.segments += 1
        lin = [[b[0] * scale_x, b[1] * scale_y, b[2] * scale_x, b[3] * scale_y]
               for b in boxes[fa - first : fb - first + 1]]
        refined = refine_segment(buffer, lin, report) if len(buffer) == fb - fa + 1 else None
        if refined is None:
            report.linear += 1
        else:
            report.refined += 1
            for k, b in enumerate(refined[1:-1], start=1):
                boxes[fa - first + k] = clip_box([b[0] / scale_x, b[1] / scale_y, b[2] / scale_x, b[3] / scale_y],
                                                 width, height)
        buffer = [frame]
        seg += 1
    return boxes, report
