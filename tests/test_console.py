"""Lines printed to a pipe are never wrapped or cut; a terminal still wraps at its width."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from typer.testing import CliRunner

from vcr_cli.app import app

LONG = "segment 1.00s -> 120.00s  " + "x" * 300 + "  score 0.99  (video 120.00s)"
SNIPPET = f"from vcr_cli.console import stdout, console\nstdout.print({LONG!r})\nconsole.print({LONG!r})\n"


def _drain(leader: int) -> bytes:
    """Everything the child wrote to the terminal, until it closes (EIO on Linux)."""
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _run_with_terminal(stdout_is_terminal: bool) -> tuple[str, str]:
    """Run SNIPPET with stdin and stderr on a 40-column terminal; stdout a pipe or that terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen([sys.executable, "-c", SNIPPET], stdin=follower, stderr=follower,
                            stdout=follower if stdout_is_terminal else subprocess.PIPE, env=env)
    os.close(follower)
    piped = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(30)
    seen = _drain(leader)
    os.close(leader)
    return piped, seen.decode(errors="replace")


def test_piped_stdout_is_not_wrapped_though_stderr_is_a_terminal():
    piped, terminal = _run_with_terminal(stdout_is_terminal=False)
    assert piped == LONG + "\n"
    assert max(len(line) for line in terminal.replace("\r", "").splitlines()) <= 40  # the terminal still wraps


def test_redirected_stderr_is_not_wrapped():
    proc = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, env={
        **os.environ, "COLUMNS": "40"}, timeout=60)
    assert proc.stdout == LONG + "\n" and proc.stderr == LONG + "\n"


def test_doctor_piped_prints_whole_lines_with_the_fix(tmp_path):
    result = CliRunner().invoke(app, ["doctor", "--model", str(tmp_path)])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith("FAIL"))
    assert line.startswith("FAIL  model: ") and "the directory needs config.json" in line
    assert "fix: " in line and len(line) > 80 and "│" not in result.output


def test_long_step_piped_prints_a_start_and_an_end_line():
    snippet = ("from vcr_cli.console import progress_step\n"
               "with progress_step('writing annotated video out.mp4', total=3) as advance:\n"
               "    for i in range(3): advance(i + 1)\n")
    proc = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
    lines = proc.stderr.splitlines()
    assert lines[0] == "writing annotated video out.mp4..." and len(lines) == 2
    assert lines[1].startswith("writing annotated video out.mp4: done (3) in ") and lines[1].endswith("s")


def test_long_step_on_a_terminal_draws_a_bar():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    snippet = ("import time\nfrom vcr_cli.console import progress_step\n"
               "with progress_step('writing annotated video out.mp4', total=4) as advance:\n"
               "    for i in range(4): advance(i + 1); time.sleep(0.2)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen([sys.executable, "-c", snippet], stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    seen = _drain(leader)
    proc.wait(30)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert "━" in text and "/4" in text and "done (" not in text  # a bar with a count, no log lines
