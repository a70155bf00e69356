"""Public annotation formats (VideoChat-R1 reference §5) to the `vcr rft` JSONL lines.

- ``charades`` (also ActivityNet-Captions, same shape): ``{vid: {duration, timestamps, sentences}}`` → one
  ground line per sentence, video ``<video-root>/<vid>.mp4``.
- ``nextgqa``: ``[{video, question, options, glue, answer: "(C)"}]`` → qa lines, answer letter ``C``,
  evidence = glue, video ``<video-root>/<video>``.
- ``got10k``: ``[{path, object, gt: 8 boxes}]`` → track lines whose video is the folder of frames
  ``<video-root>/<path>``, boxes = gt.

Values are copied as they are; `vcr rft validate` checks them afterwards.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from vcr_cli.errors import UsageError
from vcr_cli.files import read_user_text

KINDS = ("charades", "nextgqa", "got10k")


def _join(root: str | None, name: str) -> str:
    if not root or posixpath.isabs(name) or Path(name).is_absolute():
        return name
    return posixpath.join(root.replace("\\", "/"), name)


def _load(src: Path) -> Any:
    text = read_user_text(src, "annotation file", "the annotation JSON file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Also accept JSON Lines (one entry a line), as some copies of these files are.
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise UsageError(f"{src} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _entry_error(src: Path, where: str, message: str) -> UsageError:
    return UsageError(f"{src}: entry {where}: {message}")


def _charades(data: Any, src: Path, root: str | None) -> list[dict]:
    if not isinstance(data, dict):
        raise UsageError(f"{src}: expected a JSON object mapping video ids to {{duration, timestamps, sentences}} "
                         f"(Charades-STA), got a {type(data).__name__}")
    lines = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or "timestamps" not in entry or "sentences" not in entry:
            raise _entry_error(src, json.dumps(vid), "needs \"timestamps\" and \"sentences\"")
        timestamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(timestamps, list) or not isinstance(sentences, list) or len(timestamps) != len(sentences):
            raise _entry_error(src, json.dumps(vid), "\"timestamps\" and \"sentences\" must be lists of equal length")
        for span, sentence in zip(timestamps, sentences):
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise _entry_error(src, json.dumps(vid), f"timestamp {json.dumps(span)} is not [start, end]")
            lines.append({"task": "ground", "video": _join(root, f"{vid}.mp4"), "query": str(sentence).strip(),
                          "solution": {"start": span[0], "end": span[1]}})
    return lines


def _as_list(data: Any, src: Path, what: str) -> list:
    if not isinstance(data, list):
        raise UsageError(f"{src}: expected a JSON list of {what}, got a {type(data).__name__}")
    return data


def _require(entry: Any, src: Path, index: int, keys: tuple[str, ...]) -> dict:
    if not isinstance(entry, dict):
        raise _entry_error(src, str(index), "is not an object")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise _entry_error(src, str(index), "missing " + ", ".join(f'"{key}"' for key in missing))
    return entry


def _letter(answer: Any) -> Any:
    if isinstance(answer, str):
        stripped = answer.strip()
        if len(stripped) == 3 and stripped[0] == "(" and stripped[2] == ")":
            return stripped[1]
        return stripped
    return answer


def _nextgqa(data: Any, src: Path, root: str | None) -> list[dict]:
    lines = []
    for i, entry in enumerate(_as_list(data, src, "{video, question, options, glue, answer} (NExT-GQA)")):
        entry = _require(entry, src, i, ("video", "question", "options", "answer"))
        solution: dict = {"answer": _letter(entry["answer"])}
        if entry.get("glue") is not None:
            solution["evidence"] = entry["glue"]
        lines.append({"task": "qa", "video": _join(root, str(entry["video"])), "question": entry["question"],
                      "options": entry["options"], "solution": solution})
    return lines


def _got10k(data: Any, src: Path, root: str | None) -> list[dict]:
    lines = []
    for i, entry in enumerate(_as_list(data, src, "{path, object, gt} (GOT-10k)")):
        entry = _require(entry, src, i, ("path", "object", "gt"))
        lines.append({"task": "track", "video": _join(root, str(entry["path"])), "object": entry["object"],
                      "solution": {"boxes": entry["gt"]}})
    return lines


_CONVERTERS = {"charades": _charades, "nextgqa": _nextgqa, "got10k": _got10k}


def convert(kind: str, src: str | Path, video_root: str | Path | None = None) -> list[dict]:
    """Lines (dicts) of the `vcr rft` format from a public annotation file of `kind` (charades|nextgqa|got10k).

    `video_root` is prefixed to each video path as given (written into the lines; the data format reads
    relative paths from the JSONL file's folder).
    """
    if kind not in _CONVERTERS:
        raise UsageError(f"unknown format {kind!r}: use one of {', '.join(KINDS)}")
    src = Path(src)
    root = str(video_root) if video_root is not None and str(video_root) != "" else None
    return _CONVERTERS[kind](_load(src), src, root)


def to_jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
