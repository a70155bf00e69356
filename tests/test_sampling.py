"""Sampling maths against the reference's worked examples (videochat-r1.md §6.2)."""

import pytest

from vcr_cli.sampling import frame_indices, plan_sampling, smart_nframes, smart_resize


@pytest.mark.parametrize(
    ("total", "video_fps", "width", "height", "frames", "fps", "size", "tokens"),
    [
        (929, 30.0, 640, 480, 60, 1.94, (336, 252), 3240),  # Charades-like, 30.96 s
        (720, 24.0, 854, 480, 60, 2.00, (392, 224), 3360),  # 30 s @24
        (3600, 30.0, 640, 360, 240, 2.00, (196, 112), 3360),  # 2 min
        (18000, 30.0, 1280, 720, 768, 1.28, (140, 84), 5760),  # 10 min: frame cap and pixel floor
        (132, 25.0, 1280, 720, 10, 1.89, (980, 560), 3500),  # bigbuckbunny
    ],
)
def test_worked_examples(total, video_fps, width, height, frames, fps, size, tokens):
    plan = plan_sampling(total, video_fps, width, height)
    assert plan.frames == frames
    assert round(plan.fps, 2) == fps
    assert (plan.width, plan.height) == size
    assert plan.video_tokens == tokens


@pytest.mark.parametrize("total", [2, 7, 132, 929, 1001, 4000, 18000])
def test_indices_match_torch_linspace(total):
    import torch

    n = smart_nframes(total, 30.0)
    assert frame_indices(total, n) == torch.linspace(0, total - 1, n).round().long().tolist()


def test_long_whole_video_plans_pick_torchs_frames():
    """Past ~12,000 frames a float64 linspace cast to float32 (the old formula) picks a neighbouring frame for 1-2
    of 768 indices; the plan must pick exactly what qwen-vl-utils' torch.linspace(...).round() picks."""
    import numpy as np
    import torch

    pairs = [(total, n) for total in range(12_000, 40_000, 211) for n in (768, 766, 500)]
    old_differs = 0
    for total, n in pairs:
        expected = torch.linspace(0, total - 1, n).round().long().tolist()
        assert frame_indices(total, n) == expected, (total, n)
        old = [int(v) for v in np.round(np.linspace(0, total - 1, n, dtype=np.float64).astype(np.float32))]
        old_differs += old != expected
    assert old_differs > 10  # these pairs do exercise the difference
    # a whole 10-minute-plus video's plan (the 768-frame cap) takes its indices from the same computation
    for total in (12_345, 18_000, 29_999, 86_400):
        plan = plan_sampling(total, 30.0, 1280, 720)
        assert plan.frames == 768
        assert plan.indices == torch.linspace(0, total - 1, 768).round().long().tolist()


def test_indices_match_torch_for_any_count_without_importing_torch():
    """Every even count up to the cap over long videos, and planning never imports torch (frames decode while it
    imports: pipeline.load_with_video)."""
    import random
    import subprocess
    import sys

    import torch

    rng = random.Random(0)
    for _ in range(1500):
        total, n = rng.randint(2_000, 90_000), rng.randrange(4, 770, 2)
        assert frame_indices(total, n) == torch.linspace(0, total - 1, n).round().long().tolist(), (total, n)
    code = ("import sys; from vcr_cli.sampling import plan_sampling; plan_sampling(50_000, 30.0, 1280, 720); "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_frame_count_is_even_and_clamped():
    assert smart_nframes(3, 30.0) == 2  # fewer frames than the 4-frame minimum: all it has, even
    assert smart_nframes(100, 30.0) == 6  # 6.67 -> floor even
    assert smart_nframes(100_000, 30.0) == 768
    assert smart_nframes(100_000, 30.0, max_frames=33) == 32


def test_smart_resize_rounds_to_28_and_respects_budget():
    assert smart_resize(480, 640, max_pixels=10**9) == (476, 644)
    h, w = smart_resize(720, 1280, max_pixels=100_000)
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 100_000
    assert smart_resize(10, 10) == (112, 112)  # below the floor: scaled up to >= 16*28*28
    with pytest.raises(ValueError):
        smart_resize(1, 500)


def test_max_pixels_option_lowers_frame_size():
    full = plan_sampling(132, 25.0, 1280, 720)
    small = plan_sampling(132, 25.0, 1280, 720, max_pixels=28 * 28 * 20)
    assert small.width * small.height <= 28 * 28 * 20 < full.width * full.height
    assert small.indices == full.indices


def test_tracking_frame_indices_follow_the_paper_seven_frame_rule():
    from vcr_cli.sampling import tracking_frame_indices

    # first, int(i * (n-1) / 6) for i = 1..5, last (reference §5)
    assert tracking_frame_indices(60) == [0, 9, 19, 29, 39, 49, 59]
    assert tracking_frame_indices(120) == [0, 19, 39, 59, 79, 99, 119]
    assert tracking_frame_indices(100) == [0, 16, 33, 49, 66, 82, 99]
    assert tracking_frame_indices(2) == [0, 0, 0, 0, 0, 0, 1]
