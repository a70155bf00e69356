"""Question answering about a video, with the evidence spans the answer rests on. The Python API behind `vcr ask`.

Multiple choice uses VideoChat-R1's grounded-QA template (answer letter + `<glue>` time spans); open
questions use the HF model card's free-text style. Every template is asked in the layout it was trained
or published with, whatever the number of questions: the grounded-QA templates text first, then the video
(VideoChat-R1's training), the card's open question video first. Several questions cost little more than
one because the vision tower runs once per video (its output is passed to generate as `mm_encoder_outputs`)
and all questions are decoded in one batched generate. The model card's video-first layout for every
question, with a prefilled shared KV prefix, stays as an explicit opt-in (`video_first_shared_prefix`):
VideoChat-R1 was not trained that way, and the JSON says so.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from vcr_cli.errors import UsageError
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
from vcr_cli.scoring import (
    KEEP_LOGITS,
    SAMPLE_AGREEMENT,
    TOKEN_PROBABILITY,
    agreement,
    answer_confidence,
    same_text,
    samples_record,
)

if TYPE_CHECKING:
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo

TRAINED = "trained"  # each template in its trained layout: grounded QA text first, the card's open question video first
TEXT_FIRST = "text_first"  # every question text first
VIDEO_FIRST_SHARED_PREFIX = "video_first_shared_prefix"  # opt-in, untrained for VideoChat-R1's templates
VIDEO_FIRST = "video_first"  # every question video first (no shared prefix): for comparisons and benchmarks
LAYOUTS = ("auto", TRAINED, TEXT_FIRST, VIDEO_FIRST_SHARED_PREFIX, VIDEO_FIRST)
UNTRAINED_NOTE = ("untrained layout: VideoChat-R1's grounded-QA templates were trained text first, then the video; "
                  "here the video comes first for every question so one prefilled prefix can be shared")


def render_question(question: Question, think: bool = True) -> tuple[str, str]:
    """(template name, prompt): grounded multiple choice with evidence, or the model card's open question."""
    if question.multiple_choice:
        return render_gqa(question.question, question.options, think=think, glue=True)
    return render_open_question(question.question)


def choose_layout(layout: str, count: int) -> str:
    """"auto" is the trained layout for any number of questions (`count` no longer changes the prompt)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    return TRAINED if layout == "auto" else layout


def question_layout(question: Question, layout: str) -> str:
    """"text_first" or "video_first" for one question under the chosen layout."""
    if layout == TRAINED:
        return TEXT_FIRST if question.multiple_choice else VIDEO_FIRST  # the card's open question: video first
    return TEXT_FIRST if layout == TEXT_FIRST else VIDEO_FIRST


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


def score_answer(runtime: Runtime, question: Question, entry: dict, generation, duration: float, strict: bool,
                 drawn: list | None, seed: int) -> dict:
    """`score` (and `token_score`, `samples` with K draws) of one parsed answer; see `vcr_cli.scoring`."""
    if entry["status"] != "ok":
        fields: dict = {"score": None}
    elif question.multiple_choice:
        confidence = answer_confidence(runtime, generation, "letter", letter=entry["answer"])
        fields = {"score": round(confidence, 4) if confidence is not None else None}
    else:
        confidence = answer_confidence(runtime, generation, "text")
        fields = {"score": round(confidence, 4) if confidence is not None else None}
    if drawn is None:
        return fields
    parsed = [parse_answer(question, g.text, duration, strict=strict) for g in drawn]
    picks = [p["answer"] if p["status"] == "ok" else None for p in parsed]
    rule = "the same letter as the reported answer" if question.multiple_choice else "the same answer text"
    share = None
    if entry["status"] == "ok":
        share = agreement(entry["answer"], picks, (lambda a, b: a == b) if question.multiple_choice else same_text)
        fields = {"score": round(share, 4), "token_score": fields["score"]}
    fields["samples"] = samples_record(len(drawn), seed, rule,
                                       [{"raw": g.text, "answer": pick} for g, pick in zip(drawn, picks)],
                                       agreeing=round(share * len(drawn)) if share is not None else 0)
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
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Ask one question (multiple choice when `options` are given, else open); see `ask_many`."""
    return ask_many(runtime, video, [make_question(question, options)], think=think, strict=strict,
                    max_new_tokens=max_new_tokens, layout=layout, samples=samples, seed=seed)


def ask_many(
    runtime: Runtime,
    video: SampledVideo,
    questions: list[Question],
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int = 2048,
    layout: str = "auto",
    batch_size: int = 8,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Answer every question about one sampled video; the JSON-ready result with one entry per question.

    layout "auto" ("trained"): each question in its template's trained layout (grounded QA text first, the
    card's open question video first), for any number of questions. The vision tower runs once; the
    questions are generated together, `batch_size` at a time (lower it to save GPU memory).
    "video_first_shared_prefix" (opt-in, untrained): every question video first, the prefix up to the end of
    the video prefilled once and its KV cache shared. `strict` parses as VideoChat-R1's evaluation does (first
    A-G letter, tuple-only glue); the default lenient parser also accepts "(C)", "C) text", list-style spans
    and unclosed tags. Each answer's `score` is the probability of the tokens writing its letter (open questions:
    its text); `samples` K > 0 scores it instead by the share of K answers drawn at temperature 1 that give the
    same letter (text), all questions of a batch in one generate over the same vision-tower output.
    """
    if not questions:
        raise ValueError("no questions to ask")
    chosen = choose_layout(layout, len(questions))
    if samples and chosen == VIDEO_FIRST_SHARED_PREFIX:
        raise UsageError("--samples cannot be used with --layout shared-prefix; use the default layout")
    duration = video.info.duration
    timings: dict[str, float] = {}
    tokens: dict[str, int | None] = {"shared_prefix": None}
    start = time.perf_counter()
    rendered = [render_question(question, think) for question in questions]
    step = max(1, batch_size)
    generations = []
    drawn: list[list] = []  # per question: its K sampled generations
    if chosen == VIDEO_FIRST_SHARED_PREFIX:
        layouts = [VIDEO_FIRST] * len(questions)
        prefix = runtime.prefill_video(video)
        timings["prefill_video"] = round(prefix.seconds, 3)
        tokens["shared_prefix"] = prefix.length
        try:
            for first in range(0, len(questions), step):
                prompts = [prompt for _, prompt in rendered[first : first + step]]
                batch = runtime.generate_batch_with_prefix(prefix, prompts, max_new_tokens=max_new_tokens,
                                                           **KEEP_LOGITS)
                generations += [(g, len(batch)) for g in batch]
        finally:
            del prefix  # the shared KV cache can be large: free it now, not at the caller's next collection
    else:
        layouts = [question_layout(question, chosen) for question in questions]
        encoding = runtime.encode_video(video)
        timings["encode_video"] = round(encoding.seconds, 3)
        tokens["video"] = encoding.video_tokens
        chats = [runtime.render_chat(prompt) if where == TEXT_FIRST else runtime.render_chat_video_first(prompt)
                 for (_, prompt), where in zip(rendered, layouts)]
        try:
            for first in range(0, len(chats), step):
                batch = runtime.generate_many(chats[first : first + step], encoding, max_new_tokens=max_new_tokens,
                                              **KEEP_LOGITS)
                generations += [(g, len(batch)) for g in batch]
                if samples:
                    drawn += runtime.sample_many(chats[first : first + step], encoding, samples,
                                                 max_new_tokens=max_new_tokens, seed=seed + first)
        finally:
            del encoding
    firsts = [g for g, _ in generations if g.row == 0]  # one per batched generate
    timings["generate"] = round(sum(g.seconds for g in firsts), 3)
    tokens["decode_steps"] = sum(g.decode_steps for g in firsts)
    if samples:
        sampled_firsts = [group[0] for group in drawn if group and group[0].row == 0]
        timings["samples"] = round(sum(g.seconds for g in sampled_firsts), 3)
        tokens["sample_decode_steps"] = sum(g.decode_steps for g in sampled_firsts)
    answers = []
    for question, (template, _), (generation, rows), where in zip(questions, rendered, generations, layouts,
                                                                   strict=True):
        entry = {"question": question.question, "options": list(question.options)}
        if question.id is not None:
            entry["id"] = question.id
        entry.update(parse_answer(question, generation.text, duration, strict=strict))
        entry.update(score_answer(runtime, question, entry, generation, duration, strict,
                                  drawn[len(answers)] if samples else None, seed))
        entry.update({
            "raw": generation.text,
            "prompt_template": template,
            "layout": where,
            "tokens": {"prompt": generation.prompt_tokens, "generated": generation.new_tokens},
            "timings_s": {"answer": round(generation.seconds / rows, 3)},  # a batch's questions share its time
        })
        answers.append(entry)
    timings["answers"] = round(sum(a["timings_s"]["answer"] for a in answers), 3)
    timings["total"] = round(time.perf_counter() - start, 3)
    result = base_result("ask", runtime, video)
    if chosen == VIDEO_FIRST_SHARED_PREFIX:
        result["layout_note"] = UNTRAINED_NOTE
    result.update({
        "score_method": SAMPLE_AGREEMENT if samples else TOKEN_PROBABILITY,
        "layout": chosen,
        "vision_passes": 1,
        "batch_size": min(step, len(questions)),
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
