"""Slurm executor through submitit (`--executor slurm --partition P --time 2:00:00 --gpus-per-job 1`).

Each job is one Slurm job (submitted as arrays of as many as the sweep has free slots) that runs
`gbench.executors.worker.execute`, writes its record into the (shared) results directory itself and returns it to
the driver, whose writing it again changes nothing: a job that finishes after the driver died (a closed login
session) is not lost, and the next `gbench run` finds it done. submitit keeps its
scripts, logs and pickled results under `<results>/slurm/`. A job that Slurm ends without a result (time limit,
memory limit, node failure, cancelled) is recorded failed (oom for OUT_OF_MEMORY) and retried by the next
`gbench run`. The results directory and candidate model files must be on a filesystem the nodes share.
`GBENCH_SUBMITIT_CLUSTER=local` runs the same path through submitit's local executor (what the tests use).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from gbench.errors import GbenchError
from gbench.job import Job, RunOptions
from gbench.jobs import failure_record
from gbench.results import RunRecord


def _slurm_job(job, opts, cwd, store_root):
    from gbench.executors.worker import execute

    return execute(job, opts, cwd, store_root)


def parse_time(value: str | int | None) -> int:
    """Slurm's time formats -> minutes: 90, 1:30:00, 2-00:00:00, 45:00 (MM:SS)."""
    if value is None:
        return 60
    text = str(value).strip()
    try:
        days, _, rest = text.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if len(parts) == 1:
            minutes = parts[0]
        elif len(parts) == 2:
            minutes = parts[0] + (parts[1] > 0)
        elif len(parts) == 3:
            minutes = parts[0] * 60 + parts[1] + (parts[2] > 0)
        else:
            raise ValueError
        minutes += int(days) * 24 * 60 if days else 0
    except ValueError:
        raise GbenchError(f"--time '{value}': give minutes (90) or Slurm's [D-]HH:MM:SS (2:00:00).") from None
    if minutes < 1:
        raise GbenchError(f"--time '{value}': give at least one minute.")
    return minutes


class SlurmExecutor:
    name = "slurm"

    def __init__(self, folder: Path, partition: str | None = None, time_limit: str | int | None = None,
                 gpus_per_job: int = 0, cpus_per_job: int = 1, mem_gb: float | None = None,
                 max_parallel: int = 64, cluster: str | None = None, store_root: Path | None = None) -> None:
        try:
            import submitit
        except ImportError:
            raise GbenchError("--executor slurm needs submitit: pip install 'gbench[slurm]'.") from None
        self._submitit = submitit
        timeout_min = parse_time(time_limit)
        cluster = cluster or os.environ.get("GBENCH_SUBMITIT_CLUSTER") or "slurm"
        try:
            self._executor = submitit.AutoExecutor(folder=Path(folder) / "%j", cluster=cluster)
        except (ValueError, RuntimeError) as e:
            raise GbenchError(f"--executor slurm: Slurm is not available here ({e}); run on a login node with "
                              "sbatch, or use --executor local.") from None
        params: dict = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_job, "nodes": 1,
                        "tasks_per_node": 1, "name": "gbench"}
        if gpus_per_job:
            params["gpus_per_node"] = gpus_per_job
        if mem_gb:
            params["mem_gb"] = mem_gb
        if partition:
            params["slurm_partition"] = partition
        params["slurm_array_parallelism"] = max_parallel
        self._executor.update_parameters(**params)
        self.cluster = cluster
        self.slots = max_parallel
        self.store_root = str(Path(store_root).resolve()) if store_root else None
        self._pending: list = []

    def submit(self, jobs: list[Job], opts: RunOptions) -> None:
        worker_opts = replace(opts, executor=f"slurm:{self.cluster}",
                              device="cuda:0" if opts.device.startswith("cuda") else opts.device)
        cwd = os.getcwd()
        submitted = []
        with self._executor.batch():
            for job in jobs:
                submitted.append(self._executor.submit(_slurm_job, job, worker_opts, cwd, self.store_root))
        self._pending.extend((sj, job, worker_opts) for sj, job in zip(submitted, jobs))

    def wait(self, timeout: float) -> list[tuple[Job, RunRecord]]:
        deadline = time.monotonic() + timeout
        while True:
            ready = [p for p in self._pending if p[0].done()]
            if ready or not self._pending or time.monotonic() >= deadline:
                break
            time.sleep(min(0.25, max(deadline - time.monotonic(), 0)))
        done = []
        for item in ready:
            self._pending.remove(item)
            sj, job, opts = item
            try:
                record = sj.result()
            except Exception as e:  # noqa: BLE001 - submitit's UncompletedJobError / FailedJobError and the like
                state = getattr(sj, "state", "UNKNOWN")
                status = "oom" if "OUT_OF_MEMORY" in str(state) else "failed"
                first = str(e).strip().splitlines()
                record = failure_record(job, opts, status, f"Slurm job {sj.job_id} ended without a result "
                                        f"(state {state}): " + "\n".join(first[:20]),
                                        worker={"executor": opts.executor, "slurm_job": sj.job_id})
            done.append((job, record))
        return done

    def close(self) -> None:
        for sj, _, _ in self._pending:
            try:
                sj.cancel(check=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._pending.clear()
