"""`vcr rft` trains and evaluates on what VideoChat-R1 did (issue 12), on CPU with tiny checkpoints.

Each test pins one difference that silently changed what is learned or measured: the tracking frames, the
master-weight precision, the KL term, the evaluation query, the vision-tower reuse and steps that train nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

try:  # tests/ as a package or as a plain folder
    from tests.test_rft_train import SAMPLING, TINY, write_config, write_data
except ImportError:
    from test_rft_train import SAMPLING, TINY, write_config, write_data

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ 4. evaluation asks with the raw sentence


def test_eval_asks_grounding_with_the_raw_sentence_training_with_the_normalised_one(parrot, clip, tmp_path,
                                                                                    monkeypatch):
    from rft.data import load_examples
    from rft.evaluate import evaluate
    from rft.train import build_dataset
    from vcr_cli.runtime import Runtime

    sentence = "Person turn a light on."
    data = write_data(tmp_path / "test.jsonl", [{"task": "ground", "video": str(clip), "query": sentence,
                                                 "solution": {"start": 0.2, "end": 1.0}}])
    asked = []
    real_generate = Runtime.generate
    monkeypatch.setattr(Runtime, "generate", lambda self, prompt, video, **kw: (
        asked.append(prompt), real_generate(self, prompt, video, **kw))[1])
    evaluate(data, str(parrot("<answer>0.20 to 1.00</answer>")), quant="none", device="cpu")
    assert len(asked) == 1
    assert 'pinpoint the event "Person turn a light on." in the video' in asked[0]  # the paper's eval (§2.1)
    trained = build_dataset(load_examples(data), think=True)[0]["prompt"][0]["content"]
    assert 'pinpoint the event "person turn a light on" in the video' in trained  # training: lower case, no "."


# ------------------------------------------------------------------ 3. the KL term is the paper's


def _trainer(checkpoint, tmp_path, cfg=None, examples=None, model=None, **kwargs):
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from rft.config import RftConfig
    from rft.train import build_dataset, grpo_args, lora_config
    from rft.trainer import VideoGRPOTrainer, VideoSampling

    cfg = cfg or RftConfig.from_dict(TINY)
    if model is None:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32)
    rows = build_dataset(examples, cfg.think) if examples else None
    return VideoGRPOTrainer(model=model, reward_funcs=kwargs.pop("reward_funcs", [lambda completions, **kw: [0.0] *
                                                                                   len(completions)]),
                            args=grpo_args(cfg, tmp_path / "run", "cpu", [1.0]), train_dataset=rows,
                            processing_class=AutoProcessor.from_pretrained(checkpoint),
                            peft_config=None if cfg.full else lora_config(cfg),
                            video_sampling=VideoSampling(**SAMPLING), **kwargs)


def test_kl_gradient_is_the_papers_k3_without_the_ratio(tiny_checkpoint, clip, tmp_path, monkeypatch):
    """With zero advantages only the KL acts: d loss / d logp = beta * (1 - exp(ref - logp)) / T / B (reference §4).

    TRL 1.16's default multiplies the KL by the importance ratio exp(logp - logp.detach()), which adds
    beta * KL per token to that gradient.
    """
    import torch

    from rft.config import RftConfig
    from rft.data import load_examples

    examples = load_examples(write_data(tmp_path / "d.jsonl", [{"task": "ground", "video": str(clip), "query": "a",
                                                                "solution": {"start": 0.2, "end": 1.0}}]))
    cfg = RftConfig.from_dict(TINY)
    assert cfg.beta == 0.04 and RftConfig().beta == 0.04
    trainer = _trainer(tiny_checkpoint, tmp_path, cfg, examples)
    assert trainer.args.use_bias_correction_kl is False
    batch, length = 2, 3
    logp = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -3.0, -0.7]], requires_grad=True)
    ref = torch.tensor([[-0.9, -0.2, -2.5], [-0.1, -1.0, -1.7]])
    monkeypatch.setattr(trainer, "_get_per_token_logps_and_entropies",
                        lambda *a, **k: (logp, torch.zeros_like(logp), None))
    inputs = {"prompt_ids": torch.ones(batch, 2, dtype=torch.long), "prompt_mask": torch.ones(batch, 2),
              "completion_ids": torch.ones(batch, length, dtype=torch.long),
              "completion_mask": torch.ones(batch, length), "advantages": torch.zeros(batch),
              "ref_per_token_logps": ref}
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # (set by Trainer's loop)
    trainer._compute_loss(trainer.model, inputs).backward()
    kl = torch.exp(ref - logp) - (ref - logp) - 1
    paper = 0.04 * (1 - torch.exp(ref - logp.detach())) / length / batch
    torch.testing.assert_close(logp.grad, paper, atol=1e-7, rtol=1e-5)
    assert (0.04 * kl.detach() / length / batch).abs().max() > 1e-3  # what the ratio-weighted KL would add


def test_saved_config_records_the_effective_loss_and_reads_back(tmp_path):
    import yaml

    from rft.config import RftConfig
    from rft.train import _write_config, grpo_args, loss_settings

    cfg = RftConfig()
    _write_config(cfg, tmp_path / "rft_config.yaml", loss_settings(grpo_args(cfg, tmp_path, "cpu", [1.0])))
    saved = yaml.safe_load((tmp_path / "rft_config.yaml").read_text())
    assert saved["effective_loss"] == {
        "loss_type": "grpo", "beta": 0.04, "kl_estimator": "k3: exp(ref - logp) - (ref - logp) - 1",
        "use_bias_correction_kl": False, "num_iterations": 1, "epsilon_low": 0.2, "epsilon_high": 0.2,
        "scale_rewards": "group", "importance_sampling_level": "token", "per_token_loss": "-(ratio * A - beta * KL)"}
    assert RftConfig.load(tmp_path / "rft_config.yaml") == cfg  # a run's config reproduces it with --config


# ------------------------------------------------------------------ 6. a run that trains nothing must say so


def test_two_examples_fill_every_asked_step(tiny_checkpoint, clip, tmp_path):
    """num_generations 2 with 2 x 4 completions a step needs 4 prompts a step: 2 examples are cycled to fill it."""
    from typer.testing import CliRunner

    from rft.train import fill_steps
    from vcr_cli.app import app

    lines = [{"task": "ground", "video": str(clip), "query": q, "solution": {"start": 0.2, "end": 1.0}}
             for q in ("the square moves right", "the light changes")]
    data = write_data(tmp_path / "train.jsonl", lines)
    config = write_config(tmp_path / "c.yaml", **{**TINY, "gradient_accumulation_steps": 4, "save_steps": 100})
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["rft", "train", str(data), "--config", str(config), "--model",
                                      str(tiny_checkpoint), "--output-dir", str(out), "--max-steps", "2",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "2 examples fill 2/4 of an optimizer step's prompts" in result.output
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and "saved to" in result.output
    assert fill_steps([1, 2, 3, 4, 5], 4) == ([1, 2, 3, 4, 5, 1, 2, 3], fill_steps([1, 2, 3, 4, 5], 4)[1])
    assert fill_steps([1, 2, 3, 4], 4) == ([1, 2, 3, 4], None)
    # the run's config records the loss TRL computed (issue point 3)
    assert "use_bias_correction_kl: false" in (out / "rft_config.yaml").read_text()


def test_fewer_steps_than_asked_is_an_error_not_a_save(tiny_checkpoint, clip, tmp_path, monkeypatch):
    """Without the cycling the same run trains 0 of its steps: exit 1 with the numbers, no 'saved to', no model."""
    from typer.testing import CliRunner

    import rft.train
    from vcr_cli.app import app

    monkeypatch.setattr(rft.train, "fill_steps", lambda examples, per_step: (examples, None))
    data = write_data(tmp_path / "train.jsonl", [{"task": "ground", "video": str(clip), "query": "a",
                                                  "solution": {"start": 0.2, "end": 1.0}}] * 2)
    config = write_config(tmp_path / "c.yaml", **{**TINY, "gradient_accumulation_steps": 4})
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["rft", "train", str(data), "--config", str(config), "--model",
                                      str(tiny_checkpoint), "--output-dir", str(out), "--max-steps", "12",
                                      "--device", "cpu"])
    assert result.exit_code == 1, result.output
    assert "trained 0 of 12 optimizer steps" in result.output and "saved to" not in result.output
    assert not (out / "adapter_model.safetensors").exists()


# ------------------------------------------------------------------ 1. tracking rows see the paper's 7 frames


def write_frame_folder(folder: Path, count: int, width: int = 320, height: int = 180) -> Path:
    """`count` PNG frames, frame i a flat grey of level 2 * i (so a decoded frame tells its index)."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i + 1:08d}.png"), np.full((height, width, 3), 2 * i, dtype=np.uint8))
    return folder


def frame_levels(frames) -> list[int]:
    return [round(float(frame.mean()) / 2) for frame in frames]


def track_line(video: Path) -> dict:
    return {"task": "track", "video": str(video), "object": "square",
            "solution": {"boxes": [[0.1, 0.2, 0.3, 0.4]] * 8}}


def test_tracking_plan_is_the_papers_seven_frames_at_the_training_budget():
    from vcr_cli.sampling import plan_tracking

    plan = plan_tracking(120, 1920, 1080)  # reference §6.2: 7 GOT frames 1920x1080 -> 1008x560, "2" fps
    assert (plan.indices, plan.width, plan.height, plan.fps) == ([0, 19, 39, 59, 79, 99, 119], 1008, 560, 2.0)
    plan = plan_tracking(60, 1280, 720)
    assert (plan.indices, plan.width, plan.height) == ([0, 9, 19, 29, 39, 49, 59], 1008, 560)


def test_training_feeds_a_track_row_the_seven_tracking_frames_at_nominal_fps_2(tiny_checkpoint, tmp_path):
    """A 60-frame folder: the loss and generation forwards get 7 frames (4 grids) at 1 s per grid, not 60 frames."""
    import torch

    from rft.config import RftConfig
    from rft.data import load_examples
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import sample_tracking

    folder = write_frame_folder(tmp_path / "GOT-10k_Train_000001", 60)
    examples = load_examples(write_data(tmp_path / "train.jsonl", [track_line(folder)]))
    trainer = _trainer(tiny_checkpoint, tmp_path, RftConfig.from_dict({**TINY, "max_steps": 1}), examples)
    video = sample_tracking(folder, **SAMPLING)
    assert frame_levels(video.frames) == [0, 9, 19, 29, 39, 49, 59]
    assert video.metadata() == {"total_num_frames": 7, "fps": 2.0, "frames_indices": [0, 1, 2, 3, 4, 5, 6]}
    runtime = Runtime(model=trainer.model, processor=trainer.processing_class, model_id="", quant="", device="")
    expected = runtime.build_inputs("x", video)
    assert expected["video_grid_thw"][0, 0].item() == 4  # 7 frames, the last repeated: 8 frames, 4 grids

    inner = trainer.model.get_base_model().model
    calls = []
    inner.register_forward_pre_hook(lambda module, args, kwargs: calls.append(dict(kwargs)), with_kwargs=True)
    trainer.train()
    fed = [kw for kw in calls if kw.get("video_grid_thw") is not None]
    assert fed
    for kw in fed:
        assert all(grid.tolist() == expected["video_grid_thw"][0].tolist() for grid in kw["video_grid_thw"])
        assert torch.all(kw["second_per_grid_ts"] == 1.0)  # 2 frames per grid at the nominal 2 fps
        if kw.get("pixel_values_videos") is not None:
            rows = expected["pixel_values_videos"].shape[0]
            assert torch.equal(kw["pixel_values_videos"][:rows], expected["pixel_values_videos"])


def test_eval_feeds_a_track_row_the_seven_tracking_frames(parrot, tmp_path, monkeypatch):
    from rft.evaluate import evaluate
    from vcr_cli.runtime import Runtime

    folder = write_frame_folder(tmp_path / "seq", 120, 192, 108)
    data = write_data(tmp_path / "test.jsonl", [track_line(folder)])
    fed = []
    real_generate = Runtime.generate
    monkeypatch.setattr(Runtime, "generate", lambda self, prompt, video, **kw: (
        fed.append(video), real_generate(self, prompt, video, **kw))[1])
    evaluate(data, str(parrot("<answer>0.20 to 1.00</answer>")), quant="none", device="cpu")
    (video,) = fed
    assert frame_levels(video.frames) == [0, 19, 39, 59, 79, 99, 119]
    assert video.frames.shape[1:3] == (112, 196) and video.metadata()["fps"] == 2.0


def test_validate_reads_the_tracking_frames_training_will_read(tmp_path):
    from rft.data import validate_file

    folder = write_frame_folder(tmp_path / "seq", 13, 64, 48)
    data = write_data(tmp_path / "d.jsonl", [track_line(folder)])
    (folder / "00000002.png").write_bytes(b"not an image")  # frame 2: not one of the 7 (0, 2, 4, ... 1-based 1, 3)
    assert validate_file(data) == []
    (folder / "00000005.png").write_bytes(b"not an image")  # frame 5 of 13 = index 4 = int(2 * 12 / 6)
    assert validate_file(data) == [f"{data}:1: tracking frame 3 of 7 (00000005.png, frame 5 of 13) "
                                   "is not a readable image"]


# ------------------------------------------------------------------ 2. the optimizer steps on fp32 weights


def test_precision_decision_keeps_fp32_wherever_the_optimizer_steps():
    from rft.train import Precision, training_precision

    assert training_precision("cuda", full=True, quant="none", zero_stage=None) == Precision("float32", "float32", True)
    assert training_precision("cuda", full=False, quant="none", zero_stage=None) == Precision("bfloat16", "float32",
                                                                                             True)
    assert training_precision("cuda", full=False, quant="4bit", zero_stage=None).master == "float32"
    assert training_precision("cuda", full=True, quant="none", zero_stage=3) == Precision("bfloat16", "deepspeed",
                                                                                         True)
    assert training_precision("cpu", full=True, quant="none", zero_stage=None) == Precision("float32", "float32",
                                                                                           False)


def _changed_fraction(tiny_checkpoint, clip, tmp_path, model) -> float:
    from rft.config import RftConfig
    from rft.data import load_examples

    tmp_path.mkdir()
    examples = load_examples(write_data(tmp_path / "d.jsonl", [{"task": "ground", "video": str(clip), "query": "a",
                                                                "solution": {"start": 0.2, "end": 1.0}}]))
    cfg = RftConfig.from_dict({**TINY, "learning_rate": 1e-6, "full": True, "max_steps": 1, "save_steps": 100})
    trainer = _trainer(tiny_checkpoint, tmp_path, cfg, examples, model=model,
                       reward_funcs=[lambda completions, **kw: [float(i % 2) for i in range(len(completions))]])
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = sum(int((after[name].detach() != value).sum()) for name, value in before.items())
    return changed / sum(value.numel() for value in before.values())


def test_one_full_step_at_lr_1e6_changes_the_weights_with_the_cuda_precision(tiny_checkpoint, clip, tmp_path,
                                                                              monkeypatch):
    """The weights `vcr rft train --full` steps on under CUDA (decided by training_precision, loaded by load_policy)
    change in >= 90% of their entries after one lr-1e-6 step; bf16 weights (the old CUDA choice) barely move."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from rft.config import RftConfig
    from rft.train import grpo_args, load_policy, training_precision

    cfg = RftConfig.from_dict({**TINY, "model": str(tiny_checkpoint), "full": True})
    args = grpo_args(cfg, tmp_path / "x", "cpu", [1.0])
    model, _ = load_policy(cfg, args, training_precision("cuda", full=True, quant="none", zero_stage=None))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    fp32 = _changed_fraction(tiny_checkpoint, clip, tmp_path / "fp32", model)
    # the control: bf16 weights stepped on as they are (the old CUDA choice, without the trainer's fp32 upcast)
    monkeypatch.setattr("rft.trainer.upcast_trainable", lambda model: 0)
    bf16_model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_checkpoint, dtype=torch.bfloat16)
    bf16 = _changed_fraction(tiny_checkpoint, clip, tmp_path / "bf16", bf16_model)
    print(f"fraction of trainable weights changed by one lr-1e-6 step: fp32 {fp32:.4f}, bf16 {bf16:.4f}")
    assert fp32 >= 0.9 and bf16 < 0.5, (fp32, bf16)


def test_qlora_adapters_stay_fp32(tiny_checkpoint, clip, tmp_path):
    """TRL casts QLoRA adapters to bf16; the trainer keeps the optimizer's weights fp32."""
    import torch

    from rft.config import RftConfig
    from rft.data import load_examples
    from rft.train import grpo_args, load_policy

    examples = load_examples(write_data(tmp_path / "d.jsonl", [{"task": "ground", "video": str(clip), "query": "a",
                                                                "solution": {"start": 0.2, "end": 1.0}}]))
    cfg = RftConfig.from_dict({**TINY, "model": str(tiny_checkpoint), "quant": "4bit"})
    model, _ = load_policy(cfg, grpo_args(cfg, tmp_path / "x", "cpu", [1.0]))
    trainer = _trainer(tiny_checkpoint, tmp_path, cfg, examples, model=model)
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert trainable and {p.dtype for p in trainable} == {torch.float32}


# ------------------------------------------------------------------ 5. a frozen vision tower runs once per video


def _count_vision(trainer):
    """[(calls, videos)]: every vision-tower forward and how many videos (grid rows) it encoded."""
    seen = []
    trainer.hf_model().model.visual.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(int(kwargs["grid_thw"].shape[0])), with_kwargs=True)
    return seen


def test_frozen_vision_tower_encodes_each_prompt_video_once_per_step(tiny_checkpoint, bunny, clip, tmp_path):
    """LoRA (the vision tower frozen): 2 prompts a step on 2 videos -> 2 videos through the tower per step, where
    the pixel path encodes each for the 4 generations, the reference pass and the loss pass (12)."""
    from rft.config import RftConfig
    from rft.data import load_examples

    lines = [{"task": "ground", "video": str(video), "query": "a", "solution": {"start": 0.2, "end": 1.0}}
             for video in (bunny, clip)]
    examples = load_examples(write_data(tmp_path / "d.jsonl", lines))
    cfg = RftConfig.from_dict({**TINY, "per_device_train_batch_size": 4, "max_steps": 2, "save_steps": 100})
    trainer = _trainer(tiny_checkpoint, tmp_path / "a", cfg, examples)
    assert trainer.reuse_video_features
    videos = _count_vision(trainer)
    trainer.train()
    assert trainer.state.global_step == 2 and sum(videos) == 2 * 2, videos
    today = _trainer(tiny_checkpoint, tmp_path / "b", cfg, examples)
    today.reuse_video_features = False  # the pixel path (what a trainable vision tower keeps)
    videos = _count_vision(today)
    today.train()
    assert sum(videos) == 2 * 12, videos


def test_reused_features_give_the_pixel_paths_logprobs(tiny_checkpoint, bunny, clip, tmp_path):
    import torch
    from trl.trainer.utils import pad

    from rft.config import RftConfig
    from rft.data import example_prompt, load_examples
    from rft.trainer import FEATURES_KEY

    lines = [{"task": "ground", "video": str(video), "query": "a", "solution": {"start": 0.2, "end": 1.0}}
             for video in (bunny, clip)]
    examples = load_examples(write_data(tmp_path / "d.jsonl", lines))
    trainer = _trainer(tiny_checkpoint, tmp_path, RftConfig.from_dict(TINY), examples)
    tokenizer = trainer.processing_class.tokenizer
    completion = torch.tensor(tokenizer("<answer>1.00 to 2.00</answer>")["input_ids"])
    encoded = [trainer.encode_prompt(example_prompt(e, True)[1], str(e.video)) for e in examples]
    prompts = pad([enc["input_ids"][0] for enc in encoded], padding_value=tokenizer.pad_token_id, padding_side="left")
    mask = pad([torch.ones_like(enc["input_ids"][0]) for enc in encoded], padding_value=0, padding_side="left")
    ids = torch.cat([prompts, completion.expand(2, -1)], dim=1)
    mask = torch.cat([mask, torch.ones(2, completion.numel(), dtype=torch.long)], dim=1)
    common = {"video_grid_thw": torch.cat([enc["video_grid_thw"] for enc in encoded]),
              "second_per_grid_ts": torch.cat([enc["second_per_grid_ts"] for enc in encoded])}
    results = []
    for video in ({"pixel_values_videos": [enc["pixel_values_videos"] for enc in encoded]},
                  {FEATURES_KEY: [trainer.encode_video(enc) for enc in encoded]}):
        with torch.no_grad(), trainer._video_scope({**video, **common}):
            results.append(trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, completion.numel())[0])
    diff = (results[0] - results[1]).abs().max().item()
    print(f"log-prob max |diff| reused features vs pixels: {diff:.3g}")
    assert diff <= 1e-5


def test_a_trainable_vision_tower_keeps_the_pixel_path(tiny_checkpoint, clip, tmp_path):
    from rft.config import RftConfig
    from rft.data import load_examples

    examples = load_examples(write_data(tmp_path / "d.jsonl", [{"task": "ground", "video": str(clip), "query": "a",
                                                                "solution": {"start": 0.2, "end": 1.0}}]))
    trainer = _trainer(tiny_checkpoint, tmp_path, RftConfig.from_dict({**TINY, "full": True}), examples)
    assert not trainer.reuse_video_features  # --full trains the vision tower too: its output changes each pass


def test_saved_config_names_local_paths_absolutely(tmp_path, monkeypatch):
    """`rft_config.yaml` works as `--config` from any folder: local data, model, output and reward files absolute,
    hub ids and module rewards as written."""
    import yaml

    from rft.config import RftConfig
    from rft.train import _write_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.jsonl").write_text("")
    (tmp_path / "base").mkdir()
    (tmp_path / "my_rewards.py").write_text("def fn(completions, **kw):\n    return [0.0] * len(completions)\n")
    cfg = RftConfig.from_dict({"data": "data.jsonl", "model": "base", "output_dir": "runs/a",
                               "rewards": ["ground_iou", "my_rewards.py:fn"]})
    _write_config(cfg, tmp_path / "rft_config.yaml")
    saved = yaml.safe_load((tmp_path / "rft_config.yaml").read_text())
    assert (saved["data"], saved["model"]) == (str(tmp_path / "data.jsonl"), str(tmp_path / "base"))
    assert saved["output_dir"] == "runs/a"  # not created yet: as written
    assert saved["rewards"] == ["ground_iou", f"{tmp_path / 'my_rewards.py'}:fn"]
    hub = RftConfig.from_dict({"model": "OpenGVLab/VideoChat-R1_7B"})
    _write_config(hub, tmp_path / "hub.yaml")
    assert yaml.safe_load((tmp_path / "hub.yaml").read_text())["model"] == "OpenGVLab/VideoChat-R1_7B"
