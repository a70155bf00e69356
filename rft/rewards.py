"""The VideoChat-R1 rewards, exactly as its training code computes them, with TRL's reward signature.

Each function is ``fn(completions, **kwargs) -> list[float | None]``: ``completions`` are plain strings or
conversational ``[{"role": "assistant", "content": ...}]`` lists; ``kwargs`` carry the dataset columns as
lists (``task``, ``solution``, optionally ``think``). A function returns ``None`` for samples of another
task (TRL turns it into NaN and ignores it), so one list of rewards serves multi-task data.

| name | task | value |
|---|---|---|
| ``ground_format`` | ground | 1 if ``text.strip()`` fullmatches ``<think>.*?</think>\\s*<answer>.*?</answer>`` |
| ``ground_iou`` | ground | temporal IoU of the last <answer>'s last "s to e" (training parser; 0 if none or s > e) |
| ``qa_format`` | qa | 1 if it fullmatches ``<think>…</think>\\s*<answer>…</answer>\\s*<glue>…</glue>``, glue valid |
| ``qa_answer`` | qa | 1 if the first A-G letter of the first <answer> equals the solution's letter |
| ``qa_glue_iou`` | qa | multi-interval IoU of the valid <glue> vs the evidence (0 if invalid; None if no evidence) |
| ``track_format`` | track | 1 if it fullmatches the think/answer regex and <answer> is a literal list of 8 lists of 4 |
| ``track_iou`` | track | mean IoU of the 8 boxes vs the solution's boxes; 0 on any parse failure |

TimeLens2's rewards (model-families.md §3; its GRPO sums ``twass1,tiou,parse_penalty`` with weight 1 each), on
ground samples, reading the answer with the strict grounding parser of the row's ``family`` column (`answer_spans`;
the first span only for a single-span family) or, without one, TimeLens2's (`vcr_cli.families.timelens2`: a JSON
``[[s, e], ...]``, optionally in <answer>, a ```json fence or any balanced ``[[...]]``); each pair ordered
``(min, max)``. An answer is valid when that gives at least one span and every ``s < e`` (so ``[[5, 3]]`` is read
as 3-5 and ``[[3, 3]]`` is invalid); the interval rewards are 0 for an invalid answer:

| name | task | value |
|---|---|---|
| ``tiou`` | ground | Σ pairwise overlaps of the merged prediction P with the GT spans G / (len P + len G − overlap) |
| ``twass1`` | ground | ``exp(−β·W1(P̂, Ĝ) / len merge(G))``, β = 1; P̂, Ĝ uniform on the merged spans; W1 exact |
| ``parse_penalty`` | ground | 0 for a valid answer, −1 otherwise |

The GT of a ground line is its one span ``solution.start/end``, or its ``solution.spans`` (every span the query
describes); `temporal_iou_multi` and `wasserstein_span_reward` take lists of spans. ``ground_iou`` on a line with
``spans`` (not in the paper) is `temporal_iou_multi` of the one predicted span against them.

Choices where the paper's code is undefined or inconsistent (documented, on purpose):
- ``ground_iou`` when the union is 0 (prediction and truth are the same instant): 1.0, as in ``grpo_tg.py``
  (``grpo_tasks.py`` leaves the value unassigned there).
- ``twass1`` when the GT has no length (start = end): 0.0 (W1 / 0 is undefined).
- Format rewards follow a ``think`` column when the dataset has one: for rows with ``think`` False the
  no-think regexes (``\\s*<answer>.*?</answer>`` and ``…\\s*<glue>.*?</glue>``) apply. Without the column
  (the paper's setting) thinking is required.

Users add their own reward as ``"module:function"`` (or ``"path/to/file.py:function"``) in the config.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rft.metrics import ground_truth_spans, mean_box_iou, merge_intervals, multi_interval_iou, temporal_iou_multi
from vcr_cli.errors import UsageError
from vcr_cli.families import GROUND, timelens2
from vcr_cli.families import get as get_family
from vcr_cli.parsing import (
    FORMAT_ANSWER,
    FORMAT_ANSWER_GLUE,
    FORMAT_THINK_ANSWER,
    FORMAT_THINK_ANSWER_GLUE,
    extract_letter,
    extract_tag,
    is_valid_glue,
    is_valid_track_list,
    parse_glue_strict,
    parse_ground_train,
    parse_letter_strict,
    parse_track_strict,
)

RewardFunc = Callable[..., list]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or a conversational list of messages (assistant content joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts: list[str] = []
    for message in completion or []:
        if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "".join(parts)


def _column(kwargs: dict, name: str, n: int) -> list:
    value = kwargs.get(name)
    if value is None:
        return [None] * n
    if isinstance(value, (str, dict, bool)):  # a scalar broadcast to every sample
        return [value] * n
    return list(value)


def _solution(value: Any) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value or {}


def _per_task(task: str, completions: Sequence, kwargs: dict, score: Callable[[str, dict, bool], float | None]):
    """Apply `score(text, solution, think)` to the samples of `task`; None for the others."""
    n = len(completions)
    tasks, solutions, thinks = _column(kwargs, "task", n), _column(kwargs, "solution", n), _column(kwargs, "think", n)
    rewards: list[float | None] = []
    for completion, row_task, solution, think in zip(completions, tasks, solutions, thinks):
        if row_task is not None and row_task != task:
            rewards.append(None)
            continue
        rewards.append(score(completion_text(completion), _solution(solution), think is not False))
    return rewards


# ---------------------------------------------------------------- ground


def _ground_format(text: str, solution: dict, think: bool) -> float:
    pattern = FORMAT_THINK_ANSWER if think else FORMAT_ANSWER
    return 1.0 if pattern.fullmatch(text.strip()) else 0.0


def _ground_iou(text: str, solution: dict, think: bool) -> float:
    span = parse_ground_train(text)
    if span is None:
        return 0.0
    if "spans" in solution:  # several GT spans (not in the paper): TimeLens2's span IoU of the one predicted
        return temporal_iou_multi([span], ground_truth_spans(solution))
    (ps, pe), (gs, ge) = span, (float(solution["start"]), float(solution["end"]))
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = max(pe, ge) - min(ps, gs)
    if union <= 0:  # both spans are the same instant (grpo_tg.py's choice)
        return 1.0
    return inter / union


def ground_format(completions: Sequence, **kwargs) -> list[float | None]:
    """1.0 when the whole answer is ``<think>…</think> <answer>…</answer>`` (ground samples only)."""
    return _per_task("ground", completions, kwargs, _ground_format)


def ground_iou(completions: Sequence, **kwargs) -> list[float | None]:
    """Temporal IoU of the predicted span with ``solution.start/end`` (ground samples only)."""
    return _per_task("ground", completions, kwargs, _ground_iou)


# ---------------------------------------------------------------- qa


def _qa_format(text: str, solution: dict, think: bool) -> float:
    pattern = FORMAT_THINK_ANSWER_GLUE if think else FORMAT_ANSWER_GLUE
    if not pattern.fullmatch(text.strip()):
        return 0.0
    glue = extract_tag(text, "glue")
    return 1.0 if glue is not None and is_valid_glue(glue) else 0.0


def _qa_answer(text: str, solution: dict, think: bool) -> float:
    letter = parse_letter_strict(text)
    return 1.0 if letter is not None and letter == extract_letter(str(solution.get("answer", ""))) else 0.0


def _qa_glue_iou(text: str, solution: dict, think: bool) -> float | None:
    evidence = solution.get("evidence")
    if evidence is None:
        return None
    glue = parse_glue_strict(text)
    return multi_interval_iou(glue, evidence) if glue is not None else 0.0


def qa_format(completions: Sequence, **kwargs) -> list[float | None]:
    """1.0 for ``<think>…</think> <answer>…</answer> <glue>…</glue>`` with a valid ``[(s, e), …]`` glue."""
    return _per_task("qa", completions, kwargs, _qa_format)


def qa_answer(completions: Sequence, **kwargs) -> list[float | None]:
    """1.0 when the answered letter is the solution's letter (qa samples only)."""
    return _per_task("qa", completions, kwargs, _qa_answer)


def qa_glue_iou(completions: Sequence, **kwargs) -> list[float | None]:
    """Multi-interval IoU of the <glue> evidence with ``solution.evidence`` (qa samples that have evidence)."""
    return _per_task("qa", completions, kwargs, _qa_glue_iou)


# ---------------------------------------------------------------- track


def _track_format(text: str, solution: dict, think: bool) -> float:
    pattern = FORMAT_THINK_ANSWER if think else FORMAT_ANSWER
    if not pattern.fullmatch(text.strip()):
        return 0.0
    answer = extract_tag(text, "answer")
    return 1.0 if answer is not None and is_valid_track_list(answer) else 0.0


def _track_iou(text: str, solution: dict, think: bool) -> float:
    try:
        boxes = parse_track_strict(text)
        return mean_box_iou(boxes, solution["boxes"]) if boxes is not None else 0.0
    except Exception:  # the paper's reward: any failure scores 0
        return 0.0


def track_format(completions: Sequence, **kwargs) -> list[float | None]:
    """1.0 for ``<think>…</think> <answer>[8 lists of 4]</answer>`` (track samples only)."""
    return _per_task("track", completions, kwargs, _track_format)


def track_iou(completions: Sequence, **kwargs) -> list[float | None]:
    """Mean IoU of the 8 predicted boxes with ``solution.boxes`` (track samples only)."""
    return _per_task("track", completions, kwargs, _track_iou)


# ---------------------------------------------------------------- TimeLens2 (multi-span grounding)

Spans = list[tuple[float, float]]
TWASS1_BETA = 1.0


def _cdf(spans: list[tuple[float, float]], length: float, t: float) -> float:
    """CDF at `t` of the uniform density on the (merged, disjoint) `spans` of total `length`."""
    return sum(min(max(t - s, 0.0), e - s) for s, e in spans) / length


def wasserstein_1(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """Exact W1 between the uniform densities on the merged spans of `a` and of `b`: the integral of
    |F_a - F_b|, both CDFs linear between consecutive endpoints (a sign change inside a piece is integrated
    as two triangles). 0.0 if either has no length."""
    x, y = merge_intervals(a), merge_intervals(b)
    len_x, len_y = sum(e - s for s, e in x), sum(e - s for s, e in y)
    if len_x <= 0 or len_y <= 0:
        return 0.0
    points = sorted({v for span in (*x, *y) for v in span})
    total = 0.0
    for lo, hi in zip(points, points[1:]):
        u = _cdf(x, len_x, lo) - _cdf(y, len_y, lo)
        v = _cdf(x, len_x, hi) - _cdf(y, len_y, hi)
        if u * v >= 0:
            total += (abs(u) + abs(v)) / 2 * (hi - lo)
        else:
            total += (u * u + v * v) / (2 * (abs(u) + abs(v))) * (hi - lo)
    return total


def wasserstein_span_reward(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]],
                            beta: float = TWASS1_BETA) -> float:
    """TimeLens2's ``twass1``: ``exp(-beta * W1 / |merge(gt)|)``; 0.0 when the GT has no length."""
    gt_length = sum(e - s for s, e in merge_intervals(gt))
    if gt_length <= 0:
        return 0.0
    return math.exp(-beta * wasserstein_1(pred, gt) / gt_length)


def answer_spans(text: str, family: str | None = None) -> Spans | None:
    """The answer's spans, read by the row's model family's grounding parser (strict; default TimeLens2's JSON
    spans), when TimeLens2's validity rule holds (non-empty, every s < e), else None. A single-span family (e.g.
    TimeLens-8B, whose RL rewards the first span) gives its first span only."""
    reader = get_family(family) if family else timelens2.FAMILY
    spans = [(min(s, e), max(s, e)) for s, e in reader.parse(GROUND, text, strict=True)]
    if not reader.capabilities.multi_span:
        spans = spans[:1]
    return spans if timelens2.is_valid(spans) else None


def _per_answer(completions: Sequence, kwargs: dict, score: Callable[[Spans | None, dict], float]):
    """Apply `score(answer spans or None, solution)` to the ground samples, each read by its row's family."""
    n = len(completions)
    rows = zip(completions, _column(kwargs, "task", n), _column(kwargs, "solution", n), _column(kwargs, "family", n))
    return [None if task not in (None, "ground") else
            score(answer_spans(completion_text(completion), family), _solution(solution))
            for completion, task, solution, family in rows]


def tiou(completions: Sequence, **kwargs) -> list[float | None]:
    """TimeLens2's span IoU of the answer with ``solution.start/end`` (0 when the answer is invalid)."""
    return _per_answer(completions, kwargs, lambda spans, solution: 0.0 if spans is None else
                       temporal_iou_multi(spans, ground_truth_spans(solution)))


def twass1(completions: Sequence, **kwargs) -> list[float | None]:
    """TimeLens2's Wasserstein span reward, β = 1 (0 when the answer is invalid)."""
    return _per_answer(completions, kwargs, lambda spans, solution: 0.0 if spans is None else
                       wasserstein_span_reward(spans, ground_truth_spans(solution)))


def parse_penalty(completions: Sequence, **kwargs) -> list[float | None]:
    """0 when the answer parses as valid spans (TimeLens2's rule), -1 otherwise."""
    return _per_answer(completions, kwargs, lambda spans, solution: 0.0 if spans is not None else -1.0)


# ---------------------------------------------------------------- registry

REWARDS: dict[str, RewardFunc] = {
    "ground_format": ground_format,
    "ground_iou": ground_iou,
    "qa_format": qa_format,
    "qa_answer": qa_answer,
    "qa_glue_iou": qa_glue_iou,
    "track_format": track_format,
    "track_iou": track_iou,
    "tiou": tiou,
    "twass1": twass1,
    "parse_penalty": parse_penalty,
}
# The paper's seven, the default when a config names none; each name starts with its task.
DEFAULT_REWARDS: list[str] = ["ground_format", "ground_iou", "qa_format", "qa_answer", "qa_glue_iou",
                              "track_format", "track_iou"]
TIMELENS2_REWARDS: list[str] = ["twass1", "tiou", "parse_penalty"]  # TimeLens2's GRPO spec, in its order
REWARD_TASKS: dict[str, str] = {**{name: name.split("_", 1)[0] for name in DEFAULT_REWARDS},
                                **{name: "ground" for name in TIMELENS2_REWARDS}}  # reward name -> its task


def rewards_for_tasks(tasks: Iterable[str]) -> list[str]:
    """The built-in reward names for the given tasks, in DEFAULT_REWARDS order (e.g. only ground's two)."""
    wanted = set(tasks)
    return [name for name in DEFAULT_REWARDS if REWARD_TASKS[name] in wanted]


def _import_module(module_name: str):
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser()
        if not path.is_file():
            raise UsageError(f"reward file not found: {path}")
        spec = importlib.util.spec_from_file_location(f"vcr_user_reward_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import reward file {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    # `vcr` is a console script, so the current folder is not on sys.path as it is for `python -m rft.train`:
    # look there first, the same way for both.
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(cwd)


def resolve_reward(name: str | Callable) -> RewardFunc:
    """A registered reward name, ``"module:function"``, ``"path/file.py:function"``, or a callable as is."""
    if callable(name):
        return name
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"bad reward {name!r}: give a name ({', '.join(REWARDS)}) or 'module:function'")
    name = name.strip()
    if name in REWARDS:
        return REWARDS[name]
    if ":" not in name:
        raise UsageError(f"unknown reward {name!r}: use one of {', '.join(REWARDS)}, or 'module:function' "
                         "for your own")
    module_name, _, func_name = name.rpartition(":")
    try:
        module = _import_module(module_name)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"cannot import reward module {module_name!r} ({type(exc).__name__}: {exc})") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise UsageError(f"reward module {module_name!r} has no function {func_name!r}")
    if not callable(func):
        raise UsageError(f"reward {name!r} is not callable")
    return func


def build_rewards(names: Sequence[str | Callable] | None = None,
                  weights: Sequence[float] | dict[str, float] | None = None) -> tuple[list[RewardFunc], list[float]]:
    """(functions, weights) for TRL: names default to all built-ins, weights to 1.0 each.

    `weights` is a list parallel to `names` or a ``{name: weight}`` dict (unlisted names weigh 1.0).
    """
    names = list(DEFAULT_REWARDS if names is None else names)
    if not names:
        raise UsageError("no reward functions: list at least one (e.g. ground_iou)")
    funcs = [resolve_reward(name) for name in names]
    if weights is None:
        values = [1.0] * len(names)
    elif isinstance(weights, dict):
        unknown = [key for key in weights if key not in names]
        if unknown:
            raise UsageError(f"reward weights for rewards not in use: {', '.join(map(str, unknown))} "
                             f"(rewards: {', '.join(map(str, names))})")
        values = [weights.get(name, 1.0) if isinstance(name, str) else 1.0 for name in names]
    else:
        values = list(weights)
        if len(values) != len(names):
            raise UsageError(f"{len(values)} reward weights for {len(names)} rewards; give one weight per reward")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"reward weight {value!r} is not a number")
    return funcs, [float(v) for v in values]
