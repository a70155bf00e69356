"""The reward curve of a training run: per-step mean rewards as CSV and as a PNG plot.

Rows come from the Trainer's `log_history` (restored on `--resume`, so a resumed run's curve covers
every step). Each row holds the step, the total (weighted) mean reward and each reward's mean, as TRL
logs them (`reward`, `rewards/<name>/mean`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

REWARD_PREFIX = "rewards/"
REWARD_SUFFIX = "/mean"


def reward_history(log_history: list[dict]) -> list[dict]:
    """[{"step", "reward", <each reward name>: mean}] for the logged training steps, in step order."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        if "reward" not in entry or "step" not in entry:
            continue
        row = {"step": int(entry["step"]), "reward": _number(entry["reward"])}
        for key, value in entry.items():
            if key.startswith(REWARD_PREFIX) and key.endswith(REWARD_SUFFIX):
                row[key[len(REWARD_PREFIX) : -len(REWARD_SUFFIX)]] = _number(value)
        rows[row["step"]] = row
    return [rows[step] for step in sorted(rows)]


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def write_reward_csv(history: list[dict], path: str | Path) -> Path:
    path = Path(path)
    columns = ["step", "reward", *sorted({key for row in history for key in row} - {"step", "reward"})]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in history:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})
    return path


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (the first points average what there is)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_reward_curve(history: list[dict], path: str | Path, title: str = "GRPO reward") -> Path:
    """Total mean reward per step (points + moving average) and each reward's mean, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    names = sorted({key for row in history for key in row} - {"step", "reward"})
    series = [("reward", "total (weighted)")] + [(name, name) for name in names]
    for i, (key, label) in enumerate(series):
        points = [(row["step"], row[key]) for row in history if row.get(key) is not None]
        if not points:
            continue
        steps, values = zip(*points)
        window = max(1, len(values) // 10)
        color = f"C{i}"
        ax.plot(steps, values, "o", color=color, alpha=0.25, markersize=3)
        ax.plot(steps, moving_average(list(values), window), "-", color=color, linewidth=2 if i == 0 else 1.2,
                label=f"{label} (mean of {window})" if window > 1 else label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("mean reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if history:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
