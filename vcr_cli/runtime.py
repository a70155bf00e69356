"""The model runtime: the only module that touches transformers and bitsandbytes.

`load_runtime` loads VideoChat-R1 (or any Qwen2.5-VL checkpoint: a hub id or a local directory)
exactly as a user's machine would, optionally 4-bit (NF4, double quantization) with the vision
tower and lm_head kept in full precision. `Runtime.generate` renders the chat as VideoChat-R1 was
trained (text first, then the video) and passes the *real sampled fps* through `video_metadata`,
so Qwen2.5-VL's absolute-time position encoding matches the video.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.errors import ModelLoadError, UsageError

if TYPE_CHECKING:
    from vcr_cli.video import SampledVideo

DEFAULT_MODEL = "OpenGVLab/VideoChat-R1_7B"
QUANT_CHOICES = ("4bit", "8bit", "none")
DEVICE_CHOICES = ("auto", "cuda", "cpu")
# In transformers 5 the vision tower is `model.visual`; naming "visual" alone skips nothing.
QUANT_SKIP_MODULES = ["model.visual", "lm_head"]


def resolve_model_id(model: str | None) -> str:
    """--model, else $VCR_MODEL, else VideoChat-R1_7B."""
    return model or os.environ.get("VCR_MODEL") or DEFAULT_MODEL


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


def _check_local_dir(path: Path) -> None:
    if not path.is_dir():
        raise UsageError(f"model directory not found: {path}; pass --model a checkpoint directory or a hub id")
    if not (path / "config.json").exists():
        raise ModelLoadError(f"{path} is not a model checkpoint (no config.json); point --model at a directory "
                             "saved with save_pretrained or downloaded with `hf download`")
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(f"{path} has no .safetensors weights; vcr loads safetensors only")


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

    def describe(self) -> dict:
        return {"id": self.model_id, "quant": self.quant, "device": self.device}

    def render_chat(self, prompt: str) -> str:
        """VideoChat-R1's training layout: default system prompt, user text, then the video."""
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "video"}]}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def build_inputs(self, prompt: str, video: SampledVideo):
        """Processor output (keep all of it: mm_token_type_ids drive MRoPE) on the model's device."""
        text = self.render_chat(prompt)
        inputs = self.processor(
            text=[text],
            videos=[video.frames],
            videos_kwargs={
                "video_metadata": [video.metadata()],
                "do_sample_frames": False,  # frames are already sampled by the training rule
                "do_resize": False,  # and already resized by smart_resize to multiples of 28
                "cap_pixels_per_frame": True,  # no-op without resizing; silences a transformers notice
            },
            return_tensors="pt",
        )
        return inputs.to(self.model.device)

    def generate(self, prompt: str, video: SampledVideo, max_new_tokens: int = 2048) -> Generation:
        import torch

        inputs = self.build_inputs(prompt, video)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, use_cache=True)
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.processor.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return Generation(text=text, prompt_tokens=int(inputs["input_ids"].shape[1]), new_tokens=int(new.shape[0]),
                          seconds=time.perf_counter() - start)


def load_runtime(model: str | None = None, quant: str = "4bit", device: str = "auto") -> Runtime:
    """Load a Qwen2.5-VL checkpoint by hub id or local directory; ModelLoadError with a fix if not found."""
    import torch

    model_id = resolve_model_id(model)
    resolved_device = resolve_device(device)
    quant_config = quantization_config(quant, resolved_device)
    local = Path(model_id).expanduser()
    if local.exists() or model_id.startswith((".", "/", "~")):
        _check_local_dir(local)
        source = str(local)
    else:
        source = model_id
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    start = time.perf_counter()
    try:
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=False)
        loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            source,
            dtype=torch.bfloat16 if resolved_device == "cuda" else torch.float32,
            quantization_config=quant_config,
            device_map={"": resolved_device},
            use_safetensors=True,
            trust_remote_code=False,
            attn_implementation="sdpa",
        )
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if source == model_id:
            raise ModelLoadError(
                f"model {model_id!r} is not in the local cache and could not be downloaded ({reason}). "
                f"Download it where the hub is reachable (`hf download {model_id} --local-dir DIR`) "
                "and pass --model DIR (or set VCR_MODEL)"
            ) from None
        raise ModelLoadError(f"cannot load the checkpoint in {source} ({reason})") from None
    loaded.eval()
    return Runtime(model=loaded, processor=processor, model_id=model_id, quant=quant, device=resolved_device,
                   load_seconds=time.perf_counter() - start)
