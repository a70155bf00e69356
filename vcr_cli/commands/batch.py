"""`vcr batch MANIFEST.jsonl -o results.jsonl`: many ground / track / ask jobs with one model load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vcr_cli.options import (
    Device,
    DeviceOpt,
    FpsOpt,
    MaxFramesOpt,
    MaxNewTokensOpt,
    MaxPixelsOpt,
    ModelOpt,
    Quant,
    QuantOpt,
    ThinkOpt,
)


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
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    think: ThinkOpt = True,
    max_new_tokens: MaxNewTokensOpt = 2048,
    fps: FpsOpt = 2.0,
    max_frames: MaxFramesOpt = 768,
    max_pixels: MaxPixelsOpt = None,
) -> None:
    """Run a manifest of jobs (e.g. a folder of videos) with one model load; resumable.

    Example: vcr batch jobs.jsonl -o results.jsonl   (after a crash or a failed job: add --resume)

    Job keys (the commands' options, with underscores): ground: query, window, overlap, all, min_score;
    ask: question + options, or questions (a list), or questions_file, and layout, batch_size;
    track: object, box, normalized, start, end, window, refine; any job: id, think, strict, max_new_tokens,
    max_pixels, and fps, max_frames for ground and ask (the options below are the defaults). Exit 1 if any
    job failed.
    """
    from vcr_cli.console import handle_errors

    with handle_errors(fast_exit=True):
        _run(manifest, output, resume, overwrite, model, quant.value, device.value,
             {"think": think, "max_new_tokens": max_new_tokens, "fps": fps, "max_frames": max_frames,
              "max_pixels": max_pixels})


def _run(manifest, output, resume, overwrite, model, quant, device, defaults) -> None:
    from rich.markup import escape

    from vcr_cli.batch import load_manifest, run_batch
    from vcr_cli.console import console, quiet_libraries, status
    from vcr_cli.errors import UsageError
    from vcr_cli.outputs.atomic import check_output_path
    from vcr_cli.runtime import load_runtime

    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    jobs = load_manifest(manifest)
    check_output_path(output, "results")
    if output.exists() and output.stat().st_size > 0 and not (resume or overwrite):
        raise UsageError(f"{output} already holds results; pass --resume to continue it or --overwrite to start over")
    if output.resolve() == Path(manifest).resolve():
        raise UsageError("the results file must not be the manifest itself")
    quiet_libraries()

    def load():
        with status(f"Loading {model or 'model'} ({quant})..."):
            runtime = load_runtime(model, quant=quant, device=device)
        quiet_libraries()
        return runtime

    reporter = _Reporter(console)
    try:
        summary = run_batch(jobs, output, load, defaults=defaults, resume=resume, on_start=reporter.start,
                            on_job=reporter.job)
    finally:
        reporter.stop()
    done = f"{summary.ok} ok, {summary.failed} failed"
    if summary.skipped:
        done += f", {summary.skipped} skipped (already in {output})"
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

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
