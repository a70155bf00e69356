"""`vcr view`: a self-contained HTML page for a result JSON (ground, track or ask).

The page has no external resources: styles, script and the result data are inline; the video is
referenced by a path relative to the page (or embedded with `embed=True`). It shows the video
with a timeline of clickable segments (clicking seeks the player), tracked boxes drawn over the
playing video, and questions with their answers and evidence spans.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from urllib.parse import quote

from vcr_cli.errors import UsageError

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{padding:12px 20px;background:#1b1b1b;border-bottom:1px solid #333}
h1{font-size:18px;margin:0 0 4px} .meta{color:#aaa;font-size:13px;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 20px}
#player{position:relative;width:100%;background:#000}
#video{width:100%;display:block;max-height:70vh}
#overlay{position:absolute;left:0;top:0;pointer-events:none}
#timeline{position:relative;height:34px;margin:10px 0;background:#2a2a2a;border-radius:4px;cursor:pointer}
#playhead{position:absolute;top:-3px;bottom:-3px;width:2px;background:#fff;pointer-events:none}
.segment{position:absolute;top:4px;bottom:4px;min-width:4px;border:0;border-radius:3px;background:#2ecc71;
 cursor:pointer;opacity:.85;padding:0} .segment:hover,.segment:focus{opacity:1;outline:2px solid #fff}
.segment.evidence{background:#3498db} .tick{position:absolute;top:0;bottom:0;width:2px;background:#f1c40f}
section h2{font-size:16px;margin:18px 0 8px} ul{padding-left:18px} li{margin:6px 0}
.seek{background:#263;color:#dfd;border:1px solid #396;border-radius:3px;cursor:pointer;font:inherit;padding:1px 6px}
.answer{color:#2ecc71;font-weight:600} .status{color:#f39c12} pre{white-space:pre-wrap;color:#999;font-size:12px}
"""

_SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('vcr-data').textContent);
  const video = document.getElementById('video');
  const timeline = document.getElementById('timeline');
  const playhead = document.getElementById('playhead');
  const overlay = document.getElementById('overlay');
  const duration = (data.video && data.video.duration) || 0;
  const pct = (t) => (duration > 0 ? Math.max(0, Math.min(100, (100 * t) / duration)) : 0);
  function seek(t) { video.currentTime = t; timeline.dataset.seeked = String(t); }
  function addSpan(start, end, label, cls) {
    const b = document.createElement('button');
    b.className = 'segment' + (cls ? ' ' + cls : '');
    b.style.left = pct(start) + '%';
    b.style.width = Math.max(0.3, pct(end) - pct(start)) + '%';
    b.title = label + ' (' + start.toFixed(2) + 's - ' + end.toFixed(2) + 's)';
    b.dataset.start = String(start);
    b.addEventListener('click', (e) => { e.stopPropagation(); seek(start); });
    timeline.appendChild(b);
  }
  if (data.task === 'ground') {
    (data.segments || []).forEach((s) => addSpan(s.start, s.end, data.query || 'segment', ''));
  } else if (data.task === 'ask') {
    (data.answers || []).forEach((a, i) => (a.evidence || []).forEach(
      (s) => addSpan(s.start, s.end, 'Q' + (i + 1) + ': ' + a.question, 'evidence')));
  } else if (data.task === 'track') {
    (data.keyframes || []).forEach((k) => {
      const t = document.createElement('div'); t.className = 'tick'; t.style.left = pct(k.time) + '%';
      timeline.appendChild(t);
    });
  }
  document.querySelectorAll('.seek').forEach((b) => b.addEventListener('click', () => seek(Number(b.dataset.start))));
  timeline.addEventListener('click', (e) => {
    const r = timeline.getBoundingClientRect();
    seek(((e.clientX - r.left) / r.width) * duration);
  });
  const frames = data.task === 'track' ? (data.frames || []) : [];
  const fps = (data.video && data.video.fps) || 25;
  const byFrame = new Map(frames.map((f) => [f.frame, f]));  // frames may cover only --start..--end
  function draw() {
    playhead.style.left = pct(video.currentTime) + '%';
    if (!frames.length) return;
    const w = video.clientWidth, h = video.clientHeight;
    overlay.width = w; overlay.height = h;
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    const vw = video.videoWidth || data.video.width, vh = video.videoHeight || data.video.height;
    const scale = Math.min(w / vw, h / vh), ox = (w - vw * scale) / 2, oy = (h - vh * scale) / 2;
    const frame = Math.floor(video.currentTime * fps + 1e-6);
    const entry = byFrame.get(frame);
    const box = entry && entry.box;
    if (!box) return;
    ctx.strokeStyle = '#2ecc71'; ctx.lineWidth = 3;
    ctx.strokeRect(ox + box[0] * scale, oy + box[1] * scale, (box[2] - box[0]) * scale, (box[3] - box[1]) * scale);
    ctx.fillStyle = '#2ecc71'; ctx.font = '14px system-ui';
    ctx.fillText(data.object || 'object', ox + box[0] * scale, Math.max(14, oy + box[1] * scale - 4));
  }
  video.addEventListener('timeupdate', draw);
  video.addEventListener('seeked', draw);
  video.addEventListener('loadedmetadata', draw);
  window.addEventListener('resize', draw);
  (function loop() { if (!video.paused) draw(); requestAnimationFrame(loop); })();
})();
"""


def _fmt(t: float) -> str:
    return f"{t:.2f}s"


def _seek_button(start: float, end: float | None = None) -> str:
    label = _fmt(start) if end is None else f"{_fmt(start)} – {_fmt(end)}"
    return f'<button class="seek" data-start="{start}">{html.escape(label)}</button>'


def _details(data: dict) -> str:
    task = data.get("task")
    parts = []
    if task == "ground":
        parts.append(f"<h2>“{html.escape(str(data.get('query', '')))}”</h2><ul>")
        for seg in data.get("segments", []):
            score = f" · score {seg['score']:.2f}" if seg.get("score") is not None else ""
            parts.append(f"<li>{_seek_button(seg['start'], seg['end'])}{score}</li>")
        if not data.get("segments"):
            parts.append(f"<li class=status>{html.escape(str(data.get('status')))}</li>")
        parts.append("</ul>")
    elif task == "ask":
        parts.append("<h2>Questions</h2><ol>")
        for answer in data.get("answers", []):
            evidence = " ".join(_seek_button(e["start"], e["end"]) for e in answer.get("evidence") or [])
            text = answer.get("answer_text") or answer.get("answer") or ""
            letter = answer.get("answer") if answer.get("options") else None
            shown = f"({letter}) {text}" if letter and text != letter else text
            parts.append(f"<li><div>{html.escape(str(answer.get('question', '')))}</div>"
                         f"<div class=answer>{html.escape(str(shown))}</div>"
                         f"<div>{evidence or '<span class=status>no evidence span</span>'}</div></li>")
        parts.append("</ol>")
    elif task == "track":
        parts.append(f"<h2>Tracking “{html.escape(str(data.get('object', '')))}”</h2><ul>")
        for key in data.get("keyframes", []):
            box = ", ".join(f"{v:.0f}" for v in key["box"])
            parts.append(f"<li>{_seek_button(key['time'])} frame {key['frame']}: [{box}]</li>")
        parts.append("</ul>")
    return "\n".join(parts)


def render_page(data: dict, video_src: str) -> str:
    video = data.get("video") or {}
    meta = f"{video.get('path', '')} · {video.get('duration', 0):.2f}s · model {data.get('model', '')}"
    # inside <script>, `</script>` ends the block and `<!--` starts script-data escapes: no "<" may stay literal
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>vcr {html.escape(data['task'])}"
        f"</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>vcr {html.escape(data['task'])}</h1><p class=meta>{html.escape(meta)}</p></header><main>"
        f"<div id=player><video id=video controls preload=metadata src=\"{html.escape(video_src)}\"></video>"
        "<canvas id=overlay></canvas></div><div id=timeline title='click to seek'><div id=playhead></div></div>"
        f"<section>{_details(data)}</section></main>"
        f"<script type='application/json' id='vcr-data'>{payload}</script><script>{_SCRIPT}</script></body></html>\n"
    )


def find_video(data: dict, result_path: Path | None = None, video: Path | None = None) -> tuple[Path, bool]:
    """(the video to show, whether it exists).

    `--video` is taken as given; the result's `video.path` as written if absolute, else from the current folder,
    else from the result file's folder (where `vcr ground -o` usually wrote it).
    """
    if video is not None:
        return video, video.is_file()
    path = Path((data.get("video") or {}).get("path", "")).expanduser()
    if path.is_absolute() or not str(path) or path.is_file():
        return path, path.is_file()
    if result_path is not None and (result_path.parent / path).is_file():
        return result_path.parent / path, True
    return path, False


def video_source(data: dict, page_path: Path, video: Path | None = None, embed: bool = False,
                 result_path: Path | None = None) -> str:
    path, found = find_video(data, result_path, video)
    if embed:
        if not found:
            raise UsageError(f"cannot embed the video: {path} not found (pass --video PATH)")
        return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    if not path.is_absolute():
        path = Path.cwd() / path
    rel = os.path.relpath(path, page_path.resolve().parent)
    return quote(rel.replace(os.sep, "/"))


def load_result(path: Path) -> dict:
    if not path.is_file():
        raise UsageError(f"result file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines[:2]):
            raise UsageError(f"{path} holds JSON lines (`vcr batch` results?); view one result: save a line's "
                             "\"result\" as its own .json file") from None
        raise UsageError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "task" not in data:
        raise UsageError(f"{path} is not a vcr result (no \"task\" field)")
    if data["task"] not in {"ground", "ask", "track"}:
        raise UsageError(f"cannot view a result of task {data['task']!r}; expected ground, track or ask JSON")
    return data
