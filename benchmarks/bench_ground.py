"""`vcr ground` vs the reference pipeline (qwen-vl-utils + processor + generate), side by side.

Both run as fresh processes on the same 2-minute 720p H.264 clip with the same tiny checkpoint,
so imports, model loading, decoding, preprocessing and generation all count. Also prints the
fidelity of vcr's frames: mean absolute pixel difference from qwen-vl-utils' frames, and decode
times (the training sampling of a whole clip) of vcr (PyAV) next to decord on the 720p H.264 clip,
a variable-frame-rate clip and an AV1 clip.

    python benchmarks/bench_ground.py [--seconds 120] [--repeat 2] [--no-decode-table]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from clips import OUT, make_clip, vfr_times  # noqa: E402

REFERENCE = r"""
import sys, torch
from qwen_vl_utils import process_vision_info
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
from vcr_cli.prompts import render_ground
ckpt, video = sys.argv[1], sys.argv[2]
processor = AutoProcessor.from_pretrained(ckpt)
model = Qwen2_5_VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32).eval()
messages = [{"role": "user", "content": [{"type": "text", "text": render_ground("a white square moves")[1]},
            {"type": "video", "video": video, "total_pixels": 3584 * 28 * 28, "min_pixels": 16 * 28 * 28}]}]
text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
images, videos, kwargs = process_vision_info(messages, return_video_kwargs=True)
n = videos[0].shape[0]
meta = {"total_num_frames": n, "fps": kwargs["fps"][0], "frames_indices": list(range(n))}
inputs = processor(text=[text], videos=videos, return_tensors="pt",
                   videos_kwargs={"video_metadata": [meta], "do_sample_frames": False, "do_resize": False})
out = model.generate(**inputs, max_new_tokens=32)
print(processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0])
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def fidelity(video: Path) -> tuple[float, tuple]:
    import numpy as np
    from qwen_vl_utils import process_vision_info

    from vcr_cli.sampling import MIN_PIXELS, TOTAL_PIXELS
    from vcr_cli.video import sample_video

    ours = sample_video(video)
    messages = [{"role": "user", "content": [{"type": "video", "video": str(video), "total_pixels": TOTAL_PIXELS,
                                              "min_pixels": MIN_PIXELS}]}]
    _, videos, _ = process_vision_info(messages, return_video_kwargs=True)
    ref = videos[0].permute(0, 2, 3, 1).numpy()
    return float(np.abs(ref - ours.frames.astype(np.float32)).mean()), ours.frames.shape


def decode_times(video: Path) -> tuple[float, str]:
    """Seconds for vcr to probe + sample the clip (PyAV), and decord's for qwen-vl-utils' read (get_batch)."""
    from vcr_cli.video import _PROBES, probe, sample_video

    _PROBES.clear()
    start = time.perf_counter()
    ours = sample_video(video)
    vcr_s = time.perf_counter() - start
    try:
        import decord

        from vcr_cli.sampling import frame_indices, smart_nframes

        start = time.perf_counter()
        reader = decord.VideoReader(str(video), num_threads=0)
        indices = frame_indices(len(reader), smart_nframes(len(reader), reader.get_avg_fps()))
        reader.get_batch(indices).asnumpy()
        decord_s = f"{time.perf_counter() - start:6.2f} s"
        info = probe(video)
        if not info.constant_rate:  # decord samples by index: where do those frames lie in time?
            half = info.duration / 2
            decord_s += (f"  (frames from the first half: decord by index "
                         f"{sum(info.time_of(i) < half for i in indices)}/{len(indices)}, "
                         f"vcr by time {sum(t < half for t in ours.frame_times)}/{len(ours.frame_times)})")
    except Exception:  # e.g. AV1: decord 0.6's FFmpeg has no decoder for it
        decord_s = "cannot read it"
    return vcr_s, decord_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-decode-table", action="store_true", help="Skip the per-codec decode times.")
    args = parser.parse_args()

    from vcr_cli.tiny import train_parrot

    video = make_clip(f"clip_{int(args.seconds)}s_720p.mp4", args.seconds, 1280, 720)
    ckpt = OUT / "parrot_ground"
    if not (ckpt / "model.safetensors").exists():
        train_parrot(ckpt, "<answer>12.00 to 30.50</answer>")
    with tempfile.TemporaryDirectory() as tmp:
        ref_script = Path(tmp) / "reference.py"
        ref_script.write_text(REFERENCE)
        vcr = [sys.executable, "-m", "vcr_cli", "ground", str(video), "a white square moves", "--model", str(ckpt),
               "--quant", "none", "-o", str(Path(tmp) / "r.json")]
        ref = [sys.executable, str(ref_script), str(ckpt), str(video)]
        ref_times, vcr_times = [], []
        for _ in range(args.repeat):  # interleaved so both see the same machine load
            ref_times.append(timed(ref))
            vcr_times.append(timed(vcr))
    mad, shape = fidelity(video)
    r, v = statistics.median(ref_times), statistics.median(vcr_times)
    print(f"clip: {video.name} ({args.seconds:.0f} s, 1280x720, 30 fps); frames sampled: {shape}")
    print(f"reference (qwen-vl-utils + processor + generate): {r:6.2f} s  runs={[round(t, 2) for t in ref_times]}")
    print(f"vcr ground (whole CLI):                           {v:6.2f} s  runs={[round(t, 2) for t in vcr_times]}")
    print(f"ratio vcr/reference: {v / r:.2f}  (goal <= 0.40)")
    print(f"frame fidelity: mean |vcr - qwen-vl-utils| = {mad:.3f} / 255  (goal < 2)")
    if args.no_decode_table:
        return
    clips = [("H.264 720p CFR", video),
             ("H.264 720p VFR (60 then 10 fps)", make_clip("clip_60s_720p_vfr.mp4", 60, 1280, 720,
                                                            times=vfr_times(60))),
             ("AV1 720p (dav1d)", make_clip("clip_30s_720p_av1.mkv", 30, 1280, 720, codec="libsvtav1"))]
    print("decode (probe + training sampling, whole clip):")
    for label, clip in clips:
        vcr_s, decord_s = decode_times(clip)
        print(f"  {label:34s} vcr {vcr_s:6.2f} s   decord (qwen-vl-utils' read) {decord_s}")


if __name__ == "__main__":
    main()
