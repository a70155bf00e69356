"""Getting a model from the Hugging Face hub: fail fast when it can't be reached, show progress when it can.

Without this, an unreachable hub costs minutes of silent retries per file before transformers gives up,
and a first 16 GB download runs with no progress bar (vcr quiets library output).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from vcr_cli.errors import ModelLoadError, first_line

# What a Qwen2.5-VL checkpoint needs (no .bin/.pt duplicates of the safetensors weights).
CHECKPOINT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


def offline() -> bool:
    """HF_HUB_OFFLINE is set: never reach for the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _fix(model_id: str) -> str:
    return (f"Download it where the hub is reachable (`hf download {model_id} --local-dir DIR`) and pass "
            "--model DIR (or set VCR_MODEL)")


def is_cached(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:
        return False


def hub_reachable(timeout: float = 5.0) -> bool:
    """A TCP connection to the hub endpoint ($HF_ENDPOINT or huggingface.co) within `timeout` seconds."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_available(model_id: str, fix: str | None = None) -> str:
    """A hub id that is cached, or is downloaded now with a progress bar; ModelLoadError (fast) if neither.

    Called for a name that is no local folder: `runs/grond` (a mistyped folder) and `OpenGVLab/VideoChat-R1_7B`
    look alike, so the message covers both.

    `fix` replaces the default advice (download it, pass --model DIR) where that is not the way out."""
    fix = fix or _fix(model_id)
    if is_cached(model_id):
        return model_id
    if offline():
        raise ModelLoadError(f"model {model_id!r} is no folder here and not in the Hugging Face cache, and "
                             f"HF_HUB_OFFLINE is set. If it is a folder, check the path. {fix}")
    if not hub_reachable():
        raise ModelLoadError(f"model {model_id!r} is no folder here and not in the Hugging Face cache, and the "
                             f"hub cannot be reached from here. If it is a folder, check the path. {fix}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    from vcr_cli.console import console

    console.print(f"Downloading {model_id} to the Hugging Face cache (once; VideoChat-R1 7B is ~16 GB)...")
    enable_progress_bars()
    try:
        return snapshot_download(model_id, allow_patterns=CHECKPOINT_PATTERNS)
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"could not download {model_id!r} ({type(exc).__name__}: {reason}). "
                             + fix) from None
    finally:
        disable_progress_bars()
