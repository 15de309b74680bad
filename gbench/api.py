"""gbench from Python: the same sweep and the same comparison as the command line, for a notebook or a script.

    import gbench

    board = gbench.run(tasks="cora", models="gcn,mlp", seeds=3, out="results")   # pandas DataFrame
    verdicts = gbench.compare("results-main", "results-branch")                   # pandas DataFrame

`tune` (`gbench tune`) searches each model's `search:` space with an equal budget and returns the leaderboard of
the selected configurations' final runs. `run` writes what `gbench run` writes (one record per job under `out/records/`, `out/leaderboard.csv` and `.md`),
skips jobs whose finished record is already there, and returns the leaderboard. `compare` reads two results
directories or leaderboard CSVs (or two models of one) and returns one row per (task, model) with its verdict.
A problem with the input raises `gbench.errors.GbenchError` with a one-sentence message, before any job runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run(tasks: str | Sequence[str] | None = None, models: str | Sequence[str] | None = None, *,
        suite: str | None = None, candidates: Sequence[str] = (), seeds: int | str | Sequence[int] | None = None,
        overrides: dict[str, Any] | Sequence[str] | None = None, out: Path | str = "results",
        device: str = "auto", deterministic: str = "auto", threads: int | None = None, executor: str = "local",
        workers: int | None = None, address: str | None = None, data_root: Path | str | None = None,
        cache_dir: Path | str | None = None, offline: bool = False, **executor_options: Any):
    """Run tasks x models x seeds (or a suite) and return the leaderboard as a pandas DataFrame.

    tasks / models: ids, YAML paths, or a comma-separated string of them; candidates: `path/to/file.py:factory`,
    `package.module:factory` or model YAMLs; seeds: a count (seeds 0..N-1), a list, or None for each task's own;
    overrides: `{'hidden': 64, 'optim.lr': 0.01, 'train.epochs': 5}` (part of the job id, as `--set`).
    The other arguments are `gbench run`'s options (`executor_options`: partition, time_limit, cpus_per_job,
    gpus_per_job, mem_gb). The frame's `attrs['summary']` holds the sweep summary (jobs run, skipped, failed
    records) and `attrs['written']` the leaderboard files.
    """
    from gbench.sweep import prepare

    command = "gbench.run(" + ", ".join(f"{k}={v!r}" for k, v in (
        ("tasks", tasks), ("models", models), ("suite", suite), ("candidates", list(candidates) or None),
        ("seeds", seeds), ("overrides", overrides)) if v is not None) + ")"
    sweep = prepare(suite=suite, tasks=tasks, models=models, candidates=candidates, seeds=seeds, overrides=overrides,
                    out=out, device=device, deterministic=deterministic, threads=threads, executor=executor,
                    workers=workers, address=address, data_root=data_root, cache_dir=cache_dir, offline=offline,
                    command=command, **executor_options)
    outcome = sweep.run()
    frame = outcome.leaderboard
    frame.attrs["summary"] = outcome.summary
    frame.attrs["written"] = outcome.written
    frame.attrs["damaged"] = outcome.damaged
    return frame


def tune(tasks: str | Sequence[str], models: str | Sequence[str] | None = None, *, candidates: Sequence[str] = (),
         budget: int = 16, sampler: str = "tpe", seeds: int | str | Sequence[int] | None = None,
         param_budget: str | int | None = None, overrides: dict[str, Any] | Sequence[str] | None = None,
         out: Path | str = "results", storage: str | None = None, round_size: int = 4, sampler_seed: int = 0,
         trial_seed: int = 0, device: str = "auto", deterministic: str = "auto", threads: int | None = None,
         executor: str = "local", workers: int = 1, address: str | None = None, data_root: Path | str | None = None,
         cache_dir: Path | str | None = None, offline: bool = False, **executor_options: Any):
    """Tune each (task, model) with the same budget, select on validation only, run the selected configuration
    with the final seeds; return the leaderboard of the final runs (pandas DataFrame, with the columns `tuned`,
    `search_size` and `selected`). The arguments are `gbench tune`'s. `attrs['trials']` holds one row per trial,
    `attrs['outcome']` the full `gbench.tuning.TuneOutcome`.
    """
    from gbench.tuning import prepare_tune

    command = "gbench.tune(" + ", ".join(f"{k}={v!r}" for k, v in (
        ("tasks", tasks), ("models", models), ("candidates", list(candidates) or None), ("budget", budget),
        ("sampler", sampler), ("seeds", seeds), ("param_budget", param_budget), ("overrides", overrides))
        if v is not None) + ")"
    tuner = prepare_tune(tasks=tasks, models=models, candidates=candidates, budget=budget, sampler=sampler,
                         sampler_seed=sampler_seed, round_size=round_size, trial_seed=trial_seed, seeds=seeds,
                         param_budget=param_budget, overrides=overrides, out=out, storage=storage, device=device,
                         deterministic=deterministic, threads=threads, executor=executor, workers=workers,
                         address=address, data_root=data_root, cache_dir=cache_dir, offline=offline,
                         command=command, **executor_options)
    outcome = tuner.run()
    frame = outcome.leaderboard
    frame.attrs["trials"] = outcome.trials
    frame.attrs["outcome"] = outcome
    return frame


def compare(base: Path | str, candidate: Path | str | None = None, *, base_model: str | None = None,
            candidate_model: str | None = None, base_task: str | None = None, candidate_task: str | None = None,
            split: str | None = None, tolerance_rel: float | None = 0.01,
            tolerance_abs: float | None = None, alpha: float = 0.05, correction: str = "holm", min_seeds: int = 3,
            cost_tolerance: float = 0.5, bootstrap_seed: int = 0, allow_unequal_tuning: bool = False):
    """Is `candidate` better, worse, or noise compared with `base`? A pandas DataFrame, one row per (task, model)
    compared: the means, std and seeds of each side, the gain (+ is better), Welch's p (raw and corrected), the
    bootstrap CI of the gain, and `verdict` ('better', 'worse', 'no detectable change', 'too few seeds to tell').

    The arguments are `gbench compare`'s. `attrs['comparison']` holds the full `gbench.comparison.Comparison` (costs,
    unmatched pairs, notes), and `attrs['gate']` the regression gate's decision (`gbench.gate.GateDecision`).
    """
    import pandas as pd

    from gbench.comparison import Settings, compare as compare_results
    from gbench.gate import decide

    settings = Settings(alpha=alpha, tolerance_rel=tolerance_rel, tolerance_abs=tolerance_abs, min_seeds=min_seeds,
                        correction=correction, cost_tolerance_rel=cost_tolerance,  # type: ignore[arg-type]
                        bootstrap_seed=bootstrap_seed, allow_unequal_tuning=allow_unequal_tuning)
    result = compare_results(base, candidate, base_model=base_model, candidate_model=candidate_model,
                             base_task=base_task, candidate_task=candidate_task, settings=settings, split=split)
    frame = pd.DataFrame(result.to_dict()["pairs"])
    frame.attrs["comparison"] = result
    frame.attrs["gate"] = decide(result, fail_on_regression=True)
    return frame
