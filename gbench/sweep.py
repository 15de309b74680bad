"""Assembling a sweep before anything runs: suite, tasks, models and candidates -> jobs; the run options and
their defaults; and the checks that refuse, up front and in one sentence, what would otherwise fail every job
(the hyperparameters' in `gbench.hparams`).

`prepare(...)` does all of it and returns a `PreparedSweep`; its `run()` runs the jobs (`gbench.execute`), writes
one record per job and the leaderboard, and returns the outcome. `gbench run` and `gbench.run(...)` are both this
pair of calls; neither writes a record when a check fails. A job that fails at run time (a model that raises in
`forward`, a loss that diverges) is still recorded, and the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gbench.errors import FoldPinMismatch, GbenchError, SpecError
from gbench.hparams import Overrides, check_hparams, did_you_mean
from gbench.job import Job, RunOptions
from gbench.specs import (ModelSpec, OptimSpec, TaskSpec, TrainSpec, candidate_spec, has_model, load_model,
                          load_suite, load_task, model_names, parse_assignments, resolve_model, task_ids)


# ---------------------------------------------------------------------------------------------------------------
# Arguments


def split_refs(value: str | Sequence[str] | None) -> list[str]:
    """'gcn, mlp' or ['gcn', 'mlp'] -> ['gcn', 'mlp']."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [v.strip() for v in items if v.strip()]


def seed_list(value: int | str | Sequence[int] | None) -> list[int] | None:
    """10 or '10' -> seeds 0..9; '0,3,7' or [0, 3, 7] -> those seeds; '5-9' -> 5..9; None -> each task's own."""
    if value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        seeds = [int(s) for s in value]
        if not seeds or min(seeds) < 0:
            raise GbenchError(f"seeds {list(value)}: give at least one seed, none negative.")
        return seeds
    try:
        if "," in value:
            seeds = [int(v) for v in value.split(",") if v.strip()]
        elif "-" in value.strip("-"):
            a, b = value.split("-")
            seeds = list(range(int(a), int(b) + 1))
        else:
            seeds = list(range(int(value)))
            if not seeds:
                raise GbenchError(f"--seeds {value}: the number of seeds must be at least 1.")
    except ValueError:
        raise GbenchError(f"--seeds '{value}': give a count (10), a list (0,3,7) or a range (5-9).") from None
    if not seeds or min(seeds) < 0:
        raise GbenchError(f"--seeds '{value}': give a count (10), a list (0,3,7) or a range (5-9) of seeds >= 0.")
    return seeds


def overrides_from(items: Sequence[str] | dict[str, Any] | None) -> Overrides:
    """`['hidden=64', 'optim.lr=0.01']` (as `--set`) or `{'hidden': 64, 'optim.lr': 0.01}` -> the three groups;
    an optim or train key that does not exist is refused here, with a did-you-mean."""
    if isinstance(items, dict):
        out: Overrides = {"hparams": {}, "optim": {}, "train": {}}
        for key, value in items.items():
            group, _, name = str(key).partition(".")
            group, name = (group, name) if name else ("hparams", group)
            if group not in out:
                raise SpecError(f"override '{key}': group '{group}' is not one of hparams, optim, train.")
            out[group][name] = value
    else:
        for item in items or []:
            if item.partition("=")[0].strip(" .") == "":
                raise SpecError(f"--set '{item}': the key before '=' is empty; e.g. --set hidden=64.")
        out = parse_assignments(list(items or []))
    for group, kind in (("optim", OptimSpec), ("train", TrainSpec)):
        for name in out[group]:
            if name not in kind.model_fields:
                hint = did_you_mean(name, kind.model_fields)
                raise SpecError(f"--set {group}.{name}: {group} has no setting '{name}'{hint}; its settings: "
                                f"{', '.join(kind.model_fields)}.")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Planning


@dataclass
class SweepPlan:
    jobs: list[Job]
    skipped_models: list[str] = field(default_factory=list)  # "model (level)" with no implementation at a level
    notes: list[str] = field(default_factory=list)  # what the checks found that will fail some jobs

    def merged(self, other: SweepPlan) -> SweepPlan:
        seen = {j.job_id for j in self.jobs}
        jobs = self.jobs + [j for j in other.jobs if j.job_id not in seen]
        return SweepPlan(jobs, self.skipped_models + [m for m in other.skipped_models if m not in self.skipped_models],
                         self.notes + [n for n in other.notes if n not in self.notes])


def check_model_refs(model_refs: Iterable[str]) -> None:
    """Every name given to --models is a model of some level or a model YAML; else SpecError with a did-you-mean."""
    all_names = set(model_names())
    for name in model_refs:
        if name not in all_names and not name.endswith((".yaml", ".yml")):
            raise SpecError(f"--models: unknown model '{name}'{did_you_mean(name, all_names)}; known models: "
                            f"{', '.join(sorted(all_names))}.")


def plan_sweep(tasks: list[TaskSpec], model_refs: list[str], candidates: list[ModelSpec],
               seeds: list[int] | None, overrides: Overrides | None = None, strict_models: bool = True) -> SweepPlan:
    """Jobs for every (task, model, seed). A named model that exists at no level is an error; one that has no
    implementation at a task's level is skipped for that task (and listed)."""
    check_model_refs(model_refs)
    jobs: list[Job] = []
    skipped: list[str] = []
    notes: list[str] = []
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
            notes.extend(unmatched_overrides(spec, task))
    if strict_models and not jobs:
        raise SpecError("nothing to run: no model given applies to the tasks' levels; see `gbench list models`.")
    return SweepPlan(jobs=jobs, skipped_models=skipped, notes=notes)


def unmatched_overrides(spec: ModelSpec, task: TaskSpec) -> list[str]:
    """A model's per-task settings apply by task id, so a copied and renamed task YAML gets none of them. Where
    the task is not a catalog task and the model has settings for catalog tasks on the same dataset, say so: the
    sweep runs (the defaults are a valid choice) but the user learns which settings they left behind."""
    catalog = set(task_ids())
    if not spec.overrides or task.id in spec.overrides or task.id in catalog:
        return []

    def data_of(t: TaskSpec) -> tuple[str, str, str | None]:
        return t.level, t.dataset.source, t.dataset.name

    same = [tid for tid in spec.overrides if tid in catalog and data_of(load_task(tid)) == data_of(task)]
    if not same:
        return []
    return [f"model '{spec.name}' has per-task settings for {', '.join(same)} (the same dataset) but none for "
            f"'{task.id}', a task outside the catalog, so it runs with the model's defaults; to use them, copy the "
            f"model's YAML and add '{task.id}' under its overrides."]


def assemble(*, suite: str | None = None, tasks: str | Sequence[str] | None = None,
             models: str | Sequence[str] | None = None, candidates: Sequence[str] = (),
             seeds: list[int] | None = None, overrides: Overrides | None = None) -> SweepPlan:
    """The jobs of a suite (default: 'default') or of tasks x models, plus candidates, for `seeds` (None: each
    task's or suite group's own). With tasks and neither models nor candidates, every model of the tasks' levels."""
    if suite and tasks:
        raise GbenchError("give either --suite or --tasks, not both.")
    cand_specs = [candidate_spec(m) for m in candidates]
    model_refs = split_refs(models)
    if tasks:
        task_specs = [load_task(t) for t in split_refs(tasks)]
        if not task_specs:
            raise GbenchError("--tasks: give at least one task id or task YAML path.")
        if not model_refs and not cand_specs:
            model_refs = sorted({n for t in task_specs for n in model_names(t.level)})
        return plan_sweep(task_specs, model_refs, cand_specs, seeds, overrides)
    plan = SweepPlan(jobs=[])
    for group in load_suite(suite or "default").all_groups():
        refs = model_refs or ([] if cand_specs else group.models)
        group_seeds = seeds if seeds is not None else (list(range(group.seeds)) if group.seeds else None)
        plan = plan.merged(plan_sweep([load_task(t) for t in group.tasks], refs, cand_specs, group_seeds, overrides,
                                      strict_models=False))
    if not plan.jobs:
        raise GbenchError("nothing to run: no model given applies to the suite's tasks; see `gbench list models`.")
    return plan


# ---------------------------------------------------------------------------------------------------------------
# Checks before any job runs


def check_fold_pins(tasks: Iterable[TaskSpec], opts: RunOptions) -> None:
    """A k-fold task that pins its folds (`split.params.sha256`) is checked once here, not once per job: the
    folds are generated from the task's data. A task whose data cannot be loaded here (on a cluster only, say)
    is left to its jobs, which record why."""
    from gbench.data import load_task_data

    seen: set[str] = set()
    for task in tasks:
        params = task.split.params
        pinned = params.get("sha256") if isinstance(params, dict) else getattr(params, "sha256", None)
        if task.split.kind != "kfold" or pinned is None:
            continue
        ident = task.model_dump_json()
        if ident in seen:
            continue
        seen.add(ident)
        try:
            load_task_data(task, opts.data)
        except FoldPinMismatch:
            raise
        except Exception:  # noqa: BLE001 - any other problem is the jobs' to record
            continue


def check_schedules(jobs: Iterable[Job]) -> None:
    """A plateau schedule steps on the validation loss, which the link level's runner does not report."""
    for job in jobs:
        schedule = job.model.train.lr_schedule
        if schedule is not None and schedule.name == "plateau" and job.task.level == "link":
            raise SpecError(f"model '{job.model.name}' on task '{job.task.id}': train.lr_schedule 'plateau' steps on "
                            "the validation loss, which link tasks do not report; use a step schedule or none.")


def check_traces(jobs: Iterable[Job]) -> None:
    """train.trace_every and train.keep_predictions are graph-level diagnostics: node and link tasks refuse them."""
    for job in jobs:
        if job.model.train.trace_every is not None and job.task.level != "graph":
            raise SpecError(f"model '{job.model.name}' on task '{job.task.id}': train.trace_every traces graph-level "
                            f"tasks only, and this task is {job.task.level}-level; leave it unset here.")
        if job.model.train.keep_predictions and job.task.level != "graph":
            raise SpecError(f"model '{job.model.name}' on task '{job.task.id}': train.keep_predictions keeps "
                            f"per-graph outputs of graph-level tasks only, and this task is {job.task.level}-level; "
                            "leave it unset here.")


def check_plan(plan: SweepPlan, opts: RunOptions, overrides: Overrides | None = None) -> None:
    """Everything that would fail every job of a model or task, checked before the first one runs."""
    check_hparams(plan.jobs, overrides)
    check_schedules(plan.jobs)
    check_traces(plan.jobs)
    check_fold_pins([j.task for j in plan.jobs], opts)


def check_requires(plan: SweepPlan, *, tasks_named: bool, models_named: bool) -> None:
    """A task or model whose spec `requires` extras not installed here fails every one of its jobs. Refused
    (SpecError) when the user named it (--tasks, --models, --model); a note on the plan when a suite or a level's
    whole catalog brought it in, so the rest of the sweep runs and those jobs are recorded as failed with their
    own error. Remote executors skip this check: their workers may have what the driver lacks."""
    from gbench.specs.extras import install_hint, missing_packages

    counts: dict[tuple[str, str], int] = {}
    for job in plan.jobs:
        for kind, name in (("task", job.task.id), ("model", job.model.name)):
            counts[(kind, name)] = counts.get((kind, name), 0) + 1
    seen: set[tuple[str, str]] = set()
    for job in plan.jobs:
        for kind, spec, named in (("task", job.task, tasks_named), ("model", job.model, models_named)):
            name = spec.id if kind == "task" else spec.name
            if (kind, name) in seen or not spec.requires:
                continue
            seen.add((kind, name))
            missing = missing_packages(spec.requires)
            if not missing:
                continue
            need = (f"{kind} '{name}' needs {', '.join(missing)} (its spec requires "
                    f"{', '.join(spec.requires)}), which is not installed here")
            if named:
                raise SpecError(f"{need}: {install_hint(spec.requires)}, or leave the {kind} out.")
            plan.notes.append(f"{counts[(kind, name)]} job(s) will fail: {need}; {install_hint(spec.requires)}.")


def results_dir(out: Path | str) -> Path:
    """The results directory, created (with its parents) and checked writable: a GbenchError, not a traceback,
    when it cannot be."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".gbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise GbenchError(f"--out {out}: cannot create or write the results directory there "
                          f"({e.strerror or e}); give a folder you can write to.") from None
    return out


# ---------------------------------------------------------------------------------------------------------------
# Options


def run_options(*, device: str = "auto", deterministic: str = "auto", threads: int | None = None,
                executor: str = "local", workers: int = 1, cpus_per_job: int = 1, gpus_per_job: int | None = None,
                data_root: Path | str | None = None, cache_dir: Path | str | None = None, offline: bool = False,
                command: str | None = None) -> RunOptions:
    """How the jobs run, with gbench's defaults: determinism strict on CPU and warn on CUDA; torch threads per
    job: torch's own in this process, this machine's cores shared among local workers, and the CPUs a Ray or
    Slurm job was given."""
    from gbench.data.staging import DataContext
    from gbench.executors import EXECUTORS, default_threads, sweep_device
    from gbench.repro import resolve_determinism

    if executor not in EXECUTORS:
        raise GbenchError(f"--executor '{executor}' is not one of {', '.join(EXECUTORS)}.")
    if threads is not None and threads < 1:
        raise GbenchError(f"--threads {threads}: give at least 1.")
    if workers < 1:
        raise GbenchError(f"--workers {workers}: give at least 1.")
    if cpus_per_job < 1:
        raise GbenchError(f"--cpus-per-job {cpus_per_job}: give at least 1.")
    if gpus_per_job is not None and gpus_per_job < 0:
        raise GbenchError(f"--gpus-per-job {gpus_per_job}: give 0 or more.")
    dev = sweep_device(executor, device, gpus_per_job)
    ctx = DataContext.from_env(Path(data_root) if data_root else None, Path(cache_dir) if cache_dir else None,
                               offline=True if offline else None)
    if threads is None and executor == "local" and workers > 1:
        threads = default_threads(workers)  # the workers share this machine's cores
    elif threads is None and executor in ("ray", "slurm"):
        threads = cpus_per_job  # what the scheduler gave the job
    return RunOptions(device=dev, deterministic=resolve_determinism(deterministic, dev), data=ctx, command=command,
                      threads=threads)


AUTO_WORKER_GIB = 2  # memory per `workers: auto` process: its own torch plus a small job (0.9-1.4 GB peak RSS)


def suite_workers(hint: str | None, *, executor: str, device: str, jobs: int) -> int:
    """Local worker processes when --workers is not given: 1, or with a suite's `workers: auto` on CPU one per
    usable core, at most one per job and one per AUTO_WORKER_GIB of the machine's memory (each with one torch
    thread unless --threads says otherwise: `prepare`). A GPU sweep keeps 1, and Ray and Slurm schedule their own."""
    from gbench.executors import machine_memory_gib, usable_cores
    from gbench.repro import resolve_device

    if hint != "auto" or executor != "local" or resolve_device(device) != "cpu":
        return 1
    memory = machine_memory_gib()
    by_memory = int(memory // AUTO_WORKER_GIB) if memory else jobs
    return max(1, min(usable_cores(), jobs, by_memory))


# ---------------------------------------------------------------------------------------------------------------
# Preparing and running


@dataclass
class SweepOutcome:
    """What a finished sweep left: its summary (`gbench.execute.SweepSummary`), the leaderboard (a pandas
    DataFrame, one row per (task, model)), the damaged records left out of it, and the files written."""

    summary: Any
    leaderboard: Any
    damaged: list[str]
    written: list[Path]


@dataclass
class PreparedSweep:
    plan: SweepPlan
    opts: RunOptions
    out: Path
    executor: Any

    def run(self, on_progress: Callable[[Job, Any], None] | None = None,
            on_wait: Callable[[int, dict], None] | None = None) -> SweepOutcome:
        """Run every job without a finished record in `out`, write each record as it arrives, then the
        leaderboard (leaderboard.csv and .md in `out`)."""
        from gbench.execute import run_sweep
        from gbench.report import write_leaderboard
        from gbench.results import ResultStore, aggregate

        store = ResultStore(self.out)
        summary = run_sweep(self.plan.jobs, self.opts, store, executor=self.executor, on_progress=on_progress,
                            on_wait=on_wait)
        records, problems = store.load()
        frame = aggregate(records)
        # The commands that wrote the records (a resumed or extended sweep has several), not only this one.
        commands = sorted({r.command for r in records if r.command}) or [self.opts.command or "gbench.run"]
        written = write_leaderboard(frame, self.out, commands)
        return SweepOutcome(summary=summary, leaderboard=frame, damaged=problems, written=list(written))


def prepare(*, suite: str | None = None, tasks: str | Sequence[str] | None = None,
            models: str | Sequence[str] | None = None, candidates: Sequence[str] = (),
            seeds: int | str | Sequence[int] | None = None, overrides: Sequence[str] | dict[str, Any] | None = None,
            out: Path | str = "results", device: str = "auto", deterministic: str = "auto",
            threads: int | None = None, executor: str = "local", workers: int | None = None,
            address: str | None = None, partition: str | None = None, time_limit: str | None = None,
            cpus_per_job: int = 1, gpus_per_job: int | None = None, mem_gb: float | None = None,
            data_root: Path | str | None = None,
            cache_dir: Path | str | None = None, offline: bool = False, command: str | None = None) -> PreparedSweep:
    """Plan and check a sweep (the arguments are `gbench run`'s; workers None: the suite's `workers`, else 1);
    nothing is written but the results folder. Raises GbenchError, in one sentence, for anything that would fail
    every job of a model or task."""
    from gbench.executors import make_executor

    seeds_ = seed_list(seeds)
    sets = overrides_from(overrides)
    plan = assemble(suite=suite, tasks=tasks, models=models, candidates=candidates, seeds=seeds_, overrides=sets)
    if workers is None:
        hint = None if tasks else load_suite(suite or "default").workers
        workers = suite_workers(hint, executor=executor, device=device, jobs=len(plan.jobs))
        if workers > 1 and threads is None:
            threads = 1  # as the CI gate runs the default suite: its metrics, whatever the number of workers
    opts = run_options(device=device, deterministic=deterministic, threads=threads, executor=executor,
                       workers=workers, cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job, data_root=data_root,
                       cache_dir=cache_dir, offline=offline, command=command)
    check_plan(plan, opts, sets)
    if executor == "local":
        check_requires(plan, tasks_named=bool(tasks), models_named=bool(split_refs(models) or candidates))
    out = results_dir(out)
    runner = make_executor(executor, workers=workers, device=opts.device, results=out, address=address,
                           partition=partition, time_limit=time_limit, cpus_per_job=cpus_per_job,
                           gpus_per_job=gpus_per_job, mem_gb=mem_gb, requested_device=device)
    return PreparedSweep(plan=plan, opts=opts, out=out, executor=runner)


def single_job(task: str, model: str, seed: int = 0, overrides: Sequence[str] | dict[str, Any] | None = None) -> Job:
    """One job: a task id or YAML, and a baseline name, model YAML or candidate `path/to/file.py:factory`."""
    spec_task = load_task(task)
    is_candidate = model.endswith((".yaml", ".yml")) or ":" in model
    spec = candidate_spec(model) if is_candidate else load_model(model, spec_task.level)
    sets = overrides_from(overrides)
    job = Job(spec_task, resolve_model(spec, spec_task, sets), seed)
    check_hparams([job], sets)
    return job
