"""VideoChat-R1 (OpenGVLab/VideoChat-R1_7B): the first family, exactly what vcr ran before families existed.

Nothing is defined twice: prompts come from `vcr_cli.prompts`, parsers from `vcr_cli.parsing`, the sampling
budget from `vcr_cli.sampling` (videochat-r1.md). Trained layout: grounding, grounded QA and tracking text
first, then the video; the model card's open question video first.
"""

from __future__ import annotations

import re

from vcr_cli import parsing, prompts, sampling
from vcr_cli.families import _qwen25
from vcr_cli.families._base import (
    CHOICE,
    GROUND,
    OPEN,
    TRACK,
    Capabilities,
    ChoiceAnswer,
    Family,
    SamplingRule,
    TrainingRecipe,
)

SAMPLING = SamplingRule(fps=sampling.FPS, min_frames=sampling.FPS_MIN_FRAMES, max_frames=sampling.FPS_MAX_FRAMES,
                        patch_size=_qwen25.PATCH_SIZE, min_pixels=sampling.MIN_PIXELS,
                        frame_max_pixels=sampling.VIDEO_MAX_PIXELS, total_pixels=sampling.TOTAL_PIXELS,
                        source="VideoChat-R1 training (qwen-vl-utils 0.0.10, 3584x28x28 total, 16x28x28 floor)")


def render_choice(question: str, options: list[str], think: bool = True) -> tuple[str, str]:
    """Grounded multiple choice: the answer letter plus <glue> evidence spans (the training GQA template)."""
    return prompts.render_gqa(question, options, think=think, glue=True)


def parse_ground(text: str, strict: bool = False, **_) -> list[tuple[float, float]]:
    span = parsing.parse_ground(text, strict=strict)
    return [span] if span is not None else []


def parse_choice(text: str, strict: bool = False, num_options: int = 26, **_) -> ChoiceAnswer:
    """The letter and <glue> spans, as `vcr ask` parses them (eval rules when strict)."""
    if strict:
        return ChoiceAnswer(parsing.parse_letter_strict(text), parsing.parse_glue_strict(text) or [])
    return ChoiceAnswer(parsing.parse_letter_lenient(text, num_options), parsing.parse_glue_lenient(text) or [])


def parse_open(text: str, strict: bool = False, **_) -> str | None:
    """The text inside <answer>; lenient parsing also takes an untagged reply (without <think> / <glue>)."""
    answer = parsing.extract_tag(text, "answer") if strict else parsing.extract_tag_lenient(text, "answer")
    if answer is None and not strict:
        answer = re.sub(r"<think>.*?(</think>|$)", " ", text, flags=re.DOTALL)
        answer = re.sub(r"<glue>.*?(</glue>|$)", " ", answer, flags=re.DOTALL)
    answer = answer.strip() if answer is not None else ""
    return answer or None


def parse_track(text: str, strict: bool = False, **_) -> list[list[float]] | None:
    return parsing.parse_track_strict(text) if strict else parsing.parse_track_lenient(text)


def _track_prompt(object: str, box: list[float], think: bool = True) -> tuple[str, str]:  # noqa: A002
    return prompts.render_track(object, box, think)


def _ground_training(query: str, think: bool = True) -> tuple[str, str]:
    return prompts.render_ground_training(query, think)


def _ground_eval(query: str, think: bool = True) -> tuple[str, str]:
    return prompts.render_ground(query, think)


# The paper's GRPO (videochat-r1.md §4): its settings are `rft.config.RftConfig`'s defaults. Grounding trains on the
# sentence lower-cased without its final period and is evaluated on the raw sentence (§2.1).
TRAINING = TrainingRecipe(
    train_prompts={"ground": _ground_training, "qa": render_choice, "track": _track_prompt},
    eval_prompts={"ground": _ground_eval, "qa": render_choice, "track": _track_prompt},
    train_sampling=SAMPLING,
    eval_sampling=SAMPLING,
    source="VideoChat-R1 (arXiv 2504.06958 §4): 7 rewards, beta 0.04, 8 generations, lr 1e-6",
)

FAMILY = Family(
    name="videochat-r1",
    title="VideoChat-R1",
    model_type=_qwen25.MODEL_TYPE,
    checkpoints=("OpenGVLab/VideoChat-R1_7B", "OpenGVLab/VideoChat-R1-thinking_7B"),
    default=True,
    capabilities=Capabilities(grounds=True, chooses=True, answers_open=True, tracks=True, emits_think=True,
                              think_optional=True, glue=True, trainable=True),
    sampling={"default": SAMPLING},
    time_contract=_qwen25.TIME_CONTRACT,
    metadata_fn=_qwen25.video_metadata,
    prompts={GROUND: prompts.render_ground, CHOICE: render_choice, OPEN: prompts.render_open_question,
             TRACK: prompts.render_track},
    parsers={GROUND: parse_ground, CHOICE: parse_choice, OPEN: parse_open, TRACK: parse_track},
    video_first=frozenset({OPEN}),
    licence="apache-2.0 (model card)",
    training=TRAINING,
)
