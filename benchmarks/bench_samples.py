"""What does `--samples K` cost? (issue 17: a score that sees a choice made in the reasoning)

`vcr ground` with K = 0, 8 and 16 on one decoded video, side by side in one run. For each K it reports:
  vision-tower passes   forward calls of `model.visual` (goal: 1 whatever K: the K draws reuse the encoder output);
  generate calls        1 for K = 0; 2 with samples (the checkpoint's own answer, then all K draws together);
  decode steps          language-model calls of one new token per row, summed over the generate calls;
  rows decoded          tokens decoded in all (rows x steps): what the K draws cost in compute;
  wall seconds          after the model is loaded and the video decoded (both done once), best of --repeats.

By default a tiny random checkpoint (vcr_cli.tiny, toy vocabulary) answers on a generated 31 s 640x480 clip
sampled as VideoChat-R1 was trained (3,240 video tokens), with generation capped at --max-new-tokens (24, about a
no-think "<answer>12.54 to 17.83</answer>"). Pass --model/--quant/--device to time a real checkpoint on a GPU.

    python benchmarks/bench_samples.py [--repeats 3] [--threads 2] [--model DIR --quant 4bit --device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from bench_multi_question import make_clip
from clips import ModelCalls

KS = (0, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--quant", default="none")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground
    from vcr_cli.tiny import build_tiny_checkpoint
    from vcr_cli.video import sample_video

    model = args.model or str(build_tiny_checkpoint(tempfile.mkdtemp() + "/tiny"))
    runtime = load_runtime(model, quant=args.quant, device=args.device)
    video = sample_video(make_clip())
    calls = ModelCalls(runtime)
    print(f"model {model} ({args.quant}, {args.device}); video tokens {video.plan.video_tokens}; "
          f"max {args.max_new_tokens} new tokens")
    rows = []
    for k in KS:
        best = float("inf")
        for _ in range(args.repeats):
            calls.reset()
            start = time.perf_counter()
            ground(runtime, video, "the square moves", think=False, max_new_tokens=args.max_new_tokens, samples=k)
            best = min(best, time.perf_counter() - start)
        rows.append((k, calls.vision_passes, len(calls.generates), calls.decode_steps, calls.rows_decoded, best))
    base = rows[0][-1]
    print(f"{'K':>3} {'vision passes':>13} {'generates':>9} {'decode steps':>12} {'rows decoded':>12} "
          f"{'wall s':>7} {'x K=0':>6}")
    for k, vision, calls, steps, decoded, wall in rows:
        print(f"{k:>3} {vision:>13} {calls:>9} {steps:>12} {decoded:>12} {wall:>7.2f} {wall / base:>6.2f}")


if __name__ == "__main__":
    main()
