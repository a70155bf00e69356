"""Many jobs, one model load: the engine behind `vcr batch MANIFEST.jsonl -o results.jsonl`.

A manifest is JSONL, one job a line: `{"task": "ground"|"track"|"ask", "video": PATH, ...}` plus the
command's arguments, options spelled with underscores:
- ground: `query`, and `window`, `overlap`, `all`, `min_score`, `fps`, `max_frames`;
- ask: `question` (+ `options`), or `questions` (a list as in a questions file), or `questions_file`;
  and `layout`, `batch_size`, `rounds`, `fps`, `max_frames`;
- track: `object`, and `box` ([x0, y0, x1, y1] or "X0,Y0,X1,Y1"), `normalized`, `start`, `end`, `window`,
  `refine`;
- any: `id`, `think`, `strict`, `max_new_tokens`, `max_pixels`, `samples` (score by agreement with K answers
  drawn at temperature 1, as `--samples`), `seed`.
The batch's command-line options are the defaults; `fps` / `max_frames` / `max_new_tokens` left unset follow
the model family's rule (`defaults["family"]`, the family's name, picks its sampling while the model loads).
Paths are relative to the manifest's folder. The whole manifest is validated first (a bad line is a UsageError
naming it), then the model is loaded once and the jobs run in order; the next job's video decodes in a thread
while the current one runs.

Results are JSONL too, appended and flushed line by line as each job finishes, so a crash or Ctrl-C
keeps every finished job: `{"index", "id", "task", "video", "job", "status": "ok"|"error", "error",
"result", "seconds"}`. A job that fails (unreadable video, out of memory, ...) is recorded with its error
and the batch goes on. `resume=True` skips jobs whose id already has an "ok" line; failed jobs run again
and their new line is appended (for an id, the last line wins).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.errors import UsageError, VcrError
from vcr_cli.files import read_user_text
from vcr_cli.options import LAYOUT_NAMES
from vcr_cli.questions import Question, _from_item, load_questions
from vcr_cli.windows import choose_windowing, overlap_problem

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime

TASKS = ("ground", "track", "ask")
COMMON_KEYS = {"task", "video", "id", "think", "max_new_tokens", "max_pixels", "strict", "samples", "seed"}
MAX_SAMPLES = 64
# The commands' options, spelled with underscores ("all" is `vcr ground --all`).
TASK_KEYS = {
    "ground": {"query", "fps", "max_frames", "window", "overlap", "all", "min_score"},
    "ask": {"question", "options", "questions", "questions_file", "layout", "batch_size", "rounds", "fps",
            "max_frames"},
    "track": {"object", "box", "normalized", "start", "end", "window", "refine"},
}
SAMPLING_DEFAULTS = {"fps": None, "max_frames": None, "max_pixels": None}  # None: the family's rule


@dataclass
class Job:
    index: int  # 0-based position among the manifest's jobs
    line: int  # 1-based line in the manifest
    id: str
    spec: dict  # the job as written in the manifest
    video: Path  # resolved against the manifest's folder
    base: Path  # the manifest's folder (for other relative paths)

    @property
    def task(self) -> str:
        return self.spec["task"]


@dataclass
class BatchSummary:
    total: int
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (id, error)
    workers_lost: int = 0  # --engine ray: workers that died mid-run (each replaced)
    retried: int = 0  # --engine ray: jobs run again because their worker died under them


# ---------------------------------------------------------------- manifest


def default_job_id(spec: dict) -> str:
    """`task:video-name:hash` of the job's content: stable when lines are added, moved or reordered."""
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
    return f"{spec['task']}:{Path(str(spec['video'])).name}:{digest}"


def _check_type(spec: dict, key: str, kind, what: str, where: str, minimum: float | None = None) -> None:
    """None means "the default"; booleans are not numbers here (JSON true is not 1 frame)."""
    value = spec.get(key)
    if value is None:
        return
    ok = isinstance(value, bool) if kind is bool else isinstance(value, kind) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum):
        raise UsageError(f'{where}: "{key}" must be {what} (got {json.dumps(value)})')


def _validate(spec: dict, where: str, base: Path) -> None:
    task = spec.get("task")
    if task not in TASKS:
        raise UsageError(f'{where}: "task" must be one of {", ".join(TASKS)} (got {task!r})')
    if not isinstance(spec.get("video"), str) or not spec["video"].strip():
        raise UsageError(f'{where}: "video" must be a path (relative to the manifest\'s folder)')
    allowed = TASK_KEYS[task]
    unknown = sorted(set(spec) - COMMON_KEYS - allowed)
    if unknown:
        import difflib

        known = sorted(COMMON_KEYS | allowed)
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected {', '.join(known)}"
        article = "an" if task == "ask" else "a"
        raise UsageError(f"{where}: unknown key {unknown[0]!r} for {article} {task} job ({hint})")
    _check_type(spec, "fps", (int, float), "a number >= 0.01", where, 0.01)
    _check_type(spec, "max_frames", int, "an integer >= 2", where, 2)
    _check_type(spec, "max_pixels", int, "an integer >= 3136", where, 3136)
    _check_type(spec, "max_new_tokens", int, "an integer >= 1", where, 1)
    _check_type(spec, "rounds", int, "an integer >= 1", where, 1)
    _check_type(spec, "think", bool, "true or false", where)
    _check_type(spec, "strict", bool, "true or false", where)
    _check_type(spec, "samples", int, f"an integer from 0 to {MAX_SAMPLES}", where, 0)
    if (spec.get("samples") or 0) > MAX_SAMPLES:
        raise UsageError(f'{where}: "samples" must be an integer from 0 to {MAX_SAMPLES}')
    _check_type(spec, "seed", int, "an integer", where)
    if task == "ground":
        if not isinstance(spec.get("query"), str) or not spec["query"].strip():
            raise UsageError(f'{where}: a ground job needs a "query" (the event to find)')
        _check_type(spec, "window", (int, float), "a number >= 4", where, 4.0)
        _check_type(spec, "overlap", (int, float), "a number >= 0", where, 0.0)
        problem = overlap_problem(spec.get("window"), spec.get("overlap"))
        if problem:
            raise UsageError(f"{where}: {problem.replace('--', '')}")
        _check_type(spec, "all", bool, "true or false", where)
        _check_type(spec, "min_score", (int, float), "a number from 0 to 1", where, 0.0)
        if (spec.get("min_score") or 0) > 1:
            raise UsageError(f'{where}: "min_score" must be a number from 0 to 1')
    if task == "track":
        _validate_track(spec, where)
    if task == "ask":
        if job_layout(spec) is None:
            raise UsageError(f'{where}: "layout" must be one of {", ".join(LAYOUT_NAMES)} (as `vcr ask --layout`)')
        _check_type(spec, "batch_size", int, "an integer >= 1", where, 1)
        job_questions(spec, where, base)


def _validate_track(spec: dict, where: str) -> None:
    from vcr_cli.tasks.track import parse_box_text

    if not isinstance(spec.get("object"), str) or not spec["object"].strip():
        raise UsageError(f'{where}: a track job needs an "object" (what to track, e.g. "red car")')
    box = spec.get("box")
    if isinstance(box, str):
        try:
            parse_box_text(box)
        except UsageError as exc:
            message = str(exc).replace("--box", '"box"')
            raise UsageError(f"{where}: {message}") from None
    elif box is not None and not (isinstance(box, list) and len(box) == 4
                                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
        raise UsageError(f'{where}: "box" must be [x0, y0, x1, y1] (pixels; 0..1 with "normalized": true)')
    _check_type(spec, "normalized", bool, "true or false", where)
    _check_type(spec, "refine", bool, "true or false", where)
    _check_type(spec, "start", (int, float), "a number of seconds >= 0", where, 0.0)
    _check_type(spec, "end", (int, float), "a number of seconds >= 0", where, 0.0)
    _check_type(spec, "window", (int, float), "a number of seconds >= 0.1", where, 0.1)


def job_questions(spec: dict, where: str, base: Path) -> list[Question]:
    """An ask job's questions: `question` (+ `options`), or a `questions` list, or a `questions_file`."""
    given = [k for k in ("question", "questions", "questions_file") if k in spec]
    if len(given) != 1:
        raise UsageError(f'{where}: an ask job needs exactly one of "question", "questions" or "questions_file"')
    if "question" in spec:
        return [_from_item({k: spec[k] for k in ("question", "options") if k in spec}, where)]
    if "options" in spec:
        raise UsageError(f'{where}: "options" goes with "question"; inside "questions" give each its own options')
    if "questions" in spec:
        if not isinstance(spec["questions"], list) or not spec["questions"]:
            raise UsageError(f'{where}: "questions" must be a non-empty list')
        return [_from_item(item, f"{where}, question {i}") for i, item in enumerate(spec["questions"], 1)]
    return load_questions(base / spec["questions_file"])


def load_manifest(path: str | Path) -> list[Job]:
    """Every job of a JSONL manifest, validated; UsageError naming the line on any problem."""
    path = Path(path)
    text = read_user_text(path, "manifest", "a .jsonl file")
    base = path.resolve().parent
    jobs: list[Job] = []
    seen: dict[str, int] = {}  # id -> line
    repeats: dict[str, int] = {}  # default id -> how many jobs had it (identical lines)
    problems: list[tuple[int, str]] = []  # every bad line is found before anything runs; the first is shown whole
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            job = _job_of_line(line, f"{path} line {number}", number, base, len(jobs), seen, repeats)
        except UsageError as exc:
            problems.append((number, str(exc)))
            continue
        seen[job.id] = number
        jobs.append(job)
    if problems:
        more = [str(number) for number, _ in problems[1:]]
        also = f" (also bad: line{'s' if len(more) > 1 else ''} {', '.join(more)})" if more else ""
        raise UsageError(problems[0][1] + also)
    if not jobs:
        raise UsageError(f"manifest {path} has no jobs")
    return jobs


def job_layout(spec: dict) -> str | None:
    """The task layout of an ask job: `vcr ask --layout`'s values (also with underscores) or the task's own names
    (as results record them); None if it is neither."""
    from vcr_cli.tasks.ask import LAYOUTS

    given = spec.get("layout", "auto")
    if not isinstance(given, str):
        return None
    name = LAYOUT_NAMES.get(given.replace("_", "-"), given)
    return name if name in LAYOUTS else None


def _job_of_line(line: str, where: str, number: int, base: Path, index: int, seen: dict[str, int],
                 repeats: dict[str, int]) -> Job:
    try:
        spec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(spec, dict):
        raise UsageError(f'{where}: expected a JSON object like {{"task": "ground", "video": ..., ...}}')
    _validate(spec, where, base)
    job_id = str(spec["id"]) if spec.get("id") is not None else default_job_id(spec)
    if spec.get("id") is None:
        repeats[job_id] = repeats.get(job_id, 0) + 1
        if repeats[job_id] > 1:  # the same job twice: both run, under distinct ids
            job_id = f"{job_id}#{repeats[job_id]}"
    if job_id in seen:
        raise UsageError(f"{where}: id {job_id!r} is already used on line {seen[job_id]}")
    video = Path(spec["video"]).expanduser()
    return Job(index, number, job_id, spec, video if video.is_absolute() else base / video, base)


def job_of_spec(spec: dict, where: str, base: Path) -> Job:
    """One job from a dict (a `vcr serve` request) through the manifest's own validation and id rules."""
    return _job_of_line(json.dumps(spec), where, 1, base, 0, {}, {})


# ---------------------------------------------------------------- results file


def finished_jobs(results: str | Path) -> dict[str, Any]:
    """Id -> the job (manifest line) of its last "ok" line; a partial last line (a crash mid-write) is cut off."""
    path = Path(results)
    if not path.exists() or path.stat().st_size == 0:
        return {}
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as handle:
            handle.truncate(keep)
        data = data[:keep]
    done: dict[str, Any] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path} line {number} is not valid JSON; fix or remove that line to resume") from None
        if isinstance(record, dict) and record.get("status") == "ok" and record.get("id") is not None:
            done[str(record["id"])] = record.get("job")
    return done


class ResultsWriter:
    """Append one JSON line per finished job, flushed to disk at once (a crash keeps finished lines)."""

    def __init__(self, path: str | Path, fresh: bool):
        self.path = Path(path)
        self.handle = open(self.path, "w" if fresh else "a", encoding="utf-8")
        self.regular = self.path.is_file()

    def write(self, record: dict) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.flush()
        if self.regular:  # a device or pipe (`-o /dev/null`) cannot be fsynced
            os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


# ---------------------------------------------------------------- running jobs


def _setting(job: Job, defaults: dict, key: str):
    value = job.spec.get(key)
    return defaults.get(key) if value is None else value


def prepare_job(job: Job, defaults: dict) -> Any:
    """The CPU part of a job (probe, checks, decode + resize), run ahead in a thread while the model works."""
    from vcr_cli.video import probe, sample_video

    info = probe(job.video)
    spec = job.spec
    if job.task == "track":
        from vcr_cli.tasks import track as task

        first, last = task.frame_range(info, spec.get("start"), spec.get("end"))
        box = spec.get("box")
        if box is not None:
            values = task.parse_box_text(box) if isinstance(box, str) else [float(v) for v in box]
            box = task.validate_start_box(values, info.width, info.height, bool(spec.get("normalized", False)))
        windows = task.plan_windows(info, first, last, spec.get("window"))
        width, height = task.window_size(info, _setting(job, defaults, "max_pixels"))
        # decodes ahead, in its own thread
        frames = task.WindowFrames(job.video, windows, width, height, source_size=(info.width, info.height))
        return {"info": info, "start_box": box, "windows": windows, "frames": frames}
    if job.task == "ground" and not choose_windowing(info.duration, spec.get("window"), spec.get("overlap")).whole:
        return {"info": info, "video": None}  # grounded window by window, decoded as it goes
    video = sample_video(job.video, fps=_setting(job, defaults, "fps"),
                         max_frames=_setting(job, defaults, "max_frames"),
                         max_pixels=_setting(job, defaults, "max_pixels"), info=info, rule=_job_rule(job, defaults))
    return {"info": info, "video": video}


def _job_rule(job: Job, defaults: dict):
    """The sampling rule of the batch's family (`defaults["family"]`) for the job's task; None: the default's."""
    if not defaults.get("family"):
        return None
    from vcr_cli.families import GROUND, get

    role = GROUND
    if job.task == "ask":
        from vcr_cli.tasks.ask import sampling_role

        role = sampling_role(job_questions(job.spec, f"job {job.id}", job.base))
    return get(defaults["family"]).sampling_for(role)


def run_job(runtime: Runtime, job: Job, prepared: dict, defaults: dict, progress: Callable | None = None) -> dict:
    """Run one prepared job on the loaded model: what `vcr ground|track|ask` would write with `-o`.

    `progress`: the task's own callback (ground's windows: `(done, total)`; track: a message), for `vcr serve`."""
    spec = job.spec
    think = bool(_setting(job, defaults, "think"))
    max_new_tokens = _setting(job, defaults, "max_new_tokens")  # None: the family's budget
    strict = bool(spec.get("strict", False))
    scoring = {key: int(_setting(job, defaults, key) or 0) for key in ("samples", "seed")}
    if job.task == "ground":
        return _run_ground(runtime, job, prepared, defaults, think, strict, max_new_tokens, scoring, progress)
    if job.task == "ask":
        from vcr_cli.tasks.ask import ask_many

        questions = job_questions(spec, f"job {job.id}", job.base)
        return ask_many(runtime, prepared["video"], questions, think=think, strict=strict,
                        max_new_tokens=max_new_tokens, layout=job_layout(spec),
                        batch_size=spec.get("batch_size") or 8, rounds=spec.get("rounds"), **scoring)
    from vcr_cli.tasks import track as task

    return task.track(runtime, job.video, spec["object"].strip(), prepared["start_box"], info=prepared["info"],
                      start_s=spec.get("start"), end_s=spec.get("end"),
                      window_s=spec.get("window"), think=think, strict=strict,
                      refine=bool(spec.get("refine", True)), max_new_tokens=max_new_tokens,
                      max_pixels=_setting(job, defaults, "max_pixels"), frames=prepared["frames"],
                      windows=prepared["windows"], progress=progress, **scoring)


def _run_ground(runtime: Runtime, job: Job, prepared: dict, defaults: dict, think: bool, strict: bool,
                max_new_tokens: int | None, scoring: dict, progress: Callable | None = None) -> dict:
    """As `vcr ground`: one pass up to 384 s (or --window), windows beyond; --min-score and --all."""
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.tasks.ground import ground_video

    spec = job.spec
    sampling = SamplingOptions(_setting(job, defaults, "fps"), _setting(job, defaults, "max_frames"),
                               _setting(job, defaults, "max_pixels"))
    return ground_video(runtime, job.video, spec["query"].strip(), info=prepared["info"], sampling=sampling,
                        window_s=spec.get("window"), overlap_s=spec.get("overlap"), video=prepared["video"],
                        think=think, strict=strict, max_new_tokens=max_new_tokens,
                        all_segments=bool(spec.get("all", False)), min_score=float(spec.get("min_score") or 0.0),
                        progress=progress, **scoring)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, VcrError):
        return str(exc)
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def batch_defaults(defaults: dict | None) -> dict:
    """The command-line options every job falls back on (both engines)."""
    return {**SAMPLING_DEFAULTS, "think": True, "max_new_tokens": None, "samples": 0, "seed": 0, "family": None,
            **(defaults or {})}


def start_batch(jobs: list[Job], results: str | Path, resume: bool) -> tuple[list[Job], BatchSummary, ResultsWriter]:
    """The jobs still to run (`resume`: skip those with an "ok" line for the job as the manifest now has it, so a
    job edited under its own id runs again), a summary, and the open results file."""
    done = finished_jobs(results) if resume else {}
    todo = [job for job in jobs if job.id not in done or done[job.id] != job.spec]
    summary = BatchSummary(total=len(jobs), skipped=len(jobs) - len(todo))
    return todo, summary, ResultsWriter(results, fresh=not resume)


def job_line(job: Job) -> dict:
    """The fields of a results line that name the job (status, error, result and seconds follow)."""
    return {"index": job.index, "id": job.id, "task": job.task, "video": str(job.video), "job": job.spec}


def execute_job(runtime: Runtime, job: Job, prepared: Callable[[], Any], defaults: dict) -> dict:
    """One job from its prepared video to its results line: the only inference path of every engine.

    `prepared()` returns `prepare_job`'s output (or raises its error, recorded as the job's failure).
    "seconds" counts from this call: a video decoded ahead costs the job nothing.
    """
    t = time.perf_counter()
    record = job_line(job)
    try:
        result = run_job(runtime, job, prepared(), defaults)
        record.update(status="ok", error=None, result=result)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failed job is recorded and the batch goes on
        _free_accelerator_memory()
        record.update(status="error", error=_error_text(exc), result=None)
    record["seconds"] = round(time.perf_counter() - t, 3)
    return record


def count(summary: BatchSummary, record: dict) -> None:
    """Add one written results line to the summary."""
    if record["status"] == "ok":
        summary.ok += 1
    else:
        summary.failed += 1
        summary.failures.append((record["id"], record["error"]))


def run_batch(
    jobs: list[Job],
    results: str | Path,
    load: Callable[[], Runtime],
    defaults: dict | None = None,
    resume: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_job: Callable[[Job, dict], None] | None = None,
) -> BatchSummary:
    """Run `jobs` with one model (`load()` is called once, while the first video decodes).

    `on_start(todo, skipped)` is called once the model is loaded; `on_job(job, record)` after each job's
    line is written. KeyboardInterrupt stops the batch (finished lines stay).
    """
    defaults = batch_defaults(defaults)
    start = time.perf_counter()
    todo, summary, writer = start_batch(jobs, results, resume)
    import torch  # noqa: F401  (import once, before threads, to avoid import-lock contention)

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        if not todo:
            if on_start:
                on_start(0, summary.skipped)
            return summary
        ahead: Future = pool.submit(prepare_job, todo[0], defaults)
        runtime = load()
        if on_start:
            on_start(len(todo), summary.skipped)
        for position, job in enumerate(todo):
            current = ahead
            if position + 1 < len(todo):
                ahead = pool.submit(prepare_job, todo[position + 1], defaults)
            record = execute_job(runtime, job, current.result, defaults)
            writer.write(record)
            count(summary, record)
            if on_job:
                on_job(job, record)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        writer.close()
        summary.seconds = time.perf_counter() - start
    return summary


def _free_accelerator_memory() -> None:
    """After a failure (out of memory, say) give cached GPU blocks back before the next job."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
