"""`vcr view RESULT.json`: a self-contained HTML page to browse a result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def view(
    result: Annotated[Path, typer.Argument(help="A JSON result from vcr ground, track or ask.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False, show_default=False,
                                                   help="HTML page to write (default: the result's name with "
                                                        ".html: r.json -> r.html).")] = None,
    video: Annotated[Optional[Path], typer.Option("--video", dir_okay=False, show_default=False,
                                                  help="Play this file instead of the result's video "
                                                       "(e.g. an H.264 copy).")] = None,
    embed: Annotated[bool, typer.Option("--embed", help="Embed the video in the page (one file to share).")] = False,
) -> None:
    """Write an HTML page: the video, a clickable timeline, tracked boxes, answers with evidence.

    The result's relative video path is looked up from the current folder, then beside RESULT; the page links
    it relative to the page (a warning if it is nowhere).

    Example: vcr view result.json -o result.html
    """
    from vcr_cli.console import console, handle_errors, warn
    from vcr_cli.outputs.atomic import check_outputs, write_text_atomic
    from vcr_cli.viewer import find_video, load_result, render_page, video_source

    with handle_errors():
        data = load_result(result)
        page = output or result.with_suffix(".html")
        check_outputs(((page, "--output"),), inputs=(result, video))
        path, found = find_video(data, result, video)
        if not found and not embed:
            warn(f"video {path} not found (from here or beside {result}): the page will show no video; "
                 "pass --video PATH")
        write_text_atomic(page, render_page(data, video_source(data, page, video, embed, result_path=result)))
        console.print(f"saved {page}")
