"""How sure was the model? The mean token probability of the answer it generated."""

from __future__ import annotations

import math
from typing import Any


def answer_confidence(runtime: Any, generation: Any) -> float | None:
    """exp(mean log-probability) of the tokens inside the last <answer> block (all tokens if none).

    `generation` must come from a generate call with output_scores=True and
    return_dict_in_generate=True (`generation.output`). Returns None when scores are missing.
    """
    import torch

    output = getattr(generation, "output", None)
    if output is None or not getattr(output, "scores", None):
        return None
    with torch.no_grad():
        logprobs = runtime.model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)[0]
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
