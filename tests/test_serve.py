"""`vcr serve` and the CLI's --server: one loaded model, the same results as local runs, safe by default.

The server runs for real (uvicorn on a free loopback port, in a thread) where the socket is the point; FastAPI's
TestClient where it is not. The model is a parrot (a tiny checkpoint with VideoChat-R1's files that always gives
one answer)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

GQA_ANSWER = "<answer>C</answer><glue>[(1.0, 2.5)]</glue>"  # a ground segment, an ask answer, no track boxes
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`vcr serve`'s app under a real uvicorn on a free loopback port, in a thread."""

    def __init__(self, runtime, roots, token=None, jobs=None, max_upload_bytes=2**30, upload_dir=None):
        import uvicorn

        from vcr_cli.serve import ServeSettings, create_app

        self.port = _free_port()
        self.settings = ServeSettings(roots=[Path(r).resolve() for r in roots], token=token, port=self.port,
                                      max_upload_bytes=max_upload_bytes, upload_dir=upload_dir or Path(roots[0]))
        self.app = create_app(runtime, self.settings, jobs)
        self.jobs = self.app.app.state.jobs
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.jobs.close()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def runtime(parrot):
    from vcr_cli.runtime import load_runtime

    return load_runtime(str(parrot(GQA_ANSWER)), quant="none", device="cpu")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A root folder holding a clip (and the clip's twin outside it)."""
    from vcr_cli.checks import write_test_clip

    folder = tmp_path_factory.mktemp("serve")
    root = folder / "videos"
    root.mkdir()
    write_test_clip(root / "clip.mp4", seconds=3.0, fps=10)  # H.264: the page's browser plays it
    write_test_clip(folder / "outside.mp4")
    (root / "notes.mp4").write_text("not a video")
    (root / "link.mp4").symlink_to(folder / "outside.mp4")
    return root


@pytest.fixture(scope="module")
def live(runtime, videos):
    server = LiveServer(runtime, [videos])
    yield server
    server.close()


@pytest.fixture
def client(runtime, videos):
    from fastapi.testclient import TestClient

    from vcr_cli.serve import ServeSettings, create_app

    app = create_app(runtime, ServeSettings(roots=[videos.resolve()], port=8000, max_upload_bytes=20_000,
                                            upload_dir=videos.parent))
    yield TestClient(app, base_url="http://127.0.0.1:8000")
    app.app.state.jobs.close()


def _without_timings(result):
    """Wall times (`timings_s`, a track window's `seconds`) differ from run to run; all else must be identical."""
    if isinstance(result, dict):
        return {k: _without_timings(v) for k, v in result.items() if k not in ("timings_s", "seconds")}
    if isinstance(result, list):
        return [_without_timings(v) for v in result]
    return result


# ---------------------------------------------------------------- same answers as a local run


def test_commands_through_the_server_write_what_local_runs_write(live, parrot, videos, tmp_path, monkeypatch):
    monkeypatch.chdir(videos)
    model = str(parrot(GQA_ANSWER))
    questions = tmp_path / "q.yaml"
    questions.write_text("- question: which one?\n  options: [x, y, z]\n- what moves?\n")
    out, srt, mp4 = tmp_path / "r.json", tmp_path / "r.srt", tmp_path / "r.mp4"
    commands = [
        ["ground", "clip.mp4", "square moves", "-o", str(out), "--srt", str(srt), "--chapters", str(tmp_path / "c.vtt"),
         "--max-pixels", "12544"],
        ["ask", "clip.mp4", "--questions", str(questions), "-o", str(out), "--srt", str(srt), "--layout", "text-first"],
        ["track", "clip.mp4", "--object", "square", "--box", "10,10,30,30", "-o", str(out), "--annotate", str(mp4),
         "--mot", str(tmp_path / "r.mot")],
    ]
    for args in commands:
        written = {}
        for where in (["--model", model, "--quant", "none", "--device", "cpu"], ["--server", live.url]):
            run = runner.invoke(app, args + where)
            assert run.exit_code == 0, run.output
            written[where[0]] = (json.loads(out.read_text()),
                                 {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "r.json"})
        local, remote = written["--model"], written["--server"]
        assert _without_timings(remote[0]) == _without_timings(local[0]), args[0]
        assert remote[0]["video"]["path"] == "clip.mp4"  # as given, as a local run records it
        assert remote[1] == local[1]  # --srt, --chapters, --annotate, --mot: the same bytes
    assert json.loads(out.read_text())["annotated"]["frames"] == 30


def test_batch_through_the_server_writes_the_local_results(live, parrot, videos, tmp_path):
    (tmp_path / "q.jsonl").write_text('{"question": "which?", "options": ["a", "b", "c"]}\n')
    jobs = [{"task": "ground", "video": str(videos / "clip.mp4"), "query": "square moves", "id": "g"},
            {"task": "ask", "video": str(videos / "clip.mp4"), "questions_file": "q.jsonl", "think": False},
            {"task": "ground", "video": str(videos / "missing.mp4"), "query": "x", "id": "missing"},
            {"task": "track", "video": str(videos / "clip.mp4"), "object": "square", "box": "10,10,30,30"}]
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    lines = {}
    for where in (["--model", str(parrot(GQA_ANSWER)), "--quant", "none"], ["--server", live.url]):
        results = tmp_path / f"results{where[0]}.jsonl"
        run = runner.invoke(app, ["batch", str(manifest), "-o", str(results), "--max-pixels", "12544"] + where)
        assert run.exit_code == 1, run.output  # the missing video failed; the others ran
        lines[where[0]] = [json.loads(line) for line in results.read_text().splitlines()]
    for local, remote in zip(lines["--model"], lines["--server"], strict=True):
        local.pop("seconds"), remote.pop("seconds")
        if local["result"]:
            local["result"], remote["result"] = _without_timings(local["result"]), _without_timings(remote["result"])
        assert remote == local
    assert [r["status"] for r in lines["--server"]] == ["ok", "ok", "error", "ok"]
    assert lines["--server"][2]["error"] == f"video not found: {videos / 'missing.mp4'}"


def test_the_client_path_imports_neither_torch_nor_transformers(live, videos, tmp_path):
    out = tmp_path / "r.json"
    code = ("import sys; from vcr_cli.app import app\n"
            f"sys.argv = ['vcr', 'ground', {str(videos / 'clip.mp4')!r}, 'square', '--server', {live.url!r}, "
            f"'-o', {str(out)!r}, '--srt', {str(tmp_path / 'r.srt')!r}]\n"
            "try: app()\nexcept SystemExit as e: assert e.code in (0, None), e.code\n"
            "sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stderr.split("MODULES ")[1].split())
    assert json.loads(out.read_text())["segments"][0]["start"] == 1.0
    heavy = sorted(m for m in modules if m.split(".")[0] in ("torch", "transformers", "cv2", "supervision", "trl"))
    assert heavy == []


# ---------------------------------------------------------------- the API


def test_api_results_errors_and_uploads(client, videos):
    ok = client.post("/v1/ground", json={"video": "clip.mp4", "query": "square moves", "max_pixels": 12544})
    assert ok.status_code == 200
    assert ok.json()["segments"][0]["start"] == 1.0 and ok.json()["video"]["path"] == str(videos / "clip.mp4")

    bad = client.post("/v1/ground", json={"video": "clip.mp4", "quer": "x"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "request: unknown key 'quer' for a ground job (did you mean 'query'?)"}
    assert client.post("/v1/ask", json={"video": "clip.mp4", "question": "q", "options": ["only"]}).json() == {
        "error": "request: only 1 option given; a multiple-choice question needs at least 2 (or none for an open "
                 "question)"}
    not_video = client.post("/v1/track", json={"video": "notes.mp4", "object": "square"})
    assert not_video.status_code == 400 and "notes.mp4" in not_video.json()["error"]
    assert client.post("/v1/ground", content=b"{nope", headers={"Content-Type": "application/json"}).json() == {
        "error": "the request body is not valid JSON (Expecting property name enclosed in double quotes)"}
    assert client.get("/v1/health").json()["queue"] == 0  # still serving

    with open(videos / "clip.mp4", "rb") as handle:
        uploaded = client.post("/v1/track", files={"video": ("my clip.mp4", handle)},
                               data={"job": json.dumps({"object": "square", "box": [10, 10, 30, 30]})})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["video"]["path"] == "my clip.mp4" and len(uploaded.json()["frames"]) == 30
    assert not list(videos.parent.glob("vcr-upload-*"))  # the temporary copy is gone
    big = client.post("/v1/track", files={"video": ("big.mp4", b"0" * 100_000)}, data={"job": "{}"})
    assert big.status_code == 413 and "at most" in big.json()["error"]

    stream = client.post("/v1/ask", json={"video": "clip.mp4", "question": "which?", "options": ["a", "b", "c"]},
                         headers={"Accept": "application/x-ndjson"})
    events = [json.loads(line) for line in stream.text.splitlines()]
    assert [e["event"] for e in events] == ["queued", "started", "result"]
    assert events[-1]["result"]["answers"][0]["answer"] == "C"


def test_paths_outside_the_roots_are_refused(client, videos):
    for path in (str(videos.parent / "outside.mp4"), "../outside.mp4", "link.mp4"):
        refused = client.post("/v1/ground", json={"video": path, "query": "square"})
        assert refused.status_code == 403, path
        assert f"is outside the folders this server may read ({videos.resolve()})" in refused.json()["error"]
    refused = client.post("/v1/ask", json={"video": "clip.mp4", "questions_file": "../../etc/passwd"})
    assert refused.status_code == 403
    assert client.get("/v1/video", params={"path": str(videos.parent / "outside.mp4")}).status_code == 403
    assert client.get("/v1/video", params={"path": str(videos / "clip.mp4")}).content == (
        videos / "clip.mp4").read_bytes()
    listed = client.get("/v1/videos").json()
    assert [v["name"] for v in listed["videos"]] == ["clip.mp4", "notes.mp4"]  # not the link out of the root


def test_other_origins_foreign_hosts_and_missing_tokens_are_refused(runtime, videos):
    from fastapi.testclient import TestClient

    from vcr_cli.serve import ServeSettings, create_app

    app = create_app(runtime, ServeSettings(roots=[videos.resolve()], port=8000, token="s3cret"))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    auth = {"Authorization": "Bearer s3cret"}
    assert client.get("/v1/health").status_code == 401
    assert client.get("/v1/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    health = client.get("/v1/health", headers=auth).json()
    assert health["model"] == runtime.model_id and health["family"] == "videochat-r1"
    assert health["model_type"] == "qwen2_5_vl" and health["device"] == "cpu"
    assert client.get("/").status_code == 200  # the page holds no secret; its requests send the token
    evil = client.post("/v1/ground", json={"video": "clip.mp4", "query": "x"},
                       headers={**auth, "Origin": "http://evil.example"})
    assert evil.status_code == 403 and "other origins" in evil.json()["error"]
    same = client.get("/v1/health", headers={**auth, "Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200
    embedded = client.get("/v1/video", params={"path": str(videos / "clip.mp4")},  # <video src> on another site
                          headers={**auth, "Sec-Fetch-Site": "cross-site"})
    assert embedded.status_code == 403
    assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a link to the page
    rebound = client.get("/v1/health", headers={**auth, "Host": "evil.example:8000"})
    assert rebound.status_code == 403 and "DNS-rebinding" in rebound.json()["error"]
    assert client.get("/v1/health", headers={**auth, "Host": "localhost:8000"}).status_code == 200
    app.app.state.jobs.close()


def test_serve_refuses_an_open_host_without_a_token_and_a_missing_extra(monkeypatch, tmp_path):
    run = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--root", str(tmp_path)])
    assert run.exit_code == 2 and "--token" in run.output
    run = runner.invoke(app, ["serve", "--root", str(tmp_path / "nowhere")])
    assert run.exit_code == 2 and "is not a folder" in run.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    run = runner.invoke(app, ["serve"])
    assert run.exit_code == 2 and "pip install 'vcr[serve]'" in run.output


def test_cli_errors_through_the_server(live, videos, tmp_path, monkeypatch):
    outside = videos.parent / "outside.mp4"
    run = runner.invoke(app, ["ground", str(outside), "square", "--server", live.url])
    assert run.exit_code == 2 and "is outside the folders this server may read" in run.output
    run = runner.invoke(app, ["ground", str(videos / "clip.mp4"), "square", "--server", live.url, "--model", "other"])
    assert run.exit_code == 2 and "runs " in run.output and "not other" in run.output
    monkeypatch.setenv("VCR_SERVER", f"http://127.0.0.1:{_free_port()}")  # nobody listens there
    run = runner.invoke(app, ["ground", str(videos / "clip.mp4"), "square"])
    assert run.exit_code == 1 and "cannot reach a vcr server at" in run.output


def test_the_client_uploads_to_a_server_elsewhere_and_sends_the_token(runtime, live, videos, tmp_path,
                                                                        monkeypatch):
    from vcr_cli.client import Server

    copy = tmp_path / "elsewhere.mp4"  # outside the roots: a remote server cannot read it, an upload carries it
    copy.write_bytes((videos / "clip.mp4").read_bytes())
    remote = Server(live.url)
    remote.local = False  # as for a server on another machine
    spec = {"query": "square moves", "max_pixels": 12544}
    uploaded = remote.run("ground", spec, copy)
    by_path = Server(live.url).run("ground", spec, videos / "clip.mp4")
    assert uploaded["video"]["path"] == "elsewhere.mp4" and by_path["video"]["path"] == str(videos / "clip.mp4")
    uploaded["video"]["path"] = by_path["video"]["path"]
    assert _without_timings(uploaded) == _without_timings(by_path)

    guarded = LiveServer(runtime, [videos], token="s3cret")
    try:
        args = ["ground", str(videos / "clip.mp4"), "square", "--server", guarded.url, "--max-pixels", "12544"]
        run = runner.invoke(app, args)
        assert run.exit_code == 2 and "set $VCR_TOKEN" in run.output
        monkeypatch.setenv("VCR_TOKEN", "s3cret")
        run = runner.invoke(app, args)
        assert run.exit_code == 0 and "1.00s → 2.50s" in run.output, run.output
    finally:
        guarded.close()


# ---------------------------------------------------------------- one GPU, many callers


def _post_stream(url: str, task: str, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("POST", f"/v1/{task}", json.dumps(body),
                       {"Content-Type": "application/json", "Accept": "application/x-ndjson"})
    return connection, connection.getresponse()


def _event(response) -> dict:
    while True:
        line = response.readline()
        assert line, "the stream ended"
        if line.strip():
            return json.loads(line)


def test_jobs_run_in_order_and_a_caller_that_leaves_is_dropped(runtime, videos):
    from vcr_cli.batch import batch_defaults
    from vcr_cli.serve import JobQueue

    class Gated(JobQueue):
        """Holds each job at the model until the test lets it go: the queue's state can be looked at."""

        gate = threading.Semaphore(0)
        ran: list[str] = []

        def run(self, ticket):
            self.gate.acquire()
            self.ran.append(ticket.job.spec["query"])
            return super().run(ticket)

    server = LiveServer(runtime, [videos], jobs=Gated(runtime, batch_defaults(None)))
    try:
        job = {"video": "clip.mp4", "max_pixels": 12544}
        first = _post_stream(server.url, "ground", {**job, "query": "first"})
        assert _event(first[1]) == {"event": "queued", "ahead": 0} and _event(first[1]) == {"event": "started"}
        second = _post_stream(server.url, "ground", {**job, "query": "second"})
        assert _event(second[1]) == {"event": "queued", "ahead": 1}
        third = _post_stream(server.url, "ground", {**job, "query": "third"})
        assert _event(third[1]) == {"event": "queued", "ahead": 2}
        health = json.loads(urlopen(server.url + "/v1/health"))
        assert (health["queue"], health["running"]) == (2, True)

        host, port = server.url.split("//")[1].split(":")
        plain = http.client.HTTPConnection(host, int(port), timeout=60)  # waits for one JSON answer, no stream
        plain.request("POST", "/v1/ground", json.dumps({**job, "query": "fourth"}),
                      {"Content-Type": "application/json"})
        assert _wait_until(lambda: json.loads(urlopen(server.url + "/v1/health"))["queue"] == 3)
        plain.close()  # it leaves too: dropped
        assert _wait_until(lambda: json.loads(urlopen(server.url + "/v1/health"))["queue"] == 2)

        second[0].close()  # the second caller leaves: its job is dropped, the third moves up
        assert _event(third[1]) == {"event": "queued", "ahead": 1}
        assert json.loads(urlopen(server.url + "/v1/health"))["queue"] == 1

        Gated.gate.release()
        assert _event(first[1])["result"]["query"] == "first"
        assert _event(third[1]) == {"event": "started"}
        Gated.gate.release()
        assert _event(third[1])["result"]["query"] == "third"
        assert Gated.ran == ["first", "third"]
    finally:
        Gated.gate.release()
        server.close()


def _wait_until(condition, timeout: float = 10) -> bool:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def urlopen(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def test_sigterm_finishes_the_running_job_and_exits(parrot, tmp_path):
    """The real `vcr serve` process: a long track job is running and another waits when SIGTERM comes."""
    from media import timed_clip

    root = tmp_path / "videos"
    root.mkdir()
    timed_clip(root / "long.mp4", [i / 10 for i in range(120)])  # 12 s: 24 track windows of 0.5 s
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vcr_cli", "serve", "--model", str(parrot(GQA_ANSWER)), "--quant",
                             "none", "--device", "cpu", "--port", str(port), "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        ready = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in ready, ready
        url = f"http://127.0.0.1:{port}"
        job = {"video": "long.mp4", "object": "square", "box": [0, 0, 20, 20], "window": 0.5, "max_pixels": 12544}
        running = _post_stream(url, "track", job)
        assert _event(running[1])["event"] == "queued" and _event(running[1]) == {"event": "started"}
        waiting = _post_stream(url, "track", job)
        assert _event(waiting[1]) == {"event": "queued", "ahead": 1}
        proc.send_signal(signal.SIGTERM)
        assert _event(waiting[1]) == {"event": "error", "status": 503,
                                      "error": "the server is shutting down; your job did not run"}
        events = [_event(running[1])]
        while events[-1]["event"] == "progress":
            events.append(_event(running[1]))
        assert events[-1]["event"] == "result" and len(events[-1]["result"]["frames"]) == 120
        assert proc.wait(30) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- the page


def test_page_runs_a_query_and_shows_the_answer_as_vcr_view_does(live, videos):
    from browser import Browser

    browser = Browser()
    try:
        browser.open(live.url + "/")
        wait = ("new Promise((resolve) => { const t0 = Date.now(); (function poll() {"
                " const ok = (%s); if (ok || Date.now() - t0 > 20000) resolve(ok); else setTimeout(poll, 50); })(); })")
        assert browser.js(wait % "document.getElementById('video').options.length > 0")
        assert browser.js("[...document.getElementById('video').options].map((o) => o.textContent)") == [
            "clip.mp4", "notes.mp4"]
        assert "model " + live.jobs.runtime.model_id in browser.js("document.getElementById('meta').textContent")
        browser.js("document.getElementById('query').value = 'square moves'")
        browser.js("document.getElementById('run').click()")
        frame_ready = ("(() => { const d = document.getElementById('view').contentDocument; return !!(d &&"
                       " d.querySelector('.segment') && d.getElementById('video').readyState >= 1); })()")
        assert browser.js(wait % frame_ready), browser.js("document.getElementById('status').textContent")
        assert browser.js("document.getElementById('status').textContent") == "done"
        inner = "document.getElementById('view').contentDocument"
        assert browser.js(f"{inner}.querySelector('h2').textContent") == "“square moves”"
        browser.js(f"{inner}.querySelector('.seek').click()")
        assert browser.js(f"{inner}.getElementById('video').currentTime") == pytest.approx(1.0, abs=0.05)

        assert browser.errors == []

        browser.js("document.getElementById('video').value = " + json.dumps(str(videos / "notes.mp4")))
        browser.js("document.getElementById('run').click()")
        assert browser.js(wait % "document.getElementById('status').className === 'error'")
        assert "notes.mp4" in browser.js("document.getElementById('status').textContent")  # the server's line
        assert browser.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    finally:
        browser.close()


def test_serve_help_and_readme_name_the_same_endpoints():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for endpoint in ("/v1/ground", "/v1/track", "/v1/ask", "/v1/health", "VCR_NF4_CACHE", "--server", "--token"):
        assert endpoint in readme
