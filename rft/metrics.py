"""Scores as the VideoChat-R1 evaluation computes them (strict parsing), in percent like the paper.

- ground: per example ``iou = max(IoU, 0)`` of the span parsed by `parse_ground_strict` (0 when nothing
  parses); ``miou`` = mean IoU, ``r@k`` = fraction with ``iou >= k``. A line annotated with several spans
  (``solution.spans``) scores the parsed span with TimeLens2's span IoU against them (`temporal_iou_multi`).
- qa: ``accuracy`` = the first A-G letter of the <answer> block equals the solution's letter;
  ``evidence_miou`` = multi-interval IoU of the strict <glue> against the evidence (0 if missing or invalid),
  over the examples that have evidence (null when none has).
- track: ``overlap`` = mean over examples of the mean IoU of the 8 boxes (0 when the answer is not 8 x 4).

Only tasks present in the rows appear under ``"tasks"``.

Grounding is also scored under each named protocol (``"protocols"``, present when there are ground rows), so a
number can stand next to the table that used it; each reports count, mIoU, R@0.3/0.5/0.7 and parse failures:

- ``videochat-r1``: the paper's evaluation, the numbers of ``tasks.ground``: strict parsing (the last
  "s to e"/"s and e", `parse_ground_strict`), which reads one span, so its multi-interval IoU is the span's IoU.
- ``timelens``: TimeLens's (also TimeLens2's Charades-TimeLens evaluation): TimeLens's `extract_time`
  (`vcr_cli.families.timelens`) on the whole text, the **first** pair only, IoU = overlap / (max end - min
  start); nothing parsed scores 0. Not rounded to whole seconds (TimeLens's own script rounds; TimeLens2's does
  not).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from vcr_cli.families import timelens
from vcr_cli.parsing import (
    box_iou,
    extract_letter,
    parse_glue_strict,
    parse_ground_strict,
    parse_letter_strict,
    parse_track_strict,
    temporal_iou,
)

if TYPE_CHECKING:
    from rich.table import Table

RECALL_THRESHOLDS = (0.3, 0.5, 0.7)
_DIGITS = 4
PROTOCOLS: dict[str, str] = {  # name -> its rule, printed under the tables
    "videochat-r1": "VideoChat-R1's: strict, the last 's to e'; unparsed 0",
    "timelens": "TimeLens's: extract_time, the first span; unparsed 0",
}


def merge_intervals(spans: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """Sort by start and merge spans that touch or overlap (``start <= previous end``)."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def multi_interval_iou(a: Iterable[Sequence[float]], b: Iterable[Sequence[float]]) -> float:
    """IoU of two sets of [start, end] spans (VideoChat-R1's glue IoU).

    Each set is merged first; the intersection is a two-pointer sweep over both; IoU is
    ``inter / (len_a + len_b - inter)``, and 1.0 when that union is 0 (e.g. both empty).
    """
    x, y = merge_intervals(a), merge_intervals(b)
    inter = 0.0
    i = j = 0
    while i < len(x) and j < len(y):
        lo, hi = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if lo < hi:
            inter += hi - lo
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in x) + sum(e - s for s, e in y) - inter
    return inter / union if union > 0 else 1.0


def mean_box_iou(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]]) -> float:
    """Mean IoU over paired boxes (VideoChat-R1's average_overlap); 0.0 for no pairs."""
    pairs = list(zip(pred, gt))
    if not pairs:
        return 0.0
    return sum(box_iou(list(p), list(g)) for p, g in pairs) / len(pairs)


def _field(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row.get(name)
    return getattr(row, name, None)


def _solution(row: Any) -> dict:
    solution = _field(row, "solution")
    if isinstance(solution, str):
        solution = json.loads(solution)
    return solution or {}


def ground_truth_spans(solution: dict) -> list[tuple[float, float]]:
    """A ground line's annotated spans: ``solution.spans``, else its one ``start``/``end``."""
    if "spans" in solution:
        return [(float(s), float(e)) for s, e in solution["spans"]]
    return [(float(solution["start"]), float(solution["end"]))]


def temporal_iou_multi(pred: Iterable[Sequence[float]], gt: Iterable[Sequence[float]]) -> float:
    """TimeLens2's ``tiou``: the prediction merged, the GT as given (not merged); the sum of the pairwise
    overlaps over ``|P| + |G| - overlap``. For one span each this is the plain IoU."""
    merged = merge_intervals(pred)
    spans = [(float(s), float(e)) for s, e in gt]
    overlap = sum(max(0.0, min(pe, ge) - max(ps, gs)) for ps, pe in merged for gs, ge in spans)
    union = sum(e - s for s, e in merged) + sum(e - s for s, e in spans) - overlap
    return overlap / union if union > 0 else 0.0


def ground_prediction(protocol: str, output: str | None) -> tuple[float, float] | None:
    """The span a grounding protocol scores (None: nothing parsed, which scores 0)."""
    text = output or ""
    if protocol == "videochat-r1":
        return parse_ground_strict(text)
    if protocol == "timelens":
        spans = timelens.parse_ground(text, strict=True)  # extract_time, pairs as written
        return spans[0] if spans else None
    raise ValueError(f"unknown protocol {protocol!r}")


def ground_iou(protocol: str, solution: dict, output: str | None) -> float:
    """One grounding example's IoU under `protocol` (0 when nothing parses)."""
    span = ground_prediction(protocol, output)
    if span is None:
        return 0.0
    if "spans" in solution:  # several annotated spans: TimeLens2's span IoU of the one scored prediction
        return temporal_iou_multi([span], ground_truth_spans(solution))
    return max(temporal_iou(span, (float(solution["start"]), float(solution["end"]))), 0.0)


def score_example(task: str, solution: dict, output: str | None) -> dict:
    """Per-example scores (fractions, not percent) with strict parsing; what `score_predictions` averages."""
    text = output or ""
    if task == "ground":
        span = ground_prediction("videochat-r1", text)
        return {"prediction": list(span) if span is not None else None,
                "iou": ground_iou("videochat-r1", solution, text)}
    if task == "qa":
        letter = parse_letter_strict(text)
        result: dict = {"prediction": letter, "correct": letter is not None and letter == extract_letter(
            str(solution["answer"]))}
        evidence = solution.get("evidence")
        glue = parse_glue_strict(text)
        result["evidence"] = [list(span) for span in glue] if glue is not None else None
        if evidence is not None:
            result["evidence_iou"] = multi_interval_iou(glue, evidence) if glue is not None else 0.0
        return result
    if task == "track":
        boxes = parse_track_strict(text)
        overlap = mean_box_iou(boxes, solution["boxes"]) if boxes is not None else 0.0
        return {"prediction": boxes, "overlap": overlap}
    raise ValueError(f"unknown task {task!r}")


def _pct(values: list[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), _DIGITS) if values else None


def _ground_block(ious: list[float]) -> dict:
    block: dict = {"count": len(ious), "miou": _pct(ious)}
    for k in RECALL_THRESHOLDS:
        block[f"r@{k}"] = _pct([1.0 if iou >= k else 0.0 for iou in ious])
    return block


def score_predictions(rows: Iterable[Any]) -> dict:
    """Aggregate metrics for rows carrying ``task``, ``solution`` and ``output`` (dicts or `rft.data.Example`).

    Returns ``{"tasks": {"ground": {"count", "miou", "r@0.3", "r@0.5", "r@0.7"}, "qa": {"count", "accuracy",
    "evidence_miou"}, "track": {"count", "overlap"}}}`` in percent; only tasks present appear. With ground rows,
    also ``"protocols": {name: {"count", "miou", "r@0.3", "r@0.5", "r@0.7", "parse_failures"}}`` for each of
    `PROTOCOLS` (``parse_failures``: how many outputs that protocol could not read).
    """
    ious: list[float] = []
    correct: list[float] = []
    evidence: list[float] = []
    overlaps: list[float] = []
    by_protocol: dict[str, list[float]] = {name: [] for name in PROTOCOLS}
    failures: dict[str, int] = dict.fromkeys(PROTOCOLS, 0)
    for row in rows:
        task = _field(row, "task")
        solution, output = _solution(row), _field(row, "output")
        scores = score_example(task, solution, output)
        if task == "ground":
            ious.append(scores["iou"])
            for name in PROTOCOLS:
                by_protocol[name].append(ground_iou(name, solution, output))
                failures[name] += ground_prediction(name, output) is None
        elif task == "qa":
            correct.append(1.0 if scores["correct"] else 0.0)
            if "evidence_iou" in scores:
                evidence.append(scores["evidence_iou"])
        else:
            overlaps.append(scores["overlap"])
    tasks: dict[str, dict] = {}
    if ious:
        tasks["ground"] = _ground_block(ious)
    if correct:
        tasks["qa"] = {"count": len(correct), "accuracy": _pct(correct), "evidence_miou": _pct(evidence)}
    if overlaps:
        tasks["track"] = {"count": len(overlaps), "overlap": _pct(overlaps)}
    result: dict = {"tasks": tasks}
    if ious:
        result["protocols"] = {name: {**_ground_block(values), "parse_failures": failures[name]}
                               for name, values in by_protocol.items()}
    return result


_LABELS = {"miou": "mIoU", "r@0.3": "R@0.3", "r@0.5": "R@0.5", "r@0.7": "R@0.7", "accuracy": "accuracy",
           "evidence_miou": "evidence mIoU", "overlap": "overlap", "parse_failures": "parse failures (count)"}


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "–"
    return str(value) if key == "parse_failures" else f"{value:.2f}"


def render_table(metrics: dict) -> Table:
    """The metrics as a rich table: one row per (task, protocol, metric), values in percent.

    Ground rows come once per protocol when ``"protocols"`` is there (each named, its rule in the caption).
    """
    from rich.table import Table

    table = Table(title="scores (%)")
    for name, justify in (("task", "left"), ("protocol", "left"), ("count", "right"), ("metric", "left"),
                          ("value", "right")):
        table.add_column(name, justify=justify)
    blocks: list[tuple[str, str, dict]] = []
    for task, values in metrics.get("tasks", {}).items():
        if task == "ground" and metrics.get("protocols"):
            blocks += [(task, name, block) for name, block in metrics["protocols"].items()]
        else:
            blocks.append((task, "videochat-r1", values))
    for task, protocol, values in blocks:
        first = True
        for key, value in values.items():
            if key == "count":
                continue
            table.add_row(task if first else "", protocol if first else "",
                          str(values.get("count", "")) if first else "", _LABELS.get(key, key), _shown(key, value))
            first = False
    shown = dict.fromkeys(protocol for _, protocol, _ in blocks)
    table.caption_justify = "left"
    table.caption = "\n".join(f"{name}: {PROTOCOLS[name]}" for name in shown if name in PROTOCOLS)
    return table
