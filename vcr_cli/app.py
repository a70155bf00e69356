"""The `vcr` command line: a thin Typer layer over vcr_cli's task functions.

Only typer, rich and the standard library are imported here and in the command modules' tops,
so `vcr --help` stays fast; torch and transformers load when a command runs.
"""

from __future__ import annotations

import sys
import types
from typing import Annotated

import typer

from rft.cli import app as rft_app
from vcr_cli.commands.ask import ask
from vcr_cli.commands.batch import batch
from vcr_cli.commands.doctor import doctor
from vcr_cli.commands.ground import ground
from vcr_cli.commands.serve import serve
from vcr_cli.commands.track import track
from vcr_cli.commands.view import view


def _defer(module: str, name: str) -> None:
    """Put a stand-in for `module` in sys.modules that loads the real one on first real use of it.

    Typer's help renderer imports rich.markdown (markdown-it) and rich.traceback (pygments, rich.pretty,
    attrs) at its top: about half of `vcr --help`. vcr's help is rich markup, never Markdown, and tracebacks
    are shown only with --verbose, so `--help` never uses either; anything that does gets the real module.
    """
    if module in sys.modules:
        return
    stub = types.ModuleType(module)

    def real() -> types.ModuleType:
        if sys.modules.get(module) is stub:
            del sys.modules[module]
        import importlib

        return importlib.import_module(module)

    def attribute(attr: str):
        if attr.startswith("__"):  # the import system probing (__path__, ...): not a use
            raise AttributeError(attr)
        return getattr(real(), attr)

    class Forward(type):  # class attributes (e.g. Traceback.from_exception) come from the real class
        def __getattr__(cls, attr: str):
            return getattr(getattr(real(), name), attr)

    stub.__getattr__ = attribute  # type: ignore[method-assign]
    setattr(stub, name, Forward(name, (), {"__new__": lambda cls, *a, **k: getattr(real(), name)(*a, **k)}))
    sys.modules[module] = stub


_defer("rich.markdown", "Markdown")
_defer("rich.traceback", "Traceback")

app = typer.Typer(
    name="vcr",
    help="Video understanding with VideoChat-R1 on a local GPU: ground events in time, track objects, "
    "answer questions, and fine-tune with rewards (vcr rft).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from vcr_cli import __version__

        typer.echo(f"vcr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show library logs and full tracebacks.")] = False,
) -> None:
    """vcr: VideoChat-R1 on your videos."""
    from vcr_cli.console import VERBOSE

    VERBOSE["on"] = verbose


app.command("ground")(ground)
app.command("track")(track)
app.command("ask")(ask)
app.command("batch")(batch)
app.command("view")(view)
app.command("doctor")(doctor)
app.command("serve")(serve)
app.add_typer(rft_app, name="rft")


def main() -> None:
    """Console-script entry point.

    Tearing down an interpreter that has torch and transformers loaded takes ~1 s (module and
    thread finalizers) after all work is done. Inference commands write their outputs atomically
    and flush before returning, so once they have finished the process exits at once.
    """
    import os
    import sys

    from vcr_cli.console import FAST_EXIT, error

    exit_on_sigterm()
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        error("interrupted")
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        # click's usage errors (bad option value, missing argument, unknown command): one line, exit 2
        if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else _command_path(sys.argv[1:])
        hint = f" (see `{command} --help`)" if command else ""
        message = exc.format_message().replace("Value error, ", "")  # typer's validator prefix says nothing
        if message:  # empty when the help was shown for a bare `vcr` / `vcr rft`
            error(message + hint)
        code = exc.exit_code
    if FAST_EXIT["on"] and not os.environ.get("VCR_NO_FAST_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def exit_on_sigterm() -> None:
    """`kill` (SIGTERM) unwinds like Ctrl-C: outputs being written are removed, not left as temporary files."""
    import signal

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def _command_path(argv: list[str]) -> str:
    """`vcr ground` for argv ['ground', ...]: click gives no context for errors raised while parsing options."""
    command, path = typer.main.get_command(app), ["vcr"]
    for word in argv:  # typer's groups are not click.Group subclasses: look for their `commands`
        if word not in (getattr(command, "commands", None) or {}):
            break
        command = command.commands[word]
        path.append(word)
    return " ".join(path)


if __name__ == "__main__":
    main()
