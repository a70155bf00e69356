"""Long-video grounding: the windows of one video answered in one batched generate vs one by one (issue 18).

On a 10-minute 360p clip (five 120 s windows, 240 frames each at 2 fps), `ground_windows` with `window_batch`
1 (one generate per window, the old path) and 5 (every window in one generate), side by side in one process on
the same loaded model. Reported: vision-tower passes (one per window either way), generate calls, decode steps
(one new token for every row per step), wall seconds (best of --repeats). A tiny random checkpoint with
--max-new-tokens 24 by default; pass --model/--quant/--device for a real checkpoint on a GPU, where decoding
dominates and batching pays most.

    python benchmarks/bench_windows_batched.py [--minutes 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from clips import ModelCalls, make_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--model")
    parser.add_argument("--quant", default="none")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()


    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground_windows
    from vcr_cli.tiny import build_tiny_checkpoint
    from vcr_cli.video import probe

    video = make_clip(f"windows_{int(args.minutes)}min_360p.mp4", args.minutes * 60, 640, 360)
    model = args.model or str(build_tiny_checkpoint(tempfile.mkdtemp() + "/tiny"))
    runtime = load_runtime(model, quant=args.quant, device=args.device)
    info = probe(video)
    calls = ModelCalls(runtime)
    rows = []
    for batch in (1, 5):
        best = float("inf")
        for _ in range(args.repeats):
            calls.reset()
            start = time.perf_counter()
            result = ground_windows(runtime, video, info, "a white square moves", SamplingOptions(), 120.0,
                                    think=False, max_new_tokens=args.max_new_tokens, window_batch=batch)
            best = min(best, time.perf_counter() - start)
        rows.append((batch, result["windows"]["count"], calls.vision_passes, len(calls.generates), calls.decode_steps,
                     best))
    print(f"model {model} ({args.quant}, {args.device}); {info.duration:.0f} s video; "
          f"max {args.max_new_tokens} new tokens")
    print(f"{'batch':>5} {'windows':>7} {'vision passes':>13} {'generates':>9} {'decode steps':>12} {'wall s':>7} "
          f"{'x one by one':>12}")
    for batch, count, vision, calls, decode, wall in rows:
        print(f"{batch:>5} {count:>7} {vision:>13} {calls:>9} {decode:>12} {wall:>7.2f} {wall / rows[0][-1]:>12.2f}")


if __name__ == "__main__":
    main()
