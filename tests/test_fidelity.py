"""What reaches the model, recorded, against the paper's pipeline (issue 11).

For `vcr ground`, `vcr ask` (one and several questions) and `vcr track`, run through the CLI on the replica
checkpoint, a patched forward records what the language model and the vision tower receive: token ids,
`mm_token_type_ids`, `second_per_grid_ts`, the MRoPE position ids, the vision tower's patches and
`grid_thw`. The reference is VideoChat-R1's pipeline: qwen-vl-utils 0.0.14 reading the clip with decord
(the training budget `total_pixels` 3584*28*28, `min_pixels` 16*28*28), the HF processor given
qwen-vl-utils' `video_metadata`, the verbatim template, text then video (the card's open question: video
then text), run through the same model. Ids, types, grids and positions must be identical, the time step
within 1e-3, the pixels within 2/255 mean absolute difference.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()
BUDGET = {"total_pixels": 3584 * 28 * 28, "min_pixels": 16 * 28 * 28}  # VideoChat-R1's training video element


class Recorder:
    """Patches Qwen2.5-VL's inner model and vision tower forwards to keep what they receive (prefill only)."""

    def __enter__(self) -> Recorder:
        from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as qwen

        self._patch = pytest.MonkeyPatch()
        monkeypatch = self._patch
        self.language: list[dict] = []
        self.vision: list[dict] = []
        language_forward = qwen.Qwen2_5_VLModel.forward
        vision_forward = qwen.Qwen2_5_VisionTransformerPretrainedModel.forward

        def record_language(module, *args, **kwargs):
            ids = kwargs.get("input_ids")
            if ids is not None and ids.shape[1] > 1:
                self.language.append({k: kwargs[k].detach().cpu().clone() for k in
                                      ("input_ids", "attention_mask", "mm_token_type_ids", "second_per_grid_ts",
                                       "position_ids") if kwargs.get(k) is not None})
            return language_forward(module, *args, **kwargs)

        def record_vision(module, hidden_states, grid_thw, **kwargs):
            self.vision.append({"pixels": hidden_states.detach().cpu().clone(),
                                "grid": grid_thw.detach().cpu().clone()})
            return vision_forward(module, hidden_states, grid_thw, **kwargs)

        monkeypatch.setattr(qwen.Qwen2_5_VLModel, "forward", record_language)
        monkeypatch.setattr(qwen.Qwen2_5_VisionTransformerPretrainedModel, "forward", record_vision)
        return self

    def __exit__(self, *exc) -> None:
        self._patch.undo()

    def rows(self) -> list[dict]:
        """Every prefilled row, padding removed: ids, types, positions and time step of one prompt each."""
        rows = []
        for call in self.language:
            mask = call.get("attention_mask")
            for r in range(call["input_ids"].shape[0]):
                keep = mask[r].bool() if mask is not None else slice(None)
                rows.append({"input_ids": call["input_ids"][r][keep],
                             "mm_token_type_ids": call["mm_token_type_ids"][r][keep],
                             "position_ids": call["position_ids"][:, r][:, keep],
                             "second_per_grid_ts": call["second_per_grid_ts"][r]})
        return rows


@pytest.fixture
def paper(replica_checkpoint, monkeypatch):
    """The reference pipeline: a function (prompt, video element, video_first) -> what the model received."""
    import qwen_vl_utils.vision_process as qvp
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    monkeypatch.setattr(qvp, "FORCE_QWENVL_VIDEO_READER", "decord")
    qvp.get_video_reader_backend.cache_clear()
    assert qvp.get_video_reader_backend() == "decord"
    processor = AutoProcessor.from_pretrained(replica_checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(replica_checkpoint, dtype=torch.float32).eval()

    def run(prompt: str, video: dict, video_first: bool = False) -> Recorder:
        content = [{"type": "text", "text": prompt}, {"type": "video", **video, **BUDGET}]
        messages = [{"role": "user", "content": content[::-1] if video_first else content}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        _, videos, _ = qvp.process_vision_info(messages, return_video_kwargs=True, return_video_metadata=True)
        frames, metadata = zip(*videos)
        inputs = processor(text=[text], videos=list(frames), video_metadata=list(metadata), do_resize=False,
                           do_sample_frames=False, return_tensors="pt")
        with Recorder() as recorder, torch.inference_mode():
            model.generate(**inputs, max_new_tokens=1, do_sample=False)
        return recorder

    return run


def _same(ours: Recorder, theirs: Recorder, row: int = 0, vision: int = 0) -> dict:
    """Assert the fidelity criteria for one prompt; returns the measured differences."""
    import torch

    mine, ref = ours.rows()[row], theirs.rows()[0]
    assert torch.equal(mine["input_ids"], ref["input_ids"])
    assert torch.equal(mine["mm_token_type_ids"], ref["mm_token_type_ids"])
    assert torch.equal(mine["position_ids"], ref["position_ids"])  # MRoPE: grid, time step and layout together
    step = abs(float(mine["second_per_grid_ts"]) - float(ref["second_per_grid_ts"]))
    assert step <= 1e-3
    a, b = ours.vision[vision], theirs.vision[0]
    assert torch.equal(a["grid"], b["grid"])
    assert a["pixels"].shape == b["pixels"].shape
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])  # back to 0..1 units, per channel
    diff = ((a["pixels"] - b["pixels"]).view(a["pixels"].shape[0], 3, -1).abs() * std[None, :, None]).mean()
    assert float(diff) <= 2 / 255
    return {"time_step": step, "pixels_mean_abs": float(diff)}


def test_ground_feeds_what_the_paper_feeds(replica_checkpoint, bunny, paper):
    from vcr_cli.prompts import TEMPLATES

    with Recorder() as ours:
        result = runner.invoke(app, ["ground", str(bunny), "person turn a light on.", "--model",
                                     str(replica_checkpoint), "--quant", "none", "--max-new-tokens", "1", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert len(ours.vision) == 1 and len(ours.rows()) == 1
    prompt = TEMPLATES["GROUND_TEMPLATE_THINK"].replace("[EVENT]", "person turn a light on.")
    diffs = _same(ours, paper(prompt, {"video": str(bunny)}))
    assert diffs["time_step"] <= 1e-6


def test_ask_one_and_several_questions_feed_what_the_paper_feeds(replica_checkpoint, bunny, paper, tmp_path):
    from vcr_cli.prompts import TEMPLATES

    def gqa(question, options):
        lettered = [f"({chr(65 + i)}) {o}" for i, o in enumerate(options)]
        return TEMPLATES["GQA_THINK_ANSWER_GLUE"].replace("[QUESTION]", question).replace("[OPTION]", str(lettered))

    with Recorder() as one:
        result = runner.invoke(app, ["ask", str(bunny), "what does the rabbit do", "--option", "sleeps", "--option",
                                     "stretches", "--model", str(replica_checkpoint), "--quant", "none",
                                     "--max-new-tokens", "1", "-o", "-"])
    assert result.exit_code == 0, result.output
    first = paper(gqa("what does the rabbit do", ["sleeps", "stretches"]), {"video": str(bunny)})
    _same(one, first)

    questions = tmp_path / "q.yaml"
    questions.write_text("- question: what does the rabbit do\n  options: [sleeps, stretches]\n"
                         "- question: where is the rabbit at the end of the clip\n  options: [left, right, centre]\n"
                         "- what colour is the rabbit\n")
    with Recorder() as many:
        result = runner.invoke(app, ["ask", str(bunny), "--questions", str(questions), "--model",
                                     str(replica_checkpoint), "--quant", "none", "--max-new-tokens", "1", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert len(many.vision) == 1 and len(many.language) == 1 and len(many.rows()) == 3  # one pass, one batch
    _same(many, first, row=0)
    _same(many, paper(gqa("where is the rabbit at the end of the clip", ["left", "right", "centre"]),
                      {"video": str(bunny)}), row=1)
    open_prompt = TEMPLATES["OPEN_QUESTION_TEMPLATE"].replace("[QUESTION]", "what colour is the rabbit")
    _same(many, paper(open_prompt, {"video": str(bunny)}, video_first=True), row=2)  # the card's layout


def test_track_feeds_the_papers_seven_frames(replica_checkpoint, bunny, paper):
    import decord
    from PIL import Image

    from vcr_cli.prompts import TEMPLATES
    from vcr_cli.sampling import tracking_frame_indices

    with Recorder() as ours:
        result = runner.invoke(app, ["track", str(bunny), "-O", "rabbit", "--box", "128,144,384,288", "--model",
                                     str(replica_checkpoint), "--quant", "none", "--max-new-tokens", "1",
                                     "--no-refine", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["windows"][0]["keyframe_frames"] == [0, 21, 43, 65, 87, 109, 131]
    reader = decord.VideoReader(str(bunny))
    frames = [Image.fromarray(reader[i].asnumpy()) for i in tracking_frame_indices(len(reader))]
    prompt = TEMPLATES["QUESTION_TEMPLATE_TRACK"].replace("[OBJECT]", "rabbit").replace("[START]",
                                                                                         "[0.1, 0.2, 0.3, 0.4]")
    _same(ours, paper(prompt, {"video": frames}))
