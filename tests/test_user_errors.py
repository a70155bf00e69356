"""What a new user trips over: --verbose tracebacks, an adapter passed as --model, options and hints that work."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()
GROUND = {"task": "ground", "video": "clip.mp4", "query": "a square moves", "solution": {"start": 0.2, "end": 1.1}}


def test_verbose_shows_the_traceback_of_a_load_error(tmp_path, clip, tiny_checkpoint):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "config.json").write_text("{ not json")
    args = ["ground", str(clip), "a square", "--model", str(broken), "--quant", "none", "--device", "cpu"]
    quiet = runner.invoke(app, args)
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    verbose = runner.invoke(app, ["--verbose", *args])
    assert verbose.exit_code == 1
    trace, _, last = verbose.output.rstrip().rpartition("\n")
    assert "Traceback (most recent call last)" in trace
    assert "JSONDecodeError" in trace or "OSError" in trace or "ValueError" in trace  # the library's own error
    assert "ModelLoadError: cannot load the checkpoint" in trace
    assert last.startswith("error: cannot load the checkpoint")


def test_verbose_shows_the_traceback_of_a_usage_error(tmp_path):
    result = runner.invoke(app, ["--verbose", "rft", "score", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "Traceback" in result.output and "UsageError" in result.output


def test_lora_adapter_whose_base_is_missing_says_whose_base_and_how_to_merge(tmp_path, clip):
    adapter = tmp_path / "runs" / "ground"
    adapter.mkdir(parents=True)
    base = tmp_path / "gone" / "VideoChat-R1_7B"
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base),
                                                            "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    result = runner.invoke(app, ["ground", str(clip), "a square", "--model", str(adapter), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith(f"error: model directory not found: {base}")
    assert line == (f"error: model directory not found: {base}; it is the base model of the adapter {adapter}; to "
                    f"use another copy DIR: `vcr rft merge {adapter} --base-model DIR -o {adapter}-merged`, then "
                    f"pass --model {adapter}-merged")


def test_lora_adapter_whose_hub_base_is_not_cached_says_how_to_get_it(tmp_path, clip):
    adapter = tmp_path / "runs" / "ground"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "OpenGVLab/VideoChat-R1_7B",
                                                            "peft_type": "LORA"}))
    result = runner.invoke(app, ["ground", str(clip), "a square", "--model", str(adapter), "--device", "cpu"])
    assert result.exit_code == 1, result.output
    line = result.output.strip()
    assert line == ("error: model 'OpenGVLab/VideoChat-R1_7B' is no folder here and not in the Hugging Face cache, "
                    "and HF_HUB_OFFLINE is set. If it is a folder, check the path. Get it into the Hugging Face "
                    "cache (`hf download OpenGVLab/VideoChat-R1_7B` where the hub is "
                    "reachable) and run again, or merge the adapter into a local copy DIR: `vcr rft merge "
                    f"{adapter} --base-model DIR -o {adapter}-merged`, then pass --model {adapter}-merged")


def test_rft_train_offers_only_the_quant_it_supports():
    help_text = runner.invoke(app, ["rft", "train", "--help"], env={"COLUMNS": "200"}).output
    assert "none|4bit" in help_text and "8bit" not in help_text
    result = runner.invoke(app, ["rft", "train", "d.jsonl", "--output-dir", "o", "--quant", "8bit"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Invalid value for '--quant'" in result.output  # refused as an option
    assert "config" not in result.output


def test_score_without_outputs_suggests_a_check_of_the_outputs(tmp_path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps(GROUND) + "\n")
    result = runner.invoke(app, ["rft", "score", str(preds)])
    assert result.exit_code == 2
    command = result.output.split("`")[1]
    assert command == f"vcr rft validate --predictions --no-check-videos {preds}"
    check = runner.invoke(app, command.split()[1:])  # the suggested command really reports the missing output
    assert check.exit_code == 1 and f"{preds}:1:" in check.output and "output" in check.output


def _ground_result(video_path: str) -> str:
    return json.dumps({"task": "ground", "model": "m", "query": "q", "status": "ok", "segments": [],
                       "video": {"path": video_path, "duration": 1.6, "fps": 29.97, "frames": 48, "width": 96,
                                 "height": 64}})


def test_view_finds_the_video_beside_the_result_from_another_folder(tmp_path, clip, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(clip, runs / "clip.mp4")
    (runs / "result.json").write_text(_ground_result("clip.mp4"))  # as `vcr ground clip.mp4 -o result.json` in runs/
    pages = tmp_path / "pages"
    pages.mkdir()
    monkeypatch.chdir(pages)
    result = runner.invoke(app, ["view", "../runs/result.json", "-o", "page.html"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert 'src="../runs/clip.mp4"' in (pages / "page.html").read_text()  # linked relative to the page


def test_view_warns_when_the_video_is_nowhere(tmp_path):
    (tmp_path / "result.json").write_text(_ground_result("gone.mp4"))
    result = runner.invoke(app, ["view", str(tmp_path / "result.json")])
    assert result.exit_code == 0
    assert "warning: video gone.mp4 not found (from here or beside" in result.output and "--video PATH" in result.output


def test_module_train_start_is_quiet(tmp_path):
    """No library notice (bitsandbytes' "kernels" line on AVX512-BF16 CPUs) before rft.train's own error."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "rft.train", "missing.jsonl"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ}, timeout=300)
    assert proc.returncode == 2 and proc.stderr == "error: data file not found: missing.jsonl\n", proc.stderr


def test_ctrl_c_echoed_by_a_launcher_does_not_skip_the_checkpoint(monkeypatch):
    import pytest

    from rft.train import StopOnInterrupt

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    alone = StopOnInterrupt()
    alone._handle(2, None)
    assert alone.requested
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
        alone._handle(2, None)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("RANK", "1")
    launched = StopOnInterrupt()
    launched._handle(2, None)
    launched._handle(2, None)  # the launcher's forwarded copy, right after the terminal's: still save first
    assert launched.requested
    launched._first_at -= StopOnInterrupt.LAUNCHER_ECHO_S + 0.1
    with pytest.raises(KeyboardInterrupt):  # a real second Ctrl-C later still stops at once
        launched._handle(2, None)


def test_a_mistyped_model_folder_is_not_only_a_hub_id(tmp_path, clip, monkeypatch):
    """`runs/grond` looks like a hub id (namespace/name): the message says it is no folder here either."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "ground").mkdir(parents=True)
    result = runner.invoke(app, ["ground", str(clip), "a square", "--model", "runs/grond", "--device", "cpu"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: model 'runs/grond' is no folder here and not in the Hugging Face cache")
    assert "If it is a folder, check the path." in result.output
