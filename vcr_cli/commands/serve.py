"""`vcr serve`: load the model once and answer ground / track / ask requests over HTTP (and a page at /)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vcr_cli.options import Device, DeviceOpt, FamilyOpt, ModelOpt, Quant, QuantOpt

SAFETY = "Safety"


def serve(
    model: ModelOpt = None,
    family: FamilyOpt = None,
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
    host: Annotated[str, typer.Option("--host", rich_help_panel=SAFETY,
                                      help="Address to listen on. Anything but loopback (e.g. 0.0.0.0) needs "
                                           "--token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    root: Annotated[Optional[list[Path]], typer.Option(
        "--root", file_okay=False, show_default=False, rich_help_panel=SAFETY, metavar="DIR",
        help="A folder whose videos requests may name (repeat for more; default: the current folder). Paths "
             "outside, also through .. or a symlink, get 403. Relative paths in requests start at the first.")] = None,
    token: Annotated[Optional[str], typer.Option(
        "--token", envvar="VCR_TOKEN", show_default=False, rich_help_panel=SAFETY,
        help="A secret every request must send (Authorization: Bearer TOKEN; the CLI sends $VCR_TOKEN).")] = None,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, rich_help_panel=SAFETY,
                                               help="Largest uploaded video accepted.")] = 2048,
) -> None:
    """Keep the model loaded and answer requests: vcr ground/track/ask/batch --server, scripts, a browser.

    POST /v1/ground, /v1/track, /v1/ask take a `vcr batch` manifest line (without "task") as JSON, or a
    multipart upload (a "video" file and a "job" JSON field); GET /v1/health; GET / is a page to try it.
    One job runs at a time; the others wait in order. SIGTERM or Ctrl-C: waiting callers get 503, the running
    job finishes, then the server exits.

    Example: vcr serve --root ~/videos   then   vcr ground ~/videos/a.mp4 "door opens" --server http://127.0.0.1:8000
    """
    from vcr_cli.console import handle_errors

    with handle_errors():
        _run(model, quant.value, device.value, host, port, root or [Path.cwd()], token, max_upload_mb, family)


def _run(model, quant, device, host, port, roots, token, max_upload_mb, family=None) -> None:
    import tempfile

    from rich.markup import escape

    from vcr_cli.console import console, quiet_libraries, status
    from vcr_cli.runtime import load_runtime
    from vcr_cli.serve import ServeSettings, check_settings, import_server, serve

    import_server()
    resolved = check_settings(host, token, roots)
    quiet_libraries()
    with status(f"Loading {model or 'model'} ({quant})..."):
        runtime = load_runtime(model, quant=quant, device=device, family=family)
    quiet_libraries()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"

    def ready() -> None:
        console.print(f"vcr serve: {escape(url)} ({escape(runtime.model_id)}, {quant} on {runtime.device}, loaded in "
                      f"{runtime.load_seconds:.1f}s); videos under {escape(', '.join(map(str, resolved)))}; "
                      f"{'token required' if token else 'no token'}. Ctrl-C to stop.", soft_wrap=True)

    with tempfile.TemporaryDirectory(prefix="vcr-serve-") as uploads:
        settings = ServeSettings(roots=resolved, token=token, host=host, port=port,
                                 max_upload_bytes=max_upload_mb * 2**20, upload_dir=Path(uploads))
        serve(runtime, settings, on_ready=ready)
    console.print("vcr serve: stopped")
