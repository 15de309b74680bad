"""Planning a sweep and running its jobs through an executor.

The sweep skips every job whose finished record exists, runs the rest, and writes each record as soon as its job
ends, so a killed sweep loses at most the jobs in flight. Executors only decide where `run_job` runs; records do
not depend on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from gbench.errors import SpecError
from gbench.jobs import Job, RunOptions, run_job
from gbench.results import ResultStore, RunRecord
from gbench.specs import ModelSpec, TaskSpec, has_model, load_model, model_names, resolve_model


@dataclass
class SweepPlan:
    jobs: list[Job]
    skipped_models: list[str] = field(default_factory=list)  # "model (level)" with no implementation at a level

    def merged(self, other: SweepPlan) -> SweepPlan:
        seen = {j.job_id for j in self.jobs}
        jobs = self.jobs + [j for j in other.jobs if j.job_id not in seen]
        return SweepPlan(jobs, self.skipped_models + [m for m in other.skipped_models if m not in self.skipped_models])


def plan_sweep(tasks: list[TaskSpec], model_refs: list[str], candidates: list[ModelSpec],
               seeds: list[int] | None, overrides: dict | None = None, strict_models: bool = True) -> SweepPlan:
    """Jobs for every (task, model, seed). A named model that exists at no level is an error; one that has no
    implementation at a task's level is skipped for that task (and listed)."""
    all_names = set(model_names())
    for name in model_refs:
        if name not in all_names and not name.endswith((".yaml", ".yml")):
            import difflib

            close = difflib.get_close_matches(name, sorted(all_names), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SpecError(f"--models: unknown model '{name}'{hint}; known models: {', '.join(sorted(all_names))}.")
    jobs: list[Job] = []
    skipped: list[str] = []
    for task in tasks:
        specs: list[ModelSpec] = []
        for name in model_refs:
            if name.endswith((".yaml", ".yml")) or has_model(name, task.level):
                specs.append(load_model(name, task.level))
            elif f"{name} ({task.level})" not in skipped:
                skipped.append(f"{name} ({task.level})")
        specs.extend(c for c in candidates if c.level in ("any", task.level))
        task_seeds = seeds if seeds is not None else list(range(task.protocol.seeds))
        for spec in specs:
            resolved = resolve_model(spec, task, overrides)
            jobs.extend(Job(task, resolved, s) for s in task_seeds)
    if strict_models and not jobs:
        raise SpecError("nothing to run: no model given applies to the tasks' levels; see `gbench list models`.")
    return SweepPlan(jobs=jobs, skipped_models=skipped)


class Executor(Protocol):
    """Runs jobs somewhere and hands each finished record to `on_record` in the calling process."""

    def run(self, jobs: list[Job], opts: RunOptions, on_record: Callable[[Job, RunRecord], None]) -> None: ...


class SequentialExecutor:
    """Runs jobs one after another in this process (the default on a single device)."""

    def run(self, jobs: list[Job], opts: RunOptions, on_record: Callable[[Job, RunRecord], None]) -> None:
        for job in jobs:
            on_record(job, run_job(job, opts))


@dataclass
class SweepSummary:
    total: int
    skipped_done: int
    ran: int = 0
    failures: list[RunRecord] = field(default_factory=list)


def run_sweep(jobs: Iterable[Job], opts: RunOptions, store: ResultStore, executor: Executor | None = None,
              on_progress: Callable[[Job, RunRecord | None], None] | None = None) -> SweepSummary:
    """Run every job that has no finished record in `store`; write each record as soon as it arrives."""
    jobs = list(jobs)
    done = {j.job_id for j in jobs if store.is_done(j.task.id, j.model.name, j.seed, j.job_id)}
    todo = [j for j in jobs if j.job_id not in done]
    summary = SweepSummary(total=len(jobs), skipped_done=len(jobs) - len(todo))
    if on_progress:
        for j in jobs:
            if j.job_id in done:
                on_progress(j, None)

    def on_record(job: Job, record: RunRecord) -> None:
        store.write(record)
        summary.ran += 1
        if record.status != "ok":
            summary.failures.append(record)
        if on_progress:
            on_progress(job, record)

    (executor or SequentialExecutor()).run(todo, opts, on_record)
    return summary
