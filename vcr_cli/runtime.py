"""The model runtime: the only module that touches transformers and bitsandbytes.

`load_runtime` loads a checkpoint of any model family (`vcr_cli.families`: a hub id or a local directory)
exactly as a user's machine would, optionally 4-bit (NF4, double quantization) with the vision
tower and lm_head kept in full precision, and resolves its family. `Runtime.generate` renders the chat in the
layout the task's prompt was trained with (`family.layout(role)`: text first or video first) and passes the
family's time contract through `video_metadata` (`family.metadata_for`), so the model sees the video's real
times (Qwen2.5-VL: in its position encoding; Qwen3-VL: as `<t seconds>` text). Nothing here names a family.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.checkpoints import (
    asked_family,
    checkpoint_source,
    default_family,
    family_of,
    read_checkpoint_config,
    resolve_model_id,
)
from vcr_cli.errors import ModelLoadError, UsageError, first_line

if TYPE_CHECKING:
    from vcr_cli.families import Family
    from vcr_cli.video import SampledVideo

QUANT_CHOICES = ("4bit", "8bit", "none")
DEVICE_CHOICES = ("auto", "cuda", "cpu")
# In transformers 5 the vision tower is `model.visual`; naming "visual" alone skips nothing.
QUANT_SKIP_MODULES = ["model.visual", "lm_head"]


def resolve_device(device: str) -> str:
    import torch

    if device not in DEVICE_CHOICES:
        raise UsageError(f"unknown --device {device!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def quantization_config(quant: str, device: str):
    """NF4 + double quantization with bf16 compute on CUDA (float32 on CPU), or 8-bit, or None."""
    import torch
    from transformers import BitsAndBytesConfig

    if quant not in QUANT_CHOICES:
        raise UsageError(f"unknown --quant {quant!r}; choose one of {', '.join(QUANT_CHOICES)}")
    if quant == "none":
        return None
    if quant == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if device == "cuda" else torch.float32,
            llm_int8_skip_modules=QUANT_SKIP_MODULES,
        )
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=QUANT_SKIP_MODULES)


TEXT_FIRST = "text_first"
VIDEO_FIRST = "video_first"
DEFAULT_MAX_NEW_TOKENS = 2048


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float


@dataclass
class Runtime:
    """A loaded model + processor, ready to answer prompts about sampled videos."""

    model: Any
    processor: Any
    model_id: str
    quant: str
    device: str
    load_seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    base_model: str | None = None  # set when `model_id` is a LoRA adapter folder loaded over this base
    family: Family = field(default_factory=default_family)

    def describe(self) -> dict:
        import transformers

        described = {"id": self.model_id, "quant": self.quant, "device": self.device}
        if self.base_model:
            described["adapter_base"] = self.base_model
        described.update(self.family.describe())
        # the frame and pixel budget per role ("default": every other role), as its source states it
        described["sampling_rules"] = {role: rule.source for role, rule in self.family.sampling.items()}
        described["transformers"] = transformers.__version__
        return described

    def new_token_budget(self, asked: int | None = None) -> int:
        """--max-new-tokens, else the family's published budget, else 2048."""
        return int(asked or self.family.decoding.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))

    def render(self, prompt: str, layout: str = TEXT_FIRST) -> str:
        """The chat of one user turn holding `prompt` and the video, in `layout` (`family.layout(role)`):
        "text_first" (the prompt, then the video) or "video_first"; the checkpoint's own chat template."""
        if layout not in (TEXT_FIRST, VIDEO_FIRST):
            raise ValueError(f"unknown layout {layout!r}")
        text, video = {"type": "text", "text": prompt}, {"type": "video"}
        content = [text, video] if layout == TEXT_FIRST else [video, text]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def render_chat(self, prompt: str) -> str:
        """The text-first chat (`render(prompt, "text_first")`)."""
        return self.render(prompt, TEXT_FIRST)

    def build_inputs(self, prompt: str, video: SampledVideo, layout: str = TEXT_FIRST):
        """Processor output (keep all of it: mm_token_type_ids drive MRoPE) on the model's device."""
        return self._process_chat(self.render(prompt, layout), video)

    def generate(self, prompt: str, video: SampledVideo, max_new_tokens: int = 2048,
                 layout: str = TEXT_FIRST) -> Generation:
        """Answer `prompt` about `video` in `layout` (text first by default)."""
        return self._generate(dict(self.build_inputs(prompt, video, layout)), max_new_tokens, {})

    def generate_image(self, prompt: str, image_rgb, max_new_tokens: int = 256) -> Generation:
        """Ask about one image (uint8 RGB, H x W x 3, both sides multiples of 28: resize it with smart_resize first).

        Qwen2.5-VL's grounding layout (the image, then the text); `bbox_2d` answers are in pixels of this image.
        """
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=[image_rgb], images_kwargs={"do_resize": False},
                                return_tensors="pt").to(self.model.device)
        return self._generate(dict(inputs), max_new_tokens, {})

    # ------------------------------------------------------------------ several prompts about one video
    # `encode_video` runs the vision tower once; `generate_many` answers any number of already rendered chats
    # (each in its own layout) about that video in one batched generate, passing the encoder output
    # (`mm_encoder_outputs`) instead of pixels, so the vision tower never runs again for the same video.

    def encode_video(self, video: SampledVideo) -> VideoEncoding:
        """One vision-tower pass over the sampled video, plus the MRoPE inputs every prompt about it needs.

        The processor's expansion of the chat template's video item (Qwen2.5-VL: start, N pads, end; Qwen3-VL:
        a `<t seconds>` marker and start, pads, end per 2-frame group) is kept as text, so every chat about this
        video is tokenized exactly as the processor would (`chat_ids`), never from re-derived times."""
        import torch

        start = time.perf_counter()
        chat = self.render("", VIDEO_FIRST)
        inputs = self._process_chat(chat, video)
        tokenizer = self.processor.tokenizer
        video_id = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
        expanded = tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False,
                                    clean_up_tokenization_spaces=False)
        before, item, after = _split_video_item(chat)
        if not (expanded.startswith(before) and expanded.endswith(after)):
            raise RuntimeError(f"the processor rewrote more than the video item {item!r} of the chat template")
        with torch.inference_mode():
            features = self.model.model.get_video_features(inputs["pixel_values_videos"], inputs["video_grid_thw"],
                                                           return_dict=True)
        return VideoEncoding(features=features, video_grid_thw=inputs["video_grid_thw"],
                             second_per_grid_ts=inputs.get("second_per_grid_ts"),
                             video_tokens=int((inputs["input_ids"] == video_id).sum()),
                             seconds=time.perf_counter() - start,
                             block=expanded[len(before) : len(expanded) - len(after)], item=item)

    def chat_ids(self, chat: str, encoding: VideoEncoding) -> list[int]:
        """Token ids of a rendered chat holding one video, its video item expanded as the processor expands it."""
        before, item, after = _split_video_item(chat)
        if item != encoding.item:
            raise ValueError(f"the chat's video item {item!r} is not the encoded one {encoding.item!r}")
        return self.processor.tokenizer(before + encoding.block + after, add_special_tokens=False)["input_ids"]

    def generate_many(self, chats: list[str], encoding: VideoEncoding, max_new_tokens: int = 2048,
                      **generate_kwargs) -> list[DetailedGeneration]:
        """Answer rendered chats (one video each, any layout) about one encoded video in one batched generate.

        Rows are left-padded (masked, taking no position); the video's encoder output is shared by every row.
        """
        return self.generate_videos(chats, [encoding] * len(chats), max_new_tokens, **generate_kwargs)

    def generate_videos(self, chats: list[str], encodings: list[VideoEncoding], max_new_tokens: int = 2048,
                        **generate_kwargs) -> list[DetailedGeneration]:
        """Answer rendered chats, row k about encoded video k (the same one, or e.g. the windows of a long video),
        in one batched generate. Rows are left-padded (masked, taking no position); each row gets its own video's
        encoder output (`mm_encoder_outputs`), so no vision tower runs here."""
        import torch

        if len(chats) != len(encodings) or not chats:
            raise ValueError("one encoded video per chat is needed")
        tokenizer = self.processor.tokenizer
        rows = [self.chat_ids(chat, encoding) for chat, encoding in zip(chats, encodings)]
        count, width = len(rows), max(len(r) for r in rows)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        device = self.model.device
        ids = torch.full((count, width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, tokens in enumerate(rows):
            ids[row, width - len(tokens) :] = torch.tensor(tokens)
            mask[row, width - len(tokens) :] = 1
        image_id, video_id = (tokenizer.convert_tokens_to_ids(t) for t in (IMAGE_PAD, VIDEO_PAD))
        mm_types = (ids == image_id).long() + (ids == video_id).long() * 2
        features = [encoding.features for encoding in encodings]
        shared = type(features[0])(last_hidden_state=None,
                                   pooler_output=tuple(t for f in features for t in f.pooler_output))
        if getattr(features[0], "deepstack_features", None) is not None:  # Qwen3-VL: per-layer features, per video
            shared.deepstack_features = [tuple(t for f in features for t in f.deepstack_features[layer])
                                         for layer in range(len(features[0].deepstack_features))]
        inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                  "mm_token_type_ids": mm_types.to(device),
                  "video_grid_thw": torch.cat([encoding.video_grid_thw for encoding in encodings]),
                  "mm_encoder_outputs": {"video": shared}}
        if encodings[0].second_per_grid_ts is not None:
            inputs["second_per_grid_ts"] = torch.cat([encoding.second_per_grid_ts for encoding in encodings])
        return self._generate_rows(inputs, max_new_tokens, generate_kwargs)

    def sample_many(self, chats: list[str], encoding: VideoEncoding, count: int, max_new_tokens: int = 2048,
                    seed: int = 0) -> list[list[DetailedGeneration]]:
        """`count` answers to each chat drawn at temperature 1 (`scoring.SAMPLING`), all in one batched generate
        over the already encoded video; answers grouped per chat. Seeded, without disturbing the global RNG."""
        import torch

        from vcr_cli.scoring import SAMPLING

        rows = [chat for chat in chats for _ in range(count)]
        devices = [torch.cuda.current_device()] if self.device == "cuda" and torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            generations = self.generate_many(rows, encoding, max_new_tokens=max_new_tokens, **SAMPLING)
        return [generations[k * count : (k + 1) * count] for k in range(len(chats))]

    # In the video-first layout every prompt about one video shares the token prefix
    # `<|im_start|>... <|im_start|>user\n<the video's tokens>`. `prefill_video` runs the vision tower and the
    # language model over that prefix once and keeps its KV cache; `generate_with_prefix` then only prefills each
    # prompt's own tokens. Positions (MRoPE) are computed over the whole sequence exactly as `generate` does
    # without a cache, so both paths give the same tokens.

    def render_chat_video_first(self, prompt: str) -> str:
        """The video-first chat (`render(prompt, "video_first")`)."""
        return self.render(prompt, VIDEO_FIRST)

    def _process_chat(self, text: str, video: SampledVideo):
        """Processor output for an already rendered chat, the family's time contract in `video_metadata`."""
        inputs = self.processor(
            text=[text],
            videos=[video.frames],
            videos_kwargs={
                "video_metadata": [self.family.metadata_for(video)],
                "do_sample_frames": False,  # frames are already sampled by the family's rule
                "do_resize": False,  # and already resized by smart_resize to multiples of the patch factor
                "cap_pixels_per_frame": True,  # no-op without resizing; silences a transformers notice
            },
            return_tensors="pt",
        )
        return inputs.to(self.model.device)

    def build_inputs_video_first(self, prompt: str, video: SampledVideo):
        return self._process_chat(self.render_chat_video_first(prompt), video)

    def generate_video_first(self, prompt: str, video: SampledVideo, max_new_tokens: int = 2048,
                             **generate_kwargs) -> DetailedGeneration:
        """Video-first layout without a shared prefix: the reference the cached path must reproduce."""
        inputs = dict(self.build_inputs_video_first(prompt, video))
        return self._generate(inputs, max_new_tokens, generate_kwargs)

    def prefill_video(self, video: SampledVideo) -> VideoPrefix:
        """Encode the video and run the model over the shared prefix once; keep its KV cache."""
        import torch

        start = time.perf_counter()
        text = self.render_chat_video_first("")
        inputs = self._process_chat(text, video)
        ids = inputs["input_ids"]
        end_id = self.processor.tokenizer.convert_tokens_to_ids(VISION_END)
        length = int((ids[0] == end_id).nonzero()[-1, 0]) + 1  # the video comes first: its last <|vision_end|>
        prefix_ids = ids[:, :length]
        mm_types = inputs["mm_token_type_ids"][:, :length]
        video_kwargs = {k: inputs[k] for k in ("video_grid_thw", "second_per_grid_ts") if k in inputs}
        positions = self._positions(prefix_ids, mm_types, video_kwargs)
        cache_name = self._cache_name()
        with torch.inference_mode():
            # No attention mask (all ones), as generate drops it: the same attention path as the uncached prefill.
            out = self.model(input_ids=prefix_ids, position_ids=positions, mm_token_type_ids=mm_types,
                             pixel_values_videos=inputs["pixel_values_videos"], use_cache=True, logits_to_keep=1,
                             **video_kwargs)
        return VideoPrefix(input_ids=prefix_ids, mm_token_type_ids=mm_types, video_kwargs=video_kwargs,
                           cache=getattr(out, cache_name), length=length, seconds=time.perf_counter() - start)

    def generate_with_prefix(self, prefix: VideoPrefix, prompt: str, max_new_tokens: int = 2048,
                             **generate_kwargs) -> DetailedGeneration:
        """Answer `prompt` about the prefilled video: only the prompt's own tokens are prefilled."""
        return self.generate_batch_with_prefix(prefix, [prompt], max_new_tokens, **generate_kwargs)[0]

    def generate_batch_with_prefix(self, prefix: VideoPrefix, prompts: list[str], max_new_tokens: int = 2048,
                                   **generate_kwargs) -> list[DetailedGeneration]:
        """Answer several prompts about the prefilled video in one batched generate.

        Each row is the shared prefix, padding (masked, taking no position), then the prompt's own tokens,
        so every row sees exactly its unbatched positions; the decode steps of all prompts run together.
        One prompt reuses the prefix cache itself (rewound afterwards); several get a copy per row.
        """
        import copy

        import torch

        device = prefix.input_ids.device
        tokenizer = self.processor.tokenizer
        suffixes = []
        for prompt in prompts:
            suffix = _split_video_item(self.render_chat_video_first(prompt))[2]
            suffixes.append(tokenizer(suffix, add_special_tokens=False, return_tensors="pt")["input_ids"][0])
        rows, width = len(prompts), max(len(s) for s in suffixes)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.full((rows, prefix.length + width), pad_id, dtype=prefix.input_ids.dtype, device=device)
        mask = torch.zeros_like(ids)
        ids[:, : prefix.length] = prefix.input_ids[0]
        mask[:, : prefix.length] = 1
        for row, suffix in enumerate(suffixes):
            ids[row, ids.shape[1] - len(suffix) :] = suffix.to(device)
            mask[row, ids.shape[1] - len(suffix) :] = 1
        mm_types = torch.zeros_like(ids)
        mm_types[:, : prefix.length] = prefix.mm_token_type_ids[0]
        video_kwargs = {k: v.repeat(rows, *([1] * (v.ndim - 1))) for k, v in prefix.video_kwargs.items()}
        inputs = {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": mm_types,
                  "position_ids": self._positions(ids, mm_types, video_kwargs, mask)}
        if rows == 1:
            prefix.rewind()
            cache = prefix.cache
        else:
            cache = copy.deepcopy(prefix.cache)
            cache.batch_repeat_interleave(rows)
        inputs[self._cache_name()] = cache
        try:
            return self._generate_rows(inputs, max_new_tokens, generate_kwargs)
        finally:
            if rows == 1:
                prefix.rewind()  # generate appended this prompt's tokens to the shared cache: drop them
            del cache

    def _cache_name(self) -> str:
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def _positions(self, ids, mm_token_type_ids, video_kwargs: dict, attention_mask=None):
        """The [4, batch, seq] (text + MRoPE t/h/w) positions generate computes for a fresh (uncached) prompt."""
        import torch

        mask = torch.ones_like(ids) if attention_mask is None else attention_mask
        kwargs = {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": mm_token_type_ids, **video_kwargs}
        return self.model._prepare_position_ids_for_generation(ids, kwargs)

    def _decoding(self, generate_kwargs: dict) -> dict:
        """The family's published decoding (e.g. greedy) under the call's own kwargs (e.g. --samples draws)."""
        decoding = {k: v for k, v in self.family.decoding.items() if k != "max_new_tokens"}
        return {**decoding, **generate_kwargs}

    def _generate_rows(self, inputs: dict, max_new_tokens: int, generate_kwargs: dict) -> list[DetailedGeneration]:
        """Batched generate; each row's new tokens end at its first end-of-sequence token (batch padding cut)."""
        import torch

        prompt_len = int(inputs["input_ids"].shape[1])
        eos = self.model.generation_config.eos_token_id
        eos = set([eos] if isinstance(eos, int) else (eos or []))
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, use_cache=True,
                                         **self._decoding(generate_kwargs))
        seconds = time.perf_counter() - start
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        generations = []
        for row in range(sequences.shape[0]):
            new = sequences[row, prompt_len:].tolist()
            ends = [i for i, token in enumerate(new) if token in eos]
            new = new[: ends[0] + 1] if ends else new
            text = self.processor.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            generations.append(DetailedGeneration(
                text=text, prompt_tokens=int(inputs["attention_mask"][row].sum()), new_tokens=len(new),
                seconds=seconds, token_ids=new, output=None if isinstance(output, torch.Tensor) else output, row=row,
                decode_steps=int(sequences.shape[1]) - prompt_len, prefill_tokens=int(inputs["input_ids"].numel())))
        return generations

    def _generate(self, inputs: dict, max_new_tokens: int, generate_kwargs: dict) -> DetailedGeneration:
        import torch

        prompt_len = int(inputs["input_ids"].shape[1])
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, use_cache=True,
                                         **self._decoding(generate_kwargs))
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        new = sequences[0, prompt_len:]
        text = self.processor.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return DetailedGeneration(text=text, prompt_tokens=prompt_len, new_tokens=int(new.shape[0]),
                                  seconds=time.perf_counter() - start, token_ids=new.tolist(),
                                  output=None if isinstance(output, torch.Tensor) else output)


    def generate_scored(self, prompt: str, video: SampledVideo, max_new_tokens: int = 2048,
                        layout: str = TEXT_FIRST) -> DetailedGeneration:
        """Like `generate`, keeping the raw per-step logits for `scoring.answer_confidence`."""
        from vcr_cli.scoring import KEEP_LOGITS

        inputs = dict(self.build_inputs(prompt, video, layout))
        return self._generate(inputs, max_new_tokens, dict(KEEP_LOGITS))

    def answer_and_sample(self, prompt: str, video: SampledVideo, samples: int, max_new_tokens: int = 2048,
                          seed: int = 0, layout: str = TEXT_FIRST,
                          ) -> tuple[DetailedGeneration, list[DetailedGeneration]]:
        """The checkpoint's own answer (its decoding, raw logits kept) and `samples` answers drawn at
        temperature 1, in `layout`, over one vision-tower pass (the encoder output is reused)."""
        from vcr_cli.scoring import KEEP_LOGITS

        encoding = self.encode_video(video)
        chat = self.render(prompt, layout)
        try:
            answer = self.generate_many([chat], encoding, max_new_tokens=max_new_tokens, **KEEP_LOGITS)[0]
            drawn = self.sample_many([chat], encoding, samples, max_new_tokens=max_new_tokens, seed=seed)[0]
        finally:
            del encoding
        return answer, drawn


VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
VIDEO_PAD = "<|video_pad|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_ITEM = VISION_START + VIDEO_PAD + VISION_END  # the chat templates' video item (Qwen2.5-VL and Qwen3-VL)


def _split_video_item(chat: str) -> tuple[str, str, str]:
    """(text before, the video item, text after) of a rendered chat holding one video."""
    if chat.count(VIDEO_ITEM) != 1:
        raise ValueError(f"a chat about one video holds {VIDEO_ITEM} once; this one holds it {chat.count(VIDEO_ITEM)}"
                         " times")
    before, after = chat.split(VIDEO_ITEM)
    return before, VIDEO_ITEM, after


@dataclass
class VideoEncoding:
    """A video's vision-tower output (`get_video_features`) and MRoPE inputs, reused by every prompt about it."""

    features: Any
    video_grid_thw: Any
    second_per_grid_ts: Any
    video_tokens: int
    seconds: float
    block: str = ""  # the processor's text for the video item: what every chat about this video holds in its place
    item: str = VIDEO_ITEM


@dataclass
class DetailedGeneration(Generation):
    """A Generation plus the new token ids and, when asked for (return_dict_in_generate), generate's output.

    For a batched generation `seconds` is the whole batch's time and `output` is shared: this one is `row`.
    """

    token_ids: list[int] = field(default_factory=list)
    output: Any = None
    row: int = 0  # this generation's row in `output` when several prompts were generated together
    decode_steps: int = 0  # generate's steps for the whole batch (rows x steps tokens decoded together)
    prefill_tokens: int = 0  # tokens the batch's prefill ran over (rows x padded width)


@dataclass
class VideoPrefix:
    """A video's shared prompt prefix, prefilled: its ids, MRoPE inputs and KV cache (on the model's device)."""

    input_ids: Any
    mm_token_type_ids: Any
    video_kwargs: dict
    cache: Any
    length: int
    seconds: float

    def rewind(self) -> None:
        """Crop the cache back to the prefix (generate appends to it in place)."""
        extra = self.cache.get_seq_length() - self.length
        if extra > 0:
            self.cache.crop(-extra)


def load_runtime(model: str | None = None, quant: str = "4bit", device: str = "auto",
                 family: str | None = None) -> Runtime:
    """Load a checkpoint of any family by hub id or local directory; ModelLoadError with a fix if not found.

    The family is resolved from the checkpoint's config first (`family` / --family overrides the guess), so a
    family that does not fit fails in one line before the slow import.

    A LoRA adapter folder (`vcr rft train`'s output) loads over the base it names: merged into it without
    quantization (exact, as `vcr rft merge`), kept as separate LoRA layers over the 4/8-bit base otherwise
    (as QLoRA trained it; merging into NF4 weights would round the update away).
    """
    model_id = resolve_model_id(model)
    asked_family(family)  # an unknown --family fails before anything is looked for
    resolved_device = resolve_device(device)
    quant_config = quantization_config(quant, resolved_device)
    found = checkpoint_source(model_id)
    source, local, adapter, base_id = found.source, found.local, found.adapter, found.base_id
    weights_id = base_id or model_id
    resolved_family = family_of(model_id, read_checkpoint_config(source), family, base_id)
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    start = time.perf_counter()
    saved_processor = any((adapter / name).is_file() for name in ("processor_config.json", "preprocessor_config.json"))
    processor_source = str(adapter) if base_id and saved_processor else source
    try:
        processor = AutoProcessor.from_pretrained(processor_source, trust_remote_code=False)
        from vcr_cli.modelcache import load_pretrained  # 4-bit: the NF4 cache (quantize once, then read)

        loaded = load_pretrained(
            AutoModelForImageTextToText, quant, source,
            dtype=torch.bfloat16 if resolved_device == "cuda" else torch.float32,
            quantization_config=quant_config,
            device_map={"": resolved_device},
            use_safetensors=True,
            trust_remote_code=False,
            attn_implementation="sdpa",
        )
    except Exception as exc:  # OSError, SafetensorError, ValueError, bitsandbytes errors ...
        reason = first_line(exc)
        reason = f"{type(exc).__name__}: {reason}"
        if not local and isinstance(exc, OSError):
            raise ModelLoadError(
                f"model {weights_id!r} is not in the local cache and could not be downloaded ({reason}). "
                f"Download it where the hub is reachable (`hf download {weights_id} --local-dir DIR`) "
                "and pass --model DIR (or set VCR_MODEL)"
            ) from None
        raise ModelLoadError(f"cannot load the checkpoint in {source} ({reason})") from None
    check_chat_layout(processor, resolved_family)
    if base_id:
        loaded = _apply_adapter(loaded, adapter, base_id, merge=quant == "none")
    loaded.eval()
    return Runtime(model=loaded, processor=processor, model_id=model_id, quant=quant, device=resolved_device,
                   load_seconds=time.perf_counter() - start, base_model=base_id, family=resolved_family)


def check_chat_layout(processor, family: Family) -> None:
    """ModelLoadError when this transformers writes the video into the chat otherwise than the family was trained
    (`family.layout_check`; e.g. 5.24 wraps Qwen3-VL's per-group blocks in an outer <|vision_start|> pair), checked
    on a 4-frame blank clip before any real video is fed."""
    if family.layout_check is None:
        return
    import numpy as np
    import transformers

    side = family.sampling_for("default").factor * 2
    frames = np.zeros((4, side, side, 3), dtype=np.uint8)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "x"}]}]
    chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[chat], videos=[frames], return_tensors="pt", videos_kwargs={
        "video_metadata": [family.video_metadata([0, 1, 2, 3], 2.0, 4)], "do_sample_frames": False,
        "do_resize": False})
    text = processor.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    if not family.layout_check(text):
        raise ModelLoadError(f"transformers {transformers.__version__} does not write the video into the chat as "
                             f"the {family.title} checkpoints were trained; install transformers 5.25 or later "
                             "(pip install -U 'transformers>=5.25,<6')")


def _apply_adapter(model, adapter: Path, base_id: str, merge: bool):
    """The base model with the adapter's LoRA layers: merged, or injected in place (the plain model is returned
    either way, so generation, scoring and the vision-feature reuse see one kind of model)."""
    from peft import PeftModel

    try:
        wrapped = PeftModel.from_pretrained(model, str(adapter))
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"the adapter in {adapter} does not fit its base {base_id!r} ({reason})") from None
    return wrapped.merge_and_unload() if merge else wrapped.get_base_model()
