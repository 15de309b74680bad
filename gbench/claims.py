"""Claims: which sweep process runs which job, so that two `gbench run` processes sharing one results directory
never run the same job twice. Used by the sweep's driver (gbench.execute), never by an executor.

A claim is an exclusive lock (filelock, flock underneath) on `<results>/claims/<job id>.claim` held by the sweep's
driver for as long as the job is in flight; the file names the holder (host, pid, since) for people reading it.
The kernel drops the lock when its process dies however it dies (SIGKILL included), so a claim left by a dead
process is free and is taken over by the next process that asks; there is no lease to expire. On NFS, Linux maps
flock to NFS locks (NFSv4 leases), which serves clusters whose nodes share the results directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout


def _write_holder(fd: int) -> None:
    """Name the holder inside the lock file (called by filelock right after the lock is taken)."""
    info = {"host": socket.gethostname(), "pid": os.getpid(),
            "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


class ClaimBook:
    """The claims this process holds in one results directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._held: dict[str, FileLock] = {}

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.claim"

    def try_claim(self, job_id: str) -> bool:
        """Claim the job unless a live process holds it; never blocks."""
        if job_id in self._held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self._path(job_id), thread_local=False, on_acquired=_write_holder)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self._held[job_id] = lock
        return True

    def release(self, job_id: str) -> None:
        lock = self._held.pop(job_id, None)
        if lock is None:
            return
        # Unlinked while still locked, so no claim file outlives its job; filelock retries on the new file when
        # it locked an inode that was unlinked meanwhile.
        self._path(job_id).unlink(missing_ok=True)
        lock.release()

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
        if not path.exists():
            return None
        probe = FileLock(path, thread_local=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            try:
                return json.loads(path.read_bytes() or b"{}")
            except (OSError, json.JSONDecodeError):
                return {}
        path.unlink(missing_ok=True)  # a dead holder's file: free, and tidied while we hold it
        probe.release()
        return None
