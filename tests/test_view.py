"""`vcr view`: the page loads in a real headless Chromium without console errors, and clicks seek."""

import json

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app
from vcr_cli.checks import write_test_clip

WAIT_METADATA = """new Promise((resolve) => { const v = document.getElementById('video');
  if (v.readyState >= 1) resolve(v.duration);
  v.addEventListener('loadedmetadata', () => resolve(v.duration));
  v.addEventListener('error', () => resolve(-1)); setTimeout(() => resolve(-2), 15000); })"""


def _result(task: str, clip, **fields) -> dict:
    return {"task": task, "model": "test", "video": {"path": str(clip), "duration": 4.0, "fps": 10.0, "frames": 40,
                                                       "width": 160, "height": 96}, **fields}


@pytest.fixture(scope="module")
def browser():
    from browser import Browser

    b = Browser()
    yield b
    b.close()


@pytest.fixture
def h264_clip(tmp_path):
    return write_test_clip(tmp_path / "clip.mp4", seconds=4.0, fps=10)


def _page(tmp_path, data: dict) -> str:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(data))
    run = CliRunner().invoke(app, ["view", str(result)])
    assert run.exit_code == 0, run.output
    return (tmp_path / "result.html").as_uri()


def test_ground_page_clicking_a_segment_seeks(browser, tmp_path, h264_clip):
    url = _page(tmp_path, _result("ground", h264_clip, query="square", status="ok",
                                  segments=[{"start": 2.5, "end": 3.5, "score": 0.9}]))
    browser.errors.clear()
    browser.open(url)
    assert browser.js(WAIT_METADATA) == pytest.approx(4.0, abs=0.2)
    rect = browser.js("(() => { const r = document.querySelector('.segment').getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    assert browser.js("document.getElementById('video').currentTime") == 0
    browser.click(*rect)  # a real mouse click at the segment's centre
    assert browser.js("document.getElementById('video').currentTime") == pytest.approx(2.5, abs=0.05)
    assert browser.errors == []


def test_ask_and_track_pages_render_without_errors(browser, tmp_path, h264_clip):
    ask = _result("ask", h264_clip, answers=[{"question": "what moves?", "options": ["a square", "a cat"],
                                               "answer": "A", "answer_text": "a square", "status": "ok",
                                               "evidence": [{"start": 1.0, "end": 2.0}]}])
    browser.errors.clear()
    browser.open(_page(tmp_path, ask))
    assert browser.js("document.querySelectorAll('.segment.evidence').length") == 1
    assert "a square" in browser.js("document.body.innerText")
    browser.js("document.querySelector('.seek').click()")
    assert browser.js("document.getElementById('video').currentTime") == pytest.approx(1.0, abs=0.05)

    frames = [{"frame": i, "time": i / 10, "box": [10 + i, 20, 40 + i, 50]} for i in range(40)]
    track = _result("track", h264_clip, object="square", frames=frames,
                    keyframes=[{"frame": 0, "time": 0.0, "box": [10, 20, 40, 50]}])
    (tmp_path / "t").mkdir()
    browser.open(_page(tmp_path / "t", track))
    browser.js(WAIT_METADATA)
    # the overlay draws the box of the current frame: its pixels are green where the box edge is
    green = browser.js("""(() => { const v = document.getElementById('video'); v.currentTime = 0;
        const c = document.getElementById('overlay'); v.dispatchEvent(new Event('seeked'));
        const ctx = c.getContext('2d'); const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 150 && d[i + 3] > 0) n++; return n; })()""")
    assert green > 50
    assert browser.errors == []


def test_view_rejects_non_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    run = CliRunner().invoke(app, ["view", str(bad)])
    assert run.exit_code == 2 and "not a vcr result" in run.output
    run = CliRunner().invoke(app, ["view", str(tmp_path / "missing.json")])
    assert run.exit_code == 2 and "not found" in run.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"task": "foo", "video": {"path": "nowhere.mp4"}}))
    run = CliRunner().invoke(app, ["view", str(other)])  # refused before the missing video is warned about
    assert run.exit_code == 2 and run.output == ("error: cannot view a result of task 'foo'; expected ground, track "
                                                 "or ask JSON\n")
    results = tmp_path / "results.jsonl"
    results.write_text('{"index": 0, "result": {}}\n{"index": 1, "result": {}}\n')
    run = CliRunner().invoke(app, ["view", str(results)])
    assert run.exit_code == 2 and "holds JSON lines (`vcr batch` results?)" in run.output


def test_embedded_result_cannot_end_or_escape_its_script_block():
    """A question may hold `</script>` or `<!--<script>`; inside the data block either would break the page."""
    from vcr_cli.viewer import render_page

    question = 'hi <!--<script> there </script><b>x</b> "quotes"'
    data = {"task": "ask", "video": {"path": "v.mp4", "duration": 3.0}, "model": "m",
            "answers": [{"question": question, "options": [], "status": "ok", "answer_text": "a", "evidence": []}]}
    page = render_page(data, "v.mp4")
    start = page.index("<script type='application/json' id='vcr-data'>") + len(
        "<script type='application/json' id='vcr-data'>")
    block = page[start:page.index("</script>", start)]
    assert "<" not in block
    assert json.loads(block)["answers"][0]["question"] == question  # the JSON still reads back exactly
