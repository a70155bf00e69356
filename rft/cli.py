"""`vcr rft ...`: check, convert and score data; fine-tune with GRPO; evaluate; merge adapters.

Only typer, the standard library and light vcr modules are imported at the top, so `vcr --help` stays
fast; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import MODEL_HELP, Device, DeviceOpt, FamilyOpt, MaxNewTokensOpt, ModelOpt, Quant, ThinkOpt

app = typer.Typer(
    help="Fine-tune VideoChat-R1, or a Qwen3-VL grounder (TimeLens2, TimeLens-8B, Qwen3-VL) with its family's "
    "recipe, on your own videos with reward-driven GRPO, and score models.\n\n"
    "Data is JSONL, one example a line (task ground, qa or track): check it with `vcr rft validate`, "
    "make it from Charades-STA / ActivityNet Captions / TimeLens-Bench / NExT-GQA / GOT-10k with "
    "`vcr rft convert`.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class TrainQuant(str, Enum):
    """What training supports: a full-precision base, or an NF4 one under the adapter (QLoRA); no 8-bit."""

    none = "none"
    four_bit = "4bit"


class SourceFormat(str, Enum):
    charades = "charades"
    activitynet = "activitynet"
    timelens = "timelens"
    nextgqa = "nextgqa"
    got10k = "got10k"


DataArg = Annotated[Path, typer.Argument(help="Data file (JSONL, one example a line).", show_default=False)]
MetricsOpt = Annotated[Optional[str], typer.Option("--output", "-o", show_default=False,
                                                   help="Write the metrics JSON here ('-' for stdout).")]
TableOpt = Annotated[Optional[list[Path]], typer.Option(
    "--table", dir_okay=False, show_default=False, metavar="FILE",
    help="Also write the grounding comparison table (R@0.3/0.5/0.7, mIoU, parse failures per model and protocol) "
         "here: FILE.csv or FILE.md (Markdown); may be given twice.")]


def _print_metrics(metrics: dict, to_stderr: bool) -> None:
    from rft.metrics import render_table
    from vcr_cli.console import console, stdout

    (console if to_stderr else stdout).print(render_table(metrics))


def _write_metrics(metrics: dict, output: str | None) -> None:
    from vcr_cli.console import console
    from vcr_cli.outputs.text import write_json

    if output is not None:
        write_json(metrics, output)
        if output != "-":
            console.print(f"metrics written to {output}", soft_wrap=True)
    _print_metrics(metrics, to_stderr=output == "-")


def _check_tables(tables: list[Path] | None) -> list[tuple[Path, str]]:
    """(path, what) for `check_outputs`, after the suffix check (before any model work)."""
    from rft.compare import table_format

    for path in tables or []:
        table_format(path)
    return [(path, "--table") for path in tables or []]


def _write_comparison(results: dict[str, dict], output: str | None, tables: list[Path] | None,
                      several: bool) -> None:
    """Several models: ``{"models": {label: metrics}}`` to -o and the comparison table printed; one model: its
    metrics as usual. Either way each --table file gets the comparison table."""
    from rft.compare import comparison_rows, render_comparison, write_table
    from vcr_cli.console import console, stdout
    from vcr_cli.outputs.text import write_json

    rows = comparison_rows(results) if several or tables else []
    if several:
        if output is not None:
            write_json({"models": results}, output)
            if output != "-":
                console.print(f"metrics written to {output}", soft_wrap=True)
        (console if output == "-" else stdout).print(render_comparison(rows))
    else:
        _write_metrics(next(iter(results.values())), output)
    for path in tables or []:
        write_table(rows, path)
        console.print(f"table written to {path}", soft_wrap=True, markup=False)


@app.command()
def validate(
    data: DataArg,
    check_videos: Annotated[bool, typer.Option("--check-videos/--no-check-videos",
                                               help="Open each video: it must exist, decode, and be long enough "
                                                    "for the annotated times.")] = True,
    predictions: Annotated[bool, typer.Option("--predictions", help="Also require each line's \"output\" "
                                                                    "(a predictions file for `vcr rft score`).")]
    = False,
) -> None:
    """Check every line of a data file; print each problem as FILE:LINE: message (exit 1 if any).

    Example: vcr rft validate data/train.jsonl
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        from rft.data import check_file, count_tasks
        from vcr_cli.console import console, plural

        examples, problems = check_file(data, check_videos=check_videos, require_output=predictions)
        for problem in problems:
            typer.echo(problem)
        if problems:
            console.print(f"{plural(len(problems), 'problem')} in {data}", soft_wrap=True, markup=False)
            raise typer.Exit(1)
        counts = ", ".join(f"{task} {n}" for task, n in count_tasks(examples).items())
        console.print(f"ok: {plural(len(examples), 'example')} ({counts}) in {data}", soft_wrap=True, markup=False)


def _video_root_for(video_root: Optional[str], output: str) -> Optional[str]:
    """A relative --video-root is taken from the current folder; lines store it relative to the output's folder."""
    if video_root is None or output == "-" or os.path.isabs(os.path.expanduser(video_root)):
        return os.path.expanduser(video_root) if video_root is not None else None
    out_dir = Path(output).absolute().parent
    return Path(os.path.relpath(Path(video_root).absolute(), out_dir)).as_posix()


CONVERT_HELP = """Convert public annotations, as released, to vcr's JSONL.

\b
Input formats (SOURCE) for each --from:
charades: Charades-STA text (charades_sta_train.txt), one
  `VIDEO START END##sentence` a line; or the JSON
  {vid: {duration, timestamps, sentences}}. Video ROOT/VID.mp4.
activitynet: ActivityNet Captions JSON (train.json, val_1.json),
  the same {vid: {duration, timestamps, sentences}} shape.
timelens: TimeLens-Bench JSON (charades-timelens.json,
  activitynet-timelens.json, qvhighlights-timelens.json):
  {vid: {duration, spans, queries}}, one line per span/query
  pair. Video ROOT/VID.mp4.
nextgqa: NExT-GQA CSV (val.csv: video_id, question, answer, qid,
  a0..a4, ...) with gsub_SPLIT.json (evidence spans) and
  map_vid_vidorID.json (video folders) read from beside it;
  or the JSON list of {video, question, options, glue, answer}.
got10k: a GOT-10k split folder (train/, val/) or one sequence
  folder: frames, groundtruth.txt (x,y,w,h pixels a frame) and
  meta_info.ini (object_class); or the JSON list of
  {path, object, gt}. Boxes (8): the start box, then one at each
  of the paper's 7 tracking frames (VideoChat-R1's layout, the one
  vcr track reads). Videos default to the sequence folders.

With a local --video-root, Charades/ActivityNet/TimeLens ids are
matched to the files there (.mp4, .mkv, .webm, ...).

Example: vcr rft convert --from charades charades_sta_train.txt -o train.jsonl --video-root videos
"""


@app.command(help=CONVERT_HELP)
def convert(
    source: Annotated[Path, typer.Argument(help="The annotation file as released (TXT, CSV or JSON), or a GOT-10k "
                                                "folder.", show_default=False)],
    kind: Annotated[SourceFormat, typer.Option("--from", help="Annotation format: charades, activitynet, "
                                               "timelens, nextgqa or got10k (see above).", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="The JSONL to write ('-' for stdout).",
                                        show_default=False)],
    video_root: Annotated[Optional[str], typer.Option(
        "--video-root", show_default=False,
        help="Folder holding the videos (Charades, TimeLens: <root>/<id>.mp4; GOT-10k: frame folders). "
             "A relative folder is taken from here and written relative to the output file.")] = None,
) -> None:
    from vcr_cli.console import handle_errors

    with handle_errors():
        import sys

        from rft.convert import convert as convert_lines
        from rft.convert import got10k_default_root, to_jsonl
        from vcr_cli.console import console, plural
        from vcr_cli.outputs.atomic import check_outputs, write_text_atomic

        check_outputs(((output, "output"),), inputs=(source,), stdout_ok=("output",))
        if video_root is None and kind is SourceFormat.got10k and source.is_dir():
            video_root = str(got10k_default_root(source))
        video_dir = os.path.expanduser(video_root) if video_root is not None else None
        lines = convert_lines(kind.value, source, _video_root_for(video_root, output), video_dir=video_dir)
        text = to_jsonl(lines)
        if output == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_text_atomic(output, text)
            console.print(f"wrote {plural(len(lines), 'line')} to {output}; check them with "
                          f"`vcr rft validate {output}`", soft_wrap=True, markup=False)


@app.command()
def score(
    predictions: Annotated[list[Path], typer.Argument(
        metavar="PREDICTIONS", show_default=False,
        help="Predictions JSONL: data lines plus \"output\" (raw text). Several files, or a folder of them (its "
             "*.jsonl), make one comparison table.")],
    output: MetricsOpt = None,
    table: TableOpt = None,
) -> None:
    """Score saved model outputs (e.g. from another inference engine) like VideoChat-R1's evaluation.

    Grounding is scored under each named protocol: videochat-r1 (the paper's: strict parsing, the last
    "s to e") and timelens (TimeLens's: extract_time, the first span), so a number can stand next to the
    published table that used it. Several files (or a folder) print one table across them, labelled by file name.

    Example: vcr rft score preds.jsonl -o metrics.json; vcr rft score results/ --table table.md
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        from rft.score import score_files
        from vcr_cli.outputs.atomic import check_outputs

        several = len(predictions) > 1 or predictions[0].is_dir()
        check_outputs(((output, "metrics"), *_check_tables(table)), inputs=predictions, stdout_ok=("metrics",))
        _write_comparison(score_files(predictions), output, table, several)


@app.command()
def train(
    data: Annotated[Optional[Path], typer.Argument(help="Training data (JSONL); default: `data:` in the config.",
                                                   show_default=False)] = None,
    output_dir: Annotated[Optional[Path], typer.Option(
        "--output-dir", file_okay=False, show_default=False,
        help="Where checkpoints and the final adapter (or model) go; default: `output_dir:` in the config, "
             "else runs/rft.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", dir_okay=False, show_default=False,
                                                   help="Training settings (YAML); flags below override it.")]
    = None,
    model: ModelOpt = None,
    family: FamilyOpt = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, show_default=False,
                                                     help="Stop after this many optimizer steps.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Fine-tune all weights instead of a LoRA adapter.")] = False,
    quant: Annotated[Optional[TrainQuant], typer.Option("--quant", show_default=False,
                                                        help="4bit: an NF4 base under the adapter (QLoRA); none: "
                                                             "full precision. Default from the config (none).")]
    = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --output-dir.")]
    = False,
    device: DeviceOpt = Device.auto,
) -> None:
    """Fine-tune with GRPO (LoRA by default) with the model family's recipe: VideoChat-R1's prompts and seven
    rewards, or for a Qwen3-VL grounder its own (TimeLens2: twass1 + tiou + parse_penalty, its rollout settings and
    frame budget). Same options as `python -m rft.train`.

    Example: vcr rft train data/train.jsonl --config rft.yaml --output-dir runs/rft1 --quant 4bit
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        from vcr_cli.console import quiet_libraries

        quiet_libraries()  # before transformers/bitsandbytes import and log
        from rft.train import run_training
        from vcr_cli.console import console

        saved = run_training(data_path=data, config_path=config, model=model, output_dir=output_dir,
                             max_steps=max_steps, full=full, quant=quant.value if quant is not None else None,
                             resume=resume, device=device.value, family=family)
        console.print(f"saved to {saved}", soft_wrap=True, markup=False)


ModelsOpt = Annotated[Optional[list[str]], typer.Option(
    "--model", "-m", show_default=False, rich_help_panel="Model", metavar="MODEL",
    help=MODEL_HELP + ". Repeat for several models: each runs on the same data, then one comparison table.")]


@app.command("eval")
def eval_(
    data: DataArg,
    model: ModelsOpt = None,
    family: FamilyOpt = None,
    output: MetricsOpt = None,
    predictions: Annotated[Optional[Path], typer.Option("--predictions", show_default=False,
                                                        help="Also save each example with the model's output "
                                                             "(JSONL, scorable with `vcr rft score`). With several "
                                                             "--model: a folder, one MODEL.jsonl each.")] = None,
    table: TableOpt = None,
    quant: Annotated[Quant, typer.Option("--quant", help="Weight quantization: NF4 4-bit, 8-bit or none.")]
    = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    think: ThinkOpt = True,
    max_new_tokens: MaxNewTokensOpt = None,
) -> None:
    """Run a model on a data file and score it (strict VideoChat-R1 parsing, percent; grounding also under
    TimeLens's protocol, as `vcr rft score`).

    Each model is asked as its family's published evaluation asks (VideoChat-R1: its prompt on the raw sentence;
    TimeLens2: TimeLens's grounder prompt, video first, 4 fps), within the family's token budget.

    --model may be a checkpoint or the adapter folder `vcr rft train` wrote (loaded over its base). Several
    --model options run one after the other on the same data and print one comparison table.

    Example: vcr rft eval data/test.jsonl --model runs/rft1 -o metrics.json
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        from vcr_cli.console import quiet_libraries

        quiet_libraries()
        from vcr_cli.checkpoints import resolve_model_id
        from vcr_cli.errors import UsageError
        from vcr_cli.outputs.atomic import check_outputs

        if not data.is_file():
            raise UsageError(f"data file not found: {data}")
        models = model or [None]
        tables = _check_tables(table)
        options = {"quant": quant.value, "device": device.value, "think": think, "max_new_tokens": max_new_tokens,
                   "family": family}
        if len(models) == 1:
            check_outputs(((output, "metrics"), (predictions, "--predictions"), *tables), inputs=(data,),
                          stdout_ok=("metrics",))
            from rft.evaluate import evaluate

            metrics = evaluate(data_path=data, model=models[0], predictions_path=predictions, **options)
            _write_comparison({resolve_model_id(models[0]): metrics}, output, table, several=False)
            return
        from rft.evaluate import evaluate_models, predictions_paths

        check_outputs(((output, "metrics"), *tables), inputs=(data,), stdout_ok=("metrics",))
        files = predictions_paths(models, predictions)  # makes the folder: only once the other outputs are fine
        check_outputs(((output, "metrics"), *tables, *((path, "--predictions") for path in files.values())),
                      inputs=(data,), stdout_ok=("metrics",))
        results = evaluate_models(data, models, files, **options)
        _write_comparison(results, output, table, several=True)


@app.command()
def merge(
    adapter_dir: Annotated[Path, typer.Argument(help="A LoRA adapter folder written by `vcr rft train`.",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False, show_default=False,
                                         help="Folder for the merged model.")],
    base_model: Annotated[Optional[str], typer.Option("--base-model", show_default=False,
                                                      help="Base model (default: the one the adapter names).")]
    = None,
) -> None:
    """Merge a LoRA adapter into its base model, for plain loading (`vcr ground --model DIR`).

    Example: vcr rft merge runs/rft1 -o runs/rft1-merged
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        from vcr_cli.console import quiet_libraries

        quiet_libraries()
        from rft.merge import merge_adapter
        from vcr_cli.console import console
        from vcr_cli.errors import UsageError

        if not adapter_dir.is_dir():
            raise UsageError(f"adapter folder not found: {adapter_dir}")
        merged = merge_adapter(adapter_dir=adapter_dir, output_dir=output, base_model=base_model)
        console.print(f"merged model saved to {merged}", soft_wrap=True, markup=False)
