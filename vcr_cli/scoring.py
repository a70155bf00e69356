"""How sure was the model? The mean token probability of the answer it generated."""

from __future__ import annotations

import math
from typing import Any


def answer_confidence(runtime: Any, generation: Any) -> float | None:
    """exp(mean log-probability) of the tokens inside the last <answer> block (all tokens if none).

    The probabilities are the model's own (softmax of the raw logits, `output_logits=True`), not generate's
    `scores`: those are taken after the generation config's warpers, and VideoChat-R1_7B's config
    (temperature 0.1, top_k 1, top_p 0.001) leaves one finite entry per step, so every answer would score 1.0.
    `generation` must come from a generate call with output_logits=True and return_dict_in_generate=True
    (`generation.output`, row `generation.row`). Returns None when logits are missing.
    """
    import torch

    output = getattr(generation, "output", None)
    steps = getattr(output, "logits", None) if output is not None else None
    if not steps:
        return None
    row = getattr(generation, "row", 0)
    count = min(len(generation.token_ids), len(steps))
    with torch.no_grad():
        logprobs = [float(torch.log_softmax(steps[k][row].float(), dim=-1)[generation.token_ids[k]])
                    for k in range(count)]
    ids = generation.token_ids[: len(logprobs)]
    tokenizer = runtime.processor.tokenizer
    # character span of each token in the decoded text
    spans, text = [], ""
    for i in range(len(ids)):
        prefix = tokenizer.decode(ids[: i + 1], skip_special_tokens=True)
        spans.append((len(text), len(prefix)))
        text = prefix
    start = text.rfind("<answer>")
    end = text.find("</answer>", start) if start >= 0 else -1
    if start >= 0:
        lo, hi = start + len("<answer>"), (end if end >= 0 else len(text))
        chosen = [k for k, (a, b) in enumerate(spans) if b > lo and a < hi] or [
            k for k, (a, b) in enumerate(spans) if b > start and a < hi
        ]
    else:
        chosen = [k for k, (a, b) in enumerate(spans) if b > a]
    values = [float(logprobs[k]) for k in chosen if math.isfinite(float(logprobs[k]))]
    if not values:
        return None
    return math.exp(sum(values) / len(values))
