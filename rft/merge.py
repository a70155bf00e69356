"""`vcr rft merge`: fold a LoRA adapter into its base model, for plain loading (`vcr ground --model DIR`).

The base is the model the adapter names (`base_model_name_or_path` in `adapter_config.json`, i.e. what
training loaded) unless `base_model` is given, of any family's architecture (`AutoModelForImageTextToText`, as
training and inference load it). It is loaded in its saved precision (not quantized, even when the adapter was
trained with `--quant 4bit`: merging into NF4 weights is lossy), merged with peft's `merge_and_unload`, and saved
as safetensors with the processor (the adapter folder's, else the base's) and the base's generation config.
The result loads with any `--quant`. The run's `rft_config.yaml` (the adapter folder's, or its run folder's for a
checkpoint-N) is copied along: it names the model family the adapter was trained as, which `vcr` reads back
(`vcr_cli.checkpoints.recorded_family`), so a TimeLens2 fine-tune is asked as TimeLens2 without `--family`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vcr_cli.checkpoints import TRAINING_RECORD, adapter_base, model_source, training_record
from vcr_cli.errors import ModelLoadError, UsageError, first_line


def merge_adapter(adapter_dir, output_dir, base_model=None) -> Path:
    """Merge `adapter_dir` into its base and save the full model to `output_dir` (created; must be empty)."""
    adapter_dir, output_dir = Path(adapter_dir), Path(output_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        hint = (" (it holds a full model: load it directly)" if (adapter_dir / "config.json").is_file()
                else "; give the --output-dir of `vcr rft train` or one of its checkpoint-N folders")
        raise UsageError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json){hint}")
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise UsageError(f"{output_dir} already exists and is not an empty folder; choose a new output folder")
    base = base_model or adapter_base(adapter_dir)
    if not base:
        raise UsageError(f"{adapter_dir}/adapter_config.json names no base model; pass --base-model")

    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vcr_cli.console import quiet_libraries, status

    quiet_libraries()
    # found as `load_runtime` finds a model: a checked local folder, else the hub cache (fails fast offline)
    source, _ = model_source(base, hub_fix=f"Download it where the hub is reachable (`hf download {base} "
                                           "--local-dir DIR`) and pass --base-model DIR",
                             missing_fix=f"it is the base model of {adapter_dir}; pass --base-model with a local copy")
    processor_source = adapter_dir if (adapter_dir / "processor_config.json").is_file() else source
    try:
        with status(f"Loading {base}..."):
            model = AutoModelForImageTextToText.from_pretrained(source, dtype="auto", use_safetensors=True)
            processor = AutoProcessor.from_pretrained(str(processor_source))
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"cannot load the base model {base!r} ({type(exc).__name__}: {reason}); "
                             "pass --base-model with a local copy of it") from None
    try:
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except Exception as exc:
        reason = first_line(exc)
        raise ModelLoadError(f"the adapter in {adapter_dir} does not fit {base!r} ({reason})") from None

    from vcr_cli.outputs.atomic import atomic_dir, umask_modes

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(output_dir) as staging:  # mode as mkdir() gives it; renamed into place when complete
        merged.save_pretrained(staging, safe_serialization=True)
        processor.save_pretrained(staging)
        record = training_record(adapter_dir)
        if record is not None:  # the run's settings, its model family among them (`vcr` asks the model as trained)
            shutil.copyfile(record, Path(staging) / TRAINING_RECORD)
        umask_modes(staging)  # safetensors writes 0600
    return output_dir
