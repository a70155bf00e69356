"""Question answering about a video, with the evidence spans the answer rests on. The Python API behind `vcr ask`.

Multiple choice uses VideoChat-R1's grounded-QA template (answer letter + `<glue>` time spans); open
questions use the HF model card's free-text style. One question is asked in the training layout (text,
then video). Several questions about one video are asked in the model card's video-first layout, so the
prompt prefix up to the end of the video is computed once (vision tower + prefill) and its KV cache is
reused for every question; the result records which layout was used.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from vcr_cli.parsing import (
    extract_tag,
    extract_tag_lenient,
    extract_think,
    parse_glue_lenient,
    parse_glue_strict,
    parse_letter_lenient,
    parse_letter_strict,
)
from vcr_cli.prompts import option_letters, render_gqa, render_open_question
from vcr_cli.questions import Question, make_question
from vcr_cli.results import base_result, clamp_time

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo

TEXT_FIRST = "text_first"
VIDEO_FIRST_SHARED_PREFIX = "video_first_shared_prefix"
VIDEO_FIRST = "video_first"  # video-first without the shared prefix: for comparisons and benchmarks
LAYOUTS = ("auto", TEXT_FIRST, VIDEO_FIRST_SHARED_PREFIX, VIDEO_FIRST)


def render_question(question: Question, think: bool = True) -> tuple[str, str]:
    """(template name, prompt): grounded multiple choice with evidence, or the model card's open question."""
    if question.multiple_choice:
        return render_gqa(question.question, question.options, think=think, glue=True)
    return render_open_question(question.question)


def choose_layout(layout: str, count: int) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        return TEXT_FIRST if count == 1 else VIDEO_FIRST_SHARED_PREFIX
    return layout


def _option_text(option: str, letter: str) -> str:
    """The option's own text: "(C) lay on floor" given already lettered reads "lay on floor"."""
    return re.sub(rf"^\({letter}\)\s*", "", option.strip())


def _evidence(text: str, strict: bool, duration: float) -> list[dict]:
    spans = (parse_glue_strict(text) if strict else parse_glue_lenient(text)) or []
    evidence = []
    for start, end in spans:
        if start > duration:  # wholly after the video's end: nothing to point at
            continue
        evidence.append({"start": clamp_time(min(start, end), duration), "end": clamp_time(max(start, end), duration)})
    return evidence


def parse_answer(question: Question, text: str, duration: float, strict: bool = False) -> dict:
    """The answer fields of one question: answer, answer_text, evidence, thinking, status.

    Multiple choice: `answer` is the letter (within the options) and `answer_text` the chosen option's text.
    Open questions: both are the text inside <answer> (lenient parsing also takes an untagged reply).
    Evidence spans are seconds of the original video, clamped to [0, duration].
    """
    fields = {"answer": None, "answer_text": None, "evidence": _evidence(text, strict, duration),
              "thinking": extract_think(text), "status": "unparsed"}
    if question.multiple_choice:
        letters = option_letters(len(question.options))
        letter = parse_letter_strict(text) if strict else parse_letter_lenient(text, len(question.options))
        if letter in letters:
            fields.update(answer=letter, answer_text=_option_text(question.options[letters.index(letter)], letter),
                          status="ok")
        return fields
    answer = extract_tag(text, "answer") if strict else extract_tag_lenient(text, "answer")
    if answer is None and not strict:
        answer = re.sub(r"<think>.*?(</think>|$)", " ", text, flags=re.DOTALL)
        answer = re.sub(r"<glue>.*?(</glue>|$)", " ", answer, flags=re.DOTALL)
    answer = answer.strip() if answer is not None else ""
    if answer:
        fields.update(answer=answer, answer_text=answer, status="ok")
    return fields


def ask(
    runtime: Runtime,
    video: SampledVideo,
    question: str,
    options: list[str] | None = None,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int = 2048,
    layout: str = "auto",
) -> dict:
    """Ask one question (multiple choice when `options` are given, else open); see `ask_many`."""
    return ask_many(runtime, video, [make_question(question, options)], think=think, strict=strict,
                    max_new_tokens=max_new_tokens, layout=layout)


def ask_many(
    runtime: Runtime,
    video: SampledVideo,
    questions: list[Question],
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int = 2048,
    layout: str = "auto",
    batch_size: int = 8,
) -> dict:
    """Answer every question about one sampled video; the JSON-ready result with one entry per question.

    layout "auto": one question in the training layout (text first), several in the video-first layout with
    the shared prefix prefilled once and the questions generated together, `batch_size` at a time (each
    batch holds a copy of the prefix's KV cache per question: lower it to save GPU memory). `strict` parses
    as VideoChat-R1's evaluation does (first A-G letter, tuple-only glue); the default lenient parser also
    accepts "(C)", "C) text", list-style spans and unclosed tags.
    """
    if not questions:
        raise ValueError("no questions to ask")
    chosen = choose_layout(layout, len(questions))
    duration = video.info.duration
    timings: dict[str, float] = {}
    tokens: dict[str, int | None] = {"shared_prefix": None}
    prefix = None
    start = time.perf_counter()
    if chosen == VIDEO_FIRST_SHARED_PREFIX:
        prefix = runtime.prefill_video(video)
        timings["prefill_video"] = round(prefix.seconds, 3)
        tokens["shared_prefix"] = prefix.length
    rendered = [render_question(question, think) for question in questions]
    generations = []
    try:
        if prefix is not None:
            step = max(1, batch_size)
            for first in range(0, len(questions), step):
                prompts = [prompt for _, prompt in rendered[first : first + step]]
                batch = runtime.generate_batch_with_prefix(prefix, prompts, max_new_tokens=max_new_tokens)
                # A batch's questions share its time equally.
                generations += [(g, g.seconds / len(batch)) for g in batch]
        else:
            for _, prompt in rendered:
                t = time.perf_counter()
                if chosen == VIDEO_FIRST:
                    generation = runtime.generate_video_first(prompt, video, max_new_tokens=max_new_tokens)
                else:
                    generation = runtime.generate(prompt, video, max_new_tokens=max_new_tokens)
                generations.append((generation, time.perf_counter() - t))
    finally:
        del prefix  # the shared KV cache can be large: free it now, not at the caller's next collection
    answers = []
    for question, (template, _), (generation, seconds) in zip(questions, rendered, generations, strict=True):
        entry = {"question": question.question, "options": list(question.options)}
        if question.id is not None:
            entry["id"] = question.id
        entry.update(parse_answer(question, generation.text, duration, strict=strict))
        entry.update({
            "raw": generation.text,
            "prompt_template": template,
            "tokens": {"prompt": generation.prompt_tokens, "generated": generation.new_tokens},
            "timings_s": {"answer": round(seconds, 3)},
        })
        answers.append(entry)
    timings["answers"] = round(sum(a["timings_s"]["answer"] for a in answers), 3)
    timings["total"] = round(time.perf_counter() - start, 3)
    result = base_result("ask", runtime, video)
    result.update({
        "layout": chosen,
        "batch_size": min(max(1, batch_size), len(questions)) if chosen == VIDEO_FIRST_SHARED_PREFIX else 1,
        "parser": "strict" if strict else "lenient",
        "status": "ok" if all(a["status"] == "ok" for a in answers) else "unparsed",
        "answers": answers,
        "tokens": tokens,
        "timings_s": timings,
    })
    return result


def answer_line(answer: dict) -> str:
    """One plain-text line for a human: the question, the answer and its evidence."""
    if answer["status"] != "ok":
        return f"{answer['question']} → no answer could be parsed from {answer['raw']!r}"
    if answer["options"]:
        text = f"{answer['question']} → ({answer['answer']}) {answer['answer_text']}"
    else:
        text = f"{answer['question']} → {answer['answer']}"
    if answer["evidence"]:
        spans = ", ".join(f"{e['start']:.2f}s–{e['end']:.2f}s" for e in answer["evidence"])
        text += f"  [evidence {spans}]"
    return text
