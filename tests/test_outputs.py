"""Output files: atomic only onto regular files, symlinks followed, devices and pipes written into, umask modes."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.errors import UsageError
from vcr_cli.outputs.atomic import atomic_dir, atomic_path, check_output_path, write_text_atomic

runner = CliRunner()


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_new_file_gets_the_umask_mode(tmp_path, umask_022):
    write_text_atomic(tmp_path / "a.json", "{}\n")
    assert _mode(tmp_path / "a.json") == 0o644
    os.umask(0o027)
    write_text_atomic(tmp_path / "b.json", "{}\n")
    assert _mode(tmp_path / "b.json") == 0o640
    assert _leftovers(tmp_path) == []


def test_existing_file_keeps_its_mode_and_is_replaced(tmp_path, umask_022):
    out = tmp_path / "a.srt"
    out.write_text("old")
    out.chmod(0o600)
    write_text_atomic(out, "new")
    assert out.read_text() == "new" and _mode(out) == 0o600


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "a.json"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "old" and _leftovers(tmp_path) == []


def test_temporary_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    import vcr_cli.outputs.atomic as atomic

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_text_atomic(tmp_path / "a.json", "{}")
    assert events[:2] == ["fsync", "replace"]


def test_symlink_is_followed_and_its_target_replaced(tmp_path):
    real = tmp_path / "data" / "result.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new" and _leftovers(real.parent) == [] and _leftovers(tmp_path) == []

    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "data" / "later.json")
    write_text_atomic(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "data" / "later.json").read_text() == "made"


def test_fifo_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_text_atomic(fifo, "hello\n")
    reader.join(10)
    assert got == [b"hello\n"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_character_device_is_written_into_not_replaced(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    write_text_atomic(null, "discarded")
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.stat(null).st_rdev == os.makedev(1, 3)
    link = tmp_path / "out.json"  # a symlink to a device: the device is written into, the link stays
    link.symlink_to(null)
    write_text_atomic(link, "discarded")
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)
    assert _leftovers(tmp_path) == []


def test_check_output_path(tmp_path):
    check_output_path(tmp_path / "new.json")
    with pytest.raises(UsageError, match="is a directory"):
        check_output_path(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "a.json")
    link = tmp_path / "to_missing.json"
    link.symlink_to(tmp_path / "missing" / "a.json")
    with pytest.raises(UsageError, match="does not exist"):
        check_output_path(link)
    os.mkfifo(tmp_path / "pipe")
    check_output_path(tmp_path / "pipe")


def test_atomic_dir_gets_the_mkdir_mode(tmp_path, umask_022):
    out = tmp_path / "merged"
    with atomic_dir(out) as staging:
        (staging / "config.json").write_text("{}")
    assert _mode(out) == 0o755 and (out / "config.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "failed") as staging:
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]


def test_view_page_follows_a_symlink_and_writes_into_a_fifo(tmp_path, umask_022):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"task": "ground", "model": "m", "query": "q", "status": "ok", "segments": [],
                                  "video": {"path": "clip.mp4", "duration": 4.0, "fps": 10.0, "frames": 40,
                                            "width": 16, "height": 16}}))
    real = tmp_path / "pages" / "page.html"
    real.parent.mkdir()
    link = tmp_path / "page.html"
    link.symlink_to(real)
    run = runner.invoke(app, ["view", str(result), "-o", str(link)])
    assert run.exit_code == 0, run.output
    assert link.is_symlink() and "<html" in real.read_text().lower() and _mode(real) == 0o644

    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    run = runner.invoke(app, ["view", str(result), "-o", str(fifo)])
    reader.join(10)
    assert run.exit_code == 0, run.output
    assert b"<html" in got[0].lower() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_batch_results_into_a_device_and_a_symlink(tmp_path, umask_022):
    from vcr_cli.batch import ResultsWriter, finished_jobs

    real = tmp_path / "runs" / "results.jsonl"
    real.parent.mkdir()
    link = tmp_path / "results.jsonl"
    link.symlink_to(real)
    writer = ResultsWriter(link, fresh=True)
    writer.write({"id": "a", "status": "ok"})
    writer.close()
    assert link.is_symlink() and json.loads(real.read_text()) == {"id": "a", "status": "ok"}
    assert _mode(real) == 0o644 and set(finished_jobs(link)) == {"a"}
    if os.geteuid() == 0:
        null = tmp_path / "null"
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        writer = ResultsWriter(null, fresh=True)
        writer.write({"id": "a", "status": "ok"})  # fsync of a device fails with EINVAL: not attempted
        writer.close()
        assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_dev_stdout_redirected_to_a_file_is_appended_to_not_replaced(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "log.txt"
    snippet = ("import sys; print('before', flush=True); from vcr_cli.outputs.atomic import write_text_atomic; "
               "write_text_atomic('/dev/stdout', 'data\\n'); print('after', flush=True)")
    with open(out, "w") as handle:
        subprocess.run([sys.executable, "-c", snippet], stdout=handle, check=True, timeout=60)
    assert out.read_text() == "before\ndata\nafter\n" and _leftovers(tmp_path) == []


# ------------------------------------------------------------------ outputs against inputs and each other


@pytest.mark.parametrize("flag", ["-o", "--annotate", "--srt"])
def test_an_output_naming_the_input_video_is_refused_and_the_video_kept(clip, tmp_path, flag):
    before = clip.read_bytes()
    link = tmp_path / "hard.mp4"
    os.link(clip, link)  # a hard link is the same file under another name
    for target in (clip, link):
        result = runner.invoke(app, ["ground", str(clip), "a square", flag, str(target), "--model", "never-loaded"])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and f"is the input {clip}: writing it would replace it" in \
            result.output and result.output.count("\n") == 1
    assert clip.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused(clip, tmp_path):
    out = tmp_path / "o1.json"
    result = runner.invoke(app, ["ground", str(clip), "a square", "-o", str(out), "--srt", str(out)])
    assert result.exit_code == 2 and f"JSON and --srt both name {out}; give each its own file" in result.output
    link = tmp_path / "link.srt"
    link.symlink_to(out)
    result = runner.invoke(app, ["track", str(clip), "--object", "square", "--box", "1,1,9,9", "-o", str(out),
                                 "--mot", str(link)])
    assert result.exit_code == 2 and "JSON and --mot both name" in result.output
    assert not out.exists()


@pytest.mark.parametrize("args", [["ground", "{clip}", "q", "--srt", "-"], ["ground", "{clip}", "q", "--annotate", "-"],
                                  ["ask", "{clip}", "what?", "--srt", "-"], ["batch", "{jobs}", "-o", "-"],
                                  ["view", "{result}", "-o", "-"], ["rft", "eval", "{jobs}", "--predictions", "-"]])
def test_dash_is_stdout_only_where_stdout_can_take_it(clip, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"task": "ground", "video": str(clip), "query": "q"}) + "\n")
    result_file = tmp_path / "r.json"
    result_file.write_text(json.dumps({"task": "ground", "video": {"path": str(clip)}}))
    filled = [a.format(clip=clip, jobs=jobs, result=result_file) for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 2, result.output
    assert "cannot be written to stdout ('-'); give a file name" in result.output
    assert not (tmp_path / "-").exists()


def test_outputs_that_replace_their_inputs_elsewhere(tmp_path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text("")
    result = runner.invoke(app, ["rft", "score", str(preds), "-o", str(preds)])
    assert result.exit_code == 2 and f"metrics {preds} is the input {preds}" in result.output
    page = tmp_path / "r.json"
    page.write_text(json.dumps({"task": "ground", "video": {"path": "v.mp4"}}))
    result = runner.invoke(app, ["view", str(page), "-o", str(page)])
    assert result.exit_code == 2 and "is the input" in result.output
    assert json.loads(page.read_text())["task"] == "ground"


def test_devices_take_several_outputs():
    from vcr_cli.outputs.atomic import check_outputs

    check_outputs((("/dev/null", "JSON"), ("/dev/null", "--srt")), inputs=("/dev/null",))  # nothing replaced


def test_subtitle_cues_are_in_time_order():
    """Segments come best first; SRT players and WebVTT (which requires non-decreasing starts) want time order."""
    from vcr_cli.outputs.text import format_srt, format_vtt

    best_first = [(100.5, 101.2, "b"), (50.5, 51.0, "a"), (150.0, 151.0, "c")]
    assert format_srt(best_first) == ("1\n00:00:50,500 --> 00:00:51,000\na\n\n2\n00:01:40,500 --> 00:01:41,200\nb\n\n"
                                      "3\n00:02:30,000 --> 00:02:31,000\nc\n")
    assert format_vtt(best_first).splitlines()[2:4] == ["1", "00:00:50.500 --> 00:00:51.000"]


def test_sigterm_removes_the_output_being_written(tmp_path):
    """`kill PID` during a write: the temporary file goes, the old output stays (as with Ctrl-C)."""
    import signal

    from vcr_cli.app import exit_on_sigterm
    from vcr_cli.outputs.atomic import atomic_path

    out = tmp_path / "a.mp4"
    out.write_text("previous")
    previous = signal.getsignal(signal.SIGTERM)
    exit_on_sigterm()
    try:
        with pytest.raises(SystemExit) as stopped, atomic_path(out) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert out.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
