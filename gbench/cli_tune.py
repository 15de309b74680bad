"""`gbench tune`: parsing and printing only; the tune itself is `gbench.tuning`. Registered on the `gbench` app by
`gbench.cli`, kept apart so each file stays readable."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def tune(
    tasks: Annotated[str, typer.Option(help="Comma-separated task ids or task YAML paths.")],
    models: Annotated[Optional[str], typer.Option(help="Comma-separated baseline names or model YAML paths (each "
                                                       "needs a `search:` space).")] = None,
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", help="A candidate model YAML with a `search:` space (repeatable).")] = None,
    budget: Annotated[int, typer.Option(help="Trials per (task, model) (per outer fold on a k-fold task); the "
                                             "same for every model. A grid smaller than this is exhausted.")] = 16,
    sampler: Annotated[str, typer.Option(help="grid (every point once), random or tpe (Optuna's).")] = "tpe",
    seeds: Annotated[Optional[str], typer.Option(help="Seeds of the final runs of the selected configuration "
                                                      "(default: each task's protocol seeds).")] = None,
    param_budget: Annotated[Optional[str], typer.Option(help="Solve the spec's width hyperparameter for at most "
                                                             "this many parameters: 100k, 500k, 1.5m.")] = None,
    round_size: Annotated[int, typer.Option(help="Trials asked before any is told; fixed so that the selection "
                                                 "is the same whatever the executor.")] = 4,
    sampler_seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
    trial_seed: Annotated[int, typer.Option(help="Training seed of every trial.")] = 0,
    storage: Annotated[Optional[str], typer.Option(help="Optuna RDB storage URL, e.g. postgresql://user:pw@host/db "
                                                        "(default: a journal file in OUT/tune/).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Fixed override for every trial: train.epochs=50 (repeatable; part of the job id).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    out: Annotated[Path, typer.Option(help="Results directory (records, study, leaderboard).")] = Path("results"),
    data_root: Annotated[Optional[Path], typer.Option(help="Folder of raw datasets (default: $GBENCH_DATA).")
                         ] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="gbench's cache (default: $GBENCH_CACHE).")] = None,
    deterministic: Annotated[str, typer.Option(help="strict, warn, off or auto.")] = "auto",
    offline: Annotated[bool, typer.Option(help="Never try to download (also GBENCH_OFFLINE=1).")] = False,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads per job.")] = None,
    executor: Annotated[str, typer.Option(help="Where trials run: local, ray or slurm (submitit).")] = "local",
    workers: Annotated[int, typer.Option(help="local: worker processes; slurm: jobs queued at once.")] = 1,
    address: Annotated[Optional[str], typer.Option(help="ray: cluster address.")] = None,
    partition: Annotated[Optional[str], typer.Option(help="slurm: partition.")] = None,
    time_: Annotated[Optional[str], typer.Option("--time", help="slurm: time limit per job.")] = None,
    cpus_per_job: Annotated[int, typer.Option(help="ray / slurm: CPUs per job.")] = 1,
    gpus_per_job: Annotated[Optional[int], typer.Option(help="ray / slurm: GPUs per job.")] = None,
    mem_gb: Annotated[Optional[float], typer.Option(help="slurm: memory per job in GB.")] = None,
) -> None:
    """Tune models with an equal budget per (task, model), select on validation only, then run the selected
    configuration with the protocol's seeds: one record per trial and per final run, and the leaderboard."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gbench.report import print_leaderboard
    from gbench.tuning import prepare_tune

    if offline:  # model factories (ImageNet weights) and worker processes read the environment, not the flag
        os.environ["GBENCH_OFFLINE"] = "1"
    tuner = prepare_tune(tasks=tasks, models=models, candidates=model or [], budget=budget, sampler=sampler,
                         sampler_seed=sampler_seed, round_size=round_size, trial_seed=trial_seed, seeds=seeds,
                         param_budget=param_budget, overrides=set_ or [], out=out, storage=storage, device=device,
                         deterministic=deterministic, threads=threads, executor=executor, workers=workers,
                         address=address, partition=partition, time_limit=time_, cpus_per_job=cpus_per_job,
                         gpus_per_job=gpus_per_job, mem_gb=mem_gb, data_root=data_root, cache_dir=cache_dir,
                         offline=offline, command="gbench " + shlex.join(sys.argv[1:]))
    groups: dict[tuple[str, str], list] = {}
    for study in tuner.studies:
        groups.setdefault((study.task.id, study.spec.name), []).append(study)
    folds = max(len(v) for v in groups.values())
    console.print(f"{len(groups)} (task, model) pair(s), {tuner.studies[0].settings.sampler} sampler, budget "
                  f"{budget} trials each" + (f" per outer fold ({folds} folds)" if folds > 1 else "")
                  + f", on {tuner.opts.device} -> {tuner.out}/")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        bars = {key: progress.add_task(f"{key[0]} / {key[1]}", total=sum(s.target for s in studies))
                for key, studies in groups.items()}

        def on_trial(study, trial) -> None:
            key = (study.task.id, study.spec.name)
            bests = [s.best() for s in groups[key]]
            vals = [b.value for b in bests if b is not None]
            best = f"best val {sum(vals) / len(vals):.4f}" + (" (mean over folds)" if len(bests) > 1 else "") \
                if vals else "no trial done yet"
            progress.update(bars[key], advance=1, description=f"{key[0]} / {key[1]}: {best}")

        final = {"bar": None}

        def on_final(job, record) -> None:
            if final["bar"] is None:
                final["bar"] = progress.add_task("final runs", total=None)
            state = "cached" if record is None else record.status
            progress.update(final["bar"], advance=1, description=f"final runs: {job.label}: {state}")

        outcome = tuner.run(on_trial=on_trial, on_final=on_final)
    for p in outcome.damaged:
        err_console.print(f"[yellow]warning[/yellow]: excluded damaged record: {escape(p)}")
    print_leaderboard(outcome.leaderboard, console)
    console.print("wrote " + ", ".join(str(p) for p in outcome.written), highlight=False)
    result = outcome.result
    finals = result.final_summary
    console.print(f"trials: ran {result.ran_trials}, failed {result.failed_trials} (a trial with a record is "
                  f"replayed, not rerun); final runs: ran {finals.ran}, already done {finals.skipped_done}, failed "
                  f"{len(finals.failures)}", highlight=False)
    for label in result.no_selection:
        err_console.print(f"[red]no selection[/red] {escape(label)}: every trial failed; see {tuner.out}/tune/"
                          "trials.csv and the trials' records.")
    for rec in finals.failures:
        first = (rec.error or "").strip().splitlines()[0] if rec.error else ""
        err_console.print(f"[red]{rec.status}[/red] {rec.task} / {rec.model} / seed {rec.seed}: {escape(first)}")
    if finals.failures or result.no_selection:
        raise typer.Exit(1)
