"""Options shared by every inference command: same names, same meaning everywhere."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class Quant(str, Enum):
    four_bit = "4bit"
    eight_bit = "8bit"
    none = "none"


class Device(str, Enum):
    auto = "auto"
    cuda = "cuda"
    cpu = "cpu"


# `vcr ask --layout` values -> the task's layout names (one table for the command and `vcr batch` manifests)
LAYOUT_NAMES = {"auto": "auto", "text-first": "text_first", "shared-prefix": "video_first_shared_prefix"}

MODEL_HELP = ("Hugging Face id, local checkpoint directory, or a LoRA adapter folder from `vcr rft train` "
              "(loaded over its base) (default OpenGVLab/VideoChat-R1_7B; also $VCR_MODEL)")

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP, show_default=False,
                                                 rich_help_panel="Model")]
FAMILY_HELP = ("The checkpoint's model family (its prompts, sampling, time contract and parser): videochat-r1, "
               "videochat-r1.5, qwen3-vl, timelens, timelens2 (`vcr doctor --model X` names a checkpoint's family and "
               "its tasks). Default: the family a `vcr rft train` output recorded, else found from the checkpoint's "
               "id and config.json; set it for a local copy of published weights (also $VCR_FAMILY).")
FamilyOpt = Annotated[Optional[str], typer.Option("--family", metavar="NAME", help=FAMILY_HELP, show_default=False,
                                                  rich_help_panel="Model")]
QuantOpt = Annotated[Quant, typer.Option("--quant", help="Weight quantization: NF4 4-bit, 8-bit or none.",
                                         rich_help_panel="Model")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to run the model.", rich_help_panel="Model")]
ThinkOpt = Annotated[bool, typer.Option("--think/--no-think", help="Use the reasoning prompt (<think> ... </think>); "
                                        "families with one prompt per task ignore it.", rich_help_panel="Model")]
MaxNewTokensOpt = Annotated[Optional[int], typer.Option(
    "--max-new-tokens", min=1, show_default=False, rich_help_panel="Model",
    help="Generation budget per answer (default: the family's, e.g. 512 for TimeLens; else 2048).")]
FpsOpt = Annotated[Optional[float], typer.Option(
    "--fps", min=0.01, show_default=False, rich_help_panel="Sampling",
    help="Frames sampled per second (default: the family's training rule, 2 for every family vcr knows).")]
MaxFramesOpt = Annotated[Optional[int], typer.Option(
    "--max-frames", min=2, show_default=False, rich_help_panel="Sampling",
    help="Cap on sampled frames (default: the family's training rule: VideoChat-R1 768, R1.5 512, ...).")]
MaxPixelsOpt = Annotated[Optional[int], typer.Option(
    "--max-pixels", min=3136, show_default=False,
    help="Cap on pixels per frame, below the training budget, to save memory.", rich_help_panel="Sampling")]
OutputOpt = Annotated[Optional[str], typer.Option("--output", "-o", show_default=False,
                                                  help="Write the JSON result here ('-' for stdout).",
                                                  rich_help_panel="Outputs")]
AnnotateOpt = Annotated[Optional[Path], typer.Option("--annotate", show_default=False, dir_okay=False,
                                                     help="Write an annotated MP4 (H.264) here.",
                                                     rich_help_panel="Outputs")]
ServerOpt = Annotated[Optional[str], typer.Option(
    "--server", envvar="VCR_SERVER", show_default=False, rich_help_panel="Model",
    help="Run on a `vcr serve` at this URL (e.g. http://127.0.0.1:8000; also $VCR_SERVER) instead of loading the "
         "model here; outputs are written here as usual. --quant/--device are the server's.")]
VideoArg = Annotated[Path, typer.Argument(help="Video file (mp4, mkv, avi, ...).", show_default=False)]
SamplesOpt = Annotated[int, typer.Option(
    "--samples", min=0, max=64, metavar="K",
    help="Score by agreement: draw K extra answers at temperature 1 (one batched generate, the video encoded once) "
         "and report the share that agree with the answer. Default 0: the score is the probability of the tokens "
         "that write the answer's numbers or letter, which cannot see a choice already made in the reasoning.",
    rich_help_panel="Score")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed of the --samples draws (a run is repeatable).",
                                      rich_help_panel="Score")]


def check_family_with_server(family: str | None, server: str | None) -> None:
    """--family picks how a model loaded here is asked; a server's model was loaded with its own family."""
    if family and server:
        from vcr_cli.errors import UsageError

        raise UsageError(f"--family goes with a model loaded here; the server at {server} asks its model as its "
                         "own family says (`vcr serve --family NAME` sets it); drop --family or --server")
