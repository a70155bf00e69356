"""Parse model answers. Model text is untrusted: nothing here raises on any input string.

Two modes:
- *strict* mirrors VideoChat-R1's evaluation (and training-reward) parsing exactly, so metrics
  computed with it are comparable with the paper's;
- *lenient* is for users: it also accepts `1.5 - 3.2`, `[1.5, 3.2]`, `1.5s to 3.2s`, `mm:ss`,
  list-style evidence and a missing closing tag.
"""

from __future__ import annotations

import ast
import json
import re

_TIME_SPAN = re.compile(r"(\d+\.?\d*) (to|and) (\d+\.?\d*)")
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_CLOCK = r"(\d{1,2}:\d{1,2}(?::\d{1,2})?(?:\.\d+)?)"
_SPAN_SEPARATORS = r"\s*(?:s|sec|secs|seconds?)?\s*(?:to|and|until|till|through|-|–|—|~|,)\s*"
_LENIENT_SPAN = re.compile(
    rf"(?:{_CLOCK}|{_NUMBER}){_SPAN_SEPARATORS}(?:{_CLOCK}|{_NUMBER})", re.IGNORECASE
)
_GLUE_STRICT = re.compile(
    r"^\[(\(\d+(\.\d+)?,\s*\d+(\.\d+)?\)(,\s*\(\d+(\.\d+)?,\s*\d+(\.\d+)?\))*(,)?|)\]$"
)

# Format regexes of the training rewards (matched against text.strip() with fullmatch, DOTALL).
FORMAT_THINK_ANSWER = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
FORMAT_THINK_ANSWER_GLUE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>\s*<glue>.*?</glue>", re.DOTALL)
FORMAT_ANSWER_GLUE = re.compile(r"\s*<answer>.*?</answer>\s*<glue>.*?</glue>", re.DOTALL)
FORMAT_ANSWER = re.compile(r"\s*<answer>.*?</answer>", re.DOTALL)

_ANSWER_PREFIXES = [
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:Best option:",  # sic: the reference concatenates these two strings
]


def _safe(default):
    """Decorator: any exception inside a parser becomes `default` (model text is untrusted)."""

    def wrap(fn):
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception:
                return default

        inner.__name__ = fn.__name__
        inner.__doc__ = fn.__doc__
        return inner

    return wrap


# ---------------------------------------------------------------- tags


@_safe(None)
def extract_tag(text: str, tag: str, last: bool = False, dotall: bool = True) -> str | None:
    """Content of the first (or last) complete <tag>...</tag> block, or None."""
    flags = re.DOTALL if dotall else 0
    matches = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags)
    if not matches:
        return None
    return matches[-1] if last else matches[0]


@_safe(None)
def extract_tag_lenient(text: str, tag: str) -> str | None:
    """Like extract_tag(last=True), but also accepts a block whose closing tag is missing."""
    found = extract_tag(text, tag, last=True)
    if found is not None:
        return found
    idx = text.rfind(f"<{tag}>")
    if idx < 0:
        return None
    rest = text[idx + len(tag) + 2 :]
    cut = re.search(r"</?\w+>", rest)
    return rest[: cut.start()] if cut else rest


@_safe(None)
def extract_think(text: str) -> str | None:
    """The reasoning inside <think> (stripped), or None when the model did not think aloud."""
    think = extract_tag_lenient(text, "think")
    return think.strip() if think is not None else None


# ---------------------------------------------------------------- grounding


@_safe(None)
def parse_ground_strict(text: str) -> tuple[float, float] | None:
    """VideoChat-R1 eval parsing: last "x to y"/"x and y" in the whole text, then in <answer>."""
    matches = _TIME_SPAN.findall(text)
    if matches:
        m = matches[-1]
        return float(m[0]), float(m[2])
    answer = re.search(r"<answer>(.*?)</answer>", text)
    if answer:
        matches = _TIME_SPAN.findall(answer.group(1).strip())
        if matches:
            m = matches[-1]
            return float(m[0]), float(m[2])
    return None


@_safe(None)
def parse_ground_train(text: str) -> tuple[float, float] | None:
    """Training-reward parsing: last <answer> block, last "x to y" in it; None when start > end."""
    blocks = re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)
    if not blocks:
        return None
    matches = re.findall(r"(\d+\.?\d*) (to|and) (\d+\.?\d*)", blocks[-1], re.IGNORECASE)
    if not matches:
        return None
    start, end = float(matches[-1][0]), float(matches[-1][2])
    return None if start > end else (start, end)


def _to_seconds(token: str) -> float:
    if ":" in token:
        seconds = 0.0
        for part in token.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds
    return float(token)


@_safe(None)
def _lenient_span_in(text: str) -> tuple[float, float] | None:
    text = text.replace("\n", " ")
    bracket = re.findall(rf"[\[\(]\s*{_NUMBER}\s*,\s*{_NUMBER}\s*[\]\)]", text)
    matches = list(_LENIENT_SPAN.finditer(text))
    if matches:
        g = matches[-1].groups()
        start = _to_seconds(g[0] or g[1])
        end = _to_seconds(g[2] or g[3])
    elif bracket:
        start, end = float(bracket[-1][0]), float(bracket[-1][1])
    else:
        return None
    if start > end:
        start, end = end, start
    return start, end


_WORD_SPAN = re.compile(
    rf"(?:{_CLOCK}|{_NUMBER})\s*(?:s|sec|secs|seconds?)?\s+(?:to|and|until|till|through)\s+(?:{_CLOCK}|{_NUMBER})",
    re.IGNORECASE,
)
_TIME_TOKEN = re.compile(rf"{_CLOCK}|{_NUMBER}")


@_safe(None)
def _answer_span(answer: str) -> tuple[float, float] | None:
    """The span inside an <answer>: the first "x to y" (also and/until/through), else its first two numbers.

    "from 24.30 to 30.40 (about 6 - 7 s)" is (24.3, 30.4), not the aside; "Start: 24.30, End: 30.40",
    "[1.5, 3.2]" and "12.5s - 17.8s" are their first two numbers. Sorted; None with fewer than two numbers.
    """
    answer = answer.replace("\n", " ")
    match = _WORD_SPAN.search(answer)
    if match:
        g = match.groups()
        start, end = _to_seconds(g[0] or g[1]), _to_seconds(g[2] or g[3])
    else:
        numbers = [m.group(0) for m in _TIME_TOKEN.finditer(answer)][:2]
        if len(numbers) < 2:
            return None
        start, end = _to_seconds(numbers[0]), _to_seconds(numbers[1])
    return (start, end) if start <= end else (end, start)


@_safe(None)
def parse_ground_lenient(text: str) -> tuple[float, float] | None:
    """User-facing parsing: the (last) <answer> block, even unclosed, when it holds two numbers.

    Only an answer without two numbers falls back to the whole text (the eval rule, then the text
    without its <think>): numbers in the thinking never override the answer.
    """
    answer = extract_tag_lenient(text, "answer")
    if answer is not None:
        span = _answer_span(answer)
        if span is not None:
            return span
    strict = parse_ground_strict(text)
    if strict is not None:
        return (min(strict), max(strict))
    without_think = re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL)
    return _lenient_span_in(without_think)


def parse_ground(text: str, strict: bool = False) -> tuple[float, float] | None:
    return parse_ground_strict(text) if strict else parse_ground_lenient(text)


# ---------------------------------------------------------------- evidence (glue)


@_safe(False)
def is_valid_glue(s: str) -> bool:
    """VideoChat-R1's is_valid_two_d_list_format: "[(s, e), ...]" with tuples, start <= end."""
    if not _GLUE_STRICT.match(s):
        return False
    value = ast.literal_eval(s)
    if not isinstance(value, list):
        return False
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, (int, float)) for x in item)):
            return False
        if item[0] > item[1]:
            return False
    return True


@_safe(None)
def parse_glue_strict(text: str) -> list[tuple[float, float]] | None:
    """Evidence spans from the first <glue> block, only if it passes the reference validator."""
    glue = extract_tag(text, "glue")
    if glue is None or not is_valid_glue(glue):
        return None
    return [(float(s), float(e)) for s, e in ast.literal_eval(glue)]


@_safe(None)
def parse_glue_lenient(text: str) -> list[tuple[float, float]] | None:
    """Evidence spans from <glue>, accepting lists, spaces, "s" suffixes and a missing close tag."""
    glue = extract_tag_lenient(text, "glue")
    if glue is None:
        return None
    pairs = re.findall(rf"[\[\(]\s*{_NUMBER}\s*s?\s*,\s*{_NUMBER}\s*s?\s*[\]\)]", glue)
    spans = []
    for a, b in pairs:
        start, end = float(a), float(b)
        spans.append((min(start, end), max(start, end)))
    return spans


# ---------------------------------------------------------------- multiple choice


@_safe("")
def extract_letter(text: str) -> str:
    """VideoChat-R1's extract_characters_regex: first A-G after stripping stock prefixes."""
    s = text.strip()
    for prefix in _ANSWER_PREFIXES:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCDEFG]", s):
        return ""
    matches = re.search(r"[ABCDEFG]", s)
    if matches is None:
        return ""
    return matches[0]


@_safe(None)
def parse_letter_strict(text: str) -> str | None:
    """Eval parsing: the <answer> block (DOTALL), then extract_letter; None if no block or no letter."""
    answer = extract_tag(text, "answer")
    if answer is None:
        return None
    return extract_letter(answer) or None


@_safe(None)
def parse_letter_lenient(text: str, num_options: int = 26) -> str | None:
    """User parsing: "(C)", "C.", "C) text", "answer: c" inside <answer> (even unclosed) or the text."""
    letters = "".join(chr(ord("A") + i) for i in range(max(1, min(num_options, 26))))
    answer = extract_tag_lenient(text, "answer")
    candidates = [answer] if answer is not None else []
    candidates.append(re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL))
    for cand in candidates:
        s = cand.strip()
        for prefix in _ANSWER_PREFIXES:
            s = s.replace(prefix, "")
        s = s.strip().strip("\"'")
        m = re.match(rf"^\(?([{letters}])\)?(?:[\s.:)\]]|$)", s)
        if m:
            return m.group(1)
        m = re.search(rf"\(([{letters}])\)", s)
        if m:
            return m.group(1)
        m = re.search(rf"\b([{letters}])\b", s)
        if m and answer is not None and cand is answer:
            return m.group(1)
    return None


# ---------------------------------------------------------------- tracking


@_safe(False)
def is_valid_track_list(s: str) -> bool:
    """VideoChat-R1's is_valid_list_of_lists: literal list of exactly 8 lists of length 4."""
    value = ast.literal_eval(s.replace("\n", ""))
    return isinstance(value, list) and len(value) == 8 and all(isinstance(x, list) and len(x) == 4 for x in value)


@_safe(None)
def parse_track_strict(text: str) -> list[list[float]] | None:
    """Eval parsing: first <answer> (newlines removed), 8 boxes of 4 numbers, else None."""
    answer = extract_tag(text.replace("\n", ""), "answer")
    if answer is None or not is_valid_track_list(answer):
        return None
    return [[float(v) for v in box] for box in ast.literal_eval(answer)]


@_safe(None)
def _literal_boxes(s: str) -> list[list[float]] | None:
    s = s.strip().strip("`").strip()
    if s.startswith("json"):
        s = s[4:]
    for loader in (json.loads, ast.literal_eval):
        try:
            value = loader(s)
            break
        except Exception:
            continue
    else:
        value = [[float(x) for x in re.findall(_NUMBER, box)] for box in re.findall(r"\[([^\[\]]*)\]", s)]
    if isinstance(value, dict):
        value = value.get("boxes") or value.get("bbox_2d")
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        value = [value]
    boxes = []
    for box in value or []:
        if isinstance(box, dict):
            box = box.get("bbox_2d") or box.get("box")
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            continue
        x0, y0, x1, y1 = (float(v) for v in box)
        if any(v != v or v in (float("inf"), float("-inf")) for v in (x0, y0, x1, y1)):
            continue
        boxes.append([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)])
    return boxes or None


@_safe(None)
def parse_track_lenient(text: str) -> list[list[float]] | None:
    """User parsing: any list of [x0, y0, x1, y1] in <answer> (even unclosed) or the text, corners sorted.

    Returns however many boxes were found (the task decides what to do with a count other than 8).
    """
    answer = extract_tag_lenient(text, "answer")
    source = answer if answer is not None else re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL)
    return _literal_boxes(source)


@_safe(None)
def parse_bbox_2d(text: str) -> list[float] | None:
    """Qwen2.5-VL image grounding: the first {"bbox_2d": [x0, y0, x1, y1]} (pixels of the model input)."""
    m = re.search(r"\"?bbox_2d\"?\s*:\s*\[([^\]]*)\]", text)
    if m:
        values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", m.group(1))]
        if len(values) == 4:
            x0, y0, x1, y1 = values
            return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
    boxes = _literal_boxes(extract_tag_lenient(text, "answer") or text)
    return boxes[0] if boxes else None


# ---------------------------------------------------------------- geometry


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """IoU of two [start, end] spans (VideoChat-R1's formula); 0 when the union is empty."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def box_iou(a: list[float], b: list[float]) -> float:
    """IoU of two [x0, y0, x1, y1] boxes; 0 when the union is empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
