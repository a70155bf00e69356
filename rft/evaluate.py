"""`vcr rft eval`: run a model on every example of a data file and score it as its family's evaluation does.

Each example goes through the same path as `vcr ground/track/ask`, with the model family's evaluation recipe
(`Family.training`, found from the checkpoint or given with --family): its evaluation prompt (`rft.data.
example_prompt(..., evaluation=True)`; VideoChat-R1 asks grounding with the raw sentence, case and final period
kept, where training lower-cases it; TimeLens2 asks TimeLens's grounder prompt, as its Charades-TimeLens numbers
were made), its chat layout, its evaluation frame rule (`vcr_cli.video.sample_video`; VideoChat-R1's tracking
rows: the paper's 7 frames at the nominal fps 2, `vcr_cli.video.sample_tracking`; TimeLens2: 4 fps), its time
contract, and `vcr_cli.runtime.Runtime.generate` (the checkpoint's own generation settings). The predictions file
holds the data lines as read plus `"output"` (the raw text), so `vcr rft score` re-scores it without a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from rft.config import require_trainable


def evaluate(data_path, model, quant="4bit", device="auto", think=True, predictions_path=None, *,
             fps: float | None = None, max_frames: int | None = None, max_pixels: int | None = None,
             max_new_tokens: int | None = None, family: str | None = None) -> dict:
    """Metrics (`rft.metrics.score_predictions`: percent, strict parsing) of `model` on the data file.

    `fps` / `max_frames` / `max_pixels` change the family's evaluation frame rule; `max_new_tokens` None: the
    family's budget."""
    from rft.data import count_tasks, example_prompt, load_examples
    from rft.metrics import score_predictions
    from rft.train import check_tasks
    from vcr_cli.console import console, plural, progress_step, quiet_libraries, status
    from vcr_cli.families import RFT_TASK_ROLES
    from vcr_cli.runtime import load_runtime
    from vcr_cli.video import sample_tracking, sample_video

    quiet_libraries()
    examples = load_examples(data_path)
    model_family = require_trainable(model, family)
    check_tasks(model_family, count_tasks(examples), str(data_path), evaluation=True)
    rule = model_family.training.eval_sampling
    with status(f"Loading {model or 'model'} ({quant})..."):
        runtime = load_runtime(model, quant=quant, device=device, family=model_family.name)
    budget = runtime.new_token_budget(max_new_tokens)
    lines = []
    decoded: tuple[tuple[str, bool], object] | None = None  # consecutive lines often share a video: decode it once
    label = f"evaluating {plural(len(examples), 'example')} with {model or runtime.model_id} as {model_family.title}"
    with progress_step(label, total=len(examples)) as advance:
        for done, example in enumerate(examples, 1):
            key = (str(example.video), example.task == "track")
            if decoded is None or decoded[0] != key:
                decoded = (key, sample_tracking(example.video, max_pixels=max_pixels) if example.task == "track"
                           else sample_video(example.video, fps=fps, max_frames=max_frames, max_pixels=max_pixels,
                                             rule=rule))
            _, prompt = example_prompt(example, think, evaluation=True, family=model_family)
            layout = model_family.layout(RFT_TASK_ROLES[example.task])
            example.output = runtime.generate(prompt, decoded[1], max_new_tokens=budget, layout=layout).text
            lines.append({**example.raw, "video": _video_for(example, predictions_path), "output": example.output})
            advance(done)
    if predictions_path is not None:
        from vcr_cli.outputs.atomic import write_text_atomic

        write_text_atomic(Path(predictions_path), "".join(json.dumps(line, ensure_ascii=False) + "\n"
                                                          for line in lines))
        console.print(f"predictions written to {predictions_path}", soft_wrap=True, markup=False)
    return score_predictions(examples)


def file_label(model: str) -> str:
    """A model id or folder as a file name: runs/rft1 -> runs_rft1, OpenGVLab/VideoChat-R1_7B ->
    OpenGVLab_VideoChat-R1_7B."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip().strip("/\\")).strip("._") or "model"


def predictions_paths(models: Sequence[str], folder: Path | None) -> dict[str, Path | None]:
    """{model: where its predictions go}: FOLDER/<file_label>.jsonl each (the folder is made if missing; its
    parent must exist), or None each without a folder. UsageError for a model given twice or clashing names."""
    from vcr_cli.errors import UsageError

    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise UsageError(f"--model {repeated[0]} is given twice; give each model once")
    if folder is None:
        return dict.fromkeys(models)
    if (folder.exists() and not folder.is_dir()) or (not folder.exists() and folder.suffix == ".jsonl"):
        raise UsageError(f"--predictions {folder} is a file; with several --model it must be a folder "
                         "(one MODEL.jsonl each)")
    names = {model: file_label(model) for model in models}
    clashes = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if clashes:
        raise UsageError(f"two --model values give the same predictions file {folder / (clashes[0] + '.jsonl')}; "
                         "write them to separate folders")
    if not folder.exists():
        if not folder.absolute().parent.is_dir():
            raise UsageError(f"--predictions {folder}: its parent folder does not exist")
        folder.mkdir()
    return {model: folder / f"{name}.jsonl" for model, name in names.items()}


def check_models(data_path, models: Sequence[str | None], family: str | None = None) -> None:
    """Every model's family has an evaluation recipe for every task of the data (one line otherwise), checked
    before the first model loads: a run of several models never stops after hours on its last one."""
    from rft.data import count_tasks, load_examples
    from rft.train import check_tasks

    counts = count_tasks(load_examples(data_path, check_videos=False))  # (each model's run probes the videos)
    for model in models:
        check_tasks(require_trainable(model, family), counts, str(data_path), evaluation=True)


def evaluate_models(data_path, models: Sequence[str], predictions: dict[str, Path | None], **options) -> dict:
    """{model: metrics} for each model in turn on the same data (`evaluate`); each model's memory is freed before
    the next loads."""
    import gc
    import sys

    check_models(data_path, models, options.get("family"))
    results = {}
    for model in models:
        results[model] = evaluate(data_path=data_path, model=model, predictions_path=predictions[model], **options)
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return results


def _video_for(example, predictions_path) -> str:
    """The line's video as the predictions file must say it: absolute stays, relative is re-based onto its folder.

    Data lines' relative paths are relative to the data file; a predictions file elsewhere would lose them.
    """
    import os

    written = str(example.raw.get("video", example.video))
    if predictions_path is None or Path(written).expanduser().is_absolute():
        return written
    return Path(os.path.relpath(Path(example.video).absolute(), Path(predictions_path).absolute().parent)).as_posix()
