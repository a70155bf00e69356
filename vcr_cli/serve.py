"""`vcr serve`: one loaded model behind a local HTTP API, so commands, scripts and a browser skip the load.

Built on FastAPI + uvicorn (the `serve` extra). A request's body is a `vcr batch` manifest line without
"task" (the path names it): it goes through the manifest's own validation (`batch.job_of_spec`) and runs
through `batch.prepare_job` / `batch.run_job`, the one inference path of every engine, so a result here is
the JSON a local run writes. Jobs queue first in, first out; one worker thread runs one job at a time on the
model; a caller that disconnects while its job waits has it dropped.

Safety (the model reads files on the server's machine): loopback by default, any other --host needs a token
(`Authorization: Bearer TOKEN`); video paths must resolve (`..` and symlinks followed) inside the --root
folders; a request from a web page of another origin (`Origin`) or under a foreign `Host` name (DNS
rebinding) is refused; uploads have a size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import shutil
import signal
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcr_cli.errors import UsageError, VcrError

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime

INSTALL_HINT = ("vcr serve needs FastAPI and uvicorn, which are not installed: pip install 'vcr[serve]' "
                "(from a checkout: pip install -e '.[serve]')")
TASKS = ("ground", "track", "ask")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
NDJSON = "application/x-ndjson"
MAX_JSON_BYTES = 8 * 2**20
FORM_OVERHEAD = 64 * 2**10  # an upload's "job" field and part headers, beside the video
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
MAX_LISTED = 1000


def import_server():
    """(fastapi, uvicorn), or a UsageError saying how to install them (exit 2)."""
    from importlib.util import find_spec

    try:
        import fastapi
        import uvicorn
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    if find_spec("python_multipart") is None and find_spec("multipart") is None:  # FastAPI's form parser (uploads)
        raise UsageError(INSTALL_HINT)
    return fastapi, uvicorn


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


@dataclass
class ServeSettings:
    roots: list[Path]  # resolved folders whose videos requests may name
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 2 * 2**30
    upload_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))


class Refused(Exception):
    """A request the server will not run: an HTTP status and the one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_settings(host: str, token: str | None, roots: list[Path]) -> list[Path]:
    """The resolved roots; UsageError (exit 2) for a non-loopback --host without --token or a missing root."""
    if not is_loopback(host) and not token:
        raise UsageError(f"--host {host} lets other machines reach the server; give it a secret too: "
                         "--token TOKEN (or $VCR_TOKEN), which every request must send")
    resolved = []
    for root in roots:
        real = Path(root).expanduser().resolve()
        if not real.is_dir():
            raise UsageError(f"--root {root} is not a folder; give a folder whose videos the server may read")
        resolved.append(real)
    return resolved


def inside_roots(path: Path, roots: list[Path]) -> Path:
    """The real path (`..` and symlinks resolved) if it lies in a root, else Refused 403 naming the roots."""
    real = path.expanduser().resolve()
    if any(real == root or real.is_relative_to(root) for root in roots):
        return real
    names = ", ".join(str(r) for r in roots)
    raise Refused(403, f"{path} is outside the folders this server may read ({names}); start vcr serve with "
                       "--root FOLDER for it, or upload the file")


# ---------------------------------------------------------------- the queue


class Ticket:
    """One caller's job: its events go to the caller's event loop as they happen."""

    def __init__(self, job: Any, loop: asyncio.AbstractEventLoop, upload: Path | None = None,
                 shown_path: str | None = None):
        self.job = job
        self.loop = loop
        self.events: asyncio.Queue = asyncio.Queue()
        self.finished = False  # the caller has its final event
        self.ahead = -1  # jobs before this one, as last told to the caller
        self.upload = upload  # a temporary copy of an uploaded video, deleted when the job ends
        self.shown_path = shown_path  # the result's video.path for an upload: the uploaded file's name

    def post(self, event: dict) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the server's loop has closed (stopped with this job running): nobody to tell
            pass

    def discard(self) -> None:
        if self.upload is not None:
            self.upload.unlink(missing_ok=True)


def error_event(status: int, message: str) -> dict:
    return {"event": "error", "status": status, "error": message}


class JobQueue:
    """FIFO of tickets; one worker thread runs them one at a time on the model."""

    def __init__(self, runtime: Runtime, defaults: dict):
        self.runtime = runtime
        # each job's frames follow the loaded model's family (its sampling rule for the job's task)
        self.defaults = {**defaults, "family": defaults.get("family") or runtime.family.name}
        self.waiting: deque[Ticket] = deque()
        self.running: Ticket | None = None
        self.closing = False
        self.done = 0
        self.lock = threading.Condition()
        self.worker = threading.Thread(target=self._work, name="vcr-serve-worker", daemon=True)
        self.worker.start()

    def __len__(self) -> int:
        with self.lock:
            return len(self.waiting)

    def submit(self, ticket: Ticket) -> None:
        with self.lock:
            if self.closing:
                raise Refused(503, "the server is shutting down")
            self.waiting.append(ticket)
            self._positions()
            self.lock.notify()

    def cancel(self, ticket: Ticket) -> None:
        """The caller left: a waiting job is dropped (a running one finishes; nobody reads its result)."""
        with self.lock:
            if ticket in self.waiting:
                self.waiting.remove(ticket)
                ticket.discard()
                self._positions()

    def close(self) -> None:
        """Shutting down: waiting callers are told at once; the running job finishes."""
        with self.lock:
            self.closing = True
            while self.waiting:
                ticket = self.waiting.popleft()
                ticket.discard()
                ticket.post(error_event(503, "the server is shutting down; your job did not run"))
            self.lock.notify_all()

    def _positions(self) -> None:
        """Tell each waiting caller whose place in the queue changed."""
        for ahead, ticket in enumerate(self.waiting, start=1 if self.running is not None else 0):
            if ticket.ahead != ahead:
                ticket.ahead = ahead
                ticket.post({"event": "queued", "ahead": ahead})

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.waiting and not self.closing:
                    self.lock.wait()
                if not self.waiting:
                    return
                ticket = self.running = self.waiting.popleft()
                self._positions()
            ticket.post({"event": "started"})
            try:
                final = self.run(ticket)
            finally:
                ticket.discard()
                with self.lock:
                    self.running = None
                    self.done += 1
            ticket.post(final)

    def run(self, ticket: Ticket) -> dict:
        """The job through batch's one inference path; its error as the CLI's one line with an HTTP status."""
        from vcr_cli.batch import _error_text, _free_accelerator_memory, prepare_job, run_job
        from vcr_cli.results import add_peak_gpu_memory

        def progress(first, total=None) -> None:
            if isinstance(first, str):
                ticket.post({"event": "progress", "message": first})
            else:
                ticket.post({"event": "progress", "done": first, "total": total})

        try:
            _reset_peak_memory(self.runtime)
            prepared = prepare_job(ticket.job, self.defaults)
            result = run_job(self.runtime, ticket.job, prepared, self.defaults, progress=progress)
            add_peak_gpu_memory(result, self.runtime)
            if ticket.shown_path is not None:
                result["video"]["path"] = ticket.shown_path
            return {"event": "result", "result": result}
        except VcrError as exc:
            return error_event(400 if exc.exit_code == 2 else 500, str(exc))
        except Exception as exc:  # out of memory, a library failure: reported, and the server goes on
            _free_accelerator_memory()
            return error_event(500, _error_text(exc))


def _reset_peak_memory(runtime: Runtime) -> None:
    """`peak_gpu_memory_gb` of a result is that job's, not the server's lifetime high-water mark."""
    if runtime.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


# ---------------------------------------------------------------- requests


def host_name(host_header: str) -> str:
    """`127.0.0.1:8000` -> 127.0.0.1, `[::1]:8000` -> ::1."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware: Host and Origin checks (DNS rebinding, other web pages), then the token."""

    def __init__(self, app, settings: ServeSettings):
        self.app = app
        self.settings = settings
        self.names = None if settings.host in WILDCARD_HOSTS else LOOPBACK_NAMES | {settings.host}

    def problem(self, path: str, headers: dict[str, str]) -> Refused | None:
        host = headers.get("host", "")
        if self.names is not None and host_name(host) not in self.names:
            return Refused(403, f"Host {host!r} is not a name of this server (a DNS-rebinding page?); "
                                f"use http://{self.settings.host}:{self.settings.port}")
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return Refused(403, f"requests from web pages of other origins ({origin}) are refused")
        # a page elsewhere can load a URL without an Origin (<img>, <video>); browsers say where it came from
        if path != "/" and headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return Refused(403, "requests from web pages of other origins are refused")
        token = self.settings.token
        if token and path != "/":
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return Refused(401, "missing or wrong token: send the header Authorization: Bearer TOKEN "
                                    "(the CLI sends $VCR_TOKEN)")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            refused = self.problem(scope["path"], headers)
            if refused is not None:
                from fastapi.responses import JSONResponse

                await JSONResponse({"error": str(refused)}, status_code=refused.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _wants_stream(request) -> bool:
    return NDJSON in request.headers.get("accept", "") or request.query_params.get("stream") in ("1", "true")


def _body_limit(request, limit: int, what: str) -> None:
    length = request.headers.get("content-length")
    if length is None:
        raise Refused(411, f"send a Content-Length with the {what}")
    if int(length) > limit:
        raise Refused(413, f"the {what} is {_size(int(length))}; this server takes at most {_size(limit)} "
                           "(vcr serve --max-upload-mb)")


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 2**10:.0f} KB"


def _parse_json(text: str | bytes, what: str) -> dict:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(400, f"the {what} is not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict):
        raise Refused(400, f'the {what} must be a JSON object like {{"video": PATH, "query": ...}}')
    return data


async def _read_job(request, task: str, settings: ServeSettings) -> tuple[dict, Path | None, str | None]:
    """(manifest-line spec, uploaded copy or None, the upload's name or None) of a JSON or multipart request."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload = name = None
    if kind == "multipart/form-data":
        _body_limit(request, settings.max_upload_bytes + FORM_OVERHEAD, "upload")
        form = await request.form(max_files=1, max_fields=4)
        try:
            body = _parse_json(form.get("job") or "{}", '"job" field')
            file = form.get("video")
            if file is None or isinstance(file, str):
                raise Refused(400, 'a multipart request needs a "video" file (and a "job" field of JSON)')
            if "video" in body:
                raise Refused(400, 'give either a "video" path or an uploaded video file, not both')
            _check_task(body, task)
            name = Path(file.filename or "upload.mp4").name
            suffix = "".join(c for c in Path(name).suffix if c.isalnum() or c == ".")[:10]
            upload = settings.upload_dir / f"vcr-upload-{uuid.uuid4().hex}{suffix}"
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(_copy_upload, file.file, upload)
        finally:
            await form.close()
        body["video"] = str(upload)
    elif kind in ("application/json", ""):
        _body_limit(request, MAX_JSON_BYTES, "request body")
        body = _parse_json(await request.body(), "request body")
    else:
        raise Refused(415, f"send JSON (application/json) or a multipart upload, not {kind}")
    _check_task(body, task)
    return {"task": task, **body}, upload, name


def _check_task(body: dict, task: str) -> None:
    if body.get("task", task) != task:
        raise Refused(400, f'this is /v1/{task}; "task" says {body["task"]!r}')


def _copy_upload(source, dest: Path) -> None:
    with open(dest, "wb") as out:
        shutil.copyfileobj(source, out, 2**20)


def make_job(spec: dict, settings: ServeSettings, uploaded: bool):
    """A batch Job from a request's spec: paths inside the roots (relative ones from the first root), then the
    manifest's validation (its one-line message, naming the request)."""
    from vcr_cli.batch import job_of_spec

    base = settings.roots[0]
    for key in ("video", "questions_file"):  # read by validation or the job: checked before anything opens them
        value = spec.get(key)
        if isinstance(value, str) and value.strip() and not (uploaded and key == "video"):
            spec[key] = str(inside_roots(base / Path(value).expanduser(), settings.roots))
    try:
        return job_of_spec(spec, "request", base)
    except UsageError as exc:
        raise Refused(400, str(exc)) from None


def create_app(runtime: Runtime, settings: ServeSettings, jobs: JobQueue | None = None):
    """The FastAPI app: the API, the page, the guard. `jobs` is created here unless given (tests share one)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    from vcr_cli import __version__
    from vcr_cli.batch import batch_defaults

    jobs = jobs if jobs is not None else JobQueue(runtime, batch_defaults(None))
    app = FastAPI(title="vcr serve", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.jobs = jobs

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.get("/v1/health")
    async def health():
        with jobs.lock:
            queued, running = len(jobs.waiting), jobs.running is not None
        return {"status": "ok", "vcr_version": __version__, "model": runtime.model_id,
                "family": runtime.family.name, "model_type": runtime.model.config.model_type,
                "device": runtime.device, "quant": runtime.quant,
                "runtime": runtime.describe(), "queue": queued, "running": running, "done": jobs.done,
                "max_upload_bytes": settings.max_upload_bytes}

    async def run_task(task: str, request: Request):
        spec, upload, name = await _read_job(request, task, settings)
        try:
            job = make_job(spec, settings, upload is not None)
            from vcr_cli.video import probe

            await run_in_threadpool(probe, job.video)  # a bad video fails now, not after the queue
        except BaseException as exc:
            if upload is not None:
                upload.unlink(missing_ok=True)
            if isinstance(exc, VcrError):
                raise Refused(400 if exc.exit_code == 2 else 500, str(exc)) from None
            raise
        ticket = Ticket(job, asyncio.get_running_loop(), upload, name)
        jobs.submit(ticket)
        if _wants_stream(request):
            return StreamingResponse(_stream(ticket, jobs), media_type=NDJSON)
        final = await _wait(ticket, jobs, request)
        if final is None:  # the caller left
            return JSONResponse({"error": "caller disconnected"}, status_code=499)
        if final["event"] == "result":
            return JSONResponse(final["result"])
        return JSONResponse({"error": final["error"]}, status_code=final["status"])

    for name in TASKS:
        app.add_api_route(f"/v1/{name}", _bind(run_task, name), methods=["POST"], name=name)

    @app.get("/v1/videos")
    async def videos():
        return {"roots": [str(r) for r in settings.roots], "videos": await run_in_threadpool(list_videos,
                                                                                             settings.roots)}

    @app.get("/v1/video")
    async def video(path: str):
        real = inside_roots(Path(path), settings.roots)
        if not real.is_file():
            raise Refused(404, f"no video file at {path}")
        return FileResponse(real)

    async def view(request: Request):
        from vcr_cli.viewer import render_page

        _body_limit(request, MAX_JSON_BYTES * 4, "result")
        body = _parse_json(await request.body(), "request body")
        result = body.get("result")
        if not isinstance(result, dict) or result.get("task") not in TASKS:
            raise Refused(400, 'send {"result": a vcr result, "video_src": the URL the page plays}')
        return HTMLResponse(render_page(result, str(body.get("video_src") or "")))

    view.__annotations__ = {"request": Request}  # FastAPI reads it; this module's annotations are strings
    app.add_api_route("/v1/view", view, methods=["POST"])

    @app.get("/")
    async def page():
        from vcr_cli.serve_page import PAGE

        return HTMLResponse(PAGE)

    return Guard(app, settings)


def _bind(handler: Callable, task: str) -> Callable:
    from fastapi import Request

    async def endpoint(request: Request):
        return await handler(task, request)

    endpoint.__name__ = f"post_{task}"
    endpoint.__annotations__ = {"request": Request}  # FastAPI reads it; this module's annotations are strings
    return endpoint


async def _wait(ticket: Ticket, jobs: JobQueue, request) -> dict | None:
    """The job's final event, or None if the caller disconnected first (its waiting job is dropped)."""
    try:
        while True:
            try:
                event = await asyncio.wait_for(ticket.events.get(), 0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    return None
                continue
            if event["event"] in ("result", "error"):
                ticket.finished = True
                return event
    finally:
        if not ticket.finished:
            jobs.cancel(ticket)


async def _stream(ticket: Ticket, jobs: JobQueue):
    """NDJSON: queued / started / progress lines, then one result or error line. A caller that disconnects
    cancels this generator (Starlette listens for it): its waiting job is dropped."""
    try:
        while True:
            event = await ticket.events.get()
            yield json.dumps(event, ensure_ascii=False) + "\n"
            if event["event"] in ("result", "error"):
                ticket.finished = True
                return
    finally:
        if not ticket.finished:
            jobs.cancel(ticket)


def list_videos(roots: list[Path]) -> list[dict]:
    """Video files under the roots (hidden ones and links out of the roots skipped; at most MAX_LISTED), for
    the page's picker."""
    import os

    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(folder) / name
                if name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                try:
                    inside_roots(path, roots)  # a link out of the roots could not be used
                except Refused:
                    continue
                if len(found) >= MAX_LISTED:
                    return found
                found.append({"path": str(path), "name": str(path.relative_to(root)), "root": str(root),
                              "bytes": path.stat().st_size if path.is_file() else 0})
    return found


def serve(runtime: Runtime, settings: ServeSettings, on_ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM / Ctrl-C: waiting callers get 503 at once, the running job finishes, then exit."""
    _, uvicorn = import_server()
    app = create_app(runtime, settings)
    jobs: JobQueue = app.app.state.jobs

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            jobs.close()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=None, lifespan="off")
    server = Server(config)
    if on_ready is not None:
        _notify_when_started(server, on_ready)
    with _stop_is_a_clean_exit():
        server.run()
    jobs.close()


@contextlib.contextmanager
def _stop_is_a_clean_exit():
    """uvicorn handles SIGTERM / Ctrl-C while it runs, then raises the signal again for the previous handler
    (vcr's turns SIGTERM into exit 143): a stop asked for and carried out is a normal exit instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _notify_when_started(server, on_ready: Callable[[], None]) -> None:
    def wait() -> None:
        import time

        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            on_ready()

    threading.Thread(target=wait, daemon=True).start()
