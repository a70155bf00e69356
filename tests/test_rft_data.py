"""The `vcr rft` data format: validation messages, loading, prompts, and conversion of public formats (§5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft import data as rft_data
from rft.convert import convert, to_jsonl
from rft.data import Example, check_file, example_prompt, load_examples, validate_file
from vcr_cli import prompts
from vcr_cli.errors import UsageError

# Verbatim entries from the public annotation files (reference §5).
GOT_GT = [[0.585, 0.504, 0.641, 0.601], [0.585, 0.504, 0.641, 0.601], [0.527, 0.479, 0.572, 0.558],
          [0.705, 0.375, 0.759, 0.467], [0.557, 0.501, 0.613, 0.593], [0.489, 0.594, 0.544, 0.69],
          [0.336, 0.511, 0.384, 0.624], [0.315, 0.479, 0.333, 0.556]]
CHARADES = {
    "AO8RW": {"duration": 33.75, "timestamps": [[0.0, 6.9]], "sentences": ["a person is putting a book on a shelf."]},
    "3MSZA": {"duration": 30.96, "timestamps": [[24.3, 30.4], [24.3, 30.4], [24.3, 30.4], [24.3, 30.4]],
              "sentences": ["person turn a light on.", "person flipped the light switch near the door.",
                            "person turn the light switch on.", "person is playing with the switch for the light."]},
}
NEXTGQA = [{"id": "4882821564_1", "video": "1104/4882821564.mp4",
            "question": "why did the boy pick up one present from the group of them and move to the sofa",
            "options": ["(A) share with the girl", "(B) approach lady sitting there", "(C) unwrap it",
                        "(D) playing with toy train", "(E) gesture something"],
            "duration": 90, "glue": [[13.8, 29.8]], "type": "CW", "answer": "(C)"}]
GOT = [{"path": "GOT-10k/train/GOT-10k_Train_008002", "object": "motorcycle wheel", "gt": GOT_GT}]

OPTIONS = ["clap proudly", "the lady sitting down", "lay on floor", "just picked it up", "crawl"]
GROUND = {"task": "ground", "video": "clip.mp4", "query": "a square moves", "solution": {"start": 0.2, "end": 1.1}}
QA = {"task": "qa", "video": "clip.mp4", "question": "what moves", "options": OPTIONS,
      "solution": {"answer": "C", "evidence": [[0.1, 0.9]]}}
TRACK = {"task": "track", "video": "clip.mp4", "object": "square", "solution": {"boxes": [[0.1, 0.2, 0.3, 0.4]] * 8}}


def _with(base: dict, **changes) -> dict:
    """A copy of `base` with top-level or `solution.x` changes (value None deletes the key)."""
    line = json.loads(json.dumps(base))
    for key, value in changes.items():
        target, name = (line["solution"], key[len("solution_"):]) if key.startswith("solution_") else (line, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return line


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json{", "bad JSON: Expecting value (column 1)"),  # broken JSON
        ("[1, 2]", "expected a JSON object, got list"),  # not an object
        (_with(GROUND, task=None), 'missing field "task"'),
        (_with(GROUND, task=3), 'field "task" must be a string'),
        (_with(GROUND, task="caption"), 'unknown task "caption" (expected ground, qa or track)'),
        (_with(GROUND, video=None), 'missing field "video"'),
        (_with(GROUND, query=None), 'missing field "query"'),
        (_with(GROUND, query="  "), 'field "query" is empty'),
        (_with(GROUND, solution=[1, 2]), 'field "solution" must be an object'),
        (_with(GROUND, solution_start=None), 'missing field "solution.start"'),
        (_with(GROUND, solution_start="0.2"), 'field "solution.start" must be a number'),
        (_with(GROUND, solution_end=True), 'field "solution.end" must be a number'),  # bools are not numbers
        (_with(GROUND, solution_start=1.2, solution_end=0.5), "start 1.2 > end 0.5"),
        (_with(GROUND, solution_start=-1), "start -1 is negative"),
        (_with(GROUND, solution_end=3.0), "time 3 s is beyond the end of the video (1.60 s)"),  # clip: 1.6016 s
        (_with(QA, question=None), 'missing field "question"'),
        (_with(QA, options="A or B"), 'field "options" must be a list of at least 2 non-empty strings'),
        (_with(QA, options=["only"]), 'field "options" must be a list of at least 2 non-empty strings'),
        (_with(QA, options=list("abcdefgh"), solution_answer="A"), "8 options; at most 7 (A-G) are supported"),
        (_with(QA, solution_answer=None), 'missing field "solution.answer"'),
        (_with(QA, solution_answer="H"), 'field "solution.answer" must be an option letter A-E (got "H")'),
        (_with(QA, solution_answer=2), 'field "solution.answer" must be an option letter A-E (got 2)'),
        (_with(QA, solution_evidence=[1, 2]), 'field "solution.evidence" must be a list of [start, end] pairs in '
                                              "seconds (item 1 is 1)"),
        (_with(QA, solution_evidence=[[0.5, 0.1]]), "evidence 1: start 0.5 > end 0.1"),
        (_with(QA, solution_evidence=[[0.1, 0.2], [0.3, 9.0]]), "time 9 s is beyond the end of the video (1.60 s)"),
        (_with(TRACK, object=None), 'missing field "object"'),
        (_with(TRACK, solution_boxes=[[0.1, 0.2, 0.3, 0.4]] * 7),
         'field "solution.boxes" must be a list of 8 boxes [x0, y0, x1, y1] (got 7 boxes)'),
        (_with(TRACK, solution_boxes=[[0.1, 0.2, 0.3, 0.4]] * 7 + [[0.1, 0.2, 0.3]]),
         'field "solution.boxes" must be a list of 8 boxes [x0, y0, x1, y1] (box 8 is [0.1, 0.2, 0.3])'),
        (_with(TRACK, solution_boxes=[[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 1.5, 0.9]] + [[0.1, 0.2, 0.3, 0.4]] * 6),
         "box 2 [0.1, 0.2, 1.5, 0.9] is not within [0, 1] (coordinates are normalized)"),
        (_with(TRACK, solution_boxes=[[0.3, 0.2, 0.1, 0.4]] * 8), "box 1 [0.3, 0.2, 0.1, 0.4] has x0 > x1 or y0 > y1"),
        (_with(GROUND, video="nope.mp4"), "video not found: {tmp}/nope.mp4"),
        (_with(GROUND, output=3), 'field "output" must be a string'),
    ],
)
def test_validate_reports_file_line_message(tmp_path, clip, line, message):
    path = _write(tmp_path / "d.jsonl", [GROUND, line])
    problems = validate_file(path)
    assert problems[0] == f"{path}:2: " + message.format(tmp=tmp_path)
    assert len(problems) >= 1 and all(p.startswith(f"{path}:2: ") for p in problems)
    with pytest.raises(UsageError, match=f"^{path}:2: "):
        load_examples(path)


@pytest.mark.parametrize(
    "line",
    [
        GROUND,
        _with(GROUND, solution_start=0, solution_end=2.0),  # ints are numbers; 2.0 is within the 0.5 s tolerance
        QA,
        _with(QA, solution_answer="(C)"),  # the NExT-GQA spelling
        _with(QA, solution_evidence=None),  # evidence is optional
        TRACK,
        _with(TRACK, extra={"id": 7}),  # extra fields are kept
    ],
)
def test_valid_lines(tmp_path, clip, line):
    path = _write(tmp_path / "d.jsonl", [line])
    assert validate_file(path) == []
    (example,) = load_examples(path)
    assert example.task == line["task"] and example.line == 1 and example.video == tmp_path / "clip.mp4"
    assert example.raw == line


def test_every_problem_reported_with_blank_lines_counted(tmp_path, clip):
    path = _write(tmp_path / "d.jsonl", [GROUND, "", _with(GROUND, task="x"), QA, "{", _with(QA, solution_answer="Z")])
    assert validate_file(path) == [
        f'{path}:3: unknown task "x" (expected ground, qa or track)',
        f"{path}:5: bad JSON: Expecting property name enclosed in double quotes (column 2)",
        f'{path}:6: field "solution.answer" must be an option letter A-E (got "Z")',
    ]
    examples, problems = check_file(path)
    assert [e.line for e in examples] == [1, 4] and len(problems) == 3


def test_load_normalizes_solutions(tmp_path, clip):
    path = _write(tmp_path / "d.jsonl", [_with(GROUND, solution_start=0, solution_end=1),
                                         _with(QA, solution_answer="(C)"), TRACK])
    ground, qa, track = load_examples(path)
    assert ground.solution == {"start": 0.0, "end": 1.0} and isinstance(ground.solution["start"], float)
    assert ground.query == "a square moves"
    assert qa.solution == {"answer": "C", "evidence": [[0.1, 0.9]]} and qa.options == OPTIONS
    assert track.solution == {"boxes": [[0.1, 0.2, 0.3, 0.4]] * 8} and track.object == "square"


def test_video_paths_relative_to_data_folder_absolute_and_frame_folders(tmp_path, clip):
    import cv2
    import numpy as np

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:08d}.jpg"), np.zeros((16, 24, 3), np.uint8))
    sub = tmp_path / "data"
    sub.mkdir()
    path = _write(sub / "d.jsonl", [_with(GROUND, video=str(clip)), _with(TRACK, video="../frames"),
                                    _with(GROUND, video="clip.mp4")])
    assert validate_file(path) == [f"{path}:3: video not found: {sub}/clip.mp4"]
    assert [e.video for e in load_examples(path, check_videos=False)] == [clip, sub / "../frames", sub / "clip.mp4"]


def test_undecodable_video_and_empty_frame_folder(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    (tmp_path / "empty").mkdir()
    path = _write(tmp_path / "d.jsonl", [_with(GROUND, video="bad.mp4"), _with(TRACK, video="empty")])
    problems = validate_file(path)
    assert problems[0].startswith(f"{path}:1: cannot decode {tmp_path}/bad.mp4 as a video")
    assert problems[1] == f"{path}:2: {tmp_path}/empty is a directory with no image frames; pass a video file"


def test_each_video_probed_once(tmp_path, clip, monkeypatch):
    import vcr_cli.video

    calls = []
    real = vcr_cli.video.probe
    monkeypatch.setattr(vcr_cli.video, "probe", lambda p: calls.append(p) or real(p))
    path = _write(tmp_path / "d.jsonl", [GROUND, QA, GROUND])
    assert validate_file(path) == []
    assert calls == [tmp_path / "clip.mp4"]


def test_real_video_duration(tmp_path, bunny):
    """bunny is 5.28 s: an end at 5.5 s is within tolerance, 6 s is not."""
    path = _write(tmp_path / "d.jsonl", [_with(GROUND, video=str(bunny), solution_end=5.5),
                                         _with(GROUND, video=str(bunny), solution_end=6)])
    assert validate_file(path) == [f"{path}:2: time 6 s is beyond the end of the video (5.28 s)"]


def test_check_videos_off_and_require_output(tmp_path):
    path = _write(tmp_path / "d.jsonl", [_with(GROUND, video="missing.mp4"), _with(GROUND, output="<answer>")])
    assert validate_file(path, check_videos=False) == []
    assert validate_file(path, check_videos=False, require_output=True) == [
        f"{path}:1: missing field \"output\" (the model's raw text)"]
    assert load_examples(path, check_videos=False)[1].output == "<answer>"


def test_file_level_errors(tmp_path):
    with pytest.raises(UsageError, match="data file not found"):
        validate_file(tmp_path / "none.jsonl")
    with pytest.raises(UsageError, match="is a directory"):
        load_examples(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert validate_file(empty) == [f"{empty}: no examples (the file is empty)"]
    with pytest.raises(UsageError, match="no examples"):
        load_examples(empty)


def test_example_prompts():
    ground = Example("ground", Path("v.mp4"), 1, {"start": 1.0, "end": 2.0}, query="Person turn a light on.")
    assert example_prompt(ground) == prompts.render_ground_training("Person turn a light on.", True)
    assert '"person turn a light on" in the video' in example_prompt(ground)[1]
    assert example_prompt(ground, think=False)[0] == "GROUND_TEMPLATE_NOTHINK"

    qa = Example("qa", Path("v.mp4"), 1, {"answer": "C"}, question="what did the baby do", options=OPTIONS)
    name, text = example_prompt(qa)
    assert name == "GQA_THINK_ANSWER_GLUE" and "<glue>" in text
    assert "Select the answer from :['(A) clap proudly', '(B) the lady sitting down', '(C) lay on floor'," in text
    assert example_prompt(qa, think=False)[0] == "GQA_ANSWER_GLUE"

    track = Example("track", Path("f"), 1, {"boxes": GOT_GT}, object="motorcycle wheel")
    name, text = example_prompt(track)
    assert name == "QUESTION_TEMPLATE_TRACK"
    assert text.startswith('Track the "motorcycle wheel" in the video based on its initial coordinates '
                           '"[0.585, 0.504, 0.641, 0.601]".')
    assert example_prompt(track, think=False)[0] == "TRACK_NO_THINK"


# ---------------------------------------------------------------- convert (reference §5 entries)


def _src(tmp_path: Path, data) -> Path:
    path = tmp_path / "src.json"
    path.write_text(json.dumps(data))
    return path


def test_convert_charades_one_line_per_sentence(tmp_path):
    lines = convert("charades", _src(tmp_path, CHARADES), "/data/Charades_v1")
    assert lines[0] == {"task": "ground", "video": "/data/Charades_v1/AO8RW.mp4",
                        "query": "a person is putting a book on a shelf.", "solution": {"start": 0.0, "end": 6.9}}
    assert len(lines) == 5
    assert [line["query"] for line in lines[1:]] == CHARADES["3MSZA"]["sentences"]
    assert all(line["video"] == "/data/Charades_v1/3MSZA.mp4" and line["solution"] == {"start": 24.3, "end": 30.4}
               for line in lines[1:])
    assert convert("charades", _src(tmp_path, CHARADES), None)[0]["video"] == "AO8RW.mp4"


def test_convert_nextgqa(tmp_path):
    (line,) = convert("nextgqa", _src(tmp_path, NEXTGQA), "videos")
    assert line == {"task": "qa", "video": "videos/1104/4882821564.mp4", "question": NEXTGQA[0]["question"],
                    "options": NEXTGQA[0]["options"], "solution": {"answer": "C", "evidence": [[13.8, 29.8]]}}


def test_convert_got10k_frame_folder(tmp_path):
    (line,) = convert("got10k", _src(tmp_path, GOT), "/data")
    assert line == {"task": "track", "video": "/data/GOT-10k/train/GOT-10k_Train_008002",
                    "object": "motorcycle wheel", "solution": {"boxes": GOT_GT}}


def test_converted_lines_validate(tmp_path):
    lines = (convert("charades", _src(tmp_path, CHARADES), "v") + convert("nextgqa", _src(tmp_path, NEXTGQA), "v")
             + convert("got10k", _src(tmp_path, GOT), "v"))
    out = tmp_path / "all.jsonl"
    out.write_text(to_jsonl(lines))
    assert validate_file(out, check_videos=False) == []
    assert [e.task for e in load_examples(out, check_videos=False)] == ["ground"] * 5 + ["qa", "track"]


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("charades", NEXTGQA, "expected a JSON object mapping video ids"),  # wrong --from
        ("nextgqa", CHARADES, "expected a JSON list of"),
        ("got10k", [{"path": "p", "object": "o"}], 'entry 0: missing "gt"'),
        ("charades", {"X": {"timestamps": [[1, 2]], "sentences": []}}, "must be lists of equal length"),
        ("charades", {"X": {"timestamps": [[1]], "sentences": ["s"]}}, "timestamp [1] is not [start, end]"),
        ("coco", [], "unknown format 'coco'"),
    ],
)
def test_convert_errors(tmp_path, kind, data, message):
    with pytest.raises(UsageError, match=None) as info:
        convert(kind, _src(tmp_path, data), None)
    assert message in str(info.value)


def test_convert_missing_and_bad_json(tmp_path):
    with pytest.raises(UsageError, match="annotation file not found"):
        convert("charades", tmp_path / "none.json", None)
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(UsageError, match="is not JSON"):
        convert("charades", bad, None)


def test_convert_accepts_json_lines(tmp_path):
    src = tmp_path / "got.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in GOT * 2))
    assert len(convert("got10k", src, None)) == 2


def test_tasks_constant():
    assert rft_data.TASKS == ("ground", "qa", "track")


def test_ground_lines_with_several_spans(tmp_path, clip):
    """`solution.spans`: every moment a query holds (TimeLens2's "return ALL time spans"), checked like evidence."""
    good = _with(GROUND, solution_start=None, solution_end=None, solution_spans=[[0.1, 0.4], [0.8, 1.2]])
    (example,) = load_examples(_write(tmp_path / "good.jsonl", [good]))
    assert example.solution == {"spans": [[0.1, 0.4], [0.8, 1.2]]}
    lines = [_with(GROUND, solution_spans=[[0.1, 0.4]]), _with(good, solution_spans=[]),
             _with(good, solution_spans=[[0.4, 0.1]]), _with(good, solution_spans=[[0.1, 0.4], [1.0, 3.0]]),
             _with(good, solution_spans=[0.1, 0.4])]
    path = _write(tmp_path / "bad.jsonl", lines)
    assert validate_file(path) == [
        f'{path}:1: give "solution.start"/"end" (one span) or "solution.spans" (several), not both',
        f'{path}:2: field "solution.spans" is empty; give at least one [start, end] pair',
        f"{path}:3: span 1: start 0.4 > end 0.1",
        f"{path}:4: time 3 s is beyond the end of the video (1.60 s)",
        f'{path}:5: field "solution.spans" must be a list of [start, end] pairs in seconds (item 1 is 0.1)']
