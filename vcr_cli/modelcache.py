"""A 4-bit load that is cheap the second time: the NF4 weights of a checkpoint, saved once, read back after.

Every `--quant 4bit` load reads the bf16 checkpoint (~16 GB for the 7B) and quantizes it to NF4, tens of
seconds before the first answer. bitsandbytes serialises 4-bit weights (`save_pretrained` of the quantized
model), and a model loaded from them skips quantization and reads ~5 GB. So the first 4-bit load of a
checkpoint saves its quantized weights under vcr's cache folder, keyed by what makes them what they are (the
checkpoint's folder and its files' names, sizes and times, so a hub revision or an edited checkpoint gets its
own entry; the quantization settings, the load dtype, and the transformers/bitsandbytes versions that wrote
them); later loads read the entry. Quantization is deterministic: the cached weights are the ones a fresh
quantization gives (tests/test_modelcache.py compares logits).

Off with `VCR_NF4_CACHE=off`. The folder: `$VCR_HOME/cache/nf4`, else `$XDG_CACHE_HOME/vcr/nf4`, else
`~/.cache/vcr/nf4`. `vcr doctor` lists its entries; delete an entry's folder (or all of them) to free the space.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "VCR_NF4_CACHE"
OFF_VALUES = {"0", "off", "no", "false"}
DONE = "vcr-nf4-cache.json"  # written last: an entry without it is incomplete (a crash mid-save) and ignored


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "").strip().lower() not in OFF_VALUES


def cache_folder() -> Path:
    """Where the NF4 entries live (see the module docstring)."""
    if os.environ.get("VCR_HOME"):
        return Path(os.environ["VCR_HOME"]).expanduser() / "cache" / "nf4"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "vcr" / "nf4"


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("transformers", "bitsandbytes"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = ""
    return found


def checkpoint_identity(source: str | Path) -> dict:
    """The checkpoint folder and its files as they are now: a changed file (or another hub snapshot, whose
    files are links to blobs named by their hash) gives another identity."""
    folder = Path(source).expanduser().resolve()
    files = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".safetensors", ".json") and path.is_file():
            real = path.resolve()
            stat = real.stat()
            files.append([path.name, real.name, stat.st_size, stat.st_mtime_ns])
    return {"folder": str(folder), "files": files}


def entry_key(source: str | Path, load_kwargs: dict) -> tuple[str, dict]:
    """(folder name of the entry, what it was derived from)."""
    quant = load_kwargs.get("quantization_config")
    described = {
        "checkpoint": checkpoint_identity(source),
        "quantization": quant.to_dict() if quant is not None else None,
        "dtype": str(load_kwargs.get("dtype")),
        "versions": _versions(),
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(source).name)[:60] or "model"
    return f"{name}-{digest}", described


def load_pretrained(model_class: Any, quant: str, source: str, **load_kwargs) -> Any:
    """`model_class.from_pretrained(source, **load_kwargs)`, through the NF4 cache for a 4-bit load.

    The returned model's `vcr_nf4_cache` says what happened: "hit" (read the cached NF4 weights), "saved"
    (quantized, then saved for next time), "off" (no cache for this load) or "unsaved" (saving failed: a warning,
    and the load goes on).
    """
    if quant != "4bit" or not enabled():
        model = model_class.from_pretrained(source, **load_kwargs)
        model.vcr_nf4_cache = "off"
        return model
    name, described = entry_key(source, load_kwargs)
    entry = cache_folder() / name
    if (entry / DONE).is_file():
        cached_kwargs = {k: v for k, v in load_kwargs.items() if k != "quantization_config"}  # in its config.json
        try:
            model = model_class.from_pretrained(str(entry), **cached_kwargs)
            model.vcr_nf4_cache = "hit"
            return model
        except Exception as exc:  # a damaged entry: quantize afresh and write it again
            _warn(f"the cached 4-bit weights in {entry} did not load ({type(exc).__name__}); quantizing afresh")
            shutil.rmtree(entry, ignore_errors=True)
    model = model_class.from_pretrained(source, **load_kwargs)
    model.vcr_nf4_cache = "saved" if _save(model, entry, described) else "unsaved"
    return model


def _save(model: Any, entry: Path, described: dict) -> bool:
    """Write the quantized model into a staging folder, then rename it into place (a crash leaves no entry)."""
    import tempfile

    from vcr_cli.console import status

    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        with status(f"Saving the 4-bit weights to {entry} (once; later loads read them)..."):
            model.save_pretrained(staging)
        size = sum(p.stat().st_size for p in staging.iterdir() if p.is_file())
        (staging / DONE).write_text(json.dumps({**described, "created": time.time(), "bytes": size}, indent=1))
        try:
            staging.rename(entry)
        except OSError:  # another process saved the same entry meanwhile: theirs is as good
            shutil.rmtree(staging, ignore_errors=True)
        return True
    except Exception as exc:  # a full disk, a read-only cache: the load itself succeeded
        shutil.rmtree(staging, ignore_errors=True)
        _warn(f"could not save the 4-bit weights to {entry.parent} ({type(exc).__name__}: {exc}); "
              f"set {CACHE_ENV}=off to stop trying")
        return False


def _warn(message: str) -> None:
    from vcr_cli.console import warn

    warn(message)


@dataclass
class CacheEntry:
    name: str
    source: str
    bytes: int
    created: float


def entries() -> list[CacheEntry]:
    """The complete entries in the cache folder, newest first."""
    folder = cache_folder()
    found = []
    if folder.is_dir():
        for entry in folder.iterdir():
            try:
                meta = json.loads((entry / DONE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            source = meta.get("checkpoint", {}).get("folder", "?")
            found.append(CacheEntry(entry.name, source, int(meta.get("bytes", 0)), float(meta.get("created", 0))))
    return sorted(found, key=lambda e: -e.created)


def describe() -> str:
    """One line for `vcr doctor`."""
    if not enabled():
        return f"off ({CACHE_ENV}={os.environ.get(CACHE_ENV)}): every 4-bit load quantizes afresh"
    found = entries()
    if not found:
        return f"{cache_folder()}: empty (the first 4-bit load of a checkpoint fills it)"
    total = sum(e.bytes for e in found) / 2**30
    names = ", ".join(f"{Path(e.source).name} ({e.bytes / 2**30:.1f} GB)" for e in found[:4])
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    return f"{cache_folder()}: {len(found)} checkpoint(s), {total:.1f} GB: {names}{more}"
