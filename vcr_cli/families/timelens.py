"""TimeLens-8B (TencentARC/TimeLens-8B, from Qwen3-VL-8B-Instruct): single-span grounding (model-families.md §2).

Video first, then the grounder prompt with the normalised query; greedy, 512 new tokens; the answer
"The event happens in <s> - <e> seconds." read by `extract_time`. Time: Qwen3-VL text timestamps (`_qwen3`).
TimeLens-7B (Qwen2.5-VL) needs its own remote-code processor and is not supported.
"""

from __future__ import annotations

import re

from vcr_cli.families import _qwen3
from vcr_cli.families._base import GROUND, Capabilities, Family, Span, TrainingRecipe

GROUNDER_PROMPT = (
    "Please find the visual event described by the sentence '{}', determining its starting and ending times. "
    "The format should be: 'The event happens in <start time> - <end time> seconds'."
)
MAX_NEW_TOKENS = 512
LICENCE = ("TimeLens licence: BSD-3 plus 'not intended for use within the European Union' and 'only for academic "
           "purposes' clauses, covering code, data and weights")

# Evaluation defaults (TL evaluation): fps 2, 64..14336 tokens of 32x32 px, qwen-vl-utils' 768-frame limit.
SAMPLING = _qwen3.rule(fps=2.0, max_frames=768, min_pixels=64 * 32 * 32, total_pixels=14336 * 32 * 32,
                       source="TimeLens evaluation (fps 2, min_pixels 64x32x32, total_pixels 14336x32x32)")

_CLOCK = re.compile(r"\b(\d{1,2}:\d{2}:\d{2}(?:\.\d+)?|\d{1,2}:\d{2}(?:\.\d+)?)\b")
_DASH = re.compile(r"(\d+\.?\d*)\s*-\s*(\d+\.?\d*)")
_TO = re.compile(r"(\d+\.?\d*)\s+to\s+(\d+\.?\d*)")
_NUMBER = re.compile(r"\b(\d+\.\d+|\d+)\b")


def normalize_query(query: str) -> str:
    """TimeLens's parse_query: whitespace collapsed, trimmed, the trailing period(s) removed."""
    return re.sub(r"\s+", " ", query).strip().rstrip(".").strip()


def render_ground(query: str, think: bool = False) -> tuple[str, str]:
    return "TimeLens_GROUNDER_PROMPT", GROUNDER_PROMPT.format(normalize_query(query))


def _clock_seconds(token: str) -> float:
    parts = token.split(":")
    seconds = float(parts[-1])
    for k, part in enumerate(reversed(parts[:-1])):
        seconds += int(part) * 60 ** (k + 1)
    return seconds


def extract_time(text: str) -> list[Span]:
    """TimeLens's extract_time on the lower-cased text, first rule that finds anything: H:MM:SS / M:SS tokens
    paired in order; else every "a - b"; else every "a to b"; else bare numbers paired in order."""
    text = text.lower()
    clocks = _CLOCK.findall(text)
    clocks = clocks[: len(clocks) // 2 * 2]
    if clocks:
        seconds = [_clock_seconds(t) for t in clocks]
        return [(seconds[i], seconds[i + 1]) for i in range(0, len(seconds), 2)]
    for pattern in (_DASH, _TO):
        found = pattern.findall(text)
        if found:
            return [(float(a), float(b)) for a, b in found]
    numbers = _NUMBER.findall(text)
    numbers = numbers[: len(numbers) // 2 * 2]
    return [(float(numbers[i]), float(numbers[i + 1])) for i in range(0, len(numbers), 2)]


def parse_ground(text: str, strict: bool = False, **_) -> list[Span]:
    """Every pair extract_time finds (its evaluation scores the first). Lenient parsing orders each pair."""
    try:
        spans = extract_time(text)
    except Exception:  # model text is untrusted
        return []
    return spans if strict else [(min(s, e), max(s, e)) for s, e in spans]


def _ground_prompt(query: str, think: bool = False) -> tuple[str, str]:
    return render_ground(query)


# TimeLens's RL: thinking-free GRPO with the `tiou` reward on its grounder prompt (TLtrain), frames as its
# evaluation samples them but at most 448 (its training scripts' fps_max_frames); its other GRPO settings are
# not published in model-families.md, so VideoChat-R1's stand (beta 0.04, 8 generations, lr 1e-6).
TRAIN_SAMPLING = _qwen3.rule(fps=2.0, max_frames=448, min_pixels=64 * 32 * 32, total_pixels=14336 * 32 * 32,
                             source="TimeLens training (fps 2, fps_max_frames 448, TimeLens's pixel budget)")
TRAINING = TrainingRecipe(
    train_prompts={"ground": _ground_prompt},
    eval_prompts={"ground": _ground_prompt},
    train_sampling=TRAIN_SAMPLING,
    eval_sampling=SAMPLING,
    rewards=("tiou",),
    settings={"think": False, "max_completion_length": MAX_NEW_TOKENS},
    source="TimeLens (arXiv 2512.14698): thinking-free GRPO, reward tiou of the first span",
)

FAMILY = Family(
    name="timelens",
    title="TimeLens-8B",
    model_type=_qwen3.MODEL_TYPE,
    checkpoints=("TencentARC/TimeLens-8B", "JungleGym/TimeLens-Qwen3-VL-8B-SFT"),
    default=False,
    capabilities=Capabilities(grounds=True, trainable=True),
    sampling={"default": SAMPLING},
    time_contract=_qwen3.TIME_CONTRACT,
    metadata_fn=_qwen3.video_metadata,
    prompts={GROUND: render_ground},
    parsers={GROUND: parse_ground},
    video_first=frozenset({GROUND}),
    layout_check=_qwen3.trained_layout,
    decoding={"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS},
    licence=LICENCE,
    notes=("its evaluation rounds predictions to whole seconds and scores only the first span",),
    training=TRAINING,
)
