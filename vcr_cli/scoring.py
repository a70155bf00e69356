"""How sure was the model? Two estimates, named in every result's `score_method`.

- "token_probability" (default, free): the geometric mean probability of the tokens that *write the answer* — the
  digits of its numbers (ground, track), its letter (multiple choice), its text (open questions) — under the
  model's own distribution. Formatting tokens (`.`, ` to`, tags, spaces) are left out: they are always near 1 and
  would crowd every score towards the top. What it cannot see: a choice made in the `<think>` before the answer is
  written (once the reasoning has decided, the answer is copied with probability ~1).
- "sample_agreement" (`--samples K`): K extra answers drawn from the distribution VideoChat-R1 was trained with
  (temperature 1, no top-k / top-p, no repetition penalty), reasoning included; the score is the share of them that
  agree with the reported answer (ground: temporal IoU >= 0.5; multiple choice: the same letter; open question:
  the same text; track: mean box IoU >= 0.5 over the window). The reported answer is still the checkpoint's own
  (its generation config), so results stay comparable with the paper.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

TOKEN_PROBABILITY = "token_probability"
SAMPLE_AGREEMENT = "sample_agreement"
AGREEMENT_IOU = 0.5  # ground: temporal IoU; track: mean box IoU over the window
# The distribution VideoChat-R1 was trained on (GRPO rollouts): plain temperature-1 sampling. The checkpoint's own
# generation config (temperature 0.1, top_k 1, top_p 0.001, repetition_penalty 1.05) is near-greedy and would make
# every sample the same answer.
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0}
KEEP_LOGITS = {"output_logits": True, "return_dict_in_generate": True}  # generate kwargs `answer_confidence` needs
Answer = TypeVar("Answer")


def token_logprobs(generation: Any) -> list[float] | None:
    """Log-probability of each generated token under the model's raw logits (`output_logits=True`).

    Not generate's `scores`: those come after the generation config's warpers, and VideoChat-R1_7B's config
    (temperature 0.1, top_k 1, top_p 0.001) leaves one finite entry per step, so every answer would score 1.0.
    None when the generation kept no logits.
    """
    import torch

    output = getattr(generation, "output", None)
    steps = getattr(output, "logits", None) if output is not None else None
    if not steps:
        return None
    row = getattr(generation, "row", 0)
    count = min(len(generation.token_ids), len(steps))
    with torch.no_grad():
        return [float(torch.log_softmax(steps[k][row].float(), dim=-1)[generation.token_ids[k]]) for k in range(count)]


def token_char_spans(tokenizer: Any, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text and each token's [start, end) character span in it (special tokens write nothing)."""
    spans, text = [], ""
    for i in range(len(ids)):
        prefix = tokenizer.decode(list(ids[: i + 1]), skip_special_tokens=True)
        spans.append((len(text), len(prefix)))
        text = prefix
    return text, spans


def answer_region(text: str) -> tuple[int, int]:
    """Where the answer is written: inside the last <answer> (even unclosed), else after the last </think>."""
    start = text.rfind("<answer>")
    if start >= 0:
        lo = start + len("<answer>")
        end = text.find("</answer>", lo)
        return lo, end if end >= 0 else len(text)
    think_end = text.rfind("</think>")
    return (think_end + len("</think>") if think_end >= 0 else 0), len(text)


def answer_characters(text: str, kind: str, letter: str | None = None) -> list[int]:
    """Positions of the characters that carry the answer: "numbers" (digits), "letter" (the chosen option letter,
    its first standalone occurrence) or "text" (every non-space character), inside `answer_region`."""
    lo, hi = answer_region(text)
    region = text[lo:hi]
    if kind == "numbers":
        return [lo + m.start() for m in re.finditer(r"\d", region)]
    if kind == "letter":
        if not letter:
            return []
        match = re.search(rf"(?<![A-Za-z]){re.escape(letter)}(?![A-Za-z])", region) or re.search(
            re.escape(letter), region)
        return [lo + match.start()] if match else []
    if kind == "text":
        return [lo + m.start() for m in re.finditer(r"\S", region)]
    raise ValueError(f"unknown answer kind {kind!r}")


def answer_confidence(runtime: Any, generation: Any, kind: str = "numbers", letter: str | None = None) -> float | None:
    """exp(mean log-probability) of the tokens that write the answer's `kind` characters (see `answer_characters`).

    `generation` must come from a generate call with output_logits=True and return_dict_in_generate=True
    (`generation.output`, row `generation.row`). None when logits are missing or the answer has no such characters.
    """
    logprobs = token_logprobs(generation)
    if logprobs is None:
        return None
    text, spans = token_char_spans(runtime.processor.tokenizer, generation.token_ids[: len(logprobs)])
    wanted = answer_characters(text, kind, letter)
    chosen = [k for k, (a, b) in enumerate(spans) if any(a <= c < b for c in wanted)]
    values = [logprobs[k] for k in chosen if math.isfinite(logprobs[k])]
    if not values:
        return None
    return math.exp(sum(values) / len(values))


def agreement(reported: Answer, samples: Sequence[Answer | None], agrees: Callable[[Answer, Answer], bool]) -> float:
    """Share of `samples` that agree with the reported answer (an unparsed sample, None, disagrees)."""
    if not samples:
        raise ValueError("no samples to compare")
    return sum(1 for s in samples if s is not None and agrees(reported, s)) / len(samples)


def spans_agree(a: tuple[float, float], b: tuple[float, float]) -> bool:
    from vcr_cli.parsing import temporal_iou

    return temporal_iou(a, b) >= AGREEMENT_IOU


def boxes_agree(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> bool:
    """Two answers' box lists agree when their mean IoU (box by box) is at least AGREEMENT_IOU."""
    from vcr_cli.parsing import box_iou

    if len(a) != len(b) or not a:
        return False
    return sum(box_iou(x, y) for x, y in zip(a, b)) / len(a) >= AGREEMENT_IOU


def same_text(a: str, b: str) -> bool:
    """Open answers agree when equal ignoring case, spaces and punctuation."""
    def norm(s: str) -> str:
        return re.sub(r"[\W_]+", " ", s.lower()).strip()

    return norm(a) == norm(b)


def samples_record(count: int, seed: int, rule: str, answers: list[dict], agreeing: int) -> dict:
    """The JSON block that keeps the K answers and says how the score was estimated."""
    return {"count": count, "agreeing": agreeing, "rule": rule, "seed": seed,
            "sampling": {k: v for k, v in SAMPLING.items() if k != "do_sample"}, "answers": answers}
