"""The `vcr rft` data format: JSONL, one example a line, and its validation.

Lines (video paths are relative to the data file's folder unless absolute; a video may also be a
folder of frames, sorted by name):

- ``{"task": "ground", "video", "query", "solution": {"start", "end"}}`` (seconds), or ``"solution": {"spans":
  [[s, e], ...]}`` for a query that holds at several moments (every span; TimeLens2's multi-span grounding)
- ``{"task": "qa", "video", "question", "options": [...], "solution": {"answer": "C", "evidence": [[s, e], ...]}}``
  (``evidence`` is optional; without it the evidence reward and metric skip the example)
- ``{"task": "track", "video", "object", "solution": {"boxes": [[x0, y0, x1, y1], ... 8 boxes, 0..1]}}``
  (the first box is the start box given to the model)

A predictions file has the same lines plus ``"output"``: the model's raw text. Extra fields are allowed
(and kept in ``Example.raw``). Every problem is reported as ``FILE:LINE: message``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.errors import UsageError

if TYPE_CHECKING:
    from vcr_cli.families import Family

TASKS = ("ground", "qa", "track")
TRACK_BOXES = 8
MAX_OPTIONS = 7  # VideoChat-R1's letter extraction only knows A-G
# Annotated times may overshoot the probed duration (frames / fps) by container rounding: allow this much.
TIME_TOLERANCE_S = 0.5

_LETTER = re.compile(r"^\s*\(?([A-Z])\)?\s*$")


@dataclass
class Example:
    """One validated line. `solution` is normalised (floats; `answer` a bare letter); `raw` is the JSON as read."""

    task: str
    video: Path
    line: int
    solution: dict
    raw: dict = field(default_factory=dict)
    query: str | None = None
    question: str | None = None
    options: list[str] | None = None
    object: str | None = None
    output: str | None = None


class _Problem(Exception):
    """A problem that makes the rest of the line's checks meaningless."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _text_field(obj: dict, name: str) -> str:
    if name not in obj:
        raise _Problem(f'missing field "{name}"')
    value = obj[name]
    if not isinstance(value, str):
        raise _Problem(f'field "{name}" must be a string')
    if not value.strip():
        raise _Problem(f'field "{name}" is empty')
    return value


def _number_field(obj: dict, name: str, label: str) -> float:
    if name not in obj:
        raise _Problem(f'missing field "{label}"')
    if not _is_number(obj[name]):
        raise _Problem(f'field "{label}" must be a number')
    return float(obj[name])


def resolve_video(video: str, data_dir: Path) -> Path:
    """A line's video path: as written if absolute (after ~ expansion), else relative to the data file's folder."""
    path = Path(video).expanduser()
    return path if path.is_absolute() else data_dir / path


def _span_list(value: Any, name: str, problems: list[str], label: str = "") -> list[list[float]]:
    """A list of [start, end] pairs in seconds (each checked: non-negative, start <= end)."""
    shape = f'field "{name}" must be a list of [start, end] pairs in seconds'
    if not isinstance(value, list):
        raise _Problem(shape)
    spans = []
    for i, span in enumerate(value, 1):
        if not (isinstance(span, list) and len(span) == 2 and all(_is_number(v) for v in span)):
            raise _Problem(f"{shape} (item {i} is {json.dumps(span)})")
        s, e = float(span[0]), float(span[1])
        if s < 0:
            problems.append(f"{label}{i}: start {_fmt(s)} is negative")
        if s > e:
            problems.append(f"{label}{i}: start {_fmt(s)} > end {_fmt(e)}")
        spans.append([s, e])
    return spans


def _check_ground(obj: dict, solution: dict, problems: list[str]) -> tuple[dict, dict, list[float]]:
    query = _text_field(obj, "query")
    if "spans" in solution:  # every moment the query describes (multi-span grounding, as TimeLens2 trains)
        if "start" in solution or "end" in solution:
            raise _Problem('give "solution.start"/"end" (one span) or "solution.spans" (several), not both')
        spans = _span_list(solution["spans"], "solution.spans", problems, "span ")
        if not spans:
            raise _Problem('field "solution.spans" is empty; give at least one [start, end] pair')
        return {"query": query}, {"spans": spans}, [e for _, e in spans]
    start = _number_field(solution, "start", "solution.start")
    end = _number_field(solution, "end", "solution.end")
    if start < 0:
        problems.append(f"start {_fmt(start)} is negative")
    if start > end:
        problems.append(f"start {_fmt(start)} > end {_fmt(end)}")
    return {"query": query}, {"start": start, "end": end}, [end]


def _check_qa(obj: dict, solution: dict, problems: list[str]) -> tuple[dict, dict, list[float]]:
    question = _text_field(obj, "question")
    options = obj.get("options")
    if "options" not in obj:
        raise _Problem('missing field "options"')
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
        raise _Problem('field "options" must be a list of at least 2 non-empty strings')
    if len(options) > MAX_OPTIONS:
        problems.append(f"{len(options)} options; at most {MAX_OPTIONS} (A-G) are supported")
    if "answer" not in solution:
        raise _Problem('missing field "solution.answer"')
    answer = solution["answer"]
    m = _LETTER.match(answer) if isinstance(answer, str) else None
    last = chr(ord("A") + min(len(options), 26) - 1)
    if m is None or m.group(1) > last:
        raise _Problem(f'field "solution.answer" must be an option letter A-{last} (got {json.dumps(answer)})')
    normalized: dict = {"answer": m.group(1)}
    times: list[float] = []
    if solution.get("evidence") is not None:
        spans = _span_list(solution["evidence"], "solution.evidence", problems, "evidence ")
        times += [e for _, e in spans]
        normalized["evidence"] = spans
    return {"question": question, "options": list(options)}, normalized, times


def _check_track(obj: dict, solution: dict, problems: list[str]) -> tuple[dict, dict, list[float]]:
    name = _text_field(obj, "object")
    if "boxes" not in solution:
        raise _Problem('missing field "solution.boxes"')
    boxes = solution["boxes"]
    shape = f'field "solution.boxes" must be a list of {TRACK_BOXES} boxes [x0, y0, x1, y1]'
    if not isinstance(boxes, list):
        raise _Problem(shape)
    if len(boxes) != TRACK_BOXES:
        raise _Problem(f"{shape} (got {len(boxes)} boxes)")
    normalized = []
    for i, box in enumerate(boxes, 1):
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            raise _Problem(f"{shape} (box {i} is {json.dumps(box)})")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
            problems.append(f"box {i} {json.dumps(box)} is not within [0, 1] (coordinates are normalized)")
        elif x0 > x1 or y0 > y1:
            problems.append(f"box {i} {json.dumps(box)} has x0 > x1 or y0 > y1")
        normalized.append([x0, y0, x1, y1])
    return {"object": name}, {"boxes": normalized}, []


_CHECKS: dict[str, Callable[[dict, dict, list[str]], tuple[dict, dict, list[float]]]] = {
    "ground": _check_ground,
    "qa": _check_qa,
    "track": _check_track,
}


class _Durations:
    """Probe each video once (duration in seconds, or the reason it cannot be used)."""

    def __init__(self) -> None:
        self._cache: dict[Path, float | str] = {}

    def tracking(self, path: Path) -> str | None:
        """Why the paper's 7 tracking frames of a frame folder cannot be read (None: they can).

        The same pick as training and evaluation (`vcr_cli.sampling.tracking_frame_indices`); only the image
        headers are read, so a GOT-10k-sized file validates quickly.
        """
        if not path.is_dir():
            return None
        from PIL import Image, UnidentifiedImageError

        from vcr_cli.sampling import tracking_frame_indices
        from vcr_cli.video import IMAGE_SUFFIXES

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            return None  # `get` reports the empty folder
        for rank, index in enumerate(tracking_frame_indices(len(files)), 1):
            try:
                with Image.open(files[index]) as image:
                    image.size  # noqa: B018 (the header is parsed on open)
            except (OSError, UnidentifiedImageError):
                return (f"tracking frame {rank} of 7 ({files[index].name}, frame {index + 1} of {len(files)}) "
                        "is not a readable image")
        return None

    def get(self, path: Path) -> float | str:
        if path not in self._cache:
            from vcr_cli.errors import BadVideoError
            from vcr_cli.video import probe

            try:
                self._cache[path] = probe(path).duration
            except BadVideoError as exc:
                self._cache[path] = str(exc)
        return self._cache[path]


def _check_line(obj: Any, line: int, data_dir: Path, durations: _Durations | None,
                require_output: bool) -> tuple[Example | None, list[str]]:
    """(Example or None, problems) for one parsed JSON value."""
    problems: list[str] = []
    try:
        if not isinstance(obj, dict):
            raise _Problem(f"expected a JSON object, got {type(obj).__name__}")
        task = obj.get("task")
        if "task" not in obj:
            raise _Problem('missing field "task"')
        if not isinstance(task, str):
            raise _Problem('field "task" must be a string')
        if task not in TASKS:
            raise _Problem(f'unknown task {json.dumps(task)} (expected ground, qa or track)')
        video = resolve_video(_text_field(obj, "video"), data_dir)
        if "solution" not in obj:
            raise _Problem('missing field "solution"')
        if not isinstance(obj["solution"], dict):
            raise _Problem('field "solution" must be an object')
        fields, solution, times = _CHECKS[task](obj, obj["solution"], problems)
        output = obj.get("output")
        if require_output and "output" not in obj:
            problems.append('missing field "output" (the model\'s raw text)')
        elif "output" in obj and not isinstance(output, str):
            problems.append('field "output" must be a string')
            output = None
    except _Problem as exc:
        return None, [*problems, str(exc)]

    if durations is not None:
        duration = durations.get(video)
        if isinstance(duration, str):
            problems.append(duration)
        elif times and max(times) > duration + TIME_TOLERANCE_S:
            problems.append(f"time {_fmt(max(times))} s is beyond the end of the video ({duration:.2f} s)")
        elif task == "track" and (problem := durations.tracking(video)) is not None:
            problems.append(problem)
    example = Example(task=task, video=video, line=line, solution=solution, raw=obj, output=output, **fields)
    return (None if problems else example), problems


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise UsageError(f"data file not found: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a JSONL file")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text (expected JSONL)") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _iter_checked(path: str | Path, check_videos: bool, require_output: bool, stop_at_first: bool):
    """Yield (line number, Example or None, problems) for each non-blank line."""
    path = Path(path)
    durations = _Durations() if check_videos else None
    for number, text in enumerate(_read_lines(path), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, None, [f"bad JSON: {exc.msg} (column {exc.colno})"]
            continue
        example, problems = _check_line(obj, number, path.parent, durations, require_output)
        yield number, example, problems
        if problems and stop_at_first:
            return


def check_file(path: str | Path, check_videos: bool = True,
               require_output: bool = False) -> tuple[list[Example], list[str]]:
    """(the good examples, every problem as ``FILE:LINE: message``); UsageError if the file cannot be read."""
    examples: list[Example] = []
    problems: list[str] = []
    seen = 0
    for number, example, line_problems in _iter_checked(path, check_videos, require_output, stop_at_first=False):
        seen += 1
        problems.extend(f"{path}:{number}: {message}" for message in line_problems)
        if example is not None:
            examples.append(example)
    if not seen:
        problems.append(f"{path}: no examples (the file is empty)")
    return examples, problems


def validate_file(path: str | Path, check_videos: bool = True, require_output: bool = False) -> list[str]:
    """Every problem in a data file, one ``FILE:LINE: message`` string each (empty list: the file is fine).

    Raises UsageError when the file itself cannot be read.
    """
    return check_file(path, check_videos, require_output)[1]


def load_examples(path: str | Path, check_videos: bool = True, require_output: bool = False) -> list[Example]:
    """All examples of a data file; UsageError ``FILE:LINE: message`` at the first bad line."""
    examples = []
    for number, example, problems in _iter_checked(path, check_videos, require_output, stop_at_first=True):
        if problems:
            check = f"vcr rft validate --predictions --no-check-videos {path}" if require_output else \
                f"vcr rft validate {path}"
            raise UsageError(f"{path}:{number}: {problems[0]} (check the whole file with `{check}`)")
        examples.append(example)
    if not examples:
        raise UsageError(f"{path}: no examples (the file is empty)")
    return examples


def example_fields(example: Example) -> dict[str, Any]:
    """What a task's prompt is filled with: ground `query`; qa `question`, `options`; track `object` and `box`
    (the first box, the start given to the model)."""
    if example.task == "ground":
        return {"query": example.query or ""}
    if example.task == "qa":
        return {"question": example.question or "", "options": example.options or []}
    if example.task == "track":
        return {"object": example.object or "", "box": example.solution["boxes"][0]}
    raise UsageError(f"unknown task {example.task!r}")


def example_prompt(example: Example, think: bool = True, evaluation: bool = False,
                   family: Family | None = None) -> tuple[str, str]:
    """(template name, prompt text) for an example, as the model family (default VideoChat-R1) was trained (or,
    `evaluation`, evaluated): `Family.train_prompt`.

    VideoChat-R1: ground training lower-cases the query and removes one trailing period; the paper's evaluation
    asks with the raw sentence (reference §2.1), so `evaluation=True` keeps it as written. qa: the grounded-QA
    template with the <glue> evidence request; track: the training template with the first box as start.
    """
    if family is None:
        from vcr_cli.checkpoints import default_family

        family = default_family()
    return family.train_prompt(example.task, evaluation=evaluation, think=think, **example_fields(example))


def count_tasks(examples: list[Example]) -> dict[str, int]:
    """{task: count} in TASKS order, only tasks present."""
    counts = {task: 0 for task in TASKS}
    for example in examples:
        counts[example.task] += 1
    return {task: n for task, n in counts.items() if n}
