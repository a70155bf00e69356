"""What do 5 questions about one video cost, next to 1? (`vcr ask --questions`, issues 4 and 11)

For 1 and 5 questions in the trained layouts (grounded multiple choice text first, the card's open question
video first; `vcr ask`'s default), and for the untrained video-first shared-prefix opt-in, it reports:
  vision-tower passes   forward calls of `model.visual` (goal: 1 per video, whatever the number of questions);
  prefill tokens        tokens the language model ran over before the first new token (rows x padded width);
  decode steps          language-model calls of one new token per row (goal: 5 questions <= 1.5 x one question);
  wall and CPU seconds  after the model is loaded and the video decoded (both excluded, both done once).
Each run covers everything from sampled frames to parsed answers: the processor (patches), the vision
tower, prefill and decoding.

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


class Counters:
    """Counts vision-tower passes, prefill tokens and decode steps with forward pre-hooks on the real model."""

    def __init__(self, model):
        self.vision = self.prefill = self.decode = 0
        self._hooks = [model.model.visual.register_forward_pre_hook(self._on_vision),
                       model.model.language_model.register_forward_pre_hook(self._on_language, with_kwargs=True)]

    def reset(self) -> None:
        self.vision = self.prefill = self.decode = 0

    def _on_vision(self, module, args) -> None:
        self.vision += 1

    def _on_language(self, module, args, kwargs) -> None:
        embeds = kwargs.get("inputs_embeds")
        rows, width = embeds.shape[:2]
        if width == 1:
            self.decode += 1
        else:
            self.prefill += rows * width

    def snapshot(self) -> dict:
        return {"vision_passes": self.vision, "prefill_tokens": self.prefill, "decode_steps": self.decode}


def measure(cases: dict, repeats: int, counters: Counters) -> dict:
    """Per case: (min wall s, min CPU s, counters of the last run, last result), runs interleaved after a warm-up.

    The minimum is the estimate least disturbed by other processes on a shared machine; interleaving spreads
    any remaining disturbance over all cases alike.
    """
    results = {name: fn() for name, fn in cases.items()}
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    counts: dict[str, dict] = {}
    for _ in range(repeats):
        for name, fn in cases.items():
            counters.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
            counts[name] = counters.snapshot()
    return {name: (min(walls[name]), min(cpus[name]), counts[name], results[name]) for name in cases}


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
    from vcr_cli.tasks.ask import VIDEO_FIRST_SHARED_PREFIX, ask_many
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

        counters = Counters(runtime.model)
        runs = measure({"1 question": run(questions[:1], "auto"), "5 questions": run(questions, "auto"),
                        "5 questions, opt-in": run(questions, VIDEO_FIRST_SHARED_PREFIX)}, args.repeats, counters)

    plan = video.plan
    print(f"model {args.model or 'tiny random Qwen2.5-VL (vcr_cli.tiny)'} ({args.quant}, {runtime.device}); "
          f"video {Path(video_path).name}: {plan.frames} frames {plan.width}x{plan.height} at {plan.fps:.2f} fps "
          f"= {plan.video_tokens} video tokens (decoded once in {decode:.2f}s, excluded)")
    print(f"best of {args.repeats} interleaved runs (after a warm-up); counters from the last run:")
    print(f"  {'case':<20} {'layout':<26} {'vision':>6} {'prefill':>8} {'decode':>6} {'wall s':>8} {'cpu s':>8}")
    one_wall, one_cpu, one_counts, _ = runs["1 question"]
    for name, (wall, cpu, counts, result) in runs.items():
        print(f"  {name:<20} {result['layout']:<26} {counts['vision_passes']:>6} {counts['prefill_tokens']:>8} "
              f"{counts['decode_steps']:>6} {wall:8.3f} {cpu:8.3f}   x1: decode "
              f"{counts['decode_steps'] / max(1, one_counts['decode_steps']):.2f}, wall {wall / one_wall:.2f}, "
              f"cpu {cpu / one_cpu:.2f}")
    print("goal: 1 vision pass per video; 5 questions <= 1.5x one question in decode steps "
          "(the opt-in row is the untrained video-first layout, for comparison)")
    five = runs["5 questions"][3]
    print(f"tokens generated per answer (5 questions): {[a['tokens']['generated'] for a in five['answers']]}; "
          f"layouts {[a['layout'] for a in five['answers']]}")


if __name__ == "__main__":
    main()
