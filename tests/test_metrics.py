"""The paper's scoring (reference §2.4, §7): strict parsing, percent, hand-computed aggregates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from rft.data import Example
from rft.metrics import merge_intervals, multi_interval_iou, render_table, score_example, score_predictions

GT = {"start": 24.3, "end": 30.4}
BOXES = [[0.0, 0.0, 0.5, 0.5]] * 8
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        ([], []),
        ([(3, 4), (0, 1)], [(0.0, 1.0), (3.0, 4.0)]),  # sorted
        ([(0, 2), (1, 3)], [(0.0, 3.0)]),  # overlap
        ([(0, 1), (1, 2)], [(0.0, 2.0)]),  # touching (start <= previous end)
        ([(0, 10), (2, 3)], [(0.0, 10.0)]),  # contained
    ],
)
def test_merge_intervals(spans, merged):
    assert merge_intervals(spans) == merged


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([(23.0, 27.7)], [[23.0, 27.7]], 1.0),
        ([], [], 1.0),  # union 0
        ([(5.0, 5.0)], [[5.0, 5.0]], 1.0),  # union 0
        ([], [[1.0, 2.0]], 0.0),
        ([(0, 2), (1, 3)], [(0, 3)], 1.0),  # merged first
        ([(0, 1), (2, 3)], [(0.5, 2.5)], 1 / 3),  # inter 1, union 3
        ([(0, 10)], [(2, 4), (6, 8)], 4 / 10),
        ([(0, 1)], [(2, 3)], 0.0),
        ([(20.0, 25.0), (24.0, 30.0)], [(23.0, 27.7)], 4.7 / 10),
    ],
)
def test_multi_interval_iou(a, b, iou):
    assert multi_interval_iou(a, b) == pytest.approx(iou, abs=1e-12)
    assert multi_interval_iou(b, a) == pytest.approx(iou, abs=1e-12)  # symmetric


@pytest.mark.parametrize(
    ("output", "iou"),
    [
        ("<think>x</think><answer>24.30 to 30.40</answer>", 1.0),
        ("<answer>20.0 to 26.0</answer>", 1.7 / 10.4),
        ("24.3 to 30.4", 1.0),  # eval parser: no <answer> needed
        ("<think>at <timestep>24.3 to 30.4</timestep></think><answer>about then</answer>", 1.0),  # last span anywhere
        ("<answer>30.4 to 24.3</answer>", 0.0),  # reversed: negative IoU clamped to 0
        ("<answer>12.5s - 17.8s</answer>", 0.0),  # unparsed
        ("", 0.0),
    ],
)
def test_ground_example(output, iou):
    assert score_example("ground", GT, output)["iou"] == pytest.approx(iou, abs=1e-12)


def test_qa_and_track_examples():
    qa = score_example("qa", {"answer": "C", "evidence": [[23.0, 27.7]]},
                       "<answer>C</answer>\n<glue>[(23.0, 27.7)]</glue>")
    assert qa == {"prediction": "C", "correct": True, "evidence": [[23.0, 27.7]], "evidence_iou": 1.0}
    qa = score_example("qa", {"answer": "C", "evidence": [[23.0, 27.7]]},
                       "<answer>(C) lay on floor</answer><glue>[[23.0, 27.7]]</glue>")
    assert qa == {"prediction": "C", "correct": True, "evidence": None, "evidence_iou": 0.0}
    assert "evidence_iou" not in score_example("qa", {"answer": "C"}, "<answer>C</answer>")
    assert score_example("qa", {"answer": "C"}, None) == {"prediction": None, "correct": False, "evidence": None}
    assert score_example("track", {"boxes": BOXES}, "<answer>" + json.dumps([[0, 0, 0.5, 1]] * 8) + "</answer>")[
        "overlap"] == pytest.approx(0.5)
    assert score_example("track", {"boxes": BOXES}, "<answer>[[0.1,0.5,0.3,0.55]]</answer>")["overlap"] == 0.0


def test_score_predictions_hand_computed():
    evidence = {"answer": "B", "evidence": [[0, 10]]}
    half = "<answer>" + json.dumps([[0, 0, 0.5, 1]] * 8) + "</answer>"
    rows = [
        {"task": "ground", "solution": GT, "output": "<answer>24.3 to 30.4</answer>"},  # 1.0
        {"task": "ground", "solution": {"start": 0.0, "end": 6.9}, "output": "<answer>0.0 to 3.45</answer>"},  # 0.5
        {"task": "ground", "solution": GT, "output": "<answer>20.0 to 26.0</answer>"},  # 0.163
        {"task": "ground", "solution": GT, "output": "no idea"},  # 0
        {"task": "qa", "solution": evidence, "output": "<answer>B</answer><glue>[(0, 5)]</glue>"},  # right, IoU .5
        {"task": "qa", "solution": evidence, "output": "<answer>A</answer>"},  # wrong, no glue: 0
        {"task": "qa", "solution": {"answer": "(B)"}, "output": "<answer>(B)</answer>"},  # no evidence: not in mIoU
        {"task": "track", "solution": {"boxes": BOXES}, "output": "<answer>" + json.dumps(BOXES) + "</answer>"},
        {"task": "track", "solution": {"boxes": BOXES}, "output": half},  # 0.5
        {"task": "track", "solution": {"boxes": BOXES}, "output": "<answer>[]</answer>"},
    ]
    ground_mean = (1.0 + 0.5 + 1.7 / 10.4 + 0.0) / 4
    ground = {"count": 4, "miou": round(100 * ground_mean, 4), "r@0.3": 50.0, "r@0.5": 50.0, "r@0.7": 25.0}
    assert score_predictions(rows) == {"tasks": {
        "ground": ground,
        "qa": {"count": 3, "accuracy": round(200 / 3, 4), "evidence_miou": 25.0},
        "track": {"count": 3, "overlap": 50.0},
    }, "protocols": {  # one "s to e" per answer: TimeLens's first pair is the paper's last one
        "videochat-r1": {**ground, "parse_failures": 1}, "timelens": {**ground, "parse_failures": 1}}}


def test_only_present_tasks_and_no_evidence():
    perfect = {"count": 1, "miou": 100.0, "r@0.3": 100.0, "r@0.5": 100.0, "r@0.7": 100.0}
    assert score_predictions([{"task": "ground", "solution": GT, "output": "24.3 to 30.4"}]) == {
        "tasks": {"ground": perfect}, "protocols": {"videochat-r1": {**perfect, "parse_failures": 0},
                                                    "timelens": {**perfect, "parse_failures": 0}}}
    assert score_predictions([{"task": "qa", "solution": {"answer": "A"}, "output": "<answer>A</answer>"}]) == {
        "tasks": {"qa": {"count": 1, "accuracy": 100.0, "evidence_miou": None}}}
    assert score_predictions([]) == {"tasks": {}}


def test_examples_and_json_string_solutions():
    row = Example("ground", Path("v.mp4"), 1, GT, output="<answer>24.3 to 30.4</answer>")
    other = {"task": "ground", "solution": json.dumps(GT), "output": ""}
    assert score_predictions([row, other])["tasks"]["ground"]["miou"] == 50.0


def test_sample_predictions_file():
    from rft.score import score_file

    ground = {"count": 3, "miou": 50.0, "r@0.3": 66.6667, "r@0.5": 66.6667, "r@0.7": 33.3333}
    assert score_file(EXAMPLES / "predictions.jsonl") == {"tasks": {
        "ground": ground,
        "qa": {"count": 2, "accuracy": 50.0, "evidence_miou": 50.0},
        "track": {"count": 2, "overlap": 50.0},
    }, "protocols": {
        "videochat-r1": {**ground, "parse_failures": 1},
        # TimeLens reads the first "s to e": the <think>'s 20.10 to 23.00 (IoU 0), then 0.00 to 3.45 (0.5)
        "timelens": {"count": 3, "miou": 16.6667, "r@0.3": 33.3333, "r@0.5": 33.3333, "r@0.7": 0.0,
                     "parse_failures": 1}}}


def test_render_table():
    metrics = {"tasks": {"ground": {"count": 2, "miou": 50.0, "r@0.3": 100.0, "r@0.5": 50.0, "r@0.7": 0.0},
                         "qa": {"count": 1, "accuracy": 100.0, "evidence_miou": None}}}
    table = render_table(metrics)
    assert table.row_count == 6
    console = Console(record=True, width=100)
    console.print(table)
    text = console.export_text()
    for needle in ("ground", "mIoU", "50.00", "R@0.7", "0.00", "evidence mIoU", "–", "videochat-r1"):
        assert needle in text
    assert "timelens" not in text  # no protocols block: the ground task's numbers, named as the paper's


def test_render_table_names_each_protocol():
    metrics = score_predictions([{"task": "ground", "solution": GT, "output": "The event happens in 24.3 - 30.4 "
                                                                                "seconds."}])
    assert metrics["protocols"]["videochat-r1"]["parse_failures"] == 1
    assert metrics["protocols"]["timelens"] == {"count": 1, "miou": 100.0, "r@0.3": 100.0, "r@0.5": 100.0,
                                                "r@0.7": 100.0, "parse_failures": 0}
    table = render_table(metrics)
    assert table.row_count == 10  # 2 protocols x (mIoU, 3 recalls, parse failures)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "videochat-r1: VideoChat-R1's: strict" in text and "timelens: TimeLens's: extract_time" in text
    assert "parse failures (count)" in text


def test_a_line_with_several_spans_scores_the_parsed_span_by_span_iou():
    """0-2 against the annotated 0-2 and 4-6: TimeLens2's span IoU 2 / (2 + 4 - 2) = 0.5 under both protocols."""
    row = {"task": "ground", "solution": {"spans": [[0.0, 2.0], [4.0, 6.0]]}, "output": "<answer>0 to 2</answer>"}
    half = {"count": 1, "miou": 50.0, "r@0.3": 100.0, "r@0.5": 100.0, "r@0.7": 0.0}
    assert score_predictions([row]) == {"tasks": {"ground": half}, "protocols": {
        "videochat-r1": {**half, "parse_failures": 0}, "timelens": {**half, "parse_failures": 0}}}
