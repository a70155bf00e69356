"""`vcr serve`: what a warm server saves, side by side in one run.

1. A warm `vcr ground --server URL` against a cold `vcr ground` (fresh processes, interleaved, same clip, same
   tiny checkpoint, --quant none so part 2's cache plays no part): the cold run pays the imports and the model
   load on every call, the warm one a short client process plus the model's own time. Goal: <= 0.2x.
   Also checks that both wrote the same result (timings aside).
2. A cold 4-bit load (bf16 checkpoint read and quantized to NF4) against a load from the NF4 cache
   (vcr_cli/modelcache.py), each in a fresh process, interleaved, on a random checkpoint of the size given
   (default ~0.2 B parameters: what quantizes in seconds on a 2-core CPU; pass --hidden 3584 --layers 28
   --intermediate 18944 on a GPU machine for the 7B's shape). Only `load_runtime` is timed.

    python benchmarks/bench_serve.py [--repeat 3] [--clip-seconds 10] [--device auto]
                                     [--hidden 1536 --layers 8 --intermediate 4096] [--skip-server] [--skip-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from clips import make_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1"}
LOAD = r"""
import json, sys, time
from vcr_cli.console import quiet_libraries
quiet_libraries()
from vcr_cli.runtime import load_runtime
import torch
start = time.perf_counter()
runtime = load_runtime(sys.argv[1], quant="4bit", device=sys.argv[2])
if runtime.device == "cuda":
    torch.cuda.synchronize()
print(json.dumps({"seconds": time.perf_counter() - start, "cache": runtime.model.vcr_nf4_cache}))
"""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _without_timings(result):
    if isinstance(result, dict):
        return {k: _without_timings(v) for k, v in result.items() if k not in ("timings_s", "seconds")}
    if isinstance(result, list):
        return [_without_timings(v) for v in result]
    return result


def bench_server(tmp: Path, repeat: int, seconds: float) -> None:
    from vcr_cli.tiny import build_tiny_checkpoint

    checkpoint = build_tiny_checkpoint(tmp / "tiny")
    clip = make_clip(f"serve-{seconds:g}s-360p.mp4", seconds, 640, 360)
    port = _free_port()
    vcr = [sys.executable, "-m", "vcr_cli"]
    server = subprocess.Popen(vcr + ["serve", "--model", str(checkpoint), "--quant", "none", "--port", str(port),
                                     "--root", str(clip.parent)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=ENV)
    try:
        started = time.perf_counter()
        ready = server.stdout.readline()
        if f":{port}/" not in ready:
            raise SystemExit(f"vcr serve did not start: {ready}{server.stdout.read()[-2000:]}")
        print(f"vcr serve ready in {time.perf_counter() - started:.2f} s (paid once)")
        query = [str(clip), "a white square moves", "--max-new-tokens", "16"]
        cold_cmd = vcr + ["ground", *query, "--model", str(checkpoint), "--quant", "none", "-o", str(tmp / "cold.json")]
        warm_cmd = vcr + ["ground", *query, "--server", f"http://127.0.0.1:{port}", "-o", str(tmp / "warm.json")]
        timed(warm_cmd)  # the server's first job (one-time library set-up) is not the steady state
        cold, warm, direct = [], [], []
        body = json.dumps({"video": str(clip), "query": "a white square moves", "max_new_tokens": 16}).encode()
        for _ in range(repeat):
            cold.append(timed(cold_cmd)[0])
            warm.append(timed(warm_cmd)[0])
            start = time.perf_counter()  # the job alone: one HTTP request from this process
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/ground", body,
                                             {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=300).read()
            direct.append(time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(30)
    same = _without_timings(json.loads((tmp / "cold.json").read_text())) == _without_timings(
        json.loads((tmp / "warm.json").read_text()))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"clip: {seconds:g} s, 640x360, H.264; tiny checkpoint, --quant none, CPU or GPU as torch finds")
    print(f"cold vcr ground (whole CLI, loads the model):  {c:6.2f} s  runs={[round(x, 2) for x in cold]}")
    print(f"warm vcr ground --server (whole CLI):          {w:6.2f} s  runs={[round(x, 2) for x in warm]}")
    d = statistics.median(direct)
    print(f"  of which the job on the server (decode + generate; one HTTP request, no process): {d:.2f} s  "
          f"runs={[round(x, 2) for x in direct]}")
    print(f"ratio warm/cold: {w / c:.3f}  (goal <= 0.2); same result (timings aside): {same}")


def build_sized_checkpoint(path: Path, hidden: int, layers: int, intermediate: int) -> Path:
    """The tiny checkpoint's tokenizer and processor with a language model of the given size (random, bf16)."""
    import shutil

    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from vcr_cli.tiny import build_tiny_checkpoint

    if (path / "config.json").exists():
        return path
    tiny = build_tiny_checkpoint(path.parent / "tiny-for-sized")
    config = json.loads((tiny / "config.json").read_text())
    heads = max(1, hidden // 128)
    head_dim = hidden // heads
    section = [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]
    text = config["text_config"]
    text.pop("layer_types", None)  # one entry per layer: rebuilt for the new depth
    text.update(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=max(1, heads // 4))
    text["rope_parameters"] = {**text.get("rope_parameters", {}), "mrope_section": section}
    config["vision_config"]["out_hidden_size"] = hidden
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**config)).to(torch.bfloat16)
    model.generation_config = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny).generation_config
    model.save_pretrained(path)
    for item in tiny.iterdir():
        if item.name not in ("config.json", "generation_config.json") and item.suffix != ".safetensors":
            shutil.copy(item, path / item.name)
    return path


def bench_cache(tmp: Path, repeat: int, device: str, hidden: int, layers: int, intermediate: int) -> None:
    checkpoint = build_sized_checkpoint(tmp / "sized", hidden, layers, intermediate)
    weights = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    env = {**ENV, "VCR_HOME": str(tmp / "home")}
    load = [sys.executable, "-c", LOAD, str(checkpoint), device]

    def run(cache: str) -> dict:
        _, out = timed(load, {**env, "VCR_NF4_CACHE": cache})
        return json.loads(out.strip().splitlines()[-1])

    first = run("on")
    assert first["cache"] == "saved", first
    cached_bytes = sum(p.stat().st_size for p in (tmp / "home").rglob("*.safetensors"))
    fresh, cached = [], []
    for _ in range(repeat):
        fresh.append(run("off")["seconds"])
        hit = run("on")
        assert hit["cache"] == "hit", hit
        cached.append(hit["seconds"])
    f, c = statistics.median(fresh), statistics.median(cached)
    print(f"checkpoint: hidden {hidden}, {layers} layers, intermediate {intermediate}: {weights / 2**30:.2f} GB bf16, "
          f"NF4 cache entry {cached_bytes / 2**30:.2f} GB; device {device}")
    print(f"first 4-bit load (quantize + save the cache):  {first['seconds']:6.2f} s")
    print(f"cold 4-bit load (read bf16, quantize):         {f:6.2f} s  runs={[round(x, 2) for x in fresh]}")
    print(f"cached 4-bit load (read NF4):                  {c:6.2f} s  runs={[round(x, 2) for x in cached]}")
    print(f"ratio cached/cold: {c / f:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--intermediate", type=int, default=4096)
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vcr-bench-serve-") as tmp:
        if not args.skip_server:
            bench_server(Path(tmp), args.repeat, args.clip_seconds)
        if not args.skip_cache:
            bench_cache(Path(tmp), args.repeat, args.device, args.hidden, args.layers, args.intermediate)


if __name__ == "__main__":
    main()
