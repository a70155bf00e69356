"""Temporal grounding: when does an event happen? The Python API behind `vcr ground`."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.families import GROUND
from vcr_cli.parsing import extract_think
from vcr_cli.results import base_result, clamp_time, header, sampling_dict
from vcr_cli.scoring import (
    SAMPLE_AGREEMENT,
    TOKEN_PROBABILITY,
    agreement,
    answer_confidence,
    samples_record,
    spans_agree,
)

if TYPE_CHECKING:
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo, VideoInfo


def to_video_time(span: tuple[float, float], offset: float, length: float, duration: float) -> tuple[float, float]:
    """Model seconds (0 = first frame it saw) -> whole-video seconds, ordered and inside the window and video."""
    lo, hi = max(0.0, offset), min(duration, offset + length)
    start, end = sorted(float(t) for t in span)
    start = clamp_time(min(max(offset + start, lo), hi), duration)
    end = clamp_time(min(max(offset + end, lo), hi), duration)
    return start, end


def ground_span(
    runtime: Runtime,
    video: SampledVideo,
    query: str,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """One model pass over a sampled video (or window): the raw answer and its segments in whole-video seconds.

    Asked and read the way the model family was trained (`runtime.family`: its grounding prompt, layout and
    parser); families that answer several spans (`capabilities.multi_span`) keep them all, the others the first.
    The model's times are relative to the first sampled frame's span (0 at the window start);
    they are shifted by the window offset and clamped to the window. Each segment's `score` is the probability of
    the tokens writing the answer's numbers, or with `samples` K > 0 the share of K answers drawn at temperature 1
    (same vision-tower pass) with a span whose temporal IoU with it is >= 0.5 (`token_score` keeps the other).
    """
    family = runtime.family
    template, prompt = family.render(GROUND, query=query, think=think)
    layout = family.layout(GROUND)
    max_new_tokens = runtime.new_token_budget(max_new_tokens)
    if samples:
        generation, drawn = runtime.answer_and_sample(prompt, video, samples, max_new_tokens=max_new_tokens,
                                                      seed=seed, layout=layout)
    else:
        generation, drawn = runtime.generate_scored(prompt, video, max_new_tokens=max_new_tokens, layout=layout), []

    def locate(text: str) -> tuple[list[dict], bool]:
        spans = family.parse(GROUND, text, strict)
        spans = spans if family.capabilities.multi_span else spans[:1]
        segments = []
        for span in spans:
            start, end = to_video_time(span, video.offset, video.span_seconds, video.info.duration)
            # a span wholly past the window's end (or before its start) clamps to a point: nothing to show there
            if end - start < 1e-3 < abs(span[1] - span[0]):
                continue
            segments.append({"start": start, "end": end})
        return segments, bool(spans) and not segments

    segments, outside = locate(generation.text)
    if segments:
        confidence = answer_confidence(runtime, generation, "numbers")
        for segment in segments:
            segment["score"] = round(confidence, 4) if confidence is not None else None
    record = None
    if samples:
        located = [locate(g.text)[0] for g in drawn]
        spans = [[(s["start"], s["end"]) for s in found] or None for found in located]

        def overlaps(span, found) -> bool:
            return any(spans_agree(span, other) for other in found)

        shares = [agreement((s["start"], s["end"]), spans, overlaps) for s in segments]
        record = samples_record(samples, seed, "a span with temporal IoU >= 0.5 with the reported segment",
                                [{"raw": g.text, "segment": found[0] if found else None}
                                 | ({"segments": found} if len(found) > 1 else {})
                                 for g, found in zip(drawn, located)],
                                agreeing=round(shares[0] * samples) if shares else 0)
        for segment, share in zip(segments, shares):
            segment["token_score"], segment["score"] = segment["score"], round(share, 4)
    return {"template": template, "raw": generation.text, "thinking": extract_think(generation.text),
            "segments": segments, "segment": segments[0] if segments else None, "outside": outside,
            "layout": layout, "prompt_tokens": generation.prompt_tokens, "new_tokens": generation.new_tokens,
            "seconds": generation.seconds, "samples": record}


def ground(
    runtime: Runtime,
    video: SampledVideo,
    query: str,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Ask the model for the event's span(s); times are seconds of the original video, clamped.

    `strict` uses VideoChat-R1's evaluation parser (for metrics); the default lenient parser also
    accepts `1.5 - 3.2`, `[1.5, 3.2]` and similar. Unparseable answers give status "unparsed"; a span that lies
    wholly outside the video gives "outside_video" (no zero-length segment at the end). `samples` K > 0 scores
    the answer by agreement with K answers drawn at temperature 1 (see `vcr_cli.scoring`).
    """
    one = ground_span(runtime, video, query, think=think, strict=strict, max_new_tokens=max_new_tokens,
                      samples=samples, seed=seed)
    segments = one["segments"]
    result = base_result("ground", runtime, video)
    result.update(
        {
            "query": query,
            "status": "ok" if segments else ("outside_video" if one["outside"] else "unparsed"),
            "segments": segments,
            "score_method": SAMPLE_AGREEMENT if samples else TOKEN_PROBABILITY,
            "raw": one["raw"],
            "thinking": one["thinking"],
            "prompt_template": one["template"],
            "layout": one["layout"],
            "parser": "strict" if strict else "lenient",
            "tokens": {"prompt": one["prompt_tokens"], "generated": one["new_tokens"]},
            "timings_s": {"generate": round(one["seconds"], 3)},
        }
    )
    if samples:
        result["samples"] = one["samples"]
    return result


def apply_min_score(result: dict, min_score: float) -> dict:
    """Drop segments scoring under `min_score` (status "below_min_score" if that removed any)."""
    kept = [s for s in result["segments"] if (s.get("score") or 0.0) >= min_score]
    if len(kept) < len(result["segments"]):
        result["segments"], result["status"] = kept, "below_min_score"
    return result


def ground_windows(
    runtime: Runtime,
    path: str | Path,
    info: VideoInfo,
    query: str,
    sampling: SamplingOptions,
    window_s: float,
    overlap_s: float | None = None,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    all_segments: bool = False,
    min_score: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Ground window by window (each sampled like a whole video), map answers to whole-video time, merge.

    Only one window's frames are held at a time (plus the next one, decoded in a thread while the
    model answers), so memory stays flat however long the video is. `overlap_s` None: a sixth of the window
    (`windows.default_overlap`). With `samples` K > 0 each window's answer is scored by agreement with K answers
    drawn about that window, and windows are ranked by that score.
    """
    from vcr_cli.video import sample_span
    from vcr_cli.windows import default_overlap, merge_segments, plan_windows, shared_seconds

    overlap_s = default_overlap(window_s) if overlap_s is None else overlap_s
    windows = plan_windows(info.frames, info.fps, window_s, overlap_s)

    def decode(w):
        return sample_span(path, info, w.start_frame, w.end_frame, fps=sampling.fps, max_frames=sampling.max_frames,
                           max_pixels=sampling.max_pixels, rule=runtime.family.sampling_for(GROUND))

    answers, candidates = [], []
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(decode, windows[0])
        for k, window in enumerate(windows):
            video = pending.result()
            if k + 1 < len(windows):
                pending = pool.submit(decode, windows[k + 1])
            one = ground_span(runtime, video, query, think=think, strict=strict, max_new_tokens=max_new_tokens,
                              samples=samples, seed=seed + k)
            answers.append({"window": k, "start": round(window.start, 3), "end": round(window.end, 3),
                            "sampling": sampling_dict(video), "raw": one["raw"], "segment": one["segment"],
                            "outside": one["outside"], "seconds": round(one["seconds"], 3)})
            if len(one["segments"]) > 1:
                answers[-1]["segments"] = one["segments"]
            if samples:
                answers[-1]["samples"] = one["samples"]
            for segment in one["segments"]:
                seg = dict(segment, window=k)
                seg["score"] = seg["score"] if seg["score"] is not None else 0.0
                candidates.append(seg)
            del video
            if progress:
                progress(k + 1, len(windows))
    merged = merge_segments(candidates)
    kept = [s for s in merged if s["score"] >= min_score]
    segments = kept if all_segments else kept[:1]
    first = answers[0]
    result = header("ground", runtime, info, first["sampling"])
    result.update({
        "query": query,
        "status": "ok" if segments else ("below_min_score" if candidates else
                                         "outside_video" if any(a["outside"] for a in answers) else "unparsed"),
        "segments": segments,
        "score_method": SAMPLE_AGREEMENT if samples else TOKEN_PROBABILITY,
        "raw": first["raw"] if len(answers) == 1 else [a["raw"] for a in answers],
        "thinking": extract_think(first["raw"]) if len(answers) == 1 else None,
        "prompt_template": runtime.family.render(GROUND, query=query, think=think)[0],
        "layout": runtime.family.layout(GROUND),
        "parser": "strict" if strict else "lenient",
        "windows": {"length_s": window_s, "overlap_s": shared_seconds(windows), "overlap_asked_s": overlap_s,
                    "count": len(windows), "answers": answers},
        "timings_s": {"windows": round(time.perf_counter() - started, 3)},
    })
    return result


def ground_video(
    runtime: Runtime,
    path: str | Path,
    query: str,
    *,
    info: VideoInfo | None = None,
    sampling: SamplingOptions | None = None,
    window_s: float | None = None,
    overlap_s: float | None = None,
    video: SampledVideo | None = None,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    all_segments: bool = False,
    min_score: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Ground a video file as `vcr ground` does: the whole video in one pass up to 384 s (as the paper samples it),
    windows beyond, or windows of `window_s` when given (`windows.choose_windowing`); `result["windowing"]` says
    which applied and why.

    `video` is the whole video already sampled (by `sampling`), when the caller decoded it ahead; it is used only
    for a one-pass video. ValueError if an asked `overlap_s` is more than half the window. `samples` K > 0: scores
    by agreement of K temperature-1 draws (see `vcr_cli.scoring`), `seed` makes them repeatable.
    """
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.video import probe, sample_video
    from vcr_cli.windows import choose_windowing

    info = info or probe(path)
    sampling = sampling or SamplingOptions()
    windowing = choose_windowing(info.duration, window_s, overlap_s)
    if windowing.whole:
        if video is None:
            video = sample_video(path, fps=sampling.fps, max_frames=sampling.max_frames,
                                 max_pixels=sampling.max_pixels, info=info, rule=runtime.family.sampling_for(GROUND))
        result = ground(runtime, video, query, think=think, strict=strict, max_new_tokens=max_new_tokens,
                        samples=samples, seed=seed)
        apply_min_score(result, min_score)
    else:
        result = ground_windows(runtime, path, info, query, sampling, windowing.window_s, windowing.overlap_s,
                                think=think, strict=strict, max_new_tokens=max_new_tokens,
                                all_segments=all_segments, min_score=min_score, progress=progress,
                                samples=samples, seed=seed)
    result["windowing"] = windowing.to_dict()
    return result


def segment_drawer(query: str, duration: float, segments: list[dict]):
    """A draw function for annotate_video: timeline, query caption, highlight inside a segment."""
    from vcr_cli.annotate import timeline_drawer

    spans = [(s["start"], s["end"], f"{s['start']:.2f}-{s['end']:.2f}s") for s in segments]
    return timeline_drawer(duration, spans, f'"{query}"')
