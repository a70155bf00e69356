"""Rewards as pure functions over lists of completions, against hand-computed values (reference §3)."""

from __future__ import annotations

import json
import math

import pytest

from rft import rewards
from rft.rewards import (
    DEFAULT_REWARDS,
    REWARDS,
    build_rewards,
    ground_format,
    ground_iou,
    parse_penalty,
    qa_answer,
    qa_format,
    qa_glue_iou,
    resolve_reward,
    temporal_iou_multi,
    tiou,
    track_format,
    track_iou,
    twass1,
    wasserstein_1,
    wasserstein_span_reward,
)
from vcr_cli.errors import UsageError

GT_3MSZA = {"start": 24.3, "end": 30.4}
THINK_ANSWER = (
    "<think>The person walks to the door at <timestep>20.10 to 23.00</timestep> and reaches the switch; "
    "the light turns on around <timestep>24.50</timestep>.</think>\n<answer>24.30 to 30.40</answer>"
)
BOXES = [[0.0, 0.0, 0.5, 0.5]] * 8
EIGHT = ("[[0.09,0.0,0.8,0.8],[0.1,0.0,0.8,0.79],[0.11,0.09,0.75,0.96],[0.08,0.01,0.64,0.88],"
         "[0.01,0.0,0.6,0.86],[0.05,0.0,0.64,0.83],[0.1,0.09,0.76,0.88],[0.13,0.0,0.71,0.8]]")


def one(fn, text, task, solution, **extra):
    """The reward of a single completion."""
    (value,) = fn([text], task=[task], solution=[solution], **{k: [v] for k, v in extra.items()})
    return value


@pytest.mark.parametrize(
    ("text", "solution", "expected"),
    [
        (THINK_ANSWER, GT_3MSZA, 1.0),  # exact span
        ("<think>x</think><answer>20.0 to 26.0</answer>", GT_3MSZA, 1.7 / 10.4),  # inter 26-24.3, union 30.4-20
        ("<answer>24.3 and 30.4</answer>", GT_3MSZA, 1.0),  # "and" accepted
        ('<answer>"24.30 TO 30.40"</answer>', GT_3MSZA, 1.0),  # quotes, case-insensitive
        ("<answer>0 to 10</answer>", GT_3MSZA, 0.0),  # disjoint
        ("<answer>1.0 to 2.0</answer> then <answer>24.3 to 30.4</answer>", GT_3MSZA, 1.0),  # last block
        ("<answer>24.3 to 30.4</answer><answer>none</answer>", GT_3MSZA, 0.0),  # last block has no span
        ("<answer>30.4 to 24.3</answer>", GT_3MSZA, 0.0),  # start > end: unparsed
        ("24.3 to 30.4", GT_3MSZA, 0.0),  # no <answer> block (training parser)
        ("<answer>24.3s - 30.4s</answer>", GT_3MSZA, 0.0),  # needs " to "/" and "
        ("<answer>5.0 to 5.0</answer>", {"start": 5.0, "end": 5.0}, 1.0),  # union 0: grpo_tg.py's 1.0
        ("<answer>0.0 to 3.45</answer>", {"start": 0.0, "end": 6.9}, 0.5),
    ],
)
def test_ground_iou(text, solution, expected):
    assert one(ground_iou, text, "ground", solution) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "think", "expected"),
    [
        ("<think>a</think>\n<answer>1 to 2</answer>", None, 1.0),
        ("  \n<think>a\nb</think><answer>1 to 2</answer>\n ", None, 1.0),  # stripped, DOTALL
        ("<answer>1 to 2</answer>", None, 0.0),  # thinking required by default
        ("<think>a</think><answer>1 to 2</answer> done", None, 0.0),  # fullmatch: nothing after
        ("Sure. <think>a</think><answer>1 to 2</answer>", None, 0.0),  # nothing before
        ("<think>a</think><answer>1 to 2", None, 0.0),  # unclosed
        ("<answer>1 to 2</answer>", False, 1.0),  # no-think rows use the no-think regex
        ("<think>a</think><answer>1 to 2</answer>", True, 1.0),
    ],
)
def test_ground_format(text, think, expected):
    extra = {} if think is None else {"think": think}
    assert one(ground_format, text, "ground", GT_3MSZA, **extra) == expected


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("<think>x</think><answer>C</answer><glue>[(1.0, 2.0)]</glue>", "C", 1.0),
        ("<answer>(C) lay on floor</answer>", "C", 1.0),  # first A-G letter
        ("<answer>C</answer>", "(C)", 1.0),  # the NExT-GQA spelling on the solution side
        ("<answer>The answer is D</answer>", "D", 1.0),  # stock prefix removed
        ("<answer>Bob</answer>", "B", 1.0),  # quirk: the first A-G character anywhere
        ("<answer>D</answer>", "C", 0.0),
        ("<answer>c</answer>", "C", 0.0),  # lower case is not a letter answer
        ("C", "C", 0.0),  # no <answer> block
        ("<answer>none of these options fit the video at all in my opinion</answer>", "C", 0.0),  # > 10 words
        ("<answer>A</answer><answer>C</answer>", "C", 0.0),  # the first block counts
    ],
)
def test_qa_answer(text, answer, expected):
    assert one(qa_answer, text, "qa", {"answer": answer}) == expected


@pytest.mark.parametrize(
    ("text", "evidence", "expected"),
    [
        ("<answer>C</answer>\n<glue>[(23.0, 27.7)]</glue>", [[23.0, 27.7]], 1.0),
        ("<answer>(C) lay on floor</answer><glue>[[23.0, 27.7]]</glue>", [[23.0, 27.7]], 0.0),  # lists: invalid
        ("<glue>[(20.0, 25.0), (24.0, 30.0)]</glue>", [[23.0, 27.7]], 4.7 / 10.0),  # merged to (20, 30)
        ("<glue>[(0, 1), (2, 3)]</glue>", [[0.5, 2.5]], 1.0 / 3.0),  # inter 0.5 + 0.5, union 2 + 2 - 1
        ("<glue>[]</glue>", [[1.0, 2.0]], 0.0),  # empty but valid
        ("<glue>[( 1.0, 2.0)]</glue>", [[1.0, 2.0]], 0.0),  # space inside the tuple: invalid
        ("<answer>C</answer>", [[1.0, 2.0]], 0.0),  # no glue
        ("<glue>[(1.0, 2.0)]</glue>", None, None),  # no evidence in the data: not applicable
    ],
)
def test_qa_glue_iou(text, evidence, expected):
    solution = {"answer": "C"} if evidence is None else {"answer": "C", "evidence": evidence}
    value = one(qa_glue_iou, text, "qa", solution)
    assert value == (None if expected is None else pytest.approx(expected, abs=1e-12))


@pytest.mark.parametrize(
    ("text", "think", "expected"),
    [
        ("<think>x</think>\n<answer>C</answer>\n<glue>[(23.0, 27.7)]</glue>", None, 1.0),
        ("<think>x</think><answer>C</answer><glue>[]</glue>", None, 1.0),  # empty list is valid
        ("<think>x</think><answer>C</answer><glue>[[23.0, 27.7]]</glue>", None, 0.0),  # lists, not tuples
        ("<think>x</think><answer>C</answer><glue>[(27.7, 23.0)]</glue>", None, 0.0),  # start > end
        ("<think>x</think><answer>C</answer>", None, 0.0),  # glue required
        ("<answer>C</answer><glue>[(1, 2)]</glue>", None, 0.0),  # think required by default
        ("<answer>C</answer><glue>[(1, 2)]</glue>", False, 1.0),  # no-think rows
    ],
)
def test_qa_format(text, think, expected):
    extra = {} if think is None else {"think": think}
    assert one(qa_format, text, "qa", {"answer": "C"}, **extra) == expected


def _boxes(boxes) -> str:
    return "<think>t</think><answer>" + json.dumps(boxes) + "</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_boxes(BOXES), 1.0),
        (_boxes([[0.0, 0.0, 0.5, 1.0]] * 8), 0.5),  # each IoU 0.25 / 0.5
        (_boxes([[0.0, 0.0, 0.5, 0.5]] * 4 + [[0.6, 0.6, 0.9, 0.9]] * 4), 0.5),  # 4 exact, 4 disjoint
        (_boxes([[0.25, 0.0, 0.75, 0.5]] * 8), 1.0 / 3.0),  # inter 0.125, union 0.375
        ("<answer>" + EIGHT.replace(",", ",\n") + "</answer>", None),  # newlines removed; value checked below
        (_boxes(BOXES[:7]), 0.0),  # 7 boxes
        (_boxes([[0.0, 0.0, 0.5]] * 8), 0.0),  # 3 numbers
        ("<answer>[[0.1,0.5,0.3,0.55],[0.72,0.25,0.84,0.43]]</answer>", 0.0),  # reference §8: len != 8
        ('<answer>[["a", 0, 1, 1]] + [[0, 0, 1, 1]] * 7</answer>', 0.0),  # not a literal
        ("<answer>" + json.dumps([["a", 0, 1, 1]] + [[0, 0, 1, 1]] * 7) + "</answer>", 0.0),  # a string inside
        ("no answer", 0.0),
    ],
)
def test_track_iou(text, expected):
    value = one(track_iou, text, "track", {"boxes": BOXES})
    if expected is None:  # hand-check the reference's 8-box example against all-[0,0,.5,.5]
        from vcr_cli.parsing import box_iou

        expected = sum(box_iou(b, BOXES[0]) for b in json.loads(EIGHT)) / 8
    assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_boxes(BOXES), 1.0),
        ("<think>t</think>\n<answer>" + EIGHT + "</answer>", 1.0),
        (_boxes(BOXES[:2]), 0.0),  # 2 boxes
        ("<answer>" + EIGHT + "</answer>", 0.0),  # no think
        (_boxes(BOXES) + " extra", 0.0),
    ],
)
def test_track_format(text, expected):
    assert one(track_format, text, "track", {"boxes": BOXES}) == expected


def test_other_tasks_get_none_and_rows_align():
    completions = [THINK_ANSWER, "<answer>C</answer><glue>[(1.0, 2.0)]</glue>", _boxes(BOXES)]
    kwargs = {"task": ["ground", "qa", "track"],
              "solution": [GT_3MSZA, {"answer": "C", "evidence": [[1.0, 2.0]]}, {"boxes": BOXES}]}
    assert ground_iou(completions, **kwargs) == [1.0, None, None]
    assert ground_format(completions, **kwargs) == [1.0, None, None]
    assert qa_answer(completions, **kwargs) == [None, 1.0, None]
    assert qa_glue_iou(completions, **kwargs) == [None, 1.0, None]
    assert qa_format(completions, **kwargs) == [None, 0.0, None]
    assert track_iou(completions, **kwargs) == [None, None, 1.0]
    assert track_format(completions, **kwargs) == [None, None, 1.0]


def test_conversational_completions_and_trl_keywords():
    """TRL passes prompts, completion_ids, trainer_state, log_extra, log_metric and every dataset column."""
    conversational = [
        [{"role": "assistant", "content": THINK_ANSWER}],
        [{"role": "assistant", "content": [{"type": "text", "text": "<answer>20.0 to 26.0</answer>"}]}],
    ]
    values = ground_iou(conversational, prompts=[[], []], completion_ids=[[1], [2]], trainer_state=None,
                        log_extra=lambda *a: None, log_metric=lambda *a: None, task=["ground", "ground"],
                        solution=[GT_3MSZA, GT_3MSZA], video=["a.mp4", "a.mp4"])
    assert values == [1.0, pytest.approx(1.7 / 10.4)]
    assert rewards.completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"


def test_solution_as_json_string_and_unified_struct_columns():
    """HF datasets unify struct columns across tasks (missing keys become None); JSON strings work too."""
    unified = {"start": None, "end": None, "answer": "C", "evidence": None, "boxes": None}
    assert qa_glue_iou(["<glue>[(1.0, 2.0)]</glue>"], task=["qa"], solution=[unified]) == [None]
    assert qa_answer(["<answer>C</answer>"], task=["qa"], solution=[unified]) == [1.0]
    assert ground_iou([THINK_ANSWER], task=["ground"], solution=[json.dumps(GT_3MSZA)]) == [1.0]


def test_without_task_column_every_row_is_scored():
    assert ground_iou([THINK_ANSWER, "x"], solution=[GT_3MSZA, GT_3MSZA]) == [1.0, 0.0]


# ---------------------------------------------------------------- registry


def test_registry_names():
    assert DEFAULT_REWARDS == ["ground_format", "ground_iou", "qa_format", "qa_answer", "qa_glue_iou",
                               "track_format", "track_iou"]
    assert all(func.__name__ == name for name, func in REWARDS.items())  # TRL logs rewards by __name__
    assert list(REWARDS) == [*DEFAULT_REWARDS, "tiou", "twass1", "parse_penalty"]
    assert rewards.REWARD_TASKS["twass1"] == rewards.REWARD_TASKS["parse_penalty"] == "ground"
    assert rewards.rewards_for_tasks(["ground"]) == ["ground_format", "ground_iou"]
    assert rewards.rewards_for_tasks({"track", "qa"}) == ["qa_format", "qa_answer", "qa_glue_iou", "track_format",
                                                         "track_iou"]


def test_resolve_reward(tmp_path, monkeypatch):
    assert resolve_reward("ground_iou") is ground_iou
    assert resolve_reward("rft.rewards:track_iou") is track_iou
    assert resolve_reward(len) is len
    user = tmp_path / "my_rewards.py"
    user.write_text("def short(completions, **kwargs):\n    return [1.0 / (1 + len(c)) for c in completions]\n")
    assert resolve_reward(f"{user}:short")(["ab"]) == [1.0 / 3]
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_reward("my_rewards:short").__name__ == "short"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("iou", "unknown reward 'iou': use one of ground_format, ground_iou, qa_format, qa_answer, qa_glue_iou, "
                "track_format, track_iou, tiou, twass1, parse_penalty, or 'module:function' for your own"),
        ("no_such_module_xyz:f", "cannot import reward module 'no_such_module_xyz'"),
        ("rft.rewards:nope", "reward module 'rft.rewards' has no function 'nope'"),
        ("rft.rewards:DEFAULT_REWARDS", "reward 'rft.rewards:DEFAULT_REWARDS' is not callable"),
        ("missing_file.py:f", "reward file not found: missing_file.py"),
        ("", "bad reward ''"),
    ],
)
def test_resolve_reward_errors(name, message):
    with pytest.raises(UsageError) as info:
        resolve_reward(name)
    assert str(info.value).startswith(message)


def test_build_rewards():
    funcs, weights = build_rewards()
    assert [f.__name__ for f in funcs] == DEFAULT_REWARDS and weights == [1.0] * 7
    funcs, weights = build_rewards(["ground_iou", "ground_format"], [2, 0.5])
    assert funcs == [ground_iou, ground_format] and weights == [2.0, 0.5]
    assert build_rewards(["ground_iou", "ground_format"], {"ground_format": 0.25})[1] == [1.0, 0.25]
    for names, weights, message in [
        (["ground_iou"], [1.0, 2.0], "2 reward weights for 1 rewards"),
        (["ground_iou"], {"track_iou": 1.0}, "reward weights for rewards not in use: track_iou"),
        (["ground_iou"], ["x"], "reward weight 'x' is not a number"),
        ([], None, "no reward functions"),
    ]:
        with pytest.raises(UsageError, match=message):
            build_rewards(names, weights)


# ---------------------------------------------------------------- TimeLens2's rewards (model-families.md §3)


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ([(0, 10)], [(0, 10)], 1.0),
        ([(2, 4)], [(3, 5)], 1 / 3),  # one span each: the plain IoU
        ([(0, 2), (1, 3)], [(2, 5)], 1 / 5),  # prediction merged to 0-3: overlap 1, 3 + 3 - 1
        ([(0, 1), (3, 4)], [(0, 4)], 2 / 4),  # two disjoint predicted spans: overlaps 1 + 1, 2 + 4 - 2
        ([(0, 3)], [(0, 2), (1, 3)], 4 / 3),  # the GT is not merged: overlaps 2 + 2, 3 + 4 - 4
        ([(5, 6)], [(0, 4)], 0.0),
    ],
)
def test_temporal_iou_multi_hand_computed(pred, gt, expected):
    assert temporal_iou_multi(pred, gt) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("pred", "gt", "w1"),
    [
        ([(0, 10)], [(0, 10)], 0.0),
        ([(2, 4)], [(0, 2)], 2.0),  # the same shape shifted by 2 s
        ([(0, 4)], [(0, 2)], 1.0),  # quantiles 4u vs 2u: integral of 2u over [0, 1]
        ([(1, 3)], [(0, 4)], 0.5),  # quantiles 1 + 2u vs 4u: |1 - 2u| changes sign at u = 1/2
        ([(0, 1), (3, 4)], [(0, 2)], 1.0),  # half the mass on each span: quantiles differ by 2 for u > 1/2
        ([(0, 2), (1, 3)], [(0, 3)], 0.0),  # overlapping predicted spans are merged first
        ([(0, 1), (1, 2)], [(0, 2)], 0.0),  # touching spans too
    ],
)
def test_wasserstein_hand_computed(pred, gt, w1):
    assert wasserstein_1(pred, gt) == pytest.approx(w1, abs=1e-12)
    length = sum(e - s for s, e in rewards.merge_intervals(gt))
    assert wasserstein_span_reward(pred, gt) == pytest.approx(math.exp(-w1 / length), abs=1e-12)


def test_wasserstein_reward_beta_and_gt_without_length():
    assert wasserstein_span_reward([(2, 4)], [(0, 2)], beta=0.5) == pytest.approx(math.exp(-0.5))
    assert wasserstein_span_reward([(2, 4)], [(3, 3)]) == 0.0


GT_3_5 = {"start": 3.0, "end": 5.0}


@pytest.mark.parametrize(
    ("text", "tiou_value", "twass1_value", "penalty"),
    [
        ("[[3, 5]]", 1.0, 1.0, 0.0),
        ("<answer>[[2, 4]]</answer>", 1 / 3, math.exp(-1 / 2), 0.0),  # W1 = 1 (a 1 s shift), |G| = 2
        ('```json\n[[3.0, 4.0], [4.5, 5.0]]\n```', 1.5 / 2, math.exp(-5 / 36 / 2), 0.0),
        # quantiles 3 + 1.5u | 3.5 + 1.5u (split at u = 2/3) vs 3 + 2u: W1 = 1/9 + 1/36
        ("The spans are [[5, 3]].", 1.0, 1.0, 0.0),  # each pair ordered (min, max) by the parser
        ("[4, 6]", 1 / 3, math.exp(-1 / 2), 0.0),  # a flat pair is one span
        ("[[3, 3]]", 0.0, 0.0, -1.0),  # s = e: invalid
        ("[[3, 5], [6, 6]]", 0.0, 0.0, -1.0),  # one span without length invalidates the answer
        ("[]", 0.0, 0.0, -1.0),  # no span
        ("The event happens in 3 - 5 seconds.", 0.0, 0.0, -1.0),  # not JSON: TimeLens2's reward parser is strict
        ("", 0.0, 0.0, -1.0),
    ],
)
def test_timelens2_rewards_on_answers(text, tiou_value, twass1_value, penalty):
    assert one(tiou, text, "ground", GT_3_5) == pytest.approx(tiou_value, abs=1e-12)
    assert one(twass1, text, "ground", GT_3_5) == pytest.approx(twass1_value, abs=1e-12)
    assert one(parse_penalty, text, "ground", GT_3_5) == penalty


def test_timelens2_rewards_skip_other_tasks_and_build_by_name():
    assert tiou(["[[3, 5]]", "[[3, 5]]"], task=["qa", "ground"], solution=[{"answer": "A"}, GT_3_5]) == [None, 1.0]
    funcs, weights = build_rewards(rewards.TIMELENS2_REWARDS)
    assert funcs == [twass1, tiou, parse_penalty] and weights == [1.0, 1.0, 1.0]


def test_span_rewards_and_ground_iou_against_several_annotated_spans():
    """A line annotated with two spans, 0-2 and 4-6 (`solution.spans`), hand-computed:
    tiou of [[0, 2], [4, 5]]: overlaps 2 + 1 over 3 + 4 - 3 = 0.75; its W1 against the GT's uniform density (length
    4): quantiles 3u / 3u+2 vs 4u / 4u+2 differ by u, u + 2, u on [0, 1/2], [1/2, 2/3], [2/3, 1]: 1/8 + 31/72 + 5/18
    = 5/6, so twass1 = exp(-5/24); the paper's ground_iou reads one span, 0-2: 2 / (2 + 4 - 2) = 0.5."""
    solution = {"spans": [[0.0, 2.0], [4.0, 6.0]]}
    assert wasserstein_1([(0, 2), (4, 5)], [(0, 2), (4, 6)]) == pytest.approx(5 / 6, abs=1e-12)
    answer = "[[0, 2], [4, 5]]"
    assert tiou([answer], task=["ground"], solution=[solution]) == [pytest.approx(0.75)]
    assert twass1([answer], task=["ground"], solution=[solution]) == [pytest.approx(math.exp(-5 / 24))]
    assert parse_penalty([answer], task=["ground"], solution=[solution]) == [0.0]
    assert rewards.ground_iou(["<think>x</think><answer>0 to 2</answer>"], task=["ground"],
                              solution=[json.dumps(solution)]) == [pytest.approx(0.5)]
