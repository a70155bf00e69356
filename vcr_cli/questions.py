"""Questions for `vcr ask`: validation of one question and loading of a questions file (JSONL or YAML).

Every problem is a UsageError (exit 2) in one line that names the file and line, raised before any
model work, so a typo in question 40 costs a second, not a model load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vcr_cli.errors import UsageError
from vcr_cli.files import read_user_text

MIN_OPTIONS = 2
MAX_OPTIONS = 26  # letters A..Z
QUESTION_KEYS = ("question", "options", "id")
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
YAML_SUFFIXES = {".yaml", ".yml"}


@dataclass
class Question:
    """One question; `options` empty for an open (free-text) question."""

    question: str
    options: list[str] = field(default_factory=list)
    id: str | None = None

    @property
    def multiple_choice(self) -> bool:
        return bool(self.options)


def check_options(options: list[str], where: str = "") -> list[str]:
    """Stripped options; UsageError for fewer than 2, more than 26, or an empty one."""
    prefix = f"{where}: " if where else ""
    if len(options) == 1:
        raise UsageError(f"{prefix}only 1 option given; a multiple-choice question needs at least {MIN_OPTIONS} "
                         "(or none for an open question)")
    if len(options) > MAX_OPTIONS:
        raise UsageError(f"{prefix}{len(options)} options given; at most {MAX_OPTIONS} (letters A to Z)")
    cleaned = [str(o).strip() for o in options]
    for i, text in enumerate(cleaned):
        if not text:
            raise UsageError(f"{prefix}option {chr(ord('A') + i)} is empty")
    return cleaned


def make_question(question: str, options: list[str] | None = None, id: str | None = None, where: str = "") -> Question:
    """A validated Question (stripped text, 0 or 2..26 options)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(question, str) or not question.strip():
        raise UsageError(f'{prefix}the question is empty; ask something, e.g. "what does the person pick up?"')
    return Question(question.strip(), check_options(list(options or []), where), id)


def _from_item(item, where: str) -> Question:
    if isinstance(item, str):
        return make_question(item, where=where)
    if not isinstance(item, dict):
        raise UsageError(f'{where}: expected {{"question": ..., "options": [...]}}, got {type(item).__name__}')
    unknown = sorted(set(item) - set(QUESTION_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(QUESTION_KEYS)})")
    if "question" not in item:
        raise UsageError(f'{where}: no "question" key')
    if not isinstance(item["question"], str):
        raise UsageError(f'{where}: "question" must be a string')
    options = item.get("options")
    if options is not None and (not isinstance(options, list)
                                or not all(isinstance(o, (str, int, float)) for o in options)):
        raise UsageError(f'{where}: "options" must be a list of strings')
    for number, option in enumerate(options or [], 1):
        if isinstance(option, bool):  # YAML's yes/no/on/off: the text the user meant is gone
            raise UsageError(f'{where}: option {number} reads as {str(option).lower()}: YAML takes unquoted '
                             'yes/no/on/off/true/false for booleans; quote the option (e.g. "yes")')
    qid = item.get("id")
    return make_question(item["question"], options, None if qid is None else str(qid), where)


def _load_jsonl(path: Path, text: str) -> list[Question]:
    questions = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
        questions.append(_from_item(item, where))
    return questions


def _load_yaml(path: Path, text: str) -> list[Question]:
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{path}{line}: not valid YAML ({problem})") from None
    if data is None:
        return []
    items, nodes = data, getattr(node, "value", [])
    if isinstance(data, dict) and set(data) == {"questions"}:
        items = data["questions"]
        nodes = node.value[0][1].value if isinstance(items, list) else []
    if not isinstance(items, list):
        raise UsageError(f"{path} line {node.start_mark.line + 1}: expected a list of questions "
                         '(- question: ...  options: [...]) or a "questions:" key holding one')
    return [_from_item(item, f"{path} line {item_node.start_mark.line + 1}") for item, item_node in zip(items, nodes)]


def load_questions(path: str | Path) -> list[Question]:
    """Questions from JSONL (one object per line) or YAML (a list); UsageError naming the line on any problem.

    Each item is `{"question": str, "options": [str, ...]?, "id": str?}` (or just a string: an open question).
    A JSON array (YAML is a superset of JSON) is read by the YAML loader, so its errors name lines too.
    """
    path = Path(path)
    text = read_user_text(path, "questions file", "a .jsonl or .yaml file")
    suffix = path.suffix.lower()
    start = text.lstrip()[:1]
    if start != "[" and (suffix in JSONL_SUFFIXES or (suffix not in YAML_SUFFIXES and start == "{")):
        questions = _load_jsonl(path, text)
    else:
        questions = _load_yaml(path, text)
    if not questions:
        raise UsageError(f"questions file {path} has no questions")
    return questions
