"""Question answering about a video, with the evidence spans the answer rests on. The Python API behind `vcr ask`.

Every question is asked the way the model family was trained (`runtime.family`): its multiple-choice prompt
(VideoChat-R1: the grounded-QA template, answer letter + `<glue>` time spans) or its open-question prompt, each
in the layout it was trained or published with, whatever the number of questions. Several questions cost little
more than one because the vision tower runs once per video (its output is passed to generate as
`mm_encoder_outputs`) and all questions are decoded in one batched generate. Families that perceive in rounds
(`capabilities.rounds` > 1) answer multiple choice in rounds (`ask_rounds`): each round's evidence spans re-sample
the next round's frames. The video-first layout for every question, with a prefilled shared KV prefix, stays as
an explicit opt-in (`video_first_shared_prefix`); where a template was trained text first the JSON says so.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from vcr_cli.errors import UsageError
from vcr_cli.families import CHOICE, CHOICE_GLUE, OPEN
from vcr_cli.parsing import extract_think
from vcr_cli.prompts import option_letters
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
    from vcr_cli.families import Family
    from vcr_cli.runtime import Runtime
    from vcr_cli.video import SampledVideo

TRAINED = "trained"  # each template in its trained layout (VideoChat-R1: grounded QA text first, open video first)
TEXT_FIRST = "text_first"  # every question text first
VIDEO_FIRST_SHARED_PREFIX = "video_first_shared_prefix"  # opt-in: every question video first, one shared prefix
VIDEO_FIRST = "video_first"  # every question video first (no shared prefix): for comparisons and benchmarks
LAYOUTS = ("auto", TRAINED, TEXT_FIRST, VIDEO_FIRST_SHARED_PREFIX, VIDEO_FIRST)
UNTRAINED_NOTE = ("untrained layout: {templates} {verb} trained text first, then the video; here the video comes "
                  "first for every question so one prefilled prefix can be shared")


def _family(family: Family | None) -> Family:
    if family is not None:
        return family
    from vcr_cli.checkpoints import default_family

    return default_family()


def question_role(question: Question, final: bool = True) -> str:
    """The family role of a question: multiple choice (rounds before the last: with glue) or open."""
    if question.multiple_choice:
        return CHOICE if final else CHOICE_GLUE
    return OPEN


def sampling_role(questions: list[Question]) -> str:
    """The role whose sampling rule the video is sampled by for these questions (multiple choice if any)."""
    return CHOICE if any(q.multiple_choice for q in questions) else OPEN


def render_question(question: Question, think: bool = True, family: Family | None = None,
                    role: str | None = None, final: bool = True) -> tuple[str, str]:
    """(template name, prompt) of the family's prompt for the question (default family: the default model's;
    `final` False: a perception round before the last).

    A family without a trained prompt for it (e.g. an open question on a grounding-only family) raises a
    UsageError naming the families that have one."""
    family = _family(family)
    role = role or question_role(question, final)
    if role == OPEN:
        return family.render(OPEN, question=question.question)
    return family.render(role, question=question.question, options=list(question.options), think=think)


def choose_layout(layout: str, count: int) -> str:
    """"auto" is the trained layout for any number of questions (`count` no longer changes the prompt)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    return TRAINED if layout == "auto" else layout


def question_layout(question: Question, layout: str, family: Family | None = None, role: str | None = None) -> str:
    """"text_first" or "video_first" for one question under the chosen layout."""
    if layout == TRAINED:
        return _family(family).layout(role or question_role(question))
    return TEXT_FIRST if layout == TEXT_FIRST else VIDEO_FIRST


def _option_text(option: str, letter: str) -> str:
    """The option's own text: "(C) lay on floor" given already lettered reads "lay on floor"."""
    return re.sub(rf"^\({letter}\)\s*", "", option.strip())


def _evidence(spans, duration: float) -> list[dict]:
    evidence = []
    for start, end in spans or []:
        if start > duration:  # wholly after the video's end: nothing to point at
            continue
        evidence.append({"start": clamp_time(min(start, end), duration), "end": clamp_time(max(start, end), duration)})
    return evidence


def parse_answer(question: Question, text: str, duration: float, strict: bool = False, family: Family | None = None,
                 role: str | None = None) -> dict:
    """The answer fields of one question: answer, answer_text, evidence, thinking, status (the family's parser).

    Multiple choice: `answer` is the letter (within the options) and `answer_text` the chosen option's text.
    Open questions: both are the answer's text. Evidence spans are seconds of the original video, clamped to
    [0, duration].
    """
    family = _family(family)
    role = role or question_role(question)
    fields = {"answer": None, "answer_text": None, "evidence": [], "thinking": extract_think(text),
              "status": "unparsed"}
    if role == OPEN:
        answer = family.parse(OPEN, text, strict)
        if family.capabilities.glue and family.supports(CHOICE):  # a <glue> block in an open answer counts too
            fields["evidence"] = _evidence(family.parse(CHOICE, text, strict).spans, duration)
        if answer:
            fields.update(answer=answer, answer_text=answer, status="ok")
        return fields
    parsed = family.parse(role, text, strict, num_options=len(question.options))
    fields["evidence"] = _evidence(parsed.spans, duration)
    letters = option_letters(len(question.options))
    if parsed.letter in letters:
        fields.update(answer=parsed.letter,
                      answer_text=_option_text(question.options[letters.index(parsed.letter)], parsed.letter),
                      status="ok")
    return fields


def score_answer(runtime: Runtime, question: Question, entry: dict, generation, duration: float, strict: bool,
                 drawn: list | None, seed: int, role: str | None = None) -> dict:
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
    parsed = [parse_answer(question, g.text, duration, strict=strict, family=runtime.family, role=role) for g in drawn]
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
    max_new_tokens: int | None = None,
    layout: str = "auto",
    samples: int = 0,
    seed: int = 0,
    rounds: int | None = None,
) -> dict:
    """Ask one question (multiple choice when `options` are given, else open); see `ask_many`."""
    return ask_many(runtime, video, [make_question(question, options)], think=think, strict=strict,
                    max_new_tokens=max_new_tokens, layout=layout, samples=samples, seed=seed, rounds=rounds)


def perception_rounds(family: Family, rounds: int | None) -> int:
    """--rounds, else the family's default; UsageError where the family has no rounds protocol."""
    if rounds is None:
        return family.capabilities.rounds
    if rounds < 1:
        raise UsageError(f"--rounds must be at least 1, not {rounds}")
    if rounds > 1 and family.replan is None:
        from vcr_cli.families import all_families

        able = [f.name for f in all_families() if f.replan is not None]
        raise UsageError(f"the {family.name} family answers in one pass; --rounds {rounds} needs a family trained "
                         f"to perceive in rounds: {', '.join(able)} (pick one with --family), or drop --rounds")
    return rounds


def _generate(runtime: Runtime, chats: list[str], encoding, step: int, max_new_tokens: int, samples: int,
              seed: int) -> tuple[list, list[list]]:
    """(generation, rows in its batch) per chat and, with `samples`, K draws per chat: `step` chats at a time."""
    generations, drawn = [], []
    for first in range(0, len(chats), step):
        batch = runtime.generate_many(chats[first : first + step], encoding, max_new_tokens=max_new_tokens,
                                      **KEEP_LOGITS)
        generations += [(g, len(batch)) for g in batch]
        if samples:
            drawn += runtime.sample_many(chats[first : first + step], encoding, samples,
                                         max_new_tokens=max_new_tokens, seed=seed + first)
    return generations, drawn


def _batch_stats(generations: list, drawn: list[list], samples: int, timings: dict, tokens: dict) -> None:
    firsts = [g for g, _ in generations if g.row == 0]  # one per batched generate
    timings["generate"] = round(timings.get("generate", 0.0) + sum(g.seconds for g in firsts), 3)
    tokens["decode_steps"] = tokens.get("decode_steps", 0) + sum(g.decode_steps for g in firsts)
    if samples:
        sampled_firsts = [group[0] for group in drawn if group and group[0].row == 0]
        timings["samples"] = round(sum(g.seconds for g in sampled_firsts), 3)
        tokens["sample_decode_steps"] = sum(g.decode_steps for g in sampled_firsts)


def ask_many(
    runtime: Runtime,
    video: SampledVideo,
    questions: list[Question],
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    layout: str = "auto",
    batch_size: int = 8,
    samples: int = 0,
    seed: int = 0,
    rounds: int | None = None,
) -> dict:
    """Answer every question about one sampled video; the JSON-ready result with one entry per question.

    layout "auto" ("trained"): each question in its template's trained layout (`family.layout(role)`), for any
    number of questions. The vision tower runs once; the questions are generated together, `batch_size` at a time
    (lower it to save GPU memory). "video_first_shared_prefix" (opt-in): every question video first, the prefix up
    to the end of the video prefilled once and its KV cache shared. `strict` parses as the family's evaluation
    does (VideoChat-R1: first A-G letter, tuple-only glue); the default lenient parser also accepts "(C)",
    "C) text", list-style spans and unclosed tags. Each answer's `score` is the probability of the tokens writing
    its letter (open questions: its text); `samples` K > 0 scores it instead by the share of K answers drawn at
    temperature 1 that give the same letter (text), all questions of a batch in one generate over the same
    vision-tower output. Families that perceive in rounds answer in `rounds` rounds (default: the family's;
    see `ask_rounds`).
    """
    if not questions:
        raise ValueError("no questions to ask")
    family = runtime.family
    chosen = choose_layout(layout, len(questions))
    count = perception_rounds(family, rounds)
    if count > 1:
        if chosen != TRAINED:
            raise UsageError("--layout applies to single-pass asking; perception rounds use the trained layout "
                             "(drop --layout, or pass --rounds 1)")
        return ask_rounds(runtime, video, questions, count, think=think, strict=strict,
                          max_new_tokens=max_new_tokens, batch_size=batch_size, samples=samples, seed=seed)
    if samples and chosen == VIDEO_FIRST_SHARED_PREFIX:
        raise UsageError("--samples cannot be used with --layout shared-prefix; use the default layout")
    max_new_tokens = runtime.new_token_budget(max_new_tokens)
    duration = video.info.duration
    timings: dict[str, float] = {}
    tokens: dict[str, int | None] = {"shared_prefix": None}
    start = time.perf_counter()
    roles = [question_role(question) for question in questions]
    rendered = [render_question(question, think, family, role) for question, role in zip(questions, roles)]
    step = max(1, batch_size)
    generations = []
    drawn: list[list] = []  # per question: its K sampled generations
    note = None
    if chosen == VIDEO_FIRST_SHARED_PREFIX:
        layouts = [VIDEO_FIRST] * len(questions)
        text_first = sorted({template for (template, _), role in zip(rendered, roles)
                             if family.layout(role) == TEXT_FIRST})
        if text_first:
            note = UNTRAINED_NOTE.format(templates=", ".join(text_first), verb="was" if len(text_first) == 1 else
                                         "were")
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
        layouts = [question_layout(question, chosen, family, role) for question, role in zip(questions, roles)]
        encoding = runtime.encode_video(video)
        timings["encode_video"] = round(encoding.seconds, 3)
        tokens["video"] = encoding.video_tokens
        chats = [runtime.render(prompt, where) for (_, prompt), where in zip(rendered, layouts)]
        try:
            generations, drawn = _generate(runtime, chats, encoding, step, max_new_tokens, samples, seed)
        finally:
            del encoding
    _batch_stats(generations, drawn, samples, timings, tokens)
    answers = []
    for k, (question, role, (template, _), (generation, rows), where) in enumerate(
            zip(questions, roles, rendered, generations, layouts, strict=True)):
        parsed = parse_answer(question, generation.text, duration, strict=strict, family=family, role=role)
        entry = _answer_entry(runtime, question, parsed, generation, duration, strict,
                              drawn[k] if samples else None, seed, role, template, where)
        entry["timings_s"] = {"answer": round(generation.seconds / rows, 3)}  # a batch's questions share its time
        answers.append(entry)
    timings["answers"] = round(sum(a["timings_s"]["answer"] for a in answers), 3)
    timings["total"] = round(time.perf_counter() - start, 3)
    return _ask_result(runtime, video, answers, layout=chosen, vision_passes=1, samples=samples, strict=strict,
                       batch_size=min(step, len(questions)), tokens=tokens, timings=timings, note=note)


def _answer_entry(runtime: Runtime, question: Question, parsed: dict, generation, duration: float, strict: bool,
                  drawn: list | None, seed: int, role: str, template: str, layout: str) -> dict:
    """One answer's JSON (single pass and perception rounds alike): the question, its parsed answer, its score,
    the raw text, prompt and tokens."""
    entry = {"question": question.question, "options": list(question.options)}
    if question.id is not None:
        entry["id"] = question.id
    entry.update(parsed)
    entry.update(score_answer(runtime, question, entry, generation, duration, strict, drawn, seed, role=role))
    entry.update({
        "raw": generation.text,
        "prompt_template": template,
        "layout": layout,
        "tokens": {"prompt": generation.prompt_tokens, "generated": generation.new_tokens},
    })
    return entry


def _ask_result(runtime: Runtime, video: SampledVideo, answers: list[dict], *, layout: str, vision_passes: int,
                samples: int, strict: bool, batch_size: int, tokens: dict, timings: dict, note: str | None = None,
                rounds: int | None = None) -> dict:
    """The ask result around its answers (single pass and perception rounds alike)."""
    result = base_result("ask", runtime, video)
    if note:
        result["layout_note"] = note
    result.update({"score_method": SAMPLE_AGREEMENT if samples else TOKEN_PROBABILITY, "layout": layout})
    if rounds is not None:
        result["rounds"] = rounds
    result.update({
        "vision_passes": vision_passes,
        "batch_size": batch_size,
        "parser": "strict" if strict else "lenient",
        "status": "ok" if all(a["status"] == "ok" for a in answers) else "unparsed",
        "answers": answers,
        "tokens": tokens,
        "timings_s": timings,
    })
    return result


def round_video(video: SampledVideo, indices: list[int]) -> SampledVideo:
    """The sampled video with other frames: clock `indices` of the same video, at the same size and sampled fps."""
    from vcr_cli.sampling import SamplingPlan
    from vcr_cli.video import SampledVideo, read_frames

    info = video.info
    real = info.clock_frames([video.start_frame + i for i in indices])
    plan = SamplingPlan(indices=real, width=video.plan.width, height=video.plan.height, fps=video.plan.fps,
                        factor=video.plan.factor)
    frames = read_frames(info.path, real, plan.width, plan.height, info=info)
    return SampledVideo(info=info, plan=plan, frames=frames, start_frame=video.start_frame,
                        span_frames=video.span_frames)


def ask_rounds(
    runtime: Runtime,
    video: SampledVideo,
    questions: list[Question],
    rounds: int,
    think: bool = True,
    strict: bool = False,
    max_new_tokens: int | None = None,
    batch_size: int = 8,
    samples: int = 0,
    seed: int = 0,
) -> dict:
    """Multiple choice in perception rounds, as the family was trained (`family.replan` / `family.next_spans`).

    Round 1 sees `video`'s frames. Each round before the last asks the glue prompt (`CHOICE_GLUE`): its answer's
    evidence spans re-sample the next round's frames (`family.replan`: the same count, denser inside the spans);
    the last round asks the final prompt (`CHOICE`) and gives the answer. Every round is a fresh single-turn
    inference in the family's layout. The vision tower runs once per round for questions whose spans agree (all of
    them in round 1); a question whose spans differ needs its own frames, so `vision_passes` counts the passes.
    Every round's frames (times), raw answer, letter and spans are in each answer's `rounds`.
    """
    family = runtime.family
    if not all(question.multiple_choice for question in questions):
        raise UsageError(f"the {family.name} family perceives in rounds for multiple choice only; give every "
                         "question --option choices, or pass --rounds 1")
    max_new_tokens = runtime.new_token_budget(max_new_tokens)
    info, duration = video.info, video.info.duration
    clock_total = video.span_frames or info.frames
    start = time.perf_counter()
    step = max(1, batch_size)
    steering: list = [None] * len(questions)  # per question: the spans that chose its frames this round
    history: list[list[dict]] = [[] for _ in questions]
    finals: list = [None] * len(questions)
    drawn: list[list] = [[] for _ in questions]
    timings: dict[str, float] = {"encode_video": 0.0}
    tokens: dict = {"video": video.plan.video_tokens}
    passes = 0
    for number in range(rounds):
        final = number == rounds - 1
        role = CHOICE if final else CHOICE_GLUE
        groups: dict[tuple, list[int]] = {}
        for k, spans in enumerate(steering):
            groups.setdefault(tuple(spans or ()), []).append(k)
        for key, members in groups.items():
            fed = video if not key else round_video(video, family.replan(clock_total, video.plan.frames, info.fps,
                                                                         list(key)))
            encoding = runtime.encode_video(fed)
            passes += 1
            timings["encode_video"] = round(timings["encode_video"] + encoding.seconds, 3)
            rendered = [render_question(questions[k], think, family, role) for k in members]
            chats = [runtime.render(prompt, family.layout(role)) for _, prompt in rendered]
            try:
                generations, sampled = _generate(runtime, chats, encoding, step, max_new_tokens,
                                                 samples if final else 0, seed)
            finally:
                del encoding
            _batch_stats(generations, sampled, 0, timings, tokens)
            times = [round(t, 3) for t in fed.frame_times]
            for position, (k, (template, _), (generation, _rows)) in enumerate(zip(members, rendered, generations)):
                parsed = parse_answer(questions[k], generation.text, duration, strict=strict, family=family,
                                      role=role)
                history[k].append({"round": number + 1, "prompt_template": template, "frames": fed.plan.frames,
                                   "frame_times": times, "steered_by": [list(s) for s in key],
                                   "raw": generation.text, "answer": parsed["answer"],
                                   "spans": parsed["evidence"]})
                if final:
                    finals[k] = (generation, parsed)
                    if samples:
                        drawn[k] = sampled[position]
                else:
                    steering[k] = family.next_spans(steering[k], generation.text)
    answers = []
    for k, question in enumerate(questions):
        generation, parsed = finals[k]
        entry = _answer_entry(runtime, question, parsed, generation, duration, strict, drawn[k] if samples else None,
                              seed, CHOICE, history[k][-1]["prompt_template"], family.layout(CHOICE))
        entry["rounds"] = history[k]
        answers.append(entry)
    timings["total"] = round(time.perf_counter() - start, 3)
    return _ask_result(runtime, video, answers, layout=TRAINED, vision_passes=passes, samples=samples, strict=strict,
                       batch_size=min(step, len(questions)), tokens=tokens, timings=timings, rounds=rounds)


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
