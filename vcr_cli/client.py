"""The caller's side of `vcr serve`: send a job, follow its progress, get the result the server's model gave.

`vcr ground|track|ask|batch --server URL` (or $VCR_SERVER) come here instead of loading a model; the commands
then write every output (-o, --annotate, --srt, ...) themselves, as after a local run. Standard library only
(http.client): this path never imports torch or transformers, so a warm call costs a short process plus the
model's own time. A server on this machine (a loopback URL) is sent the video's path; any other is sent the
file itself (a multipart upload). $VCR_TOKEN is sent as the bearer token.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vcr_cli.errors import UsageError, VcrError

if TYPE_CHECKING:
    from vcr_cli.batch import BatchSummary, Job
    from vcr_cli.questions import Question
    from vcr_cli.video import VideoInfo

SERVER_ENV = "VCR_SERVER"
TOKEN_ENV = "VCR_TOKEN"
NDJSON = "application/x-ndjson"
CHUNK = 2**20


class ServerError(VcrError):
    """The server ran the job and it failed there (exit 1), or refused it (a UsageError subclass below)."""


class ServerRefused(ServerError, UsageError):
    """The server refused the request (4xx): the request's fault, exit 2."""

    exit_code = 2


class ServerUnreachable(VcrError):
    """No server answered at the URL (exit 1)."""


def _refusal(status: int, message: str) -> ServerError:
    if status == 401:
        message += f" (set ${TOKEN_ENV} to the token vcr serve was started with)"
    return ServerRefused(message) if 400 <= status < 500 else ServerError(message)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


class Server:
    """One vcr serve at `url` (http://HOST:PORT)."""

    def __init__(self, url: str, token: str | None = None):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--server {url!r} is not a server URL; give one like http://127.0.0.1:8000")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.local = is_loopback(self.host)

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port)

    def _headers(self, extra: dict) -> dict:
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, method: str, path: str, body=None, headers: dict | None = None) -> http.client.HTTPResponse:
        """The response (its status and headers read); ServerUnreachable when nothing answers."""
        connection = self._connect()
        try:
            connection.putrequest(method, path)
            for key, value in self._headers(headers or {}).items():
                connection.putheader(key, value)
            if body is None:
                connection.endheaders()
            elif isinstance(body, bytes):
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
            else:  # (length, chunks): an upload streamed from disk
                length, chunks = body
                connection.putheader("Content-Length", str(length))
                connection.endheaders()
                for chunk in chunks:
                    connection.send(chunk)
            return connection.getresponse()
        except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as exc:
            connection.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ServerUnreachable(f"cannot reach a vcr server at {self.url} ({reason}); start one with "
                                    f"`vcr serve`, or drop --server / ${SERVER_ENV}") from None

    def health(self) -> dict:
        response = self._send("GET", "/v1/health")
        data = _json(response)
        if response.status != 200:
            raise _refusal(response.status, data.get("error") or f"HTTP {response.status}")
        return data

    def run(self, task: str, spec: dict, video: Path | None = None,
            on_event: Callable[[dict], None] | None = None) -> dict:
        """Run one job (a manifest line's keys, without "task") and return its result.

        `video`: sent as a path to a server on this machine, uploaded to any other. `on_event` sees the
        queued / started / progress events as they come."""
        spec = dict(spec)
        headers = {"Accept": NDJSON}
        if video is not None and self.local:
            spec["video"] = str(Path(video).absolute())
        if video is not None and not self.local:
            spec.pop("video", None)
            boundary = uuid.uuid4().hex
            head, tail = _multipart(boundary, spec, Path(video).name)
            size = Path(video).stat().st_size
            body: Any = (len(head) + size + len(tail), [head, *_file_chunks(video), tail])
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = json.dumps(spec, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        response = self._send("POST", f"/v1/{task}", body, headers)
        if response.status != 200:
            data = _json(response)
            raise _refusal(response.status, data.get("error") or f"HTTP {response.status}")
        while True:
            line = response.readline()
            if not line:
                raise ServerError(f"the server at {self.url} closed the connection before the result")
            if not line.strip():
                continue
            event = json.loads(line)
            if event["event"] == "result":
                response.close()
                return event["result"]
            if event["event"] == "error":
                response.close()
                raise _refusal(event["status"], event["error"])
            if on_event is not None:
                on_event(event)


def _json(response: http.client.HTTPResponse) -> dict:
    raw = response.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"error": raw.decode("utf-8", "replace").strip()[:300]}


def _multipart(boundary: str, spec: dict, filename: str) -> tuple[bytes, bytes]:
    quoted = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="job"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(spec, ensure_ascii=False)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def _file_chunks(path: Path):
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def question_items(questions: list[Question]) -> list[dict]:
    """Questions as a manifest's "questions" list (read here, so the server needs no access to the file)."""
    items = []
    for q in questions:
        item: dict = {"question": q.question, "options": list(q.options)}
        if q.id is not None:
            item["id"] = q.id
        items.append(item)
    return items


class _Display:
    """The server's events on stderr: a spinner on a terminal (queue position, progress); otherwise one line
    when the job has to wait."""

    def __init__(self, url: str, progress: Callable | None):
        from vcr_cli.console import console

        self.console = console
        self.url = url
        self.progress = progress
        self.spinner = None
        self.told_queue = False

    def __enter__(self):
        if self.console.is_terminal and self.progress is None:
            self.spinner = self.console.status(f"Sending to {self.url}...")
            self.spinner.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.spinner is not None:
            self.spinner.stop()

    def event(self, event: dict) -> None:
        kind = event["event"]
        if kind == "queued" and event["ahead"] and not self.told_queue and self.spinner is None:
            self.console.print(f"{self.url}: waiting behind {event['ahead']} job(s)", markup=False)
            self.told_queue = True
        if kind == "progress" and self.progress is not None:
            if "message" in event:
                self.progress(event["message"])
            else:
                self.progress(event["done"], event["total"])
        if self.spinner is None:
            return
        if kind == "queued":
            self.spinner.update(f"{self.url}: queued, {event['ahead']} job(s) ahead" if event["ahead"]
                                else f"{self.url}: starting...")
        elif kind == "started":
            self.spinner.update(f"{self.url}: running...")
        elif kind == "progress":
            text = event.get("message") or f"window {event['done']}/{event['total']}"
            self.spinner.update(f"{self.url}: {text}")


def check_model(server: Server, model: str | None) -> None:
    """--model given with --server must name the server's model (the server loads one; it cannot switch)."""
    if model is None:
        return
    running = server.health()["model"]
    if running != model:
        raise UsageError(f"the server at {server.url} runs {running}, not {model}; drop --model, or start "
                         f"`vcr serve --model {model}`")


def run_remote(url: str, task: str, info: VideoInfo, spec: dict, model: str | None = None,
               progress: Callable | None = None) -> dict:
    """One `vcr ground|track|ask` job on the server: the result a local run gives, `video.path` as the user
    wrote it (the server read the same file by its absolute path, or an uploaded copy)."""
    server = Server(url)
    check_model(server, model)
    with _Display(server.url, progress) as display:
        result = server.run(task, spec, Path(info.path), display.event)
    result["video"]["path"] = info.path
    return result


def remote_spec(job: Job, defaults: dict) -> dict:
    """A manifest job as a request: the batch's command-line defaults filled in where the job leaves them
    (every key the manifest allows for its task, whatever it is), a questions file read here."""
    from vcr_cli.batch import COMMON_KEYS, TASK_KEYS, job_questions

    allowed = COMMON_KEYS | TASK_KEYS[job.task]
    spec = {k: v for k, v in job.spec.items() if k not in ("task", "id", "video")}
    for key, value in defaults.items():
        if key in allowed and value is not None and spec.get(key) is None:
            spec[key] = value
    if "questions_file" in spec:
        spec["questions"] = question_items(job_questions(job.spec, f"job {job.id}", job.base))
        del spec["questions_file"]
    return spec


def run_batch_remote(url: str, jobs: list[Job], results: str | Path, defaults: dict, resume: bool = False,
                     on_start: Callable[[int, int], None] | None = None,
                     on_job: Callable[[Job, dict], None] | None = None) -> BatchSummary:
    """`vcr batch --server`: the jobs one after another on the server, the results file written here line by
    line exactly as the local engine writes it. A job the server refuses or fails is recorded and the batch goes
    on; a server that stops answering stops the batch (finished lines stay; --resume continues)."""
    from vcr_cli.batch import count, job_line, start_batch
    from vcr_cli.video import probe

    started = time.perf_counter()
    server = Server(url)
    server.health()  # nothing is written before the server is known to answer
    todo, summary, writer = start_batch(jobs, results, resume)
    try:
        if on_start:
            on_start(len(todo), summary.skipped)
        for job in todo:
            t = time.perf_counter()
            record = job_line(job)
            try:
                info = probe(job.video)  # a missing or broken video fails here, with the local message
                result = server.run(job.task, remote_spec(job, defaults), Path(info.path))
                result["video"]["path"] = info.path
                record.update(status="ok", error=None, result=result)
            except ServerUnreachable:
                raise
            except VcrError as exc:
                record.update(status="error", error=str(exc), result=None)
            record["seconds"] = round(time.perf_counter() - t, 3)
            writer.write(record)
            count(summary, record)
            if on_job:
                on_job(job, record)
    finally:
        writer.close()
        summary.seconds = time.perf_counter() - started
    return summary
