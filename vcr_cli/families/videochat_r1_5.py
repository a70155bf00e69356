# ruff: noqa: E501  (verbatim templates)
"""VideoChat-R1.5 (OpenGVLab/VideoChat-R1_5-7B): multiple choice in perception rounds (model-families.md §1).

Each round is a fresh single-turn inference, video first. Rounds before the last ask the GLUE prompt, whose
answer names evidence spans in `<glue>[(s, e), ...]</glue>`; those spans re-sample the next round's frames
(`glue_frame_indices`: the same frame count, 1.5x denser inside the spans); the last round asks the FINAL
prompt. Grounding is its single-round TG evaluation: text first, `<answer>[(s, e), ...]</answer>`.
Prompts are verbatim from the R1.5 code (whitespace included; tests compare them byte for byte).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

from vcr_cli import parsing
from vcr_cli.families import _qwen25
from vcr_cli.families._base import (
    CHOICE,
    CHOICE_GLUE,
    GROUND,
    Capabilities,
    ChoiceAnswer,
    Family,
    SamplingRule,
    Span,
)

# The card's QA prompts with the options the eval scripts add (" Select the answer from :[OPTION]").
EVAL_QA_THINK_GLUE = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Output your think process within the  <think> </think> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [(s1, e1), (s2, e2), ...]. For example: <think>...</think><answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)
VIDEOMMMU_QA_THINK_FINAL = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Output your think process within the  <think> </think> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. For example: <think>...</think><answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)
EVAL_QA_FINAL = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. For example: <answer>A</answer>.\n'
)
# The model card's own pair (no options: the question carries them).
CARD_QA_THINK_GLUE = (
    'Answer the question: "[QUESTION]" according to the content of the video. \n'
    '\n'
    'Output your think process within the  <think> </think> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [(s1, e1), (s2, e2), ...]. For example: <think>...</think><answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)
CARD_QA_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video.\n'
    '\n'
    'Output your think process within the  <think> </think> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. For example: <think>...</think><answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)
# Temporal grounding (evaluate_chara.py; identical to training's GROUND_TEMPLATE_NOTHINK with [EVENT]).
CHARA_GROUND_TEMPLATE = (
    'To accurately pinpoint the event "[QUESTION]" in the video, determine the precise time period of the event.\n'
    '\n'
    'Provide the start and end times (in seconds, precise to two decimal places) in the format of [(s1, e1), (s2, e2), ...] within the <answer> </answer> tags. For example: <answer>[(12.54, 17.83)]</answer>'
)
TEMPLATES = {
    "eval_QA_THINK_GLUE": EVAL_QA_THINK_GLUE,
    "videommmu_QA_THINK_final": VIDEOMMMU_QA_THINK_FINAL,
    "eval_QA_final": EVAL_QA_FINAL,
    "card_QA_THINK_GLUE": CARD_QA_THINK_GLUE,
    "card_QA_THINK": CARD_QA_THINK,
    "chara_GROUND_TEMPLATE": CHARA_GROUND_TEMPLATE,
}

ROUNDS = 3  # the card's num_percptions
KEY_RATIO = 1.5  # frames inside the glue spans are this much denser than the rest
MAX_NEW_TOKENS = 2048  # the card's generate()

# The card's video element: fps 2 (loader default), at most 512 frames, 128x12x28x28 total, 128x28x28 floor.
QA_SAMPLING = SamplingRule(fps=2.0, min_frames=4, max_frames=512, patch_size=_qwen25.PATCH_SIZE,
                           min_pixels=128 * 28 * 28, frame_max_pixels=768 * 28 * 28, total_pixels=128 * 12 * 28 * 28,
                           source="VideoChat-R1.5 card (my_vision_process.py: FPS_MAX_FRAMES 512)")
# evaluate_chara.py: stock qwen-vl-utils (768 frames), 3584x28x28 total, 16x28x28 floor.
GROUND_SAMPLING = SamplingRule(fps=2.0, min_frames=4, max_frames=768, patch_size=_qwen25.PATCH_SIZE,
                               min_pixels=16 * 28 * 28, frame_max_pixels=768 * 28 * 28,
                               total_pixels=3584 * 28 * 28, source="VideoChat-R1.5 evaluate_chara.py")


def format_options(options: Sequence[str]) -> str:
    """[OPTION] as the eval scripts fill it: "A." + option + newline, per option, concatenated."""
    return "".join(f"{chr(ord('A') + i)}.{option.strip()}\n" for i, option in enumerate(options))


def render_choice_glue(question: str, options: Sequence[str], think: bool = True) -> tuple[str, str]:
    """A round before the last: answer letter plus the <glue> spans that steer the next round."""
    return "eval_QA_THINK_GLUE", EVAL_QA_THINK_GLUE.replace("[QUESTION]", question).replace(
        "[OPTION]", format_options(options))


def render_choice(question: str, options: Sequence[str], think: bool = True) -> tuple[str, str]:
    """The last round: with reasoning (the card's final prompt with options), or the long-video evals' answer-only
    prompt."""
    name = "videommmu_QA_THINK_final" if think else "eval_QA_final"
    return name, TEMPLATES[name].replace("[QUESTION]", question).replace("[OPTION]", format_options(options))


def render_ground(query: str, think: bool = False) -> tuple[str, str]:
    """Temporal grounding: the sentence as given (evaluate_chara.py), several spans allowed."""
    return "chara_GROUND_TEMPLATE", CHARA_GROUND_TEMPLATE.replace("[QUESTION]", query)


# ---------------------------------------------------------------- answers


def _pairs(value) -> list[Span] | None:
    """A literal that is a sequence of (number, number) pairs, as floats; None for anything else."""
    if not isinstance(value, (list, tuple)):
        return None
    spans = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item)):
            return None
        spans.append((float(item[0]), float(item[1])))
    return spans


def _literal_spans(block: str | None) -> list[Span] | None:
    if block is None:
        return None
    try:
        return _pairs(ast.literal_eval(block.strip()))
    except Exception:
        return None


def parse_glue(text: str, strict: bool = False, **_) -> list[Span] | None:
    """The evidence spans of the first <glue> block (ast.literal_eval, as the eval scripts read it); None when
    there is no usable glue. Lenient parsing also takes lists, "s" suffixes and an unclosed tag."""
    if strict:
        return _literal_spans(parsing.extract_tag(text, "glue"))
    return parsing.parse_glue_lenient(text)


def parse_choice(text: str, strict: bool = False, num_options: int = 26, **_) -> ChoiceAnswer:
    """The letter in <answer> and the <glue> spans (empty when none)."""
    letter = parsing.parse_letter_strict(text) if strict else parsing.parse_letter_lenient(text, num_options)
    return ChoiceAnswer(letter, parse_glue(text, strict) or [])


def parse_ground(text: str, strict: bool = False, **_) -> list[Span]:
    """evaluate_chara.py: ast.literal_eval of the first <answer> block, or of the whole text without one.
    Lenient parsing also takes a bare (s, e) pair and falls back to vcr's lenient single-span reading."""
    block = parsing.extract_tag(text, "answer")
    spans = _literal_spans(text if block is None else block)
    if spans is not None or strict:
        return spans or []
    try:
        value = ast.literal_eval((text if block is None else block).strip())
        flat = _pairs([value])
        if flat:
            return [(min(flat[0]), max(flat[0]))]
    except Exception:
        pass
    span = parsing.parse_ground_lenient(text)
    return [span] if span is not None else []


def next_key_time(previous: list[Span] | None, text: str, keep_previous: bool = True) -> list[Span] | None:
    """The spans that steer the next round. No <glue> block: the eval scripts keep the previous spans
    (`keep_previous`), the card resets them; an unreadable block resets them (uniform frames next round)."""
    if parsing.extract_tag(text, "glue") is None:
        return previous if keep_previous else None
    return parse_glue(text, strict=True)


# ---------------------------------------------------------------- re-sampling


def _spread(first: int, last: int, count: int) -> list[int]:
    """`count` integers from first..last inclusive, ends included: numpy's linspace(first, last, count, dtype=int)
    to the bit (k * step + first in doubles, floored, the last set to `last`), as R1.5's sampler computes them."""
    if count <= 0:
        return []
    if count == 1:
        return [first]
    step = (last - first) / (count - 1)
    return [math.floor(k * step + first) for k in range(count - 1)] + [last]


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _allocate(total: int, lengths: list[int]) -> list[int]:
    """`total` samples over ranges of these lengths, in proportion to length (R1.5: round(total * len / K) each,
    at least one), corrected by largest remainder so they add up to `total`, never more than a range holds."""
    weight = sum(lengths)
    shares = [total * length / weight for length in lengths]
    counts = [min(length, max(1, math.floor(share))) for share, length in zip(shares, lengths)]
    indices = range(len(lengths))
    while sum(counts) < total and (room := [i for i in indices if counts[i] < lengths[i]]):
        counts[max(room, key=lambda i: (shares[i] - counts[i], -i))] += 1
    while sum(counts) > total and (spare := [i for i in indices if counts[i] > 1]):
        counts[min(spare, key=lambda i: (shares[i] - counts[i], i))] -= 1
    return counts


def glue_frame_indices(spans: Sequence[Span] | None, total_frames: int, nframes: int, fps: float,
                       key_ratio: float = KEY_RATIO) -> list[int]:
    """The next round's `nframes` frame indices: `key_ratio` x denser inside `spans` (seconds) than elsewhere.

    R1.5's sampler (my_vision_process.sample_frames, called with total_frames - 1): a span covers frames
    int(s*fps)..min(int(e*fps), total-2); the spans get round(n*r*K / (r*K + U)) samples (K, U: frames inside and
    outside), spread evenly inside each span (at least one each) and over the other frames. Two changes keep the
    count exactly `nframes`, as every round must have it: overlapping spans are merged (counted once), and the
    split is corrected where a span holds fewer frames than its share. No usable span, or a video too short to
    leave frames outside, gives the uniform round-1 frames.
    """
    from vcr_cli.sampling import frame_indices

    uniform = frame_indices(total_frames, nframes)
    last = total_frames - 2  # the reference samples from total_frames - 1 frames
    ranges = []
    for span in spans or []:
        try:
            start, end = int(float(span[0]) * fps), min(int(float(span[1]) * fps), last)
        except (TypeError, ValueError, IndexError, OverflowError):
            return uniform
        if 0 <= start <= end:
            ranges.append((start, end))
    ranges = _merge(ranges)
    if not ranges or last + 1 < nframes:
        return uniform
    key_frames = sum(end - start + 1 for start, end in ranges)
    inside = {i for start, end in ranges for i in range(start, end + 1)}
    other = [i for i in range(last + 1) if i not in inside]
    weighted = key_ratio * key_frames
    key_count = round(nframes * weighted / (weighted + len(other)))
    key_count = max(len(ranges), min(key_count, key_frames, nframes))
    key_count = max(key_count, nframes - len(other))  # what the other frames cannot take
    lengths = [end - start + 1 for start, end in ranges]
    counts = _allocate(key_count, lengths)
    chosen = [i for (start, end), c in zip(ranges, counts) for i in _spread(start, end, c)]
    picks = [other[k] for k in _spread(0, len(other) - 1, nframes - len(chosen))] if other else []
    result = sorted(set(chosen) | set(picks))
    return result if len(result) == nframes else uniform


def round_frame_indices(total_frames: int, nframes: int, fps: float, spans: Sequence[Span] | None) -> list[int]:
    """Frames for a round: uniform in round 1 (no spans), re-sampled around the previous round's glue after."""
    if not spans:
        from vcr_cli.sampling import frame_indices

        return frame_indices(total_frames, nframes)
    return glue_frame_indices(spans, total_frames, nframes, fps)


FAMILY = Family(
    name="videochat-r1.5",
    title="VideoChat-R1.5",
    model_type=_qwen25.MODEL_TYPE,
    checkpoints=("OpenGVLab/VideoChat-R1_5-7B", "OpenGVLab/VideoChat-R1_5"),
    default=False,
    capabilities=Capabilities(grounds=True, chooses=True, multi_span=True, emits_think=True, think_optional=True,
                              glue=True, rounds=ROUNDS),
    sampling={"default": QA_SAMPLING, GROUND: GROUND_SAMPLING},
    time_contract=_qwen25.TIME_CONTRACT + "; rounds after the first re-sample 1.5x denser inside the previous "
                  "round's <glue> spans (same frame count)",
    metadata_fn=_qwen25.video_metadata,
    prompts={GROUND: render_ground, CHOICE_GLUE: render_choice_glue, CHOICE: render_choice},
    parsers={GROUND: parse_ground, CHOICE_GLUE: parse_choice, CHOICE: parse_choice},
    video_first=frozenset({CHOICE_GLUE, CHOICE}),
    decoding={"max_new_tokens": MAX_NEW_TOKENS},
    replan=round_frame_indices,
    next_spans=next_key_time,
    licence="apache-2.0 (model card; the code repository has no licence file)",
    notes=("the card and eval scripts pass no sampling arguments to generate; its generation_config.json is "
           "unverified",),
)

