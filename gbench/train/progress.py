"""Live progress of a running job: how far its training loop is, readable while it runs.

A record is written once, when its job ends, so a long job (an hour of NCNC on PubMed, a GPU lease that ends
first) says nothing until then. While a sweep runs, each job's training loop also keeps
`<results>/progress/<job id>.json` up to date (from the job's start, `phase: setup`, while it loads its data and
builds its model; then `phase: train`): epoch reached and the epoch cap, the selected epoch so far and its
validation value, evaluations since that best (patience), seconds spent training and evaluating, and who runs it
(host, pid). The sweep's driver removes the file once the job's record is written; one that stays belongs to a
job whose process was killed (its epoch count says how far it got) or to one still running.
`gbench results running DIR` prints them.

The file is advisory: written with an atomic rename, not fsynced, at most every `MIN_INTERVAL_S` seconds (and at
the first report and each change of phase), so tiny jobs do not pay for it; nothing reads it to decide a result. A job run without a
progress folder (`RunOptions.progress_dir` None: `gbench verify`, the tests) reports nowhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from gbench.atomic import temp_path

MIN_INTERVAL_S = 5.0


class Reporter:
    """Writes one job's progress file; `update` is cheap when called more often than every `min_interval` s."""

    def __init__(self, path: Path, info: dict[str, Any], min_interval: float | None = None) -> None:
        self.path, self.info = Path(path), info
        self.min_interval = MIN_INTERVAL_S if min_interval is None else min_interval
        self._last: float | None = None
        self._phase: Any = None

    def update(self, **state: Any) -> None:
        now = time.monotonic()
        changed = state.get("phase", self._phase) != self._phase  # a new phase is always written
        if self._last is not None and now - self._last < self.min_interval and not changed:
            return
        self._last, self._phase = now, state.get("phase", self._phase)
        body = {**self.info, **state,
                "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(self.path)
            tmp.write_text(json.dumps(body, indent=1))
            os.replace(tmp, self.path)
        except OSError:
            pass  # progress is advisory: a full or read-only disk must not fail the job


_current: ContextVar[Reporter | None] = ContextVar("gbench_progress", default=None)


@contextlib.contextmanager
def reporting(path: Path | str | None, info: dict[str, Any],
              min_interval: float | None = None) -> Iterator[Reporter | None]:
    """Within the block, `report(...)` writes to `path` (nowhere when `path` is None)."""
    reporter = (Reporter(Path(path), {**info, "host": socket.gethostname(), "pid": os.getpid()}, min_interval)
                if path else None)
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


def report(**state: Any) -> None:
    """Tell the current job's progress file where training is (a no-op outside `reporting`)."""
    reporter = _current.get()
    if reporter is not None:
        reporter.update(**state)


def progress_path(folder: Path | str, job_id: str) -> Path:
    return Path(folder) / f"{job_id}.json"


def read_progress(folder: Path | str) -> list[dict[str, Any]]:
    """Every readable progress file in `folder` (hidden temp files skipped), sorted by task, model and seed."""
    out: list[dict[str, Any]] = []
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(body, dict):
            out.append({**body, "file": path.name})
    return sorted(out, key=lambda b: (str(b.get("task")), str(b.get("model")), int(b.get("seed") or 0)))
