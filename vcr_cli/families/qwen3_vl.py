"""Qwen3-VL Instruct (Qwen/Qwen3-VL-*-Instruct): the base of TimeLens-8B and TimeLens2 (model-families.md §4).

Qwen publishes no single-query grounding prompt; grounding asks TimeLens's grounder prompt, the one TimeLens
evaluated Qwen3-VL-8B with (Charades-TimeLens mIoU 48.3), at TimeLens's budget. Open questions are the user's
text after the video, as the model card chats. Time: text timestamps (`_qwen3`).
"""

from __future__ import annotations

from vcr_cli.families import _qwen3, timelens
from vcr_cli.families._base import GROUND, OPEN, Capabilities, Family

# The cookbook's inference(): fps 2, at most 2048 frames, 64x32x32 floor, 20480x32x32 total.
SAMPLING = _qwen3.rule(fps=2.0, max_frames=2048, min_pixels=64 * 32 * 32, total_pixels=20480 * 32 * 32,
                       source="Qwen3-VL cookbook video_understanding inference()")


def render_open(question: str) -> tuple[str, str]:
    return "question", question


def parse_open(text: str, strict: bool = False, **_) -> str | None:
    return text.strip() or None


FAMILY = Family(
    name="qwen3-vl",
    title="Qwen3-VL Instruct",
    model_type=_qwen3.MODEL_TYPE,
    checkpoints=tuple(f"Qwen/Qwen3-VL-{size}-Instruct" for size in ("2B", "4B", "8B", "32B")),
    default=True,
    capabilities=Capabilities(grounds=True, answers_open=True, trainable=True),
    sampling={"default": SAMPLING, GROUND: timelens.SAMPLING},
    time_contract=_qwen3.TIME_CONTRACT,
    metadata_fn=_qwen3.video_metadata,
    prompts={GROUND: timelens.render_ground, OPEN: render_open},
    parsers={GROUND: timelens.parse_ground, OPEN: parse_open},
    video_first=frozenset({GROUND, OPEN}),
    layout_check=_qwen3.trained_layout,
    decoding={"do_sample": False, "max_new_tokens": timelens.MAX_NEW_TOKENS},
    licence="apache-2.0",
    notes=("no official grounding prompt: TimeLens's is used", "the card recommends sampling (top_p 0.8, top_k 20, "
           "temperature 0.7, presence_penalty 1.5) for chat; grounding is greedy as TimeLens evaluated it"),
    training=timelens.TRAINING,  # fine-tuned for grounding as TimeLens-8B was made from it
)
