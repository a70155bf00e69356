"""Model families end to end: the family resolved from the checkpoint (or --family) decides the prompt, layout,
sampling, time contract and parser; the runtime, tasks and outputs never name one.

Tiny replicas: a Qwen3-VL parrot (`qwen3_parrot`, the real Qwen3-VL vocabulary and processor files) for the
TimeLens / TimeLens2 / Qwen3-VL families, and a Qwen2.5-VL replica parrot run as VideoChat-R1.5.
"""

import json
import re
from pathlib import Path

import media
import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
SPANS_ANSWER = "[[1.0, 2.0], [5.0, 6.5]]"  # TimeLens2's JSON; TimeLens's parser reads its first pair
GLUE_ANSWER = "<answer>A</answer><glue>[(2.0, 4.0)]</glue>"


def test_no_family_is_named_in_the_family_agnostic_code():
    """runtime.py, checkpoints.py, tasks/, outputs/ and rft's training path ask the family (flags, render, parse),
    never its name or checkpoint ids. (rft's scoring protocols and rewards are named after their papers on purpose:
    metrics.py, rewards.py, convert.py and cli.py read answers with a named family's parser.)"""
    from vcr_cli.families import UNSUPPORTED, all_families

    names = [f.name for f in all_families()]
    ids = [c.lower() for f in all_families() for c in f.checkpoints] + [c.lower() for c in UNSUPPORTED]
    training = [ROOT / "rft" / f"{name}.py" for name in ("config", "data", "evaluate", "train", "trainer", "merge")]
    files = [ROOT / "vcr_cli" / "runtime.py", ROOT / "vcr_cli" / "checkpoints.py",
             *(ROOT / "vcr_cli" / "tasks").glob("*.py"), *training,
             *(ROOT / "vcr_cli" / "outputs").glob("*.py")]
    assert len(files) > 10 and all(path.is_file() for path in files)
    found = []
    for path in files:
        for text in _string_literals(path):  # values the code uses (docstrings and comments may cite examples)
            found += [(path.name, n) for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w.-])", text)]
            found += [(path.name, i) for i in ids if i in text.lower()]
    assert found == []


def _string_literals(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_family_help_names_every_family():
    from vcr_cli.families import names
    from vcr_cli.options import FAMILY_HELP

    assert all(f" {name}," in FAMILY_HELP or f" {name} (" in FAMILY_HELP for name in names())


@pytest.fixture
def clip8(tmp_path) -> Path:
    """8 s at 10 fps whose frames spell their own index."""
    return media.timed_clip(tmp_path / "c.mp4", media.cfr_times(80, 10.0))


def _run(*args) -> tuple[int, dict | None, str]:
    result = runner.invoke(app, [*map(str, args), "--quant", "none", "--device", "cpu", "-o", "-"])
    try:
        data = json.loads(result.stdout)
    except ValueError:
        data = None
    return result.exit_code, data, result.output


def test_a_family_for_another_architecture_is_refused_in_one_line(tiny_checkpoint, clip):
    code, _, output = _run("ground", clip, "a square moves", "--model", tiny_checkpoint, "--family", "timelens2")
    assert code == 2
    assert "the timelens2 family needs a qwen3_vl checkpoint" in output and "videochat-r1" in output
    code, _, output = _run("ground", clip, "a square moves", "--model", tiny_checkpoint, "--family", "nope")
    assert code == 2 and "unknown model family 'nope'; choose one of" in output


@pytest.mark.parametrize("family, spans, template", [
    ("timelens", [(1.0, 2.0)], "TimeLens_GROUNDER_PROMPT"),
    ("timelens2", [(1.0, 2.0), (5.0, 6.5)], "TL2_card_prompt"),
])
def test_qwen3_grounders_answer_in_seconds_of_the_video(qwen3_parrot, clip8, family, spans, template):
    code, data, output = _run("ground", clip8, "person sits down", "--model", qwen3_parrot(SPANS_ANSWER),
                              "--family", family)
    assert code == 0, output
    assert data["runtime"]["family"] == family and data["runtime"]["model_type"] == "qwen3_vl"
    assert data["runtime"]["time_contract"].startswith("text timestamps")
    assert data["raw"] == SPANS_ANSWER and data["status"] == "ok"
    assert [(s["start"], s["end"]) for s in data["segments"]] == spans  # TimeLens keeps one span, TimeLens2 all
    assert data["prompt_template"] == template and data["layout"] == "video_first"
    # the family's rule: 2 fps (16 frames over 8 s), sides multiples of 32, TimeLens's 64-token floor per frame
    sampling = data["sampling"]
    assert sampling["frames"] == 16 and sampling["width"] % 32 == 0 and sampling["height"] % 32 == 0
    assert sampling["video_tokens"] == 8 * (sampling["width"] // 32) * (sampling["height"] // 32)
    assert sampling["frame_times"][0] == 0.0 and sampling["frame_times"][-1] == 7.9
    assert data["tokens"]["generated"] == 2  # the answer token and <|im_end|>: TimeLens's greedy decoding


def test_qwen3_samples_are_drawn_over_one_vision_pass(qwen3_parrot, clip8):
    """--samples on a Qwen3-VL family: the greedy answer (the family's decoding) plus K temperature-1 draws from
    the same encoder output (deepstack features included). The parrot is sure of its one answer, so every
    temperature-1 draw says it too and the agreement score is 1."""
    code, data, output = _run("ground", clip8, "person sits down", "--model", qwen3_parrot(SPANS_ANSWER),
                              "--family", "timelens2", "--samples", "3")
    assert code == 0, output
    assert data["raw"] == SPANS_ANSWER and len(data["segments"]) == 2
    assert data["score_method"] == "sample_agreement" and data["samples"]["count"] == 3
    draws = data["samples"]["answers"]
    assert len(draws) == 3 and all(d["raw"] == SPANS_ANSWER for d in draws)
    assert [s["score"] for s in data["segments"]] == [data["samples"]["agreeing"] / 3] * 2 == [1.0, 1.0]


def test_open_question_on_the_qwen3_vl_family_and_refusals(qwen3_parrot, clip8):
    model = qwen3_parrot(SPANS_ANSWER)
    code, data, output = _run("ask", clip8, "what happens?", "--model", model)  # qwen3_vl: qwen3-vl by default
    assert code == 0, output
    assert data["runtime"]["family"] == "qwen3-vl"
    (answer,) = data["answers"]
    assert answer["answer"] == SPANS_ANSWER and answer["layout"] == "video_first"
    assert answer["prompt_template"] == "question"
    # a task the family was not trained for: one line naming the families that can, before any loading
    code, _, output = _run("ask", clip8, "what happens?", "--model", model, "--family", "timelens2")
    assert code == 2 and "no trained prompt for 'open'; families that do: qwen3-vl, videochat-r1 (pick" in output
    result = runner.invoke(app, ["track", str(clip8), "--object", "x", "--box", "1,1,20,20", "--model", str(model)])
    assert result.exit_code == 2
    assert "no trained prompt for 'track'; families that do: videochat-r1 " in " ".join(result.output.split())
    code, _, output = _run("ask", clip8, "which?", "--option", "a", "--option", "b", "--model", model,
                           "--rounds", "2")
    assert code == 2 and "--rounds 2 needs a family trained to perceive in rounds: videochat-r1.5" in output


def test_runtime_feeds_qwen3_as_the_processor_would(qwen3_parrot, tmp_path):
    """One vision pass shared by chats in both layouts (Qwen3-VL's per-group `<t seconds>` blocks spliced as the
    processor writes them, its deepstack features repeated per row) gives the processor's own ids and logits;
    on variable frame rate every marker is the shown time of its frames."""
    import torch

    from vcr_cli.families import GROUND, _qwen3
    from vcr_cli.runtime import load_runtime
    from vcr_cli.scoring import KEEP_LOGITS
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(qwen3_parrot(SPANS_ANSWER)), quant="none", device="cpu", family="timelens")
    from dataclasses import replace

    from vcr_cli.errors import ModelLoadError
    from vcr_cli.runtime import check_chat_layout

    assert runtime.family.layout_check is _qwen3.trained_layout  # checked at load: this transformers is fine
    wrapped = replace(runtime.family, layout_check=lambda text: "<|vision_start|><0" in text)  # 5.24's wrapper
    with pytest.raises(ModelLoadError, match="does not write the video into the chat as the TimeLens-8B"):
        check_chat_layout(runtime.processor, wrapped)
    times = media.vfr_times()
    path = media.timed_clip(tmp_path / "vfr.mp4", times)
    video = sample_video(path, rule=runtime.family.sampling_for(GROUND), max_frames=24)
    assert not video.info.constant_rate
    encoding = runtime.encode_video(video)
    chats = [runtime.render("When does it happen?", "video_first"), runtime.render("Where?", "text_first")]
    for chat in chats:
        assert runtime.chat_ids(chat, encoding) == runtime._process_chat(chat, video)["input_ids"][0].tolist()
    text = runtime.processor.tokenizer.decode(runtime.build_inputs("x", video, "video_first")["input_ids"][0])
    assert _qwen3.trained_layout(text)
    shown = [times[media.read_code(frame)] for frame in video.frames]  # what each fed frame spells
    expected = [(shown[i] + shown[i + 1]) / 2 for i in range(0, len(shown), 2)]
    markers = _qwen3.timestamp_markers(text)
    assert len(markers) == len(expected) == 12
    assert max(abs(m - e) for m, e in zip(markers, expected)) <= 0.05 + 0.1 + 1e-9  # .1f rounding + one frame
    together = runtime.generate_many(chats, encoding, max_new_tokens=2, **KEEP_LOGITS)
    for chat, row in zip(chats, together):
        alone = runtime._generate(dict(runtime._process_chat(chat, video)), 2, dict(KEEP_LOGITS))
        assert row.text == alone.text == SPANS_ANSWER
        assert torch.allclose(row.output.logits[0][row.row], alone.output.logits[0][0], atol=1e-4)
    prompt = runtime.family.render(GROUND, query="person sits")[1]
    # the shared-prefix path ends its prefix after the last group's <|vision_end|>: the same logits as one pass
    prefix = runtime.prefill_video(video)
    cached = runtime.generate_with_prefix(prefix, prompt, max_new_tokens=2, **KEEP_LOGITS)
    reference = runtime.generate_video_first(prompt, video, max_new_tokens=2, **KEEP_LOGITS)
    end_id = runtime.processor.tokenizer.convert_tokens_to_ids("<|vision_end|>")
    assert int((prefix.input_ids[0] == end_id).sum()) == len(markers) and int(prefix.input_ids[0, -1]) == end_id
    assert cached.text == reference.text == SPANS_ANSWER
    assert torch.allclose(cached.output.logits[0][0], reference.output.logits[0][0], atol=1e-4)
    answer, drawn = runtime.answer_and_sample(prompt, video, 2, max_new_tokens=3, layout="video_first")
    again = runtime.answer_and_sample(prompt, video, 2, max_new_tokens=3, layout="video_first")[1]
    assert answer.text == SPANS_ANSWER  # greedy, as TimeLens decodes (the checkpoint's config would sample)
    assert [g.text for g in drawn] == [g.text for g in again] == [SPANS_ANSWER] * 2  # seeded; the parrot is sure


def test_videochat_r1_5_perceives_in_rounds(parrot, clip8):
    """Round 1 uniform; its <glue> spans re-sample round 2 (same count, R1.5's 1.5x denser sampler), asked with
    the final prompt; two vision passes (one per round), every round in the JSON."""
    from vcr_cli.families import videochat_r1_5

    model = parrot(GLUE_ANSWER)
    code, data, output = _run("ask", clip8, "what is shown?", "--option", "a digit", "--option", "a cat",
                              "--model", model, "--family", "videochat-r1.5", "--rounds", "2")
    assert code == 0, output
    assert data["runtime"]["family"] == "videochat-r1.5" and data["rounds"] == 2 and data["vision_passes"] == 2
    (answer,) = data["answers"]
    assert (answer["answer"], answer["answer_text"]) == ("A", "a digit")
    assert answer["evidence"] == [{"start": 2.0, "end": 4.0}] and answer["layout"] == "video_first"
    first, second = answer["rounds"]
    assert first["prompt_template"] == "eval_QA_THINK_GLUE" and first["steered_by"] == []
    assert second["prompt_template"] == answer["prompt_template"] == "videommmu_QA_THINK_final"
    assert second["steered_by"] == [[2.0, 4.0]] and first["spans"] == [{"start": 2.0, "end": 4.0}]
    assert first["frames"] == second["frames"] == data["sampling"]["frames"] == 16  # R1.5: fps 2
    assert first["frame_times"] == data["sampling"]["frame_times"]
    indices = videochat_r1_5.round_frame_indices(80, 16, 10.0, [(2.0, 4.0)])
    assert second["frame_times"] == [i / 10.0 for i in indices]
    inside = [sum(2.0 <= t <= 4.0 for t in r["frame_times"]) for r in (first, second)]
    assert inside[1] > inside[0]  # denser inside the glue span


def test_doctor_names_the_family_and_its_tasks(qwen3_parrot, tiny_checkpoint):
    result = runner.invoke(app, ["doctor", "--model", str(qwen3_parrot(SPANS_ANSWER))])
    line = next(x for x in result.stdout.splitlines() if "family:" in x)
    assert "qwen3-vl (qwen3_vl): ground, ask (open)" in line
    result = runner.invoke(app, ["doctor", "--model", str(tiny_checkpoint), "--family", "videochat-r1.5"])
    line = next(x for x in result.stdout.splitlines() if "family:" in x)
    assert "videochat-r1.5 (qwen2_5_vl): ground, ask (multiple choice, 3 perception rounds)" in line


def test_batch_samples_and_asks_by_the_family(qwen3_parrot, clip8, tmp_path):
    """`vcr batch --family`: each job's frames follow the family's rule for its task, decoded before the model
    loads; a job the family cannot do fails alone, in one line."""
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("\n".join(json.dumps(job) for job in (
        {"task": "ground", "video": str(clip8), "query": "person sits down"},
        {"task": "ask", "video": str(clip8), "question": "what happens?"},
    )) + "\n")
    results = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(results), "--model",
                                 str(qwen3_parrot(SPANS_ANSWER)), "--family", "timelens2", "--quant", "none",
                                 "--device", "cpu"])
    assert result.exit_code == 1, result.output  # the open question failed, the batch went on
    grounded, asked = (json.loads(line) for line in results.read_text().splitlines())
    assert grounded["status"] == "ok" and grounded["result"]["runtime"]["family"] == "timelens2"
    assert [(s["start"], s["end"]) for s in grounded["result"]["segments"]] == [(1.0, 2.0), (5.0, 6.5)]
    assert grounded["result"]["sampling"]["frames"] == 16 and grounded["result"]["sampling"]["width"] % 32 == 0
    assert asked["status"] == "error" and "the timelens2 family has no trained prompt for 'open'" in asked["error"]
