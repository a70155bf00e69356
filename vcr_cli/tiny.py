"""Build tiny, random Qwen2.5-VL checkpoints locally.

The real VideoChat-R1 weights (16 GB, on the Hugging Face hub) cannot be fetched in CI or by
`vcr doctor --smoke`, so we build a checkpoint with the *same architecture, processor and chat
template* small enough to save in under a megabyte. It loads through exactly the same code path
as the real model (`vcr_cli.runtime.load_runtime`). Widths are >= 64 everywhere because
bitsandbytes 4-bit on CPU fails on Linear layers with fewer than 64 input features.

`train_parrot` then teaches such a checkpoint to answer one fixed text, which lets end-to-end
tests assert exact segments/boxes/letters through the whole pipeline.
"""

from __future__ import annotations

from pathlib import Path

# Qwen2.5-VL's special tokens, in the order the real tokenizer numbers them.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL / Qwen2.5-VL chat template (system prompt injected when absent).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "To accurately pinpoint the event in the video, determine the precise time period of the event.",
    "Output your thought process within the <think> </think> tags, including analysis with either "
    "specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.",
    "Then, provide the start and end times (in seconds, precise to two decimal places) in the format "
    '"start time to end time" within the <answer> </answer> tags. For example: "12.54 to 17.83".',
    "Answer the question according to the content of the video. Select the answer from the options.",
    "Track the object in the video based on its initial coordinates. [[0.1, 0.5, 0.3, 0.55]]",
    "<glue>[(5.2, 10.4)]</glue> person opens door red car 0123456789 A B C D E",
    "You are a helpful assistant. system user assistant",
]


def build_tokenizer(extra_tokens: list[str] | None = None):
    """A ~500-token byte-level BPE tokenizer with Qwen's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=QWEN_SPECIAL_TOKENS[1:],
    )
    if extra_tokens:
        fast.add_tokens(extra_tokens)  # plain (non-special) tokens: decoded with skip_special_tokens
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def build_tiny_checkpoint(path: str | Path, seed: int = 0, extra_tokens: list[str] | None = None) -> Path:
    """Write a random tiny Qwen2.5-VL checkpoint (model, tokenizer, processor) to `path`."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(extra_tokens)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1000000.0},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=64,
            intermediate_size=128,
            num_heads=4,
            out_hidden_size=64,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            tokens_per_second=2,
            window_size=112,
            fullatt_block_indexes=[1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path


def train_parrot(path: str | Path, answer: str, steps: int = 40, seed: int = 0) -> Path:
    """Build a tiny checkpoint at `path` that answers `answer` to any video prompt, then stops.

    `answer` becomes one added token; a few dozen Adam steps on random videos of several sizes
    and lengths teach "assistant turn -> answer -> <|im_end|>". Used by end-to-end tests so a
    whole pipeline (sampling, prompt, generate, parse, outputs) can be asserted exactly.
    """
    import numpy as np
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    path = build_tiny_checkpoint(path, seed=seed, extra_tokens=[answer])
    processor = AutoProcessor.from_pretrained(path)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    tok = processor.tokenizer
    target = [tok.convert_tokens_to_ids(answer), tok.convert_tokens_to_ids("<|im_end|>")]
    rng = np.random.default_rng(seed)
    prompts = ["person opens door", "Track the red car.", "Answer the question: what happens? (A) x (B) y", ""]
    shapes = [(4, 56, 56), (8, 84, 112), (16, 112, 84), (30, 140, 252)]
    batches = []
    for i, (frames, h, w) in enumerate(shapes * 2):
        video = rng.integers(0, 256, size=(frames, h, w, 3), dtype=np.uint8)
        content = [{"type": "text", "text": prompts[i % len(prompts)]}, {"type": "video"}]
        messages = [{"role": "user", "content": content}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        indices = list(range(0, frames * 4, 4))
        meta = {"total_num_frames": frames * 4, "fps": 8.0 * (1 + i % 3), "frames_indices": indices}
        enc = processor(text=[text], videos=[video], return_tensors="pt",
                        videos_kwargs={"video_metadata": [meta], "do_sample_frames": False, "do_resize": False})
        ids = torch.cat([enc["input_ids"], torch.tensor([target])], dim=1)
        labels = torch.full_like(ids, -100)
        labels[0, -2:] = torch.tensor(target)
        enc["input_ids"] = ids
        enc["attention_mask"] = torch.ones_like(ids)
        enc["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"], torch.zeros((1, 2), dtype=torch.long)], dim=1)
        batches.append((enc, labels))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        enc, labels = batches[step % len(batches)]
        loss = model(**enc, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(path, safe_serialization=True)
    return path
