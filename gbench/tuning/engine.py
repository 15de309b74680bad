"""The tune: Optuna studies whose trials are ordinary gbench jobs, then the selected configurations' final runs.

One study per (task, model), and per outer fold on a k-fold task (Errica et al.'s nesting: each fold selects on
its own inner hold-out). A trial is a *selection* job (`Job.selection`): it trains on the task's training split
with the trial's configuration and is scored on the validation split only; its runner never evaluates, nor reads
the labels of, a test split. Test metrics come only from the final runs of each study's selected configuration,
with the protocol's seeds; their records carry `tuning` (the sampler, the budget, the space, the selection), which
is part of their job id, so a tuned result is never mistaken for a fixed-configuration one.

Studies advance in rounds: each asks `round_size` trials (a fixed number, not the executor's width), all of them
run as one sweep through the executor, and their values are told in trial order. The sequence of asks and tells,
and so the selection, is therefore the same in process, with local workers, on Ray or on Slurm.

Resuming is replay. The records are the source of truth; the Optuna study in the results folder is rebuilt from
them at every start: the seeded sampler asks again, a configuration whose record exists is told its recorded value
without running, and the first configuration without a record is where the killed tune stopped. A replayed
study is therefore the study an uninterrupted tune would have built, trial for trial.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gbench.hashing import stable_hash
from gbench.job import Job, RunOptions
from gbench.tuning.space import compact, distributions, make_sampler


@dataclass(frozen=True)
class TuneSettings:
    """How every study of one tune searches: the same for each (task, model), so budgets are equal."""

    budget: int  # trials per study; a grid smaller than this is exhausted in fewer
    sampler: str = "tpe"
    sampler_seed: int = 0
    round_size: int = 4  # trials asked before any is told
    trial_seed: int = 0  # the training seed of every trial
    param_budget: int | None = None  # solve the spec's width hyperparameter for at most this many parameters

    def identity(self) -> dict[str, Any]:
        """What decides which configurations a study tries (the budget only decides how many)."""
        return {"sampler": self.sampler, "sampler_seed": self.sampler_seed, "round_size": self.round_size,
                "trial_seed": self.trial_seed, "param_budget": self.param_budget}


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    job: Job
    value: float | None = None
    state: str = "pending"  # complete | failed


@dataclass
class Study:
    """One Optuna study: a (task, model), and an outer fold on a k-fold task."""

    task: Any  # TaskSpec
    spec: Any  # ModelSpec
    search: Any  # SearchSpec
    fixed: dict[str, dict[str, Any]]  # the --set overrides, applied to every trial
    fold: int | None
    settings: TuneSettings
    data: Any = None  # DataContext, for the parameter budget
    trials: list[Trial] = field(default_factory=list)
    optuna: Any = None

    @property
    def group(self) -> str:
        """The tune of this (task, model), shared by its folds: what the final runs' records are grouped by."""
        return stable_hash({"task": self.task.identity(), "model": self.base_model().identity(),
                            "space": self.search.model_dump(mode="json"), "tune": self.settings.identity()})[:16]

    @property
    def name(self) -> str:
        fold = f":fold{self.fold}" if self.fold is not None else ""
        return f"{self.task.id}:{self.spec.name}{fold}:{self.group}"

    @property
    def label(self) -> str:
        return f"{self.task.id} / {self.spec.name}" + (f" / fold {self.fold}" if self.fold is not None else "")

    @property
    def target(self) -> int:
        size = self.search.grid_size()
        return min(self.settings.budget, size) if self.settings.sampler == "grid" and size else self.settings.budget

    @property
    def maximize(self) -> bool:
        return bool(self.task.metric.higher_is_better)

    def base_model(self):
        from gbench.specs import resolve_model

        return resolve_model(self.spec, self.task, self.fixed)

    def model_for(self, params: dict[str, Any]):
        """The resolved model of one configuration: the spec, the --set overrides, the point, and the width
        solved for the parameter budget."""
        from gbench.specs import resolve_model

        point = self.search.overrides(params)
        merged = {g: {**self.fixed.get(g, {}), **point.get(g, {})} for g in ("hparams", "optim", "train")}
        model = resolve_model(self.spec, self.task, merged)
        if self.settings.param_budget is not None:
            from gbench.train.budget import solve_width

            width, _ = solve_width(self.task, model, self.search.width, self.settings.param_budget, self.data)
            merged["hparams"][self.search.width] = width
            model = resolve_model(self.spec, self.task, merged)
        return model

    def job_for(self, params: dict[str, Any]) -> Job:
        return Job(self.task, self.model_for(params), self.settings.trial_seed, fold=self.fold, selection=True)

    def done(self) -> bool:
        return len(self.trials) >= self.target

    def best(self) -> Trial | None:
        """The completed trial with the best validation value; ties go to the earlier trial."""
        complete = [t for t in self.trials if t.state == "complete"]
        if not complete:
            return None
        sign = -1.0 if self.maximize else 1.0
        return min(complete, key=lambda t: (sign * float(t.value), t.number))

    def best_so_far(self) -> list[float | None]:
        """After each trial, the best validation value so far (None until one completes)."""
        out: list[float | None] = []
        best: float | None = None
        for t in self.trials:
            if t.state == "complete" and (best is None or (t.value > best if self.maximize else t.value < best)):
                best = float(t.value)
            out.append(best)
        return out


def tuning_meta(studies: list[Study], study: Study, best: Trial) -> dict[str, Any]:
    """What a final run's record says of the tune behind it (part of its job id)."""
    s = study.settings
    return {"tune": study.group, "sampler": s.sampler, "budget": s.budget, "trials": len(study.trials),
            "search_size": study.search.grid_size(), "space": study.search.describe(),
            "param_budget": s.param_budget, "sampler_seed": s.sampler_seed, "round_size": s.round_size,
            "trial_seed": s.trial_seed, "selected": best.params, "selected_trial": best.number,
            "selected_val": best.value, "folds_tuned": sum(1 for o in studies if o.group == study.group)}


@dataclass
class TuneResult:
    studies: list[Study]
    final_jobs: list[Job]
    trial_summary: Any  # SweepSummary of the last round
    final_summary: Any
    ran_trials: int = 0
    failed_trials: int = 0
    no_selection: list[str] = field(default_factory=list)  # studies where every trial failed


def open_storage(out: Path, url: str | None):
    """The Optuna storage: by default a journal file in the results folder (Optuna's JournalStorage: an append-only
    log, 2.9 ms per ask and tell where SQLite through RDBStorage takes 30.6 ms: benchmarks/tune_overhead.py);
    with `url`, Optuna's RDBStorage on that database (a server, or `sqlite:///path`)."""
    import optuna

    if url is None:
        from optuna.storages.journal import JournalFileBackend

        folder = out / "tune"
        folder.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    return optuna.storages.RDBStorage(url)


def _fresh_study(study: Study, storage) -> Any:
    """The study, emptied: the records, not the database, are the tune's state (see the module docstring)."""
    import optuna

    try:
        optuna.delete_study(study_name=study.name, storage=storage)
    except KeyError:
        pass
    return optuna.create_study(study_name=study.name, storage=storage, direction="maximize" if study.maximize
                               else "minimize", sampler=make_sampler(study.settings.sampler, study.search,
                                                                     study.settings.sampler_seed))


def run_tune(studies: list[Study], opts: RunOptions, store, executor, storage, final_seeds: list[int] | None,
             on_trial: Callable[[Study, Trial], None] | None = None,
             on_final: Callable[[Job, Any], None] | None = None) -> TuneResult:
    """Every study's trials in rounds, then the final runs of each study's selection; records go to `store`."""
    import optuna
    from optuna.trial import TrialState

    from gbench.execute import run_sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = TuneResult(studies=studies, final_jobs=[], trial_summary=None, final_summary=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for study in studies:
            study.optuna = _fresh_study(study, storage)
            study.trials = []
        try:
            while True:
                asked: list[tuple[Study, Any, Trial]] = []
                for study in studies:
                    dists = distributions(study.search)
                    for _ in range(min(study.settings.round_size, study.target - len(study.trials))):
                        ot = study.optuna.ask(dists)
                        params = {k: ot.params[k] for k in study.search.space}
                        trial = Trial(number=ot.number, params=params, job=study.job_for(params))
                        study.trials.append(trial)
                        asked.append((study, ot, trial))
                if not asked:
                    break
                jobs = list({t.job.job_id: t.job for _, _, t in asked}.values())
                summary = run_sweep(jobs, opts, store, executor=executor, close=False)
                result.trial_summary = summary
                result.ran_trials += summary.ran
                for study, ot, trial in asked:
                    job = trial.job
                    record = store.existing(job.task.id, job.model.name, job.seed, job.job_id)
                    value = None
                    if record is not None and record.status == "ok":
                        value = record.metrics.get("val", {}).get(study.task.metric.name)
                    ot.set_user_attr("job_id", job.job_id)
                    if value is None:
                        trial.state = "failed"
                        result.failed_trials += 1
                        study.optuna.tell(ot, state=TrialState.FAIL)
                    else:
                        trial.state, trial.value = "complete", float(value)
                        study.optuna.tell(ot, float(value))
                    if on_trial:
                        on_trial(study, trial)
            final_jobs = []
            for study in studies:
                best = study.best()
                if best is None:
                    result.no_selection.append(study.label)
                    continue
                meta = tuning_meta(studies, study, best)
                seeds = final_seeds if final_seeds is not None else list(range(study.task.protocol.seeds))
                final_jobs.extend(Job(study.task, best.job.model, s, fold=study.fold, tuning=meta) for s in seeds)
            result.final_jobs = final_jobs
            result.final_summary = run_sweep(final_jobs, opts, store, executor=executor, on_progress=on_final,
                                             close=False)
        finally:
            executor.close()
    return result


def trials_table(studies: list[Study]):
    """One row per trial (pandas DataFrame): task, model, fold, trial, configuration, validation value, state,
    best so far, and the job id whose record holds it."""
    import pandas as pd

    rows = []
    for study in studies:
        for trial, best in zip(study.trials, study.best_so_far()):
            rows.append({"task": study.task.id, "model": study.spec.name, "fold": study.fold,
                         "trial": trial.number, "config": compact(trial.params), "val": trial.value,
                         "state": trial.state, "best_so_far": best, "job_id": trial.job.job_id,
                         "num_params_budget": study.settings.param_budget,
                         "width": (trial.job.model.hparams.get(study.search.width)
                                   if study.settings.param_budget is not None else None)})
    return pd.DataFrame(rows)
