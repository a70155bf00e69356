"""Proof that `vcr rft train` learns on a Qwen3-VL grounder: a tiny TimeLens2 replica moves to the annotated span.

The whole product path runs (`rft.train.run_training` with the timelens2 family's recipe: TimeLens2-93K's prompt,
the video first with `<t seconds>` markers from the frames' real times, the rewards twass1 + tiou + parse_penalty,
a LoRA adapter on the attention projections) on a tiny Qwen3-VL replica (Qwen's real vocabulary and token ids,
`vcr_cli.tiny_qwen3.train_qwen3_parrot`) taught to answer either of two spans with probability ~1/2: the annotated
`[[0.2, 1.0]]` or `[[3.0, 4.0]]`. GRPO should move the policy to the annotated span: the mean reward (at most 2:
twass1 1 + tiou 1 + parse_penalty 0) rises, and the saved adapter, loaded back by vcr (`load_runtime`, adapter over
its base), gives the annotated answer a higher probability than the base did.

The learning rate (5e-3) is far above the recipe's 1e-6 so a few dozen CPU steps show the effect; rollouts are
4 per prompt (the recipe: 8) and the clip short and small (2 s at 64x64: 4 frames), for speed.

Writes OUT/run/rewards.csv, OUT/run/reward_curve.png and OUT/learning.json:

    python benchmarks/bench_rft_learning_qwen3.py [--steps 24] [--out benchmarks/out/rft_learning_qwen3]
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared learning-benchmark pieces, beside this file
from bench_rft_learning import learning_summary, main  # noqa: E402
from clips import make_clip  # noqa: E402

OUT = Path(__file__).parent / "out" / "rft_learning_qwen3"
RIGHT, WRONG = "[[0.2, 1.0]]", "[[3.0, 4.0]]"
QUERY = "The white square moves."
FAMILY = "timelens2"
GENERATIONS = 4


def write_inputs(folder: Path, video: str, checkpoint: Path, steps: int, learning_rate: float,
                 seed: int) -> tuple[Path, Path]:
    """The data JSONL (one ground line annotated 0.2-1.0 s) and the YAML config of a learning run."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.jsonl"
    data.write_text(json.dumps({"task": "ground", "video": video, "query": QUERY,
                                "solution": {"start": 0.2, "end": 1.0}}) + "\n")
    settings = {
        "model": str(checkpoint),
        "family": FAMILY,
        "num_generations": GENERATIONS,
        "per_device_train_batch_size": GENERATIONS,  # one prompt's group per optimizer step
        "gradient_accumulation_steps": 1,
        "max_completion_length": 1,  # the answer token alone (its <|im_end|> would be trained too)
        "learning_rate": learning_rate,
        "max_pixels": 64 * 64,
        "gradient_checkpointing": False,
        "save_steps": 10_000,
        "max_steps": steps,
        "seed": seed,
    }
    config = folder / "learning.yaml"
    config.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    return data, config


def answer_probabilities(model: str, video: str) -> dict[str, float]:
    """P(first answer token) of the two spans, for the training prompt and frames, as vcr loads `model`."""
    import torch

    from vcr_cli.families import GROUND, get
    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_video

    family = get(FAMILY)
    runtime = load_runtime(model, quant="none", device="cpu", family=FAMILY)
    frames = sample_video(video, rule=family.training.train_sampling, max_pixels=64 * 64)
    _, prompt = family.train_prompt("ground", query=QUERY)
    inputs = runtime.build_inputs(prompt, frames, family.layout(GROUND))
    with torch.no_grad():
        probs = runtime.model(**inputs).logits[0, -1].float().softmax(-1)
    tokenizer = runtime.processor.tokenizer
    return {answer: round(float(probs[tokenizer.convert_tokens_to_ids(answer)]), 4) for answer in (RIGHT, WRONG)}


def run_learning(out_dir: Path, steps: int = 24, seed: int = 0, learning_rate: float = 5e-3,
                 checkpoint: Path | None = None) -> dict:
    """Train `steps` steps from the two-answer parrot; returns the summary (also in learning.json)."""
    from rft.train import REWARD_CSV, run_training
    from vcr_cli.tiny_qwen3 import train_qwen3_parrot

    out_dir = Path(out_dir)
    checkpoint = checkpoint or train_qwen3_parrot(out_dir / "parrot", [RIGHT, WRONG], seed=seed)
    # 2 s at 64x64 (4 frames): few tokens a prompt, so CPU steps stay fast (TRL scores every prompt position
    # against Qwen's 151,936-token vocabulary off a GPU)
    video = str(make_clip("clip.mp4", 2.0, 64, 64, fps=10, folder=out_dir / "inputs"))
    data, config = write_inputs(out_dir / "inputs", video, checkpoint, steps, learning_rate, seed)
    run_dir = out_dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run (train refuses a folder with checkpoints)
    start = time.perf_counter()
    run_training(data_path=data, config_path=config, output_dir=run_dir, device="cpu")
    seconds = time.perf_counter() - start
    with open(run_dir / REWARD_CSV, newline="") as handle:
        rewards = [float(row["reward"]) for row in csv.DictReader(handle)]
    window = max(1, len(rewards) // 3)
    summary = {
        **learning_summary(rewards, window, seconds, run_dir),
        "probabilities_before": answer_probabilities(str(checkpoint), video),
        "probabilities_after": answer_probabilities(str(run_dir), video),
        "learning_rate": learning_rate,
        "seed": seed,
    }
    (out_dir / "learning.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main(run_learning, OUT, steps=24, learning_rate=5e-3, description=__doc__)
