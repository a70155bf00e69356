"""Parsers against realistic answers (reference §8); they never raise."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcr_cli import parsing

THINK_ANSWER = (
    "<think>The person walks to the door at <timestep>20.10 to 23.00</timestep> and reaches the switch; "
    "the light turns on around <timestep>24.50</timestep>.</think>\n<answer>24.30 to 30.40</answer>"
)
EIGHT = (
    "<answer>[[0.09,0.0,0.8,0.8],[0.1,0.0,0.8,0.79],[0.11,0.09,0.75,0.96],[0.08,0.01,0.64,0.88],"
    "[0.01,0.0,0.6,0.86],[0.05,0.0,0.64,0.83],[0.1,0.09,0.76,0.88],[0.13,0.0,0.71,0.8]]</answer>"
)


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        (THINK_ANSWER, (24.3, 30.4), (24.3, 30.4)),  # think with timesteps, answer last
        ('<think>...</think><answer>"12.54 to 17.83"</answer>', (12.54, 17.83), (12.54, 17.83)),  # quoted
        ("<think>...</think><answer>from 3.2 and 8.0 seconds</answer>", (3.2, 8.0), (3.2, 8.0)),  # "and"
        ("<answer>12.5s - 17.8s</answer>", None, (12.5, 17.8)),  # dash + units: lenient only
        ("1.5 - 3.2", None, (1.5, 3.2)),  # no tags
        ("<answer>[1.5, 3.2]</answer>", None, (1.5, 3.2)),  # list
        ("1.5s to 3.2s", None, (1.5, 3.2)),  # units
        ("<answer>1.5 to 3.2", (1.5, 3.2), (1.5, 3.2)),  # missing closing tag
        ("<answer>00:01.5 - 00:03</answer>", None, (1.5, 3.0)),  # clock times
        ("<answer>3.2 to 1.5</answer>", (3.2, 1.5), (1.5, 3.2)),  # reversed: strict keeps, lenient sorts
        ("I cannot tell.", None, None),  # nothing
        # The answer wins over the thinking whenever it holds two numbers (issue 11); the eval rule reads the think.
        ("<think>walks in <timestep>20.10 to 23.00</timestep></think><answer>Start: 24.30, End: 30.40</answer>",
         (20.1, 23.0), (24.3, 30.4)),
        ("<answer>from 24.30 to 30.40 (about 6 - 7 s)</answer>", (24.3, 30.4), (24.3, 30.4)),  # "to" before an aside
        ("<think>at 2.0 to 3.0</think><answer>[24.3, 30.4]</answer>", (2.0, 3.0), (24.3, 30.4)),
        ("<think>at 2.0 to 3.0</think><answer>24.3s - 30.4s</answer>", (2.0, 3.0), (24.3, 30.4)),
        ("<think>at 2.0 to 3.0</think><answer>start 24.3, end 30.4, so 6.1 s long</answer>",
         (2.0, 3.0), (24.3, 30.4)),  # first two numbers
        ("<think>at 2.0 to 3.0</think><answer>between 24.3 and 30.4 seconds, not 1 to 2</answer>",
         (1.0, 2.0), (24.3, 30.4)),  # the first "x to y"-style span in the answer
        ("<answer>from 00:24.3 until 00:30.4 (6 - 7 s)</answer>", None, (24.3, 30.4)),  # clock times, "until"
        ("<think>at 2.0 to 3.0</think><answer>about 24 s</answer>", (2.0, 3.0), (2.0, 3.0)),  # one number: fall back
        ("<think>at 2.0 to 3.0</think><answer>unsure</answer>", (2.0, 3.0), (2.0, 3.0)),
        ("", None, None),  # empty
    ],
)
def test_ground_parsers(text, strict, lenient):
    assert parsing.parse_ground_strict(text) == strict
    assert parsing.parse_ground_lenient(text) == lenient


def test_train_parser_rejects_reversed_and_needs_answer_block():
    assert parsing.parse_ground_train("<answer>3.2 to 1.5</answer>") is None
    assert parsing.parse_ground_train("1.0 to 2.0") is None
    assert parsing.parse_ground_train("<answer>a</answer><answer>1.0 TO 2.0</answer>") == (1.0, 2.0)


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        ("<answer>C</answer>\n<glue>[(23.0, 27.7)]</glue>", [(23.0, 27.7)], [(23.0, 27.7)]),
        ("<answer>(C) lay on floor</answer><glue>[[23.0, 27.7]]</glue>", None, [(23.0, 27.7)]),  # lists
        ("<glue>[(1, 2), (3.5, 4)]</glue>", [(1.0, 2.0), (3.5, 4.0)], [(1.0, 2.0), (3.5, 4.0)]),
        ("<glue>[]</glue>", [], []),  # empty list is valid
        ("<glue>[(4.0, 2.0)]</glue>", None, [(2.0, 4.0)]),  # reversed
        ("<glue>[( 1.0, 2.0)]</glue>", None, [(1.0, 2.0)]),  # space inside the tuple
        ("no glue", None, None),
    ],
)
def test_glue(text, strict, lenient):
    assert parsing.parse_glue_strict(text) == strict
    assert parsing.parse_glue_lenient(text) == lenient


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        ("<answer>C</answer>", "C", "C"),
        ("<answer>(C) lay on floor</answer>", "C", "C"),
        ("<answer>The answer is B.</answer>", "B", "B"),
        ("<answer>Bob</answer>", "B", None),  # the eval rule takes the first A-G character
        ("C", None, "C"),  # no tags
        ("<answer>c</answer>", None, None),
    ],
)
def test_letters(text, strict, lenient):
    assert parsing.parse_letter_strict(text) == strict
    assert parsing.parse_letter_lenient(text, num_options=5) == lenient


def test_track_parsers():
    boxes = parsing.parse_track_strict(EIGHT)
    assert boxes is not None and len(boxes) == 8 and boxes[0] == [0.09, 0.0, 0.8, 0.8]
    assert parsing.parse_track_strict("<answer>[[0.1,0.5,0.3,0.55],[0.72,0.25,0.84,0.43]]</answer>") is None
    assert parsing.parse_track_lenient("<answer>[[0.3,0.5,0.1,0.55]]") == [[0.1, 0.5, 0.3, 0.55]]
    assert parsing.parse_bbox_2d('```json\n[{"bbox_2d": [10, 20, 30, 40], "label": "car"}]\n```') == [10, 20, 30, 40]


def test_ious():
    assert parsing.temporal_iou((24.3, 30.4), (24.3, 30.4)) == 1.0
    assert parsing.temporal_iou((20.0, 26.0), (24.3, 30.4)) == pytest.approx(1.7 / 10.4)
    assert parsing.temporal_iou((0, 1), (2, 3)) == 0.0
    assert parsing.box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_parsers_never_raise(text):
    for fn in (parsing.parse_ground_strict, parsing.parse_ground_lenient, parsing.parse_ground_train,
               parsing.parse_glue_strict, parsing.parse_glue_lenient, parsing.parse_letter_strict,
               parsing.parse_track_strict, parsing.parse_track_lenient, parsing.parse_bbox_2d, parsing.extract_think):
        fn(text)
    span = parsing.parse_ground_lenient("<answer>" + text)
    assert span is None or span[0] <= span[1]


@given(st.text(max_size=200), st.floats(0.5, 7200), st.floats(0, 7200), st.floats(1, 600))
def test_answers_never_leave_the_video(text, duration, offset, length):
    """Whatever the model says, a grounded segment lies inside the window and the video."""
    from vcr_cli.tasks.ground import to_video_time

    offset = min(offset, duration)
    for candidate in (text, f"<answer>{text}</answer>", "<answer>-5 to 1e9</answer>", "<answer>99999 to 3</answer>"):
        span = parsing.parse_ground_lenient(candidate)
        if span is None:
            continue
        start, end = to_video_time(span, offset, length, duration)
        assert 0.0 <= start <= end <= duration
        assert offset - 1e-3 <= start and end <= offset + length + 1e-3


@given(st.text(max_size=300), st.integers(2, 4000), st.integers(2, 4000))
def test_tracked_boxes_never_leave_the_frame(text, width, height):
    """However wild the model's numbers, a box mapped to pixels and clipped lies inside the frame."""
    from vcr_cli.tracking import box_to_pixels, clip_box

    for candidate in (text, f"<answer>{text}</answer>", "<answer>[[-3, 1e30, 0.5, -0.2]]</answer>"):
        for box in parsing.parse_track_lenient(candidate) or []:
            x0, y0, x1, y1 = clip_box(box_to_pixels(box, width, height), width, height)
            assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
