"""Model families: each checkpoint family's trained interface in one module (`families/<name>.py`).

A family module defines prompts, parsers, its sampling rule and time contract, and one `FAMILY`; this
registry finds the modules by listing the package (files starting with `_` are shared bases), so adding a
family is adding a file. Importing the registry or any family loads no torch, transformers or numpy.

`resolve` picks the family of a checkpoint: `--family NAME`, else the known checkpoint ids, else the id of
the base an adapter names, else the default family of config.json's `model_type`; whatever picks it, the
family must match that `model_type`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from vcr_cli.errors import UsageError
from vcr_cli.families._base import (
    CHOICE,
    CHOICE_GLUE,
    GROUND,
    OPEN,
    RFT_TASK_ROLES,
    ROLES,
    TRACK,
    Capabilities,
    ChoiceAnswer,
    Family,
    SamplingRule,
    TrainingRecipe,
)

__all__ = ["CHOICE", "CHOICE_GLUE", "DEFAULT_MODEL", "GROUND", "OPEN", "RFT_TASK_ROLES", "ROLES", "TRACK",
           "Capabilities", "ChoiceAnswer", "Family", "SamplingRule", "TrainingRecipe", "all_families",
           "families_supporting", "get", "known_checkpoint", "names", "read_config", "resolve"]

DEFAULT_MODEL = "OpenGVLab/VideoChat-R1_7B"  # what vcr runs without --model / $VCR_MODEL

# Checkpoints that look like a family's but are known not to work with it.
UNSUPPORTED = {
    "TencentARC/TimeLens-7B": ("TimeLens-7B writes its timestamps with a remote-code processor vcr does not run; "
                               "use TencentARC/TimeLens-8B or MCG-NJU/TimeLens2-8B"),
}


@cache
def all_families() -> tuple[Family, ...]:
    """Every family, one per module in this package, in file-name order."""
    found = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.FAMILY)
    return tuple(found)


def names() -> list[str]:
    return [family.name for family in all_families()]


def get(name: str) -> Family:
    """The family called `name` (the --family value); UsageError naming the families otherwise."""
    for family in all_families():
        if family.name == name.strip().lower():
            return family
    raise UsageError(f"unknown model family {name!r}; choose one of {', '.join(names())}")


def families_supporting(role: str) -> list[str]:
    """Names of the families with a trained prompt for `role`."""
    return [family.name for family in all_families() if family.supports(role)]


def known_checkpoint(model_id: str | None) -> Family | None:
    """The family of a published checkpoint id (`Family.checkpoints`), None for any other id."""
    if not model_id:
        return None
    wanted = model_id.strip().rstrip("/").lower()
    for family in all_families():
        if any(wanted == known.lower() for known in family.checkpoints):
            return family
    return None


def read_config(folder: str | Path) -> dict:
    """config.json of a checkpoint folder (UsageError when it is missing or unreadable)."""
    import json

    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path} ({type(exc).__name__}); --model must be a checkpoint folder with "
                         "its config.json") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object")
    return data


def resolve(model_id: str | None, config: dict | None, override: str | None = None,
            adapter_base: str | None = None) -> Family:
    """The family of checkpoint `model_id` whose config.json is `config`.

    Order: `override` (--family), the known checkpoint ids (`model_id`, then the base `adapter_base` an adapter
    names), then the default family of config.json's `model_type`. The result must have that `model_type`;
    otherwise, or when nothing matches, a UsageError names the families that fit.
    """
    model_type = (config or {}).get("model_type")
    for checkpoint in (model_id, adapter_base):
        if checkpoint and checkpoint.strip().rstrip("/") in UNSUPPORTED and not override:
            raise UsageError(UNSUPPORTED[checkpoint.strip().rstrip("/")])
    family = (get(override) if override else None) or known_checkpoint(model_id) or known_checkpoint(adapter_base)
    fitting = [f.name for f in all_families() if f.model_type == model_type]
    if family is None:
        family = next((f for f in all_families() if f.default and f.model_type == model_type), None)
        if family is None:
            known = ", ".join(f"{f.name} ({f.model_type})" for f in all_families())
            raise UsageError(f"no model family for model_type {model_type!r} of {model_id or 'this checkpoint'}; "
                             f"vcr runs {known}")
    if model_type is not None and family.model_type != model_type:
        hint = f"; families for {model_type}: {', '.join(fitting)}" if fitting else ""
        raise UsageError(f"the {family.name} family needs a {family.model_type} checkpoint, but "
                         f"{model_id or 'this checkpoint'} is {model_type}{hint}")
    return family
