"""`--model` naming a LoRA adapter folder (what `vcr rft train` writes) loads its base plus the adapter.

Unquantized the adapter is merged (exactly what `vcr rft merge` would save); over a 4-bit base it stays as LoRA
layers, as QLoRA trained it. Either way the model answers differently from its base, so the adapter is in use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def adapter(tiny_checkpoint, tmp_path_factory) -> Path:
    """A LoRA adapter over the tiny checkpoint, saved as `vcr rft train` saves one (adapter + processor), with
    non-zero B matrices so that it changes the model's answers."""
    import torch
    from peft import get_peft_model
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from rft.config import RftConfig
    from rft.train import lora_config

    folder = tmp_path_factory.mktemp("runs") / "ground"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    peft_model = get_peft_model(model, lora_config(RftConfig.from_dict({})))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(folder)
    AutoProcessor.from_pretrained(tiny_checkpoint).save_pretrained(folder)
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_checkpoint)
    return folder


def _logits(runtime, clip):
    import torch

    from vcr_cli.video import sample_video

    inputs = runtime.build_inputs("a square moves", sample_video(clip))
    with torch.no_grad():
        return runtime.model(**inputs).logits


def test_an_adapter_loads_as_its_merged_model(adapter, tiny_checkpoint, clip, tmp_path):
    import torch

    from rft.merge import merge_adapter
    from vcr_cli.runtime import load_runtime

    runtime = load_runtime(str(adapter), quant="none", device="cpu")
    assert runtime.base_model == str(tiny_checkpoint)
    described = runtime.describe()
    assert {k: described[k] for k in ("id", "quant", "device", "adapter_base", "family")} == {
        "id": str(adapter), "quant": "none", "device": "cpu", "adapter_base": str(tiny_checkpoint),
        "family": "videochat-r1"}  # the base's family (a qwen2_5_vl folder)
    merged = load_runtime(str(merge_adapter(adapter, tmp_path / "merged")), quant="none", device="cpu")
    base = load_runtime(str(tiny_checkpoint), quant="none", device="cpu")
    with_adapter = _logits(runtime, clip)
    torch.testing.assert_close(with_adapter, _logits(merged, clip), atol=1e-5, rtol=1e-5)
    assert (with_adapter - _logits(base, clip)).abs().max() > 1e-2  # the adapter is in use


def test_an_adapter_over_a_4bit_base_keeps_its_lora_layers(adapter, tiny_checkpoint, clip):
    from peft.tuners.lora import LoraLayer

    from vcr_cli.runtime import load_runtime

    runtime = load_runtime(str(adapter), quant="4bit", device="cpu")
    lora = [m for m in runtime.model.modules() if isinstance(m, LoraLayer)]
    assert lora and all(type(m.base_layer).__name__ == "Linear4bit" for m in lora)
    assert not any("visual" in name for name, m in runtime.model.named_modules() if isinstance(m, LoraLayer))
    base = load_runtime(str(tiny_checkpoint), quant="4bit", device="cpu")
    assert (_logits(runtime, clip) - _logits(base, clip)).abs().max() > 1e-2


def test_vcr_ground_with_an_adapter_folder(adapter, tiny_checkpoint, clip, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["ground", str(clip), "a square moves", "--model", str(adapter), "--quant", "none",
                                 "--device", "cpu", "--max-new-tokens", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["model"] == str(adapter) and data["runtime"]["adapter_base"] == str(tiny_checkpoint)


def test_doctor_checks_an_adapters_base(adapter, tiny_checkpoint, clip, tmp_path):
    from vcr_cli.checks import check_model

    check = check_model(str(adapter))
    assert check.ok and check.detail == f"LoRA adapter {adapter} over local directory {tiny_checkpoint}"
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "gone")}))
    check = check_model(str(orphan))
    assert not check.ok and check.detail == f"LoRA adapter {orphan} over local directory {tmp_path / 'gone'} not found"
    (orphan / "adapter_config.json").write_text("{ not json")
    result = runner.invoke(app, ["ground", str(clip), "q", "--model", str(orphan), "--device", "cpu"])
    assert result.exit_code == 2 and result.output.startswith(f"error: cannot read {orphan / 'adapter_config.json'}")


def test_training_from_a_relative_path_names_an_absolute_base(tiny_checkpoint, tmp_path, monkeypatch):
    """The adapter's `base_model_name_or_path` is the path training loaded: relative, it would only resolve from
    the folder training ran in."""
    from rft.config import RftConfig
    from rft.train import grpo_args, load_policy

    monkeypatch.chdir(tiny_checkpoint.parent)
    cfg = RftConfig.from_dict({"model": tiny_checkpoint.name})
    model, _ = load_policy(cfg, grpo_args(cfg, tmp_path / "run", "cpu", [1.0]))
    assert model.name_or_path == str(tiny_checkpoint)


def test_merge_with_a_missing_local_base_is_one_line(adapter, tmp_path):
    import shutil

    moved = tmp_path / "adapter"
    shutil.copytree(adapter, moved)
    config = json.loads((moved / "adapter_config.json").read_text())
    gone = tmp_path / "gone" / "base"
    (moved / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(gone)}))
    result = runner.invoke(app, ["rft", "merge", str(moved), "-o", str(tmp_path / "merged")])
    assert result.exit_code == 2, result.output
    assert result.output == (f"error: model directory not found: {gone}; it is the base model of {moved}; pass "
                             "--base-model with a local copy\n")
    assert not (tmp_path / "merged").exists()
