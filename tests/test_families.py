"""Model families: registry and resolution, verbatim prompts, parsers, sampling rules, time contracts.

Pure-function tests (no model); tests/test_families_time.py reads the time back through a real processor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcr_cli import families, parsing, prompts, sampling
from vcr_cli.errors import UsageError
from vcr_cli.families import (
    CHOICE,
    CHOICE_GLUE,
    GROUND,
    OPEN,
    TRACK,
    ChoiceAnswer,
    _qwen3,
    qwen3_vl,
    timelens,
    timelens2,
    videochat_r1,
    videochat_r1_5,
)

PROMPTS = json.loads((Path(__file__).parent / "data" / "model-families-prompts.json").read_text(encoding="utf-8"))
R15 = videochat_r1_5


# ---------------------------------------------------------------- registry


def test_registry_and_every_family_import_without_torch_transformers_or_numpy():
    code = ("import sys, vcr_cli.families as f; names = f.names(); "
            "print(names, [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['qwen3-vl', 'timelens', 'timelens2', 'videochat-r1', 'videochat-r1.5'] []"


def test_every_module_in_the_package_is_a_family_with_its_module_name():
    folder = Path(families.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert [f.name.replace("-", "_").replace(".", "_") for f in families.all_families()] == modules


@pytest.mark.parametrize("model_id, model_type, family", [
    ("OpenGVLab/VideoChat-R1_7B", "qwen2_5_vl", "videochat-r1"),
    ("OpenGVLab/VideoChat-R1_5-7B", "qwen2_5_vl", "videochat-r1.5"),
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl", "videochat-r1"),  # the model_type default
    ("/data/my-finetune", "qwen2_5_vl", "videochat-r1"),
    ("MCG-NJU/TimeLens2-8B", "qwen3_vl", "timelens2"),
    ("mcg-nju/timelens2-4b", "qwen3_vl", "timelens2"),  # hub ids are case-insensitive
    ("TencentARC/TimeLens-8B", "qwen3_vl", "timelens"),
    ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl", "qwen3-vl"),
    ("/data/some-qwen3-folder", "qwen3_vl", "qwen3-vl"),
])
def test_resolve_by_checkpoint_id_then_model_type(model_id, model_type, family):
    assert families.resolve(model_id, {"model_type": model_type}).name == family


def test_resolve_override_and_adapter_base():
    assert families.resolve("/ckpt", {"model_type": "qwen3_vl"}, override="timelens2").name == "timelens2"
    assert families.resolve("/ckpt", {"model_type": "qwen3_vl"}, override=" TimeLens ").name == "timelens"
    assert families.resolve("./runs/adapter", {"model_type": "qwen2_5_vl"},
                            adapter_base="OpenGVLab/VideoChat-R1_5-7B").name == "videochat-r1.5"
    # --family wins over the checkpoint table when the model_type agrees
    assert families.resolve("OpenGVLab/VideoChat-R1_7B", {"model_type": "qwen2_5_vl"},
                            override="videochat-r1.5").name == "videochat-r1.5"


def test_resolve_refuses_a_mismatch_naming_the_families_that_fit():
    with pytest.raises(UsageError) as exc:
        families.resolve("/ckpt", {"model_type": "qwen2_5_vl"}, override="timelens2")
    assert str(exc.value) == ("the timelens2 family needs a qwen3_vl checkpoint, but /ckpt is qwen2_5_vl; "
                              "families for qwen2_5_vl: videochat-r1, videochat-r1.5")
    with pytest.raises(UsageError) as exc:  # a known id whose config says otherwise
        families.resolve("MCG-NJU/TimeLens2-8B", {"model_type": "qwen2_5_vl"})
    assert "the timelens2 family needs a qwen3_vl checkpoint" in str(exc.value)


def test_resolve_unknown_family_and_unknown_model_type():
    with pytest.raises(UsageError) as exc:
        families.resolve("/ckpt", {"model_type": "qwen3_vl"}, override="timelens3")
    assert str(exc.value) == ("unknown model family 'timelens3'; choose one of qwen3-vl, timelens, timelens2, "
                              "videochat-r1, videochat-r1.5")
    with pytest.raises(UsageError) as exc:
        families.resolve("/ckpt", {"model_type": "llava"})
    assert str(exc.value).startswith("no model family for model_type 'llava' of /ckpt; vcr runs qwen3-vl (qwen3_vl)")
    with pytest.raises(UsageError, match="remote-code processor"):
        families.resolve("TencentARC/TimeLens-7B", {"model_type": "qwen2_5_vl"})


def test_read_config(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen3_vl"}')
    assert families.read_config(tmp_path) == {"model_type": "qwen3_vl"}
    with pytest.raises(UsageError, match="config.json"):
        families.read_config(tmp_path / "missing")


def test_unsupported_task_names_the_families_that_can():
    with pytest.raises(UsageError) as exc:
        timelens2.FAMILY.render(TRACK, object_name="car", start_box_norm=[0, 0, 1, 1])
    assert str(exc.value) == ("the timelens2 family has no trained prompt for 'track'; families that do: "
                              "videochat-r1 (pick one with --family)")
    assert families.families_supporting(CHOICE_GLUE) == ["videochat-r1.5"]
    assert [f.name for f in families.all_families() if f.capabilities.tracks] == ["videochat-r1"]


# ---------------------------------------------------------------- VideoChat-R1: today's code, referenced


def test_videochat_r1_refers_to_the_existing_prompts_parsers_and_budget():
    family = videochat_r1.FAMILY
    assert family.prompts[GROUND] is prompts.render_ground
    assert family.prompts[OPEN] is prompts.render_open_question
    assert family.prompts[TRACK] is prompts.render_track
    assert family.render(CHOICE, question="why?", options=["a", "b"]) == prompts.render_gqa("why?", ["a", "b"])
    assert family.render(CHOICE, question="why?", options=["a", "b"], think=False) == prompts.render_gqa(
        "why?", ["a", "b"], think=False)
    assert family.layout(GROUND) == "text_first" and family.layout(OPEN) == "video_first"
    text = "<think>x</think><answer>(B)</answer><glue>[(1.5, 3.0)]</glue>"
    assert family.parse(CHOICE, text, strict=True) == ChoiceAnswer("B", [(1.5, 3.0)])
    assert family.parse(GROUND, "<answer>12.54 to 17.83</answer>") == [(12.54, 17.83)]
    assert family.parse(GROUND, "no idea") == []
    assert family.parse(OPEN, "<think>hm</think><answer> a red car </answer>") == "a red car"
    assert family.parse(TRACK, "<answer>[[0.1, 0.2, 0.3, 0.4]]</answer>") == parsing.parse_track_lenient(
        "<answer>[[0.1, 0.2, 0.3, 0.4]]</answer>")


@pytest.mark.parametrize("frames, fps, width, height", [
    (48, 29.97, 96, 64), (132, 25.0, 1280, 720), (1800, 30.0, 1920, 1080), (9000, 30.0, 640, 360), (7, 2.0, 320, 240),
    (200000, 60.0, 3840, 2160),
])
def test_videochat_r1_sampling_rule_is_the_training_rule(frames, fps, width, height):
    rule = videochat_r1.FAMILY.sampling_for(GROUND)
    assert rule.factor == sampling.IMAGE_FACTOR
    assert rule.plan(frames, fps, width, height) == sampling.plan_sampling(frames, fps, width, height)
    assert rule.plan(frames, fps, width, height, max_pixels=50000, max_frames=16) == sampling.plan_sampling(
        frames, fps, width, height, max_pixels=50000, max_frames=16)


def test_qwen25_time_contract_is_the_sampled_video_metadata():
    meta = videochat_r1.FAMILY.video_metadata([0, 15, 30], 30.0, 45)
    assert meta == {"total_num_frames": 45, "fps": 30.0, "frames_indices": [0, 15, 30]}
    # the processor derives sampled_fps = 3 / 45 * 30 = 2.0 from it
    assert len(meta["frames_indices"]) / meta["total_num_frames"] * meta["fps"] == 2.0
    # variable frame rate changes nothing for Qwen2.5 (clock indices already)
    assert videochat_r1_5.FAMILY.video_metadata([0, 15], 30.0, 45, times=[0.0, 0.7]) == {
        "total_num_frames": 45, "fps": 30.0, "frames_indices": [0, 15]}


# ---------------------------------------------------------------- verbatim prompts


@pytest.mark.parametrize("key, template", [
    ("eval_QA_THINK_GLUE", R15.EVAL_QA_THINK_GLUE),
    ("videommmu_QA_THINK_final", R15.VIDEOMMMU_QA_THINK_FINAL),
    ("eval_QA_final", R15.EVAL_QA_FINAL),
    ("card_QA_THINK_GLUE", R15.CARD_QA_THINK_GLUE),
    ("card_QA_THINK", R15.CARD_QA_THINK),
    ("chara_GROUND_TEMPLATE", R15.CHARA_GROUND_TEMPLATE),
    ("TimeLens_GROUNDER_PROMPT", timelens.GROUNDER_PROMPT),
    ("TL2_card_prompt", timelens2.CARD_PROMPT),
    ("TL2_train_93k_template", timelens2.TRAIN_93K_TEMPLATE),
    ("TL2_train_100k_template", timelens2.TRAIN_100K_TEMPLATE),
])
def test_prompts_are_byte_exact(key, template):
    assert template.encode("utf-8") == PROMPTS[key].encode("utf-8")


def test_videochat_r1_5_prompts_filled_as_its_eval_scripts():
    name, prompt = R15.FAMILY.render(CHOICE_GLUE, question="What does he hold?", options=["a cup", "(B) a pen "])
    assert name == "eval_QA_THINK_GLUE"
    assert prompt == PROMPTS["eval_QA_THINK_GLUE"].replace('"[QUESTION]"', '"What does he hold?"').replace(
        "[OPTION]", "A.a cup\nB.(B) a pen\n")
    assert R15.FAMILY.render(CHOICE, question="q", options=["x", "y"])[0] == "videommmu_QA_THINK_final"
    name, prompt = R15.FAMILY.render(CHOICE, question="q", options=["x", "y"], think=False)
    assert (name, prompt) == ("eval_QA_final", PROMPTS["eval_QA_final"].replace("[QUESTION]", "q").replace(
        "[OPTION]", "A.x\nB.y\n"))
    name, prompt = R15.FAMILY.render(GROUND, query="person opens the door.")
    assert prompt == PROMPTS["chara_GROUND_TEMPLATE"].replace("[QUESTION]", "person opens the door.")
    assert R15.FAMILY.layout(CHOICE) == "video_first" and R15.FAMILY.layout(GROUND) == "text_first"


def test_qwen3_family_prompts_normalise_the_query_as_timelens():
    assert timelens.normalize_query("  A man\n opens   the door.. ") == "A man opens the door"
    assert timelens.normalize_query(".NET app opens.") == ".NET app opens"  # only the trailing period
    name, prompt = timelens.FAMILY.render(GROUND, query=" person  sits down. ")
    assert name == "TimeLens_GROUNDER_PROMPT"
    assert prompt == PROMPTS["TimeLens_GROUNDER_PROMPT"].format("person sits down")
    assert qwen3_vl.FAMILY.render(GROUND, query="x.") == ("TimeLens_GROUNDER_PROMPT",
                                                          PROMPTS["TimeLens_GROUNDER_PROMPT"].format("x"))
    name, prompt = timelens2.FAMILY.render(GROUND, query="dog runs.")
    assert (name, prompt) == ("TL2_card_prompt", PROMPTS["TL2_card_prompt"].format(query="dog runs"))
    assert timelens2.render_ground("a", template="TL2_train_93k_template")[1] == PROMPTS[
        "TL2_train_93k_template"].format(query="a")
    for family in (timelens.FAMILY, timelens2.FAMILY, qwen3_vl.FAMILY):
        assert family.layout(GROUND) == "video_first"


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize("text, spans", [
    ("The event happens in 2.5 - 7.0 seconds.", [(2.5, 7.0)]),
    ("The event happens in 2.5 - 7.0 seconds, 10.0 - 12.5 seconds.", [(2.5, 7.0), (10.0, 12.5)]),
    ("from 0:05 to 1:02.5", [(5.0, 62.5)]),  # clock tokens first
    ("between 1:00:03 and 1:00:09 (then 0:10)", [(3603.0, 3609.0)]),  # an odd clock token is dropped
    ("It starts at 3 to 8 seconds", [(3.0, 8.0)]),
    ("The event happens in 12 - 8 seconds.", [(12.0, 8.0)]),  # order kept, as TimeLens reads it
    ("Starting time: 0.8 seconds. Ending time: 1.1 seconds", [(0.8, 1.1)]),  # bare numbers paired
    ("in 4 to 6 or 2 - 3", [(2.0, 3.0)]),  # "a - b" wins over "a to b"
    ("The event does not happen.", []),
    ("THE EVENT HAPPENS IN 1.0 TO 2.0 SECONDS", [(1.0, 2.0)]),  # lower-cased first
])
def test_timelens_extract_time(text, spans):
    assert timelens.extract_time(text) == spans
    assert timelens.FAMILY.parse(GROUND, text, strict=True) == spans
    assert timelens.FAMILY.parse(GROUND, text) == [(min(s), max(s)) for s in spans]


@pytest.mark.parametrize("text, spans", [
    ("[[0, 3.5], [10, 12]]", [(0.0, 3.5), (10.0, 12.0)]),
    ("<answer>[[12.0, 5.5]]</answer>", [(5.5, 12.0)]),  # ordered (min, max)
    ("<think>maybe [[1, 2]]</think><answer>[[4, 6]]</answer>", [(4.0, 6.0)]),
    ("```json\n[[1.5, 2.5]]\n```", [(1.5, 2.5)]),
    ("The spans are [[1, 2], [3, 4]] and that is all.", [(1.0, 2.0), (3.0, 4.0)]),
    ("[[[[7, 9]]]]", [(7.0, 9.0)]),  # nested single-element lists unwrapped
    ("[3, 5]", [(3.0, 5.0)]),  # a flat pair is one span
    ('[["1.5", "2"]]', [(1.5, 2.0)]),  # numeric strings
    ("[[1, 2], [3], \"x\", [5, 6]]", [(1.0, 2.0), (5.0, 6.0)]),  # pairs kept, the rest skipped
    ("Return the result strictly as [[start, end]]]", []),
    ("[]", []),
    ("", []),
])
def test_timelens2_json_spans(text, spans):
    assert timelens2.FAMILY.parse(GROUND, text, strict=True) == spans


def test_timelens2_lenient_falls_back_to_timelens_reading_and_validity():
    assert timelens2.FAMILY.parse(GROUND, "The event happens in 3.0 - 5.0 seconds.") == [(3.0, 5.0)]
    assert timelens2.FAMILY.parse(GROUND, "The event happens in 3.0 - 5.0 seconds.", strict=True) == []
    assert timelens2.is_valid([(1.0, 2.0)]) and not timelens2.is_valid([(2.0, 2.0)]) and not timelens2.is_valid([])


@pytest.mark.parametrize("text, strict_spans, lenient_spans", [
    ("<answer>[(12.54, 17.83)]</answer>", [(12.54, 17.83)], [(12.54, 17.83)]),
    ("<answer>[(1.0, 2.0), (5.5, 8.0)]</answer>", [(1.0, 2.0), (5.5, 8.0)], [(1.0, 2.0), (5.5, 8.0)]),
    ("[(3, 4)]", [(3.0, 4.0)], [(3.0, 4.0)]),  # no tag: the whole text
    ("<answer>(12.5, 17.8)</answer>", [], [(12.5, 17.8)]),  # a bare pair fails the eval's reading
    ("<answer>12.5 to 17.8</answer>", [], [(12.5, 17.8)]),
    ("<answer>soon</answer>", [], []),
])
def test_videochat_r1_5_grounding_parser(text, strict_spans, lenient_spans):
    assert R15.FAMILY.parse(GROUND, text, strict=True) == strict_spans
    assert R15.FAMILY.parse(GROUND, text) == lenient_spans


def test_videochat_r1_5_answer_and_glue():
    text = "<think>he picks it up</think><answer>C</answer><glue>[(5.2, 10.4), (20, 22)]</glue>"
    assert R15.FAMILY.parse(CHOICE_GLUE, text, strict=True) == ChoiceAnswer("C", [(5.2, 10.4), (20.0, 22.0)])
    assert R15.parse_glue("<glue>(5.2, 10.4)</glue>", strict=True) is None  # a bare tuple: uniform next round
    assert R15.parse_glue("<glue>[[5.2, 10.4]]</glue>", strict=True) == [(5.2, 10.4)]  # lists iterate the same
    assert R15.parse_glue("<glue>[(5.2s, 10.4s)]</glue>", strict=True) is None
    assert R15.parse_glue("<glue>[(5.2s, 10.4s)]</glue>") == [(5.2, 10.4)]
    assert R15.FAMILY.parse(CHOICE, "<answer>B</answer>", strict=True) == ChoiceAnswer("B", [])


def test_videochat_r1_5_next_key_time():
    previous = [(1.0, 2.0)]
    assert R15.next_key_time(previous, "<answer>A</answer><glue>[(3, 4)]</glue>") == [(3.0, 4.0)]
    assert R15.next_key_time(previous, "<answer>A</answer>") == previous  # eval scripts keep them
    assert R15.next_key_time(previous, "<answer>A</answer>", keep_previous=False) is None  # the card resets
    assert R15.next_key_time(previous, "<glue>[(3, </glue>") is None  # unreadable: reset
    assert R15.FAMILY.next_spans(previous, "<answer>A</answer>") == previous


# ---------------------------------------------------------------- R1.5 re-sampling


def _density(indices, spans, total, fps):
    last = total - 2
    inside = {i for s, e in spans for i in range(int(s * fps), min(int(e * fps), last) + 1)}
    k_in = sum(1 for i in indices if i in inside)
    return k_in / len(inside), (len(indices) - k_in) / (last + 1 - len(inside))


@pytest.mark.parametrize("total, fps, nframes, spans", [
    (900, 30.0, 60, [(5.2, 10.4)]),  # a 30 s clip, 2 fps
    (900, 30.0, 60, [(1.0, 3.0), (20.0, 26.0)]),
    (108000, 30.0, 512, [(600.0, 660.0), (1800.5, 1900.0), (3000.0, 3010.0)]),  # 1 h at the 512-frame cap
    (1500, 25.0, 120, [(10.0, 40.0), (30.0, 50.0)]),  # overlapping spans count once
    (600, 60.0, 20, [(7.0, 100.0)]),  # a span past the end is clamped
])
def test_glue_round_is_denser_inside_the_spans_with_the_same_count(total, fps, nframes, spans):
    indices = R15.glue_frame_indices(spans, total, nframes, fps)
    assert len(indices) == nframes == len(set(indices))
    assert indices == sorted(indices) and 0 <= indices[0] and indices[-1] <= total - 2
    inside, outside = _density(indices, spans, total, fps)
    assert inside / outside == pytest.approx(1.5, rel=0.15)


def _reference_sample_frames(spans, total_frames, num_frames, key_ratio, fps):
    """R1.5's sample_frames as model-families.md §1.3 describes it (numpy linspace, int cast)."""
    ranges = [(int(s * fps), min(int(e * fps), total_frames - 1)) for s, e in spans]
    key = sum(e - s + 1 for s, e in ranges)
    key_count = round(num_frames * key * key_ratio / (key * key_ratio + total_frames - key))
    picks = []
    for s, e in ranges:
        picks += list(np.linspace(s, e, num=max(1, round(key_count * (e - s + 1) / key)), dtype=int))
    inside = {i for s, e in ranges for i in range(s, e + 1)}
    rest = [i for i in range(total_frames) if i not in inside]
    picks += [rest[i] for i in np.linspace(0, len(rest) - 1, num=num_frames - key_count, dtype=int)]
    return sorted({int(i) for i in picks})


@pytest.mark.parametrize("total, fps, nframes, spans", [
    (900, 30.0, 60, [(5.2, 10.4)]), (1500, 25.0, 120, [(12.0, 31.5)]), (3000, 29.97, 100, [(0.0, 20.0)]),
    (108000, 30.0, 512, [(600.0, 660.0)]),
    (900, 30.0, 60, [(0.0, 10.0), (20.0, 21.0)]),  # separate spans whose rounded shares add up
    (108000, 30.0, 512, [(600.0, 660.0), (1800.5, 1900.0)]),
])
def test_glue_round_matches_r1_5_sampler(total, fps, nframes, spans):
    expected = _reference_sample_frames(spans, total - 1, nframes, 1.5, fps)
    assert R15.glue_frame_indices(spans, total, nframes, fps) == expected


def test_glue_spans_share_their_frames_in_proportion_to_length():
    # 0-10 s and 20-21 s of a 900-frame 30 fps clip, 60 frames: 28 go to the spans, 25 and 3 as R1.5 rounds them
    indices = R15.glue_frame_indices([(0.0, 10.0), (20.0, 21.0)], 900, 60, 30.0)
    assert sum(1 for i in indices if i <= 300) == 25 and sum(1 for i in indices if 600 <= i <= 630) == 3
    assert R15._allocate(7, [10, 10, 10]) == [3, 2, 2] and R15._allocate(5, [1, 100]) == [1, 4]


def test_every_glue_span_gets_a_frame():
    indices = R15.glue_frame_indices([(9.9, 100.0), (2.0, 2.01)], 600, 20, 60.0)  # 5 and 1 source frames
    assert len(indices) == 20 and 120 in indices and any(594 <= i <= 598 for i in indices)


def test_spread_is_numpy_integer_linspace():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        first = int(rng.integers(0, 1000))
        last = first + int(rng.integers(0, 5000))
        count = int(rng.integers(1, min(last - first + 1, 600) + 1))
        assert R15._spread(first, last, count) == np.linspace(first, last, num=count, dtype=int).tolist()


def test_glue_round_falls_back_to_uniform_frames():
    uniform = sampling.frame_indices(900, 60)
    for spans in (None, [], [(50.0, 40.0)], [(100.0, 120.0)], [("a", "b")], [(1.0,)]):
        assert R15.glue_frame_indices(spans, 900, 60, 30.0) == uniform
    assert R15.round_frame_indices(900, 60, 30.0, None) == uniform
    assert R15.FAMILY.replan(900, 60, 30.0, None) == uniform  # tasks call it through the family
    assert R15.FAMILY.replan(900, 60, 30.0, [(5.2, 10.4)]) == R15.glue_frame_indices([(5.2, 10.4)], 900, 60, 30.0)
    assert all(f.replan is None for f in families.all_families() if f.capabilities.rounds == 1)
    assert R15.glue_frame_indices([(0.0, 1.0)], 10, 10, 5.0) == sampling.frame_indices(10, 10)  # too short


# ---------------------------------------------------------------- Qwen3-VL sampling and time contract


def test_qwen3_sampling_rules():
    rule = timelens.FAMILY.sampling_for(GROUND)
    assert (rule.patch_size, rule.factor, rule.fps, rule.max_frames) == (16, 32, 2.0, 768)
    assert (rule.min_pixels, rule.total_pixels) == (64 * 32 * 32, 14336 * 32 * 32)
    plan = rule.plan(900, 30.0, 640, 360)  # 30 s: 60 frames, 14336 tokens shared -> cap 489,335 px per frame
    assert (len(plan.indices), plan.fps) == (60, 2.0)
    assert plan.width % 32 == 0 and plan.height % 32 == 0 and (plan.width, plan.height) == (640, 352)
    t2 = timelens2.FAMILY.sampling_for(GROUND)
    assert (t2.max_frames, t2.min_pixels, t2.total_pixels) == (512, 1024, 16384 * 1024)
    long = t2.plan(108000, 30.0, 1280, 720)  # 1 h: 512 frames, 64 tokens of budget per 2 frames
    assert len(long.indices) == 512 and long.width * long.height <= 16384 * 1024 / 512 * 2
    assert t2.video_tokens(len(long.indices), long.width, long.height) <= 16384
    q3 = qwen3_vl.FAMILY.sampling_for(OPEN)
    assert (q3.max_frames, q3.total_pixels, q3.min_pixels) == (2048, 20480 * 1024, 64 * 1024)
    assert qwen3_vl.FAMILY.sampling_for(GROUND) is timelens.SAMPLING


def test_qwen3_time_contract_cfr_and_vfr():
    assert timelens2.FAMILY.video_metadata([0, 15, 30, 45], 30.0, 60) == {
        "total_num_frames": 60, "fps": 30.0, "frames_indices": [0, 15, 30, 45]}
    vfr = timelens2.FAMILY.video_metadata([0, 1, 2, 3], 12.0, 40, times=[0.0, 0.41, 1.37, 1.52])
    assert vfr == {"total_num_frames": 40, "fps": 1.0, "frames_indices": [0.0, 0.41, 1.37, 1.52]}
    # the processor's rule, as measured (model-families.md §4): PTS -> 0.2 / 1.4 / 3.0 / 5.7 s
    times = _qwen3.group_times([0, 0.41, 1.37, 1.52, 2.9, 3.05, 4.8, 6.6], 1.0)
    assert [f"{t:.1f}" for t in times] == ["0.2", "1.4", "3.0", "5.7"]
    assert _qwen3.group_times([0, 15, 30, 45, 60, 75, 90], 30.0)[-1] == 3.0  # odd count: the last repeats


def test_qwen3_layout_check():
    trained = "<|im_start|>user\n<0.2 seconds><|vision_start|><|video_pad|><|vision_end|>hi"
    outer = "<|im_start|>user\n<|vision_start|><0.2 seconds><|vision_start|><|video_pad|><|vision_end|><|vision_end|>"
    assert _qwen3.trained_layout(trained) and not _qwen3.trained_layout(outer)
    assert not _qwen3.trained_layout("<|im_start|>user\nno video")
    assert _qwen3.timestamp_markers(trained + "<1.25 seconds>") == [0.2, 1.25]


def test_describe_for_the_json():
    described = timelens2.FAMILY.describe()
    assert described["family"] == "timelens2" and described["model_type"] == "qwen3_vl"
    assert described["capabilities"]["multi_span"] is True and described["capabilities"]["tracks"] is False
    assert "academic" in described["licence"]
    assert R15.FAMILY.capabilities.rounds == 3 and videochat_r1.FAMILY.capabilities.rounds == 1
