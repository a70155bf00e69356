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


def test_lora_adapter_as_model_suggests_merge(tmp_path, clip):
    adapter = tmp_path / "runs" / "ground"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "base", "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    result = runner.invoke(app, ["ground", str(clip), "a square", "--model", str(adapter), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line == (f"error: {adapter} is a LoRA adapter (adapter_config.json), not a full checkpoint: merge it "
                    f"into its base with `vcr rft merge {adapter} -o {adapter}-merged`, then pass --model "
                    f"{adapter}-merged")


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
