"""Reward-driven fine-tuning (GRPO) of VideoChat-R1 on your own data: `vcr rft ...`.

Kept light on purpose: importing `rft` (or `rft.cli`) loads no torch, transformers or trl.
Modules: `data` (JSONL format, validation, prompts), `convert` (public annotation formats),
`rewards` (the paper's reward functions, TRL signature), `metrics` (the paper's scoring),
`score` (score a predictions file), `cli` (the `vcr rft` command group).
"""

import sys as _sys

if _sys.argv[:1] == ["-m"]:
    # `python -m rft.train` (also under `accelerate launch` / torchrun): quiet library notices (bitsandbytes'
    # "kernels" line, transformers advisories) before rft.train imports transformers, as `vcr` does.
    from vcr_cli.console import quiet_libraries as _quiet

    _quiet()
