"""Atomic file writes: a reader sees the whole new file or what was there before, never a part of either.

The content goes to a temp file in the target's own folder (so the rename never crosses file systems), named
`.<name>.tmp-<host>-<pid>` so that a tidy-up can tell a dead writer's leftovers from a live one's; the temp file
is fsynced, `os.replace`d onto the target, and the folder is fsynced so that the new name survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<host>.+)-(?P<pid>\d+)$")


def temp_path(path: Path) -> Path:
    """Where the content of `path` is written before the rename (hidden, beside it, naming its writer)."""
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def fsync_dir(path: Path) -> None:
    """Make a rename in folder `path` durable; file systems that cannot fsync a folder are left as they are."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temp path to write the whole content to; when the block ends without an error, the content
    replaces `path` in one step. On an error the temp file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: Path | str, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(paths: list[Path]) -> list[Path]:
    """Those of `paths` that are temp files of writers on this host that are no longer alive (killed mid-write).
    Another host's temp files are never stale here: their writer may be alive."""
    host = socket.gethostname()
    out = []
    for p in paths:
        m = TEMP_NAME.match(p.name)
        if m and m["host"] == host and not pid_alive(int(m["pid"])):
            out.append(p)
    return out
