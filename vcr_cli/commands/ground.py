"""`vcr ground VIDEO QUERY`: when does the event happen?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import (
    AnnotateOpt,
    Device,
    DeviceOpt,
    FpsOpt,
    MaxFramesOpt,
    MaxNewTokensOpt,
    MaxPixelsOpt,
    ModelOpt,
    OutputOpt,
    Quant,
    QuantOpt,
    ThinkOpt,
    VideoArg,
)


def ground(
    video: VideoArg,
    query: Annotated[str, typer.Argument(help='The event to find, e.g. "person opens door".', show_default=False)],
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    srt: Annotated[Optional[Path], typer.Option("--srt", dir_okay=False, show_default=False,
                                                help="Write the segment as a subtitle cue (SRT).",
                                                rich_help_panel="Outputs")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Parse answers exactly as VideoChat-R1's evaluation does.",
                                         rich_help_panel="Model")] = False,
    model: ModelOpt = None,
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    think: ThinkOpt = True,
    max_new_tokens: MaxNewTokensOpt = 2048,
    fps: FpsOpt = 2.0,
    max_frames: MaxFramesOpt = 768,
    max_pixels: MaxPixelsOpt = None,
) -> None:
    """Find when an event happens: start and end seconds.

    Example: vcr ground video.mp4 "person opens door" -o result.json --annotate result.mp4
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        _run(video, query, output, annotate, srt, strict, model, quant.value, device.value, think, max_new_tokens,
             fps, max_frames, max_pixels)


def _run(video, query, output, annotate, srt, strict, model, quant, device, think, max_new_tokens, fps, max_frames,
         max_pixels) -> None:
    from vcr_cli.console import console, stdout
    from vcr_cli.errors import UsageError
    from vcr_cli.outputs.atomic import check_output_path
    from vcr_cli.outputs.text import write_json, write_srt
    from vcr_cli.pipeline import ModelOptions, SamplingOptions, load_with_video
    from vcr_cli.tasks.ground import ground as ground_task
    from vcr_cli.tasks.ground import segment_drawer
    from vcr_cli.video import probe

    if not query.strip():
        raise UsageError('the query is empty; describe the event, e.g. "person opens door"')
    for path, what in ((output, "JSON"), (annotate, "--annotate"), (srt, "--srt")):
        check_output_path(path, what)
    info = probe(video)
    runtime, sampled, timings = load_with_video(video, ModelOptions(model, quant, device),
                                                SamplingOptions(fps, max_frames, max_pixels), info=info)
    result = ground_task(runtime, sampled, query.strip(), think=think, strict=strict, max_new_tokens=max_new_tokens)
    result["timings_s"].update(timings)

    if annotate is not None:
        from vcr_cli.outputs.video import annotate_video

        with console.status("Writing annotated video...") if console.is_terminal else _null():
            result["annotated"] = annotate_video(video, annotate, info,
                                                 segment_drawer(query, info.duration, result["segments"]))
    if srt is not None:
        write_srt([(s["start"], s["end"], query) for s in result["segments"]], srt)
    if output is not None:
        write_json(result, output)

    target = console if output == "-" else stdout
    if result["status"] == "ok":
        seg = result["segments"][0]
        target.print(f"[bold]{query}[/]: [green]{seg['start']:.2f}s → {seg['end']:.2f}s[/]"
                     f"  (video {info.duration:.2f}s)")
    else:
        target.print(f"[bold]{query}[/]: [yellow]no segment could be parsed[/] from the answer: {result['raw']!r}")
    for path in (output, annotate, srt):
        if path is not None and str(path) != "-":
            console.print(f"saved {path}")


def _null():
    import contextlib

    return contextlib.nullcontext()
