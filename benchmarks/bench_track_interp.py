"""Does refinement beat linear interpolation between keyframes? Mean IoU on clips with a known path.

Each scenario writes a clip whose object follows a known path, takes the true boxes at 8 keyframes
(spread like one `vcr track` window; optionally perturbed to mimic the model's error), and
compares the dense boxes of `vcr_cli.tracking.interpolate` (linear) and `vcr_cli.tracking.refine`
(template matching) with the truth on every frame.

A last scenario runs the whole `vcr_cli.tasks.track` pipeline on a 2-minute 720p H.264 clip (sparse
keyframes, moving background) with an oracle runtime that answers the true boxes for each window, so
windows, decoding and the refinement pass are measured at a realistic size.

    python benchmarks/bench_track_interp.py            # prints a table, writes benchmarks/out/track_interp.json
    python benchmarks/bench_track_interp.py --quick    # without the 2-minute clip
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_clip(path: Path, frames: int, fps: float, width: int, height: int, box_path, textured: bool,
               hidden: range = range(0)) -> Path:
    """mp4v clip: the object (white square, or a noise patch) over a gradient (or noise) background.

    During `hidden` frames the object is occluded (not drawn); its true box still follows the path.
    """
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if textured else None
    background = cv2.GaussianBlur(background, (0, 0), 2) if textured else None
    sprite = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for i in range(frames):
        if textured:
            img = background.copy()
        else:
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
            img[:, :, 1] = (i * 5) % 256
        x0, y0, x1, y1 = (int(round(v)) for v in box_path(i))
        if i not in hidden:
            img[y0:y1, x0:x1] = sprite[: y1 - y0, : x1 - x0] if textured else 255
        writer.write(img)
    writer.release()
    return path


def circle(width, height, size, period):
    def path(i):
        cx = width / 2 + 0.3 * width * math.cos(2 * math.pi * i / period)
        cy = height / 2 + 0.3 * height * math.sin(2 * math.pi * i / period)
        return (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)

    return path


def line(width, height, size, frames):
    def path(i):
        x = 4 + (width - size - 8) * i / (frames - 1)
        y = 4 + (height - size - 8) * i / (frames - 1)
        return (x, y, x + size, y + size)

    return path


def zigzag(width, height, size, period):
    def path(i):
        phase = (i % period) / period
        tri = 2 * phase if phase < 0.5 else 2 - 2 * phase
        x = 4 + (width - size - 8) * tri
        y = height / 2 - size / 2 + 0.25 * height * math.sin(2 * math.pi * i / (2.3 * period))
        return (x, y, x + size, y + size)

    return path


SCENARIOS = [
    # name, frames, (width, height), path factory, textured, keyframe noise (fraction of the box size)
    ("circle, square on gradient", 120, (160, 120), lambda w, h, n: circle(w, h, 24, 50), False, 0.0),
    ("circle, noisy keyframes", 120, (160, 120), lambda w, h, n: circle(w, h, 24, 50), False, 0.1),
    ("zigzag, textured", 150, (192, 128), lambda w, h, n: zigzag(w, h, 28, 36), True, 0.0),
    ("zigzag, textured, noisy keyframes", 150, (192, 128), lambda w, h, n: zigzag(w, h, 28, 36), True, 0.1),
    ("straight line, square on gradient", 120, (160, 120), lambda w, h, n: line(w, h, 24, n), False, 0.0),
    ("circle, large textured object", 150, (640, 360), lambda w, h, n: circle(w, h, 120, 60), True, 0.0),
    ("zigzag, textured, occluded 25-45", 150, (192, 128), lambda w, h, n: zigzag(w, h, 28, 36), True, 0.0,
     range(25, 46)),
]


def evaluate(path: Path, frames: int, width: int, height: int, box_path, noise: float, seed: int = 0) -> dict:
    import numpy as np

    from vcr_cli.sampling import frame_indices
    from vcr_cli.tracking import clip_box, interpolate, iter_gray_frames, mean_iou, refine, tracking_size

    rng = np.random.default_rng(seed)
    truth = [clip_box(box_path(i), width, height) for i in range(frames)]
    keys = []
    for k, i in enumerate(frame_indices(frames, 8)):
        box = list(truth[i])
        if noise and k > 0:
            size = max(box[2] - box[0], box[3] - box[1])
            shift = rng.normal(0, noise * size, 2)
            box = clip_box([box[0] + shift[0], box[1] + shift[1], box[2] + shift[0], box[3] + shift[1]], width,
                           height)
        keys.append((i, box))
    linear = interpolate(keys, 0, frames - 1)
    tw, th = tracking_size(width, height)
    start = time.perf_counter()
    refined, report = refine(keys, iter_gray_frames(path, 0, frames - 1, tw, th), 0, frames - 1, width, height)
    seconds = time.perf_counter() - start
    return {"linear": round(mean_iou(linear, truth), 4), "refined": round(mean_iou(refined, truth), 4),
            "refine_s": round(seconds, 3), "report": report.to_dict()}


def long_clip(seconds: float = 120.0, width: int = 1280, height: int = 720, fps: int = 30):
    """H.264 (GOP 250) with a moving gradient background and a white square on a Lissajous path."""
    import av
    import numpy as np

    size = height // 6

    def box_path(i):
        x = (width - size) * (0.5 + 0.45 * math.sin(i / 40))
        y = (height - size) * (0.5 + 0.45 * math.cos(i / 55))
        return (float(int(x)), float(int(y)), float(int(x) + size), float(int(y) + size))

    path = OUT / f"track_long_{int(seconds)}s_{height}p.mp4"
    frames = int(seconds * fps)
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        container = av.open(str(tmp), mode="w")
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "250", "crf": "28"}
        xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        ys = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        for i in range(frames):
            frame = np.empty((height, width, 3), dtype=np.uint8)
            frame[..., 0] = ((xs + i * 3) % 256).astype(np.uint8)
            frame[..., 1] = ((ys + i * 2) % 256).astype(np.uint8)
            frame[..., 2] = ((xs + ys) / 2 + i) % 256
            x0, y0, x1, y1 = (int(v) for v in box_path(i))
            frame[y0:y1, x0:x1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        tmp.rename(path)
    return path, frames, width, height, box_path


class OracleRuntime:
    """Answers each window with the true boxes at its 8 keyframes (normalized, 3 decimals like GOT-10k)."""

    model_id, quant, device = "oracle", "none", "cpu"

    def __init__(self, windows, box_path, width, height):
        self.windows, self.box_path, self.size = list(windows), box_path, (width, height)

    @property
    def family(self):
        from vcr_cli.checkpoints import default_family

        return default_family()

    def new_token_budget(self, asked=None):
        return asked or 2048

    def describe(self):
        return {"id": self.model_id, "quant": self.quant, "device": self.device}

    def generate(self, prompt, video, max_new_tokens=2048, layout="text_first"):
        from vcr_cli.runtime import Generation

        w, h = self.size
        window = self.windows.pop(0)
        boxes = [[round(b[0] / w, 3), round(b[1] / h, 3), round(b[2] / w, 3), round(b[3] / h, 3)]
                 for b in map(self.box_path, window.keyframes)]
        return Generation(f"<answer>{boxes}</answer>", 0, 0, 0.0)

    generate_scored = generate  # no logits kept: the windows' score is None


def evaluate_long() -> dict:
    from vcr_cli.tasks.track import plan_windows, track
    from vcr_cli.tracking import clip_box, mean_iou
    from vcr_cli.video import probe

    path, frames, width, height, box_path = long_clip()
    info = probe(path)
    truth = [clip_box(box_path(i), width, height) for i in range(frames)]
    row = {"scenario": f"2-min {height}p H.264, oracle keyframes, tasks.track", "frames": frames}
    for refine in (False, True):
        windows = plan_windows(info, 0, frames - 1)
        start = time.perf_counter()
        result = track(OracleRuntime(windows, box_path, width, height), path, "square", truth[0], info=info,
                       refine=refine)
        seconds = time.perf_counter() - start
        score = round(mean_iou([f["box"] for f in result["frames"]], truth), 4)
        row["refined" if refine else "linear"] = score
        row["windows"] = len(windows)
        row[f"track_s_{'refined' if refine else 'linear'}"] = round(seconds, 2)
        if refine:
            row["report"] = result["refinement_report"]
            row["refine_s"] = result["timings_s"]["refine"]
    return row


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, frames, (width, height), factory, textured, noise, *hidden in SCENARIOS:
        box_path = factory(width, height, frames)
        clip = write_clip(OUT / f"track_{len(rows)}.mp4", frames, 25.0, width, height, box_path, textured,
                          *hidden)
        result = evaluate(clip, frames, width, height, box_path, noise)
        rows.append({"scenario": name, "frames": frames, **result})
        print(f"{name:38s} linear {result['linear']:.3f}  refined {result['refined']:.3f}  "
              f"({result['report']['refined']}/{result['report']['segments']} segments refined, "
              f"{result['refine_s']:.2f}s)")
    if "--quick" not in sys.argv:
        row = evaluate_long()
        rows.append(row)
        print(f"{row['scenario']:38s} linear {row['linear']:.3f}  refined {row['refined']:.3f}  "
              f"({row['report']['refined']}/{row['report']['segments']} segments refined, {row['windows']} windows, "
              f"track {row['track_s_linear']:.1f}s linear / {row['track_s_refined']:.1f}s refined)")
    (OUT / "track_interp.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
