"""GRPO on a replica of VideoChat-R1_7B's files (Qwen's real vocabulary and special-token ids, the transformers-4
config, the checkpoint's *sampling* generation_config: temperature 0.1, top_k 1, top_p 0.001, repetition 1.05).

The toy checkpoints ship transformers' defaults, so they cannot show whether the checkpoint's own generation
config leaks into the rollouts. If it did, every rollout would be the greedy answer, all advantages zero and
nothing learned. The paper's trainer sampled from a fresh GenerationConfig (temperature 1, top_k 50, top_p 1,
no repetition penalty; videochat-r1.md §4).
"""

from __future__ import annotations

try:  # tests/ as a package or as a plain folder
    from tests.test_rft_paper import _trainer
    from tests.test_rft_train import TINY, ground_lines, write_data
except ImportError:
    from test_rft_paper import _trainer
    from test_rft_train import TINY, ground_lines, write_data

IM_START, IM_END, ENDOFTEXT, VISION_START, VIDEO_PAD, IMAGE_PAD = 151644, 151645, 151643, 151652, 151656, 151655
ASSISTANT_TURN = [IM_START, 77091, 198]  # "<|im_start|>assistant\n" in Qwen's vocabulary


def test_rollouts_sample_as_the_papers_trainer_not_with_the_checkpoints_config(replica_checkpoint, clip, tmp_path,
                                                                            monkeypatch):
    import json

    from transformers import Qwen2_5_VLForConditionalGeneration

    from rft.config import RftConfig
    from rft.data import load_examples

    shipped = json.loads((replica_checkpoint / "generation_config.json").read_text())
    assert (shipped["top_k"], shipped["top_p"], shipped["temperature"]) == (1, 0.001, 0.1)  # the real file's

    effective, prompt_ids, rollouts = [], [], []
    real_prepare = Qwen2_5_VLForConditionalGeneration._prepare_generation_config

    def recording_prepare(self, generation_config, **kwargs):
        config, model_kwargs = real_prepare(self, generation_config, **kwargs)
        effective.append(config)
        return config, model_kwargs

    real_generate = Qwen2_5_VLForConditionalGeneration.generate

    def recording_generate(self, *args, **kwargs):
        prompt_ids.append(kwargs["input_ids"])
        return real_generate(self, *args, **kwargs)

    monkeypatch.setattr(Qwen2_5_VLForConditionalGeneration, "_prepare_generation_config", recording_prepare)
    monkeypatch.setattr(Qwen2_5_VLForConditionalGeneration, "generate", recording_generate)

    def recording_reward(completions: list, prompts: list, **kwargs) -> list[float]:
        rollouts.extend((str(prompt[-1]["content"]), c[0]["content"]) for prompt, c in zip(prompts, completions))
        return [0.0] * len(completions)

    examples = load_examples(write_data(tmp_path / "d.jsonl", ground_lines(clip)))
    cfg = RftConfig.from_dict({**TINY, "num_generations": 4, "per_device_train_batch_size": 4, "max_steps": 1,
                               "max_completion_length": 6, "save_steps": 100})
    trainer = _trainer(replica_checkpoint, tmp_path, cfg, examples, reward_funcs=[recording_reward])
    trainer.train()

    assert trainer.state.global_step == 1 and effective and prompt_ids
    config = effective[0]
    assert (config.do_sample, config.temperature, config.top_k, config.top_p, config.repetition_penalty) == (
        True, 1.0, 50, 1.0, 1.0)
    assert IM_END in ([config.eos_token_id] if isinstance(config.eos_token_id, int) else config.eos_token_id)
    assert config.pad_token_id == ENDOFTEXT
    assert IMAGE_PAD in config.suppress_tokens  # a sampled <|image_pad|> would break the video features
    # The prompt is Qwen's chat template over the real ids: a video block, then the assistant turn
    for row in prompt_ids[0]:
        ids = row.tolist()
        assert ids[-3:] == ASSISTANT_TURN and VISION_START in ids and VIDEO_PAD in ids
    # Sampled, not greedy: the 4 rollouts of one prompt are not all the same text
    by_prompt: dict[str, set] = {}
    for prompt, text in rollouts:
        by_prompt.setdefault(prompt, set()).add(text)
    assert by_prompt and all(len(texts) > 1 for texts in by_prompt.values()), by_prompt
