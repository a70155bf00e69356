"""Reward-driven fine-tuning (GRPO) of VideoChat-R1 on your own data: `vcr rft ...`.

Kept light on purpose: importing `rft` (or `rft.cli`) loads no torch, transformers or trl.
Modules: `data` (JSONL format, validation, prompts), `convert` (public annotation formats),
`rewards` (the paper's reward functions, TRL signature), `metrics` (the paper's scoring),
`score` (score a predictions file), `cli` (the `vcr rft` command group).
"""
