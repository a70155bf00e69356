"""Long videos: window planning, merging, and windowed grounding end to end."""

import json

import media
import pytest
from conftest import write_clip
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.windows import (
    Windowing,
    choose_windowing,
    default_overlap,
    merge_segments,
    overlap_problem,
    plan_windows,
    shared_seconds,
)


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


def test_whole_video_up_to_384_s_windows_beyond_or_when_asked():
    """The paper samples any video whole at 2 fps up to 768 frames (384 s): so does vcr, windowing only beyond."""
    assert choose_windowing(200.0) == Windowing(None, None, "within_whole_video_limit")
    assert choose_windowing(384.0).whole
    assert choose_windowing(384.5) == Windowing(120.0, 20.0, "longer_than_whole_video_limit")
    assert choose_windowing(200.0, window_s=60) == Windowing(60, 10.0, "window_given")
    assert choose_windowing(50.0, window_s=60) == Windowing(None, None, "shorter_than_window")
    assert choose_windowing(500.0, overlap_s=60) == Windowing(120.0, 60, "longer_than_whole_video_limit")
    assert choose_windowing(200.0).to_dict() == {"mode": "whole_video", "reason": "within_whole_video_limit",
                                                 "whole_video_max_s": 384.0}


def test_the_default_overlap_follows_the_window():
    """--window alone is always valid: a sixth of it is shared; an asked overlap past half stays refused."""
    assert [default_overlap(w) for w in (4, 30, 60, 120, 600)] == [0.667, 5.0, 10.0, 20.0, 100.0]
    assert overlap_problem(30, None) is None and overlap_problem(None, None) is None
    assert overlap_problem(None, 61).startswith("--overlap 61 is more than half of --window 120")  # the default
    with pytest.raises(ValueError, match="more than half"):
        choose_windowing(1000.0, window_s=30, overlap_s=16)
    result = CliRunner().invoke(app, ["ground", "missing.mp4", "q", "--window", "30", "--all"])
    assert result.exit_code == 2 and result.output.startswith("error: video not found")  # not the overlap
    result = CliRunner().invoke(app, ["ground", "missing.mp4", "q", "--overlap", "61"])
    assert result.exit_code == 2 and "more than half of --window 120" in result.output


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
                                      "--window", "60", "--all", "-o", str(out),
                                      "--chapters", str(vtt), "--max-pixels", "12544"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["windows"]["count"] == 4
    assert data["windowing"] == {"mode": "windows", "reason": "window_given", "whole_video_max_s": 384.0}
    # no --overlap: a sixth of the 60 s window is the least consecutive windows share
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
    assert best_data["windows"]["overlap_asked_s"] == 40.0


@pytest.fixture(scope="module")
def timed_200s(tmp_path_factory):
    """200 s at 4 fps whose frames spell their index: longer than the old 120 s window, well under 384 s."""
    return media.timed_clip(tmp_path_factory.mktemp("t200") / "talk.mp4", media.cfr_times(800, 4.0), width=64,
                            height=48)


def test_a_200_s_video_goes_to_the_model_whole_as_in_the_paper(parrot, timed_200s, tmp_path):
    """One pass, the paper's 400 frames at 2 fps over the whole video (not two 120 s windows)."""
    import torch

    from vcr_cli.video import probe

    model = parrot("<answer>150.20 to 153.40</answer>")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["ground", str(timed_200s), "flash", "--model", str(model), "--quant", "none",
                                      "--all", "-o", str(out), "--max-pixels", "12544"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["windowing"] == {"mode": "whole_video", "reason": "within_whole_video_limit",
                                 "whole_video_max_s": 384.0}
    assert "windows" not in data and isinstance(data["raw"], str) and data["tokens"]["generated"] > 0
    assert (data["sampling"]["frames"], data["sampling"]["fps"]) == (400, 2.0)
    paper = torch.linspace(0, 799, 400).round().long().tolist()
    assert data["sampling"]["frame_times"] == [round(i / 4, 3) for i in paper]
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(150.2, 153.4)]
    assert probe(timed_200s).duration == 200.0


def test_past_384_s_windows_of_120_s_through_the_python_api(parrot, tmp_path):
    """400 s: the 768-frame cap would lower the rate, so 120 s windows (sharing at least 20 s) at 2 fps each."""
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground_video

    clip = write_clip(tmp_path / "long.mp4", frames=800, fps=2.0, width=64, height=48)
    runtime = load_runtime(str(parrot("<answer>1.20 to 3.40</answer>")), quant="none", device="cpu")
    result = ground_video(runtime, clip, "flash", sampling=SamplingOptions(max_pixels=12544), all_segments=True)
    assert result["windowing"] == {"mode": "windows", "reason": "longer_than_whole_video_limit",
                                   "whole_video_max_s": 384.0}
    windows = result["windows"]
    assert (windows["length_s"], windows["overlap_asked_s"], windows["count"]) == (120.0, 20.0, 4)
    assert [a["start"] for a in windows["answers"]] == [0.0, 93.5, 186.5, 280.0]  # starts on frames
    assert all(a["sampling"]["frames"] == 240 and a["sampling"]["fps"] == 2.0 for a in windows["answers"])
    with pytest.raises(ValueError, match="more than half"):
        ground_video(runtime, clip, "flash", window_s=60, overlap_s=31)


def test_min_score_filters(parrot, clip):
    model = parrot("<answer>1.20 to 3.40</answer>")
    result = CliRunner().invoke(app, ["ground", str(clip), "flash", "--model", str(model), "--quant", "none",
                                      "--min-score", "1.0", "-o", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "below_min_score" and data["segments"] == []


def test_windows_answered_in_one_batched_generate_equal_one_by_one(replica_checkpoint, long_clip):
    """Four windows: four vision passes and one generate instead of four, each row with its own window's video
    (a random checkpoint's answers depend on the video, so a row fed another window's features would differ)."""
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground_windows
    from vcr_cli.video import probe

    runtime = load_runtime(str(replica_checkpoint), quant="none", device="cpu")
    passes, generates, real_generate = [0], [], runtime.model.generate
    runtime.model.model.visual.register_forward_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))

    def counting_generate(*args, **kwargs):
        generates.append(kwargs["input_ids"].shape[0])
        return real_generate(*args, **kwargs)

    runtime.model.generate = counting_generate
    info, sampling = probe(long_clip), SamplingOptions(max_pixels=12544)
    results = {}
    for batch in (1, 4):
        passes[0], generates[:] = 0, []
        results[batch] = ground_windows(runtime, long_clip, info, "flash", sampling, 60.0, think=False,
                                        max_new_tokens=6, window_batch=batch)
        assert passes[0] == 4
        assert generates == ([1, 1, 1, 1] if batch == 1 else [4])
        assert (results[batch]["windows"]["batch_size"], results[batch]["windows"]["generates"]) == (
            batch, 4 if batch == 1 else 1)
    one, together = results[1]["windows"]["answers"], results[4]["windows"]["answers"]
    assert [a["raw"] for a in together] == [a["raw"] for a in one]

    # each row sees its own window: the first step's logits equal that window's alone, and differ between windows
    from vcr_cli.scoring import KEEP_LOGITS
    from vcr_cli.video import sample_span

    videos = [sample_span(long_clip, info, a, b, max_pixels=12544) for a, b in ((0, 240), (560, 800))]
    encodings = [runtime.encode_video(video) for video in videos]
    chat = runtime.render("when does the flash happen?")
    batched = runtime.generate_videos([chat, chat], encodings, max_new_tokens=1, **KEEP_LOGITS)
    alone = [runtime.generate_many([chat], encoding, max_new_tokens=1, **KEEP_LOGITS)[0] for encoding in encodings]
    rows = [g.output.logits[0][g.row] for g in batched]
    singles = [g.output.logits[0][0] for g in alone]
    batching = max(float((row - single).abs().max()) for row, single in zip(rows, singles))
    between = float((singles[0] - singles[1]).abs().max())
    assert batching < 1e-4 and between > 100 * batching, (batching, between)


def test_ground_help_states_the_windowing_constants():
    from vcr_cli.commands.ground import WINDOW_HELP
    from vcr_cli.windows import DEFAULT_WINDOW_S, WHOLE_VIDEO_MAX_S

    assert f"up to {WHOLE_VIDEO_MAX_S:g} s" in WINDOW_HELP and f"in {DEFAULT_WINDOW_S:g} s windows" in WINDOW_HELP
