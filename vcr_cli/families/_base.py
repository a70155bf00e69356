"""What every family module provides: identity, capabilities, sampling rule, time contract, prompts, parsers.

Pure data and plain functions (no torch, transformers or numpy at import): `vcr --help` and `vcr doctor` may
list families without loading a model stack. A family module builds one `Family` from its own prompts and
parsers; the shared per-architecture pieces live in `_qwen25.py` and `_qwen3.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from vcr_cli.errors import UsageError

if TYPE_CHECKING:
    from vcr_cli.sampling import SamplingPlan
    from vcr_cli.video import SampledVideo

# Roles: what a prompt is for. A family that has no prompt for a role cannot do that task.
GROUND = "ground"  # temporal grounding: spans in seconds
CHOICE = "choice"  # multiple choice (the final round for families with perception rounds)
CHOICE_GLUE = "choice_glue"  # multiple choice whose answer also names the evidence spans for the next round
OPEN = "open"  # free-form question
TRACK = "track"  # boxes of an object over frames
ROLES = (GROUND, CHOICE, CHOICE_GLUE, OPEN, TRACK)

Span = tuple[float, float]


class ChoiceAnswer(NamedTuple):
    """A multiple-choice answer in neutral terms: the letter (or None) and its evidence spans in seconds."""

    letter: str | None
    spans: list[Span]


@dataclass(frozen=True)
class Capabilities:
    """What a family was trained to do; tasks check these flags, never family names."""

    grounds: bool = False
    chooses: bool = False  # multiple choice
    answers_open: bool = False  # free-form questions
    tracks: bool = False
    multi_span: bool = False  # a grounding answer may hold several spans
    emits_think: bool = False  # its prompts (or its --think prompts) ask for <think> reasoning
    think_optional: bool = False  # --think / --no-think choose between two trained prompts
    glue: bool = False  # multiple-choice answers carry <glue> evidence spans
    rounds: int = 1  # default perception rounds (1: a single pass)
    trainable: bool = False  # `vcr rft` knows its training prompts and rewards (`Family.training`)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class SamplingRule:
    """A family's frame and pixel budget (qwen-vl-utils terms); `plan` turns it into frames and a size.

    Pixels are per frame except `total_pixels` (the whole video's budget, shared by the frames).
    """

    fps: float
    min_frames: int
    max_frames: int
    patch_size: int  # ViT patch (14 for Qwen2.5-VL, 16 for Qwen3-VL)
    min_pixels: int  # per-frame floor
    frame_max_pixels: int  # per-frame cap before the budget share
    total_pixels: int
    merge_size: int = 2
    temporal_patch_size: int = 2
    source: str = ""  # where these numbers come from

    @property
    def factor(self) -> int:
        """Frame sides are multiples of this: patch x spatial merge (28 or 32)."""
        return self.patch_size * self.merge_size

    def frame_cap(self, nframes: int, max_pixels: int | None = None) -> int:
        """Per-frame pixel cap: an even share of the budget, never below 1.05 x the floor (qwen-vl-utils)."""
        cap = max(min(self.frame_max_pixels, self.total_pixels / nframes * self.temporal_patch_size),
                  int(self.min_pixels * 1.05))
        if max_pixels is not None:
            cap = min(cap, max_pixels)
        return int(cap)

    def plan(self, total_frames: int, video_fps: float, width: int, height: int, *, fps: float | None = None,
             max_frames: int | None = None, max_pixels: int | None = None) -> SamplingPlan:
        """Frames evenly spread at `fps` (clamped to the frame limits), resized into the budget."""
        from vcr_cli.sampling import SamplingPlan, frame_indices, smart_nframes, smart_resize

        nframes = smart_nframes(total_frames, video_fps, fps=fps or self.fps, min_frames=self.min_frames,
                                max_frames=max_frames or self.max_frames)
        cap = self.frame_cap(nframes, max_pixels)
        resized_h, resized_w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels,
                                            max_pixels=cap)
        return SamplingPlan(indices=frame_indices(total_frames, nframes), width=resized_w, height=resized_h,
                            fps=nframes / max(total_frames, 1e-6) * video_fps, factor=self.factor)

    def video_tokens(self, frames: int, width: int, height: int) -> int:
        """LLM tokens for a video of `frames` frames at width x height (one per merged patch per time group)."""
        groups = -(-frames // self.temporal_patch_size)
        return groups * (height // self.factor) * (width // self.factor)

    def to_dict(self) -> dict:
        return {"fps": self.fps, "min_frames": self.min_frames, "max_frames": self.max_frames,
                "patch_size": self.patch_size, "factor": self.factor, "min_pixels": self.min_pixels,
                "frame_max_pixels": self.frame_max_pixels, "total_pixels": self.total_pixels, "source": self.source}


# `vcr rft` data tasks and the role whose chat layout each is trained in.
RFT_TASK_ROLES = {"ground": GROUND, "qa": CHOICE, "track": TRACK}


@dataclass(frozen=True)
class TrainingRecipe:
    """How `vcr rft` trains and evaluates a family: per rft data task (ground, qa, track) the prompt training asks
    and the one its published evaluation asks, the frame rules of each, the rewards a config names by default and
    the `rft.config.RftConfig` settings that differ from VideoChat-R1's GRPO recipe (the config's defaults).

    A prompt is `render(think=..., **fields) -> (template name, prompt)`, fields by task: ground `query`;
    qa `question`, `options`; track `object`, `box` (the first box, normalised)."""

    train_prompts: Mapping[str, Callable[..., tuple[str, str]]]
    eval_prompts: Mapping[str, Callable[..., tuple[str, str]]]
    train_sampling: SamplingRule
    eval_sampling: SamplingRule
    rewards: tuple[str, ...] = ()  # () : the paper's rewards of the tasks in the data (`rft.rewards`)
    settings: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # where the recipe's numbers come from

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.train_prompts)

    def config_defaults(self) -> dict[str, Any]:
        """RftConfig values for this family: the training frame rule's budget, then `settings`."""
        rule = self.train_sampling
        return {"fps": rule.fps, "max_frames": rule.max_frames, "total_pixels": rule.total_pixels,
                "min_pixels": rule.min_pixels, **self.settings}


# The time contract: sampled frames -> the processor's `video_metadata`.
MetadataFn = Callable[[Sequence[int], float, int, "Sequence[float] | None"], dict]


@dataclass(frozen=True)
class Family:
    """One checkpoint family's trained interface. Built once per module (`FAMILY`), looked up by name."""

    name: str  # the --family value
    title: str
    model_type: str  # config.json's model_type every checkpoint of this family has
    checkpoints: tuple[str, ...]  # hub ids known to be this family
    default: bool  # the family a checkpoint of `model_type` gets when nothing else names one
    capabilities: Capabilities
    sampling: Mapping[str, SamplingRule]  # role -> rule; "default" for every other role
    time_contract: str  # one line for the JSON and README
    metadata_fn: MetadataFn
    prompts: Mapping[str, Callable[..., tuple[str, str]]]  # role -> render(**fields) -> (template name, prompt)
    parsers: Mapping[str, Callable[..., Any]]  # role -> parse(text, strict, **context) -> neutral value
    video_first: frozenset[str] = frozenset()  # roles whose chat puts the video before the text
    decoding: Mapping[str, Any] = field(default_factory=dict)  # generate kwargs of its published eval
    # Perception rounds: (total_frames, nframes, fps, spans or None) -> the next round's frame indices;
    # None for single-pass families.
    replan: Callable[[int, int, float, Sequence[Span] | None], list[int]] | None = None
    # (previous spans, this round's answer) -> the spans that steer the next round
    next_spans: Callable[[list[Span] | None, str], list[Span] | None] | None = None
    licence: str = ""
    notes: tuple[str, ...] = ()
    # (a processed chat's text) -> whether the video sits in it as the family was trained; None: nothing to check
    layout_check: Callable[[str], bool] | None = None
    training: TrainingRecipe | None = None  # None: `vcr rft` cannot train or evaluate it

    def supports(self, role: str) -> bool:
        return role in self.prompts

    def require(self, role: str) -> None:
        """UsageError naming the families that can, when this one has no trained prompt for `role`."""
        self._require(role)

    def _require(self, role: str) -> None:
        if role not in self.prompts:
            from vcr_cli.families import families_supporting

            able = families_supporting(role)
            raise UsageError(f"the {self.name} family has no trained prompt for {role!r}"
                             + (f"; families that do: {', '.join(able)} (pick one with --family)" if able else ""))

    def render(self, role: str, **fields) -> tuple[str, str]:
        """(template name, prompt) for `role`, the template filled as the family's own code fills it."""
        self._require(role)
        return self.prompts[role](**fields)

    def parse(self, role: str, text: str, strict: bool = False, **context) -> Any:
        """The answer in neutral terms (spans in seconds, ChoiceAnswer, boxes, text); never raises.

        `strict` mirrors the family's published evaluation; `context` carries what a parser may need
        (`num_options` for multiple choice)."""
        self._require(role)
        return self.parsers[role](text, strict, **context)

    def train_prompt(self, task: str, evaluation: bool = False, think: bool = True, **fields) -> tuple[str, str]:
        """(template name, prompt) for an rft example of `task`: the training prompt, or (`evaluation`) the one the
        family's published evaluation asks. UsageError when `vcr rft` has no recipe for it."""
        recipe = self.training
        table = None if recipe is None else (recipe.eval_prompts if evaluation else recipe.train_prompts)
        if table is None or task not in table:
            from vcr_cli.families import all_families

            able = [f.name for f in all_families() if f.training is not None and task in f.training.tasks]
            raise UsageError(f"vcr rft has no {task!r} recipe for the {self.name} family"
                             + (f"; families it trains on {task!r} data: {', '.join(able)}" if able else ""))
        return table[task](think=think, **fields)

    def sampling_for(self, role: str) -> SamplingRule:
        return self.sampling.get(role, self.sampling["default"])

    def layout(self, role: str) -> str:
        """"video_first" or "text_first": where the video goes in the user turn the family was trained with."""
        return "video_first" if role in self.video_first else "text_first"

    def video_metadata(self, indices: Sequence[int], fps: float, total_frames: int,
                       times: Sequence[float] | None = None) -> dict:
        """The processor's `video_metadata` for frames `indices` of a `total_frames`-frame video at `fps`
        (`times`: the frames' presentation times in seconds, given for variable-frame-rate video)."""
        return self.metadata_fn(indices, fps, total_frames, times)

    def metadata_for(self, video: SampledVideo) -> dict:
        """`video_metadata` for a sampled video (or window of one): indices and times from its start."""
        start = video.start_frame
        indices = [i - start for i in video.plan.indices]
        times = None if video.info.constant_rate else [t - video.offset for t in video.frame_times]
        return self.video_metadata(indices, video.info.fps, video.span_frames or video.info.frames, times)

    def describe(self) -> dict:
        """What the JSON's `runtime` records about the family."""
        return {"family": self.name, "model_type": self.model_type, "time_contract": self.time_contract,
                "capabilities": self.capabilities.to_dict(), "licence": self.licence}
