"""`vcr batch --engine ray`: same results lines as the local engine, nothing lost when a worker or the driver dies.

One local Ray instance (2 CPUs, no dashboard) serves the whole module; the CLI reuses it in-process, and
subprocess drivers join it with --ray-address, as a cluster user would.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from processes import kill_once_results_have
from typer.testing import CliRunner

from vcr_cli.app import app

GQA_ANSWER = "<answer>C</answer><glue>[(1.0, 2.5)]</glue>"
runner = CliRunner()
TIMING_KEYS = {"seconds", "timings_s", "peak_gpu_memory_gb"}


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
             object_store_memory=128 << 20)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _manifest(folder, jobs):
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def _untimed(value):
    """A record without wall-clock numbers (everything else must match exactly)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_ray_engine_writes_the_local_engines_lines(ray_address, replica_checkpoint, clip, tmp_path, monkeypatch):
    """Two workers, a random replica of VideoChat-R1_7B's files (real vocabulary, its sampling generation config;
    its tokens follow every input token): every line equals the local one."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clip, folder / "a.mp4")
    manifest = _manifest(folder, [
        {"task": "ground", "video": "a.mp4", "query": "square moves", "id": "g"},
        {"task": "ask", "video": "a.mp4", "questions": [{"question": "which", "options": ["x", "y", "z"]}, "what"],
         "think": False, "id": "q"},
        {"task": "ask", "video": "missing.mp4", "question": "what", "id": "bad"},
        {"task": "track", "video": "a.mp4", "object": "square", "box": [10, 10, 30, 30], "refine": False, "id": "t"},
        {"task": "ground", "video": "a.mp4", "query": "a square", "fps": 4.0, "id": "g4"},
    ])
    monkeypatch.chdir(replica_checkpoint.parent)  # a relative --model: Ray's workers start in another folder
    common = [str(manifest), "--model", replica_checkpoint.name, "--quant", "none", "--max-new-tokens", "12",
              "--max-pixels", "12544"]
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"

    local = runner.invoke(app, ["batch", *common, "-o", str(local_out)])
    ray = runner.invoke(app, ["batch", *common, "-o", str(ray_out), "--engine", "ray", "--workers", "2"])

    assert local.exit_code == 1 and ray.exit_code == 1, ray.output  # the bad job fails in both, the rest run
    assert "ready on" in ray.output  # a worker reports its model (the other may load after the 5 jobs are done)
    assert "4 ok, 1 failed" in ray.output and "ETA" in ray.output
    by_id = {r["id"]: r for r in _lines(local_out)}
    got = {r["id"]: r for r in _lines(ray_out)}
    assert len(_lines(ray_out)) == 5 and set(got) == {"g", "q", "bad", "t", "g4"}
    for job_id in by_id:
        assert _untimed(got[job_id]) == _untimed(by_id[job_id]), job_id
    assert got["bad"]["status"] == "error" and "video not found" in got["bad"]["error"]
    assert got["t"]["result"]["start_box"] == [10.0, 10.0, 30.0, 30.0] and len(got["t"]["result"]["frames"]) == 48
    assert [a["question"] for a in got["q"]["result"]["answers"]] == ["which", "what"]
    assert got["g4"]["result"]["sampling"]["fps"] != got["g"]["result"]["sampling"]["fps"]  # per-job sampling


def test_a_killed_worker_loses_no_job(ray_address, tiny_checkpoint, clip, tmp_path):
    """kill -9 one of two workers mid-run: its unfinished jobs run elsewhere, every job is written once."""
    from vcr_cli.batch import load_manifest
    from vcr_cli.batch_ray import RayOptions, run_batch_ray

    shutil.copy(clip, tmp_path / "a.mp4")
    jobs = load_manifest(_manifest(tmp_path, [
        {"task": "ground", "video": "a.mp4", "query": f"event {i}", "id": f"job{i}"} for i in range(32)]))
    results = tmp_path / "results.jsonl"
    workers: list[int] = []  # pids, as each model finishes loading
    killed: list[int] = []
    notes: list[str] = []

    def kill_first(job, record):
        # At the first line, the first worker to load has had two jobs and finished at most one: the other is
        # on its model or decoding (the driver hands it a new one only after this callback).
        if not killed:
            killed.append(workers[0])
            os.kill(workers[0], signal.SIGKILL)

    summary = run_batch_ray(jobs, results, str(tiny_checkpoint), "none", "cpu",
                            defaults={"max_pixels": 12544, "max_new_tokens": 24},
                            options=RayOptions(workers=2), on_job=kill_first, on_note=notes.append,
                            on_worker=lambda number, info: workers.append(info["pid"]))

    assert killed and summary.workers_lost == 1 and summary.retried >= 1
    assert len(notes) == 1 and f"; {summary.retried} unfinished job(s) back in the queue, starting" in notes[0]
    records = _lines(results)
    assert sorted(r["id"] for r in records) == sorted(f"job{i}" for i in range(32))  # each exactly once
    assert all(r["status"] == "ok" for r in records)
    assert (summary.ok, summary.failed) == (32, 0)


def test_resume_after_the_driver_is_killed(ray_address, parrot, clip, tmp_path):
    """kill -9 the `vcr batch --engine ray` process: finished lines stay, --resume runs only the rest."""
    shutil.copy(clip, tmp_path / "a.mp4")
    jobs = [{"task": "ground", "video": "a.mp4", "query": f"event {i}", "id": f"job{i}"} for i in range(30)]
    manifest = _manifest(tmp_path, jobs)
    results = tmp_path / "results.jsonl"
    args = [sys.executable, "-m", "vcr_cli", "batch", str(manifest), "-o", str(results), "--model",
            str(parrot(GQA_ANSWER)), "--quant", "none", "--max-pixels", "12544", "--engine", "ray",
            "--ray-address", ray_address, "--workers", "1"]
    kill_once_results_have(args, results)
    first = {r["id"] for r in _lines(results) if r["status"] == "ok"}
    assert 2 <= len(first) < len(jobs), "the driver should have been killed mid-way"

    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(first)} skipped" in resumed.stderr
    ids = [r["id"] for r in _lines(results)]
    assert sorted(ids) == sorted(j["id"] for j in jobs)  # every job exactly once
    assert all(r["status"] == "ok" for r in _lines(results))


def test_a_model_that_cannot_load_is_one_line(ray_address, clip, tmp_path):
    shutil.copy(clip, tmp_path / "a.mp4")
    manifest = _manifest(tmp_path, [{"task": "ground", "video": "a.mp4", "query": "q"}])
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "r.jsonl"), "--engine", "ray",
                                 "--model", str(tmp_path / "no-model"), "--quant", "none"])
    assert result.exit_code == 2, result.output
    assert "model directory not found" in result.output and "Traceback" not in result.output


def test_more_gpus_than_the_cluster_has(ray_address, clip, tmp_path):
    shutil.copy(clip, tmp_path / "a.mp4")
    manifest = _manifest(tmp_path, [{"task": "ground", "video": "a.mp4", "query": "q"}])
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "r.jsonl"), "--engine", "ray",
                                 "--gpus-per-worker", "1"])
    assert result.exit_code == 2
    assert "--gpus-per-worker 1 but the Ray cluster has 0 GPU(s)" in result.output
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "r.jsonl"), "--engine", "ray",
                                 "--workers", "3"])
    assert result.exit_code == 2 and "3 workers need 3 CPUs but the Ray cluster has 2; use --workers 2" in result.output


def test_without_ray_the_engine_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    manifest = _manifest(tmp_path, [{"task": "ground", "video": "a.mp4", "query": "q"}])
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "r.jsonl"), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'vcr[ray]'" in result.output and result.output.strip().count("\n") == 0
    assert not (tmp_path / "r.jsonl").exists()


def test_ray_options_need_the_ray_engine(tmp_path):
    manifest = _manifest(tmp_path, [{"task": "ground", "video": "a.mp4", "query": "q"}])
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "r.jsonl"), "--workers", "2"])
    assert result.exit_code == 2 and "--workers goes with --engine ray" in result.output
