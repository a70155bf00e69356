"""The templates are the model's trained interface: pin their exact lengths and fills."""

import pytest

from vcr_cli import prompts


@pytest.mark.parametrize(
    ("name", "length", "newline"),
    [
        ("GROUND_TEMPLATE_THINK", 479, False),
        ("GROUND_TEMPLATE_NOTHINK", 287, False),
        ("GQA_THINK_ANSWER_GLUE", 661, True),
        ("GQA_ANSWER_GLUE", 468, True),
        ("GQA_THINK_GLUE", 403, True),
        ("GQA_ANSWER", 210, True),
        ("QA_THINK", 403, True),
        ("QA_NOTHINK", 211, True),
        ("TRACK_THINK", 579, True),
        ("TRACK_NO_THINK", 516, True),
        ("CLS_QA_TEMPLATE", 265, True),
        ("QUESTION_TEMPLATE_TRACK", 702, True),
    ],
)
def test_template_lengths(name, length, newline):
    template = prompts.TEMPLATES[name]
    assert len(template) == length
    assert template.endswith("\n") == newline


def test_training_equalities():
    assert prompts.QA_THINK == prompts.GQA_THINK_GLUE


def test_render_ground_uses_query_verbatim():
    name, text = prompts.render_ground("person turn a light on.")
    assert name == "GROUND_TEMPLATE_THINK"
    assert text.startswith('To accurately pinpoint the event "person turn a light on." in the video')
    assert prompts.render_ground_training("Person turn a light on.")[1].startswith(
        'To accurately pinpoint the event "person turn a light on" in'
    )
    assert "<think>" not in prompts.render_ground("x", think=False)[1]


def test_render_gqa_options_are_python_list_repr():
    _, text = prompts.render_gqa("why did the boy cry", ["clap proudly", "(B) crawl", "lay on floor"])
    assert "Select the answer from :['(A) clap proudly', '(B) crawl', '(C) lay on floor']." in text
    assert text.endswith("<answer>A</answer><glue>[(5.2, 10.4)]</glue>.\n")


def test_render_track_start_box_repr():
    name, text = prompts.render_track("sloth", [0.093, 0.0, 0.8, 0.797])
    assert name == "QUESTION_TEMPLATE_TRACK"
    assert 'Track the "sloth" in the video based on its initial coordinates "[0.093, 0.0, 0.8, 0.797]".' in text
    assert "<timestep>" in text
    assert "<timestep>" not in prompts.render_track("sloth", [0, 0, 1, 1], think=False)[1]
