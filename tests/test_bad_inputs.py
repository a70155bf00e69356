"""Every command survives bad input: one clear line, the right exit code, no traceback, nothing clobbered.

Media that can be decoded (a truncated clip's first frames, rotated, variable frame rate, huge,
odd names) must either work or fail cleanly.
"""

from __future__ import annotations

import json
import re

import media
import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()

# kind -> (builder, expected exit code or None for "works or fails cleanly", message fragment)
CASES = {
    "missing": (lambda p, s: p, 2, "video not found"),
    "empty": (lambda p, s: media.empty(p), 2, "empty"),
    "truncated": (lambda p, s: media.truncated(p, s), None, ""),
    "random_bytes": (lambda p, s: media.random_bytes(p), 2, "cannot decode"),
    "text": (lambda p, s: media.text(p), 2, "cannot decode"),
    "directory": (lambda p, s: media.directory(p.with_suffix("")), 2, "directory"),
    "audio_only": (lambda p, s: media.audio_only(p), 2, "cannot decode"),
    "one_frame": (lambda p, s: media.one_frame(p), 2, "at least 2|fewer than 2"),
    "rotated_portrait": (lambda p, s: media.rotated_portrait(p), 0, ""),
    "variable_frame_rate": (lambda p, s: media.variable_frame_rate(p), 0, ""),
    "huge": (lambda p, s: media.huge(p), 0, ""),
    "odd_name": (lambda p, s: media.odd_name(p, s), 0, ""),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return media.h264(tmp_path_factory.mktemp("src") / "source.mp4")


def command_args(command: str, video: str, model: str, out: str) -> list[str]:
    common = ["--model", model, "--quant", "none", "--max-pixels", "12544", "-o", out]
    if command == "ground":
        return ["ground", video, "a square", *common]
    if command == "ask":
        return ["ask", video, "what is shown?", "--option", "a square", "--option", "a cat", *common]
    if command == "track":
        return ["track", video, "--object", "square", "--box", "10,10,40,30", *common]
    raise AssertionError(command)


ANSWERS = {
    "ground": "<answer>0.10 to 0.50</answer>",
    "ask": "<answer>A</answer><glue>[(0.1, 0.5)]</glue>",
    "track": "<answer>[[0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], "
    "[0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4]]</answer>",
}


def _available(command: str) -> bool:
    return any(c.name == command for c in app.registered_commands)


@pytest.mark.parametrize("command", ["ground", "ask", "track"])
@pytest.mark.parametrize("kind", list(CASES))
def test_bad_media(command, kind, tmp_path, source, parrot):
    if not _available(command):
        pytest.skip(f"vcr {command} is not available")
    builder, code, message = CASES[kind]
    video = builder(tmp_path / "input.mp4", source)
    out = tmp_path / "result.json"
    out.write_text("previous result")
    result = runner.invoke(app, command_args(command, str(video), str(parrot(ANSWERS[command])), str(out)))
    assert "Traceback" not in result.output
    if code is None:  # decodable in part: works, or one clean line
        assert result.exit_code in (0, 1, 2), result.output
    else:
        assert result.exit_code == code, result.output
    if result.exit_code == 0:
        data = json.loads(out.read_text())
        assert data["task"] == command
    else:
        assert re.search(message, result.output), result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert out.read_text() == "previous result"


@pytest.mark.parametrize("command", ["ground", "ask", "track"])
def test_missing_and_broken_model(command, tmp_path, source, tiny_checkpoint):
    import shutil

    if not _available(command):
        pytest.skip(f"vcr {command} is not available")
    out = tmp_path / "result.json"
    out.write_text("previous result")
    missing = runner.invoke(app, command_args(command, str(source), str(tmp_path / "no-model"), str(out)))
    assert missing.exit_code == 2 and "model directory not found" in missing.output
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "config.json").write_text("{ not json")
    failed = runner.invoke(app, command_args(command, str(source), str(broken), str(out)))
    assert failed.exit_code == 1 and "cannot load the checkpoint" in failed.output, failed.output
    assert "Traceback" not in failed.output
    assert out.read_text() == "previous result"


def test_rotated_video_is_read_upright(tmp_path):
    from vcr_cli.video import probe

    info = probe(media.rotated_portrait(tmp_path / "r.mp4"))
    assert (info.width, info.height) == (64, 96)


def test_unreadable_file(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    video = media.h264(tmp_path / "locked.mp4")
    video.chmod(0)
    result = runner.invoke(app, ["ground", str(video), "q"])
    assert result.exit_code == 2 and "permission denied" in result.output
