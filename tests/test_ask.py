"""`vcr ask`: grounded multiple choice and open questions, one or many per video encoding."""

import json

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

GQA_ANSWER = "<answer>C</answer><glue>[(1.0, 2.5)]</glue>"
runner = CliRunner()


def test_multiple_choice_on_a_real_clip(parrot, bunny, tmp_path):
    model = parrot(GQA_ANSWER)
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["ask", str(bunny), "what does the rabbit do", "--option", "sleeps", "--option",
                                 "eats", "--option", "stretches", "--option", "runs", "--model", str(model),
                                 "--quant", "none", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "what does the rabbit do → (C) stretches  [evidence 1.00s–2.50s]" in result.stdout
    data = json.loads(out.read_text())
    assert data["task"] == "ask" and data["model"] == str(model) and data["layout"] == "trained"
    assert data["answers"][0]["layout"] == "text_first" and data["vision_passes"] == 1
    assert data["video"]["duration"] == 5.28 and data["sampling"]["frames"] == 10
    (answer,) = data["answers"]
    assert answer["question"] == "what does the rabbit do"
    assert answer["options"] == ["sleeps", "eats", "stretches", "runs"]
    assert (answer["answer"], answer["answer_text"], answer["status"]) == ("C", "stretches", "ok")
    assert answer["evidence"] == [{"start": 1.0, "end": 2.5}]
    assert answer["raw"] == GQA_ANSWER and answer["thinking"] is None
    assert answer["prompt_template"] == "GQA_THINK_ANSWER_GLUE"


def test_several_questions_keep_their_trained_layouts(parrot, bunny, tmp_path):
    model = parrot(GQA_ANSWER)
    questions = tmp_path / "q.yaml"
    questions.write_text("- question: what does the rabbit do\n  options: [sleeps, eats, stretches]\n"
                         "- where is the rabbit\n"
                         "- {question: how many rabbits, options: ['1', '2', '(C) 3'], id: count}\n")
    result = runner.invoke(app, ["ask", str(bunny), "--questions", str(questions), "--model", str(model),
                                 "--quant", "none", "--no-think", "--max-pixels", "12544", "-o", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["layout"] == "trained" and data["status"] == "ok" and "layout_note" not in data
    # grounded multiple choice text first (VideoChat-R1's training), the card's open question video first
    assert [a["layout"] for a in data["answers"]] == ["text_first", "video_first", "text_first"]
    assert data["tokens"]["video"] == data["sampling"]["video_tokens"] and data["vision_passes"] == 1
    first, open_question, third = data["answers"]
    assert (first["answer"], first["answer_text"], first["prompt_template"]) == ("C", "stretches", "GQA_ANSWER_GLUE")
    assert open_question["options"] == [] and open_question["prompt_template"] == "OPEN_QUESTION_TEMPLATE"
    assert open_question["answer"] == open_question["answer_text"] == "C"  # the parrot's free text
    assert (third["id"], third["answer"], third["answer_text"]) == ("count", "C", "3")
    assert all(a["evidence"] == [{"start": 1.0, "end": 2.5}] for a in data["answers"])
    assert all(a["tokens"]["prompt"] > data["tokens"]["video"] for a in data["answers"])

    shared = runner.invoke(app, ["ask", str(bunny), "--questions", str(questions), "--model", str(model),
                                 "--quant", "none", "--no-think", "--max-pixels", "12544", "--layout",
                                 "shared-prefix", "-o", "-"])
    assert shared.exit_code == 0, shared.output
    opted = json.loads(shared.stdout)
    assert opted["layout"] == "video_first_shared_prefix" and opted["layout_note"].startswith("untrained layout")
    assert [a["layout"] for a in opted["answers"]] == ["video_first"] * 3
    assert opted["tokens"]["shared_prefix"] > opted["sampling"]["video_tokens"]


def test_one_question_is_asked_alike_alone_and_among_others(tiny_checkpoint, bunny):
    """A question's prompt, answer and logits do not depend on how many questions are asked with it; the
    vision tower runs once for all of them."""
    import torch

    from vcr_cli.questions import make_question
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ask import render_question
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(tiny_checkpoint), quant="none", device="cpu")
    video = sample_video(bunny, max_pixels=12544)
    questions = [make_question("what happens first", ["x", "y", "z"]), make_question("where?"),
                 make_question("why does it move so much in the middle", ["a", "b"])]
    chats = [runtime.render_chat(render_question(questions[0])[1]),
             runtime.render_chat_video_first(render_question(questions[1])[1]),
             runtime.render_chat(render_question(questions[2])[1])]
    passes = []
    hook = runtime.model.model.visual.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        encoding = runtime.encode_video(video)
        batch = runtime.generate_many(chats, encoding, max_new_tokens=5, return_dict_in_generate=True,
                                      output_logits=True)
        assert len(passes) == 1
        for chat, got in zip(chats, batch, strict=True):
            inputs = dict(runtime._process_chat(chat, video))
            assert runtime.chat_ids(chat, encoding) == inputs["input_ids"][0].tolist()  # the processor's ids
            alone = runtime._generate(inputs, 5, {"return_dict_in_generate": True, "output_logits": True})
            assert got.token_ids == alone.token_ids and got.prompt_tokens == alone.prompt_tokens
            for step, theirs in zip(got.output.logits, alone.output.logits, strict=True):
                assert torch.allclose(step[got.row], theirs[0], rtol=0, atol=1e-4)
    finally:
        hook.remove()


@pytest.mark.parametrize("quant", ["none", "4bit"])
def test_shared_prefix_gives_the_uncached_tokens_and_logits(tiny_checkpoint, tmp_path, quant):
    """The cached path must reproduce the uncached video-first generation exactly (ids, MRoPE, KV reuse).

    A 20 s clip makes the video's temporal positions outrun its spatial ones (the MRoPE corner case).
    """
    import cv2
    import numpy as np
    import torch

    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(tiny_checkpoint), quant=quant, device="cpu")
    path = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    for i in range(200):
        writer.write(np.full((64, 96, 3), (i * 5) % 256, dtype=np.uint8))
    writer.release()
    video = sample_video(path, max_pixels=12544)
    prefix = runtime.prefill_video(video)
    prompts = ['Answer the question: "what moves" (A) x (B) y', "where?", "what colour is the square"]
    for prompt in prompts:
        reference = runtime.generate_video_first(prompt, video, max_new_tokens=6, return_dict_in_generate=True,
                                                 output_logits=True)
        cached = runtime.generate_with_prefix(prefix, prompt, max_new_tokens=6, return_dict_in_generate=True,
                                              output_logits=True)
        full_ids = runtime.build_inputs_video_first(prompt, video)["input_ids"]
        assert torch.equal(cached.output.sequences[0, : full_ids.shape[1]], full_ids[0])
        assert cached.token_ids == reference.token_ids and len(cached.token_ids) == 6
        for ours, theirs in zip(cached.output.logits, reference.output.logits, strict=True):
            assert torch.allclose(ours, theirs, rtol=0, atol=1e-5)
        assert prefix.cache.get_seq_length() == prefix.length  # rewound for the next question


def test_batched_questions_match_one_at_a_time(tiny_checkpoint, bunny):
    """Several prompts of different lengths in one batch: padding between prefix and prompt changes nothing."""
    import torch

    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(tiny_checkpoint), quant="none", device="cpu")
    video = sample_video(bunny, max_pixels=12544)
    prefix = runtime.prefill_video(video)
    prompts = ["where?", 'Answer the question: "what happens first" (A) x (B) y (C) z', "what colour"]
    batch = runtime.generate_batch_with_prefix(prefix, prompts, max_new_tokens=5, return_dict_in_generate=True,
                                               output_logits=True)
    assert prefix.cache.get_seq_length() == prefix.length  # the shared cache was copied, not extended
    for prompt, got in zip(prompts, batch, strict=True):
        reference = runtime.generate_video_first(prompt, video, max_new_tokens=5, return_dict_in_generate=True,
                                                 output_logits=True)
        assert got.token_ids == reference.token_ids and got.text == reference.text
        assert got.prompt_tokens == reference.prompt_tokens
        for step, theirs in zip(got.output.logits, reference.output.logits, strict=True):
            assert torch.allclose(step[got.row], theirs[0], rtol=0, atol=1e-4)


def test_python_api_single_question(parrot, clip):
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ask import ask
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(parrot(GQA_ANSWER)), quant="none", device="cpu")
    result = ask(runtime, sample_video(clip), "which", ["x", "y", "z"], think=False)
    (answer,) = result["answers"]
    # The 1.6 s clip clamps the 2.5 s evidence end to its duration.
    assert answer["evidence"] == [{"start": 1.0, "end": 1.601}]  # floored to the ms: never past the end
    assert (answer["answer"], answer["answer_text"]) == ("C", "z")


@pytest.mark.parametrize(
    ("text", "options", "strict", "expected"),
    [
        # letter + evidence, the trained format
        ("<think>t</think><answer>B</answer><glue>[(1.0, 2.0)]</glue>", ["x", "y"], False,
         ("B", "y", [(1.0, 2.0)], "ok")),
        # "(B) y" inside the answer, list-style evidence: lenient reads both
        ("<answer>(B) y</answer><glue>[[3, 1]]</glue>", ["x", "y"], False, ("B", "y", [(1.0, 3.0)], "ok")),
        # the strict (evaluation) parser rejects list-style glue
        ("<answer>(B) y</answer><glue>[[3, 1]]</glue>", ["x", "y"], True, ("B", "y", [], "ok")),
        # a letter beyond the options is no answer
        ("<answer>D</answer>", ["x", "y", "z"], False, (None, None, [], "unparsed")),
        # evidence past the end is dropped, evidence across it clamped (duration 10 s)
        ("<answer>A</answer><glue>[(8.0, 12.0), (11.0, 14.0)]</glue>", ["x", "y"], False,
         ("A", "x", [(8.0, 10.0)], "ok")),
        # open question: the text in <answer>
        ("<answer> a white rabbit </answer>", [], False, ("a white rabbit", "a white rabbit", [], "ok")),
        # open question without tags: lenient takes the reply, strict does not
        ("<think>hmm</think>a rabbit", [], False, ("a rabbit", "a rabbit", [], "ok")),
        ("<think>hmm</think>a rabbit", [], True, (None, None, [], "unparsed")),
        # nothing at all
        ("", [], False, (None, None, [], "unparsed")),
    ],
)
def test_parse_answer(text, options, strict, expected):
    from vcr_cli.questions import Question
    from vcr_cli.tasks.ask import parse_answer

    fields = parse_answer(Question("q", options), text, duration=10.0, strict=strict)
    spans = [(e["start"], e["end"]) for e in fields["evidence"]]
    assert (fields["answer"], fields["answer_text"], spans, fields["status"]) == expected


def test_prompt_options_as_videochat_r1_saw_them():
    from vcr_cli.questions import Question
    from vcr_cli.tasks.ask import render_question

    name, prompt = render_question(Question("why", ["clap", "(B) sit"]), think=True)
    assert name == "GQA_THINK_ANSWER_GLUE"
    assert "Select the answer from :['(A) clap', '(B) sit']." in prompt


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["--questions", "nope.jsonl"], {}, "questions file not found"),
        (["--questions", "q.jsonl"], {"q.jsonl": '{"question": "a"}\n{"question": "b", options: []}\n'},
         "q.jsonl line 2: not valid JSON"),
        (["--questions", "q.jsonl"], {"q.jsonl": '{"question": "a"}\n\n{"question": "b", "options": ["x"]}\n'},
         "q.jsonl line 3: only 1 option given"),
        (["--questions", "q.jsonl"], {"q.jsonl": '{"question": "a", "option": ["x", "y"]}\n'},
         "line 1: unknown key 'option'"),
        (["--questions", "q.yaml"], {"q.yaml": "- question: a\n- question: [b\n"}, "q.yaml line 3: not valid YAML"),
        (["--questions", "q.yaml"], {"q.yaml": "- question: a\n- options: [x, y]\n"}, 'q.yaml line 2: no "question"'),
        (["--questions", "q.yaml"], {"q.yaml": "questions:\n  - a\n  - question: b\n    options: 3\n"},
         'q.yaml line 3: "options" must be a list'),
        (["--questions", "q.yaml"], {"q.yaml": "# nothing yet\n"}, "has no questions"),
        (["--questions", "q.yaml"], {"q.yaml": "- question: is it raining?\n  options: [yes, no]\n"},
         "q.yaml line 1: option 1 reads as true: YAML takes unquoted yes/no/on/off/true/false for booleans; "
         'quote the option (e.g. "yes")'),
        (["what", "--option", "only one"], {}, "only 1 option given"),
        (["what"] + [f"--option={i}" for i in range(27)], {}, "27 options given; at most 26"),
        (["what", "--option", "x", "--option", " "], {}, "option B is empty"),
        (["  "], {}, "the question is empty"),
        ([], {}, "no question"),
        (["what", "--questions", "q.yaml"], {"q.yaml": "- a\n"}, "not both"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_clobbered(tmp_path, clip, monkeypatch, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "keep.json"
    out.write_text("precious")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["ask", str(clip), *args, "--model", "/no/model", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert out.read_text() == "precious"


def test_annotate_ask_writes_the_input_frame_count(parrot, clip, tmp_path):
    import decord

    mp4 = tmp_path / "ask.mp4"
    result = runner.invoke(app, ["ask", str(clip), "which", "--option", "x", "--option", "y", "--option", "z",
                                 "--model", str(parrot(GQA_ANSWER)), "--quant", "none", "--annotate", str(mp4)])
    assert result.exit_code == 0, result.output
    reader = decord.VideoReader(str(mp4))
    assert (len(reader), reader[0].shape) == (48, (64, 96, 3))


def test_srt_of_an_open_question_says_it_is_empty(parrot, clip, tmp_path):
    srt = tmp_path / "a.srt"
    result = runner.invoke(app, ["ask", str(clip), "what rolls?", "--model", str(parrot("<answer>a red ball</answer>")),
                                 "--quant", "none", "--srt", str(srt), "-o", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert srt.read_text() == ""
    assert f"warning: {srt} has no cues: no answer gave evidence spans (open questions give none)" in result.stderr
