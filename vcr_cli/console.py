"""Terminal output and the one place expected failures become a clean line + exit code.

stdout carries data (JSON with `-o -`, or the short result); progress and messages go to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator

import typer
from rich.console import Console, ConsoleDimensions

from vcr_cli.errors import VcrError

UNWRAPPED_WIDTH = 1_000_000  # off a terminal: wide enough that no line is wrapped or cut


class LineConsole(Console):
    """A rich Console that wraps only on a terminal.

    rich sizes a non-terminal stream by whichever std stream is a terminal (or 80 columns), so
    `vcr ground ... | grep` got lines hard-wrapped at the terminal width. Piped or redirected output
    keeps every line whole instead (COLUMNS too applies only to a terminal).
    """

    @property
    def size(self) -> ConsoleDimensions:
        if not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED_WIDTH, Console.size.fget(self).height)
        return Console.size.fget(self)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = LineConsole(stderr=True, highlight=False)
stdout = LineConsole(highlight=False)
VERBOSE = {"on": False}
# Set by commands whose work is complete and flushed when they return (ground, track, ask, batch):
# the console script then skips the slow interpreter teardown (see vcr_cli.app.main).
FAST_EXIT = {"on": False}


def quiet_libraries() -> None:
    """Silence library chatter (weight-loading bars, bitsandbytes notes) unless --verbose."""
    if VERBOSE["on"]:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore")
    # "kernels": transformers' kernel hub, whose offline "publisher trust" notice bitsandbytes triggers at import
    for name in ("transformers", "bitsandbytes", "accelerate", "torch", "huggingface_hub", "peft", "trl", "kernels"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # transformers not imported yet or missing: nothing to quiet
        pass


def error(message: str) -> None:
    """Messages are plain text: brackets in them (paths, `pip install 'vcr[ray]'`) are not markup."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


def print_traceback(exc: BaseException) -> None:
    """The full traceback to stderr, including the library error a VcrError was raised from (`from None`)."""
    import traceback

    exc.__suppress_context__ = False  # the one-line errors hide their cause; --verbose is for seeing it
    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()


@contextlib.contextmanager
def handle_errors(fast_exit: bool = False) -> Iterator[None]:
    """VcrError -> one line and its exit code; Ctrl-C -> 130; anything else -> one line, exit 1.

    With --verbose, an expected failure prints its traceback (and its cause's) before the line.

    `fast_exit`: the command's outputs are complete when it returns, so the console script may
    skip interpreter teardown (see vcr_cli.app.main).
    """
    FAST_EXIT["on"] = fast_exit
    try:
        yield
    except typer.Exit:
        raise
    except VcrError as exc:
        if VERBOSE["on"]:
            print_traceback(exc)
        error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        error("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if VERBOSE["on"]:
            raise
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        error(f"unexpected failure: {type(exc).__name__}: {text} (run `vcr --verbose ...` for the traceback)")
        raise typer.Exit(1) from None


@contextlib.contextmanager
def progress_step(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A long step: a progress bar on a terminal; otherwise a start line and an end line with its time.

    Yields `advance(done, total=None)`. Piped logs thus show what runs and how long it took, without the
    bar's redraws.
    """
    start = time.perf_counter()
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(description, markup=False), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task(description, total=total)

            def advance(done: int, new_total: int | None = None) -> None:
                progress.update(task, completed=done, total=new_total if new_total is not None else total)

            yield advance
        return
    console.print(f"{description}...", markup=False, soft_wrap=True)
    count = {"done": 0}

    def record(done: int, new_total: int | None = None) -> None:
        count["done"] = done

    yield record
    what = f" ({count['done']})" if count["done"] else ""
    console.print(f"{description}: done{what} in {time.perf_counter() - start:.1f}s", markup=False, soft_wrap=True)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on an interactive terminal; nothing otherwise (long steps use `progress_step`)."""
    if console.is_terminal:
        with console.status(message):
            yield
    else:
        yield


def plural(count: int, noun: str) -> str:
    """`1 example`, `2 examples`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def is_stdout_data(path: str | None) -> bool:
    return path == "-"


def flush() -> None:
    sys.stdout.flush()
