"""Read the time back: what a Qwen3-VL family feeds the model says when each fed frame was shown.

Clips whose frames spell their own index (tests/media.py) go through the family's sampling rule, vcr's decoder
and the family's time contract into the tiny Qwen3-VL replica's real processor; the rendered `<t seconds>`
markers must equal the shown times of the fed frames (the mean of each 2-frame group) within one frame.
"""

from __future__ import annotations

import media
import numpy as np
import pytest

from vcr_cli.families import GROUND, _qwen3, qwen3_vl, timelens, timelens2

ROUNDING = 0.05  # markers are written with one decimal


@pytest.fixture(scope="module")
def qwen3_replica(tmp_path_factory):
    from vcr_cli.tiny_qwen3 import build_qwen3_replica_checkpoint

    return build_qwen3_replica_checkpoint(tmp_path_factory.mktemp("qwen3") / "ckpt")


@pytest.fixture(scope="module")
def processor(qwen3_replica):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(qwen3_replica)


def _feed(family, processor, path, prompt_query="person sits down"):
    """What the family would feed: (rendered prompt text, video_grid_thw, codes of the fed frames, info)."""
    from vcr_cli.video import SampledVideo, probe, read_frames

    info = probe(path)
    rule = family.sampling_for(GROUND)
    clock = rule.plan(info.frames, info.fps, info.width, info.height)
    plan = type(clock)(indices=info.clock_frames(clock.indices), width=clock.width, height=clock.height,
                       fps=clock.fps)
    frames = read_frames(path, plan.indices, plan.width, plan.height, info=info)
    video = SampledVideo(info=info, plan=plan, frames=frames)
    _, prompt = family.render(GROUND, query=prompt_query)
    assert family.layout(GROUND) == "video_first"
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
    chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = processor(text=[chat], videos=[frames], return_tensors="pt",
                    videos_kwargs={"video_metadata": [family.metadata_for(video)], **_qwen3.PROCESSOR_KWARGS})
    text = processor.tokenizer.decode(enc["input_ids"][0])
    return text, enc["video_grid_thw"][0].tolist(), [media.read_code(f) for f in frames], info


def _shown_group_times(codes: list[int], times: list[float]) -> list[float]:
    shown = [times[c] for c in codes]
    if len(shown) % 2:
        shown.append(shown[-1])
    return [(shown[i] + shown[i + 1]) / 2 for i in range(0, len(shown), 2)]


def _frame_period(times: list[float], t: float) -> float:
    """How long the source frame shown at `t` lasts (the tolerance 'within one frame')."""
    k = max(0, min(len(times) - 2, int(np.searchsorted(times, t, side="right")) - 1))
    return times[k + 1] - times[k]


@pytest.mark.parametrize("name, times, options", [
    ("cfr", media.cfr_times(150, 25.0), {}),  # 6 s at 25 fps: 12 frames, 6 groups
    ("cfr_rotated", media.cfr_times(90, 30.0), {"rotation": 90}),
    ("vfr", media.vfr_times(), {}),  # 60 fps for 10 s, then 10 fps for 10 s
])
@pytest.mark.parametrize("family", [timelens.FAMILY, timelens2.FAMILY], ids=["timelens", "timelens2"])
def test_markers_are_the_shown_times_of_the_fed_frames(family, name, times, options, processor, tmp_path):
    path = media.timed_clip(tmp_path / f"{name}.mp4", times, **options)
    text, grid, codes, info = _feed(family, processor, path)
    assert info.constant_rate is (name != "vfr")
    markers = _qwen3.timestamp_markers(text)
    expected = _shown_group_times(codes, times)
    assert len(markers) == len(expected) == grid[0]
    for marker, shown in zip(markers, expected):
        assert abs(marker - shown) <= ROUNDING + _frame_period(times, shown) + 1e-9, (marker, shown)
    assert expected[-1] > times[-1] - 1.0  # the fed frames span the whole clip


def test_average_fps_indices_would_mislabel_variable_frame_rate(processor, tmp_path):
    """The control: index / average fps (the metadata Qwen2.5 families pass) puts VFR markers seconds off."""
    from dataclasses import replace

    times = media.vfr_times()
    path = media.timed_clip(tmp_path / "vfr.mp4", times)
    family = replace(timelens2.FAMILY, metadata_fn=lambda idx, fps, total, t: _qwen3.video_metadata(idx, fps, total))
    text, _, codes, _ = _feed(family, processor, path)
    errors = [abs(m - s) for m, s in zip(_qwen3.timestamp_markers(text), _shown_group_times(codes, times))]
    assert max(errors) > 3.0  # frame 300 (5.0 s) would read 300 / 35 = 8.6 s


def test_rendered_layout_is_the_trained_one(processor, tmp_path):
    """No outer <|vision_start|> around the groups: the first thing in the user turn is the first marker."""
    path = media.timed_clip(tmp_path / "cfr.mp4", media.cfr_times(60, 30.0))
    text, grid, _, _ = _feed(timelens.FAMILY, processor, path, "a man. ")
    assert _qwen3.trained_layout(text)
    user = text.split("<|im_start|>user\n", 1)[1]
    assert user.startswith("<0.") and user.count("<|vision_start|>") == user.count("<|vision_end|>") == grid[0]
    assert user.endswith(timelens.GROUNDER_PROMPT.format("a man") + "<|im_end|>\n<|im_start|>assistant\n")
    tokens_per_group = grid[1] * grid[2] // 4
    assert user.count("<|video_pad|>") == grid[0] * tokens_per_group


def test_replica_files_are_the_real_checkpoints(qwen3_replica, processor):
    import json

    from vcr_cli.tiny_qwen3 import QWEN3_TOKEN_IDS

    config = json.loads((qwen3_replica / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl" and config["video_token_id"] == 151656
    assert config["text_config"]["vocab_size"] == 151936
    assert {t: processor.tokenizer.convert_tokens_to_ids(t) for t in QWEN3_TOKEN_IDS} == QWEN3_TOKEN_IDS
    assert processor.video_processor.size["longest_edge"] == 25165824
    generation = json.loads((qwen3_replica / "generation_config.json").read_text())
    assert (generation["top_k"], generation["top_p"], generation["temperature"]) == (20, 0.8, 0.7)
    assert processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "text",
                                          "text": "q"}]}], tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>q<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_qwen3_parrot_answers_in_seconds_through_the_timelens_parser(tmp_path):
    """train_qwen3_parrot: the tiny Qwen3-VL answers its one text to a real clip fed the family's way."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vcr_cli.tiny_qwen3 import train_qwen3_parrot

    answer = "The event happens in 1.5 - 4.0 seconds."
    path = train_qwen3_parrot(tmp_path / "parrot", answer)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    clip = media.timed_clip(tmp_path / "c.mp4", media.cfr_times(150, 25.0))
    from vcr_cli.video import SampledVideo, probe, read_frames

    info = probe(clip)
    plan = timelens.SAMPLING.plan(info.frames, info.fps, info.width, info.height)
    video = SampledVideo(info=info, plan=plan, frames=read_frames(clip, plan.indices, plan.width, plan.height))
    _, prompt = timelens.FAMILY.render(GROUND, query="person sits")
    chat = processor.apply_chat_template([{"role": "user", "content": [{"type": "video"},
                                          {"type": "text", "text": prompt}]}], tokenize=False,
                                         add_generation_prompt=True)
    enc = processor(text=[chat], videos=[video.frames], return_tensors="pt",
                    videos_kwargs={"video_metadata": [timelens.FAMILY.metadata_for(video)],
                                   **_qwen3.PROCESSOR_KWARGS})
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    text = processor.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert text == answer
    assert timelens.FAMILY.parse(GROUND, text, strict=True) == [(1.5, 4.0)]


@pytest.mark.parametrize("family", [timelens.FAMILY, timelens2.FAMILY, qwen3_vl.FAMILY],
                         ids=["timelens", "timelens2", "qwen3-vl"])
@pytest.mark.parametrize("frames, fps, width, height", [(150, 25.0, 160, 96), (301, 29.97, 640, 360)])
def test_inputs_equal_the_reference_pipeline(family, frames, fps, width, height, processor, tmp_path):
    """qwen-vl-utils 0.0.14 (image_patch_size=16, the family's budget) + the HF processor + the verbatim prompt
    give the same frames, size and token ids as the family's rule, vcr's decoder and its time contract."""
    from qwen_vl_utils import process_vision_info

    path = media.timed_clip(tmp_path / "c.mp4", media.cfr_times(frames, fps), width=width, height=height)
    text, grid, codes, _ = _feed(family, processor, path)
    rule = family.sampling_for(GROUND)
    element = {"type": "video", "video": str(path), "fps": rule.fps, "min_pixels": rule.min_pixels,
               "total_pixels": rule.total_pixels, "max_frames": rule.max_frames}
    _, prompt = family.render(GROUND, query="person sits down")
    messages = [{"role": "user", "content": [element, {"type": "text", "text": prompt}]}]
    _, videos, _ = process_vision_info(messages, image_patch_size=16, return_video_kwargs=True,
                                       return_video_metadata=True)
    reference_frames, metadata = videos[0]
    metadata = {k: metadata[k] for k in ("fps", "frames_indices", "total_num_frames")}
    assert codes == metadata["frames_indices"]  # the same frames reached the model
    chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = processor(text=[chat], videos=[reference_frames], return_tensors="pt",
                    videos_kwargs={"video_metadata": [metadata], **_qwen3.PROCESSOR_KWARGS})
    assert enc["video_grid_thw"][0].tolist() == grid
    assert processor.tokenizer.decode(enc["input_ids"][0]) == text


@pytest.mark.parametrize("frames, fps, width, height", [(150, 25.0, 160, 96), (301, 29.97, 640, 360)])
def test_videochat_r1_5_round_one_equals_its_loader(frames, fps, width, height, tmp_path):
    """Round 1 (no glue yet) is qwen-vl-utils with patch 14 and the card's element: 512 frames at most,
    128x12x28x28 total, 128x28x28 floor (R1.5's loader differs from it only in FPS_MAX_FRAMES and key_time)."""
    from qwen_vl_utils import process_vision_info

    from vcr_cli.families import CHOICE, videochat_r1_5
    from vcr_cli.video import probe

    path = media.timed_clip(tmp_path / "c.mp4", media.cfr_times(frames, fps), width=width, height=height)
    rule = videochat_r1_5.FAMILY.sampling_for(CHOICE)
    element = {"type": "video", "video": str(path), "total_pixels": 128 * 12 * 28 * 28, "min_pixels": 128 * 28 * 28,
               "max_frames": 512}
    _, videos, _ = process_vision_info([{"role": "user", "content": [element]}], image_patch_size=14,
                                       return_video_kwargs=True, return_video_metadata=True)
    reference, metadata = videos[0]
    info = probe(path)
    plan = rule.plan(info.frames, info.fps, info.width, info.height)
    assert plan.indices == metadata["frames_indices"]
    assert (len(plan.indices), plan.height, plan.width) == (reference.shape[0], *reference.shape[2:])
    assert videochat_r1_5.round_frame_indices(info.frames, len(plan.indices), info.fps, None) == plan.indices
