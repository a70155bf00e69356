"""Drawing on frames: a caption of any length fits the frame and the drawing ends (a too-wide caption used to
loop forever: shortening it gave back the same string)."""

from __future__ import annotations

import signal

import numpy as np
import pytest


@pytest.mark.parametrize(("width", "height"), [(160, 120), (640, 480), (1280, 720), (1920, 1080)])
def test_a_caption_of_any_length_fits_and_drawing_ends(width, height, monkeypatch):
    import cv2

    from vcr_cli.annotate import _scale, draw_caption

    def too_slow(signum, frame):
        raise AssertionError("draw_caption did not finish")

    shown = []
    real_put = cv2.putText
    monkeypatch.setattr(cv2, "putText",
                        lambda img, text, *a, **k: (shown.append(text), real_put(img, text, *a, **k))[1])
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(60)
    try:
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        for base in ("What happens? (B) a dog, barking ", "person opens the door and walks away ", "x"):
            for length in range(1, 300):  # 106 characters of the second looped forever at 1280x720
                assert draw_caption(frame.copy(), (base * 20)[:length]).shape == frame.shape
        draw_caption(frame.copy(), "What happens? (B) a dog, barking " * 13)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    scale = _scale(frame)
    font_scale, thickness = 0.6 * scale * 1.4, max(1, int(round(1.5 * scale)))
    widest = shown[-1]  # the 429-character caption, cut to fit with an ellipsis
    assert widest.endswith("...") and len(widest) < 429
    assert cv2.getTextSize(widest, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][0] <= width - int(16 * scale)
