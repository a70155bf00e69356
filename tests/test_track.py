"""`vcr track` end to end through the real runtime (parrot checkpoints), plus its pure parts.

The parrot's answer holds both a Qwen2.5-VL grounding answer ({"bbox_2d": ...}, read by the
no---box path) and VideoChat-R1's 8-box <answer> (read by every tracking window), so one
checkpoint serves every command line here.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

try:  # tests/ as a package or as a plain folder
    from tests import media
    from tests.conftest import write_clip
except ImportError:
    import media
    from conftest import write_clip

BOXES = [[0.1, 0.2, 0.3, 0.4], [0.12, 0.2, 0.32, 0.4], [0.14, 0.22, 0.34, 0.42], [0.16, 0.24, 0.36, 0.44],
         [0.2, 0.25, 0.4, 0.45], [0.25, 0.3, 0.45, 0.5], [0.3, 0.3, 0.5, 0.5], [0.35, 0.32, 0.55, 0.52]]
ANSWER = '{"bbox_2d": [130, 150, 390, 290], "label": "rabbit"}\n<answer>' + str(BOXES) + "</answer>"
# The model's keyframe boxes: box 0 echoes the start box, box k >= 1 belongs to fed frame k-1 (inferred alignment),
# so the start frame keeps its given box and fed frames 1..6 get boxes 2..7.
MODEL_BOXES = BOXES[2:]
SMALL = ["--max-pixels", "40000"]  # keyframes 224x112: exact boxes do not depend on the model's frame size
runner = CliRunner()


def _px(box, width, height):
    return [round(box[0] * width, 2), round(box[1] * height, 2), round(box[2] * width, 2), round(box[3] * height, 2)]


def _video(path):
    import decord

    reader = decord.VideoReader(str(path))
    return len(reader), reader[0].shape, reader.get_avg_fps()


# ---------------------------------------------------------------- end to end


def test_track_bunny_with_box(parrot, bunny, tmp_path):
    model = parrot(ANSWER)
    out, mp4, mot = tmp_path / "t.json", tmp_path / "t.mp4", tmp_path / "t.mot.txt"
    result = runner.invoke(app, ["track", str(bunny), "--object", "rabbit", "--box", "128,144,384,288",
                                 "--model", str(model), "-o", str(out), "--annotate", str(mp4), "--mot", str(mot),
                                 *SMALL])
    assert result.exit_code == 0, result.output
    assert "7 keyframes from 1 window (ok), a box on all 132 frames" in result.output
    data = json.loads(out.read_text())
    assert data["task"] == "track" and data["status"] == "ok" and data["object"] == "rabbit"
    assert data["model"] == str(model) and data["runtime"]["quant"] == "4bit"
    assert data["video"] == {"path": str(bunny), "duration": 5.28, "fps": 25.0, "frames": 132, "width": 1280,
                             "height": 720, "codec": "h264", "container": "mp4", "rotation": 0,
                             "constant_frame_rate": True}
    assert data["start_box"] == [128.0, 144.0, 384.0, 288.0] and data["start_box_source"] == "user"
    assert data["prompt_template"] == "QUESTION_TEMPLATE_TRACK"
    # the paper's 7 tracking frames: first, int(i*131/6) for i = 1..5, last; the given start box on the first,
    # the model's boxes 2..7 on the 6 others (box 0 echoes the start box, box 1 is the start frame), in pixels
    assert data["windows"][0]["keyframe_frames"] == [0, 21, 43, 65, 87, 109, 131]
    assert data["windows"][0]["box_frames"] == [0, 0, 21, 43, 65, 87, 109, 131]
    assert [k["frame"] for k in data["keyframes"]] == [0, 21, 43, 65, 87, 109, 131]
    assert [k["box"] for k in data["keyframes"]] == [
        [128.0, 144.0, 384.0, 288.0], [179.2, 158.4, 435.2, 302.4],
        [204.8, 172.8, 460.8, 316.8], [256.0, 180.0, 512.0, 324.0], [320.0, 216.0, 576.0, 360.0],
        [384.0, 216.0, 640.0, 360.0], [448.0, 230.4, 704.0, 374.4]]
    assert [k["source"] for k in data["keyframes"]] == ["user"] + ["model"] * 6
    assert [k["time"] for k in data["keyframes"]] == [0.0, 0.84, 1.72, 2.6, 3.48, 4.36, 5.24]
    assert data["sampling"]["box_alignment"].startswith("inferred, not published")
    # a box on every frame, inside the frame; keyframes untouched by interpolation/refinement
    frames = data["frames"]
    assert [f["frame"] for f in frames] == list(range(132))
    assert all(0 <= f["box"][0] < f["box"][2] <= 1280 and 0 <= f["box"][1] < f["box"][3] <= 720 for f in frames)
    for k in data["keyframes"]:
        assert frames[k["frame"]]["box"] == k["box"] and frames[k["frame"]]["source"] == "keyframe"
    assert frames[1]["time"] == 0.04
    assert data["refinement"] in ("template-matching", "linear")
    assert data["raw"] == [ANSWER] and data["windows"][0]["strict_format_ok"] is True
    assert data["windows"][0]["start_box_norm"] == [0.1, 0.2, 0.3, 0.4]
    assert data["sampling"]["fps"] == 2.0 and data["sampling"]["frames"] == 8
    assert data["sampling"]["distinct_frames"] == 7
    # the annotated MP4: same frame count, size and fps as the input
    assert _video(mp4) == (132, (720, 1280, 3), 25.0)
    assert data["annotated"]["codec"] == "h264" and data["annotated"]["frames"] == 132
    lines = mot.read_text().splitlines()
    assert len(lines) == 132
    assert lines[0] == "1,1,128,144,256,144,1,-1,-1,-1"
    assert lines[21] == "22,1,179.2,158.4,256,144,1,-1,-1,-1"


def test_track_bunny_without_box_locates_the_object(parrot, bunny, tmp_path):
    from vcr_cli.tasks.track import grounding_size
    from vcr_cli.video import probe

    model = parrot(ANSWER)
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["track", str(bunny), "-O", "rabbit", "--model", str(model), "--quant", "none",
                                 "--no-think", "-o", str(out), "--no-refine", "--max-pixels", "200704"])
    assert result.exit_code == 0, result.output
    assert "start box located by the model" in result.output
    data = json.loads(out.read_text())
    assert grounding_size(probe(bunny), 200704) == (588, 336) == tuple(data["grounding"]["image_size"])
    # bbox_2d [130, 150, 390, 290] is in pixels of the 588x336 image the model saw: mapped back to 1280x720
    expected = [round(130 * 1280 / 588, 2), round(150 * 720 / 336, 2), round(390 * 1280 / 588, 2),
                round(290 * 720 / 336, 2)]
    assert data["start_box"] == expected == [282.99, 321.43, 848.98, 621.43]
    assert data["start_box_source"] == "model" and data["keyframes"][0]["source"] == "grounding"
    assert data["grounding"]["box_resized"] == [130.0, 150.0, 390.0, 290.0]
    assert data["grounding"]["prompt"] == ("Locate the rabbit in this image and output its bbox coordinates in JSON "
                                           "format.")
    assert data["windows"][0]["start_box_norm"] == [0.221, 0.446, 0.663, 0.863]
    assert data["prompt_template"] == "TRACK_NO_THINK"
    assert [k["box"] for k in data["keyframes"][1:]] == [_px(b, 1280, 720) for b in MODEL_BOXES]
    assert data["refinement"] == "linear" and len(data["frames"]) == 132
    assert all(f["source"] in ("keyframe", "interpolated") for f in data["frames"])


def test_long_clip_is_covered_by_chained_windows(parrot, tmp_path):
    """36 s at 8 fps with --window 12: 3 windows, each starting from the previous window's last box."""
    clip = write_clip(tmp_path / "long.mp4", frames=288, fps=8.0, width=96, height=64)
    model = parrot(ANSWER)
    out, mot = tmp_path / "t.json", tmp_path / "t.txt"
    result = runner.invoke(app, ["track", str(clip), "-O", "square", "--box", "0.1,0.2,0.3,0.4", "--normalized",
                                 "--window", "12", "--model", str(model), "--quant", "none", "-o", str(out),
                                 "--mot", str(mot)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["sampling"]["windows"] == 3 and data["status"] == "ok"
    windows = data["windows"]
    assert [(w["first_frame"], w["last_frame"]) for w in windows] == [(0, 96), (96, 191), (191, 287)]
    assert windows[0]["start_box_source"] == "user" and windows[1]["start_box_source"] == "previous window"
    # the parrot's last box (normalized) is where the next window starts
    assert windows[1]["start_box_norm"] == windows[2]["start_box_norm"] == BOXES[-1]
    assert [w["keyframe_frames"] for w in windows] == [[0, 16, 32, 48, 64, 80, 96],
                                                       [96, 111, 127, 143, 159, 175, 191],
                                                       [191, 207, 223, 239, 255, 271, 287]]
    assert len(data["keyframes"]) == 1 + 3 * 6 == len(set(k["frame"] for k in data["keyframes"]))
    assert [k["frame"] for k in data["keyframes"]] == sorted(k["frame"] for k in data["keyframes"])
    assert [k["window"] for k in data["keyframes"][1:]] == [0] * 6 + [1] * 6 + [2] * 6
    assert data["keyframes"][0]["box"] == [9.6, 12.8, 28.8, 25.6]
    assert data["keyframes"][7]["frame"] == windows[1]["keyframe_frames"][1] == 111
    assert data["keyframes"][7]["box"] == _px(BOXES[2], 96, 64)
    assert [f["frame"] for f in data["frames"]] == list(range(288))
    assert len(mot.read_text().splitlines()) == 288
    assert len(data["raw"]) == 3


def test_start_end_range(parrot, tmp_path):
    clip = write_clip(tmp_path / "c.mp4", frames=160, fps=8.0, width=96, height=64)
    model = parrot(ANSWER)
    out, mot = tmp_path / "t.json", tmp_path / "t.txt"
    result = runner.invoke(app, ["track", str(clip), "-O", "square", "--box", "10,10,30,30", "--start", "5",
                                 "--end", "15", "--model", str(model), "--quant", "none", "-o", str(out),
                                 "--mot", str(mot), "--no-refine"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["range"] == {"first_frame": 40, "last_frame": 120, "start": 5.0, "end": 15.0}
    assert [f["frame"] for f in data["frames"]] == list(range(40, 121))
    assert data["keyframes"][0] == {"frame": 40, "time": 5.0, "box": [10.0, 10.0, 30.0, 30.0], "source": "user",
                                    "window": 0}
    assert data["keyframes"][-1]["frame"] == 120
    assert mot.read_text().splitlines()[0] == "41,1,10,10,20,20,1,-1,-1,-1"


def test_unparsable_answer_holds_the_start_box(tiny_checkpoint, clip, tmp_path):
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["track", str(clip), "-O", "square", "--box", "10,10,30,30", "--model",
                                 str(tiny_checkpoint), "--quant", "none", "--max-new-tokens", "12", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "no boxes could be parsed" in result.output
    data = json.loads(out.read_text())
    assert data["status"] == "unparsed" and data["windows"][0]["status"] != "ok"
    assert len(data["keyframes"]) == 1 and len(data["frames"]) == 48
    assert all(f["box"] == [10.0, 10.0, 30.0, 30.0] for f in data["frames"])
    assert data["frames"][-1]["source"] == "held"


class FakeRuntime:
    """Answers queued texts in order (for the window bookkeeping; the real runtime is tested above)."""

    model_id, quant, device = "fake", "none", "cpu"

    def __init__(self, answers):
        self.answers, self.prompts = list(answers), []

    @property
    def family(self):
        from vcr_cli.checkpoints import default_family

        return default_family()

    def new_token_budget(self, asked=None):
        from vcr_cli.runtime import Runtime

        return Runtime.new_token_budget(self, asked)

    def describe(self):
        return {"id": self.model_id, "quant": self.quant, "device": self.device}

    def generate(self, prompt, video, max_new_tokens=2048, layout="text_first"):
        from vcr_cli.runtime import Generation

        assert layout == "text_first"  # VideoChat-R1's tracking layout
        assert video.frames.shape[0] == 8 and video.metadata()["fps"] == 2.0
        assert (video.frames[-1] == video.frames[-2]).all()  # 7 fed frames, the last repeated (as qwen-vl-utils)
        self.prompts.append(prompt)
        return Generation(self.answers.pop(0), 10, 5, 0.0)

    generate_scored = generate  # no logits kept: the windows' score is None

    def generate_image(self, prompt, image, max_new_tokens=256):
        from vcr_cli.runtime import Generation

        self.prompts.append(prompt)
        return Generation(self.answers.pop(0), 10, 5, 0.0)


def test_a_normalized_grounding_answer_is_read_as_0_to_1(tmp_path):
    """VideoChat-R1 learned 0..1 boxes: a grounding answer [0.1, 0.2, 0.3, 0.4] is not a 0.2-pixel box."""
    from vcr_cli.tasks.track import track

    clip = write_clip(tmp_path / "c.mp4", frames=48, fps=8.0, width=96, height=64)
    data = track(FakeRuntime(['{"bbox_2d": [0.1, 0.2, 0.3, 0.4]}', ANSWER]), clip, "square", None, refine=False)
    assert data["start_box"] == [9.6, 12.8, 28.8, 25.6] and data["start_box_source"] == "model"
    assert data["grounding"]["box_units"] == "normalized"
    assert data["windows"][0]["start_box_norm"] == [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize("answer", ['{"bbox_2d": [10, 10, 11, 30]}', '{"bbox_2d": [0.1, 0.2, 0.1, 0.9]}'])
def test_a_degenerate_located_box_is_refused_with_a_hint(tmp_path, answer):
    from vcr_cli.tasks.track import LocateError, track

    clip = write_clip(tmp_path / "c.mp4", frames=48, fps=8.0, width=96, height=64)
    with pytest.raises(LocateError, match=r"too small to track; pass the object's box with --box X0,Y0,X1,Y1"):
        track(FakeRuntime([answer, ANSWER]), clip, "square", None, refine=False)


def test_a_failed_window_is_skipped_and_its_start_box_carried(tmp_path):
    from vcr_cli.tasks.track import track

    clip = write_clip(tmp_path / "long.mp4", frames=288, fps=8.0, width=96, height=64)
    runtime = FakeRuntime([ANSWER, "<answer>I lost it</answer>", ANSWER])
    data = track(runtime, clip, "square", [9.6, 12.8, 28.8, 25.6], window_s=12, refine=False)
    assert data["status"] == "partial"
    assert [w["status"] for w in data["windows"]] == ["ok", "unparsed", "ok"]
    assert data["windows"][2]["start_box_source"] == "carried"
    assert data["windows"][2]["start_box_norm"] == BOXES[-1]  # window 0's last box, carried over window 1
    assert f"{BOXES[-1]}" in runtime.prompts[2]
    # window 2 starts from a carried box, so its box 1 (the model's box for its start frame, 191) is a keyframe too
    assert len(data["keyframes"]) == 1 + 6 + 7
    assert [k for k in data["keyframes"] if k["frame"] == 191][0]["box"] == _px(BOXES[1], 96, 64)
    # window 1's frames are interpolated between window 0's last keyframe and window 2's first one
    assert {f["source"] for f in data["frames"][97:191]} == {"interpolated"}


def test_answers_in_pixels_are_mapped_from_the_keyframe_size(tmp_path):
    """Qwen2.5-VL habitually answers absolute pixels of the frames it saw; lenient parsing maps them back."""
    from vcr_cli.tasks.track import track, window_size
    from vcr_cli.video import probe

    clip = write_clip(tmp_path / "c.mp4", frames=48, fps=8.0, width=96, height=64)
    kw, kh = window_size(probe(clip))
    pixels = [[b[0] * kw, b[1] * kh, b[2] * kw, b[3] * kh] for b in BOXES]
    data = track(FakeRuntime([f"<answer>{pixels}</answer>"]), clip, "square", [9.6, 12.8, 28.8, 25.6], refine=False)
    assert data["windows"][0]["units"] == f"pixels of the {kw}x{kh} keyframes"
    assert [k["box"] for k in data["keyframes"]] == [_px(b, 96, 64) for b in [BOXES[0], *MODEL_BOXES]]
    strict = track(FakeRuntime([f"<answer>{pixels}</answer>"]), clip, "square", [9.6, 12.8, 28.8, 25.6],
                   refine=False, strict=True)
    assert strict["windows"][0]["units"] == "normalized"  # the evaluation parser takes the answer as it is


def _bumpy(width, height, n, amplitude=14.0):
    """Through the start box and the parrot's boxes at the 7 fed frames, bulging `amplitude` px down between them."""
    from vcr_cli.sampling import tracking_frame_indices

    keys = tracking_frame_indices(n)
    at_keys = [BOXES[0], *MODEL_BOXES]

    def path(i):
        k = max(j for j in range(6) if keys[j] <= i)
        w = (i - keys[k]) / (keys[k + 1] - keys[k])
        a, b = at_keys[k], at_keys[k + 1]
        box = [(a[c] + (b[c] - a[c]) * w) * (width if c % 2 == 0 else height) for c in range(4)]
        bump = amplitude * math.sin(math.pi * w)
        return (box[0], box[1] + bump, box[2], box[3] + bump)

    return path


def test_refinement_follows_a_curved_path_end_to_end(parrot, tmp_path):
    """The model's keyframes are right; between them the square bulges away from the straight line."""
    from vcr_cli.tracking import clip_box, mean_iou

    width, height, n = 160, 120, 120
    path = _bumpy(width, height, n)
    clip = write_clip(tmp_path / "bumpy.mp4", frames=n, fps=25.0, width=width, height=height, box_path=path)
    truth = [clip_box([int(round(v)) for v in path(i)], width, height) for i in range(n)]
    scores = {}
    for flag in ("--refine", "--no-refine"):
        out = tmp_path / f"{flag}.json"
        result = runner.invoke(app, ["track", str(clip), "-O", "white square", "--box", "0.1,0.2,0.3,0.4",
                                     "--normalized", "--model", str(parrot(ANSWER)), "--quant", "none", "--no-think",
                                     "-o", str(out), flag, *SMALL])
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text())
        assert [k["box"] for k in data["keyframes"]] == [_px(b, width, height) for b in [BOXES[0], *MODEL_BOXES]]
        scores[flag] = mean_iou([f["box"] for f in data["frames"]], truth)
        scores[flag + " method"] = data["refinement"]
        scores[flag + " report"] = data["refinement_report"]
    assert scores["--refine method"] == "template-matching" and scores["--no-refine method"] == "linear"
    assert scores["--refine report"]["refined"] == 6 and scores["--no-refine report"] is None
    assert scores["--no-refine"] < 0.6 and scores["--refine"] > 0.85, scores


# ---------------------------------------------------------------- interpolation and refinement (known path)


def _circle(width, height, size=24, period=50):
    def path(i):
        cx = width / 2 + 0.3 * width * math.cos(2 * math.pi * i / period)
        cy = height / 2 + 0.3 * height * math.sin(2 * math.pi * i / period)
        return (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)

    return path


def _line(width, height, n, size=24):
    def path(i):
        x, y = 4 + (width - size - 8) * i / (n - 1), 4 + (height - size - 8) * i / (n - 1)
        return (x, y, x + size, y + size)

    return path


def _dense(path, n, width, height, tmp_path, noise=0.0):
    import numpy as np

    from vcr_cli.sampling import frame_indices
    from vcr_cli.tracking import clip_box, interpolate, iter_gray_frames, mean_iou, refine, tracking_size

    clip = write_clip(tmp_path / "known.mp4", frames=n, fps=25.0, width=width, height=height, box_path=path)
    truth = [clip_box(path(i), width, height) for i in range(n)]
    rng = np.random.default_rng(0)
    keys = []
    for k, i in enumerate(frame_indices(n, 8)):
        dx, dy = rng.normal(0, noise * 24, 2) if k else (0.0, 0.0)
        b = truth[i]
        keys.append((i, clip_box([b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy], width, height)))
    linear = interpolate(keys, 0, n - 1)
    tw, th = tracking_size(width, height)
    refined, report = refine(keys, iter_gray_frames(clip, 0, n - 1, tw, th), 0, n - 1, width, height)
    for i, box in keys:
        assert refined[i] == box  # keyframes are never moved
    return mean_iou(linear, truth), mean_iou(refined, truth), report


def test_refined_iou_0_93_beats_linear_0_28_on_a_circle(tmp_path):
    linear, refined, report = _dense(_circle(160, 120), 120, 160, 120, tmp_path)
    assert linear == pytest.approx(0.28, abs=0.02)
    assert refined > 0.9 and report.refined == 7, (refined, report)


def test_refined_iou_0_84_beats_linear_0_26_with_noisy_keyframes(tmp_path):
    linear, refined, report = _dense(_circle(160, 120), 120, 160, 120, tmp_path, noise=0.1)
    assert linear < 0.3 and refined > 0.8, (linear, refined, report)


def test_refinement_keeps_linear_motion_linear_iou_1_0(tmp_path):
    linear, refined, report = _dense(_line(160, 120, 120), 120, 160, 120, tmp_path)
    assert linear > 0.99 and refined >= linear - 0.005, (linear, refined, report)
    assert report.reasons.get("motion is linear") == 7


def _frame_folder(folder, count, width=96, height=64):
    """A GOT-10k-style sequence: `count` JPEGs named 00000001.jpg..., frame i spelling i (`media.read_code`)."""
    import cv2

    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), media.code_image(i, width, height)[:, :, ::-1])
    return folder


def test_a_frame_folder_is_tracked_in_one_window_as_the_paper_does(parrot, tmp_path):
    """150 JPEGs: one window of the paper's 7 frames over the whole folder (not 5 windows of 2-fps 15 s), the same
    frames at the same size as `vcr rft eval` / training feed (`sample_tracking`); --window still splits."""
    from vcr_cli.sampling import plan_tracking
    from vcr_cli.tasks.track import WindowFrames, plan_windows, window_size, window_video
    from vcr_cli.video import probe, sample_tracking

    folder = _frame_folder(tmp_path / "GOT-10k_Val_000001", 150)
    model = parrot(ANSWER)
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["track", str(folder), "-O", "square", "--box", "0.1,0.2,0.3,0.4", "--normalized",
                                 "--model", str(model), "--quant", "none", "-o", str(out), "--no-refine"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["sampling"]["windows"] == 1 and len(data["windows"]) == 1 and data["status"] == "ok"
    assert data["sampling"]["window_s_requested"] is None
    assert data["sampling"]["window_rule"].startswith("one window over the frame folder")
    fed = [0, 24, 49, 74, 99, 124, 149]
    assert data["windows"][0]["keyframe_frames"] == fed == plan_tracking(150, 96, 64).indices
    assert [k["frame"] for k in data["keyframes"]] == fed
    assert [f["frame"] for f in data["frames"]] == list(range(150))

    info = probe(folder)
    (window,) = plan_windows(info, 0, 149)
    frames = WindowFrames(folder, [window], *window_size(info))
    (got,) = list(frames)
    frames.close()
    model_input, paper = window_video(info, got), sample_tracking(folder)
    assert [media.read_code(f) for f in model_input.frames] == fed + [149]  # the processor's 8th: the last again
    assert model_input.frames.shape[1:] == paper.frames.shape[1:] and (model_input.frames[:7] == paper.frames).all()
    assert model_input.plan.fps == paper.plan.fps == 2.0

    split = runner.invoke(app, ["track", str(folder), "-O", "square", "--box", "0.1,0.2,0.3,0.4", "--normalized",
                                "--window", "15", "--model", str(model), "--quant", "none", "-o", "-",
                                "--no-refine"])
    assert split.exit_code == 0, split.output
    windows = json.loads(split.stdout)["windows"]  # 150 frames at a folder's nominal 2 fps: 75 s, 5 x 15 s
    assert [(w["first_frame"], w["last_frame"]) for w in windows] == [(0, 30), (30, 60), (60, 89), (89, 119),
                                                                      (119, 149)]


@pytest.fixture(scope="module")
def screen_recording(tmp_path_factory):
    """The issue's variable-frame-rate clip: 60 fps for 10 s, then 10 fps for 10 s (700 frames, 0..19.9 s)."""
    return media.timed_clip(tmp_path_factory.mktemp("vfr") / "screen.mp4", media.vfr_times())


def test_variable_frame_rate_keyframes_are_evenly_timed(parrot, screen_recording, tmp_path):
    """By frame index the 7 keyframes would land at 0, 1.9, 3.9, 5.8, 7.8, 9.7 and 19.9 s; by time they are 3.3 s
    apart, the frames the model gets are those, and boxes between keyframes follow the frames' real times."""
    from vcr_cli.tasks.track import WindowFrames, plan_windows, window_size
    from vcr_cli.tracking import lerp_box, round_box
    from vcr_cli.video import probe

    info = probe(screen_recording)
    assert not info.constant_rate
    model = parrot(ANSWER)
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["track", str(screen_recording), "-O", "square", "--box", "0.1,0.2,0.3,0.4",
                                 "--normalized", "--model", str(model), "--quant", "none", "-o", str(out),
                                 "--no-refine", *SMALL])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    (window,) = data["windows"]
    fed = [0, 199, 398, 597, 633, 666, 699]  # shown at 0, 3.317, 6.633, 9.95, 13.3, 16.6, 19.9 s
    assert window["keyframe_frames"] == fed
    assert [k["time"] for k in data["keyframes"]] == [0.0, 3.317, 6.633, 9.95, 13.3, 16.6, 19.9]
    even = [19.9 * i / 6 for i in range(7)]
    assert all(abs(info.time_of(f) - t) <= 0.05 for f, t in zip(fed, even))  # within half a 10-fps frame
    assert data["sampling"]["window_s"] == 20.0  # the last frame is shown until the end, 19.9 + 0.1 s

    (plan,) = plan_windows(info, 0, 699)
    frames = WindowFrames(screen_recording, [plan], *window_size(info, 40000))
    (got,) = list(frames)
    frames.close()
    assert [media.read_code(f) for f in got] == fed  # the real frames at those times reached the model

    by_frame = {f["frame"]: f for f in data["frames"]}
    assert by_frame[633]["time"] == 13.3 and by_frame[600]["time"] == 10.0
    k597, k633 = by_frame[597]["box"], by_frame[633]["box"]
    # frame 600 is 0.05 s into the 3.35 s from keyframe 597 to 633 (by index it would be 3/36 of the way)
    assert by_frame[600]["box"] == round_box(lerp_box(k597, k633, (10.0 - 9.95) / (13.3 - 9.95)))
    assert by_frame[600]["box"] != round_box(lerp_box(k597, k633, 3 / 36))


def test_variable_frame_rate_windows_split_by_time(screen_recording):
    from vcr_cli.tasks.track import plan_windows
    from vcr_cli.video import probe

    info = probe(screen_recording)
    windows = plan_windows(info, 0, 699, 10.0)  # two 10 s windows: the boundary is the frame shown at 9.95 s
    assert [(w.first, w.last) for w in windows] == [(0, 597), (597, 699)]
    for w in windows:
        t0, t1 = info.time_of(w.first), info.time_of(w.last)
        times = [info.time_of(f) for f in w.keyframes]
        assert all(abs(t - (t0 + i * (t1 - t0) / 6)) <= 0.05 for i, t in enumerate(times)), times
        assert len(set(w.keyframes)) == 7


# ---------------------------------------------------------------- pure parts


def _info(frames, fps):
    from vcr_cli.video import VideoInfo

    return VideoInfo("clip.mp4", frames, fps, 1280, 720)


def test_plan_windows():
    from vcr_cli.tasks.track import plan_windows

    (only,) = plan_windows(_info(132, 25.0), 0, 131)  # 5.28 s: one window, the paper's 7 tracking frames
    assert only.keyframes == (0, 21, 43, 65, 87, 109, 131)
    windows = plan_windows(_info(3600, 30.0), 0, 3599)  # 2 minutes: 8 windows of 15 s sharing their boundary frames
    assert len(windows) == 8 and windows[0].first == 0 and windows[-1].last == 3599
    assert all(a.last == b.first for a, b in zip(windows, windows[1:]))
    assert all(len(set(w.keyframes)) == 7 and w.keyframes[0] == w.first and w.keyframes[-1] == w.last
               for w in windows)
    assert len(plan_windows(_info(660, 30.0), 0, 659, 15.0)) == 1  # 22 s: within 1.5x the window, one call
    assert len(plan_windows(_info(21, 1.0), 0, 20, 2.0)) == 3  # never fewer than 7 distinct frames per window
    assert len(plan_windows(_info(18, 1.0), 0, 17, 2.0)) == 2


def test_interpolate_linear_and_held():
    from vcr_cli.tracking import interpolate

    boxes = interpolate([(2, [0, 0, 10, 10]), (6, [4, 8, 14, 18])], 2, 8)
    assert boxes[0] == [0, 0, 10, 10] and boxes[2] == [2.0, 4.0, 12.0, 14.0]
    assert boxes[4] == boxes[5] == boxes[6] == [4, 8, 14, 18]


def test_format_mot():
    from vcr_cli.outputs.mot import format_mot

    text = format_mot([{"frame": 0, "box": [1.5, 2.0, 11.25, 22.0]}, {"frame": 9, "box": [0, 0, 5, 5]},
                       {"frame": 10, "box": [0, 0, 5, 5], "source": "held"}])
    assert text == "1,1,1.5,2,9.75,20,1,-1,-1,-1\n10,1,0,0,5,5,1,-1,-1,-1\n11,1,0,0,5,5,0,-1,-1,-1\n"


def test_box_option_parsing():
    from vcr_cli.errors import UsageError
    from vcr_cli.tasks.track import parse_box_text, validate_start_box

    assert parse_box_text("[1, 2, 3, 4]") == [1.0, 2.0, 3.0, 4.0]
    assert validate_start_box([0.1, 0.2, 0.3, 0.4], 1280, 720, normalized=True) == pytest.approx([128, 144, 384, 288])
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,nan"):
        with pytest.raises(UsageError, match="four numbers"):
            parse_box_text(bad)


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing clobbered


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-O", "sq", "--box", "10,10,200,30"], "lies outside the 96x64 frame"),
        (["-O", "sq", "--box", "-5,10,20,30"], "lies outside the 96x64 frame"),
        (["-O", "sq", "--box", "0.1,0.1,1.5,0.5", "--normalized"], "outside the frame"),
        (["-O", "sq", "--box", "30,10,20,30"], "reversed or empty"),
        (["-O", "sq", "--box", "10,10,10,30"], "reversed or empty"),
        (["-O", "sq", "--box", "10,10,20"], "four numbers"),
        (["-O", "  ", "--box", "10,10,20,30"], "object name is empty"),
        (["-O", "sq", "--box", "10,10,20,30", "--start", "9"], "past the end of the video"),
        (["-O", "sq", "--box", "10,10,20,30", "--start", "1", "--end", "0.5"], "must come after --start"),
        (["-O", "sq", "--mot", "/no/such/folder/t.txt"], "does not exist"),
    ],
)
def test_bad_input_one_line(clip, tmp_path, args, message):
    out = tmp_path / "keep.json"
    out.write_text("precious")
    result = runner.invoke(app, ["track", str(clip), *args, "-o", str(out), "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0  # one line
    assert out.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "keep.json"]


def test_object_is_required(clip):
    result = runner.invoke(app, ["track", str(clip)])
    assert result.exit_code == 2 and "--object" in result.output


def test_track_help_states_the_window_default():
    from vcr_cli.commands.track import DEFAULT_WINDOW_S
    from vcr_cli.windows import TRACK_WINDOW_S

    assert DEFAULT_WINDOW_S == TRACK_WINDOW_S
