"""The NF4 cache: the first 4-bit load saves the quantized weights, later loads read them and skip quantizing,
with exactly the logits of a fresh quantization."""

import shutil

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app


@pytest.fixture
def quantize_calls(monkeypatch):
    """How many tensors bitsandbytes quantized to 4 bits (0 when the weights came from the cache)."""
    import bitsandbytes.functional as bnbf

    calls = {"n": 0}
    real = bnbf.quantize_4bit

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(bnbf, "quantize_4bit", counted)
    return calls


def _logits(runtime):
    import torch

    with torch.inference_mode():
        return runtime.model(input_ids=torch.tensor([[1, 2, 3, 4, 5, 6]])).logits


def test_second_4bit_load_reads_the_cache_with_equal_logits(tiny_checkpoint, tmp_path, monkeypatch, quantize_calls):
    import torch

    from vcr_cli import modelcache
    from vcr_cli.runtime import load_runtime

    monkeypatch.setenv("VCR_HOME", str(tmp_path / "home"))
    checkpoint = shutil.copytree(tiny_checkpoint, tmp_path / "tiny")

    monkeypatch.setenv("VCR_NF4_CACHE", "off")
    fresh = load_runtime(str(checkpoint), quant="4bit", device="cpu")
    assert fresh.model.vcr_nf4_cache == "off" and quantize_calls["n"] > 0
    assert not modelcache.cache_folder().exists()

    monkeypatch.delenv("VCR_NF4_CACHE")
    quantize_calls["n"] = 0
    first = load_runtime(str(checkpoint), quant="4bit", device="cpu")
    assert first.model.vcr_nf4_cache == "saved" and quantize_calls["n"] > 0
    [entry] = modelcache.entries()
    assert entry.source == str(checkpoint.resolve()) and entry.bytes > 0

    quantize_calls["n"] = 0
    second = load_runtime(str(checkpoint), quant="4bit", device="cpu")
    assert second.model.vcr_nf4_cache == "hit" and quantize_calls["n"] == 0  # no tensor quantized
    assert torch.equal(_logits(second), _logits(fresh)) and torch.equal(_logits(first), _logits(fresh))

    # another checkpoint content (a weight file rewritten) is another entry, never the stale one
    weights = next(checkpoint.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes())
    changed = load_runtime(str(checkpoint), quant="4bit", device="cpu")
    assert changed.model.vcr_nf4_cache == "saved" and len(modelcache.entries()) == 2

    # unquantized loads never touch it
    assert load_runtime(str(checkpoint), quant="none", device="cpu").model.vcr_nf4_cache == "off"

    doctor = CliRunner().invoke(app, ["doctor", "--model", str(checkpoint)])
    assert f"4-bit cache: {modelcache.cache_folder()}: 2 checkpoint(s)" in doctor.output
    assert "tiny (0.0 GB)" in doctor.output


def test_a_damaged_entry_is_quantized_afresh(tiny_checkpoint, tmp_path, monkeypatch, quantize_calls):
    from vcr_cli import modelcache
    from vcr_cli.runtime import load_runtime

    monkeypatch.setenv("VCR_HOME", str(tmp_path / "home"))
    load_runtime(str(tiny_checkpoint), quant="4bit", device="cpu")
    [entry] = modelcache.entries()
    for weights in (modelcache.cache_folder() / entry.name).glob("*.safetensors"):
        weights.write_bytes(b"not safetensors")
    again = load_runtime(str(tiny_checkpoint), quant="4bit", device="cpu")
    assert again.model.vcr_nf4_cache == "saved"
    assert load_runtime(str(tiny_checkpoint), quant="4bit", device="cpu").model.vcr_nf4_cache == "hit"
