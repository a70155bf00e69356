"""vcr: video understanding with VideoChat-R1 on a local GPU (ground, track, ask, rft)."""



def __getattr__(name: str) -> str:
    """`__version__`, read from the package metadata only when asked: `vcr --help` never pays for it."""
    if name != "__version__":
        raise AttributeError(f"module 'vcr_cli' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("vcr")
    except PackageNotFoundError:  # running from a source tree that was not installed
        value = "development"
    globals()["__version__"] = value
    return value
