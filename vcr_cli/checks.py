"""`vcr doctor`: what this machine can run, each failure with its fix (like `yolo checks` / `trl env`)."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return ""


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("Python", ok, platform.python_version(), "" if ok else "install Python 3.10 or newer")


def check_torch() -> list[Check]:
    try:
        import torch
    except Exception as exc:
        return [Check("torch", False, f"import failed: {exc}", 'pip install -e . (torch>=2.6,<=2.14.1)')]
    checks = [Check("torch", True, torch.__version__)]
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        checks.append(Check("CUDA GPU", True, f"{name}, {free / 2**30:.1f} of {total / 2**30:.1f} GiB free, "
                                              f"CUDA {torch.version.cuda}"))
        if total < 7 * 2**30:
            checks.append(Check("GPU memory", False, f"{total / 2**30:.1f} GiB",
                                "the 4-bit 7B model needs ~6-8 GiB; lower --max-pixels / --max-frames", False))
    else:
        checks.append(Check("CUDA GPU", False, "none visible (CPU only: works, but slowly)",
                            "install an NVIDIA driver and a CUDA build of torch for GPU speed", required=False))
    return checks


def check_bitsandbytes() -> Check:
    try:
        import bitsandbytes as bnb
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        weight = torch.randn(64, 64, device=device)
        packed, state = bnb.functional.quantize_4bit(weight, quant_type="nf4")
        restored = bnb.functional.dequantize_4bit(packed, state)
        err = float((restored.float() - weight).abs().mean())
        ok = err < 0.2
        return Check("bitsandbytes 4-bit", ok, f"{bnb.__version__}, NF4 on {device} (mean error {err:.3f})",
                     "" if ok else "reinstall bitsandbytes (pip install -U bitsandbytes) or use --quant none")
    except Exception as exc:
        return Check("bitsandbytes 4-bit", False, f"{type(exc).__name__}: {str(exc)[:120]}",
                     "pip install -U bitsandbytes, or run with --quant none")


def check_transformers() -> Check:
    try:
        from transformers import Qwen2_5_VLForConditionalGeneration  # noqa: F401

        return Check("transformers", True, _version("transformers"))
    except Exception as exc:
        return Check("transformers", False, str(exc)[:120], 'pip install "transformers>=5.20,<6"')


VIDEO_DECODERS = ("h264", "hevc", "vp9", "libdav1d")  # H.264, HEVC, VP9 and AV1 (dav1d)


def check_decoders() -> Check:
    """PyAV's bundled FFmpeg decodes the videos: the codecs users' files carry must be there."""
    try:
        import av

        missing = []
        for name in VIDEO_DECODERS:
            try:
                av.codec.Codec(name, "r")
            except Exception:
                missing.append(name)
        if missing:
            return Check("video decoding (PyAV)", False, f"PyAV {av.__version__} lacks {', '.join(missing)}",
                         "pip install -U av (the PyPI wheels bundle these decoders)", required=False)
        return Check("video decoding (PyAV)", True, f"PyAV {av.__version__}: H.264, HEVC, VP9, AV1")
    except Exception as exc:
        return Check("video decoding (PyAV)", False, str(exc)[:120], "pip install av")


def check_encoder() -> Check:
    try:
        from vcr_cli.outputs.video import h264_available

        if h264_available():
            return Check("MP4 encoder", True, f"H.264 (libx264 in PyAV {_version('av')})")
        return Check("MP4 encoder", False, "libx264 missing: annotated videos fall back to MPEG-4 Part 2",
                     "pip install -U av (the PyPI wheels bundle libx264)", required=False)
    except Exception as exc:
        return Check("MP4 encoder", False, str(exc)[:120], "pip install av")


def check_model(model_id: str) -> Check:
    from pathlib import Path

    from vcr_cli.checkpoints import adapter_base, is_adapter_dir, names_a_folder

    local = Path(model_id).expanduser()
    if is_adapter_dir(local):  # `vcr rft train`'s output: what matters is whether its base is here
        base = adapter_base(local)
        if not base:
            return Check("model", False, f"LoRA adapter {local} names no base model",
                         f"vcr rft merge {local} --base-model BASE -o {local}-merged, then --model {local}-merged")
        found = check_model(base)
        return Check("model", found.ok, f"LoRA adapter {local} over {found.detail}", found.fix, found.required)
    if names_a_folder(model_id):  # a path, as `load_runtime` decides
        if not local.is_dir():
            return Check("model", False, f"local directory {local} not found", "pass --model an existing directory")
        ok = (local / "config.json").exists() and any(local.glob("*.safetensors"))
        return Check("model", ok, f"local directory {local}",
                     "" if ok else "the directory needs config.json and *.safetensors weights")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_id, "config.json")
    except Exception:
        cached = None
    if isinstance(cached, str):
        return Check("model", True, f"{model_id} in the local cache ({Path(cached).parent})")
    from vcr_cli.hub import hub_reachable, offline

    if offline():
        where = "HF_HUB_OFFLINE is set"
    elif hub_reachable(timeout=3.0):
        where = "the hub is reachable: it downloads on first use (~16 GB)"
    else:
        where = "the hub is NOT reachable"
    return Check("model", False, f"{model_id} is not in the local cache; {where}",
                 f"offline: hf download {model_id} --local-dir DIR (where the hub is reachable), then --model DIR",
                 required=False)


def family_tasks(family) -> list[str]:
    """The vcr tasks a family was trained for, from its capability flags."""
    flags = family.capabilities
    tasks = [name for name, able in (("ground", flags.grounds), ("ask (multiple choice)", flags.chooses),
                                     ("ask (open)", flags.answers_open), ("track", flags.tracks)) if able]
    if flags.chooses and flags.rounds > 1:
        tasks[tasks.index("ask (multiple choice)")] = f"ask (multiple choice, {flags.rounds} perception rounds)"
    return tasks


def _cached_config(model_id: str) -> dict | None:
    """config.json of a local folder, an adapter's base or a cached hub id, without downloading; None if absent."""
    import json
    from pathlib import Path

    from vcr_cli.checkpoints import adapter_base, is_adapter_dir, names_a_folder

    local = Path(model_id).expanduser()
    if is_adapter_dir(local):
        base = adapter_base(local)
        return _cached_config(base) if base else None
    if names_a_folder(model_id):
        path = local / "config.json"
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model_id, "config.json")
        except Exception:
            cached = None
        if not isinstance(cached, str):
            return None
        path = Path(cached)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_family(model_id: str, family: str | None = None) -> Check:
    """Which model family the checkpoint is (its prompts, sampling, time contract) and which tasks it can do."""
    from pathlib import Path

    from vcr_cli.checkpoints import adapter_base, family_of, is_adapter_dir
    from vcr_cli.errors import UsageError

    local = Path(model_id).expanduser()
    base = adapter_base(local) if is_adapter_dir(local) else None
    config = _cached_config(model_id)
    try:  # as loading resolves it: --family, the family a `vcr rft train` output recorded, then the guess
        found = family_of(model_id, config, family, base)
    except UsageError as exc:
        if config is None:
            return Check("family", False, f"unknown until config.json is here ({exc})", "pass --family NAME",
                         required=False)
        return Check("family", False, str(exc), "pass --family NAME for the checkpoint's model_type")
    detail = (f"{found.name} ({found.model_type}): {', '.join(family_tasks(found))}; "
              f"prompts and sampling as {found.title} was trained; licence: {found.licence}")
    return Check("family", True, detail)


def check_nf4_cache() -> Check:
    """The saved 4-bit weights (vcr_cli/modelcache.py): where, how many, how big; never a failure."""
    from vcr_cli import modelcache

    return Check("4-bit cache", True, modelcache.describe(), required=False)


def run_checks(model_id: str, family: str | None = None) -> list[Check]:
    checks = [check_python(), *check_torch(), check_transformers(), check_bitsandbytes(), check_decoders(),
              check_encoder(), check_model(model_id), check_family(model_id, family), check_nf4_cache()]
    return checks


def smoke_test(device: str = "auto", quant: str = "4bit") -> Check:
    """Build a tiny random checkpoint and a clip in a temp dir and run one grounding pass through the CLI path."""
    import tempfile
    import time
    from pathlib import Path

    from vcr_cli.pipeline import ModelOptions, SamplingOptions, load_with_video
    from vcr_cli.tasks.ground import ground
    from vcr_cli.tiny import build_tiny_checkpoint

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vcr-smoke-") as tmp:
        ckpt = build_tiny_checkpoint(Path(tmp) / "tiny")
        clip = write_test_clip(Path(tmp) / "clip.mp4")
        runtime, video, _ = load_with_video(clip, ModelOptions(str(ckpt), quant, device), SamplingOptions())
        result = ground(runtime, video, "a white square moves", max_new_tokens=16)
    seconds = time.perf_counter() - start
    return Check("smoke test", True, f"tiny random checkpoint, {quant} on {runtime.device}: decoded "
                 f"{result['sampling']['frames']} frames, {result['tokens']['prompt']} prompt tokens, generated "
                 f"{result['tokens']['generated']} tokens in {seconds:.1f} s")


def write_test_clip(path, seconds: float = 2.0, fps: int = 10, width: int = 160, height: int = 96):
    """A small H.264 clip (a white square crossing a gradient), written with vcr's own MP4 writer."""
    import numpy as np

    from vcr_cli.outputs.video import Mp4Writer

    writer = Mp4Writer(path, width, height, fps)
    for i in range(int(seconds * fps)):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        x = int((width - 24) * i / max(1, seconds * fps - 1))
        frame[36:60, x : x + 24] = 255
        writer.write(frame)
    writer.close()
    return path
