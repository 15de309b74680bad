"""Claims: which sweep process runs which job, so that two `gbench run` processes sharing one results directory
never run the same job twice.

A claim is an exclusive `flock` on `<results>/claims/<job id>.claim` held by the sweep's driver for as long as the
job is in flight; the file names the holder (host, pid, since) for people reading it. The kernel drops the lock
when its process dies however it dies (SIGKILL included), so a claim left by a dead process is free and is taken
over by the next process that asks; there is no lease to expire. On NFS, Linux maps flock to NFS locks (NFSv4
leases), which serves clusters whose nodes share the results directory.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any


class ClaimBook:
    """The claims this process holds in one results directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._held: dict[str, int] = {}

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.claim"

    def try_claim(self, job_id: str) -> bool:
        """Claim the job unless a live process holds it; never blocks."""
        if job_id in self._held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(job_id)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The holder before us may have unlinked the file between our open and our lock: then we hold a lock on
            # a file nobody else will ever open, and must retry on the one now at `path`.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            info = {"host": socket.gethostname(), "pid": os.getpid(),
                    "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
            self._held[job_id] = fd
            return True

    def release(self, job_id: str) -> None:
        fd = self._held.pop(job_id, None)
        if fd is None:
            return
        try:
            os.unlink(self._path(job_id))  # unlink while still locked: see try_claim
        except FileNotFoundError:
            pass
        os.close(fd)

    def release_all(self) -> None:
        for job_id in list(self._held):
            self.release(job_id)
        try:
            self.folder.rmdir()  # only when no other sweep holds a claim here
        except OSError:
            pass

    def holder(self, job_id: str) -> dict[str, Any] | None:
        """Who holds the job's claim (as the file says), or None when it is free."""
        path = self._path(job_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    return json.loads(os.read(fd, 4096) or b"{}")
                except json.JSONDecodeError:
                    return {}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
