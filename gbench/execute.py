"""Running a sweep's jobs through an executor (the jobs themselves are planned and checked in `gbench.sweep`).

The sweep skips every job whose finished record exists, runs the rest, and writes each record as soon as its job
ends, so a killed sweep loses at most the jobs in flight. Executors (gbench/executors/) only decide where
`run_job` runs; this driver writes every record, so records do not depend on them. Before a job is handed to the
executor the driver claims it (gbench/claims.py), so two sweeps sharing one results directory never run
the same job twice; jobs another live sweep holds are waited for, and taken over if that sweep dies.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from gbench.job import Job, RunOptions
from gbench.results import FINAL_STATUSES, ResultStore, RunRecord


class Executor(Protocol):
    """Runs jobs somewhere; see gbench/executors/__init__.py."""

    name: str
    slots: int  # how many jobs it takes at once

    def submit(self, jobs: list[Job], opts: RunOptions) -> None: ...

    def wait(self, timeout: float) -> list[tuple[Job, RunRecord]]:
        """The jobs that ended since the last call (waiting up to `timeout` seconds for one), with records."""
        ...

    def close(self) -> None: ...


@dataclass
class SweepSummary:
    total: int
    skipped_done: int
    ran: int = 0
    failures: list[RunRecord] = field(default_factory=list)
    done_elsewhere: int = 0  # finished meanwhile by another sweep sharing the results directory


def _existing(store: ResultStore, job: Job) -> RunRecord | None:
    """The job's record under its id, else under an id an earlier gbench gave it (`Job.legacy_job_ids`)."""
    for job_id in (job.job_id, *job.legacy_job_ids):
        record = store.existing(job.task.id, job.model.name, job.seed, job_id)
        if record is not None:
            return record
    return None


def run_sweep(jobs: Iterable[Job], opts: RunOptions, store: ResultStore, executor: Executor | None = None,
              on_progress: Callable[[Job, RunRecord | None], None] | None = None,
              on_wait: Callable[[int, dict], None] | None = None, poll_s: float = 0.5,
              close: bool = True) -> SweepSummary:
    """Run every job that has no finished record in `store`; write each record as soon as it arrives.

    The executor is closed at the end unless `close` is False (a tune runs several sweeps through one executor).

    `on_progress(job, record)` is called once per job (record None: done before, or by another sweep);
    `on_wait(n, holder)` when the only jobs left are held by another live sweep (`holder`: its host and pid).
    """
    from gbench.claims import ClaimBook
    from gbench.train.progress import progress_path

    jobs = list(jobs)
    if opts.progress_dir is None:  # each job's training loop keeps <results>/progress/<job id>.json while it runs
        opts = replace(opts, progress_dir=str(store.progress_dir.resolve()))
    store.clean_stale_temps()
    initial = {j.job_id: _existing(store, j) for j in jobs}
    done = {jid for jid, r in initial.items() if r is not None and r.status in FINAL_STATUSES}
    before = {jid: (r.checksum if r is not None else None) for jid, r in initial.items()}
    todo = deque(j for j in jobs if j.job_id not in done)
    summary = SweepSummary(total=len(jobs), skipped_done=len(jobs) - len(todo))
    if on_progress:
        for j in jobs:
            if j.job_id in done:
                on_progress(j, None)
    if executor is None:
        from gbench.executors.local import InProcessExecutor

        executor = InProcessExecutor()
    claims = ClaimBook(store.claims_dir)
    elsewhere: dict[str, Job] = {}
    in_flight: dict[str, Job] = {}

    def finished_meanwhile(job: Job) -> bool:
        """Another sweep wrote a record for the job (any status) since this one started: it ran once, enough."""
        record = store.existing(job.task.id, job.model.name, job.seed, job.job_id)
        if record is None or record.checksum == before[job.job_id]:
            return False
        summary.done_elsewhere += 1
        if record.status != "ok":
            summary.failures.append(record)
        if on_progress:
            on_progress(job, None)
        return True

    def take(job: Job) -> bool:
        if not claims.try_claim(job.job_id):
            return False
        if finished_meanwhile(job):
            claims.release(job.job_id)
            return True
        in_flight[job.job_id] = job
        batch.append(job)
        return True

    def on_record(job: Job, record: RunRecord) -> None:
        try:
            store.write(record)
        except FileExistsError as e:  # only if claims do not work on this filesystem: keep the first record
            warnings.warn(f"{e} (kept the existing record of {job.label})", stacklevel=2)
        summary.ran += 1
        progress_path(opts.progress_dir, job.job_id).unlink(missing_ok=True)  # the record says it all now
        if record.status != "ok":  # diverged is a result (not retried), and still a failure to report
            summary.failures.append(record)
        if on_progress:
            on_progress(job, record)

    try:
        while todo or elsewhere or in_flight:
            batch: list[Job] = []
            while todo and len(in_flight) < executor.slots:
                job = todo.popleft()
                if not take(job):
                    elsewhere[job.job_id] = job
            if not todo and len(in_flight) < executor.slots:
                for job_id, job in list(elsewhere.items()):  # held by another sweep: finished, or free again?
                    if len(in_flight) >= executor.slots:
                        break
                    if finished_meanwhile(job) or take(job):
                        del elsewhere[job_id]
            if batch:
                executor.submit(batch, opts)
            if in_flight:
                for job, record in executor.wait(poll_s):
                    on_record(job, record)
                    claims.release(job.job_id)
                    in_flight.pop(job.job_id, None)
            elif elsewhere:
                if on_wait:
                    first = next(iter(elsewhere))
                    on_wait(len(elsewhere), claims.holder(first) or {})
                time.sleep(poll_s)
    finally:
        if close:
            executor.close()
        claims.release_all()
    return summary
