"""`VideoGRPOTrainer`: TRL's GRPOTrainer with the real video in every prompt.

TRL 1.16's GRPOTrainer trains vision-language models on *images*; given a video it trains without
error but without the video (the prompt is encoded at a default 24 fps and the log-prob passes get
only `input_ids`). Frames passed as separate images are no fix either: they lose the video's time
(Qwen2.5-VL's absolute-time position encoding; Qwen3-VL's `<t seconds>` text markers), which temporal
grounding depends on. This subclass carries `pixel_values_videos` (or the frozen tower's features),
`video_grid_thw`, `second_per_grid_ts` (Qwen2.5-VL: temporal patch 2 / the *real* sampled fps) and
`mm_token_type_ids` through generation and through every log-prob pass.

A training row holds a conversational `prompt` (one user turn, text only), a `video` path, its `layout`
and any columns the rewards read. Frames are sampled with the model family's training rule and budget and
the prompt is encoded by `vcr_cli.runtime.Runtime.build_inputs` with the family (`family=`: its chat layout,
text first for VideoChat-R1, video first for the Qwen3-VL grounders, and its time contract in
`video_metadata`, so Qwen3-VL's markers are the frames' shown times), so the policy trains on exactly the
inputs `vcr ground/track/ask` later give it.

Overridden methods (each wraps `super()`, nothing of TRL's loss or generation logic is copied):

- `_generate_and_score_completions`: appends each row's video to its prompt and returns the
  per-sample video tensors with the batch, so they follow TRL's shuffle and micro-batch split.
- `_tokenize_prompts`: encodes prompt + frames with the processor (`video_metadata`, no resampling,
  no resizing); generation receives the video tensors through TRL's `multimodal_fields`.
- `_get_per_token_logps_and_entropies`: TRL's version forwards image tensors only; this one runs it
  chunk by chunk with the chunk's video tensors and `mm_token_type_ids` added to the model call
  (reference, old-policy and policy passes alike).
- `compute_loss`: makes the micro-batch's video tensors visible to that log-prob pass.

With the vision tower frozen (LoRA and QLoRA: adapters never touch `visual`) its output is the same in
generation and in every log-prob pass, so `_tokenize_prompts` runs it once per distinct prompt video of the
generation batch (`encode_video`; with Qwen3-VL's deepstack layers) and the features replace
`pixel_values_videos`: generation receives them as `mm_encoder_outputs` (`_generate_single_turn` shadows the
model's `generate` for the call) and each log-prob chunk as well (`reuse_video_features`; log-probs equal the
pixel path's). When the vision tower trains
(`--full`), every pass runs it on the pixels, as its output changes with each step.

Vision placeholder tokens are suppressed during sampling: a sampled `<|video_pad|>` in a completion
would no longer match the video features in the loss forward. Generation uses transformers (TRL's
default); TRL's vLLM path would not receive the video and is not supported here.
"""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from trl import GRPOTrainer

from vcr_cli.runtime import TEXT_FIRST, VIDEO_FIRST
from vcr_cli.sampling import FPS, FPS_MAX_FRAMES, MIN_PIXELS, TOTAL_PIXELS

if TYPE_CHECKING:
    from vcr_cli.families import Family, SamplingRule
    from vcr_cli.video import SampledVideo

VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
FEATURES_KEY = "video_features"  # per sample: the vision tower's output for its video (frozen tower only)
VISION_PLACEHOLDERS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
VIDEO_MM_TYPE = 2  # Qwen2.5-VL's mm_token_type_ids: 0 text, 1 image, 2 video


@dataclass(frozen=True)
class VideoSampling:
    """How training videos are sampled: VideoChat-R1's rule and budget (§4) unless changed."""

    fps: float = FPS
    max_frames: int = FPS_MAX_FRAMES
    total_pixels: int = TOTAL_PIXELS
    min_pixels: int = MIN_PIXELS
    max_pixels: int | None = None
    rule: SamplingRule | None = None  # the family's training frame rule (None: VideoChat-R1's); the numbers above
    # set its budget

    def sample(self, path: str | Path, tracking: bool = False) -> SampledVideo:
        """Probe, plan and decode a video with this budget and rule (vcr_cli's sampling and decoder).

        `tracking`: the paper's 7 tracking frames at this budget and the nominal fps 2
        (`vcr_cli.video.sample_tracking`, the rule `vcr rft eval` and `vcr track` use too) instead of a clip at `fps`.
        """
        from vcr_cli.video import sample_tracking, sample_video

        if tracking:
            return sample_tracking(path, total_pixels=self.total_pixels, min_pixels=self.min_pixels,
                                   max_pixels=self.max_pixels)
        return sample_video(path, fps=self.fps, max_frames=self.max_frames, max_pixels=self.max_pixels,
                            total_pixels=self.total_pixels, min_pixels=self.min_pixels, rule=self.rule)


def attach_video(prompt: list[dict], video: str, tracking: bool = False, layout: str = TEXT_FIRST) -> list[dict]:
    """The conversational prompt with `video` added to its last user turn: after the text (text first, as
    VideoChat-R1 was trained) or, `layout` "video_first", before it (the Qwen3-VL families).

    `tracking` marks a tracking example's video (sampled as the paper's 7 tracking frames).
    """
    *head, last = prompt
    content = last["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    block = {"type": "video", "video": video, **({"frames": "tracking"} if tracking else {})}
    content = [block, *content] if layout == VIDEO_FIRST else [*content, block]
    return [*head, {**last, "content": content}]


def has_video(prompt: Any) -> bool:
    """Whether a conversational prompt holds a video block."""
    return isinstance(prompt, list) and any(
        isinstance(m.get("content"), list) and any(part.get("type") == "video" for part in m["content"])
        for m in prompt)


def split_video_prompt(prompt: list[dict]) -> tuple[str, str, bool, str]:
    """(user text, video path, tracking, layout) of a single-turn prompt made by `attach_video`."""
    if len(prompt) != 1 or prompt[0].get("role") != "user":
        raise ValueError("VideoGRPOTrainer expects one user turn per prompt (the video question)")
    texts = [part["text"] for part in prompt[0]["content"] if part.get("type") == "text"]
    videos = [part for part in prompt[0]["content"] if part.get("type") == "video"]
    if len(videos) != 1:
        raise ValueError(f"each prompt needs exactly one video, got {len(videos)}")
    layout = VIDEO_FIRST if prompt[0]["content"][0].get("type") == "video" else TEXT_FIRST
    return "".join(texts), str(videos[0]["video"]), videos[0].get("frames") == "tracking", layout


@contextlib.contextmanager
def extra_forward_kwargs(module: torch.nn.Module, extra: dict[str, Any]) -> Iterator[None]:
    """Add `extra` to every `module(...)` call inside the block (a removable forward pre-hook)."""

    def hook(_module, args, kwargs):
        return args, {**kwargs, **extra}

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def vision_trainable(model: torch.nn.Module) -> bool:
    """Whether any vision-tower parameter (`...visual...`) receives gradients."""
    return any(param.requires_grad for name, param in model.named_parameters() if re.search(r"(^|\.)visual\.", name))


@dataclass(frozen=True)
class VideoFeatures:
    """The frozen vision tower's output for one video: its LLM-token embeddings and (Qwen3-VL) the deepstack
    features, one tensor per tapped vision layer."""

    embeddings: torch.Tensor
    deepstack: tuple[torch.Tensor, ...] | None = None


def video_outputs(features: list[VideoFeatures]):
    """`mm_encoder_outputs["video"]` for rows whose videos the vision tower already encoded (one entry per row)."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    out = BaseModelOutputWithPooling(pooler_output=tuple(f.embeddings for f in features))
    if features and features[0].deepstack is not None:
        out.deepstack_features = [tuple(f.deepstack[layer] for f in features)
                                  for layer in range(len(features[0].deepstack))]
    return out


def upcast_trainable(model: torch.nn.Module) -> int:
    """Trainable bf16/fp16 parameters to fp32 (the optimizer's master weights); returns how many were cast.

    TRL casts QLoRA adapters to bf16, where most of an lr-1e-6 AdamW update rounds away; the frozen base keeps
    its dtype and autocast (bf16 on CUDA) keeps the compute in bf16.
    """
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.float()
            cast += 1
    return cast


class VideoGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose rows carry a `video` column; see the module docstring for what changes."""

    _VIDEO_CACHE_SIZE = 16  # decoded videos kept (uint8 frames at the training budget: ~17 MB each)

    def __init__(self, *args, video_sampling: VideoSampling | None = None, family: Family | None = None, **kwargs):
        processor = kwargs.get("processing_class")
        training_args = kwargs.get("args")
        if processor is None or not hasattr(processor, "video_processor") or training_args is None:
            raise TypeError("VideoGRPOTrainer needs args=GRPOConfig(...) and processing_class=<a video processor>")
        tokenizer = processor.tokenizer
        placeholders = [tokenizer.convert_tokens_to_ids(t) for t in VISION_PLACEHOLDERS]
        placeholders = [t for t in placeholders if t is not None and t != tokenizer.unk_token_id]
        generation_kwargs = dict(training_args.generation_kwargs or {})
        generation_kwargs["suppress_tokens"] = sorted({*generation_kwargs.get("suppress_tokens", []), *placeholders})
        training_args.generation_kwargs = generation_kwargs
        super().__init__(*args, **kwargs)
        if not self.is_deepspeed_enabled:  # DeepSpeed steps on its own fp32 copies
            upcast_trainable(self.model)
        # A frozen vision tower gives the same features in generation and in every log-prob pass (reference,
        # old policy, policy): encode each prompt video once per generation batch and reuse them. False: every
        # pass runs the vision tower on the pixels (needed when the vision tower trains).
        self.reuse_video_features = not vision_trainable(self.model)
        self._generation_features: list[VideoFeatures] | None = None
        from vcr_cli.checkpoints import default_family
        from vcr_cli.runtime import Runtime

        self.family = family or default_family()
        self.video_sampling = video_sampling or VideoSampling()
        # Only `build_inputs` is used: the exact encoding `vcr` uses at inference (the family's chat layout and
        # time contract: `video_metadata` from the frames' real times), put on the model's device.
        self._encoder = Runtime(model=self.model, processor=processor, model_id="", quant="", device="",
                                family=self.family)
        self._video_cache: OrderedDict[tuple[str, bool], SampledVideo] = OrderedDict()
        self._video_batch: dict[str, Any] | None = None

    # -- video decoding and encoding ---------------------------------------------------------------
    def sampled_video(self, path: str, tracking: bool = False) -> SampledVideo:
        """Decoded frames of `path` (an LRU cache: each prompt repeats `num_generations` times)."""
        key = (path, tracking)
        if key in self._video_cache:
            self._video_cache.move_to_end(key)
            return self._video_cache[key]
        video = self.video_sampling.sample(path, tracking=tracking)
        self._video_cache[key] = video
        if len(self._video_cache) > self._VIDEO_CACHE_SIZE:
            self._video_cache.popitem(last=False)
        return video

    def encode_prompt(self, text: str, video_path: str, tracking: bool = False, layout: str = TEXT_FIRST):
        """Processor output (input_ids, mm_token_type_ids and the video tensors) for one prompt."""
        return self._encoder.build_inputs(text, self.sampled_video(video_path, tracking), layout)

    def hf_model(self):
        """The vision-language model under the PEFT / accelerate wrappers (its `generate`, `get_video_features`)."""
        model = self.accelerator.unwrap_model(self.model)
        return model.get_base_model() if hasattr(model, "get_base_model") else model

    def encode_video(self, encoded) -> VideoFeatures:
        """The vision tower's output for one encoded prompt's video (no gradient: the tower is frozen)."""
        with torch.no_grad(), self.accelerator.autocast():
            out = self.hf_model().get_video_features(encoded["pixel_values_videos"], encoded["video_grid_thw"],
                                                     return_dict=True)
        deepstack = getattr(out, "deepstack_features", None)
        return VideoFeatures(out.pooler_output[0], tuple(layer[0] for layer in deepstack) if deepstack else None)

    @contextlib.contextmanager
    def _generate_with_features(self, features: list[VideoFeatures] | None) -> Iterator[None]:
        """Inside the block, the model's `generate` uses these per-row video features instead of pixels."""
        if features is None:
            yield
            return
        model = self.hf_model()
        original = model.generate

        def generate(*args, **kwargs):
            return original(*args, mm_encoder_outputs={"video": video_outputs(features)}, **kwargs)

        model.__dict__["generate"] = generate  # TRL calls generate on the (unwrapped) model: shadow the method
        try:
            yield
        finally:
            model.__dict__.pop("generate", None)

    @contextlib.contextmanager
    def _video_scope(self, video: dict[str, Any] | None) -> Iterator[None]:
        self._video_batch = video
        try:
            yield
        finally:
            self._video_batch = None

    # -- TRL overrides -------------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        if "video" not in inputs[0]:
            return super()._generate_and_score_completions(inputs)
        inputs = [{**row, "prompt": attach_video(row["prompt"], row["video"], tracking=row.get("task") == "track",
                                                 layout=row.get("layout") or TEXT_FIRST)}
                  for row in inputs]
        with self._video_scope(None):
            output = super()._generate_and_score_completions(inputs)  # _tokenize_prompts fills _video_batch
            video = self._video_batch
        output.update(video)
        return output

    def _generate_single_turn(self, *args, **kwargs):
        features, self._generation_features = self._generation_features, None  # set by _tokenize_prompts
        # (autocast: fp32 master weights on CUDA sample in bf16, like the loss forward)
        with self.accelerator.autocast(), self._generate_with_features(features):
            return super()._generate_single_turn(*args, **kwargs)

    def _tokenize_prompts(self, prompts: list):
        if not has_video(prompts[0]):
            return super()._tokenize_prompts(prompts)
        prompt_ids, mm_token_type_ids, per_sample = [], [], {key: [] for key in (*VIDEO_KEYS, FEATURES_KEY)}
        previous_key, encoded = None, None
        features: dict[tuple, VideoFeatures] = {}  # one vision pass per distinct video
        for prompt in prompts:
            key = split_video_prompt(prompt)
            if key != previous_key:  # a prompt repeats num_generations times in a row: encode it once
                encoded, previous_key = self.encode_prompt(*key), key
                if self.reuse_video_features and key[1:3] not in features:
                    features[key[1:3]] = self.encode_video(encoded)
            prompt_ids.append(encoded["input_ids"][0].tolist())
            mm_token_type_ids.append(encoded["mm_token_type_ids"][0].tolist())
            for name in VIDEO_KEYS:
                if name in encoded:  # second_per_grid_ts: Qwen2.5-VL only (Qwen3-VL's time is in the text)
                    per_sample[name].append(encoded[name])
            if self.reuse_video_features:
                per_sample[FEATURES_KEY].append(features[key[1:3]])
        # Kept per sample so they survive TRL's shuffle and split into micro-batches (see compute_loss)
        pixels = FEATURES_KEY if self.reuse_video_features else "pixel_values_videos"
        self._video_batch = {pixels: per_sample[pixels], "video_grid_thw": torch.cat(per_sample["video_grid_thw"])}
        if per_sample["second_per_grid_ts"]:
            self._video_batch["second_per_grid_ts"] = torch.cat(per_sample["second_per_grid_ts"])
        multimodal_fields = {
            **{key: self._video_batch[key] for key in VIDEO_KEYS[1:] if key in self._video_batch},
            "mm_token_type_ids": mm_token_type_ids,  # a per-token list: TRL left-pads it like input_ids
        }
        if self.reuse_video_features:
            self._generation_features = per_sample[FEATURES_KEY]  # generate gets them (_generate_single_turn)
        else:
            multimodal_fields["pixel_values_videos"] = torch.cat(per_sample["pixel_values_videos"])
        return prompt_ids, None, multimodal_fields

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        keys = [key for key in (FEATURES_KEY, "pixel_values_videos") if key in inputs]
        video = {key: inputs[key] for key in (*keys, *VIDEO_KEYS[1:]) if key in inputs} if keys else None
        with self._video_scope(video):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **kwargs):
        video = self._video_batch
        if video is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **kwargs)
        mm_token_type_ids = kwargs.pop("mm_token_type_ids", None)
        if mm_token_type_ids is None:
            mm_token_type_ids = self.video_token_types(input_ids, logits_to_keep)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            chunk_video = {key: video[key][start:end] for key in VIDEO_KEYS[1:] if key in video}
            if FEATURES_KEY in video:  # the frozen tower's output, computed once this step
                chunk_video["mm_encoder_outputs"] = {"video": video_outputs(video[FEATURES_KEY][start:end])}
            else:
                chunk_video["pixel_values_videos"] = torch.cat(video["pixel_values_videos"][start:end])
            with extra_forward_kwargs(model, chunk_video):
                chunk_logps, chunk_entropies, chunk_aux = super()._get_per_token_logps_and_entropies(
                    model, input_ids[start:end], attention_mask[start:end], logits_to_keep, batch_size=end - start,
                    compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss,
                    mm_token_type_ids=mm_token_type_ids[start:end], **kwargs)
            logps.append(chunk_logps)
            entropies.append(chunk_entropies)
            aux_losses.append(chunk_aux)
        return (torch.cat(logps),
                torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux_losses).mean() if compute_aux_loss else None)

    def video_token_types(self, input_ids: torch.Tensor, logits_to_keep: int) -> torch.Tensor:
        """mm_token_type_ids for prompt + completion rows: 2 on the prompt's video placeholders, else 0.

        Equal to the processor's for the prompt part; completions are text (placeholders are suppressed).
        """
        video_id = self.model.config.video_token_id
        types = torch.zeros_like(input_ids)
        prompt_part = input_ids[:, : input_ids.size(1) - logits_to_keep]
        types[:, : prompt_part.size(1)] = (prompt_part == video_id).long() * VIDEO_MM_TYPE
        return types
