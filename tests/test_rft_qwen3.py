"""`vcr rft train` on Qwen3-VL checkpoints: what every rollout and log-prob pass sees, and that the policy learns.

A tiny Qwen3-VL replica (Qwen's real vocabulary, token ids and processor files) trains on a clip whose frames spell
their own index (tests/media.py), recorded at the language model's forward: the prompt must be the family's
training prompt after the video (video first), the `<t seconds>` markers the shown times of the fed frames (a
variable-frame-rate screen recording: fps 1 + presentation times, as at inference), the ids those of inference's
own encoding, and the video features the frozen tower's output for those frames, deepstack layers included,
computed once per prompt video.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import media
import pytest

ROOT = Path(__file__).resolve().parents[1]
ROUNDING = 0.05  # markers are written with one decimal


@pytest.fixture(scope="module")
def qwen3_checkpoint(tmp_path_factory) -> Path:
    from vcr_cli.tiny_qwen3 import build_qwen3_replica_checkpoint

    return build_qwen3_replica_checkpoint(tmp_path_factory.mktemp("qwen3-rft") / "TimeLens2-8B")


def _frame_period(times: list[float], t: float) -> float:
    import numpy as np

    k = max(0, min(len(times) - 2, int(np.searchsorted(times, t, side="right")) - 1))
    return times[k + 1] - times[k]


def test_training_feeds_the_family_prompt_after_the_video_with_the_shown_times(qwen3_checkpoint, tmp_path):
    import torch

    from rft.config import load_for_family
    from rft.data import load_examples
    from rft.rewards import build_rewards
    from rft.train import build_dataset, grpo_args, load_policy, lora_config, video_sampling
    from rft.trainer import VideoGRPOTrainer
    from vcr_cli.families import GROUND, _qwen3, timelens, timelens2
    from vcr_cli.runtime import Runtime

    times = media.vfr_times()  # 60 fps for 10 s, then 10 fps for 10 s
    clip = media.timed_clip(tmp_path / "screen.mp4", times)
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"task": "ground", "video": str(clip), "query": "  The cursor  opens a menu. ",
                                "solution": {"start": 12.0, "end": 15.5}}) + "\n")
    cfg, family = load_for_family(None, model=str(qwen3_checkpoint), family="timelens2", num_generations=2,
                                  per_device_train_batch_size=2, gradient_accumulation_steps=1,
                                  max_completion_length=3, max_steps=1, gradient_checkpointing=False,
                                  max_pixels=64 * 64)
    # TimeLens2's recipe where the config is silent: its GRPO settings and frame budget, no thinking
    assert family is timelens2.FAMILY and not cfg.think and cfg.top_k == 0 and cfg.max_completion_length == 3
    assert (cfg.beta, cfg.learning_rate, cfg.temperature, cfg.top_p) == (0.04, 1e-6, 1.0, 1.0)
    assert (cfg.fps, cfg.max_frames, cfg.total_pixels, cfg.min_pixels) == (2.0, 512, 16384 * 32 * 32, 32 * 32)
    examples = load_examples(data)
    args = grpo_args(cfg, tmp_path / "run", "cpu", [1.0, 1.0, 1.0])
    model, processor = load_policy(cfg, args)
    trainer = VideoGRPOTrainer(model=model, reward_funcs=build_rewards(list(family.training.rewards))[0], args=args,
                               train_dataset=build_dataset(examples, cfg.think, family), processing_class=processor,
                               peft_config=lora_config(cfg), video_sampling=video_sampling(cfg, family), family=family)
    assert trainer.reuse_video_features  # LoRA: the vision tower is frozen
    inner = trainer.model.get_base_model().model
    calls, vision_rows = [], []
    inner.register_forward_pre_hook(lambda module, a, kw: calls.append({**kw, "grad": torch.is_grad_enabled()}),
                                    with_kwargs=True)
    inner.visual.register_forward_hook(lambda module, a, out: vision_rows.append(a[0].shape[0]))
    trainer.train()
    assert vision_rows == [20 * 2 * 4]  # one prompt video, one vision-tower pass (its 160 patches) for the step

    # what inference feeds for this prompt and video: the reference every pass must contain
    video = video_sampling(cfg, family).sample(clip)
    assert not video.info.constant_rate and len(video.frames) == 40  # 2 fps over 20 s
    prompt = timelens2.TRAIN_93K_TEMPLATE.format(query="The cursor opens a menu")  # TimeLens's query normalising
    assert prompt.startswith("You are given a video.\nTask: temporal retrieval.\nGiven the query: "
                             '"The cursor opens a menu", return ALL')
    runtime = Runtime(model=model, processor=processor, model_id="", quant="", device="cpu", family=family)
    reference = runtime.build_inputs(prompt, video, family.layout(GROUND))
    ids = reference["input_ids"][0]
    text = processor.tokenizer.decode(ids)
    assert _qwen3.trained_layout(text) and text.index(prompt) > text.rindex("<|vision_end|>")  # video first
    shown = [times[media.read_code(frame)] for frame in video.frames]  # when each fed frame was on screen
    expected = [(shown[i] + shown[i + 1]) / 2 for i in range(0, len(shown), 2)]
    markers = _qwen3.timestamp_markers(text)
    assert len(markers) == len(expected) == 20 and markers != [round(t, 1) for t in range(20)]
    for marker, time in zip(markers, expected):
        assert abs(marker - time) <= ROUNDING + _frame_period(times, time) + 1e-9, (marker, time)
    with torch.no_grad():
        tower = model.model.get_video_features(reference["pixel_values_videos"], reference["video_grid_thw"])

    passes = [kw for kw in calls if (kw.get("mm_encoder_outputs") or {}).get("video") is not None]
    # generation's prefill (its positions already computed from the grid), the reference (beta > 0), the loss
    assert [kw["grad"] for kw in passes] == [False, False, True]
    assert passes[0]["input_ids"].shape[1] == ids.numel() and all(kw["video_grid_thw"] is not None
                                                                   for kw in passes[1:])
    video_id = model.config.video_token_id
    for kw in passes:
        assert kw.get("pixel_values_videos") is None and "second_per_grid_ts" not in kw  # time is in the text
        outputs = kw["mm_encoder_outputs"]["video"]
        for row, row_ids in enumerate(kw["input_ids"]):
            n = ids.numel()
            assert any(bool((row_ids[s:s + n] == ids).all()) for s in range(row_ids.numel() - n + 1))
            assert torch.equal(kw["mm_token_type_ids"][row] == 2, row_ids == video_id)
            torch.testing.assert_close(outputs.pooler_output[row], tower.pooler_output[0], atol=1e-6, rtol=0)
            for layer, features in enumerate(outputs.deepstack_features):  # Qwen3-VL's deepstack layers too
                torch.testing.assert_close(features[row], tower.deepstack_features[layer][0], atol=1e-6, rtol=0)
    assert timelens.GROUNDER_PROMPT[:40] not in text  # training asks the training template, not eval's


def test_qwen3_grounder_learns_the_annotated_span(qwen3_parrot, tmp_path):
    """The fast version of benchmarks/bench_rft_learning_qwen3.py: the recipe's rewards move a two-answer parrot
    to the annotated span; the adapter vcr loads back says it with a higher probability than the base."""
    spec = importlib.util.spec_from_file_location("bench_rft_learning_qwen3",
                                                  ROOT / "benchmarks" / "bench_rft_learning_qwen3.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.run_learning(tmp_path, checkpoint=qwen3_parrot((bench.RIGHT, bench.WRONG)))
    before, after = summary["probabilities_before"], summary["probabilities_after"]
    assert 0.35 < before[bench.RIGHT] < 0.65, summary  # the parrot says either span about half the time
    assert after[bench.RIGHT] > before[bench.RIGHT] + 0.15 and after[bench.WRONG] < before[bench.WRONG], summary
    assert summary["last8_mean_reward"] > summary["first8_mean_reward"] + 0.3, summary  # 8 = 24 steps / 3
    assert (tmp_path / "run" / "reward_curve.png").is_file()
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("mode", ["full", "4bit"])
def test_full_and_qlora_train_a_qwen3_checkpoint_and_vcr_asks_it_as_trained(qwen3_checkpoint, tmp_path, mode):
    """Full fine-tuning (the vision tower trains: every pass gets the pixels) and QLoRA (an NF4 base) run the same
    trainer on Qwen3-VL; the output records its family, so `vcr` asks the fine-tune of a local copy as TimeLens2,
    not as the plain Qwen3-VL its config says (also after `vcr rft merge`)."""
    from rft.merge import merge_adapter
    from rft.train import run_training
    from vcr_cli.checkpoints import resolve_family
    from vcr_cli.checks import check_family
    from vcr_cli.runtime import load_runtime

    clip = media.timed_clip(tmp_path / "clip.mp4", media.cfr_times(30, 10.0))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"task": "ground", "video": str(clip), "query": "a code changes",
                                "solution": {"start": 0.5, "end": 2.0}}) + "\n")
    config = tmp_path / "tiny.yaml"
    config.write_text("num_generations: 2\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 1\n"
                      "max_completion_length: 3\ngradient_checkpointing: false\nmax_pixels: 4096\n")
    assert resolve_family(str(qwen3_checkpoint)).name == "qwen3-vl"  # what its config.json alone says
    out = run_training(data_path=data, config_path=config, model=str(qwen3_checkpoint), output_dir=tmp_path / "run",
                       max_steps=1, full=mode == "full", quant="4bit" if mode == "4bit" else None, device="cpu",
                       family="timelens2")
    assert "family: timelens2" in (out / "rft_config.yaml").read_text()
    assert resolve_family(str(out)).name == "timelens2"
    assert check_family(str(out)).detail.startswith("timelens2 (qwen3_vl): ground")  # `vcr doctor` says so too
    if mode == "full":
        assert (out / "model.safetensors").is_file()
        assert load_runtime(str(out), quant="none", device="cpu").family.name == "timelens2"
    else:
        assert (out / "adapter_model.safetensors").is_file()
        merged = merge_adapter(out, tmp_path / "merged")
        assert resolve_family(str(merged)).name == "timelens2"
        assert resolve_family(str(merged), "qwen3-vl").name == "qwen3-vl"  # --family still wins


def test_a_config_files_family_goes_with_its_model(tmp_path):
    """A saved run's rft_config.yaml names its model and family: reused with another --model, that model's family
    is found; a file that names no model (examples/configs/timelens2.yaml) keeps its family for any --model."""
    from rft.config import load_for_family
    from vcr_cli.errors import UsageError

    saved = tmp_path / "rft_config.yaml"
    saved.write_text("model: MCG-NJU/TimeLens2-8B\nfamily: timelens2\nlearning_rate: 2.0e-6\n")
    assert load_for_family(saved)[1].name == "timelens2"
    assert load_for_family(saved, model="MCG-NJU/TimeLens2-8B")[1].name == "timelens2"
    cfg, family = load_for_family(saved, model="Qwen/Qwen3-VL-8B-Instruct")
    assert family.name == cfg.family == "qwen3-vl" and cfg.learning_rate == 2e-6  # the file's settings stay
    assert load_for_family(saved, model="OpenGVLab/VideoChat-R1_7B")[1].name == "videochat-r1"
    assert load_for_family(saved, model="Qwen/Qwen3-VL-8B-Instruct", family="timelens2")[1].name == "timelens2"
    example = ROOT / "examples" / "configs" / "timelens2.yaml"
    assert load_for_family(example, model="Qwen/Qwen3-VL-8B-Instruct")[1].name == "timelens2"
    with pytest.raises(UsageError, match="the timelens2 family needs a qwen3_vl checkpoint"):
        load_for_family(example)  # the default VideoChat-R1: one line, not TimeLens2's recipe on it


def test_a_recorded_family_vcr_does_not_know_is_named_with_its_file(qwen3_checkpoint, tmp_path):
    import shutil

    from vcr_cli.checkpoints import resolve_family
    from vcr_cli.errors import UsageError

    folder = tmp_path / "run"
    shutil.copytree(qwen3_checkpoint, folder)
    (folder / "rft_config.yaml").write_text("family: timelens9\n")
    with pytest.raises(UsageError, match=r"run/rft_config.yaml names the model family 'timelens9', which vcr does "
                                         r"not know; pass --family"):
        resolve_family(str(folder))
    assert resolve_family(str(folder), "timelens").name == "timelens"  # --family wins, the record is not read
