"""Temporal grounding: when does an event happen? The Python API behind `vcr ground`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vcr_cli.parsing import extract_think, parse_ground
from vcr_cli.prompts import render_ground
from vcr_cli.results import base_result, clamp_time

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo


def ground(
    runtime: Runtime,
    video: SampledVideo,
    query: str,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int = 2048,
) -> dict:
    """Ask the model for the event's span; times are seconds of the original video, clamped.

    `strict` uses VideoChat-R1's evaluation parser (for metrics); the default lenient parser also
    accepts `1.5 - 3.2`, `[1.5, 3.2]` and similar. Unparseable answers give status "unparsed".
    """
    template, prompt = render_ground(query, think=think)
    generation = runtime.generate(prompt, video, max_new_tokens=max_new_tokens)
    span = parse_ground(generation.text, strict=strict)
    duration = video.info.duration
    segments = []
    if span is not None:
        start, end = clamp_time(min(span), duration), clamp_time(max(span), duration)
        segments.append({"start": start, "end": end})
    result = base_result("ground", runtime, video)
    result.update(
        {
            "query": query,
            "status": "ok" if segments else "unparsed",
            "segments": segments,
            "raw": generation.text,
            "thinking": extract_think(generation.text),
            "prompt_template": template,
            "parser": "strict" if strict else "lenient",
            "tokens": {"prompt": generation.prompt_tokens, "generated": generation.new_tokens},
            "timings_s": {"generate": round(generation.seconds, 3)},
        }
    )
    return result


def segment_drawer(query: str, duration: float, segments: list[dict]):
    """A draw function for annotate_video: timeline, query caption, highlight inside a segment."""
    from vcr_cli.annotate import draw_caption, draw_highlight, draw_timeline

    spans = [(s["start"], s["end"]) for s in segments]

    def draw(frame, index: int, time: float):
        current = next(((start, end) for start, end in spans if start <= time <= end), None)
        if current is not None:
            draw_highlight(frame, f"{current[0]:.2f}-{current[1]:.2f}s")
        draw_caption(frame, f'"{query}"  {time:6.2f}s')
        draw_timeline(frame, time, duration, spans)
        return frame

    return draw
