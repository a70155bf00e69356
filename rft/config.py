"""`RftConfig`: every `vcr rft train` setting, with the paper's defaults, loaded from YAML.

Defaults are VideoChat-R1's GRPO recipe (reference §4): 8 generations per prompt, KL β 0.04, learning
rate 1e-6, sampling temperature 1.0 with top-k 50 and top-p 1.0 (the paper samples from a fresh
`GenerationConfig`), up to 1024 completion tokens, 1 epoch, and the training video budget (2 fps, at
most 768 frames, `total_pixels` 3584·28·28, `min_pixels` 16·28·28).

`loss_type` defaults to "grpo", not TRL's "dapo": "grpo" averages each completion's token losses and
then the completions, which is the paper's loss, so a run reproduces the published recipe. Set
`loss_type: dapo` (token-level normalisation) if completions collapse in length.

One prompt's 8 completions make one optimizer step per GPU, as in the paper (1 prompt per GPU): by
default as 2 completions per forward pass x 4 accumulation steps, to keep memory down.

Another model family's training recipe (`vcr_cli.families`: `Family.training`, e.g. TimeLens2's rewards, rollout
sampling and frame budget) replaces these defaults where it has its own values (`load_for_family`); the file and
the flags still win.

The YAML file is flat (`key: value`, the field names below); unknown keys are rejected with the closest
valid name, values are type-checked, and command-line flags override the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.errors import UsageError
from vcr_cli.sampling import FPS, FPS_MAX_FRAMES, MIN_PIXELS, TOTAL_PIXELS

QUANT_CHOICES = ("none", "4bit")
REPORT_CHOICES = ("none", "tensorboard")
LOSS_CHOICES = ("grpo", "dapo", "dr_grpo", "bnpo")
TASK_CHOICES = ("ground", "qa", "track")

if TYPE_CHECKING:
    from vcr_cli.families import Family
RECORD_KEYS = ("effective_loss",)  # written by `vcr rft train` into the run's rft_config.yaml; skipped when read


@dataclass
class RftConfig:
    """Training settings; each field's `help` metadata documents it (`config_table()` renders them all)."""

    # -- what to train
    model: str | None = field(default=None, metadata={"help": "Base model: hub id or local checkpoint folder "
                                                                "(default VideoChat-R1_7B or $VCR_MODEL)."})
    family: str | None = field(default=None, metadata={
        "help": "Model family (default: found from the checkpoint, as at inference). Its recipe sets the prompts, "
                "frame rule and default rewards, and its own values of the settings below (see the README)."})
    data: str | None = field(default=None, metadata={"help": "Training JSONL, from the current folder "
                                                              "(the DATA argument wins)."})
    output_dir: str | None = field(default=None, metadata={"help": "Checkpoints and the final adapter/model."})
    tasks: list[str] | None = field(default=None, metadata={"help": "Train only on these tasks (default: all)."})
    rewards: list[str] | None = field(default=None, metadata={
        "help": "Reward names or 'module:function' (default: the paper's rewards for the tasks in the data)."})
    reward_weights: list[float] | None = field(default=None, metadata={"help": "One weight per reward (default 1)."})
    think: bool = field(default=True, metadata={"help": "Use the reasoning prompts (`<think>` ... `</think>`), "
                                                        "as the paper."})
    # -- GRPO (paper §4)
    num_generations: int = field(default=8, metadata={"help": "Completions sampled per prompt (the group)."})
    beta: float = field(default=0.04, metadata={"help": "KL penalty against the reference model."})
    learning_rate: float = field(default=1e-6, metadata={"help": "AdamW learning rate (linear decay, no warmup)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature for the rollouts."})
    top_k: int = field(default=50, metadata={"help": "Top-k sampling for the rollouts (0: off)."})
    top_p: float = field(default=1.0, metadata={"help": "Top-p sampling for the rollouts."})
    max_completion_length: int = field(default=1024, metadata={"help": "Most tokens per completion."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the data."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps."})
    per_device_train_batch_size: int = field(default=2, metadata={"help": "Completions per forward pass per GPU."})
    gradient_accumulation_steps: int = field(default=4, metadata={"help": "Forward passes per optimizer step."})
    loss_type: str = field(default="grpo", metadata={"help": "grpo (paper), dapo (TRL's default), dr_grpo, bnpo."})
    seed: int = field(default=42, metadata={"help": "Random seed (data order, sampling, LoRA init)."})
    # -- what is trained
    full: bool = field(default=False, metadata={"help": "Fine-tune all weights instead of a LoRA adapter."})
    quant: str = field(default="none", metadata={"help": "none, or 4bit: an NF4 base under the adapter (QLoRA)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                           metadata={"help": "Language-model modules given adapters (the vision "
                                                             "tower stays frozen)."})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "Trade compute for memory."})
    # -- video sampling (the paper's training budget)
    fps: float = field(default=FPS, metadata={"help": "Frames sampled per second."})
    max_frames: int = field(default=FPS_MAX_FRAMES, metadata={"help": "Cap on sampled frames."})
    total_pixels: int = field(default=TOTAL_PIXELS, metadata={"help": "Pixel budget of a whole video."})
    min_pixels: int = field(default=MIN_PIXELS, metadata={"help": "Per-frame pixel floor."})
    max_pixels: int | None = field(default=None, metadata={"help": "Per-frame pixel cap, below the budget."})
    # -- logging and checkpoints
    logging_steps: int = field(default=1, metadata={"help": "Log (and print) every N steps."})
    save_steps: int = field(default=100, metadata={"help": "Save a checkpoint every N steps."})
    save_total_limit: int | None = field(default=None, metadata={"help": "Keep only the last N checkpoints."})
    report_to: str = field(default="none", metadata={"help": "none or tensorboard (event files in OUTPUT/runs/)."})
    log_completions: bool = field(default=False, metadata={"help": "Print sample completions when logging."})

    def __post_init__(self) -> None:
        self._check_types()
        self._check_values()

    # -- validation -----------------------------------------------------------------------------------
    def _check_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):
            value, hint = getattr(self, item.name), hints[item.name]
            takes_float = hint is float or float in typing.get_args(hint)
            if takes_float and isinstance(value, str):  # YAML 1.1 reads `1e-6` (no dot) as a string
                with contextlib.suppress(ValueError):
                    value = float(value)
            if not _matches(value, hint):
                raise UsageError(f"config: {item.name} must be {_describe(hint)}, got {value!r}")
            if takes_float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            setattr(self, item.name, value)

    def _check_values(self) -> None:
        for name, choices in (("quant", QUANT_CHOICES), ("report_to", REPORT_CHOICES), ("loss_type", LOSS_CHOICES)):
            if getattr(self, name) not in choices:
                raise UsageError(f"config: {name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for task in self.tasks or []:
            if task not in TASK_CHOICES:
                raise UsageError(f"config: unknown task {task!r} in tasks; use {', '.join(TASK_CHOICES)}")
        positive = ("num_generations", "max_completion_length", "per_device_train_batch_size",
                    "gradient_accumulation_steps", "lora_r", "lora_alpha", "max_frames", "total_pixels",
                    "min_pixels", "logging_steps", "save_steps", "learning_rate", "fps", "num_train_epochs")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UsageError(f"config: {name} must be positive, got {getattr(self, name)!r}")
        for name in ("max_steps", "max_pixels", "save_total_limit"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UsageError(f"config: {name} must be positive, got {getattr(self, name)!r}")
        if self.num_generations < 2:
            raise UsageError("config: num_generations must be at least 2 (GRPO compares completions of a prompt)")
        if self.beta < 0 or self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise UsageError("config: beta must be >= 0, temperature > 0, top_p in (0, 1], top_k >= 0")
        if not 0 <= self.lora_dropout < 1:
            raise UsageError(f"config: lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.rewards is not None and not self.rewards:
            raise UsageError("config: rewards is empty; list at least one (or leave it out for the defaults)")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards or []):
            raise UsageError("config: reward_weights needs rewards listed too, one weight per reward")
        if self.full and self.quant != "none":
            raise UsageError("config: full fine-tuning of a quantized model is not possible; drop full or quant")

    # -- loading and overriding -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> RftConfig:
        names = [item.name for item in dataclasses.fields(cls)]
        values = {key: value for key, value in values.items() if key not in RECORD_KEYS}
        for key in values:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(names)}"
                raise UsageError(f"{source}: unknown key {key!r}{hint}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> RftConfig:
        """The YAML file's settings (or the defaults), then every override that is not None."""
        values: dict[str, Any] = {}
        if path is not None:
            values = read_yaml(path)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.from_dict(values, source=str(path) if path is not None else "config")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_table() -> str:
    """Every key with its default and meaning, as a Markdown table (examples/configs/README.md holds it)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for item in dataclasses.fields(RftConfig):
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        shown = "null" if default is None else json.dumps(default)
        rows.append(f"| `{item.name}` | `{shown}` | {item.metadata['help']} |")
    return "\n".join(rows) + "\n"


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path}: not valid YAML{where}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UsageError(f"{path}: expected `key: value` lines at the top level")
    return values


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is list:
        item = typing.get_args(hint)[0]
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(item, _describe(item))
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(hint, str(hint))


def require_trainable(model: str | None, family: str | None = None) -> Family:
    """The checkpoint's model family (`family` / --family overriding the guess, as at inference); UsageError in
    one line when `vcr rft` has no recipe for it (prompts, rewards, sampling), naming the families it has one for."""
    from vcr_cli.checkpoints import resolve_family, resolve_model_id
    from vcr_cli.families import all_families

    found = resolve_family(model, family)
    if found.training is None:
        able = [f.name for f in all_families() if f.training is not None]
        raise UsageError(f"vcr rft trains and evaluates with the prompts and rewards of {', '.join(able)}; "
                         f"{resolve_model_id(model)} is a {found.name} checkpoint (use a checkpoint of those)")
    return found


def load_for_family(path: str | Path | None = None, **overrides: Any) -> tuple[RftConfig, Family]:
    """A run's settings and its model family: the family's recipe (`Family.training.config_defaults()`: e.g.
    TimeLens2's beta, rollout sampling and frame budget), under the YAML file, under the flags (not None).

    The file and flags are checked first (an unknown key fails before the checkpoint is looked for). A file's
    `family` goes with the file's `model`: a saved run's rft_config.yaml given with another --model lets that
    model's family be found (a file that names no model keeps its family for any --model)."""
    values = read_yaml(path) if path is not None else {}
    if overrides.get("model") is not None and overrides.get("family") is None and \
            values.get("model") not in (None, overrides["model"]):
        values.pop("family", None)  # a saved run's family names its model, not the one --model gives now
    values.update({key: value for key, value in overrides.items() if value is not None})
    values = {key: value for key, value in values.items() if key not in RECORD_KEYS}
    cfg = RftConfig.from_dict(values, source=str(path) if path is not None else "config")
    family = require_trainable(cfg.model, cfg.family)
    merged = RftConfig.from_dict({**family.training.config_defaults(), **values, "family": family.name},
                                 source=str(path) if path is not None else "config")
    return merged, family
