"""VideoChat-R1's prompt templates, verbatim: they are the model's trained interface.

Do not reformat these strings (whitespace included); tests pin their lengths and text. Placeholders
are filled with `str.replace`, options and start boxes with their Python `repr`, as in training.
"""

from __future__ import annotations

# Temporal grounding with reasoning; identical to the training TG template.
GROUND_TEMPLATE_THINK = (
    'To accurately pinpoint the event "[EVENT]" in the video, determine the precise time period of the event.\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Then, provide the start and end times (in seconds, precise to two decimal places) in the format "start time to end time" within the <answer> </answer> tags. For example: "12.54 to 17.83".'
)

# Temporal grounding, answer only.
GROUND_TEMPLATE_NOTHINK = (
    'To accurately pinpoint the event "[EVENT]" in the video, determine the precise time period of the event.\n'
    '\n'
    'Provide the start and end times (in seconds, precise to two decimal places) in the format "start time to end time" within the <answer> </answer> tags. For example: "12.54 to 17.83".'
)

# Grounded multiple-choice QA with reasoning and evidence spans (training GQA template).
GQA_THINK_ANSWER_GLUE = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [(s1, e1), (s2, e2), ...]. For example: <answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)

# Grounded multiple-choice QA, answer and evidence only.
GQA_ANSWER_GLUE = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. Provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [(s1, e1), (s2, e2), ...]. For example: <answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n'
)

# Multiple-choice QA with reasoning, no evidence (== QA_THINK).
GQA_THINK_GLUE = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n'
)

# Multiple-choice QA, answer only.
GQA_ANSWER = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. Provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n'
)

# Multiple-choice QA with reasoning.
QA_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n'
)

# Multiple-choice QA, answer only (blank line variant).
QA_NOTHINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    '\n'
    'Provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n'
)

# Tracking as in the eval scripts (no <timestep> sentence).
TRACK_THINK = (
    'Track the "[OBJECT]" in the video based on its initial coordinates "[START]". The output should be a list containing eight sublists. Each sublist includes four normalized coordinates [x0, y0, x1, y1] representing the bounding box of the object at specific time intervals.\n'
    '\n'
    'Output your thought process within the <think> </think> tags.\n'
    '\n'
    'Provide your answer within the <answer> </answer> tags as a list of eight sublists, where each sublist contains the normalized coordinates [x0, y0, x1, y1]. For example: <answer>[[0.1, 0.5, 0.3, 0.55], [0.72, 0.25, 0.84, 0.43], ...]</answer>.\n'
)

# Tracking, answer only.
TRACK_NO_THINK = (
    'Track the "[OBJECT]" in the video based on its initial coordinates "[START]". The output should be a list containing eight sublists. Each sublist includes four normalized coordinates [x0, y0, x1, y1] representing the bounding box of the object at specific time intervals.\n'
    '\n'
    'Provide your answer within the <answer> </answer> tags as a list of eight sublists, where each sublist contains the normalized coordinates [x0, y0, x1, y1]. For example: <answer>[[0.1, 0.5, 0.3, 0.55], [0.72, 0.25, 0.84, 0.43], ...]</answer>.\n'
)

# Free-form question with reasoning (VideoEval classification).
CLS_QA_TEMPLATE = (
    '[PROBLEM]\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Then, provide your final answer within the <answer> </answer> tags.\n'
)

# Tracking as in training (with the <timestep> sentence): vcr's --think default.
QUESTION_TEMPLATE_TRACK = (
    'Track the "[OBJECT]" in the video based on its initial coordinates "[START]". The output should be a list containing eight sublists. Each sublist includes four normalized coordinates [x0, y0, x1, y1] representing the bounding box of the object at specific time intervals.\n'
    '\n'
    'Output your thought process within the <think> </think> tags, including analysis with either specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n'
    '\n'
    'Provide your answer within the <answer> </answer> tags as a list of eight sublists, where each sublist contains the normalized coordinates [x0, y0, x1, y1]. For example: <answer>[[0.1, 0.5, 0.3, 0.55], [0.72, 0.25, 0.84, 0.43], ...]</answer>.\n'
)
# The HF model card's free-form question style (video first, then this text), used for open questions.
OPEN_QUESTION_TEMPLATE = "[QUESTION]\n            Provide your final answer within the <answer> </answer> tags.\n             "

TEMPLATES = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and ("[EVENT]" in value or "[QUESTION]" in value
                                                       or "[OBJECT]" in value or "[PROBLEM]" in value)
}


def option_letters(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


def format_options(options: list[str]) -> list[str]:
    """Options as VideoChat-R1 saw them: "(A) text", "(B) text", ... (already-lettered ones kept)."""
    formatted = []
    for letter, text in zip(option_letters(len(options)), options):
        text = text.strip()
        formatted.append(text if text.startswith(f"({letter})") else f"({letter}) {text}")
    return formatted


def render_ground(query: str, think: bool = True) -> tuple[str, str]:
    """(template name, prompt) for temporal grounding; the query is used as given (eval style)."""
    name = "GROUND_TEMPLATE_THINK" if think else "GROUND_TEMPLATE_NOTHINK"
    return name, TEMPLATES[name].replace("[EVENT]", query)


def render_ground_training(query: str, think: bool = True) -> tuple[str, str]:
    """Training-style grounding prompt: the sentence lower-cased with one trailing period removed."""
    event = query.strip().lower()
    if event.endswith("."):
        event = event[:-1]
    return render_ground(event, think)


def render_gqa(question: str, options: list[str], think: bool = True, glue: bool = True) -> tuple[str, str]:
    """Multiple choice: options rendered as the Python list repr of "(A) text" strings."""
    if glue:
        name = "GQA_THINK_ANSWER_GLUE" if think else "GQA_ANSWER_GLUE"
    else:
        name = "GQA_THINK_GLUE" if think else "GQA_ANSWER"
    prompt = TEMPLATES[name].replace("[QUESTION]", question).replace("[OPTION]", str(format_options(options)))
    return name, prompt


def render_open_question(question: str) -> tuple[str, str]:
    return "OPEN_QUESTION_TEMPLATE", OPEN_QUESTION_TEMPLATE.replace("[QUESTION]", question)


def render_track(object_name: str, start_box_norm: list[float], think: bool = True) -> tuple[str, str]:
    """Tracking: the start box normalized to 0..1, written as its Python list repr."""
    name = "QUESTION_TEMPLATE_TRACK" if think else "TRACK_NO_THINK"
    prompt = TEMPLATES[name].replace("[OBJECT]", object_name).replace("[START]", str(list(start_box_norm)))
    return name, prompt
