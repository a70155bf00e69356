"""Public annotation formats, as released, to the `vcr rft` JSONL lines (VideoChat-R1 reference §5).

Each ``--from`` kind reads the official release and VideoChat-R1's JSON copy of it:

- ``charades``: Charades-STA text (``charades_sta_train.txt``: ``VIDEO START END##sentence`` a line), or the JSON
  ``{vid: {duration, timestamps, sentences}}`` → one ground line per sentence, video ``<video-root>/<vid>.mp4``.
- ``activitynet``: ActivityNet Captions JSON (``train.json``, ``val_1.json``; same shape as the Charades JSON, ids
  like ``v_QOlSCBRmfWY``) → ground lines, video ``<video-root>/<vid>.mp4``.
- ``timelens``: TimeLens-Bench JSON (``charades-timelens.json``, ``activitynet-timelens.json``,
  ``qvhighlights-timelens.json``: ``{vid: {duration, spans, queries}}``, ``spans[i]`` the GT of ``queries[i]``)
  → one ground line per span/query pair, video ``<video-root>/<vid>.mp4``.
- ``nextgqa``: NExT-GQA CSV (``val.csv``: ``video_id,...,question,answer,qid,type,a0..a4``) with, from the same
  folder, ``gsub_<split>.json`` (evidence spans per qid) and ``map_vid_vidorID.json`` (video folders); or the JSON
  ``[{video, question, options, glue, answer: "(C)"}]`` → qa lines (answer letter, evidence = the spans).
- ``got10k``: GOT-10k folders (a split folder of sequences, or one sequence: frames, ``groundtruth.txt`` with
  ``x,y,w,h`` pixels a frame, ``meta_info.ini`` with ``object_class``), or the JSON ``[{path, object, gt: 8 boxes}]``
  → track lines whose video is the sequence's frame folder.

For a local video folder, a Charades/ActivityNet/TimeLens id is matched to the file present (``.mp4``, ``.mkv``,
``.webm``, ...). Values are copied as they are; `vcr rft validate` checks them afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from vcr_cli.errors import UsageError
from vcr_cli.files import read_user_text

KINDS = ("charades", "activitynet", "timelens", "nextgqa", "got10k")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
_CHARADES_LINE = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s*##(.*)$")


def _join(root: str | None, name: str) -> str:
    if not root or posixpath.isabs(name) or Path(name).is_absolute():
        return name
    return posixpath.join(root.replace("\\", "/"), name)


def _parse_json(text: str, src: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Also accept JSON Lines (one entry a line), as some copies of these files are.
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise UsageError(f"{src} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _load(src: Path) -> Any:
    return _parse_json(read_user_text(src, "annotation file", "the annotation JSON file"), src)


def _entry_error(src: Path, where: str, message: str) -> UsageError:
    return UsageError(f"{src}: entry {where}: {message}")


def _video_file(video_dir: Path | None, vid: str) -> str:
    """`vid`'s file name: the one present in a local `video_dir` (any usual suffix, also without ``v_``), else .mp4."""
    if video_dir is not None and video_dir.is_dir():
        for stem in (vid, vid[2:] if vid.startswith("v_") else None):
            for suffix in VIDEO_SUFFIXES if stem else ():
                if (video_dir / f"{stem}{suffix}").is_file():
                    return f"{stem}{suffix}"
    return f"{vid}.mp4"


def _captions(data: Any, src: Path, root: str | None, video_dir: Path | None, name: str) -> list[dict]:
    if not isinstance(data, dict):
        raise UsageError(f"{src}: expected a JSON object mapping video ids to {{duration, timestamps, sentences}} "
                         f"({name}), got a {type(data).__name__}")
    lines = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or "timestamps" not in entry or "sentences" not in entry:
            raise _entry_error(src, json.dumps(vid), "needs \"timestamps\" and \"sentences\"")
        timestamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(timestamps, list) or not isinstance(sentences, list) or len(timestamps) != len(sentences):
            raise _entry_error(src, json.dumps(vid), "\"timestamps\" and \"sentences\" must be lists of equal length")
        video = _join(root, _video_file(video_dir, str(vid)))
        for span, sentence in zip(timestamps, sentences):
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise _entry_error(src, json.dumps(vid), f"timestamp {json.dumps(span)} is not [start, end]")
            lines.append({"task": "ground", "video": video, "query": str(sentence).strip(),
                          "solution": {"start": span[0], "end": span[1]}})
    return lines


def _charades_text(text: str, src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    """Charades-STA as released: ``AO8RW 0.0 6.9##a person is putting a book on a shelf.`` a line."""
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _CHARADES_LINE.match(line)
        try:
            start, end = (float(m.group(2)), float(m.group(3))) if m else (None, None)
        except ValueError:
            m = None
        if m is None or not m.group(4).strip():
            raise UsageError(f"{src}:{number}: expected `VIDEO START END##sentence` (Charades-STA text), "
                             f"got {line.strip()[:80]!r}")
        lines.append({"task": "ground", "video": _join(root, _video_file(video_dir, m.group(1))),
                      "query": m.group(4).strip(), "solution": {"start": start, "end": end}})
    return lines


def _charades(src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    text = read_user_text(src, "annotation file", "the annotation file")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "##" in first and not first.lstrip().startswith(("{", "[")):
        return _charades_text(text, src, root, video_dir)
    return _captions(_parse_json(text, src), src, root, video_dir, "Charades-STA")


def _activitynet(src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    return _captions(_load(src), src, root, video_dir, "ActivityNet Captions")


def _timelens(src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    """TimeLens-Bench (model-families.md §2): each (span, query) pair of a video is one sample with that one span."""
    data = _load(src)
    if not isinstance(data, dict):
        raise UsageError(f"{src}: expected a JSON object mapping video ids to {{duration, spans, queries}} "
                         f"(TimeLens-Bench), got a {type(data).__name__}")
    lines = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or "spans" not in entry or "queries" not in entry:
            raise _entry_error(src, json.dumps(vid), "needs \"spans\" and \"queries\"")
        spans, queries = entry["spans"], entry["queries"]
        if not isinstance(spans, list) or not isinstance(queries, list) or len(spans) != len(queries):
            raise _entry_error(src, json.dumps(vid), "\"spans\" and \"queries\" must be lists of equal length")
        video = _join(root, _video_file(video_dir, str(vid)))
        for span, query in zip(spans, queries):
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise _entry_error(src, json.dumps(vid), f"span {json.dumps(span)} is not [start, end]")
            lines.append({"task": "ground", "video": video, "query": str(query).strip(),
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


def _nextgqa_json(data: Any, src: Path, root: str | None) -> list[dict]:
    lines = []
    for i, entry in enumerate(_as_list(data, src, "{video, question, options, glue, answer} (NExT-GQA)")):
        entry = _require(entry, src, i, ("video", "question", "options", "answer"))
        solution: dict = {"answer": _letter(entry["answer"])}
        if entry.get("glue") is not None:
            solution["evidence"] = entry["glue"]
        lines.append({"task": "qa", "video": _join(root, str(entry["video"])), "question": entry["question"],
                      "options": entry["options"], "solution": solution})
    return lines


NEXTGQA_COLUMNS = ("video_id", "question", "answer", "qid", "a0", "a1", "a2", "a3", "a4")


def _side_file(src: Path, name: str) -> Any | None:
    path = src.parent / name
    return _load(path) if path.is_file() else None


def _nextgqa_csv(text: str, src: Path, root: str | None) -> list[dict]:
    """NExT-GQA as released: ``val.csv`` plus ``gsub_val.json`` (spans) and ``map_vid_vidorID.json`` beside it."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in NEXTGQA_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"{src}: not a NExT-GQA CSV: no column {', '.join(missing)} "
                         f"(expected {','.join(NEXTGQA_COLUMNS)} among its columns)")
    spans = _side_file(src, f"gsub_{src.stem}.json") or {}
    videos = _side_file(src, "map_vid_vidorID.json") or {}
    lines = []
    for number, row in enumerate(reader, 2):
        options = [row[f"a{i}"].strip() for i in range(5)]
        answer = row["answer"].strip()
        if answer.isdigit() and int(answer) < len(options):
            letter = "ABCDE"[int(answer)]
        else:
            found = [i for i, option in enumerate(options) if option.lower() == answer.lower()]
            if not found:
                raise UsageError(f"{src}:{number}: answer {answer!r} is none of the options a0-a4")
            letter = "ABCDE"[found[0]]
        vid = row["video_id"].strip()
        solution: dict = {"answer": letter}
        location = (spans.get(vid) or {}).get("location") or {}
        if row["qid"].strip() in location:
            solution["evidence"] = location[row["qid"].strip()]
        lines.append({"task": "qa", "video": _join(root, f"{videos.get(vid, vid)}.mp4"),
                      "question": row["question"].strip(), "options": options, "solution": solution})
    return lines


def _nextgqa(src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    text = read_user_text(src, "annotation file", "the annotation file")
    if text.lstrip().startswith(("[", "{")):
        return _nextgqa_json(_parse_json(text, src), src, root)
    return _nextgqa_csv(text, src, root)


def _got10k_json(data: Any, src: Path, root: str | None) -> list[dict]:
    lines = []
    for i, entry in enumerate(_as_list(data, src, "{path, object, gt} (GOT-10k)")):
        entry = _require(entry, src, i, ("path", "object", "gt"))
        lines.append({"task": "track", "video": _join(root, str(entry["path"])), "object": entry["object"],
                      "solution": {"boxes": entry["gt"]}})
    return lines


def _object_class(sequence: Path) -> str | None:
    meta = sequence / "meta_info.ini"
    if meta.is_file():
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "object_class" and value.strip():
                return value.strip()
    return None


def got10k_boxes(sequence: Path) -> list[list[float]]:
    """The 8 boxes of a GOT-10k sequence: ``groundtruth.txt`` at the paper's 7 tracking frames, laid out as in
    VideoChat-R1's data: the start box, then one box per fed frame (`sampling.BOX_FRAME`, the table `vcr track`
    reads answers by).

    The model sees those 7 frames (first, int(i*(n-1)/6) for i=1..5, last); boxes are ``[x0, y0, x1, y1]``
    normalised by the frame size, 3 decimals.
    """
    from PIL import Image

    from vcr_cli.sampling import BOX_FRAME, tracking_frame_indices
    from vcr_cli.video import IMAGE_SUFFIXES

    frames = sorted(p for p in sequence.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    rows = [line for line in (sequence / "groundtruth.txt").read_text().splitlines() if line.strip()]
    where = f"{sequence / 'groundtruth.txt'}"
    if not frames:
        raise UsageError(f"{sequence}: no frames (jpg/png) next to groundtruth.txt")
    if len(rows) != len(frames):
        extra = " (GOT-10k test sequences give only the first box: use train or val)" if len(rows) == 1 else ""
        raise UsageError(f"{where}: {len(rows)} boxes for {len(frames)} frames{extra}")
    with Image.open(frames[0]) as image:
        width, height = image.size
    boxes = []
    fed = tracking_frame_indices(len(frames))
    for index in (fed[k] for k in BOX_FRAME):
        try:
            x, y, w, h = (float(v) for v in rows[index].replace(",", " ").split())
        except ValueError:
            raise UsageError(f"{where}:{index + 1}: expected `x,y,w,h` in pixels, got {rows[index]!r}") from None
        box = [x / width, y / height, (x + w) / width, (y + h) / height]
        boxes.append([round(min(max(v, 0.0), 1.0), 3) for v in box])
    return boxes


def got10k_sequences(folder: Path) -> list[Path]:
    """A sequence folder itself, or a split folder's sequences (in ``list.txt`` order when it has one)."""
    if (folder / "groundtruth.txt").is_file():
        return [folder]
    listing = folder / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        return [folder / name for name in names]
    found = sorted(p for p in folder.iterdir() if (p / "groundtruth.txt").is_file())
    if not found:
        raise UsageError(f"{folder} holds no GOT-10k sequence (a folder with groundtruth.txt) and no list.txt")
    return found


def got10k_default_root(folder: Path) -> Path:
    """Where a GOT-10k folder's sequences are: the folder itself (a split) or its parent (one sequence)."""
    return folder.parent if (folder / "groundtruth.txt").is_file() else folder


def _got10k(src: Path, root: str | None, video_dir: Path | None) -> list[dict]:
    if not src.is_dir():
        return _got10k_json(_load(src), src, root)
    lines = []
    for sequence in got10k_sequences(src):
        if not sequence.is_dir():
            raise UsageError(f"{sequence}: listed in {src / 'list.txt'} but not a folder")
        name = _object_class(sequence)
        if name is None:
            raise UsageError(f"{sequence}: no object_class in meta_info.ini (the object's name for the prompt)")
        lines.append({"task": "track", "video": _join(root, sequence.name), "object": name,
                      "solution": {"boxes": got10k_boxes(sequence)}})
    return lines


_CONVERTERS = {"charades": _charades, "activitynet": _activitynet, "timelens": _timelens, "nextgqa": _nextgqa,
               "got10k": _got10k}


def convert(kind: str, src: str | Path, video_root: str | Path | None = None,
            video_dir: str | Path | None = None) -> list[dict]:
    """Lines (dicts) of the `vcr rft` format from a public annotation file (or GOT-10k folder) of `kind`.

    `video_root` is prefixed to each video path as given (written into the lines; the data format reads
    relative paths from the JSONL file's folder). `video_dir`, the same folder as seen from here, is where
    Charades/ActivityNet/TimeLens ids are matched to the files present.
    """
    if kind not in _CONVERTERS:
        raise UsageError(f"unknown format {kind!r}: use one of {', '.join(KINDS)}")
    src = Path(src)
    if not src.exists():
        raise UsageError(f"annotation file not found: {src}")
    if src.is_dir() and kind != "got10k":
        raise UsageError(f"annotation file {src} is a directory; give the annotation file (only got10k reads folders)")
    root = str(video_root) if video_root is not None and str(video_root) != "" else None
    return _CONVERTERS[kind](src, root, Path(video_dir) if video_dir is not None else None)


def to_jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
