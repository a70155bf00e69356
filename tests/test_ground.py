"""`vcr ground` end to end through the real runtime, with locally built checkpoints."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

ANSWER = "<think>The rabbit stretches at <timestep>1.00 to 2.00</timestep>.</think><answer>1.20 to 3.40</answer>"
runner = CliRunner()


def _frames(path):
    import decord

    reader = decord.VideoReader(str(path))
    return len(reader), reader[0].shape, reader.get_avg_fps()


@pytest.mark.parametrize("quant", ["4bit", "none"])
def test_ground_bunny_end_to_end(parrot, bunny, tmp_path, quant):
    model = parrot(ANSWER)
    out, mp4, srt = tmp_path / "r.json", tmp_path / "r.mp4", tmp_path / "r.srt"
    result = runner.invoke(app, ["ground", str(bunny), "rabbit wakes up", "--model", str(model), "--quant", quant,
                                 "-o", str(out), "--annotate", str(mp4), "--srt", str(srt)])
    assert result.exit_code == 0, result.output
    assert "1.20s → 3.40s" in result.output
    data = json.loads(out.read_text())
    assert data["task"] == "ground" and data["status"] == "ok" and data["query"] == "rabbit wakes up"
    segment = data["segments"][0]
    assert (segment["start"], segment["end"]) == (1.2, 3.4) and len(data["segments"]) == 1
    assert 0.9 < segment["score"] <= 1.0  # the parrot is sure of its answer
    assert data["raw"] == ANSWER
    assert data["thinking"] == "The rabbit stretches at <timestep>1.00 to 2.00</timestep>."
    assert data["video"] == {"path": str(bunny), "duration": 5.28, "fps": 25.0, "frames": 132, "width": 1280,
                             "height": 720, "codec": "h264", "container": "mp4", "rotation": 0,
                             "constant_frame_rate": True}
    assert data["sampling"]["frames"] == 10 and (data["sampling"]["width"], data["sampling"]["height"]) == (980, 560)
    assert data["sampling"]["fps"] == pytest.approx(1.893939, abs=1e-6)
    assert data["runtime"]["quant"] == quant
    frames, shape, fps = _frames(mp4)
    assert (frames, shape, fps) == (132, (720, 1280, 3), 25.0)
    assert data["annotated"]["codec"] == "h264"
    assert srt.read_text() == "1\n00:00:01,200 --> 00:00:03,400\nrabbit wakes up\n"


def test_ground_generated_clip_clamps_to_duration(parrot, clip, tmp_path):
    model = parrot("<answer>0.50 to 9.00</answer>")  # the end lies beyond the 1.6 s clip
    result = runner.invoke(app, ["ground", str(clip), "square moves", "--model", str(model), "--no-think",
                                 "-o", "-", "--quant", "none"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # the end is floored to the millisecond: never past the end of the video
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(0.5, 1.601)]
    assert data["prompt_template"] == "GROUND_TEMPLATE_NOTHINK"
    assert data["video"]["fps"] == pytest.approx(29.97, abs=1e-3)


def test_an_answer_wholly_past_the_end_is_outside_not_a_zero_length_segment(parrot, clip, tmp_path):
    model = parrot("<answer>55.00 to 75.00</answer>")  # the 1.6 s clip ends long before
    srt = tmp_path / "r.srt"
    result = runner.invoke(app, ["ground", str(clip), "x", "--model", str(model), "--quant", "none",
                                 "-o", str(tmp_path / "r.json"), "--srt", str(srt)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["status"] == "outside_video" and data["segments"] == []
    assert "x: the answer lies outside the video (0.00s → 1.60s): '<answer>55.00 to 75.00</answer>'" in result.stdout
    assert " --> " not in srt.read_text()  # no empty cue at the end


def test_unparsed_answer_is_not_a_crash(parrot, clip, tmp_path):
    model = parrot("<answer>no idea</answer>")
    result = runner.invoke(app, ["ground", str(clip), "x", "--model", str(model), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["status"] == "unparsed" and data["segments"] == []


def test_real_fps_reaches_the_model(tiny_checkpoint, bunny):
    """second_per_grid_ts must be 2 / sampled fps (transformers would otherwise assume 24 fps)."""
    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_video

    video = sample_video(bunny, max_pixels=28 * 28 * 20)
    runtime = load_runtime(str(tiny_checkpoint), quant="none", device="cpu")
    inputs = runtime.build_inputs("where?", video)
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([2 / (10 / 5.28)], rel=1e-5)
    assert "mm_token_type_ids" in inputs
    assert int((inputs["input_ids"] == runtime.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")).sum()) \
        == video.plan.video_tokens


def test_chat_layout_matches_training(tiny_checkpoint):
    from vcr_cli.runtime import load_runtime

    runtime = load_runtime(str(tiny_checkpoint), quant="none", device="cpu")
    assert runtime.render_chat("PROMPT") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "PROMPT<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"
    )


def test_frames_match_qwen_vl_utils(bunny):
    """Our decode + resize is what qwen-vl-utils feeds the model (fidelity, mean abs diff)."""
    import numpy as np
    from qwen_vl_utils import process_vision_info

    from vcr_cli.sampling import MIN_PIXELS, TOTAL_PIXELS
    from vcr_cli.video import sample_video

    ours = sample_video(bunny)
    messages = [{"role": "user", "content": [{"type": "video", "video": str(bunny), "total_pixels": TOTAL_PIXELS,
                                              "min_pixels": MIN_PIXELS}]}]
    _, videos, kwargs = process_vision_info(messages, return_video_kwargs=True)
    ref = videos[0].permute(0, 2, 3, 1).numpy()
    assert ref.shape == ours.frames.shape
    assert np.abs(ref - ours.frames.astype(np.float32)).mean() < 2.0
    assert kwargs["fps"][0] == pytest.approx(ours.plan.fps)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.mp4", "q"], 2, "video not found"),
        (["EMPTY", "q"], 2, "video is empty"),
        (["TEXT", "q"], 2, "cannot decode"),
        (["DIR", "q"], 2, "directory"),
        (["CLIP", "  "], 2, "query is empty"),
        (["CLIP", "q", "--model", "/no/such/model"], 2, "model directory not found"),
        (["CLIP", "q", "--model", "NOTMODEL"], 2, "not a model checkpoint"),
        (["CLIP", "q", "-o", "DIR"], 2, "is a directory"),
        (["CLIP", "q", "--annotate", "/no/such/folder/out.mp4"], 2, "does not exist"),
    ],
)
def test_bad_input_one_line(tmp_path, clip, args, code, message):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp_path / "dir").mkdir()
    (tmp_path / "notmodel").mkdir()
    mapping = {"EMPTY": tmp_path / "empty.mp4", "TEXT": tmp_path / "text.mp4", "DIR": tmp_path / "dir",
               "CLIP": clip, "NOTMODEL": tmp_path / "notmodel", "missing.mp4": tmp_path / "missing.mp4"}
    argv = ["ground"] + [str(mapping.get(a, a)) for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0  # one line


def test_failed_run_does_not_clobber(tmp_path, clip):
    out = tmp_path / "keep.json"
    out.write_text("precious")
    result = runner.invoke(app, ["ground", str(clip), "q", "--model", str(tmp_path / "nope"), "-o", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "keep.json"]


def test_broken_checkpoint_fails_cleanly_and_keeps_outputs(tmp_path, clip, tiny_checkpoint):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)  # truncated download
    out = tmp_path / "keep.json"
    out.write_text("precious")
    result = runner.invoke(app, ["ground", str(clip), "q", "--model", str(broken), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "cannot load the checkpoint" in result.output and "Traceback" not in result.output
    assert out.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "clip.mp4", "keep.json"]


def test_help_does_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from vcr_cli.app import app; r = CliRunner();"
        "cmds = [[], ['ground'], ['track'], ['ask'], ['batch'], ['rft'], ['rft', 'train']];"
        "[r.invoke(app, c + ['--help']) for c in cmds];"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'cv2', 'decord', 'supervision', 'av', 'peft', 'ray')"
        " if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("vcr ")


def test_installed_console_script_pipes_json(parrot, clip):
    """The real `vcr` script (which skips interpreter teardown) flushes stdout and keeps exit codes."""
    import shutil

    vcr = shutil.which("vcr")
    assert vcr is not None, "the console script is installed with the package"
    model = parrot("<answer>0.50 to 9.00</answer>")
    proc = subprocess.run([vcr, "ground", str(clip), "square", "--model", str(model), "--quant", "none", "-o", "-"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["segments"][0]["start"] == 0.5
    bad = subprocess.run([vcr, "ground", str(clip), " "], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: the query is empty")
    # click's own usage errors are one line too (no usage box)
    for args, message in ((["ground", str(clip), "q", "--quant", "3bit"], "Invalid value for '--quant'"),
                          (["ground"], "Missing argument 'video'"), (["nosuch"], "No such command 'nosuch'"),
                          (["ground", str(clip), "q", "--device", "gpu"],
                           "Invalid value for '--device': 'gpu' is not one of"),  # no validator prefix
                          (["ground", str(clip), "q", "-o"], "Option '-o' requires an argument. (see `vcr ground "
                                                             "--help`)")):  # raised before click has a context
        usage = subprocess.run([vcr, *args], capture_output=True, text=True)
        assert usage.returncode == 2 and usage.stderr.startswith(f"error: {message}"), usage.stderr
        assert usage.stderr.count("\n") == 1


def test_unreachable_hub_fails_fast_with_the_fix(clip, monkeypatch):
    """Not cached and the hub can't be reached: one line at once, not minutes of retries."""
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    start = time.perf_counter()
    result = runner.invoke(app, ["ground", str(clip), "q", "--model", "OpenGVLab/VideoChat-R1_7B"])
    assert time.perf_counter() - start < 30
    assert result.exit_code == 1, result.output
    assert "cannot be reached" in result.output and "hf download OpenGVLab/VideoChat-R1_7B" in result.output
    assert result.output.strip().count("\n") == 0


TWO_ANSWERS = ("<answer>0.40 to 1.20</answer>", "<answer>0.40 to 1.30</answer>")


def test_score_is_the_models_own_probability_under_the_real_generation_config(parrot, clip, tmp_path):
    """VideoChat-R1_7B's generation config (top_k 1, top_p 0.001) warps generate's scores to a single token,
    which made every score 1.0; the score is the model's own probability (raw logits), here ~0.5."""
    import torch

    from vcr_cli.prompts import render_ground
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground
    from vcr_cli.video import sample_video

    model = parrot(TWO_ANSWERS)
    runtime = load_runtime(str(model), quant="none", device="cpu")
    config = runtime.model.generation_config
    assert (config.do_sample, config.top_k, config.top_p, config.temperature) == (True, 1, 0.001, 0.1)
    video = sample_video(clip)
    result = ground(runtime, video, "square moves", think=False)
    assert result["raw"] in TWO_ANSWERS
    token = runtime.processor.tokenizer.convert_tokens_to_ids(result["raw"])
    inputs = runtime.build_inputs(render_ground("square moves", think=False)[1], video)
    with torch.no_grad():
        probability = float(torch.softmax(runtime.model(**inputs).logits[0, -1].float(), dim=-1)[token])
    assert 0.3 < probability < 0.7
    assert result["segments"][0]["score"] == round(probability, 4)

    out = tmp_path / "r.json"
    cli = runner.invoke(app, ["ground", str(clip), "square moves", "--model", str(model), "--quant", "none",
                              "--no-think", "--min-score", "0.8", "-o", str(out)])
    assert cli.exit_code == 0, cli.output
    assert json.loads(out.read_text())["status"] == "below_min_score"  # a score of 1.0 would have passed


def test_random_replica_is_not_sure(replica_checkpoint, clip):
    """A random model spreads its probability over 152k tokens: its answers' score is far below 1."""
    from vcr_cli.runtime import load_runtime
    from vcr_cli.scoring import answer_confidence
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(replica_checkpoint), quant="none", device="cpu")
    generation = runtime.generate_scored("when?", sample_video(clip), max_new_tokens=4)
    assert answer_confidence(runtime, generation, "numbers") is None  # random tokens: no answer's numbers to score
    score = answer_confidence(runtime, generation, "text")
    assert score is not None and score < 0.01
