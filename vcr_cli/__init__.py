"""vcr: video understanding with VideoChat-R1 on a local GPU (ground, track, ask, rft)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vcr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "development"
