"""`vcr batch MANIFEST.jsonl -o results.jsonl`: many ground / track / ask jobs with one model load."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vcr_cli.options import (
    Device,
    DeviceOpt,
    FamilyOpt,
    FpsOpt,
    MaxFramesOpt,
    MaxNewTokensOpt,
    MaxPixelsOpt,
    ModelOpt,
    Quant,
    QuantOpt,
    SamplesOpt,
    SeedOpt,
    ServerOpt,
    ThinkOpt,
)


class Engine(str, Enum):
    local = "local"
    ray = "ray"


def batch(
    manifest: Annotated[Path, typer.Argument(
        help='JSONL, one job a line: {"task": "ground"|"track"|"ask", "video": PATH, ...the command\'s arguments}. '
             "Paths are relative to the manifest's folder.", show_default=False)],
    output: Annotated[Path, typer.Option(
        "--output", "-o", dir_okay=False, show_default=False, rich_help_panel="Outputs",
        help="Results JSONL: one line per job, appended as each job finishes.")],
    resume: Annotated[bool, typer.Option(
        "--resume", rich_help_panel="Outputs",
        help="Continue an existing results file: skip jobs already done (failed ones run again).")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", rich_help_panel="Outputs", help="Start the results file afresh.")] = False,
    model: ModelOpt = None,
    family: FamilyOpt = None,
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    think: ThinkOpt = True,
    max_new_tokens: MaxNewTokensOpt = None,
    fps: FpsOpt = None,
    max_frames: MaxFramesOpt = None,
    max_pixels: MaxPixelsOpt = None,
    samples: SamplesOpt = 0,
    seed: SeedOpt = 0,
    engine: Annotated[Engine, typer.Option(
        "--engine", rich_help_panel="Engine",
        help="local: one model in this process. ray: one model per Ray worker (GPUs, nodes); "
             "needs the ray extra: pip install 'vcr\\[ray]'.")] = Engine.local,
    ray_address: Annotated[str, typer.Option(
        "--ray-address", rich_help_panel="Engine", show_default=False,
        help="Join this Ray cluster (e.g. auto, or HEAD-IP:6379); default: start a local Ray.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, rich_help_panel="Engine", show_default=False,
        help="Ray workers, each with its own model replica (default: one per GPU, or 1 without GPUs).")] = None,
    gpus_per_worker: Annotated[float, typer.Option(
        "--gpus-per-worker", min=0.0, rich_help_panel="Engine", show_default=False,
        help="GPUs each Ray worker reserves (default 1 if the cluster has GPUs, else 0; 0.5 puts two replicas "
             "on one GPU).")] = None,
    server: ServerOpt = None,
) -> None:
    """Run a manifest of jobs (e.g. a folder of videos) with one model load; resumable.

    Example: vcr batch jobs.jsonl -o results.jsonl   (after a crash or a failed job: add --resume)

    On many GPUs or nodes: vcr batch jobs.jsonl -o results.jsonl --engine ray [--ray-address auto]

    Job keys (the commands' options, with underscores): ground: query, window, overlap, all, min_score;
    ask: question + options, or questions (a list), or questions_file, and layout, batch_size, rounds;
    track: object, box, normalized, start, end, window, refine; any job: id, think, strict, max_new_tokens,
    max_pixels, samples, seed, and fps, max_frames for ground and ask (the options below are the defaults).
    Exit 1 if any job failed.
    """
    from vcr_cli.console import handle_errors

    with handle_errors(fast_exit=True):
        ray = _ray_options(engine, ray_address, workers, gpus_per_worker)
        if server and ray is not None:
            from vcr_cli.errors import UsageError

            raise UsageError("--server and --engine ray both say where the jobs run; choose one")
        _run(manifest, output, resume, overwrite, model, quant.value, device.value,
             {"think": think, "max_new_tokens": max_new_tokens, "fps": fps, "max_frames": max_frames,
              "max_pixels": max_pixels, "samples": samples, "seed": seed, "family": family}, ray, server)


def _ray_options(engine: Engine, address, workers, gpus_per_worker):
    """RayOptions for --engine ray (Ray must import), None for local (where the Ray options make no sense)."""
    from vcr_cli.errors import UsageError

    if engine is Engine.local:
        given = [name for name, value in (("--ray-address", address), ("--workers", workers),
                                          ("--gpus-per-worker", gpus_per_worker)) if value is not None]
        if given:
            raise UsageError(f"{given[0]} goes with --engine ray (add --engine ray, or drop {given[0]})")
        return None
    from vcr_cli.batch_ray import RayOptions, import_ray

    import_ray()
    return RayOptions(address=address, workers=workers, gpus_per_worker=gpus_per_worker)


def _run(manifest, output, resume, overwrite, model, quant, device, defaults, ray=None, server=None) -> None:
    from rich.markup import escape

    from vcr_cli.batch import load_manifest, run_batch
    from vcr_cli.checkpoints import resolve_family
    from vcr_cli.console import console, quiet_libraries, status
    from vcr_cli.errors import UsageError
    from vcr_cli.outputs.atomic import check_outputs
    from vcr_cli.runtime import load_runtime

    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    jobs = load_manifest(manifest)
    check_outputs(((output, "results"),), inputs=(manifest,))  # appended to and resumed: a file, never stdout
    if output.exists() and output.stat().st_size > 0 and not (resume or overwrite):
        raise UsageError(f"{output} already holds results; pass --resume to continue it or --overwrite to start over")
    if server:
        from vcr_cli.options import check_family_with_server

        check_family_with_server(defaults.get("family"), server)
    elif ray is None:  # the family picks each job's sampling while the model loads; it fails fast, in one line
        defaults = dict(defaults, family=resolve_family(model, defaults.get("family")).name)
    # --engine ray: each worker finds the family where it loads the model (the checkpoint may be only on the nodes)
    quiet_libraries()

    def load():
        with status(f"Loading {model or 'model'} ({quant})..."):
            runtime = load_runtime(model, quant=quant, device=device, family=defaults["family"])
        quiet_libraries()
        return runtime

    reporter = _Reporter(console)
    try:
        if server:
            from vcr_cli.client import Server, check_model, run_batch_remote

            check_model(Server(server), model)
            summary = run_batch_remote(server, jobs, output, defaults, resume=resume, on_start=reporter.start,
                                       on_job=reporter.job)
        elif ray is None:
            summary = run_batch(jobs, output, load, defaults=defaults, resume=resume, on_start=reporter.start,
                                on_job=reporter.job)
        else:
            from vcr_cli.batch_ray import run_batch_ray

            summary = run_batch_ray(jobs, output, model, quant, device, defaults=defaults, resume=resume, options=ray,
                                    on_start=reporter.start, on_job=reporter.job, on_worker=reporter.worker,
                                    on_note=reporter.note)
    finally:
        reporter.stop()
    done = f"{summary.ok} ok, {summary.failed} failed"
    if summary.skipped:
        done += f", {summary.skipped} skipped (already in {output})"
    if summary.workers_lost:
        done += f"; {summary.workers_lost} worker(s) died and were replaced, {summary.retried} job(s) re-run"
    console.print(f"batch: {done} in {summary.seconds:.1f}s; results in {output}")
    if summary.failed:
        for job_id, error in summary.failures[:5]:
            console.print(f"  [red]failed[/] {escape(job_id)}: {escape(error)}", soft_wrap=True)
        raise typer.Exit(1)


class _Reporter:
    """A rich progress bar with ETA on an interactive stderr; one line per job (with ETA) otherwise."""

    def __init__(self, console):
        self.console = console
        self.progress = None
        self.task = None
        self.todo = 0
        self.finished = 0
        self.started = 0.0

    def start(self, todo: int, skipped: int) -> None:
        import time

        self.todo, self.started = todo, time.perf_counter()
        if skipped:
            self.console.print(f"resuming: {skipped} job(s) already done, {todo} to run")
        if todo and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("jobs", total=todo)

    def job(self, job, record: dict) -> None:
        import time

        from rich.markup import escape

        self.finished += 1
        mark = "[green]ok[/]" if record["status"] == "ok" else "[red]error[/]"
        line = f"{mark} {escape(job.id)} ({record['seconds']:.1f}s)"
        if record["status"] != "ok":
            line += f": {escape(record['error'])}"
        if self.progress is not None:
            self.progress.console.print(line, soft_wrap=True)
            self.progress.update(self.task, advance=1, description=f"{job.task} {escape(job.video.name)}")
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.finished * (self.todo - self.finished)
        self.console.print(f"[{self.finished}/{self.todo}] {line}  ETA {_clock(eta)}", soft_wrap=True)

    def worker(self, number: int, info: dict) -> None:
        """A Ray worker's model is loaded (workers join one by one; the bar counts jobs from all of them)."""
        from rich.markup import escape

        line = (f"worker {number} ready on {escape(str(info['host']))} ({info['device']}, pid {info['pid']}, "
                f"model loaded in {info['load_seconds']:.1f}s)")
        (self.progress.console if self.progress is not None else self.console).print(line, soft_wrap=True)

    def note(self, text: str) -> None:
        from rich.markup import escape

        (self.progress.console if self.progress is not None else self.console).print(
            f"[yellow]{escape(text)}[/]", soft_wrap=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
