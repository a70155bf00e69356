"""TimeLens2-2B/4B/8B (MCG-NJU/TimeLens2-*, from Qwen3-VL-*-Instruct): multi-span grounding as JSON (§3).

Video first, then the model card's prompt; the answer is a JSON array `[[s, e], ...]` (optionally inside
<answer>) read by the GRPO reward's parser. Time: Qwen3-VL text timestamps (`_qwen3`). Sampling follows the GRPO
training scripts (what the released weights were last trained on); the Charades-TimeLens evaluation settings are
kept as `EVAL_SAMPLING` for comparisons.
"""

from __future__ import annotations

import json
import re

from vcr_cli import parsing
from vcr_cli.families import _qwen3, timelens
from vcr_cli.families._base import GROUND, Capabilities, Family, Span, TrainingRecipe

CARD_PROMPT = (
    'Given the query: "{query}", return ALL time spans (in seconds) where the query is relevant.\n'
    'Output format MUST be a JSON array of [start, end] pairs.\n'
)
TRAIN_93K_TEMPLATE = (
    'You are given a video.\n'
    'Task: temporal retrieval.\n'
    'Given the query: "{query}", return ALL time spans (in seconds) where the query is relevant.\n'
    'Output format MUST be a JSON array of [start, end] pairs, e.g. [[0, 3.5], [10, 12]].\n'
)
TRAIN_100K_TEMPLATE = (  # sic: the stray third "]" is in the training data
    "Please find the visual event described by the sentence '{query}', determining its starting and ending times.\n"
    "Return the result strictly as [[start, end]]] (in seconds)."
)
TEMPLATES = {"TL2_card_prompt": CARD_PROMPT, "TL2_train_93k_template": TRAIN_93K_TEMPLATE,
             "TL2_train_100k_template": TRAIN_100K_TEMPLATE}
MAX_NEW_TOKENS = 512  # GRPO completion length (its evaluation allows 4096)

# GRPO training: FPS 2, FPS_MAX_FRAMES 512, TOTAL_TOKENS 16384, MIN_TOKENS 1 (tokens of 32x32 px).
SAMPLING = _qwen3.rule(fps=2.0, max_frames=512, min_pixels=1 * 32 * 32, total_pixels=16384 * 32 * 32,
                       source="TimeLens2 GRPO training (fps 2, 512 frames, 16384 tokens, min 1 token)")
# Charades-TimeLens evaluation: 4 fps, at most 2048 frames, 32x32..640x640 px per frame, 128000 tokens.
EVAL_SAMPLING = _qwen3.rule(fps=4.0, max_frames=2048, min_pixels=32 * 32, frame_max_pixels=640 * 640,
                            total_pixels=128000 * 32 * 32, source="TimeLens2 Charades-TimeLens evaluation")

_FENCE = re.compile(r"```(?:json)?\s*([\s\S]*?)```", re.IGNORECASE)
_SCALAR = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


def render_ground(query: str, think: bool = False, template: str = "TL2_card_prompt") -> tuple[str, str]:
    """The card's prompt (or a training template) with the query normalised as TimeLens does."""
    return template, TEMPLATES[template].format(query=timelens.normalize_query(query))


def _scalar(value) -> float | None:
    """A JSON number (or numeric string) as a finite float; None otherwise (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and _SCALAR.match(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _pair(item) -> Span | None:
    """Nested single-element lists unwrapped (at most 8 levels) down to a pair of numbers."""
    for _ in range(8):
        if not isinstance(item, list) or not item:
            return None
        if len(item) >= 2:
            a, b = _scalar(item[0]), _scalar(item[1])
            if a is not None and b is not None:
                return (a, b)
        if len(item) == 1 and isinstance(item[0], list):
            item = item[0]
            continue
        return None
    return None


def _spans_from_json(data) -> list[Span] | None:
    if not isinstance(data, list) or not data:
        return None
    while len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if not data:
        return None
    if isinstance(data[0], list):
        spans = [p for p in (_pair(item) for item in data if isinstance(item, list)) if p is not None]
        return spans or None
    flat = _pair(data) if len(data) >= 2 else None
    return [flat] if flat else None


def _balanced_arrays(text: str) -> list[str]:
    """Every substring that opens with "[[" and closes at the matching bracket depth."""
    found, i = [], 0
    while (start := text.find("[[", i)) != -1:
        depth = 0
        for pos in range(start, len(text)):
            depth += {"[": 1, "]": -1}.get(text[pos], 0)
            if depth == 0:
                found.append(text[start : pos + 1])
                i = pos + 1
                break
        else:
            break
    return found


def extract_spans(text: str) -> list[Span]:
    """TimeLens2's reward parser: the <answer> block (else the text) read as JSON whole, then inside a ```json
    fence, then each balanced [[...]]; the first that gives numeric pairs wins, each pair ordered (min, max)."""
    answer = parsing.extract_tag(text or "", "answer")
    body = (answer if answer is not None else text or "").strip()
    if not body:
        return []
    candidates = [body]
    fence = _FENCE.search(body)
    if fence:
        candidates.append(fence.group(1).strip())
    candidates += _balanced_arrays(body)
    for candidate in dict.fromkeys(candidates):
        try:
            spans = _spans_from_json(json.loads(candidate))
        except (ValueError, RecursionError):
            continue
        if spans:
            return [(min(s, e), max(s, e)) for s, e in spans]
    return []


def is_valid(spans: list[Span]) -> bool:
    """The reward's validity rule: at least one span and every start before its end."""
    return bool(spans) and all(s < e for s, e in spans)


def parse_ground(text: str, strict: bool = False, **_) -> list[Span]:
    """All spans of the JSON answer. Lenient parsing falls back to TimeLens's "a - b seconds" reading."""
    try:
        spans = extract_spans(text)
    except Exception:  # model text is untrusted
        spans = []
    if spans or strict:
        return spans
    return timelens.parse_ground(text, strict=False)


def _train_prompt(query: str, think: bool = False) -> tuple[str, str]:
    return render_ground(query, template="TL2_train_93k_template")


def _eval_prompt(query: str, think: bool = False) -> tuple[str, str]:
    return timelens.render_ground(query)


# Thinking-free GRPO as `grpo/scripts/train_grpo_*.sh` run it (§3): the three span rewards summed, beta 0.04,
# 8 generations, lr 1e-6, rollouts at temperature 1.0 / top_p 1.0 and no top-k (its scripts set none; TRL 0.19's
# default is off), 512 completion tokens, frames by `SAMPLING`; prompts: TimeLens2-93K's template. Evaluation asks
# TimeLens's grounder prompt at 4 fps (`EVAL_SAMPLING`), as its Charades-TimeLens numbers were made. Not
# reproduced: its scripts' sample weighting (SAMPLE_WEIGHT_MEAN_POWER 2 on tiou; the rule is unverified).
TRAINING = TrainingRecipe(
    train_prompts={"ground": _train_prompt},
    eval_prompts={"ground": _eval_prompt},
    train_sampling=SAMPLING,
    eval_sampling=EVAL_SAMPLING,
    rewards=("twass1", "tiou", "parse_penalty"),
    settings={"think": False, "beta": 0.04, "num_generations": 8, "learning_rate": 1e-6, "temperature": 1.0,
              "top_p": 1.0, "top_k": 0, "max_completion_length": MAX_NEW_TOKENS},
    source="TimeLens2 grpo/scripts (twass1+tiou+parse_penalty, beta 0.04, 8 generations, lr 1e-6, temperature 1)",
)

FAMILY = Family(
    name="timelens2",
    title="TimeLens2",
    model_type=_qwen3.MODEL_TYPE,
    checkpoints=tuple(f"MCG-NJU/TimeLens2-{size}" for size in ("2B", "4B", "8B", "2B-SFT", "4B-SFT")),
    default=False,
    capabilities=Capabilities(grounds=True, multi_span=True, trainable=True),
    sampling={"default": SAMPLING},
    time_contract=_qwen3.TIME_CONTRACT,
    metadata_fn=_qwen3.video_metadata,
    prompts={GROUND: render_ground},
    parsers={GROUND: parse_ground},
    video_first=frozenset({GROUND}),
    layout_check=_qwen3.trained_layout,
    decoding={"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS},
    licence=("conflicting: the README says Apache-2.0, the repository's LICENSE (and grpo/LICENSE) is the TimeLens "
             "licence (academic purposes only, not for use within the European Union)"),
    notes=("its Charades-TimeLens evaluation asks TimeLens's grounder prompt at 4 fps and scores the first span",),
    training=TRAINING,
)
