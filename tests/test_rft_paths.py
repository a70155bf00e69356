"""`vcr rft` from any folder: predictions paths, config `data`/`output_dir` under both entry points, custom rewards."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()


def test_predictions_video_paths_work_from_another_folder(parrot, clip, tmp_path, monkeypatch):
    from rft.evaluate import evaluate

    data_dir = tmp_path / "data"
    (data_dir / "videos").mkdir(parents=True)
    shutil.copy(clip, data_dir / "videos" / "a.mp4")
    data = data_dir / "test.jsonl"
    data.write_text(json.dumps({"task": "ground", "video": "videos/a.mp4", "query": "a square moves",
                                "solution": {"start": 0.2, "end": 1.0}}) + "\n"
                    + json.dumps({"task": "ground", "video": str(data_dir / "videos" / "a.mp4"), "query": "again",
                                  "solution": {"start": 0.2, "end": 1.0}}) + "\n")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    evaluate("data/test.jsonl", str(parrot("<answer>0.20 to 1.00</answer>")), quant="none", device="cpu",
             predictions_path="out/preds.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "out" / "preds.jsonl").read_text().splitlines()]
    assert [x["video"] for x in lines] == ["../data/videos/a.mp4", str(data_dir / "videos" / "a.mp4")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    check = runner.invoke(app, ["rft", "validate", "--predictions", str(tmp_path / "out" / "preds.jsonl")])
    assert check.exit_code == 0, check.output  # the videos were opened, from another folder


@pytest.mark.parametrize("entry", ["vcr", "module"])
def test_config_data_and_output_dir_work_for_both_entry_points(entry, clip, tmp_path, monkeypatch):
    """Both entry points hand `data`/`output_dir` from the config to the same run (stopped before the model)."""
    import rft.train as train_module

    seen = {}

    def fake_args(cfg, out, device, weights):  # the first step after the data and rewards are resolved
        seen.update(data=cfg.data, out=str(out))
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "grpo_args", fake_args)
    monkeypatch.setattr(train_module, "resolve_device", lambda device: "cpu", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.jsonl").write_text(json.dumps({"task": "ground", "video": "clip.mp4", "query": "q",
                                                  "solution": {"start": 0.2, "end": 1.0}}) + "\n")
    (tmp_path / "c.yaml").write_text("data: d.jsonl\noutput_dir: runs/from-config\n")
    if entry == "vcr":
        result = runner.invoke(app, ["rft", "train", "--config", "c.yaml", "--device", "cpu"])
        assert result.exit_code == 130, result.output
    else:
        with pytest.raises(SystemExit) as stop:
            raise SystemExit(train_module.main(["--config", "c.yaml", "--device", "cpu"]))
        assert stop.value.code == 130
    assert seen == {"data": "d.jsonl", "out": "runs/from-config"}


def test_custom_reward_module_from_the_current_folder(tmp_path, monkeypatch):
    import sys

    from rft.rewards import build_rewards

    (tmp_path / "my_rewards_i14.py").write_text("def my_reward(completions, **kw):\n"
                                                "    return [0.5] * len(completions)\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "extra.py").write_text("def other(completions, **kw):\n    return [1.0] * len(completions)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])  # as under `vcr`
    funcs, weights = build_rewards(["my_rewards_i14:my_reward", "lib/extra.py:other"])
    assert [f([["a"], ["b"]]) for f in funcs] == [[0.5, 0.5], [1.0, 1.0]] and weights == [1.0, 1.0]
    assert str(tmp_path) not in sys.path  # only looked there for the import
