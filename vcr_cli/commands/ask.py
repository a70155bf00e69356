"""`vcr ask VIDEO QUESTION [--option TEXT]...` and `vcr ask VIDEO --questions FILE`: answers with evidence."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import (
    LAYOUT_NAMES,
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


class Layout(str, Enum):
    auto = "auto"
    text_first = "text-first"
    shared_prefix = "shared-prefix"




def ask(
    video: VideoArg,
    question: Annotated[Optional[str], typer.Argument(
        help='The question, e.g. "what does the person pick up?" (or use --questions).', show_default=False)] = None,
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", metavar="<str>", show_default=False,
        help="An answer option (repeat: A, B, C... in order). Without options the question is open.")] = None,
    questions: Annotated[Optional[Path], typer.Option(
        "--questions", dir_okay=False, show_default=False,
        help='JSONL or YAML file of {"question": ..., "options": [...]}: all answered with one video encoding.',
    )] = None,
    output: OutputOpt = None,
    annotate: AnnotateOpt = None,
    srt: Annotated[Optional[Path], typer.Option("--srt", dir_okay=False, show_default=False,
                                                help="Write each answer's evidence spans as subtitle cues (SRT).",
                                                rich_help_panel="Outputs")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Parse answers exactly as VideoChat-R1's evaluation does.",
                                         rich_help_panel="Model")] = False,
    layout: Annotated[Layout, typer.Option(
        "--layout", rich_help_panel="Model",
        help="Prompt layout. auto: every question in the layout its template was trained with (VideoChat-R1: "
             "grounded multiple choice text first, the model card's open question video first), for any number "
             "of questions; the video is encoded once and the questions decoded together. text-first: every "
             "question text first. shared-prefix: opt-in, every question video first sharing one prefilled "
             "video prefix (UNTRAINED for templates trained text first: the JSON then says \"layout_note\").")
    ] = Layout.auto,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, rich_help_panel="Model",
        help="Questions generated together in one batched generate (each holds its own KV cache: lower it to "
             "save GPU memory).")] = 8,
    rounds: Annotated[Optional[int], typer.Option(
        "--rounds", min=1, max=8, show_default=False, rich_help_panel="Model",
        help="Perception rounds for families trained with them (VideoChat-R1.5: default 3, as on its card): each "
             "round's evidence spans re-sample the next round's frames, the same count, denser inside the spans. "
             "1: a single pass. Other families answer in one pass.")] = None,
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
    """Answer questions about a video, with the time spans each answer rests on.

    Examples: vcr ask video.mp4 "what does the man hold?" --option cup --option phone --option book -o answer.json

              vcr ask video.mp4 --questions questions.yaml -o answers.json
    """
    from vcr_cli.console import handle_errors

    with handle_errors(fast_exit=True):
        _run(video, question, option or [], questions, output, annotate, srt, strict, LAYOUT_NAMES[layout.value],
             batch_size, model, quant.value, device.value, think, max_new_tokens, fps, max_frames, max_pixels,
             samples, seed, server, family=family, rounds=rounds)


def collect_questions(question: str | None, options: list[str], questions_file: Path | None) -> list:
    """The questions to ask, validated (UsageError, exit 2, before any model work)."""
    from vcr_cli.errors import UsageError
    from vcr_cli.questions import load_questions, make_question

    if questions_file is not None:
        if question is not None:
            raise UsageError("give either a QUESTION or --questions FILE, not both")
        if options:
            raise UsageError("--option goes with a single QUESTION; in a --questions file give each question's "
                             '"options" list')
        return load_questions(questions_file)
    if question is None:
        raise UsageError('no question: give one, e.g. vcr ask video.mp4 "what happens?", or --questions FILE')
    return [make_question(question, options)]


def check_family(asked: list, model: str | None, family: str | None, rounds: int | None) -> None:
    """Refuse, before loading anything, questions or --rounds the model's family was not trained for."""
    from vcr_cli.checkpoints import resolve_family
    from vcr_cli.tasks.ask import perception_rounds, render_question

    found = resolve_family(model, family)
    count = perception_rounds(found, rounds)
    for question in asked:
        render_question(question, family=found, final=count == 1)


def _run(video, question, options, questions_file, output, annotate, srt, strict, layout, batch_size, model, quant,
         device, think, max_new_tokens, fps, max_frames, max_pixels, samples=0, seed=0, server=None, family=None,
         rounds=None) -> None:
    from rich.markup import escape

    from vcr_cli.console import console, stdout, warn
    from vcr_cli.outputs.atomic import check_outputs
    from vcr_cli.outputs.text import write_json, write_srt
    from vcr_cli.pipeline import ModelOptions, SamplingOptions, load_with_video
    from vcr_cli.results import add_peak_gpu_memory
    from vcr_cli.tasks.ask import answer_line, ask_many, sampling_role
    from vcr_cli.video import probe

    asked = collect_questions(question, options, questions_file)
    check_outputs(((output, "JSON"), (annotate, "--annotate"), (srt, "--srt")), inputs=(video, questions_file),
                  stdout_ok=("JSON",))
    info = probe(video)
    if server:
        from vcr_cli.client import question_items, run_remote
        from vcr_cli.options import check_family_with_server

        check_family_with_server(family, server)
        spec = {"questions": question_items(asked), "layout": layout, "batch_size": batch_size, "strict": strict,
                "think": think, "max_new_tokens": max_new_tokens, "fps": fps, "max_frames": max_frames,
                "max_pixels": max_pixels, "samples": samples, "seed": seed}
        if rounds is not None:
            spec["rounds"] = rounds
        result = run_remote(server, "ask", info, spec, model=model)
    else:
        check_family(asked, model, family, rounds)
        runtime, sampled, timings = load_with_video(video, ModelOptions(model, quant, device, family),
                                                    SamplingOptions(fps, max_frames, max_pixels), info=info,
                                                    rows=min(batch_size, len(asked)) * max(1, samples),
                                                    role=sampling_role(asked))
        result = ask_many(runtime, sampled, asked, think=think, strict=strict, max_new_tokens=max_new_tokens,
                          layout=layout, batch_size=batch_size, samples=samples, seed=seed, rounds=rounds)
        result["timings_s"].update(timings)
        add_peak_gpu_memory(result, runtime)

    if annotate is not None:
        from vcr_cli.annotate import timeline_drawer
        from vcr_cli.outputs.video import annotate_video

        spans = [(e["start"], e["end"], f"Q{i}: {a['answer_text'] or a['answer']}")
                 for i, a in enumerate(result["answers"], 1) if a["status"] == "ok" for e in a["evidence"]]
        first = result["answers"][0]
        caption = (f"{first['question']} -> {first['answer_text'] or first['answer'] or '?'}"
                   if len(result["answers"]) == 1 else f"{len(result['answers'])} questions")
        from vcr_cli.console import progress_step

        with progress_step(f"writing annotated video {annotate}", total=info.frames) as advance:
            result["annotated"] = annotate_video(video, annotate, info, timeline_drawer(info.duration, spans, caption),
                                                 progress=advance)
    if srt is not None:
        cues = [(e["start"], e["end"], f"{a['question']} → {a['answer_text']}")
                for a in result["answers"] if a["status"] == "ok" for e in a["evidence"]]
        write_srt(cues, srt)  # in time order
        if not cues:
            warn(f"{srt} has no cues: no answer gave evidence spans (open questions give none)")
    if output is not None:
        write_json(result, output)

    target = console if output == "-" else stdout
    for answer in result["answers"]:
        colour = "green" if answer["status"] == "ok" else "yellow"
        target.print(f"[{colour}]{escape(answer_line(answer))}[/]", soft_wrap=True)
    for path in (output, annotate, srt):
        if path is not None and str(path) != "-":
            console.print(f"saved {path}")
