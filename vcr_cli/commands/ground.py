"""`vcr ground VIDEO QUERY`: when does the event happen?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import (
    AnnotateOpt,
    Device,
    DeviceOpt,
    FamilyOpt,
    FpsOpt,
    MaxFramesOpt,
    MaxNewTokensOpt,
    MaxPixelsOpt,
    ModelOpt,
    OutputOpt,
    Quant,
    QuantOpt,
    SamplesOpt,
    SeedOpt,
    ServerOpt,
    ThinkOpt,
    VideoArg,
)

LONG = "Long videos"
# windows.WHOLE_VIDEO_MAX_S and DEFAULT_WINDOW_S, written out so `vcr --help` does not import the windows maths
# (tests/test_windows.py checks they agree)
WINDOW_HELP = ("Seconds per window on videos longer than this; each window is sampled like a whole video. Default: "
               "a video up to 384 s goes to the model whole in one pass (the paper's 2 fps input), a longer one in "
               "120 s windows.")


def ground(
    video: VideoArg,
    query: Annotated[str, typer.Argument(help='The event to find, e.g. "person opens door".', show_default=False)],
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    srt: Annotated[Optional[Path], typer.Option("--srt", dir_okay=False, show_default=False,
                                                help="Write the segment(s) as subtitle cues (SRT).",
                                                rich_help_panel="Outputs")] = None,
    chapters: Annotated[Optional[Path], typer.Option("--chapters", dir_okay=False, show_default=False,
                                                     help="Write the segment(s) as WebVTT chapters.",
                                                     rich_help_panel="Outputs")] = None,
    window: Annotated[Optional[float], typer.Option(
        "--window", min=4.0, show_default=False,
        help=WINDOW_HELP, rich_help_panel=LONG)] = None,
    overlap: Annotated[Optional[float], typer.Option(
        "--overlap", min=0.0, show_default=False,
        help="Seconds consecutive windows share at least (at most half of --window). Default: a sixth of the "
             "window.", rich_help_panel=LONG)] = None,
    all_segments: Annotated[bool, typer.Option("--all", help="Return every occurrence found, best first "
                                               "(default: the best one).", rich_help_panel=LONG)] = False,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0, help="Drop segments whose score "
                                             "is lower (the score: see --samples).",
                                             rich_help_panel=LONG)] = 0.0,
    strict: Annotated[bool, typer.Option("--strict", help="Parse answers exactly as VideoChat-R1's evaluation does.",
                                         rich_help_panel="Model")] = False,
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
    server: ServerOpt = None,
) -> None:
    """Find when an event happens: start and end seconds.

    Example: vcr ground video.mp4 "person opens door" -o result.json --annotate result.mp4
    """
    from vcr_cli.console import handle_errors

    with handle_errors(fast_exit=True):
        _run(video, query, output=output, annotate=annotate, srt=srt, chapters=chapters, window=window,
             overlap=overlap, all_segments=all_segments, min_score=min_score, strict=strict, model=model,
             family=family, quant=quant.value, device=device.value, think=think, max_new_tokens=max_new_tokens,
             fps=fps, max_frames=max_frames, max_pixels=max_pixels, samples=samples, seed=seed, server=server)


def _run(video, query, *, output, annotate, srt, chapters, window, overlap, all_segments, min_score, strict, model,
         quant, device, think, max_new_tokens, fps, max_frames, max_pixels, samples=0, seed=0, server=None,
         family=None) -> None:
    from vcr_cli.console import console, progress_step, stdout
    from vcr_cli.errors import UsageError
    from vcr_cli.outputs.atomic import check_outputs
    from vcr_cli.outputs.text import write_json, write_srt, write_vtt
    from vcr_cli.pipeline import ModelOptions, SamplingOptions, load_with_video
    from vcr_cli.results import add_peak_gpu_memory
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground_video, segment_drawer
    from vcr_cli.video import probe
    from vcr_cli.windows import choose_windowing, overlap_problem

    query = query.strip()
    if not query:
        raise UsageError('the query is empty; describe the event, e.g. "person opens door"')
    problem = overlap_problem(window, overlap)
    if problem:
        raise UsageError(problem)
    check_outputs(((output, "JSON"), (annotate, "--annotate"), (srt, "--srt"), (chapters, "--chapters")),
                  inputs=(video,), stdout_ok=("JSON",))
    info = probe(video)
    sampling = SamplingOptions(fps, max_frames, max_pixels)
    options = {"info": info, "sampling": sampling, "window_s": window, "overlap_s": overlap, "think": think,
               "strict": strict, "max_new_tokens": max_new_tokens, "all_segments": all_segments,
               "min_score": min_score, "samples": samples, "seed": seed}
    if server:
        from vcr_cli.client import run_remote
        from vcr_cli.options import check_family_with_server

        check_family_with_server(family, server)
        runtime = None
        result = run_remote(server, "ground", info, {
            "query": query, "window": window, "overlap": overlap, "all": all_segments, "min_score": min_score,
            "strict": strict, "think": think, "max_new_tokens": max_new_tokens, "fps": fps, "max_frames": max_frames,
            "max_pixels": max_pixels, "samples": samples, "seed": seed}, model=model)
    elif choose_windowing(info.duration, window, overlap).whole:
        runtime, sampled, timings = load_with_video(video, ModelOptions(model, quant, device, family), sampling,
                                                    info=info, rows=max(1, samples))
        result = ground_video(runtime, video, query, video=sampled, **options)
        result["timings_s"].update(timings)
    else:
        from vcr_cli.console import quiet_libraries, status

        quiet_libraries()
        with status(f"Loading {model or 'model'} ({quant})..."):
            runtime = load_runtime(model, quant=quant, device=device, family=family)
        with progress_step("grounding windows") as advance:
            result = ground_video(runtime, video, query, progress=advance, **options)
        result["timings_s"]["load"] = round(runtime.load_seconds, 3)
    if runtime is not None:
        add_peak_gpu_memory(result, runtime)

    cues = [(s["start"], s["end"], query) for s in result["segments"]]
    if annotate is not None:
        from vcr_cli.outputs.video import annotate_video

        with progress_step(f"writing annotated video {annotate}", total=info.frames) as advance:
            result["annotated"] = annotate_video(video, annotate, info,
                                                 segment_drawer(query, info.duration, result["segments"]),
                                                 progress=advance)
    if srt is not None:
        write_srt(cues, srt)
    if chapters is not None:
        write_vtt([(s, e, f"{q} ({seg['score']:.2f})" if seg.get("score") is not None else q)
                   for (s, e, q), seg in zip(cues, result["segments"])], chapters)
    if output is not None:
        write_json(result, output)

    target = console if output == "-" else stdout
    if result["segments"]:
        for seg in result["segments"]:
            score = f"  score {seg['score']:.2f}" if seg.get("score") is not None else ""
            if score and samples:
                score += f" ({samples} samples)"
            target.print(f"[bold]{query}[/]: [green]{seg['start']:.2f}s → {seg['end']:.2f}s[/]{score}"
                         f"  (video {info.duration:.2f}s)")
    elif result["status"] == "below_min_score":
        target.print(f"[bold]{query}[/]: [yellow]no segment scored at least {min_score}[/]")
    elif result["status"] == "outside_video":
        raw = result["raw"] if isinstance(result["raw"], str) else result["raw"][0]
        target.print(f"[bold]{query}[/]: [yellow]the answer lies outside the video[/] "
                     f"(0.00s → {info.duration:.2f}s): {raw!r}")
    else:
        raw = result["raw"] if isinstance(result["raw"], str) else result["raw"][0]
        target.print(f"[bold]{query}[/]: [yellow]no segment could be parsed[/] from the answer: {raw!r}")
    for path in (output, annotate, srt, chapters):
        if path is not None and str(path) != "-":
            console.print(f"saved {path}")
