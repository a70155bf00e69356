"""Kill-and-resume scaffolding shared by the batch tests (local and Ray engines)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def kill_once_results_have(args: list[str], results: Path, lines: int = 2, timeout: float = 120) -> None:
    """Run `args` and SIGKILL it as soon as `results` holds `lines` lines (or it ends, or `timeout` passes)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= lines:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
