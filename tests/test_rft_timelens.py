"""TimeLens-Bench in `vcr rft`: `convert --from timelens`, grounding scored under both named protocols
(hand-computed), one comparison table across models (`score` over files or a folder, `eval` over several
--model), their error paths, and TimeLens2's example config (model-families.md §2-3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

# charades-timelens.json's shape: video id -> {duration, spans, queries}, spans[i] the GT of queries[i]
BENCH = {
    "AO8RW": {"duration": 30.0, "spans": [[2.0, 8.0], [10.0, 20.0]],
              "queries": ["a person opens a door.", " a person sits down "]},
    "Y6R7T": {"duration": 12.5, "spans": [[0.0, 5.0], [5.0, 10.0], [1.0, 2.0]],
              "queries": ["someone laughs", "they leave", "a dog barks"]},
}
# One model's raw answers, chosen so that the protocols differ (IoU: videochat-r1 | timelens):
OUTPUTS_A = [
    "The event happens in 2.0 - 8.0 seconds.",  # "a - b" is not "s to e": unparsed (0) | 2-8: 1.0
    "<answer>14.0 to 20.0</answer>",  # 0.6 | 0.6
    "[[1, 3]]",  # JSON: unparsed (0) | bare numbers 1, 3: 2/5 = 0.4
    "<think>maybe 1 to 2</think><answer>5 to 9</answer>",  # the last span, 5-9: 0.8 | the first, 1-2: 0
    "I don't know.",  # unparsed (0) | unparsed (0)
]
OUTPUTS_B = [
    "2.0 to 8.0",  # 1.0 | 1.0
    "0 to 10",  # 0.0 | 0.0
    "<answer>0.0 to 2.5</answer>",  # 0.5 | 0.5
    "5.0 and 10.0",  # 1.0 | "and" is not extract_time's: bare numbers 5.0, 10.0: 1.0
    "1 to 1.5",  # 0.5 | 0.5
]
# Hand-computed, percent (metrics round to 4 decimals):
A_VIDEOCHAT = {"count": 5, "miou": 28.0, "r@0.3": 40.0, "r@0.5": 40.0, "r@0.7": 20.0,  # (.6 + .8) / 5
               "parse_failures": 3}
A_TIMELENS = {"count": 5, "miou": 40.0, "r@0.3": 60.0, "r@0.5": 40.0, "r@0.7": 20.0,  # (1 + .6 + .4) / 5
              "parse_failures": 1}
B_VIDEOCHAT = {"count": 5, "miou": 60.0, "r@0.3": 80.0, "r@0.5": 80.0, "r@0.7": 40.0,  # (1 + .5 + 1 + .5) / 5
               "parse_failures": 0}
B_TIMELENS = {**B_VIDEOCHAT}


def _one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


def _converted(tmp_path: Path) -> Path:
    src = tmp_path / "charades-timelens.json"
    src.write_text(json.dumps(BENCH))
    out = tmp_path / "test.jsonl"
    result = runner.invoke(app, ["rft", "convert", "--from", "timelens", str(src), "-o", str(out),
                                 "--video-root", "/data/TimeLens-Bench/videos/charades"])
    assert result.exit_code == 0, result.output
    return out


def _predictions(tmp_path: Path, name: str, outputs: list[str]) -> Path:
    lines = [json.loads(line) for line in _converted(tmp_path).read_text().splitlines()]
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({**line, "output": text}) + "\n" for line, text in zip(lines, outputs)))
    return path


def test_convert_timelens_one_line_per_span_query_pair(tmp_path):
    lines = [json.loads(line) for line in _converted(tmp_path).read_text().splitlines()]
    root = "/data/TimeLens-Bench/videos/charades"
    assert lines == [
        {"task": "ground", "video": f"{root}/AO8RW.mp4", "query": "a person opens a door.",
         "solution": {"start": 2.0, "end": 8.0}},
        {"task": "ground", "video": f"{root}/AO8RW.mp4", "query": "a person sits down",
         "solution": {"start": 10.0, "end": 20.0}},
        {"task": "ground", "video": f"{root}/Y6R7T.mp4", "query": "someone laughs",
         "solution": {"start": 0.0, "end": 5.0}},
        {"task": "ground", "video": f"{root}/Y6R7T.mp4", "query": "they leave",
         "solution": {"start": 5.0, "end": 10.0}},
        {"task": "ground", "video": f"{root}/Y6R7T.mp4", "query": "a dog barks",
         "solution": {"start": 1.0, "end": 2.0}},
    ]
    result = runner.invoke(app, ["rft", "validate", str(tmp_path / "test.jsonl"), "--no-check-videos"])
    assert result.exit_code == 0 and "ok: 5 examples (ground 5)" in result.stderr


def test_converted_sample_set_scores_hand_computed_numbers_under_both_protocols(tmp_path):
    preds = _predictions(tmp_path, "a.jsonl", OUTPUTS_A)
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, ["rft", "score", str(preds), "-o", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["protocols"] == {"videochat-r1": A_VIDEOCHAT, "timelens": A_TIMELENS}
    assert metrics["tasks"] == {"ground": {k: v for k, v in A_VIDEOCHAT.items() if k != "parse_failures"}}
    assert "videochat-r1" in result.stdout and "timelens" in result.stdout and "40.00" in result.stdout


def test_comparison_table_from_two_prediction_files(tmp_path):
    a = _predictions(tmp_path, "model-a.jsonl", OUTPUTS_A)
    b = _predictions(tmp_path, "model-b.jsonl", OUTPUTS_B)
    out, csv_path, md_path = tmp_path / "m.json", tmp_path / "t.csv", tmp_path / "t.md"
    result = runner.invoke(app, ["rft", "score", str(a), str(b), "-o", str(out), "--table", str(csv_path),
                                 "--table", str(md_path)])
    assert result.exit_code == 0, result.output
    models = json.loads(out.read_text())["models"]
    assert list(models) == ["model-a", "model-b"]
    assert models["model-b"]["protocols"] == {"videochat-r1": B_VIDEOCHAT, "timelens": B_TIMELENS}
    assert csv_path.read_text() == (
        "model,protocol,count,r@0.3,r@0.5,r@0.7,miou,parse_failures\n"
        "model-a,videochat-r1,5,40.0,40.0,20.0,28.0,3\n"
        "model-a,timelens,5,60.0,40.0,20.0,40.0,1\n"
        "model-b,videochat-r1,5,80.0,80.0,40.0,60.0,0\n"
        "model-b,timelens,5,80.0,80.0,40.0,60.0,0\n")
    md = md_path.read_text().splitlines()
    assert md[:6] == [
        "| model | protocol | samples | R@0.3 | R@0.5 | R@0.7 | mIoU | parse failures |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| model-a | videochat-r1 | 5 | 40.00 | 40.00 | 20.00 | 28.00 | 3 |",
        "| model-a | timelens | 5 | 60.00 | 40.00 | 20.00 | 40.00 | 1 |",
        "| model-b | videochat-r1 | 5 | 80.00 | 80.00 | 40.00 | 60.00 | 0 |",
        "| model-b | timelens | 5 | 80.00 | 80.00 | 40.00 | 60.00 | 0 |"]
    assert md[7].startswith("- `videochat-r1`: VideoChat-R1's: strict") and md[8].startswith("- `timelens`")
    # the table is printed too (stdout; the JSON went to the file), one row per model and protocol
    assert result.stdout.count("model-a") == 2 and "parse failures" in result.stdout
    # a results folder: its *.jsonl in name order, the same table
    folder = tmp_path / "results"
    folder.mkdir()
    for path in (b, a):
        (folder / path.name).write_text(path.read_text())
    result = runner.invoke(app, ["rft", "score", str(folder), "--table", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.csv").read_text() == csv_path.read_text()


def test_comparison_json_on_stdout_table_on_stderr(tmp_path):
    a = _predictions(tmp_path, "a.jsonl", OUTPUTS_A)
    b = _predictions(tmp_path, "b.jsonl", OUTPUTS_B)
    result = runner.invoke(app, ["rft", "score", str(a), str(b), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"]["a"]["protocols"]["timelens"] == A_TIMELENS
    assert "parse failures" in result.stderr


def test_score_errors_are_one_line(tmp_path):
    a = _predictions(tmp_path, "a.jsonl", OUTPUTS_A)
    line = _one_line_error(runner.invoke(app, ["rft", "score", str(a), str(tmp_path / "none.jsonl")]))
    assert line.endswith(f"predictions file not found: {tmp_path / 'none.jsonl'}")
    line = _one_line_error(runner.invoke(app, ["rft", "score", str(a), "--table", str(tmp_path / "t.txt")]))
    assert line.endswith(f"--table {tmp_path / 't.txt'}: name a .csv or .md file (the format follows the suffix)")
    (tmp_path / "empty").mkdir()
    line = _one_line_error(runner.invoke(app, ["rft", "score", str(tmp_path / "empty")]))
    assert "holds no predictions (*.jsonl)" in line
    line = _one_line_error(runner.invoke(app, ["rft", "score", str(a), str(a)]))
    assert "the same predictions file is given twice: " in line
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"task": "qa", "video": "v.mp4", "question": "q", "options": ["x", "y"],
                              "solution": {"answer": "A"}, "output": "<answer>A</answer>"}) + "\n")
    line = _one_line_error(runner.invoke(app, ["rft", "score", str(a), str(qa)]))
    assert line.endswith("qa: no grounding lines to compare (the table compares R@k and mIoU of ground lines)")
    assert runner.invoke(app, ["rft", "score", str(qa)]).exit_code == 0  # one file: the usual metrics


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object mapping video ids to {duration, spans, queries} (TimeLens-Bench), got a list"),
        ({"v": {"duration": 3, "timestamps": [[0, 1]], "sentences": ["x"]}},
         'entry "v": needs "spans" and "queries"'),
        ({"v": {"spans": [[0, 1]], "queries": []}}, 'entry "v": "spans" and "queries" must be lists of equal length'),
        ({"v": {"spans": [[0, 1, 2]], "queries": ["x"]}}, 'entry "v": span [0, 1, 2] is not [start, end]'),
    ],
)
def test_convert_timelens_errors(tmp_path, data, message):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps(data))
    result = runner.invoke(app, ["rft", "convert", "--from", "timelens", str(src), "-o", "-"])
    assert _one_line_error(result).endswith(f"{src}: {message}")


# ---------------------------------------------------------------- eval over several --model


@pytest.fixture
def fake_evaluate(monkeypatch):
    """`rft.evaluate.evaluate` answering with canned outputs per model (the model runs are tested elsewhere)."""
    import rft.evaluate
    from rft.metrics import score_predictions

    calls = []
    canned = {"runs/a": OUTPUTS_A, "org/model-b": OUTPUTS_B}

    def evaluate(data_path, model, predictions_path=None, **options):
        calls.append((model, predictions_path, options))
        rows = [{**json.loads(line), "output": text}
                for line, text in zip(Path(data_path).read_text().splitlines(), canned[model])]
        if predictions_path is not None:
            Path(predictions_path).write_text("".join(json.dumps(row) + "\n" for row in rows))
        return score_predictions(rows)

    monkeypatch.setattr(rft.evaluate, "evaluate", evaluate)
    # (the families of these made-up models are not looked up: the pre-check runs on real ones in
    # tests/test_rft_eval_families.py)
    monkeypatch.setattr(rft.evaluate, "check_models", lambda data, models, family=None: calls.append(("check", models)))
    return calls


def test_eval_several_models_one_table(tmp_path, fake_evaluate):
    data = _converted(tmp_path)
    preds, table = tmp_path / "preds", tmp_path / "table.csv"
    result = runner.invoke(app, ["rft", "eval", str(data), "--model", "runs/a", "--model", "org/model-b",
                                 "--predictions", str(preds), "--table", str(table), "--no-think"])
    assert result.exit_code == 0, result.output
    assert fake_evaluate.pop(0) == ("check", ["runs/a", "org/model-b"])  # every model checked before any runs
    assert [(model, path) for model, path, _ in fake_evaluate] == [
        ("runs/a", preds / "runs_a.jsonl"), ("org/model-b", preds / "org_model-b.jsonl")]
    assert fake_evaluate[0][2] == {"quant": "4bit", "device": "auto", "think": False, "max_new_tokens": None,
                                   "family": None}
    assert table.read_text().splitlines()[1:] == [
        "runs/a,videochat-r1,5,40.0,40.0,20.0,28.0,3", "runs/a,timelens,5,60.0,40.0,20.0,40.0,1",
        "org/model-b,videochat-r1,5,80.0,80.0,40.0,60.0,0", "org/model-b,timelens,5,80.0,80.0,40.0,60.0,0"]
    # the predictions folder re-scores to the same numbers, labelled by file name (in name order)
    result = runner.invoke(app, ["rft", "score", str(preds), "--table", str(tmp_path / "again.csv")])
    assert result.exit_code == 0, result.output
    rows = table.read_text().replace("org/model-b", "org_model-b").replace("runs/a", "runs_a").splitlines()[1:]
    assert (tmp_path / "again.csv").read_text().splitlines()[1:] == rows[2:] + rows[:2]


def test_eval_and_score_one_model_table(tmp_path, fake_evaluate):
    data = _converted(tmp_path)
    result = runner.invoke(app, ["rft", "eval", str(data), "-m", "runs/a", "--table", str(tmp_path / "t.csv"),
                                 "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.csv").read_text().splitlines()[1:] == [
        "runs/a,videochat-r1,5,40.0,40.0,20.0,28.0,3", "runs/a,timelens,5,60.0,40.0,20.0,40.0,1"]
    assert json.loads((tmp_path / "m.json").read_text())["protocols"]["timelens"] == A_TIMELENS  # not under "models"
    preds = _predictions(tmp_path, "a.jsonl", OUTPUTS_A)
    result = runner.invoke(app, ["rft", "score", str(preds), "--table", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "t.csv").read_text().replace("runs/a", "a")


def test_eval_several_models_errors_before_loading(tmp_path, fake_evaluate):
    data = _converted(tmp_path)
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "runs/a", "-m", "runs/a"]))
    assert line.endswith("--model runs/a is given twice; give each model once")
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "runs/a", "-m", "org/model-b",
                                               "--predictions", str(data)]))
    assert line.endswith(f"--predictions {data} is a file; with several --model it must be a folder "
                         "(one MODEL.jsonl each)")
    named = tmp_path / "preds.jsonl"  # not there yet, but named as a file: not made into a folder
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "runs/a", "-m", "org/model-b",
                                               "--predictions", str(named)]))
    assert line.endswith("with several --model it must be a folder (one MODEL.jsonl each)") and not named.exists()
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "runs/a", "-m", "runs_a",
                                               "--predictions", str(tmp_path / "preds")]))
    assert line.endswith(f"two --model values give the same predictions file {tmp_path / 'preds' / 'runs_a.jsonl'}; "
                         "write them to separate folders")
    assert not (tmp_path / "preds").exists()  # checked before anything is made
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "a", "-m", "b",
                                               "--table", str(tmp_path / "t.json")]))
    assert "name a .csv or .md file" in line
    line = _one_line_error(runner.invoke(app, ["rft", "eval", str(data), "-m", "a", "-m", "b", "--predictions",
                                               str(tmp_path / "p"), "-o", str(tmp_path / "no" / "m.json")]))
    assert "does not exist" in line and not (tmp_path / "p").exists()
    assert fake_evaluate == []


# ---------------------------------------------------------------- TimeLens2's recipe


def test_timelens2_example_config():
    from rft.config import RftConfig
    from rft.rewards import build_rewards, parse_penalty, tiou, twass1

    cfg = RftConfig.load(ROOT / "examples" / "configs" / "timelens2.yaml")
    assert (cfg.beta, cfg.num_generations, cfg.learning_rate, cfg.temperature, cfg.top_p, cfg.top_k) == \
        (0.04, 8, 1e-6, 1.0, 1.0, 0)
    assert (cfg.think, cfg.max_completion_length, cfg.fps, cfg.max_frames) == (False, 512, 2.0, 512)
    assert (cfg.total_pixels, cfg.min_pixels) == (16384 * 32 * 32, 32 * 32)
    funcs, weights = build_rewards(cfg.rewards, cfg.reward_weights)
    assert funcs == [twass1, tiou, parse_penalty] and weights == [1.0, 1.0, 1.0]
