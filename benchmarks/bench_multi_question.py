"""What do 5 questions about one video cost, next to 1? (`vcr ask --questions`, issue 4)

Times, after the model is loaded and the video decoded (both excluded, both done once):
  1 question            the single-question path (training layout, text first);
  5 questions, shared   video-first layout, the prefix up to the end of the video prefilled once;
  5 questions, naive    5 x the single-question path (what 5 separate `vcr ask` calls would spend on the model).
Each time covers everything from sampled frames to parsed answers: the processor (patches), the vision
tower, prefill and decoding. The goal is shared <= 1.5 x one question.

By default a tiny random checkpoint (vcr_cli.tiny) answers on a generated 31 s 640x480 clip sampled as
VideoChat-R1 was trained (60 frames at 336x252: 3,240 video tokens). Generation is capped at
--max-new-tokens (20, about the length of a no-think "<answer>C</answer><glue>[(s, e)]</glue>" reply);
thinking replies are longer and decoding then dominates every path alike. Pass --model/--device to time
a real checkpoint on a GPU.

    python benchmarks/bench_multi_question.py [--repeats 3] [--threads 1] [--model DIR --quant 4bit --device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
QUESTIONS = [
    ("what moves across the frame", ["a white square", "a red circle", "nothing", "a person"]),
    ("where does the square start", ["top left", "centre", "bottom right"]),
    ("how does the background change", ["it gets darker", "its colours shift", "it stays still"]),
    ("what happens at the end", ["the square stops", "the square leaves", "the video fades"]),
    ("describe the video in a few words", []),
]


def make_clip(seconds: float = 31.0, width: int = 640, height: int = 480, fps: float = 30.0) -> Path:
    """A moving white square on a shifting gradient (mp4v), cached under benchmarks/out/."""
    import cv2
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ask_{int(seconds)}s_{width}x{height}.mp4"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    for i in range(int(seconds * fps)):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (xs + i) % 256
        frame[..., 1] = (i * 2) % 256
        frame[..., 2] = 128
        x = int((width - 80) * i / (seconds * fps))
        frame[200:280, x : x + 80] = 255
        writer.write(frame)
    writer.release()
    tmp.rename(path)
    return path


def measure(cases: dict, repeats: int) -> dict:
    """Per case: (min wall s, min CPU s, last result), runs interleaved after one warm-up run of each.

    The minimum is the estimate least disturbed by other processes on a shared machine; interleaving spreads
    any remaining disturbance over all cases alike.
    """
    results = {name: fn() for name, fn in cases.items()}
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return {name: (min(walls[name]), min(cpus[name]), results[name]) for name in cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: a tiny random one built here)")
    parser.add_argument("--quant", default="none", choices=["4bit", "8bit", "none"])
    parser.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--video", help="video file (default: a generated 31 s 640x480 clip)")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--think", action="store_true", help="use the reasoning template (longer answers)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (1: steadier timings on a shared machine; 0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from vcr_cli.console import quiet_libraries

    quiet_libraries()
    from vcr_cli.questions import make_question
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ask import TEXT_FIRST, VIDEO_FIRST_SHARED_PREFIX, ask_many
    from vcr_cli.tiny import build_tiny_checkpoint
    from vcr_cli.video import sample_video

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_checkpoint(Path(tmp) / "tiny"))
        runtime = load_runtime(model, quant=args.quant, device=args.device)
        quiet_libraries()
        video_path = args.video or make_clip()
        start = time.perf_counter()
        video = sample_video(video_path)
        decode = time.perf_counter() - start
        questions = [make_question(q, o) for q, o in QUESTIONS]

        def run(qs, layout):
            return lambda: ask_many(runtime, video, qs, think=args.think, max_new_tokens=args.max_new_tokens,
                                    layout=layout)

        runs = measure({"one": run(questions[:1], "auto"), "shared": run(questions, VIDEO_FIRST_SHARED_PREFIX),
                        "naive": run(questions, TEXT_FIRST)}, args.repeats)

    plan = video.plan
    (one, one_cpu, one_result), (shared, shared_cpu, shared_result), (naive, naive_cpu, naive_result) = (
        runs["one"], runs["shared"], runs["naive"])
    print(f"model {args.model or 'tiny random Qwen2.5-VL (vcr_cli.tiny)'} ({args.quant}, {runtime.device}); "
          f"video {Path(video_path).name}: {plan.frames} frames {plan.width}x{plan.height} at {plan.fps:.2f} fps "
          f"= {plan.video_tokens} video tokens (decoded once in {decode:.2f}s, excluded)")
    print(f"shared prefix {shared_result['tokens']['shared_prefix']} tokens; questions batched "
          f"{shared_result['batch_size']} at a time; tokens generated per answer "
          f"{[a['tokens']['generated'] for a in shared_result['answers']]}")
    print(f"best of {args.repeats} interleaved runs (after a warm-up), wall and CPU seconds:")
    print(f"  1 question  {one_result['layout']:<26} {one:7.3f}s wall {one_cpu:7.3f}s cpu")
    print(f"  5 questions {shared_result['layout']:<26} {shared:7.3f}s wall {shared_cpu:7.3f}s cpu   "
          f"ratio {shared / one:.2f}x wall, {shared_cpu / one_cpu:.2f}x cpu  (goal <= 1.5x)")
    print(f"  5 questions {naive_result['layout'] + ' (naive)':<26} {naive:7.3f}s wall {naive_cpu:7.3f}s cpu   "
          f"ratio {naive / one:.2f}x wall, {naive_cpu / one_cpu:.2f}x cpu")


if __name__ == "__main__":
    main()
