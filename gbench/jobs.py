"""Jobs: one (task, resolved model, seed), and the level-independent wrapper that turns a run into a record.

The wrapper seeds, applies determinism settings, measures cost, and catches failures so that a failing job is
recorded (failed / diverged / oom) instead of ending the sweep. Errors in gbench itself stay loud in the record's
traceback text. A job needs nothing but itself and its `RunOptions` (both picklable): any executor can run it in
any process, which loads the task's data itself. `Job` and `RunOptions` live in `gbench.job` (the runners take
them); they are importable from here too.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import os
import resource
import socket
import sys
import threading
import time
import traceback
from typing import Any

from gbench.errors import GbenchError
from gbench.job import Job, RunOptions
from gbench.hashing import stable_hash
from gbench.results import Cost, RunRecord
from gbench.specs import ReferenceSpec

__all__ = ["Job", "RunOptions", "RUNNERS", "failure_record", "run_job", "worker_info"]

RUNNERS: dict[str, str] = {
    "node": "gbench.train.node:run_node",
    "graph": "gbench.train.graph:run_graph",
    "link": "gbench.train.link:run_link",
}


def _runner(level: str):
    module, attr = RUNNERS[level].split(":")
    return getattr(importlib.import_module(module), attr)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _rss_hwm_mb() -> float | None:
    """VmHWM of this process (Linux), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_rss_hwm() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of one job, measured per job even in a process that runs many jobs.

    CUDA: `torch.cuda.max_memory_allocated`, reset at the start. CPU: the process's RSS high-water mark, reset at
    the start through /proc/self/clear_refs; where that is not possible, psutil's RSS sampled every 20 ms; as a
    last resort ru_maxrss, the process-lifetime peak (per job only in a fresh process), and the record says so.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.kind: str | None = None
        self.baseline_mb: float | None = None
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        import torch

        if self.device.startswith("cuda"):
            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            self.kind, self.baseline_mb = "cuda_max_allocated", torch.cuda.memory_allocated(dev) / 2**20
        elif _reset_rss_hwm() and _rss_hwm_mb() is not None:
            self.kind, self.baseline_mb = "rss_hwm_job", _rss_hwm_mb()
        else:
            try:
                import psutil

                proc = psutil.Process()
                self.kind = "rss_sampled"
                self.baseline_mb = self._sampled = proc.memory_info().rss / 2**20

                def sample() -> None:
                    while not self._stop.wait(0.02):
                        self._sampled = max(self._sampled, proc.memory_info().rss / 2**20)

                self._thread = threading.Thread(target=sample, daemon=True)
                self._thread.start()
            except ImportError:
                self.kind = "process_lifetime_peak_rss"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peak_mb(self) -> float | None:
        import torch

        if self.kind == "cuda_max_allocated":
            return torch.cuda.max_memory_allocated(torch.device(self.device)) / 2**20
        if self.kind == "rss_hwm_job":
            return _rss_hwm_mb()
        if self.kind == "rss_sampled":
            return self._sampled
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
        return kb / 2**20 if sys.platform == "darwin" else kb / 1024


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in str(err).lower()


_NONDETERMINISTIC = "does not have a deterministic implementation"


def worker_info(opts: RunOptions) -> dict[str, Any]:
    info: dict[str, Any] = {"executor": opts.executor, "host": socket.gethostname(), "pid": os.getpid()}
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        info["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return info


def _record(job: Job, opts: RunOptions, *, status: str, error: str | None, started: str, cost: Cost,
            determinism: dict[str, Any], environment: dict[str, Any], fields: dict[str, Any],
            worker: dict[str, Any]) -> RunRecord:
    task, model = job.task, job.model
    ref: ReferenceSpec | None = task.reference.get(model.name)
    # The task's protocol as the job saw it, so a leaderboard can say where a row's training differs from it.
    protocol = {k: getattr(task.protocol, k) for k in ("seeds", "epochs", "patience", "batch_size")}
    # and the deviations its spec writes (a user's copied task names its own), which the leaderboard prints
    fields = {**fields, "extra": {**(fields.get("extra") or {}), "task_protocol": protocol,
                                  "task_deviations": list(task.deviations)}}
    return RunRecord(
        job_id=job.job_id, task=task.id, task_version=task.version, level=task.level, family=task.family,
        model=model.name, model_spec=model.model_dump(mode="json"), model_hash=stable_hash(model.identity())[:16],
        candidate=model.candidate, seed=job.seed, status=status, error=error, metric=task.metric.name,
        higher_is_better=task.metric.higher_is_better, test_splits=task.split.test_splits, cost=cost,
        device=opts.device, determinism=determinism, environment=environment,
        std_over=task.protocol.std, std_ddof=task.protocol.std_ddof,
        reference=ref.model_dump(mode="json") if ref else None, command=opts.command, started_at=started,
        finished_at=_now(), worker=worker, fold=job.fold, selection=job.selection, tuning=job.tuning, **fields)


def failure_record(job: Job, opts: RunOptions, status: str, error: str, started: str | None = None,
                   worker: dict[str, Any] | None = None) -> RunRecord:
    """The record of a job that ended without a result from its worker (the process died, the scheduler killed
    it): written by the sweep's driver, so that the failure is listed and the job retried on the next run."""
    try:
        from gbench.repro import environment

        env = environment(opts.device)
    except Exception:  # noqa: BLE001 - the driver may not see the worker's device
        env = {}
    return _record(job, opts, status=status, error=error, started=started or _now(), cost=Cost(),
                   determinism={"mode": opts.deterministic}, environment=env, fields={},
                   worker=worker or {"executor": opts.executor})


def run_job(job: Job, opts: RunOptions) -> RunRecord:
    """Run one job in this process and return its (unsealed) record; never raises for a failing model."""
    import torch

    from gbench.repro import NondeterminismLog, apply_determinism, environment, seed_everything
    from gbench.train.loop import Diverged
    from gbench.train.progress import progress_path, report, reporting

    task = job.task
    started = _now()
    env = environment(opts.device)  # read before the job runs: the checkout this process started with
    if opts.threads:
        torch.set_num_threads(opts.threads)
    determinism = apply_determinism(opts.deterministic)  # type: ignore[arg-type]
    seed_everything(job.seed)
    status, error, outcome = "ok", None, None
    t0 = time.perf_counter()
    live = progress_path(opts.progress_dir, job.job_id) if opts.progress_dir else None
    live_info = {"task": task.id, "model": job.model.name, "seed": job.seed, "job_id": job.job_id,
                 "device": opts.device, "started_at": started}
    with NondeterminismLog(warn_always=opts.deterministic == "warn") as nondet, PeakMemory(opts.device) as memory, \
            reporting(live, live_info):
        report(phase="setup")  # until the first epoch: loading the data, transforms, building the model
        try:
            outcome = _runner(task.level)(job, opts)
        except Diverged as e:
            status, error = "diverged", str(e)
        except GbenchError as e:
            status, error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a failing model must not end the sweep
            status = "oom" if _is_oom(e) else "failed"
            error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=20)}"
            if _NONDETERMINISTIC in str(e):
                error = (f"{type(e).__name__}: {e}\nThis operation has no deterministic implementation on "
                         f"{opts.device}; run with --deterministic warn to allow it (the record then lists it), "
                         f"or replace it.\n{traceback.format_exc(limit=20)}")
        total_s = time.perf_counter() - t0
        peak = memory.peak_mb()
    if status != "ok":
        gc.collect()  # the traceback held the failed job's tensors; free them before the next job
        if torch.cuda.is_available() and opts.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if nondet.ops:
        determinism = {**determinism, "nondeterministic_ops": nondet.ops}
    cost = Cost(peak_memory_mb=peak, peak_memory_kind=memory.kind, baseline_memory_mb=memory.baseline_mb)
    fields: dict[str, Any] = {}
    if outcome is not None:
        cost.train_s = outcome.train_s
        cost.eval_s = outcome.eval_s
        cost.setup_s = max(total_s - outcome.train_s - outcome.eval_s, 0.0)
        cost.s_per_epoch = outcome.train_s / outcome.epochs_run if outcome.epochs_run else None
        fields = {"metrics": outcome.metrics, "val_loss": outcome.val_loss, "split_index": outcome.split_index,
                  "selected_epoch": outcome.selected_epoch, "epochs_run": outcome.epochs_run,
                  "num_params": outcome.num_params, "extra": outcome.extra}
    return _record(job, opts, status=status, error=error, started=started, cost=cost, determinism=determinism,
                   environment=env, fields=fields, worker=worker_info(opts))
