"""Assembling a tune before anything runs: tasks x models -> studies, and the checks that refuse up front, in one
sentence each, what would otherwise fail every trial (no search space, a grid sampler over a continuous space,
`--set` fixing what the space varies, a width that cannot meet the parameter budget, a factory that does not take
a searched hyperparameter). `gbench tune` and `gbench.tune(...)` both call `prepare_tune(...).run()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbench.errors import GbenchError, SpecError
from gbench.job import Job, RunOptions
from gbench.tuning.engine import Study, TuneResult, TuneSettings, open_storage, run_tune, trials_table
from gbench.tuning.space import SAMPLERS


def _first_point(search) -> dict[str, Any]:
    """A point of the space (each grid's first value, each range's low end): what the up-front checks build."""
    return {k: (d.values[0] if d.kind == "grid" else d.low) for k, d in search.space.items()}


def _folds(task) -> list[int | None]:
    """The outer folds a k-fold task's studies are per (Errica et al.'s nesting); [None] for other splits."""
    if task.split.kind != "kfold":
        return [None]
    return list(range(int(task.split.params.get("folds", 10))))


def model_specs(task, model_refs: list[str], candidates: list[str]) -> list[Any]:
    from gbench.specs import candidate_spec, has_model, load_model

    specs = [load_model(name, task.level) for name in model_refs
             if name.endswith((".yaml", ".yml")) or has_model(name, task.level)]
    for ref in candidates:
        spec = candidate_spec(ref)
        if spec.level in ("any", task.level):
            specs.append(spec)
    return specs


def plan_studies(task_refs: str | Sequence[str], models: str | Sequence[str] | None, candidates: Sequence[str],
                 settings: TuneSettings, fixed: dict[str, dict[str, Any]], data) -> list[Study]:
    """One study per (task, model, outer fold), each checked: it has a search space the sampler can search."""
    from gbench.specs import load_task, search_space
    from gbench.sweep import check_model_refs, split_refs

    task_specs = [load_task(t) for t in split_refs(task_refs)]
    if not task_specs:
        raise GbenchError("--tasks: give at least one task id or task YAML path to tune on.")
    refs = split_refs(models)
    check_model_refs(refs)
    if not refs and not candidates:
        raise GbenchError("give the models to tune: --models NAME[,NAME] and/or --model path/to/spec.yaml.")
    studies: list[Study] = []
    for task in task_specs:
        for spec in model_specs(task, refs, list(candidates)):
            search = search_space(spec, task)
            where = f"model '{spec.name}' on task '{task.id}'"
            if search is None:
                raise SpecError(f"{where} has no search space: add a `search:` block to its spec (or to its "
                                f"`overrides.{task.id}`), see docs/tuning.md.")
            if settings.sampler == "grid" and not search.is_grid():
                ranges = [k for k, d in search.space.items() if d.kind != "grid"]
                raise SpecError(f"--sampler grid: {where} searches {', '.join(ranges)} over a range, which a grid "
                                "cannot enumerate; use --sampler random or tpe, or make those dimensions lists.")
            both = sorted(set(search.space) & {(k if g == "hparams" else f"{g}.{k}")
                                               for g, kv in fixed.items() for k in kv})
            if both:
                raise SpecError(f"--set {both[0]}: {where} searches '{both[0]}'; a tune cannot also fix it, so "
                                "drop the --set or remove the dimension from the search space.")
            if settings.param_budget is not None:
                if not search.width:
                    raise SpecError(f"--param-budget: {where} names no width (`search.width` in its spec), the "
                                    "hyperparameter to solve for the budget; add one, e.g. width: hidden.")
                if search.width in search.space:
                    raise SpecError(f"--param-budget: {where} searches its width '{search.width}', which the "
                                    "budget decides; remove it from the search space.")
            for fold in _folds(task):
                studies.append(Study(task=task, spec=spec, search=search, fixed=fixed, fold=fold,
                                     settings=settings, data=data))
    if not studies:
        raise GbenchError("nothing to tune: no model given applies to the tasks' levels; see `gbench list models`.")
    return studies


def check_studies(studies: list[Study], opts: RunOptions, fixed: dict[str, dict[str, Any]]) -> None:
    """Build one trial per (task, model) and check it as `gbench run` checks its jobs (factory keywords, fold
    pins); a parameter budget no width can meet is refused here too."""
    from gbench.hparams import check_hparams
    from gbench.sweep import check_fold_pins

    seen: set[tuple[str, str]] = set()
    jobs: list[Job] = []
    for study in studies:
        if (study.task.id, study.spec.name) in seen:
            continue
        seen.add((study.task.id, study.spec.name))
        jobs.append(study.job_for(_first_point(study.search)))
    check_hparams(jobs, fixed)
    check_fold_pins([s.task for s in studies], opts)


@dataclass
class TuneOutcome:
    result: TuneResult
    leaderboard: Any  # pandas DataFrame of the final runs (and anything else in `out`)
    trials: Any  # pandas DataFrame, one row per trial (`out/tune/trials.csv`)
    damaged: list[str]
    written: list[Path]


@dataclass
class PreparedTune:
    studies: list[Study]
    opts: RunOptions
    out: Path
    executor: Any
    storage_url: str | None
    final_seeds: list[int] | None

    def run(self, on_trial: Callable | None = None, on_final: Callable | None = None) -> TuneOutcome:
        from gbench.atomic import write_text
        from gbench.plots import plot_best_so_far
        from gbench.report import write_leaderboard
        from gbench.results import ResultStore, aggregate

        store = ResultStore(self.out)
        storage = open_storage(self.out, self.storage_url)
        result = run_tune(self.studies, self.opts, store, self.executor, storage, self.final_seeds,
                          on_trial=on_trial, on_final=on_final)
        trials = trials_table(self.studies)
        written = [write_text(self.out / "tune" / "trials.csv", trials.to_csv(index=False))]
        records, problems = store.load()
        frame = aggregate(records)
        commands = sorted({r.command for r in records if r.command and not r.selection}) or [
            self.opts.command or "gbench.tune"]
        written += write_leaderboard(frame, self.out, commands)
        plot = plot_best_so_far(trials, self.out / "tune-best-so-far.png")
        if plot:
            written.append(plot)
        return TuneOutcome(result=result, leaderboard=frame, trials=trials, damaged=problems, written=written)


def prepare_tune(*, tasks: str | Sequence[str], models: str | Sequence[str] | None = None,
                 candidates: Sequence[str] = (), budget: int = 16, sampler: str = "tpe", sampler_seed: int = 0,
                 round_size: int = 4, trial_seed: int = 0, seeds: int | str | Sequence[int] | None = None,
                 param_budget: str | int | None = None, overrides: Sequence[str] | dict[str, Any] | None = None,
                 out: Path | str = "results", storage: str | None = None, device: str = "auto",
                 deterministic: str = "auto", threads: int | None = None, executor: str = "local", workers: int = 1,
                 address: str | None = None, partition: str | None = None, time_limit: str | None = None,
                 cpus_per_job: int = 1, gpus_per_job: int | None = None, mem_gb: float | None = None,
                 data_root: Path | str | None = None, cache_dir: Path | str | None = None, offline: bool = False,
                 command: str | None = None) -> PreparedTune:
    """Plan and check a tune (the arguments are `gbench tune`'s); nothing is written but the results folder."""
    from gbench.executors import make_executor
    from gbench.sweep import overrides_from, results_dir, run_options, seed_list

    if sampler not in SAMPLERS:
        raise GbenchError(f"--sampler '{sampler}' is not one of {', '.join(SAMPLERS)}.")
    if budget < 1:
        raise GbenchError(f"--budget {budget}: give at least 1 trial per (task, model).")
    if round_size < 1:
        raise GbenchError(f"--round-size {round_size}: give at least 1.")
    if trial_seed < 0 or sampler_seed < 0:
        raise GbenchError("--trial-seed and --sampler-seed must be 0 or more.")
    n_params = None
    if param_budget is not None:
        from gbench.train.budget import parse_budget

        n_params = parse_budget(str(param_budget))
    settings = TuneSettings(budget=budget, sampler=sampler, sampler_seed=sampler_seed, round_size=round_size,
                            trial_seed=trial_seed, param_budget=n_params)
    fixed = overrides_from(overrides)
    opts = run_options(device=device, deterministic=deterministic, threads=threads, executor=executor,
                       workers=workers, cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job, data_root=data_root,
                       cache_dir=cache_dir, offline=offline, command=command)
    studies = plan_studies(tasks, models, candidates, settings, fixed, opts.data)
    check_studies(studies, opts, fixed)
    out = results_dir(out)
    runner = make_executor(executor, workers=workers, device=opts.device, results=out, address=address,
                           partition=partition, time_limit=time_limit, cpus_per_job=cpus_per_job,
                           gpus_per_job=gpus_per_job, mem_gb=mem_gb, requested_device=device)
    return PreparedTune(studies=studies, opts=opts, out=out, executor=runner, storage_url=storage,
                        final_seeds=seed_list(seeds))
