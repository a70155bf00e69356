"""`vcr track VIDEO --object NAME [--box X0,Y0,X1,Y1]`: a box on every frame."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import (
    AnnotateOpt,
    Device,
    DeviceOpt,
    FamilyOpt,
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

DEFAULT_WINDOW_S = 15.0  # windows.TRACK_WINDOW_S, written out so --help imports no maths (tests/test_track.py)


def track(
    video: VideoArg,
    object_name: Annotated[str, typer.Option("--object", "-O", help='What to track, e.g. "red car".',
                                             show_default=False)],
    box: Annotated[Optional[str], typer.Option(
        "--box", show_default=False, metavar="X0,Y0,X1,Y1",
        help="The object's box in the first frame, in pixels of the original video (0..1 with --normalized). "
             "Without it the model locates the object itself.")] = None,
    normalized: Annotated[bool, typer.Option("--normalized", help="--box values are 0..1 fractions of the frame.")
                          ] = False,
    start: Annotated[Optional[float], typer.Option("--start", min=0, show_default=False,
                                                   help="Track from this second (the first frame of --box).")] = None,
    end: Annotated[Optional[float], typer.Option("--end", min=0, show_default=False,
                                                 help="Track up to this second.")] = None,
    window: Annotated[Optional[float], typer.Option(
        "--window", min=0.1, show_default=False,
        help=f"Seconds per model call (7 frames each, as VideoChat-R1 was trained). Default on a video: "
             f"{DEFAULT_WINDOW_S:g} s, about a GOT-10k training sequence, so keyframes are ~2.5 s apart; clips up "
             f"to 1.5x the window take one call. Default on a folder of frames: one call over the whole folder "
             f"(its first and last frame and 5 spread evenly between, as the paper tracks GOT-10k); --window "
             f"splits it (a folder counts 2 frames a second). On a variable-frame-rate video windows and keyframes "
             f"are placed by presentation time.")] = None,
    refine: Annotated[bool, typer.Option("--refine/--no-refine",
                                         help="Refine boxes between keyframes by template matching "
                                              "(falls back to linear interpolation where the match is weak).")
                      ] = True,
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    mot: Annotated[Optional[Path], typer.Option("--mot", dir_okay=False, show_default=False,
                                                help="Write MOTChallenge text (frame,id,left,top,w,h,conf,-1,-1,-1).",
                                                rich_help_panel="Outputs")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Parse answers exactly as VideoChat-R1's evaluation does.",
                                         rich_help_panel="Model")] = False,
    model: ModelOpt = None,
    family: FamilyOpt = None,
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    think: ThinkOpt = True,
    max_new_tokens: MaxNewTokensOpt = None,
    max_pixels: MaxPixelsOpt = None,
    samples: SamplesOpt = 0,
    seed: SeedOpt = 0,
    server: ServerOpt = None,
) -> None:
    """Track an object: the model's keyframe boxes, then a box on every frame.

    Example: vcr track video.mp4 --object "red car" --box 100,80,260,200 -o track.json --annotate track.mp4
    """
    from vcr_cli.console import handle_errors

    with handle_errors(fast_exit=True):
        _run(video, object_name, box, normalized, start, end, window, refine, output, annotate, mot, strict, model,
             quant.value, device.value, think, max_new_tokens, max_pixels, samples, seed, server, family=family)


def _run(video, object_name, box, normalized, start, end, window, refine, output, annotate, mot, strict, model, quant,
         device, think, max_new_tokens, max_pixels, samples=0, seed=0, server=None, family=None) -> None:
    from vcr_cli.console import console, quiet_libraries, status, stdout
    from vcr_cli.errors import UsageError
    from vcr_cli.outputs.atomic import check_outputs
    from vcr_cli.results import add_peak_gpu_memory
    from vcr_cli.tasks import track as task
    from vcr_cli.video import probe

    name = object_name.strip()
    if not name:
        raise UsageError('the object name is empty; say what to track, e.g. --object "red car"')
    box_values = task.parse_box_text(box) if box is not None else None
    check_outputs(((output, "JSON"), (annotate, "--annotate"), (mot, "--mot")), inputs=(video,), stdout_ok=("JSON",))
    info = probe(video)
    first, last = task.frame_range(info, start, end)
    start_box = task.validate_start_box(box_values, info.width, info.height, normalized) if box_values else None
    windows = task.plan_windows(info, first, last, window)
    width, height = task.window_size(info, max_pixels)

    import time

    if server:
        from vcr_cli.options import check_family_with_server

        check_family_with_server(family, server)
    else:
        from vcr_cli.checkpoints import resolve_family
        from vcr_cli.families import TRACK

        resolve_family(model, family).require(TRACK)  # one line naming the families that track, before decoding
        quiet_libraries()
        import torch  # noqa: F401  (import before the decode thread starts, to avoid import-lock contention)

        from vcr_cli.runtime import load_runtime

        quiet_libraries()
        frames = task.WindowFrames(video, windows, width, height)  # decodes while the model loads
        try:
            with status(f"Loading {model or 'model'} ({quant})..."):
                t = time.perf_counter()
                runtime = load_runtime(model, quant=quant, device=device, family=family)
                load_s = round(time.perf_counter() - t, 3)
        except BaseException:
            frames.close()
            raise

    spinner = console.status("Tracking...") if console.is_terminal else None
    if spinner:
        spinner.start()
    else:
        console.print(f"tracking {name}...", markup=False, soft_wrap=True)
    started = time.perf_counter()
    try:
        if server:
            from vcr_cli.client import run_remote

            result = run_remote(server, "track", info, {
                "object": name, "box": box, "normalized": normalized, "start": start, "end": end, "window": window,
                "refine": refine, "strict": strict, "think": think, "max_new_tokens": max_new_tokens,
                "max_pixels": max_pixels, "samples": samples, "seed": seed}, model=model,
                progress=spinner.update if spinner else None)
        else:
            result = task.track(runtime, video, name, start_box, info=info, start_s=start, end_s=end,
                                window_s=window, think=think, strict=strict, refine=refine,
                                max_new_tokens=max_new_tokens, max_pixels=max_pixels, frames=frames,
                                windows=windows, samples=samples, seed=seed,
                                progress=spinner.update if spinner else None)
            result["timings_s"]["load"] = load_s
            add_peak_gpu_memory(result, runtime)
        if spinner:
            spinner.stop()
            spinner = None
        else:
            console.print(f"tracking {name}: done in {time.perf_counter() - started:.1f}s", markup=False,
                          soft_wrap=True)
        if annotate is not None:
            from vcr_cli.console import progress_step
            from vcr_cli.outputs.video import annotate_video

            t = time.perf_counter()
            with progress_step(f"writing annotated video {annotate}", total=info.frames) as advance:
                result["annotated"] = annotate_video(video, annotate, info, task.track_drawer(result),
                                                     progress=advance)
            result["timings_s"]["annotate"] = round(time.perf_counter() - t, 3)
    finally:
        if spinner:
            spinner.stop()
    if mot is not None:
        from vcr_cli.outputs.mot import write_mot

        write_mot(result["frames"], mot)
    if output is not None:
        from vcr_cli.outputs.text import write_json

        write_json(result, output)

    target = console if output == "-" else stdout
    target.print(_summary(result), soft_wrap=True)
    for path in (output, annotate, mot):
        if path is not None and str(path) != "-":
            console.print(f"saved {path}")


def _summary(result: dict) -> str:
    rng = result["range"]
    windows = result["sampling"]["windows"]
    keyframes = len(result["keyframes"])
    report = result.get("refinement_report")
    if report and report["refined"]:
        refined = f"template matching refined {report['refined']}/{report['segments']} segments between keyframes"
    elif report:
        why = ", ".join(f"{reason}: {count}" for reason, count in report["fallback_reasons"].items())
        refined = f"linear interpolation between keyframes in all {report['segments']} segments" + (
            f" ({why})" if why else "")
    else:
        refined = "linear interpolation between keyframes"

    start = "located by the model" if result["start_box_source"] == "model" else "given"
    head = f"[bold]{result['object']}[/]: "
    if result["status"] == "unparsed":
        return (head + f"[yellow]no boxes could be parsed[/] from the model's answer; holding the start box "
                f"({start}) over {len(result['frames'])} frames. Raw: {result['raw'][0][:100]!r}")
    color = "green" if result["status"] == "ok" else "yellow"
    return (head + f"[{color}]{keyframes} keyframes[/] from {windows} window{'s' if windows != 1 else ''} "
            f"({result['status']}), a box on all {len(result['frames'])} frames {rng['start']:.2f}s → "
            f"{rng['end']:.2f}s; start box {start} {result['start_box']}; {refined}")
