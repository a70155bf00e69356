"""`vcr rft ...` through the real Typer app: exit codes, exact outputs, and the calls into the trainer side."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.errors import UsageError

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"
GROUND = {"task": "ground", "video": "clip.mp4", "query": "a square moves", "solution": {"start": 0.2, "end": 1.1}}
CHARADES = {"AO8RW": {"duration": 33.75, "timestamps": [[0.0, 6.9]],
                      "sentences": ["a person is putting a book on a shelf."]}}
METRICS = {"tasks": {"ground": {"count": 1, "miou": 100.0, "r@0.3": 100.0, "r@0.5": 100.0, "r@0.7": 100.0}}}


def _jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_rft_help_is_light_and_lists_commands():
    code = (
        "import sys; from vcr_cli.app import app; import rft.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'cv2', 'decord', 'datasets', 'rft.train')"
        " if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = runner.invoke(app, ["rft", "--help"])
    assert result.exit_code == 0
    for command in ("validate", "convert", "train", "eval", "score", "merge"):
        assert command in result.output
        assert runner.invoke(app, ["rft", command, "--help"]).exit_code == 0


def test_validate_ok(tmp_path, clip):
    data = _jsonl(tmp_path / "d.jsonl", [GROUND, GROUND])
    result = runner.invoke(app, ["rft", "validate", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"ok: 2 examples (ground 2) in {data}" in result.stderr


def test_validate_reports_each_bad_line(tmp_path, clip):
    data = _jsonl(tmp_path / "d.jsonl", [GROUND, "{", {**GROUND, "task": "caption"},
                                         {**GROUND, "solution": {"start": 5, "end": 3}}])
    result = runner.invoke(app, ["rft", "validate", str(data)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{data}:2: bad JSON: Expecting property name enclosed in double quotes (column 2)",
        f'{data}:3: unknown task "caption" (expected ground, qa or track)',
        f"{data}:4: start 5 > end 3",
        f"{data}:4: time 3 s is beyond the end of the video (1.60 s)",
    ]
    assert "4 problems in" in result.stderr


def test_validate_videos_and_predictions_flags(tmp_path):
    data = _jsonl(tmp_path / "d.jsonl", [{**GROUND, "video": "missing.mp4"}])
    result = runner.invoke(app, ["rft", "validate", str(data)])
    assert result.exit_code == 1 and result.stdout == f"{data}:1: video not found: {tmp_path}/missing.mp4\n"
    assert runner.invoke(app, ["rft", "validate", str(data), "--no-check-videos"]).exit_code == 0
    result = runner.invoke(app, ["rft", "validate", str(data), "--no-check-videos", "--predictions"])
    assert result.exit_code == 1 and result.stdout == f"{data}:1: missing field \"output\" (the model's raw text)\n"


def test_validate_sample_data_without_videos():
    result = runner.invoke(app, ["rft", "validate", str(EXAMPLES / "train.jsonl"), "--no-check-videos"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["rft", "validate", str(EXAMPLES / "predictions.jsonl"), "--no-check-videos",
                                 "--predictions"])
    assert result.exit_code == 0, result.output


def test_validate_missing_file_is_usage_error(tmp_path):
    result = runner.invoke(app, ["rft", "validate", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "data file not found" in result.stderr and "Traceback" not in result.output


def test_convert_to_file_with_relative_video_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "train.json"
    src.write_text(json.dumps(CHARADES))
    (tmp_path / "data").mkdir()
    result = runner.invoke(app, ["rft", "convert", "--from", "charades", str(src), "-o", "data/train.jsonl",
                                 "--video-root", "videos/charades"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    # relative to the output file's folder, so it resolves to ./videos/charades/AO8RW.mp4 from here
    assert lines == [{"task": "ground", "video": "../videos/charades/AO8RW.mp4",
                      "query": "a person is putting a book on a shelf.", "solution": {"start": 0.0, "end": 6.9}}]
    assert "wrote 1 line to data/train.jsonl" in result.stderr


def test_convert_to_stdout_and_absolute_root(tmp_path):
    src = tmp_path / "got.json"
    src.write_text(json.dumps([{"path": "GOT-10k/val/GOT-10k_Val_000001", "object": "sloth",
                                "gt": [[0.093, 0.0, 0.8, 0.797]] * 8}]))
    result = runner.invoke(app, ["rft", "convert", "--from", "got10k", str(src), "-o", "-", "--video-root", "/data"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"task": "track", "video": "/data/GOT-10k/val/GOT-10k_Val_000001",
                                         "object": "sloth", "solution": {"boxes": [[0.093, 0.0, 0.8, 0.797]] * 8}}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--from", "coco"], 2, "Invalid value"),  # unknown format (Typer's own check)
        (["--from", "nextgqa"], 2, "expected a JSON list of"),  # wrong format for the file
        (["--from", "charades", "--no-such-flag"], 2, "No such option"),
    ],
)
def test_convert_errors(tmp_path, args, code, message):
    src = tmp_path / "train.json"
    src.write_text(json.dumps(CHARADES))
    result = runner.invoke(app, ["rft", "convert", str(src), "-o", str(tmp_path / "o.jsonl"), *args])
    assert result.exit_code == code
    assert message in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_convert_missing_output_folder(tmp_path):
    src = tmp_path / "train.json"
    src.write_text(json.dumps(CHARADES))
    result = runner.invoke(app, ["rft", "convert", "--from", "charades", str(src), "-o", str(tmp_path / "no/o.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_score_writes_metrics_and_prints_table(tmp_path):
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, ["rft", "score", str(EXAMPLES / "predictions.jsonl"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["tasks"] == {
        "ground": {"count": 3, "miou": 50.0, "r@0.3": 66.6667, "r@0.5": 66.6667, "r@0.7": 33.3333},
        "qa": {"count": 2, "accuracy": 50.0, "evidence_miou": 50.0},
        "track": {"count": 2, "overlap": 50.0},
    }
    assert list(metrics["protocols"]) == ["videochat-r1", "timelens"]
    assert "mIoU" in result.stdout and "66.67" in result.stdout and "overlap" in result.stdout


def test_score_json_on_stdout_table_on_stderr():
    result = runner.invoke(app, ["rft", "score", str(EXAMPLES / "predictions.jsonl"), "-o", "-"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tasks"]["track"] == {"count": 2, "overlap": 50.0}
    assert "overlap" in result.stderr


def test_score_bad_predictions(tmp_path):
    preds = _jsonl(tmp_path / "p.jsonl", [{**GROUND, "output": "1 to 2"}, GROUND])
    result = runner.invoke(app, ["rft", "score", str(preds)])
    assert result.exit_code == 2
    assert f"{preds}:2: missing field \"output\" (the model's raw text)" in result.stderr


# ---------------------------------------------------------------- train / eval / merge call the trainer side


@pytest.fixture
def stub(monkeypatch):
    """Install fake rft.train / rft.evaluate / rft.merge modules recording their calls."""
    calls: dict[str, dict] = {}

    def module(name, func_name, result):
        mod = types.ModuleType(name)

        def func(**kwargs):
            calls[func_name] = kwargs
            if isinstance(result, Exception):
                raise result
            return result

        setattr(mod, func_name, func)
        monkeypatch.setitem(sys.modules, name, mod)

    def install(train=None, evaluate=None, merge=None):
        module("rft.train", "run_training", train)
        module("rft.evaluate", "evaluate", evaluate)
        module("rft.merge", "merge_adapter", merge)
        return calls

    return install


def test_train_passes_options(tmp_path, stub):
    calls = stub(train=tmp_path / "out" / "final")
    data = _jsonl(tmp_path / "d.jsonl", [GROUND])
    result = runner.invoke(app, ["rft", "train", str(data), "--config", "rft.yaml", "--model", "m",
                                 "--output-dir", str(tmp_path / "out"), "--max-steps", "3", "--quant", "4bit",
                                 "--resume", "--device", "cpu", "--family", "timelens2"])
    assert result.exit_code == 0, result.output
    assert calls["run_training"] == {"data_path": data, "config_path": Path("rft.yaml"), "model": "m",
                                     "output_dir": tmp_path / "out", "max_steps": 3, "full": False, "quant": "4bit",
                                     "resume": True, "device": "cpu", "family": "timelens2"}
    assert f"saved to {tmp_path / 'out' / 'final'}" in result.stderr


def test_train_defaults_and_optional_data_and_output_dir(tmp_path, stub):
    calls = stub(train=tmp_path)
    result = runner.invoke(app, ["rft", "train", "d.jsonl", "--output-dir", "o", "--full"])
    assert result.exit_code == 0, result.output
    assert calls["run_training"] == {"data_path": Path("d.jsonl"), "config_path": None, "model": None,
                                     "output_dir": Path("o"), "max_steps": None, "full": True, "quant": None,
                                     "resume": False, "device": "auto", "family": None}
    # DATA and --output-dir may come from the config (`data:`, `output_dir:`), as for `python -m rft.train`
    result = runner.invoke(app, ["rft", "train", "--config", "c.yaml"])
    assert result.exit_code == 0, result.output
    assert calls["run_training"]["data_path"] is None and calls["run_training"]["output_dir"] is None


@pytest.mark.parametrize(("error", "code"), [(UsageError("bad config: lr"), 2), (RuntimeError("CUDA broke"), 1)])
def test_train_errors_are_one_line(tmp_path, stub, error, code):
    stub(train=error)
    result = runner.invoke(app, ["rft", "train", "d.jsonl", "--output-dir", "o"])
    assert result.exit_code == code
    assert str(error) in result.stderr and "Traceback" not in result.output


def test_eval_writes_metrics(tmp_path, stub):
    calls = stub(evaluate=METRICS)
    data = _jsonl(tmp_path / "d.jsonl", [GROUND])
    out, preds = tmp_path / "m.json", tmp_path / "p.jsonl"
    result = runner.invoke(app, ["rft", "eval", str(data), "--model", "ckpt", "-o", str(out), "--predictions",
                                 str(preds), "--no-think", "--family", "timelens"])
    assert result.exit_code == 0, result.output
    assert calls["evaluate"] == {"data_path": data, "model": "ckpt", "quant": "4bit", "device": "auto",
                                 "think": False, "predictions_path": preds, "max_new_tokens": None,
                                 "family": "timelens"}
    assert json.loads(out.read_text()) == METRICS
    assert "mIoU" in result.stdout


def test_eval_checks_before_loading(tmp_path, stub):
    calls = stub(evaluate=METRICS)
    result = runner.invoke(app, ["rft", "eval", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "data file not found" in result.stderr
    data = _jsonl(tmp_path / "d.jsonl", [GROUND])
    result = runner.invoke(app, ["rft", "eval", str(data), "-o", str(tmp_path / "no" / "m.json")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert "evaluate" not in calls


def test_merge(tmp_path, stub):
    calls = stub(merge=tmp_path / "merged")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    result = runner.invoke(app, ["rft", "merge", str(adapter), "-o", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    assert calls["merge_adapter"] == {"adapter_dir": adapter, "output_dir": tmp_path / "merged", "base_model": None}
    result = runner.invoke(app, ["rft", "merge", str(tmp_path / "none"), "-o", str(tmp_path / "m2")])
    assert result.exit_code == 2 and "adapter folder not found" in result.stderr


def test_num_generations_that_cannot_fill_a_step_names_the_users_settings(tmp_path):
    from rft.config import RftConfig
    from rft.train import grpo_args
    from vcr_cli.errors import UsageError

    cfg = RftConfig.from_dict({"num_generations": 3})
    with pytest.raises(UsageError) as caught:
        grpo_args(cfg, tmp_path / "run", "cpu", [1.0, 1.0])
    assert str(caught.value) == ("config: num_generations (3) must divide the completions of one step: "
                                 "per_device_train_batch_size x gradient_accumulation_steps (x GPUs) = 2 x 4 = 8 "
                                 "here; change one of them")
