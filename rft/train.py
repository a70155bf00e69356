"""GRPO fine-tuning on a vcr JSONL file: `vcr rft train`, `python -m rft.train`, `accelerate launch -m rft.train`.

`run_training` loads the settings (`rft.config.RftConfig`: YAML, then flags), the examples
(`rft.data.load_examples`) and the rewards (`rft.rewards.build_rewards`), loads the base model (LoRA by
default, `full` for every weight, `quant: 4bit` for QLoRA), and trains with `rft.trainer.VideoGRPOTrainer`.

What a run leaves in the output folder: `checkpoint-N/` every `save_steps` (safetensors, optimizer and
trainer state: `--resume` continues from the last one), the final adapter (or model) with its processor,
`rft_config.yaml` (the settings used, and under `effective_loss` the loss TRL computes), `rewards.csv` and
`reward_curve.png` (mean rewards per step), and
TensorBoard event files under `runs/` when `report_to: tensorboard`.

Ctrl-C finishes the current step, saves a checkpoint, writes the reward curve and stops with
KeyboardInterrupt (exit 130 from the CLI); a second Ctrl-C stops at once without saving.

Several GPUs (one process each; DeepSpeed configs in examples/accelerate/):

    accelerate launch --config_file examples/accelerate/deepspeed_zero2.yaml -m rft.train \\
        data/train.jsonl --config examples/configs/ground.yaml --output-dir runs/ground
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import ProgressCallback, TrainerCallback

from rft.config import RftConfig, load_for_family, require_trainable
from vcr_cli.checkpoints import TRAINING_RECORD
from vcr_cli.errors import ModelLoadError, UsageError, VcrError, first_line

if TYPE_CHECKING:
    from rft.data import Example
    from vcr_cli.families import Family

DEFAULT_OUTPUT_DIR = "runs/rft"
CONFIG_FILE = TRAINING_RECORD  # the settings used (with the family): `vcr` reads the family back
EFFECTIVE_KEY = "effective_loss"  # in CONFIG_FILE: what TRL computes (a record; ignored when read back)
REWARD_CSV = "rewards.csv"
REWARD_PLOT = "reward_curve.png"


# -- pieces ---------------------------------------------------------------------------------------------
def default_rewards(tasks: set[str]) -> list[str]:
    """The paper's rewards for the tasks present (each built-in reward's name starts with its task)."""
    from rft.rewards import DEFAULT_REWARDS

    return [name for name in DEFAULT_REWARDS if name.split("_", 1)[0] in tasks]


def build_dataset(examples: list[Example], think: bool, family: Family | None = None):
    """A `datasets.Dataset` for VideoGRPOTrainer: prompt (one user turn), video path, and the reward columns.

    Prompts are the family's training prompts (default VideoChat-R1); `layout` says where the family's chat puts
    the video (`Family.layout`), `family` tells the span rewards whose parser reads the answer. `solution` differs
    in shape between tasks, so it is stored as JSON (decoded back to dicts on access).
    """
    import datasets

    from rft.data import example_prompt
    from vcr_cli.families import RFT_TASK_ROLES

    if family is None:
        from vcr_cli.checkpoints import default_family

        family = default_family()
    rows = []
    for example in examples:
        template, prompt = example_prompt(example, think, family=family)
        rows.append({"prompt": [{"role": "user", "content": prompt}], "video": str(example.video),
                     "task": example.task, "solution": example.solution, "think": think, "template": template,
                     "family": family.name, "layout": family.layout(RFT_TASK_ROLES[example.task])})
    features = datasets.Features({"prompt": datasets.Json(), "video": datasets.Value("string"),
                                  "task": datasets.Value("string"), "solution": datasets.Json(),
                                  "think": datasets.Value("bool"), "template": datasets.Value("string"),
                                  "family": datasets.Value("string"), "layout": datasets.Value("string")})
    return datasets.Dataset.from_list(rows, features=features)


def check_tasks(family: Family, counts: dict[str, int], data: str, evaluation: bool = False) -> None:
    """UsageError when the data holds tasks the family has no training (or evaluation) recipe for."""
    foreign = {task: n for task, n in counts.items() if task not in family.training.tasks}
    if foreign:
        held = ", ".join(f"{task} {n}" for task, n in foreign.items())
        tasks = ", ".join(family.training.tasks)
        fix = (f"evaluate a file of {tasks} lines only" if evaluation else
               f"set `tasks: [{family.training.tasks[0]}]` in the config")
        raise UsageError(f"{data} holds {held} line(s), but vcr rft {'evaluates' if evaluation else 'trains'} the "
                         f"{family.name} family on {tasks} data only; {fix} or use another checkpoint")


def video_sampling(cfg: RftConfig, family: Family):
    """How a run samples its videos: the family's training frame rule with the config's budget."""
    from rft.trainer import VideoSampling

    return VideoSampling(fps=cfg.fps, max_frames=cfg.max_frames, total_pixels=cfg.total_pixels,
                         min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels, rule=family.training.train_sampling)


def prompts_per_step(args) -> int:
    """Distinct prompts one optimizer step consumes: completions per step (all GPUs) / generations per prompt."""
    return args.generation_batch_size // args.num_generations


def fill_steps(examples: list, per_step: int) -> tuple[list, str | None]:
    """`examples` cycled to a whole number of optimizer steps (at least one), and a notice when it had to.

    TRL's sampler hands out `per_step` distinct prompts per step and drops a last, incomplete step: 2 examples
    with 4 prompts a step would train nothing (0 steps) and a remainder would go unseen each epoch.
    """
    count = len(examples)
    missing = max(per_step - count, (-count) % per_step)
    if not missing:
        return examples, None
    filled = [examples[i % count] for i in range(count + missing)]
    notice = (f"{count} examples fill {count}/{per_step} of an optimizer step's prompts "
              f"(completions per step / num_generations): repeating {missing} to fill "
              f"{len(filled) // per_step} step(s) per epoch")
    return filled, notice


def lora_target_pattern(modules: list[str]) -> str:
    """A peft `target_modules` regex: these module names, in the language model only (never `visual`)."""
    names = "|".join(re.escape(name) for name in modules)
    return rf"^(?!.*\bvisual\b).*\.({names})$"


def grpo_args(cfg: RftConfig, output_dir: Path, device: str, reward_weights: list[float]):
    """The `trl.GRPOConfig` for these settings (UsageError when TRL rejects a combination)."""
    from trl import GRPOConfig

    # transformers 5.2x renamed gradient_checkpointing (a deprecated alias now) to activation_checkpointing
    checkpointing = ("activation_checkpointing" if "activation_checkpointing" in GRPOConfig.__dataclass_fields__
                     else "gradient_checkpointing")
    try:
        return GRPOConfig(
            output_dir=str(output_dir),
            num_generations=cfg.num_generations,
            beta=cfg.beta,
            learning_rate=cfg.learning_rate,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
            max_completion_length=cfg.max_completion_length,
            num_train_epochs=cfg.num_train_epochs,
            max_steps=cfg.max_steps or -1,
            per_device_train_batch_size=cfg.per_device_train_batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            loss_type=cfg.loss_type,
            use_bias_correction_kl=False,  # the paper's KL: plain k3, not multiplied by the importance ratio
            reward_weights=reward_weights,
            seed=cfg.seed,
            **{checkpointing: cfg.gradient_checkpointing},
            bf16=device == "cuda",
            use_cpu=device == "cpu",
            logging_steps=cfg.logging_steps,
            save_strategy="steps",
            save_steps=cfg.save_steps,
            save_total_limit=cfg.save_total_limit,
            report_to=[] if cfg.report_to == "none" else [cfg.report_to],
            log_completions=cfg.log_completions,
            remove_unused_columns=False,  # the rewards read the data columns
            disable_tqdm=False,  # a progress bar even with library logs quieted (RewardProgress)
        )
    except ValueError as exc:
        text = str(exc)
        if "generation_batch_size" in text and "num_generations" in text:  # TRL names a setting users never set
            batch = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
            text = (f"num_generations ({cfg.num_generations}) must divide the completions of one step: "
                    f"per_device_train_batch_size x gradient_accumulation_steps (x GPUs) = "
                    f"{cfg.per_device_train_batch_size} x {cfg.gradient_accumulation_steps} = {batch} here; change "
                    "one of them")
        raise UsageError(f"config: {text}") from None


def loss_settings(args) -> dict[str, Any]:
    """The loss TRL will compute with `args` (a GRPOConfig), as written to the run's rft_config.yaml.

    The paper's per-token loss is -(ratio * A - beta * KL) with KL = exp(ref - logp) - (ref - logp) - 1 (k3),
    one iteration per generation batch (ratio = 1 in value, no clipping in effect), advantages normalised by the
    group's std. TRL 1.16 would multiply the KL by the ratio (`use_bias_correction_kl`); `grpo_args` turns it off.
    """
    return {
        "loss_type": args.loss_type,
        "beta": args.beta,
        "kl_estimator": "k3: exp(ref - logp) - (ref - logp) - 1",
        "use_bias_correction_kl": args.use_bias_correction_kl,
        "num_iterations": args.num_iterations,
        "epsilon_low": args.epsilon,
        "epsilon_high": args.epsilon_high if args.epsilon_high is not None else args.epsilon,
        "scale_rewards": args.scale_rewards,
        "importance_sampling_level": args.importance_sampling_level,
        "per_token_loss": "-(ratio * A - beta * KL)" if not args.use_bias_correction_kl
        else "-(ratio * A - beta * ratio * KL)",
    }


@dataclass(frozen=True)
class Precision:
    """Where each dtype comes from in a run: `load` for the (non-quantized) weights, `master` for the weights the
    optimizer steps on (`"deepspeed"`: DeepSpeed's own fp32 copies of bf16 weights), `bf16_compute` for autocast."""

    load: str
    master: str
    bf16_compute: bool


def training_precision(device: str, full: bool, quant: str, zero_stage: int | None) -> Precision:
    """The dtype decision for a run (plain, so it is testable on CPU for the CUDA case).

    At the paper's learning rate 1e-6 an AdamW step moves a weight by about 1e-6, below half a bf16 step for any
    weight above ~2.6e-4 in size: bf16 weights under a plain optimizer keep most updates from landing (1.9% of the
    weights changed after 10 steps, 99.99% with fp32). So whatever the optimizer steps on is fp32: a full model
    on one GPU or plain DDP loads in fp32 and computes in bf16 under autocast; LoRA and QLoRA adapters stay fp32
    over a bf16 (or NF4) frozen base (`VideoGRPOTrainer` undoes TRL's bf16 cast of QLoRA adapters). Under
    DeepSpeed ZeRO-2/3 bf16 weights are fine: DeepSpeed keeps fp32 master copies and steps on those.
    """
    if device != "cuda":
        return Precision(load="float32", master="float32", bf16_compute=False)
    if zero_stage in (2, 3):
        return Precision(load="bfloat16", master="deepspeed", bf16_compute=True)
    if full:
        return Precision(load="float32", master="float32", bf16_compute=True)
    return Precision(load="bfloat16", master="float32", bf16_compute=True)  # frozen base, fp32 adapters


def zero_stage(args) -> int | None:
    """The DeepSpeed ZeRO stage of an `accelerate launch` run (None without DeepSpeed)."""
    plugin = getattr(args, "deepspeed_plugin", None)
    return getattr(plugin, "zero_stage", None) if plugin is not None else None


def load_policy(cfg: RftConfig, args, precision: Precision | None = None) -> tuple[Any, Any]:
    """(model, processor): the base model in `precision.load` (`training_precision`), NF4 under QLoRA; any
    family's architecture (`AutoModelForImageTextToText`, as inference loads it)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vcr_cli.checkpoints import names_a_folder, resolve_model_id
    from vcr_cli.runtime import quantization_config

    model_id = resolve_model_id(cfg.model)
    local = Path(model_id).expanduser()
    if names_a_folder(model_id) and not local.is_dir():
        raise UsageError(f"model directory not found: {local}")
    require_trainable(model_id, cfg.family)
    # absolute: the adapter records this as its base (`base_model_name_or_path`), read later from any folder
    source = str(local.resolve()) if local.is_dir() else model_id
    device = args.device.type
    precision = precision or training_precision(device, cfg.full, cfg.quant, zero_stage(args))
    kwargs: dict[str, Any] = {"dtype": getattr(torch, precision.load),
                              "attn_implementation": "sdpa", "use_safetensors": True}
    if cfg.quant != "none":
        kwargs["quantization_config"] = quantization_config(cfg.quant, device)
        kwargs["device_map"] = {"": args.device}  # bitsandbytes weights are placed at load time
    try:
        processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    except Exception as exc:  # OSError (not found / offline), ValueError, safetensors errors ...
        reason = first_line(exc)
        raise ModelLoadError(f"cannot load the base model {model_id!r} ({type(exc).__name__}: {reason})") from None
    if cfg.quant != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    return model, processor


def lora_config(cfg: RftConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=lora_target_pattern(cfg.lora_target_modules), bias="none")


def checkpoints(output_dir: Path) -> list[Path]:
    """checkpoint-N folders, by step."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def write_reward_curve(log_history: list[dict], output_dir: Path) -> tuple[Path, Path] | None:
    """rewards.csv and reward_curve.png from the logged steps (None when nothing was logged)."""
    from rft.plot import plot_reward_curve, reward_history, write_reward_csv

    history = reward_history(log_history)
    if not history:
        return None
    return (write_reward_csv(history, output_dir / REWARD_CSV),
            plot_reward_curve(history, output_dir / REWARD_PLOT, title=f"GRPO reward: {output_dir.name}"))


# -- callbacks ------------------------------------------------------------------------------------------
class RewardProgress(ProgressCallback):
    """The Trainer's progress bar on a terminal, with one short line per logged step instead of the raw log dict.

    Off a terminal (a log file, `| tee`) there is no bar, whose redraws pile up there: each logged step is one
    line, `step 3/8 | reward ...`."""

    def __init__(self) -> None:
        super().__init__()
        self.draw_bar = sys.stderr.isatty()

    def on_train_begin(self, args, state, control, **kwargs):
        if self.draw_bar:
            super().on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.draw_bar:
            super().on_step_end(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.draw_bar:
            super().on_train_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "reward" not in logs:
            return
        if self.training_bar is not None:
            self.training_bar.write(format_log_line(state.global_step, logs), file=sys.stderr)  # stdout is data
        else:
            print(format_log_line(state.global_step, logs, state.max_steps), file=sys.stderr, flush=True)


def format_log_line(step: int, logs: dict, max_steps: int | None = None) -> str:
    """`step 12 | reward 0.625 | ground_iou 0.31 ground_format 0.50 | loss 0.0123 | kl 0.0041` (`step 12/40` with
    `max_steps`, where no bar shows how far the run is)."""
    parts = [f"step {step}" + (f"/{max_steps}" if max_steps else ""), f"reward {_fmt(logs.get('reward'))}"]
    means = [f"{key[len('rewards/'):-len('/mean')]} {_fmt(value)}" for key, value in logs.items()
             if key.startswith("rewards/") and key.endswith("/mean")]
    if means:
        parts.append(" ".join(means))
    parts += [f"{key} {_fmt(logs[key], 4)}" for key in ("loss", "kl") if key in logs]
    return " | ".join(parts)


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


class StopOnInterrupt(TrainerCallback):
    """Ctrl-C: finish the current step, save a checkpoint, stop. A second Ctrl-C stops at once.

    On several GPUs every process gets the signal; the flag is reduced across processes at each step
    end so all of them save and stop at the same step.
    """

    def __init__(self) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self.accelerator = None  # set after the trainer exists (for the cross-process agreement)
        self._previous = None

    # torchrun / accelerate launch get the terminal's Ctrl-C too and forward it to every worker at once: a
    # second SIGINT that soon after the first is the launcher's echo, not the user's "stop now".
    LAUNCHER_ECHO_S = 2.0

    def _handle(self, signum, frame) -> None:
        import time

        now = time.monotonic()
        if self.requested:
            under_launcher = "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ
            if under_launcher and now - getattr(self, "_first_at", now) < self.LAUNCHER_ECHO_S:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._first_at = now
        if os.environ.get("RANK", "0") != "0":
            return  # one message, from the main process
        from vcr_cli.console import console

        console.print("Ctrl-C: finishing this step, then saving a checkpoint (Ctrl-C again to stop without saving)")

    def on_train_begin(self, args, state, control, **kwargs):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def on_step_end(self, args, state, control, **kwargs):
        requested = self.requested
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            import torch

            flag = torch.tensor([int(requested)], device=self.accelerator.device)
            requested = bool(self.accelerator.reduce(flag, reduction="sum").item())
        if requested:
            self.requested = True
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class PlainModes(TrainerCallback):
    """Checkpoints get the modes `open()` would give: safetensors writes its files 0600."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from vcr_cli.outputs.atomic import umask_modes

            umask_modes(args.output_dir)


# -- the run --------------------------------------------------------------------------------------------
def run_training(data_path=None, config_path=None, model=None, output_dir=None, max_steps=None, full=False,
                 quant=None, resume=False, device="auto", family=None) -> Path:
    """Fine-tune with GRPO; returns the output folder (final adapter, or full model with `full`).

    Arguments left at None (and `full=False`) keep the config file's value; the rest override it.
    """
    from vcr_cli.checkpoints import resolve_model_id
    from vcr_cli.console import console, plural, quiet_libraries
    from vcr_cli.runtime import resolve_device

    quiet_libraries()
    cfg, model_family = load_for_family(
        config_path, model=model, family=family, data=str(data_path) if data_path is not None else None,
        output_dir=str(output_dir) if output_dir is not None else None, max_steps=max_steps,
        full=True if full else None, quant=quant)
    if cfg.data is None:
        raise UsageError("no training data: give the DATA file (or `data:` in the config)")
    out = Path(cfg.output_dir or DEFAULT_OUTPUT_DIR)
    # the last *complete* checkpoint: a run killed while saving leaves a newer folder without its trainer state
    complete = [c for c in checkpoints(out) if (c / "trainer_state.json").is_file()]
    resume_from = complete[-1] if resume and complete else None
    if resume and not complete:
        raise UsageError(f"--resume: no checkpoint to continue from in {out} (a checkpoint-N folder with its "
                         "trainer_state.json)")
    if not resume and checkpoints(out):
        raise UsageError(f"{out} already holds checkpoints; pass --resume to continue that run, "
                         "or choose another --output-dir")
    resolved_device = resolve_device(device)
    if cfg.report_to == "tensorboard":
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
            raise UsageError("report_to: tensorboard needs the tensorboard package (`pip install tensorboard`)")

    from rft.data import count_tasks, load_examples
    from rft.rewards import build_rewards

    examples = load_examples(cfg.data)
    if cfg.tasks:
        examples = [e for e in examples if e.task in cfg.tasks]
        if not examples:
            raise UsageError(f"{cfg.data} has no examples of the tasks {', '.join(cfg.tasks)}")
    counts = count_tasks(examples)
    check_tasks(model_family, counts, cfg.data)
    reward_names = cfg.rewards or list(model_family.training.rewards) or default_rewards(set(counts))
    reward_funcs, reward_weights = build_rewards(reward_names, cfg.reward_weights)

    args = grpo_args(cfg, out, resolved_device, reward_weights)  # before the model: DeepSpeed ZeRO-3 init
    if args.n_gpu > 1:  # one process seeing several GPUs would mean DataParallel, which splits videos wrongly
        raise UsageError(f"{args.n_gpu} GPUs are visible to one process: train on all of them with "
                         f"`accelerate launch --num_processes {args.n_gpu} -m rft.train ...` (examples/accelerate/), "
                         "or on one with CUDA_VISIBLE_DEVICES=0")
    policy, processor = load_policy(cfg, args)
    rows, fill_notice = fill_steps(examples, prompts_per_step(args))
    dataset = build_dataset(rows, cfg.think, model_family)

    from rft.trainer import VideoGRPOTrainer

    stopper = StopOnInterrupt()
    trainer = VideoGRPOTrainer(
        model=policy, reward_funcs=reward_funcs, args=args, train_dataset=dataset, processing_class=processor,
        peft_config=None if cfg.full else lora_config(cfg), callbacks=[stopper, PlainModes()],
        video_sampling=video_sampling(cfg, model_family), family=model_family,
    )
    stopper.accelerator = trainer.accelerator
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RewardProgress())
    main_process = trainer.is_world_process_zero()
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        _write_config(cfg, out / CONFIG_FILE, loss_settings(trainer.args))
        what = "all weights" if cfg.full else ("QLoRA (4-bit base)" if cfg.quant == "4bit" else "LoRA")
        console.print(f"training {what} of {resolve_model_id(cfg.model)} ({model_family.title}) on "
                      f"{plural(len(examples), 'example')} "
                      f"({', '.join(f'{t} {n}' for t, n in counts.items())}) with rewards "
                      f"{', '.join(map(str, reward_names))}; {cfg.num_generations} generations per prompt; "
                      f"output {out}", soft_wrap=True, markup=False)
        if fill_notice:
            console.print(fill_notice, soft_wrap=True, markup=False)
        if resume_from:
            console.print(f"resuming from {resume_from} (step {resume_from.name.split('-')[-1]})", soft_wrap=True,
                          markup=False)

    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        if main_process:
            written = write_reward_curve(trainer.state.log_history, out)
            if written:
                console.print(f"reward curve: {written[1]} (per step: {written[0]})", soft_wrap=True, markup=False)
    trainer.accelerator.wait_for_everyone()  # no process leaves before the main one has written everything
    if stopper.stopped_at is not None:
        if main_process:
            console.print(f"stopped at step {stopper.stopped_at}; checkpoint saved in {out}; continue with "
                          "--resume", soft_wrap=True, markup=False)
        raise KeyboardInterrupt
    done, asked = trainer.state.global_step, cfg.max_steps or trainer.state.max_steps
    if done == 0:
        raise VcrError(f"trained 0 of {asked} optimizer steps: nothing was saved as a model in {out}")
    trainer.save_model(str(out))  # adapter (LoRA) or full model, safetensors, plus the processor
    if main_process:
        from vcr_cli.outputs.atomic import umask_modes

        umask_modes(out)
    if done < asked:
        raise VcrError(f"trained only {done} of {asked} optimizer steps; the model saved in {out} has those {done}")
    return out


def _write_config(cfg: RftConfig, path: Path, effective: dict[str, Any] | None = None) -> None:
    """The settings used, plus (`effective_loss`) the loss TRL computes; `--config` reads the file back."""
    import yaml

    from vcr_cli.outputs.atomic import write_text_atomic

    values = _absolute_paths(cfg.to_dict())
    if effective is not None:
        values[EFFECTIVE_KEY] = effective
    write_text_atomic(path, yaml.safe_dump(values, sort_keys=False))


def _absolute_paths(values: dict[str, Any]) -> dict[str, Any]:
    """Local paths as absolute ones, so the saved config works as `--config` from any folder (hub ids and module
    rewards stay as written)."""
    def absolute(text: str) -> str:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text

    values = dict(values)
    for key in ("data", "model", "output_dir"):
        if isinstance(values.get(key), str):
            values[key] = absolute(values[key])
    if isinstance(values.get("rewards"), list):  # "path/to/file.py:fn" custom rewards
        values["rewards"] = [absolute(r.rsplit(":", 1)[0]) + ":" + r.rsplit(":", 1)[1]
                             if isinstance(r, str) and ":" in r and r.rsplit(":", 1)[0].endswith(".py") else r
                             for r in values["rewards"]]
    return values


# -- python -m rft.train ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """`python -m rft.train [DATA] --config FILE ...` (the entry point for `accelerate launch -m rft.train`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rft.train", description="GRPO fine-tuning of a video model "
                                     "(VideoChat-R1, or a Qwen3-VL grounder) on a vcr JSONL file (same as "
                                     "`vcr rft train`).")
    parser.add_argument("data", nargs="?", help="training JSONL (default: `data:` in the config)")
    parser.add_argument("--config", "-c", help="settings (YAML); the flags below override it")
    parser.add_argument("--output-dir", help=f"checkpoints and the final adapter (default {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--model", "-m", help="base model: hub id or local checkpoint folder")
    parser.add_argument("--family", help="model family (default: found from the checkpoint)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument("--full", action="store_true", help="fine-tune all weights instead of a LoRA adapter")
    parser.add_argument("--quant", choices=["none", "4bit"], help="4bit: QLoRA (an NF4 base under the adapter)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    opts = parser.parse_args(argv)
    from vcr_cli.console import error

    try:
        out = run_training(data_path=opts.data, config_path=opts.config, model=opts.model,
                           output_dir=opts.output_dir, max_steps=opts.max_steps, full=opts.full, quant=opts.quant,
                           resume=opts.resume, device=opts.device, family=opts.family)
    except KeyboardInterrupt:
        return 130
    except VcrError as exc:
        error(str(exc))
        return exc.exit_code
    if os.environ.get("RANK", "0") == "0":
        print(f"saved to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
