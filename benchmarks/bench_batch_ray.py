"""`vcr batch`: jobs per minute with the local engine and with `--engine ray` on 1 and 2 workers (issue 10).

The same manifest (N ground jobs on one generated clip, each with its own query) runs three ways:
  local     `run_batch`: one model in this process, the next video decoded in a thread;
  ray x1    `run_batch_ray` with one worker (a Ray actor holding the model);
  ray x2    two workers, two model replicas.
Throughput is counted from the moment a model is ready (the local load, the first worker's load) to the
last results line, so model loading and Ray's start-up are excluded; Ray's start-up is timed on its own.
The per-job overhead of Ray is (ray x1 seconds per job) / (local seconds per job): the goal is <= 1.2.
The three run in turn, --repeats times (the best of each counts: a shared machine's busy moments hit all).

Every engine runs torch with the same thread count (--threads, default 1: Ray gives a 1-CPU worker one
thread), so the ratio measures the engine, not the BLAS. By default a tiny random checkpoint (vcr_cli.tiny)
answers on a generated 8 s 320x240 clip; pass --model/--quant/--device to time a real checkpoint on GPUs.

    python benchmarks/bench_batch_ray.py [--jobs 32] [--repeats 2] [--threads 1] [--max-new-tokens 16] [--model DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

OUT = Path(__file__).parent / "out"


def manifest(folder: Path, clip: Path, jobs: int) -> Path:
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps({"task": "ground", "video": str(clip), "query": f"the square moves ({i})",
                                        "id": f"job{i}"}) + "\n" for i in range(jobs)))
    return path


def timed(run) -> dict:
    """Run an engine; seconds from its first ready model to its last line."""
    marks: dict = {"ready": [], "lines": 0, "job_seconds": 0.0}

    def on_start(todo, skipped):
        marks["start"] = time.perf_counter()

    def on_job(job, record):
        marks["lines"] += 1
        marks["job_seconds"] += record["seconds"]
        assert record["status"] == "ok", record["error"]
        marks["end"] = time.perf_counter()

    def on_worker(number, info):
        marks["ready"].append(time.perf_counter())

    run(on_start, on_job, on_worker)
    seconds = marks["end"] - marks["start"]
    ready_gap = marks["ready"][-1] - marks["ready"][0] if len(marks["ready"]) > 1 else 0.0
    return {"jobs": marks["lines"], "seconds": seconds, "per_job": seconds / marks["lines"],
            "in_job": marks["job_seconds"] / marks["lines"],
            "jobs_per_minute": 60 * marks["lines"] / seconds, "workers_ready_gap_s": ready_gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of local, ray x1, ray x2; the best counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every engine (and each worker)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--model", default=None, help="checkpoint (default: a tiny random one)")
    parser.add_argument("--quant", default="none")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by Ray's workers

    import torch

    torch.set_num_threads(args.threads)
    from clips import make_clip

    from vcr_cli.batch import load_manifest, run_batch
    from vcr_cli.batch_ray import RayOptions, run_batch_ray
    from vcr_cli.console import quiet_libraries
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tiny import build_tiny_checkpoint

    quiet_libraries()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-ray-"))
    model = args.model or str(build_tiny_checkpoint(work / "tiny"))
    clip = make_clip("batch_8s_320x240.mp4", 8.0, 320, 240)
    jobs = load_manifest(manifest(work, clip, args.jobs))
    defaults = {"max_new_tokens": args.max_new_tokens, "think": False}

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="error",
             object_store_memory=128 << 20)
    ray_start = time.perf_counter() - t
    runs: dict[str, list[dict]] = {"local": [], "ray x1": [], "ray x2": []}
    try:
        for round_ in range(args.repeats):  # interleaved, so a busy moment of the machine hits every engine
            runs["local"].append(timed(lambda s, j, w, r=round_: run_batch(
                jobs, work / f"local{r}.jsonl", lambda: load_runtime(model, quant=args.quant, device=args.device),
                defaults=defaults, on_start=s, on_job=j)))
            for workers in (1, 2):
                runs[f"ray x{workers}"].append(timed(lambda s, j, w, n=workers, r=round_: run_batch_ray(
                    jobs, work / f"ray{n}-{r}.jsonl", model, args.quant, args.device, defaults=defaults,
                    options=RayOptions(workers=n), on_start=s, on_job=j, on_worker=w)))
    finally:
        ray.shutdown()
    rows = {name: min(found, key=lambda row: row["seconds"]) for name, found in runs.items()}

    local = rows["local"]
    print(f"{args.jobs} ground jobs, {args.threads} torch thread(s) per model, max_new_tokens {args.max_new_tokens}, "
          f"best of {args.repeats}; Ray start-up {ray_start:.2f} s (excluded), {os.cpu_count()} CPU cores")
    print(f"{'engine':<9} {'seconds':>8} {'s/job':>7} {'in job':>7} {'jobs/min':>9} {'vs local':>9}")
    for name, row in rows.items():
        print(f"{name:<9} {row['seconds']:8.2f} {row['per_job']:7.3f} {row['in_job']:7.3f} "
              f"{row['jobs_per_minute']:9.1f} {row['jobs_per_minute'] / local['jobs_per_minute']:8.2f}x")
    print("(s/job: wall time per job; in job: the lines' own \"seconds\", the model's share on its worker)")
    overhead = rows["ray x1"]["per_job"] / local["per_job"]
    print(f"per-job time, ray x1 / local: {overhead:.2f}x (goal <= 1.2x); "
          f"ray x2 / ray x1 throughput: {rows['ray x2']['jobs_per_minute'] / rows['ray x1']['jobs_per_minute']:.2f}x "
          f"(second worker ready {rows['ray x2']['workers_ready_gap_s']:.1f} s after the first)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_batch_ray.json").write_text(json.dumps(
        {"ray_start_s": ray_start, "per_job_overhead": overhead, "args": vars(args), "rows": rows, "runs": runs},
        indent=2))


if __name__ == "__main__":
    main()
