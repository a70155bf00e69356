"""`vcr --help` costs little more than importing typer and rich (issue: it was 3.4x, from a task module
imported at command-import time, the version lookup reading package metadata, and typer's Markdown and traceback
renderers, which its help never uses). Counted, not timed: a timing ratio here failed CI on a loaded machine
(2.52 against a 2.5 bound while 2.1-2.3 idle); `benchmarks/bench_help.py` prints the ratio side by side."""

from __future__ import annotations

import subprocess
import sys

HELP = ("import sys; sys.argv = ['vcr', '--help'];"
        "from vcr_cli.app import app\ntry: app()\nexcept SystemExit: pass\n"
        "sys.stderr.write('\\n'.join(sorted(sys.modules)))")


def _modules(code: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stderr.split())


def test_help_imports_only_the_cli_layer():
    """Counted, not timed: what `vcr --help` imports beyond typer's own help renderer."""
    bare = _modules("import sys, typer, typer.rich_utils, rich; sys.stderr.write('\\n'.join(sorted(sys.modules)))")
    extra = sorted(_modules(HELP) - bare)
    ours = [m for m in extra if m.split(".")[0] in ("vcr_cli", "rft")]
    rendering = [m for m in extra if m.split(".")[0] in ("typer", "rich")]  # help rendering itself
    assert [m for m in extra if m not in ours + rendering] == []  # no numpy, no importlib.metadata
    helped = _modules(HELP)
    assert not {"markdown_it", "pygments", "importlib.metadata", "numpy"} & helped
    assert not [m for m in ours if m.startswith(("vcr_cli.tasks", "vcr_cli.video", "vcr_cli.tracking"))]
    assert len(ours) <= 13, ours  # the package, app, options, rft + rft.cli, one module per command
