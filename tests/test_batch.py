"""`vcr batch`: one model load for a manifest of jobs; results appended line by line; resumable."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

GQA_ANSWER = "<answer>C</answer><glue>[(1.0, 2.5)]</glue>"
runner = CliRunner()


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _manifest(folder, jobs):
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def test_batch_records_a_failure_goes_on_and_resumes(parrot, clip, tmp_path):
    model = parrot(GQA_ANSWER)
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clip, folder / "a.mp4")
    manifest = _manifest(folder, [
        {"task": "ground", "video": "a.mp4", "query": "square moves"},
        {"task": "ask", "video": "later.mp4", "question": "which", "options": ["x", "y", "z"], "id": "late"},
        {"task": "ask", "video": "a.mp4", "questions": [{"question": "which", "options": ["x", "y", "z"]}, "what"],
         "think": False},
        {"task": "track", "video": "a.mp4", "object": "square", "box": [10, 10, 30, 30], "refine": False},
    ])
    results = tmp_path / "results.jsonl"
    args = ["batch", str(manifest), "-o", str(results), "--model", str(model), "--quant", "none"]

    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # a job failed: the batch went on, and says so
    records = _lines(results)
    assert [(r["index"], r["status"]) for r in records] == [(0, "ok"), (1, "error"), (2, "ok"), (3, "ok")]
    assert records[1]["id"] == "late" and "video not found" in records[1]["error"] and records[1]["result"] is None
    assert records[0]["result"]["task"] == "ground" and records[0]["result"]["segments"]  # the parrot's glue
    many = records[2]["result"]
    assert many["layout"] == "trained" and [a["layout"] for a in many["answers"]] == ["text_first", "video_first"]
    assert [a["answer_text"] for a in many["answers"]] == ["z", "C"]
    assert records[2]["job"]["questions"][1] == "what" and records[0]["video"] == str(folder / "a.mp4")
    tracked = records[3]["result"]  # the parrot answers no boxes: the start box is held on every frame
    assert tracked["task"] == "track" and tracked["start_box"] == [10.0, 10.0, 30.0, 30.0]
    assert len(tracked["frames"]) == 48 and tracked["status"] == "unparsed"
    assert "ETA" in first.output and "1 failed" in first.output

    again = runner.invoke(app, args)  # no --resume: refuse rather than clobber
    assert again.exit_code == 2 and "--resume" in again.output
    assert len(_lines(results)) == 4

    shutil.copy(clip, folder / "later.mp4")
    resumed = runner.invoke(app, args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "3 skipped" in resumed.output
    records = _lines(results)
    assert len(records) == 5 and records[4]["id"] == "late" and records[4]["status"] == "ok"
    assert records[4]["result"]["answers"][0]["answer"] == "C"

    done = runner.invoke(app, args + ["--resume"])  # nothing left to do
    assert done.exit_code == 0 and len(_lines(results)) == 5


def test_resume_drops_a_half_written_line(tmp_path):
    from vcr_cli.batch import finished_jobs

    results = tmp_path / "r.jsonl"
    results.write_text('{"id": "a", "status": "ok"}\n{"id": "b", "status": "error"}\n{"id": "c", "sta')
    assert set(finished_jobs(results)) == {"a"}
    assert results.read_text() == '{"id": "a", "status": "ok"}\n{"id": "b", "status": "error"}\n'


def test_default_ids_are_stable_and_distinct(tmp_path):
    from vcr_cli.batch import load_manifest

    job = {"task": "ground", "video": "a.mp4", "query": "q"}
    ids = [j.id for j in load_manifest(_manifest(tmp_path, [job, {**job, "query": "r"}, job]))]
    assert ids[0].startswith("ground:a.mp4:") and len(set(ids)) == 3 and ids[2] == ids[0] + "#2"
    moved = [j.id for j in load_manifest(_manifest(tmp_path, [{**job, "query": "r"}, job]))]
    assert moved == [ids[1], ids[0]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"task": "ground", "video": "a.mp4", "query": "q"}', "{oops"], "jobs.jsonl line 2: not valid JSON"),
        (['{"task": "caption", "video": "a.mp4"}'], 'line 1: "task" must be one of ground, track, ask'),
        (['{"task": "ground", "video": "a.mp4"}'], 'line 1: a ground job needs a "query"'),
        (['{"task": "ground", "video": "a.mp4", "query": "q", "fps": "2"}'], 'line 1: "fps" must be a number'),
        (['{"task": "ground", "video": "a.mp4", "querry": "q"}'],
         "line 1: unknown key 'querry' for a ground job (did you mean 'query'?)"),
        (['{"task": "ground", "video": "a.mp4", "query": "q", "windw": 60}', '{"task": "ground", "video": "a.mp4"}',
          '{"task": "ground", "video": "a.mp4", "query": "q"}', '{oops'],  # every bad line found at once
         "line 1: unknown key 'windw' for a ground job (did you mean 'window'?) (also bad: lines 2, 4)"),
        (['{"task": "ask", "video": "a.mp4", "question": "q", "options": ["x"]}'], "line 1: only 1 option given"),
        (['{"task": "ask", "video": "a.mp4"}'], 'exactly one of "question", "questions" or "questions_file"'),
        (['{"task": "ask", "video": "a.mp4", "question": "q", "layout": "video-last"}'],
         'line 1: "layout" must be one of auto, text-first, shared-prefix (as `vcr ask --layout`)'),
        (['{"task": "ask", "video": "a.mp4", "questions_file": "none.yaml"}'], "questions file not found"),
        (['{"task": "ground", "video": "a.mp4", "query": "q", "id": 1}', '{"task": "ground", "video": "b.mp4", '
          '"query": "q", "id": 1}'], "line 2: id '1' is already used on line 1"),
        (['{"task": "track", "video": "a.mp4", "box": [1, 2, 3, 4]}'], 'line 1: a track job needs an "object"'),
        (['{"task": "track", "video": "a.mp4", "object": "car", "box": "1,2,3"}'],
         'line 1: "box" must be four numbers'),
        (['{"task": "track", "video": "a.mp4", "object": "car", "fps": 2}'], "line 1: unknown key 'fps'"),
        ([""], "has no jobs"),
        (['{"task": "ground", "video": "a.mp4", "query": "q", "window": 30, "overlap": 16}'],
         "line 1: overlap 16 is more than half of window 30"),
        (['{"task": "ground", "video": "a.mp4", "query": "q", "overlap": 61}'],  # the default window past 384 s
         "line 1: overlap 61 is more than half of window 120"),
    ],
)
def test_bad_manifest_one_line_exit_2(tmp_path, lines, message):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    results = tmp_path / "results.jsonl"
    results.write_text("precious\n")
    result = runner.invoke(app, ["batch", str(manifest), "-o", str(results), "--model", "/no/model", "--overwrite"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert results.read_text() == "precious\n"


def test_missing_manifest(tmp_path):
    result = runner.invoke(app, ["batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 2 and "manifest not found" in result.output


def test_killed_batch_keeps_finished_jobs_and_resumes(parrot, clip, tmp_path):
    """SIGKILL mid-run (no chance to clean up): finished lines survive, --resume does only the rest."""
    import subprocess
    import sys

    from processes import kill_once_results_have

    model = parrot(GQA_ANSWER)
    shutil.copy(clip, tmp_path / "a.mp4")
    jobs = [{"task": "ground", "video": "a.mp4", "query": f"event {i}", "id": f"job{i}"} for i in range(40)]
    manifest = _manifest(tmp_path, jobs)
    results = tmp_path / "results.jsonl"
    args = [sys.executable, "-m", "vcr_cli", "batch", str(manifest), "-o", str(results), "--model", str(model),
            "--quant", "none", "--max-pixels", "12544"]
    kill_once_results_have(args, results)
    finished = {r["id"] for r in _lines(results) if r["status"] == "ok"}
    assert 2 <= len(finished) < len(jobs), "the batch should have been killed mid-way"

    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    records = _lines(results)
    ids = [r["id"] for r in records]
    assert sorted(set(ids)) == sorted(j["id"] for j in jobs)
    assert len(ids) == len(set(ids)), "no job ran twice"
    assert all(r["status"] == "ok" for r in records)


def test_ground_and_track_jobs_take_the_commands_defaults(parrot, tmp_path):
    """A 130 s video is grounded whole (the paper's input up to 384 s); "window" alone windows it (the overlap
    follows the window); a frame folder is tracked in one window of the paper's 7 frames."""
    import cv2
    import media
    from conftest import write_clip

    write_clip(tmp_path / "talk.mp4", frames=130, fps=1.0, width=64, height=48)
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(150):
        cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), media.code_image(i, 64, 48))
    manifest = _manifest(tmp_path, [
        {"task": "ground", "video": "talk.mp4", "query": "flash", "id": "whole"},
        {"task": "ground", "video": "talk.mp4", "query": "flash", "window": 60, "id": "windows"},
        {"task": "track", "video": "seq", "object": "square", "box": [10, 10, 30, 30], "refine": False, "id": "seq"},
    ])
    results = tmp_path / "results.jsonl"
    run = runner.invoke(app, ["batch", str(manifest), "-o", str(results), "--model", str(parrot(GQA_ANSWER)),
                              "--quant", "none", "--max-pixels", "12544"])
    assert run.exit_code == 0, run.output
    whole, windowed, tracked = (r["result"] for r in _lines(results))
    assert whole["windowing"]["mode"] == "whole_video" and "windows" not in whole
    assert (whole["sampling"]["frames"], whole["sampling"]["fps"]) == (130, 1.0)  # all 130 frames, one pass
    assert windowed["windowing"] == {"mode": "windows", "reason": "window_given", "whole_video_max_s": 384.0}
    assert (windowed["windows"]["count"], windowed["windows"]["overlap_asked_s"]) == (3, 10.0)
    assert [w["keyframe_frames"] for w in tracked["windows"]] == [[0, 24, 49, 74, 99, 124, 149]]


def test_ask_jobs_take_the_layouts_vcr_ask_takes():
    from vcr_cli.batch import job_layout

    assert [job_layout({"layout": name}) for name in ("auto", "text-first", "shared-prefix", "shared_prefix",
                                                      "video_first_shared_prefix")] == [
        "auto", "text_first", "video_first_shared_prefix", "video_first_shared_prefix", "video_first_shared_prefix"]
    assert job_layout({}) == "auto" and job_layout({"layout": 3}) is None


def test_resume_reruns_a_job_edited_under_its_own_id(tmp_path):
    from vcr_cli.batch import load_manifest, start_batch

    (tmp_path / "a.mp4").write_bytes(b"")
    before = {"task": "ground", "video": "a.mp4", "query": "door opens", "id": "mc1"}
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps({"id": "mc1", "status": "ok", "job": before}) + "\n")
    same = load_manifest(_manifest(tmp_path, [before]))
    todo, summary, writer = start_batch(same, results, resume=True)
    writer.close()
    assert todo == [] and summary.skipped == 1
    edited = load_manifest(_manifest(tmp_path, [{**before, "query": "door closes"}]))
    todo, summary, writer = start_batch(edited, results, resume=True)
    writer.close()
    assert [job.id for job in todo] == ["mc1"] and summary.skipped == 0
