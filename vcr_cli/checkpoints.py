"""Which checkpoint a --model names and what it is, before anything heavy loads.

A hub id or a local folder (`names_a_folder`), a LoRA adapter folder and the base it names, the checkpoint's
config.json, and its model family (`resolve_family`: --family / $VCR_FAMILY, the family a `vcr rft train` run
recorded in its output, a published id, the adapter's base, config.json's model_type). No torch or transformers:
a wrong --model or --family fails in one line before the slow import; `vcr_cli.runtime.load_runtime` then loads
what this found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vcr_cli.errors import ModelLoadError, UsageError, first_line
from vcr_cli.families import DEFAULT_MODEL

if TYPE_CHECKING:
    from vcr_cli.families import Family


def resolve_model_id(model: str | None) -> str:
    """--model, else $VCR_MODEL, else `DEFAULT_MODEL` (the registry names it)."""
    return model or os.environ.get("VCR_MODEL") or DEFAULT_MODEL


def _check_local_dir(path: Path, missing_fix: str | None = None) -> None:
    if not path.is_dir():
        raise UsageError(f"model directory not found: {path}; "
                         f"{missing_fix or 'pass --model a checkpoint directory or a hub id'}")
    if not (path / "config.json").exists():  # the wrong folder: a user mistake (exit 2), not a load failure
        raise UsageError(f"{path} is not a model checkpoint (no config.json); point --model at a directory "
                         "saved with save_pretrained or downloaded with `hf download`")
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(f"{path} has no .safetensors weights; vcr loads safetensors only")


def is_adapter_dir(path: Path) -> bool:
    """A LoRA adapter folder (what `vcr rft train` writes by default): adapter_config.json, no config.json."""
    return path.is_dir() and (path / "adapter_config.json").is_file() and not (path / "config.json").exists()


def adapter_base(adapter_dir: Path) -> str | None:
    """The base model an adapter folder names (`base_model_name_or_path`), or None."""
    import json

    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read {adapter_dir / 'adapter_config.json'} ({first_line(exc)})") from None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    return str(base) if base else None


def names_a_folder(model_id: str) -> bool:
    """Whether --model means a local folder: one exists there, or it is written as a path (./x, /x, ~/x);
    otherwise it is a hub id (`runs/ground` is both, and a folder wins)."""
    return Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))


def model_source(model_id: str, hub_fix: str | None = None, missing_fix: str | None = None) -> tuple[str, bool]:
    """(where to load from, whether it is a local folder): a local checkpoint folder, else the hub cache.

    `hub_fix` / `missing_fix` replace the advice for an uncached hub id / a missing folder where --model is not
    the way out (an adapter's base, `vcr rft merge`)."""
    local = Path(model_id).expanduser()
    if names_a_folder(model_id):
        _check_local_dir(local, missing_fix)
        return str(local), True
    from vcr_cli.hub import ensure_available

    # fails fast when unreachable; downloads with a progress bar
    return ensure_available(model_id, fix=hub_fix), False


@dataclass(frozen=True)
class CheckpointSource:
    """Where a --model's weights are: `source` (a folder, local or the hub cache's snapshot), whether it is
    local, and for a LoRA adapter folder the adapter and the base it names."""

    model_id: str
    source: str
    local: bool
    adapter: Path
    base_id: str | None


def checkpoint_source(model_id: str) -> CheckpointSource:
    """Find the checkpoint `model_id` names (an adapter's base for an adapter folder), downloading a hub id not in
    the cache; a UsageError / ModelLoadError with the fix when it is missing."""
    adapter = Path(model_id).expanduser()
    base_id = None
    if is_adapter_dir(adapter):
        base_id = adapter_base(adapter)
        if not base_id:
            raise UsageError(f"{adapter}/adapter_config.json names no base model; merge it with "
                             f"`vcr rft merge {adapter} --base-model BASE -o {adapter}-merged` and pass that folder")
    merge_fix = f"`vcr rft merge {adapter} --base-model DIR -o {adapter}-merged`, then pass --model {adapter}-merged"
    source, local = model_source(base_id or model_id, hub_fix=base_id and (
        f"Get it into the Hugging Face cache (`hf download {base_id}` where the hub is reachable) and run "
        f"again, or merge the adapter into a local copy DIR: {merge_fix}"), missing_fix=base_id and (
        f"it is the base model of the adapter {adapter}; to use another copy DIR: {merge_fix}"))
    return CheckpointSource(model_id, source, local, adapter, base_id)


def read_checkpoint_config(source: str) -> dict:
    """config.json of a checkpoint folder; an unreadable one is a load failure (exit 1), as loading would be."""
    import json

    try:
        config = json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the checkpoint in {source} (config.json: {type(exc).__name__}: "
                             f"{first_line(exc)})") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"cannot load the checkpoint in {source} (config.json is not a JSON object)")
    return config


def checkpoint_config(model_id: str) -> tuple[dict, str | None]:
    """(config.json of the checkpoint `model_id` names, the base id when it is a LoRA adapter folder).

    Cheap (no torch): a local folder or adapter is read in place, a hub id from its cached snapshot."""
    found = checkpoint_source(model_id)
    return read_checkpoint_config(found.source), found.base_id


def resolve_family(model: str | None, family: str | None = None) -> Family:
    """The model family of --model (or $VCR_MODEL, or the default), `family` (--family) overriding the guess;
    a UsageError before any slow import when it does not fit."""
    from vcr_cli.families import known_checkpoint

    model_id = resolve_model_id(model)
    asked_family(family)
    known = None if names_a_folder(model_id) else known_checkpoint(model_id)
    if known is not None:  # a published id: its model_type is known without fetching its files
        return family_of(model_id, {"model_type": known.model_type}, family, None)
    config, base_id = checkpoint_config(model_id)
    return family_of(model_id, config, family, base_id)


def asked_family(family: str | None) -> str | None:
    """--family, else $VCR_FAMILY, else None (guess from the checkpoint); an unknown name fails here."""
    from vcr_cli.families import get

    name = family or os.environ.get("VCR_FAMILY") or None
    return get(name).name if name else None


# What `vcr rft train` writes into its output folder: the run's settings, `family` among them.
TRAINING_RECORD = "rft_config.yaml"


def training_record(folder: Path) -> Path | None:
    """The `vcr rft train` record of a model folder it wrote (a checkpoint-N folder's is its run folder's)."""
    for candidate in (folder, folder.parent if folder.name.startswith("checkpoint-") else None):
        if candidate is not None and (candidate / TRAINING_RECORD).is_file():
            return candidate / TRAINING_RECORD
    return None


def recorded_family(model_id: str) -> str | None:
    """The family `vcr rft train` trained a local folder's model as (`training_record`), so its adapter or full
    model is asked as it was trained: a TimeLens2 fine-tune of a local copy would otherwise read as plain Qwen3-VL
    (its model_type)."""
    folder = Path(model_id).expanduser()
    record = training_record(folder) if folder.is_dir() else None
    if record is None:
        return None
    import yaml

    try:
        value = (yaml.safe_load(record.read_text(encoding="utf-8")) or {}).get("family")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None
    if not isinstance(value, str) or not value:
        return None
    from vcr_cli.families import names

    if value.strip().lower() not in names():
        raise UsageError(f"{record} names the model family {value!r}, which vcr does not know; pass --family "
                         f"({', '.join(names())})")
    return value


def family_of(model_id: str, config: dict, family: str | None, base_id: str | None) -> Family:
    """--family (or $VCR_FAMILY), else the family `vcr rft train` recorded in the folder, else the guess."""
    from vcr_cli.families import resolve

    return resolve(model_id, config, asked_family(family) or recorded_family(model_id), adapter_base=base_id)


def default_family() -> Family:
    """The default model's family: what a Runtime built around an already loaded model (rft) speaks."""
    from vcr_cli.families import resolve

    return resolve(DEFAULT_MODEL, None)
