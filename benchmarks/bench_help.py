"""How much does `vcr --help` cost next to importing typer and rich? (issue 13: goal within 2.5x)

`vcr --help` must not import torch, transformers or a task module; what is left is Python, typer, rich and vcr's
command layer. Each repeat runs the bare import and the help in turn (paired, so a busy moment hits both) and
reports wall and CPU seconds of the child processes, best and median, with their ratios.

    python benchmarks/bench_help.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

BARE = [sys.executable, "-c", "import typer, rich"]
HELP = [sys.executable, "-m", "vcr_cli", "--help"]


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    bare, helped = [], []
    for _ in range(args.repeats):
        bare.append(run(BARE))
        helped.append(run(HELP))
    print(f"{'':24}{'bare import':>14}{'vcr --help':>14}{'ratio':>8}")
    for label, index in (("wall", 0), ("cpu", 1)):
        for stat_name, stat in (("best", min), ("median", statistics.median)):
            b = stat(x[index] for x in bare)
            h = stat(x[index] for x in helped)
            print(f"{label + ' ' + stat_name:24}{b:>13.3f}s{h:>13.3f}s{h / b:>7.2f}x")


if __name__ == "__main__":
    main()
