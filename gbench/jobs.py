"""Jobs: one (task, resolved model, seed), and the level-independent wrapper that turns a run into a record.

The wrapper seeds, applies determinism settings, measures cost, and catches failures so that a failing job is
recorded (failed / diverged / oom) instead of ending the sweep. Errors in gbench itself stay loud in the record's
traceback text.
"""

from __future__ import annotations

import datetime as dt
import importlib
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from gbench.data.staging import DataContext
from gbench.errors import GbenchError
from gbench.results import Cost, RunRecord
from gbench.specs import ReferenceSpec, ResolvedModel, TaskSpec, job_identity, stable_hash

RUNNERS: dict[str, str] = {
    "node": "gbench.train.node:run_node",
    "graph": "gbench.train.graph:run_graph",
    "link": "gbench.train.link:run_link",
}


@dataclass(frozen=True)
class Job:
    task: TaskSpec
    model: ResolvedModel
    seed: int

    @property
    def job_id(self) -> str:
        return job_identity(self.task, self.model, self.seed)

    @property
    def label(self) -> str:
        return f"{self.task.id} / {self.model.name} / seed {self.seed}"


@dataclass(frozen=True)
class RunOptions:
    """How jobs run; none of this is part of a job's identity, all of it is recorded."""

    device: str
    deterministic: str
    data: DataContext
    command: str | None = None
    threads: int | None = None  # torch intra-op threads per job; None keeps torch's default


def register_runner(level: str, target: str) -> None:
    RUNNERS[level] = target


def _runner(level: str):
    module, attr = RUNNERS[level].split(":")
    return getattr(importlib.import_module(module), attr)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _peak_memory(device: str) -> tuple[float | None, str]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, "cuda_max_allocated"
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return (kb / 2**20 if sys.platform == "darwin" else kb / 1024), "process_peak_rss"


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in str(err).lower()


def run_job(job: Job, opts: RunOptions) -> RunRecord:
    """Run one job in this process and return its (unsealed) record; never raises for a failing model."""
    import torch

    from gbench.repro import NondeterminismLog, apply_determinism, environment, seed_everything
    from gbench.train.loop import Diverged

    task, model = job.task, job.model
    started = _now()
    if opts.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(torch.device(opts.device))
    if opts.threads:
        torch.set_num_threads(opts.threads)
    determinism = apply_determinism(opts.deterministic)  # type: ignore[arg-type]
    seed_everything(job.seed)
    status, error, outcome = "ok", None, None
    t0 = time.perf_counter()
    with NondeterminismLog() as nondet:
        try:
            outcome = _runner(task.level)(job, opts)
        except Diverged as e:
            status, error = "diverged", str(e)
        except GbenchError as e:
            status, error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a failing model must not end the sweep
            status = "oom" if _is_oom(e) else "failed"
            error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=20)}"
    total_s = time.perf_counter() - t0
    if nondet.ops:
        determinism = {**determinism, "nondeterministic_ops": nondet.ops}
    peak, peak_kind = _peak_memory(opts.device)
    ref: ReferenceSpec | None = task.reference.get(model.name)
    cost = Cost(peak_memory_mb=peak, peak_memory_kind=peak_kind)
    fields: dict[str, Any] = {}
    if outcome is not None:
        cost.train_s = outcome.train_s
        cost.eval_s = outcome.eval_s
        cost.setup_s = max(total_s - outcome.train_s - outcome.eval_s, 0.0)
        cost.s_per_epoch = outcome.train_s / outcome.epochs_run if outcome.epochs_run else None
        fields = {"metrics": outcome.metrics, "val_loss": outcome.val_loss, "split_index": outcome.split_index,
                  "selected_epoch": outcome.selected_epoch, "epochs_run": outcome.epochs_run,
                  "num_params": outcome.num_params, "extra": outcome.extra}
    return RunRecord(
        job_id=job.job_id, task=task.id, task_version=task.version, level=task.level, family=task.family,
        model=model.name, model_spec=model.model_dump(mode="json"), model_hash=stable_hash(model.identity())[:16],
        candidate=model.candidate, seed=job.seed, status=status, error=error, metric=task.metric.name,
        higher_is_better=task.metric.higher_is_better, test_splits=task.split.test_splits, cost=cost,
        device=opts.device, determinism=determinism, environment=environment(opts.device),
        std_over=task.protocol.std, std_ddof=task.protocol.std_ddof,
        reference=ref.model_dump(mode="json") if ref else None, command=opts.command, started_at=started,
        finished_at=_now(), **fields)
