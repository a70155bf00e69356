"""Atomic file writes: write to a temporary file beside the target, rename on success.

A failed or interrupted run therefore never leaves half a file, and never clobbers an existing
output: the old file stays until the new one is complete.

Only regular files (and new paths) are replaced that way. A symlink is followed and its target
replaced (the link stays). A device, named pipe or socket (`-o /dev/null`, `-o fifo`) is written
straight into, never renamed over. Outputs get the mode a plain `open()` / `mkdir()` would give
(0666 / 0777 less the umask; an existing file keeps its mode), and a temporary file is fsynced
before it replaces a finished one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from vcr_cli.errors import OutputError, UsageError


def _kind(path: Path) -> str:
    """"new", "file", "dir" or "special" (device, FIFO, socket), following symlinks."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "new"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "special"


def _open_descriptor(path: Path) -> int | None:
    """N for `/dev/stdout` (1), `/dev/stderr` (2), `/dev/fd/N`, `/proc/self/fd/N`: a link to our own open file."""
    p = Path(os.path.abspath(path))
    own = ("/proc/self/fd/", f"/proc/{os.getpid()}/fd/", "/dev/fd/")
    for _ in range(40):
        text = str(p)
        if text in ("/dev/stdout", "/dev/stderr"):
            return 1 if text == "/dev/stdout" else 2
        for prefix in own:
            if text.startswith(prefix) and text[len(prefix):].isdigit():
                return int(text[len(prefix):])
        if not p.is_symlink():
            return None
        p = Path(os.path.abspath(p.parent / os.readlink(p)))
    return None


def is_special(path: str | Path) -> bool:
    """True for a device, named pipe, socket or open-descriptor link: written straight into, never replaced."""
    try:
        return _kind(Path(path)) == "special" or _open_descriptor(Path(path)) is not None
    except OSError:
        return False


def output_target(path: str | Path) -> Path:
    """The file a write to `path` replaces: a symlink's target (also a dangling one's), else `path`."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def check_output_path(path: str | Path | None, what: str = "output") -> None:
    """Fail early (before any model work) on an output path that can never be written."""
    if path is None or str(path) == "-":
        return
    p = Path(path)
    try:
        kind = _kind(p)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    if kind == "dir":
        raise UsageError(f"{what} path {p} is a directory; give a file name")
    if kind == "special" or (kind == "file" and _open_descriptor(p) is not None):
        if not os.access(p, os.W_OK):
            raise UsageError(f"cannot write {what} {p}: it is not writable")
        return
    target = output_target(p)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise UsageError(f"cannot write {what} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write {what} {p}: folder {parent} is not writable")


def check_outputs(outputs: Iterable[tuple[str | Path | None, str]], inputs: Iterable[str | Path | None] = (),
                  stdout_ok: Collection[str] = ()) -> None:
    """`check_output_path` for each (path, what), and what no single path shows: '-' for an output stdout cannot
    take (only those in `stdout_ok` can), an output that is one of the inputs (writing it would replace the
    user's file), and two outputs naming one file (one would silently replace the other)."""
    sources = [Path(p) for p in inputs if p is not None and str(p) != "-"]
    seen: dict[str, str] = {}
    for path, what in outputs:
        if path is None:
            continue
        if str(path) == "-":
            if what not in stdout_ok:
                raise UsageError(f"{what} cannot be written to stdout ('-'); give a file name")
            continue
        check_output_path(path, what)
        if is_special(path):  # /dev/null and pipes take any number of writers and replace nothing
            continue
        target = os.path.realpath(output_target(path))
        for source in sources:
            if target == os.path.realpath(source) or _same_inode(Path(target), source):
                raise UsageError(f"{what} {path} is the input {source}: writing it would replace it; "
                                 "choose another file name")
        if target in seen:
            raise UsageError(f"{seen[target]} and {what} both name {path}; give each its own file")
        seen[target] = what


def _same_inode(a: Path, b: Path) -> bool:
    """Hard links to one file (paths differ, the file is the same)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _new_temp(target: Path) -> Path:
    """Create an empty temporary file beside `target` with the mode `open()` would give it (umask applies)."""
    parent = target.parent if str(target.parent) else Path(".")
    for _ in range(100):
        tmp = parent / f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {target}")


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems cannot fsync a folder; the file itself must be on disk
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def _into_special(path: Path) -> Iterator[Path]:
    """Yield a scratch file whose bytes are then written straight into the device or pipe at `path`.

    `/dev/stdout` and the like are written through the open descriptor itself, so the bytes land where
    the process's other output goes (`vcr ... -o /dev/stdout > file` keeps what was printed before).
    """
    fd, name = tempfile.mkstemp(prefix=".vcr-", suffix=f".tmp{path.suffix}")
    os.close(fd)
    scratch = Path(name)
    try:
        yield scratch
        descriptor = _open_descriptor(path)
        if descriptor is not None:
            import sys

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            sink = os.fdopen(os.dup(descriptor), "wb")
        else:
            sink = open(path, "wb")  # noqa: SIM115 - closed below
        with open(scratch, "rb") as source, sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder and suffix) that replaces `path` only on success.

    A symlink's target is replaced (the link stays); a device or pipe is written into, not replaced.
    """
    check_output_path(path)
    if is_special(path):
        with _into_special(Path(path)) as scratch:
            yield scratch
        return
    target = output_target(path)
    tmp = _new_temp(target)
    try:
        yield tmp
        _fsync(tmp)
        with contextlib.suppress(FileNotFoundError):
            old = target.stat()
            if stat.S_ISREG(old.st_mode):  # as open() would: an existing file keeps its mode
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
        os.replace(tmp, target)
        with contextlib.suppress(OSError):
            _fsync(target.parent if str(target.parent) else Path("."), directory=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a staging folder beside `path` that becomes `path` on success (`path` absent or empty).

    Made with the mode `mkdir()` would give (0777 less the umask), unlike `tempfile.mkdtemp` (0700).
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    for _ in range(100):
        staging = parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(staging, 0o777)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name beside {target}")
    try:
        yield staging
        if target.is_dir():
            target.rmdir()  # must be empty: callers check before the work
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (threads may be creating files)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_modes(folder: str | Path) -> int:
    """Give files that a library made private (safetensors writes 0600) the mode `open()` would give.

    Only files at exactly 0600 under `folder` are changed; returns how many.
    """
    wanted = 0o666 & ~current_umask()
    changed = 0
    if wanted == 0o600:
        return 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600:
                    os.chmod(path, wanted)
                    changed += 1
    return changed


def write_text_atomic(path: str | Path, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
