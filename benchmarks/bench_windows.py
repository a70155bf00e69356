"""Windowed grounding on long clips: time per window and peak memory, as the video grows.

Each configuration runs in a fresh process (peak RSS is per process; "above model" is the peak minus
the RSS once the model is loaded). Memory should stay flat with video length when windows are
decoded one at a time; a single pass over the whole video (the 768-frame cap) is shown for
comparison. Peak RSS moves by ~100-200 MB between runs with glibc's per-thread arenas
(MALLOC_ARENA_MAX=2 steadies it).

    python benchmarks/bench_windows.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from clips import OUT, make_clip  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from vcr_cli.pipeline import SamplingOptions
from vcr_cli.runtime import load_runtime
from vcr_cli.tasks.ground import ground, ground_windows
from vcr_cli.video import probe, sample_video
ckpt, video, mode = sys.argv[1], sys.argv[2], sys.argv[3]
runtime = load_runtime(ckpt, quant="none", device="cpu")
info = probe(video)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
if mode == "single":
    result = ground(runtime, sample_video(video, info=info), "a white square moves", max_new_tokens=16)
    windows = 1
else:
    result = ground_windows(runtime, video, info, "a white square moves", SamplingOptions(), 120.0, 20.0,
                            max_new_tokens=16, all_segments=True)
    windows = result["windows"]["count"]
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"windows": windows, "seconds": elapsed, "peak_rss_mb": peak, "above_model_mb": peak - base,
                  "segments": len(result["segments"])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()

    from vcr_cli.tiny import train_parrot

    ckpt = OUT / "parrot_ground"
    if not (ckpt / "model.safetensors").exists():
        train_parrot(ckpt, "<answer>12.00 to 30.50</answer>")
    lengths = sorted({args.minutes / 4, args.minutes / 2, args.minutes})
    print(f"{'clip':>10} {'mode':>8} {'windows':>8} {'total s':>8} {'s/window':>9} {'peak RSS MB':>12} "
          f"{'above model MB':>15}")
    for minutes in lengths:
        clip = make_clip(f"clip_{minutes:g}min_360p.mp4", minutes * 60, 640, 360)
        for mode in ("windows", "single"):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), str(clip), mode], capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{minutes:>8g}mn {mode:>8} {r['windows']:>8} {r['seconds']:>8.1f} "
                  f"{r['seconds'] / r['windows']:>9.2f} {r['peak_rss_mb']:>12.0f} {r['above_model_mb']:>15.0f}")


if __name__ == "__main__":
    main()
