"""Long videos: window planning, merging, and windowed grounding end to end."""

import json

import pytest
from conftest import write_clip
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.windows import merge_segments, overlap_problem, plan_windows, shared_seconds


def test_plan_windows_cover_the_video_with_overlap():
    windows = plan_windows(total_frames=800, fps=4.0, window_s=60, overlap_s=10)
    assert [w.start_frame for w in windows] == [0, 187, 373, 560]
    assert all(w.end_frame - w.start_frame == 240 for w in windows)
    assert windows[-1].end_frame == 800
    assert all(a.end - b.start >= 10 for a, b in zip(windows, windows[1:]))
    assert shared_seconds(windows) == 13.25  # spread evenly to end at the end: more than the 10 s asked


def test_an_overlap_past_half_the_window_is_refused():
    assert overlap_problem(60, 30) is None
    assert overlap_problem(60, 31) == ("--overlap 31 is more than half of --window 60; consecutive windows share at "
                                       "least --overlap seconds, so use at most 30 (or a longer --window)")
    result = CliRunner().invoke(app, ["ground", "missing.mp4", "q", "--window", "60", "--overlap", "100"])
    assert result.exit_code == 2 and result.output.startswith("error: --overlap 100 is more than half")


def test_short_video_is_one_window():
    assert plan_windows(100, 25.0, window_s=120, overlap_s=20) == plan_windows(100, 25.0, 4.0 + 120, 0)[:1]
    assert len(plan_windows(100, 25.0, window_s=120, overlap_s=20)) == 1


def test_merge_agreeing_windows_and_rank():
    segments = [
        {"start": 50.0, "end": 56.0, "score": 0.6, "window": 0},
        {"start": 51.0, "end": 57.0, "score": 0.8, "window": 1},  # same moment seen by the next window
        {"start": 10.0, "end": 12.0, "score": 0.7, "window": 0},
        {"start": 90.0, "end": 95.0, "score": 0.2, "window": 1},
    ]
    merged = merge_segments(segments)
    assert [m["windows"] for m in merged] == [[0, 1], [0], [1]]
    first = merged[0]
    assert first["start"] == pytest.approx((0.8 * 51 + 0.6 * 50) / 1.4, abs=1e-3)
    assert first["score"] == pytest.approx(0.85)  # best score + agreement bonus
    assert [m["score"] for m in merged] == sorted((m["score"] for m in merged), reverse=True)


def test_segments_of_one_window_are_never_merged_together():
    segments = [{"start": 1.0, "end": 5.0, "score": 0.9, "window": 0},
                {"start": 2.0, "end": 6.0, "score": 0.5, "window": 0}]
    assert len(merge_segments(segments)) == 2


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """200 s at 4 fps, 64x48: long enough for four 60 s windows, cheap to decode."""
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=800, fps=4.0, width=64, height=48)


def test_windowed_grounding_maps_each_window_to_whole_video_time(parrot, long_clip, tmp_path):
    model = parrot("<answer>1.20 to 3.40</answer>")
    out, vtt = tmp_path / "r.json", tmp_path / "r.vtt"
    result = CliRunner().invoke(app, ["ground", str(long_clip), "flash", "--model", str(model), "--quant", "none",
                                      "--window", "60", "--overlap", "10", "--all", "-o", str(out),
                                      "--chapters", str(vtt), "--max-pixels", "12544"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["windows"]["count"] == 4
    assert (data["windows"]["overlap_s"], data["windows"]["overlap_asked_s"]) == (13.25, 10.0)
    offsets = [0.0, 46.75, 93.25, 140.0]
    assert [a["start"] for a in data["windows"]["answers"]] == offsets
    spans = sorted((s["start"], s["end"]) for s in data["segments"])
    assert spans == [(round(o + 1.2, 3), round(o + 3.4, 3)) for o in offsets]
    scores = [s["score"] for s in data["segments"]]
    assert scores == sorted(scores, reverse=True) and all(0.9 < s <= 1 for s in scores)
    assert data["video"]["duration"] == 200.0
    assert all(a["sampling"]["fps"] == 2.0 for a in data["windows"]["answers"])
    assert vtt.read_text().startswith("WEBVTT\n\n1\n")
    assert vtt.read_text().count(" --> ") == 4

    best = CliRunner().invoke(app, ["ground", str(long_clip), "flash", "--model", str(model), "--quant", "none",
                                    "--window", "120", "--overlap", "40", "-o", "-", "--max-pixels", "12544"])
    assert best.exit_code == 0, best.output
    best_data = json.loads(best.stdout)
    assert best_data["windows"]["count"] == 2 and len(best_data["segments"]) == 1


def test_min_score_filters(parrot, clip):
    model = parrot("<answer>1.20 to 3.40</answer>")
    result = CliRunner().invoke(app, ["ground", str(clip), "flash", "--model", str(model), "--quant", "none",
                                      "--min-score", "1.0", "-o", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "below_min_score" and data["segments"] == []
