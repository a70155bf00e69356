"""Drawing on frames (RGB uint8): a timeline bar for segments, a caption, boxes with labels.

Drawers take data per call and return the frame, like supervision's annotators; boxes, labels
and traces use supervision directly, the timeline (which supervision has no annotator for) uses
OpenCV primitives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SEGMENT_RGB = (46, 204, 113)
PLAYHEAD_RGB = (255, 255, 255)
TRACK_RGB = (60, 60, 60)
HIGHLIGHT_RGB = (46, 204, 113)


def _scale(frame: np.ndarray) -> float:
    return max(0.4, min(frame.shape[0], frame.shape[1]) / 720)


def draw_caption(frame: np.ndarray, text: str, y: int | None = None) -> np.ndarray:
    """Text on a dark band at the top of the frame (truncated to fit)."""
    import cv2

    s = _scale(frame)
    font_scale, thickness = 0.6 * s * 1.4, max(1, int(round(1.5 * s)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    max_w = frame.shape[1] - int(16 * s)
    full, keep = text, len(text)
    while tw > max_w and keep > 1:  # keep strictly fewer characters of the full text each time: it ends
        keep = max(1, min(keep - 1, int(keep * max_w / tw)))
        text = full[:keep].rstrip() + "..."
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    pad = int(8 * s)
    top = y if y is not None else 0
    overlay = frame.copy()
    cv2.rectangle(overlay, (0, top), (frame.shape[1], top + th + base + 2 * pad), (0, 0, 0), -1)
    cv2.addWeighted(overlay, 0.55, frame, 0.45, 0, dst=frame)
    cv2.putText(frame, text, (pad, top + pad + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255),
                thickness, cv2.LINE_AA)
    return frame


def draw_timeline(
    frame: np.ndarray,
    time: float,
    duration: float,
    segments: list[tuple[float, float]],
) -> np.ndarray:
    """A bar along the bottom: segments filled, the playhead as a vertical line."""
    import cv2

    h, w = frame.shape[:2]
    s = _scale(frame)
    bar_h = max(6, int(14 * s))
    margin = max(4, int(12 * s))
    y0, y1 = h - margin - bar_h, h - margin
    x0, x1 = margin, w - margin
    overlay = frame.copy()
    cv2.rectangle(overlay, (x0, y0), (x1, y1), TRACK_RGB, -1)
    cv2.addWeighted(overlay, 0.7, frame, 0.3, 0, dst=frame)
    span = max(duration, 1e-6)
    for start, end in segments:
        sx = x0 + int((x1 - x0) * max(0.0, min(1.0, start / span)))
        ex = x0 + int((x1 - x0) * max(0.0, min(1.0, end / span)))
        cv2.rectangle(frame, (sx, y0), (max(ex, sx + 1), y1), SEGMENT_RGB, -1)
    px = x0 + int((x1 - x0) * max(0.0, min(1.0, time / span)))
    cv2.line(frame, (px, y0 - int(4 * s)), (px, y1 + int(4 * s)), PLAYHEAD_RGB, max(2, int(3 * s)))
    return frame


def draw_highlight(frame: np.ndarray, label: str = "") -> np.ndarray:
    """A coloured border (and optional tag) while the playhead is inside a segment."""
    import cv2

    h, w = frame.shape[:2]
    s = _scale(frame)
    t = max(3, int(8 * s))
    cv2.rectangle(frame, (0, 0), (w - 1, h - 1), HIGHLIGHT_RGB, t)
    if label:
        font_scale, thickness = 0.55 * s * 1.4, max(1, int(round(1.5 * s)))
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        x, y = w - tw - 3 * t, h - int(40 * s) - th
        cv2.rectangle(frame, (x - t, y - th - t), (x + tw + t, y + base + t // 2), HIGHLIGHT_RGB, -1)
        cv2.putText(frame, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return frame


def timeline_drawer(duration: float, spans: list[tuple[float, float, str]], caption: str):
    """A draw(frame, index, time) for annotate_video: caption, timeline of spans, highlight inside one.

    `spans` are (start, end, label); the label of the span under the playhead tags the highlight.
    """

    def draw(frame, index: int, time: float):
        current = next((span for span in spans if span[0] <= time <= span[1]), None)
        if current is not None:
            draw_highlight(frame, current[2])
        draw_caption(frame, f"{caption}  {time:6.2f}s")
        draw_timeline(frame, time, duration, [(start, end) for start, end, _ in spans])
        return frame

    return draw
