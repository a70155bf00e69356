"""One grounding table across models: R@0.3/0.5/0.7, mIoU and parse failures, per model and protocol.

Built from `rft.metrics.score_predictions` results (``{label: metrics}``), as `vcr rft eval --model A --model B`
and `vcr rft score a.jsonl b.jsonl` (or a results folder) make them; printed as a rich table and written as CSV
(values as in the metrics JSON) or Markdown (two decimals, the protocols explained under it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rft.metrics import PROTOCOLS, RECALL_THRESHOLDS
from vcr_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = ("model", "protocol", "count", *(f"r@{k}" for k in RECALL_THRESHOLDS), "miou", "parse_failures")
HEADERS = {"model": "model", "protocol": "protocol", "count": "samples", "miou": "mIoU",
           "parse_failures": "parse failures", **{f"r@{k}": f"R@{k}" for k in RECALL_THRESHOLDS}}
TABLE_FORMATS = {".csv": "csv", ".md": "markdown", ".markdown": "markdown"}


def comparison_rows(results: Mapping[str, dict]) -> list[dict]:
    """One row per (model, protocol), models in the given order; UsageError if a model has no ground lines."""
    rows = []
    for label, metrics in results.items():
        protocols = metrics.get("protocols")
        if not protocols:
            raise UsageError(f"{label}: no grounding lines to compare (the table compares R@k and mIoU of ground "
                             "lines)")
        rows += [{"model": label, "protocol": name, **{key: block.get(key) for key in COLUMNS[2:]}}
                 for name, block in protocols.items()]
    return rows


def _cell(key: str, value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) and key not in ("count", "parse_failures") else str(value)


def render_comparison(rows: list[dict]) -> Table:
    from rich.table import Table

    table = Table(title="grounding scores (%) by model and protocol")
    for key in COLUMNS:
        table.add_column(HEADERS[key], justify="left" if key in ("model", "protocol") else "right")
    for row in rows:
        table.add_row(*(_cell(key, row[key]) for key in COLUMNS))
    table.caption_justify = "left"
    table.caption = "\n".join(f"{name}: {PROTOCOLS[name]}" for name in dict.fromkeys(r["protocol"] for r in rows))
    return table


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_markdown(rows: list[dict]) -> str:
    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [line(HEADERS[key] for key in COLUMNS), line("---" if key in ("model", "protocol") else "---:"
                                                         for key in COLUMNS)]
    lines += [line(_cell(key, row[key]) for key in COLUMNS) for row in rows]
    lines.append("")
    lines += [f"- `{name}`: {PROTOCOLS[name]}" for name in dict.fromkeys(r["protocol"] for r in rows)]
    return "\n".join(lines) + "\n"


def table_format(path: str | Path) -> str:
    """csv or markdown, from the file name; UsageError naming the choices otherwise."""
    fmt = TABLE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"--table {path}: name a .csv or .md file (the format follows the suffix)")
    return fmt


def write_table(rows: list[dict], path: str | Path) -> None:
    from vcr_cli.outputs.atomic import write_text_atomic

    text = to_csv(rows) if table_format(path) == "csv" else to_markdown(rows)
    write_text_atomic(Path(path), text)
