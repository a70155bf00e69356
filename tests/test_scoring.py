"""Scores that mean what they say: the answer's own tokens by default, agreement of K samples with --samples."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.scoring import agreement, answer_characters, boxes_agree, same_text, spans_agree

runner = CliRunner()

# A checkpoint whose reasoning decides: the first token picks a route (half the time each), after which the answer
# is certain. Its answer tokens alone score ~1; only samples that redo the reasoning see the 50/50 choice.
TWO_ROUTES = (("<think>the first half</think>", "<answer>0.10 to 0.50</answer>"),
              ("<think>the second half</think>", "<answer>0.90 to 1.40</answer>"))
ONE_ROUTE = (("<think>the first half</think>", "<answer>0.10 to 0.50</answer>"),)
GQA_ROUTES = (("<think>it is red</think>", "<answer>A</answer><glue>[(0.2, 0.8)]</glue>"),
              ("<think>it is blue</think>", "<answer>B</answer><glue>[(0.2, 0.8)]</glue>"))


# ---------------------------------------------------------------- which characters are scored


def test_only_the_numbers_of_the_answer_are_scored():
    text = "<think>from 3 to 5</think><answer>[(12.54, 17.83)]</answer>"
    scored = "".join(text[i] for i in answer_characters(text, "numbers"))
    assert scored == "12541783"  # not the think's numbers, not '.', ',', brackets or tags


def test_answer_region_without_tags_is_after_the_reasoning():
    text = "<think>maybe 2 or 3</think> It happens from 4.5 to 6"
    assert "".join(text[i] for i in answer_characters(text, "numbers")) == "456"
    unclosed = "<answer>7 to 9"
    assert "".join(unclosed[i] for i in answer_characters(unclosed, "numbers")) == "79"


def test_the_letter_scored_is_the_chosen_one():
    text = "<think>A or B?</think><answer>(B) a cat</answer>"
    positions = answer_characters(text, "letter", letter="B")
    assert [text[i] for i in positions] == ["B"] and positions[0] == text.index("(B)") + 1
    assert "".join(text[i] for i in answer_characters(text, "text")) == "(B)acat"


def test_qwen_tokens_of_a_span_answer_scored_are_its_digits_only(replica_checkpoint):
    """With Qwen's real vocabulary '12.54 to 17.83' is 14+ tokens; only the 8 digit tokens carry the answer."""
    from transformers import AutoTokenizer

    from vcr_cli.scoring import token_char_spans

    tokenizer = AutoTokenizer.from_pretrained(replica_checkpoint)
    text = "<think>The door opens at 12 s.</think>\n<answer>[(12.54, 17.83)]</answer>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded, spans = token_char_spans(tokenizer, ids)
    assert decoded == text
    wanted = answer_characters(decoded, "numbers")
    chosen = [k for k, (a, b) in enumerate(spans) if any(a <= c < b for c in wanted)]
    assert [tokenizer.decode([ids[k]]) for k in chosen] == list("12541783")
    assert len(ids) - len(chosen) > 20  # everything else (tags, brackets, dots, the reasoning) is left out


def test_agreement_rules():
    assert agreement((1.0, 3.0), [(1.0, 3.0), (1.2, 3.0), (5.0, 6.0), None], spans_agree) == 0.5
    assert not spans_agree((0.0, 2.0), (1.0, 4.0))  # IoU 0.25
    box = [0.1, 0.1, 0.5, 0.5]
    assert boxes_agree([box] * 8, [box] * 7 + [[0.6, 0.6, 0.9, 0.9]])  # mean IoU 7/8
    assert not boxes_agree([box] * 8, [box] * 3 + [[0.6, 0.6, 0.9, 0.9]] * 5)
    assert same_text("A red ball.", "a  red ball") and not same_text("a red ball", "a blue ball")
    with pytest.raises(ValueError):
        agreement("A", [], lambda a, b: a == b)


# ---------------------------------------------------------------- end to end on replica checkpoints


def _count_vision_passes(runtime) -> list[int]:
    calls = [0]

    def hook(*_):
        calls[0] += 1

    runtime.model.model.visual.register_forward_hook(hook)
    return calls


def test_samples_see_a_choice_made_in_the_reasoning(parrot, clip):
    """The token score of a two-route checkpoint is ~1 (the answer is copied after the reasoning chose); 16
    samples at temperature 1 agree about half the time. One vision-tower pass, the reported answer unchanged."""
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ground import ground
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(parrot(TWO_ROUTES)), quant="none", device="cpu")
    config = runtime.model.generation_config  # the checkpoint's own near-greedy sampling config
    assert (config.do_sample, config.top_k, config.top_p, config.temperature) == (True, 1, 0.001, 0.1)
    video = sample_video(clip)
    plain = ground(runtime, video, "square moves")
    passes = _count_vision_passes(runtime)
    sampled = ground(runtime, video, "square moves", samples=16, seed=0)
    assert passes[0] == 1
    assert plain["score_method"] == "token_probability" and sampled["score_method"] == "sample_agreement"
    assert sampled["raw"] == plain["raw"] and sampled["segments"][0]["start"] == plain["segments"][0]["start"]
    assert plain["segments"][0]["score"] >= 0.9
    segment = sampled["segments"][0]
    assert segment["token_score"] == plain["segments"][0]["score"]
    assert 0.2 <= segment["score"] <= 0.8
    record = sampled["samples"]
    assert record["count"] == 16 and len(record["answers"]) == 16
    assert record["agreeing"] == round(segment["score"] * 16)
    starts = {a["segment"]["start"] for a in record["answers"]}
    assert starts == {0.1, 0.9}  # both routes were drawn
    assert record["sampling"] == {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0}
    again = ground(runtime, video, "square moves", samples=16, seed=0)
    assert again["samples"]["answers"] == record["answers"]  # seeded: repeatable


def test_a_sure_checkpoint_agrees_with_itself(parrot, clip, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["ground", str(clip), "square moves", "--model", str(parrot(ONE_ROUTE)),
                                 "--quant", "none", "--samples", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["segments"][0]["score"] >= 0.9 and data["samples"]["count"] == 8
    assert "(8 samples)" in result.output


def test_min_score_filters_by_sample_agreement(parrot, clip, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["ground", str(clip), "square moves", "--model", str(parrot(TWO_ROUTES)),
                                 "--quant", "none", "--samples", "16", "--min-score", "0.9", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["status"] == "below_min_score"  # the token score (~1) would have passed
    assert data["samples"]["count"] == 16


def test_ask_samples_count_the_same_letter(parrot, clip):
    from vcr_cli.questions import make_question
    from vcr_cli.runtime import load_runtime
    from vcr_cli.tasks.ask import ask_many
    from vcr_cli.video import sample_video

    runtime = load_runtime(str(parrot(GQA_ROUTES)), quant="none", device="cpu")
    video = sample_video(clip)
    questions = [make_question("what colour?", ["red", "blue"]), make_question("which colour?", ["red", "blue"])]
    plain = ask_many(runtime, video, questions)
    passes = _count_vision_passes(runtime)
    generates, real_generate = [], runtime.model.generate

    def counting_generate(*args, **kwargs):
        generates.append(kwargs["input_ids"].shape[0])
        return real_generate(*args, **kwargs)

    runtime.model.generate = counting_generate
    result = ask_many(runtime, video, questions, samples=12, seed=1)
    assert passes[0] == 1 and result["vision_passes"] == 1
    assert generates == [2, 24]  # the answers, then all 24 draws in one batched generate
    assert result["score_method"] == "sample_agreement"
    for before, answer in zip(plain["answers"], result["answers"]):
        assert answer["answer"] == before["answer"] and before["score"] >= 0.9
        assert answer["token_score"] == before["score"]
        letters = [a["answer"] for a in answer["samples"]["answers"]]
        assert len(letters) == 12 and set(letters) == {"A", "B"}
        assert answer["score"] == round(letters.count(answer["answer"]) / 12, 4)
        assert 0.2 <= answer["score"] <= 0.8


def test_ask_samples_refused_with_the_shared_prefix_layout(parrot, clip):
    result = runner.invoke(app, ["ask", str(clip), "what?", "--model", str(parrot(GQA_ROUTES)), "--quant", "none",
                                 "--layout", "shared-prefix", "--samples", "4"])
    assert result.exit_code == 2, result.output
    assert "--samples cannot be used with --layout shared-prefix" in result.output


def test_batch_samples_key(parrot, clip, tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"task": "ground", "video": str(clip), "query": "q", "samples": 4}) + "\n"
                        + json.dumps({"task": "ground", "video": str(clip), "query": "q"}) + "\n")
    out = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(out), "--model", str(parrot(ONE_ROUTE)),
                                 "--quant", "none"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["result"]["score_method"] == "sample_agreement" and lines[0]["result"]["samples"]["count"] == 4
    assert lines[1]["result"]["score_method"] == "token_probability" and "samples" not in lines[1]["result"]
    manifest.write_text(json.dumps({"task": "ground", "video": str(clip), "query": "q", "samples": 100}) + "\n")
    bad = runner.invoke(app, ["batch", str(manifest), "-o", str(tmp_path / "x.jsonl"), "--model",
                              str(parrot(ONE_ROUTE)), "--quant", "none"])
    assert bad.exit_code == 2 and '"samples" must be an integer from 0 to 64' in bad.output


BOXES = [[0.1, 0.2, 0.3, 0.4], [0.12, 0.2, 0.32, 0.4], [0.14, 0.22, 0.34, 0.42], [0.16, 0.24, 0.36, 0.44],
         [0.2, 0.25, 0.4, 0.45], [0.25, 0.3, 0.45, 0.5], [0.3, 0.3, 0.5, 0.5], [0.35, 0.32, 0.55, 0.52]]
FAR = [[x0 + 0.45, y0, x1 + 0.45, y1] for x0, y0, x1, y1 in BOXES]  # IoU 0 with BOXES, box by box
TRACK_ROUTES = (("<think>it goes left</think>", f"<answer>{BOXES}</answer>"),
                ("<think>it goes right</think>", f"<answer>{FAR}</answer>"))


def test_track_window_scored_by_box_agreement(parrot, clip, tmp_path):
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["track", str(clip), "--object", "square", "--box", "0.1,0.2,0.3,0.4", "--normalized",
                                 "--model", str(parrot(TRACK_ROUTES)), "--quant", "none", "--samples", "16",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["score_method"] == "sample_agreement"
    window = data["windows"][0]
    drawn = [a["boxes"] for a in window["samples"]["answers"]]
    assert len(drawn) == 16 and {str(b) for b in drawn if b is not None} == {str(BOXES), str(FAR)}
    same = sum(1 for b in drawn if b == window["boxes"])
    assert window["score"] == round(same / 16, 4) and 0.2 <= window["score"] <= 0.8
    assert window["token_score"] >= 0.9  # the boxes are certain once the reasoning chose
    assert data["score"] == window["score"]  # one window: the track's score is its score
