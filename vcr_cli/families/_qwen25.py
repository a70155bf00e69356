"""Qwen2.5-VL checkpoints (VideoChat-R1, VideoChat-R1.5): time lives in the position encoding (MRoPE).

The processor spaces the 2-frame groups `temporal_patch / sampled_fps` seconds apart and derives
`sampled_fps = len(frames_indices) / total_num_frames * fps` from `video_metadata`, so the metadata carries the
real sampled indices, the source fps and the frame count (transformers 5.x; model-families.md §1.3).
"""

from __future__ import annotations

from collections.abc import Sequence

MODEL_TYPE = "qwen2_5_vl"
PATCH_SIZE = 14
TIME_CONTRACT = ("MRoPE: 2-frame groups spaced 2/sampled_fps s, sampled_fps = frames / total_num_frames x fps "
                 "from video_metadata")


def video_metadata(indices: Sequence[int], fps: float, total_frames: int,
                   times: Sequence[float] | None = None) -> dict:
    """Source fps, frame count and sampled indices; the processor derives the sampled fps from them.

    `times` is unused: on variable frame rate vcr samples on the clock (v / average fps), so the indices
    already are clock positions and the average fps turns them into seconds.
    """
    return {"total_num_frames": int(total_frames), "fps": float(fps), "frames_indices": [int(i) for i in indices]}
