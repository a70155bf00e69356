"""`vcr batch --engine ray`: the same jobs on many model replicas (GPUs, nodes) through Ray Core actors.

Each worker is a Ray actor holding one model (loaded as `vcr batch` loads it: same model, quant, device
rules) and running jobs through `vcr_cli.batch.execute_job`, the function the local engine runs: same
prompts, sampling, parsing and results lines. A worker takes two jobs at a time (a threaded actor with
`max_concurrency=2`): the second one's video decodes while the first holds the model.

The driver (the `vcr batch` process) hands out jobs, writes each results line as its job finishes (one
writer, one file), and owns recovery: when a worker dies (kill -9, out of memory, a lost node) its
unfinished jobs go back to the queue and a replacement worker is started, so every job is written exactly
once; a job whose worker died under it `MAX_ATTEMPTS` times is recorded as failed. Ray itself is imported
only here, and only when `--engine ray` is asked for.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcr_cli.batch import (
    BatchSummary,
    Job,
    batch_defaults,
    count,
    execute_job,
    job_line,
    prepare_job,
    start_batch,
)
from vcr_cli.errors import UsageError, VcrError, first_line

INSTALL_HINT = ("--engine ray needs Ray, which is not installed: pip install 'vcr[ray]' "
                "(from a checkout: pip install -e '.[ray]')")
JOBS_PER_WORKER = 2  # one on the model, one decoding its video
MAX_ATTEMPTS = 3  # a job whose worker died this many times under it is recorded as failed
LOCAL_OBJECT_STORE = 256 << 20  # results are small JSON; a local instance needs no large object store


@dataclass
class RayOptions:
    """Where and how wide: `address` None starts a local Ray (or uses the one this process already runs)."""

    address: str | None = None
    workers: int | None = None  # default: one per GPU-sized slot of the cluster, or 1 without GPUs
    gpus_per_worker: float | None = None  # default: 1 if the cluster has GPUs, else 0
    cpus_per_worker: float = 1.0


def import_ray():
    """Ray, or a UsageError saying how to install it (exit 2)."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


class BatchWorker:
    """One model replica (a Ray actor; `ray.remote` is applied at run time so this module imports without Ray)."""

    def __init__(self, defaults: dict):
        self.defaults = defaults
        self.runtime = None
        self.model_lock = threading.Lock()
        self.decoder = ThreadPoolExecutor(max_workers=JOBS_PER_WORKER, thread_name_prefix="vcr-decode")

    def load(self, model: str | None, quant: str, device: str, shown: str | None = None) -> dict:
        """Load the model once (`shown`: the name as the user gave it, for the results, when `model` is the
        absolute path a worker in another folder needs); where it runs is returned for the driver's log."""
        import socket

        from vcr_cli.console import quiet_libraries
        from vcr_cli.runtime import load_runtime

        quiet_libraries()
        started = time.perf_counter()
        self.runtime = load_runtime(model, quant=quant, device=device, family=self.defaults.get("family"))
        self.defaults = dict(self.defaults, family=self.runtime.family.name)  # each job samples by its rule
        if shown is not None:
            self.runtime.model_id = shown  # result lines name the model as `--engine local` does
        quiet_libraries()
        return {"pid": os.getpid(), "host": socket.gethostname(), "device": self.runtime.device,
                "load_seconds": round(time.perf_counter() - started, 2)}

    def run(self, job: Job) -> dict:
        """Decode `job`'s video (meanwhile the other job holds the model), then run it: its results line."""
        prepared = self.decoder.submit(prepare_job, job, self.defaults)
        with self.model_lock:
            return execute_job(self.runtime, job, prepared.result, self.defaults)


@dataclass
class _Slot:
    """One worker position; `generation` grows each time its actor is replaced."""

    number: int
    actor: Any = None
    generation: int = 0
    loading: Any = None  # the ObjectRef of load() while the model loads
    running: dict = field(default_factory=dict)  # ObjectRef -> Job
    alive: bool = True


def connect(ray, options: RayOptions) -> bool:
    """Join `options.address`, reuse this process's Ray, or start a local one; True when started here."""
    from vcr_cli.console import VERBOSE

    _notices_to_stderr()
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": VERBOSE["on"],
             "logging_level": "info" if VERBOSE["on"] else "error"}
    if options.address:
        try:
            ray.init(address=options.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            reason = first_line(exc, limit=300)
            raise UsageError(f"cannot join the Ray cluster at {options.address}: {reason} (start one "
                             "with `ray start --head`, or leave out --ray-address for a local one)") from None
        return True
    cpus = os.cpu_count() or 1
    needed = int((options.workers or 1) * options.cpus_per_worker + 0.999)
    ray.init(num_cpus=max(cpus, needed), object_store_memory=LOCAL_OBJECT_STORE, **quiet)
    return True


def _notices_to_stderr() -> None:
    """Ray prints the raylet's notices (e.g. "A worker died...") on the driver's stdout; stdout is for data."""
    try:
        from ray._private import worker
    except ImportError:  # another Ray layout: leave it be
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "vcr_stderr", False):
        return

    def to_stderr(data, ignore_prefix):
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.vcr_stderr = True
    worker.print_to_stdstream = to_stderr


def plan_workers(ray, options: RayOptions) -> tuple[int, float]:
    """(workers, GPUs per worker) from the options and what the cluster has; UsageError if it cannot fit."""
    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    per = options.gpus_per_worker if options.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if per > gpus:
        raise UsageError(f"--gpus-per-worker {per:g} but the Ray cluster has {gpus:g} GPU(s); "
                         "use --gpus-per-worker 0 to run on CPU")
    workers = options.workers or (max(1, int(gpus // per)) if per else 1)
    if per and workers * per > gpus + 1e-9:
        raise UsageError(f"{workers} workers x {per:g} GPU need {workers * per:g} GPUs but the Ray cluster has "
                         f"{gpus:g}; use --workers {max(1, int(gpus // per))}")
    if workers * options.cpus_per_worker > cpus + 1e-9:
        raise UsageError(f"{workers} workers need {workers * options.cpus_per_worker:g} CPUs but the Ray cluster "
                         f"has {cpus:g}; use --workers {max(1, int(cpus // options.cpus_per_worker))}")
    return workers, per


def run_batch_ray(
    jobs: list[Job],
    results: str | Path,
    model: str | None,
    quant: str,
    device: str,
    defaults: dict | None = None,
    resume: bool = False,
    options: RayOptions | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_job: Callable[[Job, dict], None] | None = None,
    on_worker: Callable[[int, dict], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Run `jobs` on Ray workers; same results file, summary and callbacks as `vcr_cli.batch.run_batch`.

    `on_worker(number, info)` is called when a worker's model is loaded (info: pid, host, device,
    load_seconds); `on_start(todo, skipped)` once the first one is; `on_note(text)` when a worker dies.
    """
    ray = import_ray()
    options = options or RayOptions()
    defaults = batch_defaults(defaults)
    shown = model
    if model and Path(model).expanduser().exists():  # workers may start in another folder
        model = str(Path(model).expanduser().resolve())
    start = time.perf_counter()
    todo, summary, writer = start_batch(jobs, results, resume)
    started_here = False
    slots: list[_Slot] = []
    try:
        if not todo:
            if on_start:
                on_start(0, summary.skipped)
            return summary
        started_here = connect(ray, options)
        workers, gpus = plan_workers(ray, options)
        driver = _Driver(ray, todo, writer, summary, defaults, (model, quant, device, shown),
                         {"num_cpus": options.cpus_per_worker, "num_gpus": gpus}, on_start, on_job, on_worker, on_note)
        slots = driver.slots = [_Slot(number) for number in range(1, workers + 1)]
        driver.run()
    finally:
        for slot in slots:
            if slot.actor is not None:
                ray.kill(slot.actor)
        writer.close()
        if started_here:
            ray.shutdown()
        summary.seconds = time.perf_counter() - start
    return summary


class _Driver:
    """The scheduling loop: keep each worker fed, write lines as they come, replace dead workers."""

    def __init__(self, ray, todo, writer, summary, defaults, load_args, resources, on_start, on_job, on_worker,
                 on_note=None):
        self.ray = ray
        self.queue: deque[Job] = deque(todo)
        self.todo = len(todo)
        self.writer, self.summary, self.defaults = writer, summary, defaults
        self.load_args, self.resources = load_args, resources
        self.on_start, self.on_job, self.on_worker, self.on_note = on_start, on_job, on_worker, on_note
        self.slots: list[_Slot] = []
        self.deaths: dict[str, int] = {}  # job id -> workers that died while it was on them
        self.written: set[str] = set()
        self.started = False
        self.replacements = 0
        self.last_death = ""

    def run(self) -> None:
        remote = self.ray.remote(BatchWorker).options(
            max_concurrency=JOBS_PER_WORKER, max_restarts=0, scheduling_strategy="SPREAD", **self.resources)
        self.remote = remote
        for slot in self.slots:
            self._spawn(slot)
        while len(self.written) < self.todo:
            self._feed()
            pending = [s.loading for s in self.slots if s.loading is not None]
            pending += [ref for s in self.slots for ref in s.running]
            if not pending:  # every worker is dead and none may be replaced
                self._give_up()
                break
            ready, _ = self.ray.wait(pending, num_returns=1)
            self._collect(ready[0])

    def _spawn(self, slot: _Slot) -> None:
        slot.actor = self.remote.remote(self.defaults)
        slot.generation += 1
        slot.loading = slot.actor.load.remote(*self.load_args)
        slot.running = {}

    def _feed(self) -> None:
        for slot in self.slots:
            while slot.alive and slot.loading is None and self.queue and len(slot.running) < JOBS_PER_WORKER:
                job = self.queue.popleft()
                slot.running[slot.actor.run.remote(job)] = job

    def _slot_of(self, ref) -> _Slot:
        return next(s for s in self.slots if s.loading == ref or ref in s.running)

    def _collect(self, ref) -> None:
        slot = self._slot_of(ref)
        if slot.loading == ref:
            slot.loading = None
            try:
                info = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as exc:  # the model itself failed to load: stop here
                cause = exc.cause
                if isinstance(cause, VcrError):
                    raise cause from None
                raise
            except self.ray.exceptions.RayActorError as exc:
                self._worker_died(slot, exc)
                return
            if self.on_worker:
                self.on_worker(slot.number, info)
            if not self.started:
                self.started = True
                if self.on_start:
                    self.on_start(self.todo, self.summary.skipped)
            return
        job = slot.running.pop(ref)
        try:
            record = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            self._worker_died(slot, exc, job)
            return
        except self.ray.exceptions.RayTaskError as exc:  # run() itself failed (execute_job records job errors)
            record = _failed(job, first_line(exc.cause if exc.cause is not None else exc, limit=300))
        self._write(job, record)

    def _worker_died(self, slot: _Slot, exc: Exception, job: Job | None = None) -> None:
        """Put the dead worker's jobs (`job`, whose call failed, and the others) back; start a replacement."""
        self.last_death = first_line(exc, limit=300)
        self.summary.workers_lost += 1
        try:  # an unreachable (not dead) actor must not go on holding a model
            self.ray.kill(slot.actor)
        except Exception:
            pass
        unfinished = ([job] if job is not None else []) + list(slot.running.values())
        for lost in unfinished:
            self._retry(lost, exc)
        slot.running = {}
        replace = self.replacements < MAX_ATTEMPTS * len(self.slots)
        if self.on_note:
            self.on_note(f"worker {slot.number} died ({self.last_death}); {len(unfinished)} unfinished job(s) "
                         + ("back in the queue, starting a replacement" if replace else "back in the queue; "
                            "no more replacements"))
        if replace:
            self.replacements += 1
            self._spawn(slot)
        else:
            slot.alive, slot.actor, slot.loading = False, None, None

    def _retry(self, job: Job, exc: Exception) -> None:
        self.deaths[job.id] = self.deaths.get(job.id, 0) + 1
        if self.deaths[job.id] >= MAX_ATTEMPTS:
            self._write(job, _failed(job, f"the Ray worker died {MAX_ATTEMPTS} times while running this job "
                                          f"({first_line(exc, limit=300)})"))
        else:
            self.summary.retried += 1
            self.queue.appendleft(job)

    def _give_up(self) -> None:
        """No worker left: record what did not run as failed, so --resume runs it later."""
        reason = f"not run: every Ray worker died ({self.last_death or 'no worker could start'})"
        while self.queue:
            job = self.queue.popleft()
            self._write(job, _failed(job, reason))

    def _write(self, job: Job, record: dict) -> None:
        if job.id in self.written:  # cannot happen (a job is either queued or on one worker); never write twice
            return
        self.written.add(job.id)
        self.writer.write(record)
        count(self.summary, record)
        if self.on_job:
            self.on_job(job, record)


def _failed(job: Job, error: str) -> dict:
    return {**job_line(job), "status": "error", "error": error, "result": None, "seconds": 0.0}
