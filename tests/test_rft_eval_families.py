"""`vcr rft eval` on Qwen3-VL families, through the CLI with tiny parrots (no mock model): what reaches the model
(the family's evaluation prompt, layout, frame rule and token budget, recorded at `Runtime.generate` and the
processor call) and the scores, hand-computed under both named protocols; one table across families; the errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import media
import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()

TL_ANSWER = "The event happens in 0.2 - 1.0 seconds."  # TimeLens's answer format: "a - b" is not VideoChat-R1's
R1_ANSWER = "<answer>0.5 to 1.5</answer>"
QUERY_A = "  A person  opens the door. "  # TimeLens normalises: "A person opens the door"
QUERY_B = "someone sits down"
# solutions: A 0.5-1.5, B 0.0-1.0. TimeLens protocol (first span, IoU = overlap / (max end - min start)):
#   0.2-1.0 vs 0.5-1.5: 0.5 / 1.3;  vs 0.0-1.0: 0.8 / 1.0.  VideoChat-R1's strict parsing reads nothing: 0, 0.
TL_MIOU = round(100 * (0.5 / 1.3 + 0.8) / 2, 4)  # 59.2308
#   0.5-1.5 vs 0.5-1.5: 1.0;  vs 0.0-1.0: 0.5 / 1.5 (both protocols read the span)
R1_MIOU = round(100 * (1.0 + 0.5 / 1.5) / 2, 4)  # 66.6667
GROUNDER = ("Please find the visual event described by the sentence '{}', determining its starting and ending "
            "times. The format should be: 'The event happens in <start time> - <end time> seconds'.")
VIDEO_TRIPLE = "<|vision_start|><|video_pad|><|vision_end|>"
# The 4 s clip at 10 fps (40 frames, each spelling its index): frames sampled as np.linspace(0, 39, n).round()
FOUR_FPS = [0, 3, 5, 8, 10, 13, 16, 18, 21, 23, 26, 29, 31, 34, 36, 39]  # TimeLens2's evaluation: 16 frames
TWO_FPS = [0, 6, 11, 17, 22, 28, 33, 39]  # TimeLens's / VideoChat-R1's rule: 8 frames


@pytest.fixture
def data(tmp_path) -> Path:
    """Two grounding lines over one clip whose frames spell their index."""
    clip = media.timed_clip(tmp_path / "clip.mp4", media.cfr_times(40, 10.0))
    path = tmp_path / "test.jsonl"
    lines = [{"task": "ground", "video": clip.name, "query": QUERY_A, "solution": {"start": 0.5, "end": 1.5}},
             {"task": "ground", "video": clip.name, "query": QUERY_B, "solution": {"start": 0.0, "end": 1.0}}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture
def asked(monkeypatch) -> list[dict]:
    """Every question the runtime is asked: prompt, layout, budget, the chat the processor got and the codes of
    the frames it got (the real runtime runs; this only records)."""
    from vcr_cli.runtime import Runtime

    calls: list[dict] = []
    generate, process = Runtime.generate, Runtime._process_chat

    def recording_generate(self, prompt, video, max_new_tokens=2048, layout="text_first"):
        calls.append({"family": self.family.name, "prompt": prompt, "layout": layout,
                      "max_new_tokens": max_new_tokens})
        return generate(self, prompt, video, max_new_tokens=max_new_tokens, layout=layout)

    def recording_process(self, text, video):
        calls[-1].update(chat=text, frames=[media.read_code(frame) for frame in video.frames])
        return process(self, text, video)

    monkeypatch.setattr(Runtime, "generate", recording_generate)
    monkeypatch.setattr(Runtime, "_process_chat", recording_process)
    return calls


def _eval(*args):
    return runner.invoke(app, ["rft", "eval", *map(str, args), "--quant", "none", "--device", "cpu"])


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


def test_timelens2_is_evaluated_with_timelens_prompt_video_first_at_4_fps(qwen3_parrot, data, asked, tmp_path):
    out, preds = tmp_path / "metrics.json", tmp_path / "preds.jsonl"
    result = _eval(data, "-m", qwen3_parrot(TL_ANSWER), "--family", "timelens2", "-o", out, "--predictions", preds)
    assert result.exit_code == 0, result.output
    # asked with TimeLens's grounder prompt on the normalised query (not TimeLens2's card or training template),
    # the video first, TimeLens2's evaluation frames (4 fps: 16 of the 40), its 512-token budget
    assert [call["prompt"] for call in asked] == [GROUNDER.format("A person opens the door"),
                                                  GROUNDER.format("someone sits down")]
    for call in asked:
        assert call["family"] == "timelens2" and call["layout"] == "video_first" and call["max_new_tokens"] == 512
        assert call["chat"] == f"<|im_start|>user\n{VIDEO_TRIPLE}{call['prompt']}<|im_end|>\n<|im_start|>assistant\n"
        assert call["frames"] == FOUR_FPS
    metrics = json.loads(out.read_text())
    assert metrics["protocols"] == {
        "videochat-r1": {"count": 2, "miou": 0.0, "r@0.3": 0.0, "r@0.5": 0.0, "r@0.7": 0.0, "parse_failures": 2},
        "timelens": {"count": 2, "miou": TL_MIOU, "r@0.3": 100.0, "r@0.5": 50.0, "r@0.7": 50.0,
                     "parse_failures": 0}}
    assert [json.loads(line)["output"] for line in preds.read_text().splitlines()] == [TL_ANSWER] * 2
    # the predictions re-score to the same numbers without a model
    rescored = runner.invoke(app, ["rft", "score", str(preds), "-o", str(tmp_path / "again.json")])
    assert rescored.exit_code == 0, rescored.output
    assert json.loads((tmp_path / "again.json").read_text()) == metrics


def test_models_of_two_families_in_one_run_one_table(qwen3_parrot, parrot, data, asked, tmp_path):
    """A VideoChat-R1 checkpoint and a Qwen3-VL one (family found from each checkpoint: qwen3-vl, evaluated as
    TimeLens-8B was): each asked with its family's evaluation prompt, layout and frames; one table."""
    r1, qwen3 = parrot(R1_ANSWER), qwen3_parrot(TL_ANSWER)
    table = tmp_path / "table.csv"
    result = _eval(data, "-m", r1, "-m", qwen3, "--table", table, "-o", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    assert [call["family"] for call in asked] == ["videochat-r1"] * 2 + ["qwen3-vl"] * 2
    from vcr_cli import prompts

    r1_calls, qwen3_calls = asked[:2], asked[2:]
    # VideoChat-R1's evaluation: the raw sentence in its thinking prompt, text first, 2 fps, its 2048-token budget
    assert [call["prompt"] for call in r1_calls] == [prompts.render_ground(QUERY_A, True)[1],
                                                    prompts.render_ground(QUERY_B, True)[1]]
    for call in r1_calls:
        assert call["layout"] == "text_first" and call["max_new_tokens"] == 2048 and call["frames"] == TWO_FPS
        assert call["chat"].index(call["prompt"]) < call["chat"].index("<|vision_start|>")
    assert [call["prompt"] for call in qwen3_calls] == [GROUNDER.format("A person opens the door"),
                                                       GROUNDER.format("someone sits down")]
    for call in qwen3_calls:
        assert call["layout"] == "video_first" and call["max_new_tokens"] == 512 and call["frames"] == TWO_FPS
        assert call["chat"].index(VIDEO_TRIPLE) < call["chat"].index(call["prompt"])
    tl = f"{TL_MIOU:g}"
    r1_row = f"2,100.0,50.0,50.0,{R1_MIOU:g},0"  # IoU 1.0 and 1/3: r@0.3 both, r@0.5 / r@0.7 one
    assert table.read_text().splitlines() == [
        "model,protocol,count,r@0.3,r@0.5,r@0.7,miou,parse_failures",
        f"{r1},videochat-r1,{r1_row}", f"{r1},timelens,{r1_row}",
        f"{qwen3},videochat-r1,2,0.0,0.0,0.0,0.0,2", f"{qwen3},timelens,2,100.0,50.0,50.0,{tl},0"]
    models = json.loads((tmp_path / "m.json").read_text())["models"]
    assert list(models) == [str(r1), str(qwen3)]


def test_eval_errors_before_loading(qwen3_parrot, parrot, data, asked, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(data.read_text() + json.dumps({"task": "qa", "video": "clip.mp4", "question": "what?",
                                                 "options": ["x", "y"], "solution": {"answer": "A"}}) + "\n")
    line = _one_line_error(_eval(qa, "-m", qwen3_parrot(TL_ANSWER), "--family", "timelens2"))
    assert line.endswith(f"{qa} holds qa 1 line(s), but vcr rft evaluates the timelens2 family on ground data "
                         "only; evaluate a file of ground lines only or use another checkpoint")
    r1 = parrot(R1_ANSWER)
    # several models: every one is checked before the first runs (VideoChat-R1 could answer the qa line)
    line = _one_line_error(_eval(qa, "-m", r1, "-m", qwen3_parrot(TL_ANSWER)))
    assert line.endswith(f"{qa} holds qa 1 line(s), but vcr rft evaluates the qwen3-vl family on ground data "
                         "only; evaluate a file of ground lines only or use another checkpoint")
    line = _one_line_error(_eval(data, "-m", r1, "--family", "videochat-r1.5"))
    assert line.endswith("vcr rft trains and evaluates with the prompts and rewards of qwen3-vl, timelens, "
                         f"timelens2, videochat-r1; {r1} is a videochat-r1.5 checkpoint (use a checkpoint of those)")
    assert asked == []  # refused before any model ran


def test_merge_a_lora_adapter_over_a_qwen3_vl_checkpoint(qwen3_parrot, tmp_path):
    """`vcr rft merge` folds an adapter into a Qwen3-VL base (loaded by its architecture, not Qwen2.5-VL's): the
    merged weights are base + B A x alpha / r, and `vcr ground --family timelens2` runs the merged folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from rft.train import lora_target_pattern

    base_dir = qwen3_parrot(TL_ANSWER)
    base = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=lora_target_pattern(["q_proj", "v_proj"]),
                        init_lora_weights=False)  # random A and B: the merge changes the weights
    adapter = tmp_path / "adapter"
    get_peft_model(base, config).save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base_dir)
    merged = tmp_path / "merged"
    result = runner.invoke(app, ["rft", "merge", str(adapter), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    lora = load_file(adapter / "adapter_model.safetensors")
    before, after = load_file(base_dir / "model.safetensors"), load_file(merged / "model.safetensors")
    a_keys = sorted(key for key in lora if key.endswith("lora_A.weight"))
    assert len(a_keys) == 2 * 2 and all(".visual." not in key for key in a_keys)  # 2 layers x q, v; no vision
    for a_key in a_keys:
        name = a_key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        delta = lora[a_key.replace("lora_A", "lora_B")] @ lora[a_key] * (8 / 4)
        assert after[name].dtype == before[name].dtype == torch.bfloat16  # saved as the base was
        assert float((after[name].float() - before[name].float()).abs().max()) > 0.01
        torch.testing.assert_close(after[name].float(), before[name].float() + delta, atol=2e-2, rtol=2e-2)
    # every base weight, no other (Qwen2.5-VL's class over this checkpoint saved other names, with exit 0)
    assert set(after) == set(before)
    assert json.loads((merged / "config.json").read_text())["model_type"] == "qwen3_vl"
    clip = media.timed_clip(tmp_path / "clip.mp4", media.cfr_times(40, 10.0))
    result = runner.invoke(app, ["ground", str(clip), "someone sits down", "--model", str(merged), "--family",
                                 "timelens2", "--quant", "none", "--device", "cpu", "-o", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["runtime"]["family"] == "timelens2" and data["runtime"]["model_type"] == "qwen3_vl"
    assert data["prompt_template"] == "TL2_card_prompt" and data["layout"] == "video_first"


def test_timelens2_example_config_is_the_recipe():
    """examples/configs/timelens2.yaml is a commented copy of what `vcr rft train` applies to a TimeLens2
    checkpoint without it: the same settings, the recipe's rewards and tasks written out."""
    from dataclasses import asdict

    from rft.config import RftConfig, load_for_family
    from vcr_cli.families import timelens2

    path = Path(__file__).resolve().parent.parent / "examples" / "configs" / "timelens2.yaml"
    model = "MCG-NJU/TimeLens2-8B"  # a known id: its family is found without fetching anything
    recipe, family = load_for_family(None, model=model)
    assert family.name == "timelens2" and recipe.family == "timelens2"
    written = RftConfig.load(path, model=model)
    assert (written.rewards, written.tasks) == (list(timelens2.TRAINING.rewards), list(timelens2.TRAINING.tasks))
    assert {**asdict(written), "rewards": None, "tasks": None, "family": "timelens2"} == asdict(recipe)
    assert {key: getattr(written, key) for key in timelens2.TRAINING.config_defaults()} == \
        timelens2.TRAINING.config_defaults()
    header = " ".join(path.read_text().split("\n\n")[0].split())  # the top comment says it is a copy
    assert "applies this recipe automatically" in header and "an explicit, commented copy" in header
    # the file over the recipe changes nothing either
    assert asdict(load_for_family(path, model=model)[0]) == {**asdict(recipe), "rewards": written.rewards,
                                                            "tasks": written.tasks}
