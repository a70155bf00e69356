"""Refuse, before loading 16 GB of weights, settings that cannot fit on the GPU.

The estimate is deliberately simple (weights by quantization + a per-visual-token cost for the
vision tower's activations and the language model's KV cache) and errs on the generous side: it
only refuses clear misfits, with the numbers and what to change.
"""

from __future__ import annotations

from vcr_cli.errors import UsageError

# VideoChat-R1 (Qwen2.5-VL-7B): 6.5B quantizable language parameters, 1.1B in embeddings + lm_head and a
# 0.7B vision tower, both kept in bf16 (4.9 GB whatever the quantization): NF4 ~6.9 GB, int8 ~10 GB, bf16 16.6 GB.
WEIGHTS_GB = {"4bit": 6.9, "8bit": 10.0, "none": 16.6}
OVERHEAD_GB = 0.8  # CUDA context, allocator slack, generation buffers
PER_TOKEN_MB = 0.25  # vision-tower activations + KV cache per visual token (bf16, GQA)
# Each further row decoded together (questions of a batch, --samples draws) holds its own copy of the prompt in the
# KV cache (28 layers x 2 x 4 KV heads x 128 x 2 bytes = 0.055 MB a token) plus its share of the batched prefill's
# activations (~0.1 MB a token): an estimate, like the rest.
PER_ROW_TOKEN_MB = 0.15


def estimate_gb(quant: str, video_tokens: int, rows: int = 1) -> float:
    """GPU memory for one model and `rows` prompts about a video of `video_tokens` decoded together."""
    return (WEIGHTS_GB.get(quant, WEIGHTS_GB["none"]) + OVERHEAD_GB + video_tokens * PER_TOKEN_MB / 1024
            + max(0, rows - 1) * video_tokens * PER_ROW_TOKEN_MB / 1024)


def check_fits(quant: str, video_tokens: int, free_gb: float, total_gb: float, rows: int = 1) -> None:
    """UsageError if the estimate exceeds free GPU memory; says what would fit."""
    need = estimate_gb(quant, video_tokens, rows)
    if need <= free_gb:
        return
    hints = []
    if rows > 1:
        hints.append(f"fewer rows decoded together (--samples, --batch-size; one row: "
                     f"~{estimate_gb(quant, video_tokens):.1f} GB)")
    if quant != "4bit":
        hints.append(f"--quant 4bit (~{estimate_gb('4bit', video_tokens, rows):.1f} GB)")
    hints.append("--max-pixels / --max-frames to send fewer visual tokens")
    hints.append("--device cpu (slow)")
    raise UsageError(
        f"this needs about {need:.1f} GB of GPU memory ({quant} weights + {video_tokens} visual tokens"
        f"{f' x {rows} rows' if rows > 1 else ''}) but only "
        f"{free_gb:.1f} of {total_gb:.1f} GB is free; try " + ", or ".join(hints)
    )


def check_gpu_fits(quant: str, device: str, video_tokens: int, rows: int = 1) -> None:
    """Check against the current CUDA device's free memory; nothing to check on CPU."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return
    free, total = torch.cuda.mem_get_info()
    check_fits(quant, video_tokens, free / 2**30, total / 2**30, rows)


def rows_that_fit(device: str, video_tokens: int, cap: int) -> int:
    """How many prompts, each about its own video of `video_tokens` (the windows of a long video), can be decoded
    together on the loaded model: `cap` on CPU, else as many as the current free CUDA memory holds by the estimate
    (at least 1)."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return max(1, cap)
    free = torch.cuda.mem_get_info()[0] / 2**30
    first = video_tokens * PER_TOKEN_MB / 1024
    each = video_tokens * (PER_TOKEN_MB + PER_ROW_TOKEN_MB) / 1024  # its own vision output + KV + prefill share
    return max(1, min(cap, 1 + int((free - OVERHEAD_GB - first) / each)))
