"""The video layer on clips shaped like users' own: every frame spells its index, so tests read back exactly
which frames were decoded (and which the model received) and compare them with the times the JSON reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import media
import numpy as np
import pytest
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.sampling import frame_indices, smart_nframes

runner = CliRunner()

# name -> (file name, timed_clip options, codec, container, rotation)
CASES = {
    "av1_mkv": ("clip.mkv", {"codec": "libsvtav1"}, "av1", "matroska", 90 * 0),
    "vp9_webm": ("clip.webm", {"codec": "libvpx-vp9"}, "vp9", "webm", 0),
    "hevc_rotated_mov": ("clip.mov", {"codec": "libx265", "rotation": 90}, "hevc", "mov", 90),
    "h264_10bit_mp4": ("clip.mp4", {"pix_fmt": "yuv420p10le"}, "h264", "mp4", 0),
    "h264_mpegts": ("clip.ts", {}, "h264", "mpegts", 0),
    "h264_avi": ("clip.avi", {}, "h264", "avi", 0),
    "audio_longer_mp4": ("clip.mp4", {"audio_seconds": 5.0}, "h264", "mp4", 0),
}
FRAMES = 90  # 3 s at 30 fps


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    made = {}
    for name, (file, options, *_rest) in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        made[name] = media.timed_clip(folder / file, media.cfr_times(FRAMES), **options)
    return made


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    return media.timed_clip(tmp_path_factory.mktemp("vfr") / "screen.mp4", media.vfr_times())


def codes(frames: np.ndarray) -> list[int]:
    return [media.read_code(f) for f in frames]


@pytest.mark.parametrize("name", list(CASES))
def test_every_container_and_codec_gives_the_papers_frames(name, clips):
    from vcr_cli.video import probe, read_frames, sample_video

    path = clips[name]
    _, _, codec, container, rotation = CASES[name]
    info = probe(path)
    assert (info.codec, info.container, info.rotation) == (codec, container, rotation)
    assert (info.width, info.height, info.frames, info.fps) == (160, 96, FRAMES, 30.0)
    assert info.constant_rate and info.duration == 3.0  # the video stream's own duration, audio or not
    video = sample_video(path)
    expected = frame_indices(FRAMES, smart_nframes(FRAMES, 30.0))  # qwen-vl-utils' indices
    assert video.plan.indices == expected == [0, 18, 36, 53, 71, 89]
    assert codes(video.frames) == expected
    assert video.frame_times == [i / 30 for i in expected]
    # random access: a later span (seeks to its keyframe) and the very last frame
    assert codes(read_frames(path, [45, 46, 80], 160, 96)) == [45, 46, 80]
    assert codes(read_frames(path, [FRAMES - 1], 160, 96)) == [FRAMES - 1]


def _vfr_expected(times: list[float], duration: float, n: int) -> tuple[list[int], list[float]]:
    """The frames nearest to the paper's evenly spaced times over the same span (brute force)."""
    clock = frame_indices(len(times), n)
    targets = [c * duration / len(times) for c in clock]
    return [int(np.argmin([abs(t - target) for t in times])) for target in targets], targets


def test_variable_frame_rate_is_sampled_by_time(vfr):
    from vcr_cli.video import probe, sample_video

    times = media.vfr_times()
    info = probe(vfr)
    assert not info.constant_rate and info.frames == 700 and info.duration == pytest.approx(20.0, abs=1e-9)
    video = sample_video(vfr)
    expected, targets = _vfr_expected(times, 20.0, 40)
    assert video.plan.indices == expected
    assert codes(video.frames) == expected  # the decoded pixels are those frames
    assert video.plan.fps == pytest.approx(2.0)  # 40 frames over 20 s: what MRoPE is told
    assert video.frame_times == pytest.approx([times[i] for i in expected], abs=1e-9)
    # each frame is within half a frame gap of the time the position encoding claims for it (the last
    # target, 19.97 s, falls inside the last frame's display, 19.9-20.0 s)
    assert max(abs(t - target) for t, target in zip(video.frame_times[:-1], targets)) <= 0.05 + 1e-9
    assert video.frame_times[-1] == pytest.approx(19.9) and 19.9 <= targets[-1] < 20.0
    assert sum(t < 10 for t in video.frame_times) == 20  # half from each half (by index: 86% from the first)


@pytest.mark.parametrize("suffix", [".ts", ".mkv"])
def test_variable_frame_rate_in_other_containers(suffix, tmp_path):
    from vcr_cli.video import probe, sample_video

    path = media.timed_clip(tmp_path / f"screen{suffix}", media.vfr_times())
    info = probe(path)
    assert not info.constant_rate and info.duration == pytest.approx(20.0, abs=1e-6)
    video = sample_video(path)
    expected, _ = _vfr_expected(media.vfr_times(), 20.0, 40)
    assert codes(video.frames) == video.plan.indices == expected


def _capture(monkeypatch, method: str) -> list[np.ndarray]:
    """Record the frames each model call receives (the real call still runs)."""
    from vcr_cli.runtime import Runtime

    seen: list[np.ndarray] = []
    original = getattr(Runtime, method)

    def spy(self, prompt, video, *args, **kwargs):
        seen.append(np.array(video.frames))
        return original(self, prompt, video, *args, **kwargs)

    monkeypatch.setattr(Runtime, method, spy)
    return seen


def test_ground_vfr_cli_reports_the_frames_the_model_saw(vfr, parrot, tmp_path, monkeypatch):
    from vcr_cli.video import probe

    seen = _capture(monkeypatch, "generate_scored")
    out, mp4 = tmp_path / "r.json", tmp_path / "a.mp4"
    model = parrot("<answer>12.00 to 16.00</answer>")
    result = runner.invoke(app, ["ground", str(vfr), "the clock", "--model", str(model), "--quant", "none",
                                 "-o", str(out), "--annotate", str(mp4)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    times = media.vfr_times()
    assert data["video"]["duration"] == 20.0 and data["video"]["constant_frame_rate"] is False
    received = codes(seen[0])
    assert received == _vfr_expected(times, 20.0, 40)[0]
    assert data["sampling"]["frame_times"] == [round(times[i], 3) for i in received]
    assert data["sampling"]["fps"] == 2.0
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(12.0, 16.0)]
    # the annotated MP4 keeps the source's clock: same frames at the same times
    annotated = probe(mp4)
    assert annotated.frames == 700 and not annotated.constant_rate
    assert [annotated.time_of(i) for i in range(700)] == pytest.approx(times, abs=1e-3)


def test_ground_windows_on_vfr_use_the_same_clock(vfr, parrot, tmp_path, monkeypatch):
    seen = _capture(monkeypatch, "_process_chat")  # every window's frames reach the processor (windows are batched)
    out = tmp_path / "r.json"
    model = parrot("<answer>1.00 to 2.00</answer>")
    result = runner.invoke(app, ["ground", str(vfr), "the clock", "--model", str(model), "--quant", "none",
                                 "--window", "8", "--overlap", "2", "--all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    times = media.vfr_times()
    answers = data["windows"]["answers"]
    assert len(answers) == len(seen) == 4
    for answer, frames in zip(answers, seen):
        received = codes(frames)
        assert answer["sampling"]["frame_times"] == [round(times[i], 3) for i in received]
        assert answer["start"] - 0.05 <= min(answer["sampling"]["frame_times"])
        assert max(answer["sampling"]["frame_times"]) <= answer["end"] + 0.05
        assert answer["segment"]["start"] == pytest.approx(answer["start"] + 1.0, abs=1e-3)


TRACK_ANSWER = "<answer>" + str([[0.1, 0.1, 0.4, 0.4]] * 8) + "</answer>"


def test_track_vfr_keyframe_times_are_presentation_times(vfr, parrot, tmp_path, monkeypatch):
    seen = _capture(monkeypatch, "generate_scored")  # windows are scored: the raw logits are kept
    out = tmp_path / "t.json"
    model = parrot(TRACK_ANSWER)
    result = runner.invoke(app, ["track", str(vfr), "--object", "block", "--box", "0,0,40,32", "--start", "12",
                                 "--model", str(model), "--quant", "none", "--no-refine", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    times = media.vfr_times()
    assert data["range"]["first_frame"] == 620 and data["range"]["start"] == 12.0  # 10 s + 20 frames at 10 fps
    for key in data["keyframes"]:
        assert key["time"] == round(times[key["frame"]], 3)
    for frame in data["frames"][:50]:
        assert frame["time"] == round(times[frame["frame"]], 3)
    assert seen and codes(seen[0])[0] == 620


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    root = str(Path(__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "vcr_cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_undecodable_codec_is_one_line_naming_it(tmp_path):
    source = media.h264(tmp_path / "h.mp4")
    data = bytearray(source.read_bytes())
    entry = data.find(b"avc1", data.find(b"stsd"))
    data[entry:entry + 4] = b"evc1"  # MPEG-5 EVC: FFmpeg knows it, but PyAV's build has no decoder
    video = tmp_path / "evc.mp4"
    video.write_bytes(bytes(data))
    result = runner.invoke(app, ["ground", str(video), "q"])
    assert result.exit_code == 2
    assert "no decoder for its video codec (evc1)" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_decoder_noise_stays_off_the_terminal_unless_verbose(tmp_path):
    source = media.h264(tmp_path / "h.mp4")
    bad = media.truncated(tmp_path / "bad.mp4", source)  # moov at the end: "moov atom not found"
    quiet = _run_cli("ground", str(bad), "q")
    assert quiet.returncode == 2
    assert quiet.stderr.strip().splitlines() == [quiet.stderr.strip()]  # exactly one line
    assert "cannot decode" in quiet.stderr and "moov atom" not in quiet.stderr.replace("moov atom not found)", "")
    assert "video_reader" not in quiet.stderr and quiet.stdout == ""
    loud = _run_cli("--verbose", "ground", str(bad), "q")
    assert loud.returncode == 2 and "moov atom not found" in loud.stderr
    assert len(loud.stderr.strip().splitlines()) > 1


def test_one_probe_per_run(parrot, tmp_path, monkeypatch):
    """`vcr ground --annotate` reads the container's index once (it used to probe the path up to four times)."""
    from vcr_cli import video as video_module

    calls: list[str] = []
    original = video_module._probe_file
    monkeypatch.setattr(video_module, "_probe_file", lambda path: calls.append(str(path)) or original(path))
    model = parrot("<answer>0.50 to 1.00</answer>")
    for k, extra in enumerate(([], ["--window", "4", "--overlap", "1"])):  # whole, then window by window
        clip = media.timed_clip(tmp_path / f"c{k}.mp4", media.cfr_times(300 if extra else 60))
        result = runner.invoke(app, ["ground", str(clip), "q", "--model", str(model), "--quant", "none",
                                     "--annotate", str(tmp_path / f"a{k}.mp4"), *extra])
        assert result.exit_code == 0, result.output
        assert calls == [str(clip)]
        calls.clear()
