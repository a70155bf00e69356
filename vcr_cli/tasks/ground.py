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

WINDOW_BATCH = 4  # windows answered together (fewer where the GPU memory check says so)

if TYPE_CHECKING:
    from vcr_cli.pipeline import SamplingOptions
    from vcr_cli.runtime import DetailedGeneration, Runtime
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
    generation: DetailedGeneration | None = None,
) -> dict:
    """One model pass over a sampled video (or window): the raw answer and its segments in whole-video seconds.

    Asked and read the way the model family was trained (`runtime.family`: its grounding prompt, layout and
    parser); families that answer several spans (`capabilities.multi_span`) keep them all, the others the first.
    The model's times are relative to the first sampled frame's span (0 at the window start);
    they are shifted by the window offset and clamped to the window. Each segment's `score` is the probability of
    the tokens writing the answer's numbers, or with `samples` K > 0 the share of K answers drawn at temperature 1
    (same vision-tower pass) with a span whose temporal IoU with it is >= 0.5 (`token_score` keeps the other).
    `generation`: the answer already generated (with raw logits) for this video, e.g. in a batch of windows.
    """
    family = runtime.family
    template, prompt = family.render(GROUND, query=query, think=think)
    layout = family.layout(GROUND)
    max_new_tokens = runtime.new_token_budget(max_new_tokens)
    if generation is not None:
        drawn, samples = [], 0
    elif samples:
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
    window_batch: int = WINDOW_BATCH,
) -> dict:
    """Ground window by window (each sampled like a whole video), map answers to whole-video time, merge.

    Up to `window_batch` windows are answered together: each window's video goes through the vision tower once and
    their answers are decoded in one batched generate (as `vcr ask` batches questions), as many as the free GPU
    memory holds by `memory.rows_that_fit`. Only those windows' frames are held at a time (plus the next one,
    decoded in a thread while the model answers), so memory stays flat however long the video is. `overlap_s`
    None: a sixth of the window (`windows.default_overlap`). With `samples` K > 0 each window's answer is scored by
    agreement with K answers drawn about that window (one window at a time), and windows are ranked by that score.
    """
    from vcr_cli.video import sample_span
    from vcr_cli.windows import default_overlap, merge_segments, plan_windows, shared_seconds

    overlap_s = default_overlap(window_s) if overlap_s is None else overlap_s
    windows = plan_windows(info.frames, info.fps, window_s, overlap_s)

    def decode(w):
        return sample_span(path, info, w.start_frame, w.end_frame, fps=sampling.fps, max_frames=sampling.max_frames,
                           max_pixels=sampling.max_pixels, rule=runtime.family.sampling_for(GROUND))

    answers, candidates = [], []
    batch, generates = 1 if samples else max(1, window_batch), 0  # --samples: each window's own K draws
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(decode, windows[0])
        k = 0
        while k < len(windows):
            group = []  # (window index, sampled video)
            while len(group) < batch and k + len(group) < len(windows):
                group.append((k + len(group), pending.result()))
                if k + len(group) < len(windows):
                    pending = pool.submit(decode, windows[k + len(group)])
                if k == 0 and len(group) == 1 and batch > 1:
                    from vcr_cli.memory import rows_that_fit

                    batch = rows_that_fit(runtime.device, group[0][1].plan.video_tokens, batch)
            if len(group) == 1:
                ones = [ground_span(runtime, group[0][1], query, think=think, strict=strict,
                                    max_new_tokens=max_new_tokens, samples=samples, seed=seed + k)]
                generates += 2 if samples else 1
            else:
                ones = _ground_together(runtime, [video for _, video in group], query, think, strict, max_new_tokens)
                generates += 1
            for (j, video), one in zip(group, ones):
                window = windows[j]
                answers.append({"window": j, "start": round(window.start, 3), "end": round(window.end, 3),
                                "sampling": sampling_dict(video), "raw": one["raw"], "segment": one["segment"],
                                "outside": one["outside"], "seconds": round(one["seconds"] / len(group), 3)})
                if len(one["segments"]) > 1:
                    answers[-1]["segments"] = one["segments"]
                if samples:
                    answers[-1]["samples"] = one["samples"]
                for segment in one["segments"]:
                    seg = dict(segment, window=j)
                    seg["score"] = seg["score"] if seg["score"] is not None else 0.0
                    candidates.append(seg)
            k += len(group)
            del group, ones
            if progress:
                progress(k, len(windows))
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
                    "count": len(windows), "batch_size": batch, "generates": generates, "answers": answers},
        "timings_s": {"windows": round(time.perf_counter() - started, 3)},
    })
    return result


def _ground_together(runtime: Runtime, videos: list[SampledVideo], query: str, think: bool, strict: bool,
                     max_new_tokens: int | None) -> list[dict]:
    """`ground_span` for several windows at once: one vision pass per window, one batched generate (raw logits kept
    for the scores); each answer is then read exactly as `ground_span` reads it."""
    from vcr_cli.scoring import KEEP_LOGITS

    family = runtime.family
    prompt = family.render(GROUND, query=query, think=think)[1]
    chat = runtime.render(prompt, family.layout(GROUND))
    encodings = [runtime.encode_video(video) for video in videos]
    try:
        generations = runtime.generate_videos([chat] * len(videos), encodings,
                                              max_new_tokens=runtime.new_token_budget(max_new_tokens), **KEEP_LOGITS)
    finally:
        del encodings
    return [ground_span(runtime, video, query, think=think, strict=strict, max_new_tokens=max_new_tokens,
                        generation=generation) for video, generation in zip(videos, generations)]


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
