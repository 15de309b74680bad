"""The `gbench` command line: parsing and printing only; the work happens in the library modules."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gbench.errors import GbenchError

# Markdown help: a docstring's line breaks are not kept in an 80-column terminal (typer's "rich" mode keeps them).
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown",
                  help="Benchmark graph learning models on standard tasks, with fixed seeds and honest statistics.")
console = Console()
err_console = Console(stderr=True)


def command_line() -> str:
    return "gbench " + shlex.join(sys.argv[1:])


@app.command()
def run(
    suite: Annotated[Optional[str], typer.Option(help="Suite id or YAML path (default: 'default').")] = None,
    tasks: Annotated[Optional[str], typer.Option(help="Comma-separated task ids or task YAML paths.")] = None,
    models: Annotated[Optional[str], typer.Option(help="Comma-separated baseline names or model YAML paths.")] = None,
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", help="A candidate: path/to/file.py:factory, package.module:factory or a model YAML (repeatable)."
    )] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Number of seeds (0..N-1), a list or a range.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    out: Annotated[Path, typer.Option(help="Results directory (records and leaderboards).")] = Path("results"),
    data_root: Annotated[Optional[Path], typer.Option(
        help="Folder of raw datasets (default: $GBENCH_DATA, else download into the cache).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="gbench's cache (default: $GBENCH_CACHE or "
                                                            "~/.cache/gbench).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override: hidden=64, optim.lr=0.001, train.epochs=5 (repeatable; part of the job id).")] = None,
    deterministic: Annotated[str, typer.Option(help="strict, warn, off or auto (strict on CPU, warn on CUDA).")
                             ] = "auto",
    offline: Annotated[bool, typer.Option(help="Never try to download (also GBENCH_OFFLINE=1).")] = False,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads per job (default: torch's).")] = None,
    executor: Annotated[str, typer.Option(help="Where jobs run: local, ray or slurm (submitit).")] = "local",
    workers: Annotated[Optional[int], typer.Option(
        help="local: worker processes (1: in this process; on CUDA one slot per GPU in turn; default: 1, or one "
             "per core on CPU for a suite that says `workers: auto`, as the default one does); slurm: jobs queued "
             "at once.")] = None,
    address: Annotated[Optional[str], typer.Option(help="ray: cluster address (default: start Ray here); a head "
                                                        "started by hand may need RAY_AUTH_MODE=token set.")] = None,
    partition: Annotated[Optional[str], typer.Option(help="slurm: partition.")] = None,
    time_: Annotated[Optional[str], typer.Option("--time", help="slurm: time limit per job (90, 2:00:00).")
                     ] = None,
    cpus_per_job: Annotated[int, typer.Option(help="ray / slurm: CPUs per job.")] = 1,
    gpus_per_job: Annotated[Optional[int], typer.Option(help="ray / slurm: GPUs per job (default: 1 on CUDA).")
                            ] = None,
    mem_gb: Annotated[Optional[float], typer.Option(help="slurm: memory per job in GB.")] = None,
) -> None:
    """Run tasks x models x seeds, write one record per job, then the leaderboard."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gbench.report import print_leaderboard
    from gbench.sweep import prepare

    if offline:  # model factories (ImageNet weights) and worker processes read the environment, not the flag
        os.environ["GBENCH_OFFLINE"] = "1"
    sweep = prepare(suite=suite, tasks=tasks, models=models, candidates=model or [], seeds=seeds, overrides=set_ or [],
                    out=out, device=device, deterministic=deterministic, threads=threads, executor=executor,
                    workers=workers, address=address, partition=partition, time_limit=time_,
                    cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job, mem_gb=mem_gb, data_root=data_root,
                    cache_dir=cache_dir, offline=offline, command=command_line())
    jobs, opts, runner = sweep.plan.jobs, sweep.opts, sweep.executor
    if sweep.plan.skipped_models:
        console.print(f"[dim]no implementation at that level, skipped: {', '.join(sweep.plan.skipped_models)}[/dim]")
    for note in sweep.plan.notes:
        err_console.print(f"[yellow]note[/yellow]: {escape(note)}")
    console.print(f"{len(jobs)} jobs on {opts.device} (determinism {opts.deterministic}, executor "
                  f"{runner.name}, {runner.slots} at once) -> {sweep.out}/")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task("running", total=len(jobs))

        def on_progress(job, record) -> None:
            state = "cached" if record is None else record.status
            progress.update(bar, advance=1, description=f"{job.label}: {state}")

        waited: set = set()

        def on_wait(n, holder) -> None:
            if (n, holder.get("pid")) not in waited:
                waited.add((n, holder.get("pid")))
                progress.console.print(f"waiting for {n} job(s) claimed by another gbench run (pid "
                                       f"{holder.get('pid', '?')} on {holder.get('host', '?')})")

        outcome = sweep.run(on_progress=on_progress, on_wait=on_wait)
    for p in outcome.damaged:
        err_console.print(f"[yellow]warning[/yellow]: excluded damaged record: {escape(p)}")
    print_leaderboard(outcome.leaderboard, console)
    console.print("wrote " + ", ".join(str(p) for p in outcome.written))
    summary = outcome.summary
    elsewhere = f", done by another run {summary.done_elsewhere}" if summary.done_elsewhere else ""
    console.print(f"ran {summary.ran}, already done {summary.skipped_done}{elsewhere}, "
                  f"failed {len(summary.failures)}")
    if summary.failures:
        for rec in summary.failures:
            first = (rec.error or "").strip().splitlines()[0] if rec.error else ""
            err_console.print(f"[red]{rec.status}[/red] {rec.task} / {rec.model} / seed {rec.seed}: {escape(first)}")
        raise typer.Exit(1)


app.command("tune")(__import__("gbench.cli_tune", fromlist=["tune"]).tune)


@app.command("list")
def list_(what: Annotated[str, typer.Argument(help="tasks, models or suites")]) -> None:
    """List the catalog: tasks, models or suites. Names are never cut; on a narrow terminal the columns that do not
    fit are left out (and named below the table), and descriptions are cut to the width left. Suites are listed
    as text, a line per group of tasks x models."""
    from gbench import specs

    if what == "tasks":
        header = ["id", "level", "metric", "dataset", "v", "description"]
        rows = []
        for tid in specs.task_ids():
            t = specs.load_task(tid)
            rows.append([t.id, t.level + (f" ({t.family})" if t.family else ""), t.metric.name,
                         f"{t.dataset.source}:{t.dataset.name or ''}", str(t.version), t.description.split(". ")[0]])
    elif what == "models":
        header = ["name", "level", "implementation", "description"]
        rows = [[name, level, (m := specs.load_model_file(path)).implementation, m.description.split(". ")[0]]
                for level, name, path in specs.model_entries()]
    elif what == "suites":  # groups of lists: as wrapped text, one paragraph a suite, one line a group
        from rich.markup import escape
        from rich.padding import Padding
        from rich.text import Text

        for sid in specs.suite_ids():
            s = specs.load_suite(sid)
            console.print(f"[bold]{s.id}[/bold]: {escape(s.description.split('. ')[0].rstrip('.'))}.", highlight=False)
            for g in s.all_groups():
                seeds = ("each task's protocol seeds" if g.seeds is None
                         else f"{g.seeds} seed{'s' if g.seeds != 1 else ''}")
                console.print(Padding(Text(f"{', '.join(g.tasks)} x {', '.join(g.models)}: {seeds}"), (0, 0, 0, 2)))
        return
    else:
        raise GbenchError(f"gbench list '{what}': choose tasks, models or suites.")
    table, left_out = _catalog_table(header, rows, console.width)
    console.print(table)
    if left_out:
        whole = "; gbench show TASK prints a task whole" if what == "tasks" else ""
        console.print(f"not shown at this width: {', '.join(left_out)} (a wider terminal shows "
                      f"{'it' if len(left_out) == 1 else 'them'}{whole})", highlight=False)


def _catalog_table(header: list[str], rows: list[list[str]], width: int):
    """A `gbench list` table for `width` columns: the first column whole, then the others in order while they fit,
    the description last, cut with an ellipsis to what is left."""
    from rich import box
    from rich.table import Table

    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    need = {i: widths[i] + 2 for i in range(len(header))}
    description = header.index("description")
    chosen = [0]
    for i in range(1, len(header)):
        if i != description and sum(need[j] for j in chosen) + need[i] + 12 <= width:
            chosen.append(i)
    chosen.append(description)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    for i in chosen:
        h = header[i]
        if i == description:  # what is left: the table never overflows, so rich never squeezes a name column
            left = width - sum(need[j] for j in chosen if j != description)
            table.add_column(h, no_wrap=True, overflow="ellipsis", max_width=max(left, 10))
        else:
            table.add_column(h, no_wrap=True, min_width=widths[i])
    for r in rows:
        table.add_row(*(r[i] for i in chosen))
    return table, [h for i, h in enumerate(header) if i not in chosen]


@app.command()
def show(task: Annotated[str, typer.Argument(help="Task id or task YAML path.")]) -> None:
    """Show a task's resolved spec and its reference numbers."""
    import yaml

    from gbench.specs import load_task, task_path

    spec = load_task(task)
    where = task if task.endswith((".yaml", ".yml")) else task_path(spec.id)
    console.print(f"[bold]{spec.id}[/bold] v{spec.version} ({where})")
    body = spec.model_dump(mode="json", exclude={"reference"})
    console.print(yaml.safe_dump(body, sort_keys=False, width=10_000, allow_unicode=True).rstrip(), markup=False,
                  soft_wrap=True)
    if spec.reference:
        console.print("[bold]reference numbers[/bold]")
        for name, ref in spec.reference.items():
            std = f" ± {ref.std}" if ref.std is not None else ""
            console.print(f"  {name}: {ref.value}{std}  ({ref.source})" + (f" {ref.note}" if ref.note else ""),
                          markup=False, soft_wrap=True)


@app.command("check-model")
def check_model_cmd(
    implementation: Annotated[str, typer.Argument(help="path/to/file.py:factory or package.module:factory")],
    level: Annotated[str, typer.Option(help="Task level to check against.")] = "node",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Hyperparameter, e.g. hidden=32.")] = None,
) -> None:
    """Run the model contract on a tiny generated task and say what is wrong, before a long run."""
    from rich.markup import escape

    from gbench.models.check import check_model
    from gbench.sweep import overrides_from

    if level not in ("node", "graph", "link"):
        raise GbenchError(f"--level '{level}' is not one of node, graph, link.")
    checks = check_model(implementation, level, overrides_from(set_ or [])["hparams"])
    for c in checks:
        mark = "[green]ok[/green]  " if c.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(c.name)}: {escape(c.message)}", highlight=False)
    failed = [c for c in checks if not c.passed]
    if failed:
        err_console.print(f"{len(failed)} check(s) failed: the model does not follow the {level}-level contract.")
        raise typer.Exit(1)
    console.print(f"the model follows the {level}-level contract.")


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="Base: a results directory or a leaderboard CSV.")],
    candidate: Annotated[Optional[Path], typer.Argument(
        help="Candidate: a results directory or a leaderboard CSV (default: BASE, with --base/--candidate-model).")
    ] = None,
    base_model: Annotated[Optional[str], typer.Option(help="Compare this model (in BASE) ...")] = None,
    candidate_model: Annotated[Optional[str], typer.Option(help="... against this one (in CANDIDATE or BASE).")
                               ] = None,
    base_task: Annotated[Optional[str], typer.Option(help="Compare this task (in BASE) ...")] = None,
    candidate_task: Annotated[Optional[str], typer.Option(help="... against this one (a variant of it, in "
                                                               "CANDIDATE or BASE).")] = None,
    split: Annotated[Optional[str], typer.Option(help="Compare on this test split (e.g. test_far_ood) instead of "
                                                      "each task's headline one; rows without it are listed as "
                                                      "not compared.")] = None,
    tolerance_rel: Annotated[float, typer.Option(help="A change smaller than this fraction of the base mean is "
                                                      "no change (0 = any change; negative: off).")] = 0.01,
    tolerance_abs: Annotated[Optional[float], typer.Option(help="... and smaller than this absolute amount "
                                                                "(metric units).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level after the correction.")] = 0.05,
    correction: Annotated[str, typer.Option(help="Multiple-testing correction over all pairs: holm, bh or none.")
                          ] = "holm",
    min_seeds: Annotated[int, typer.Option(help="Seeds per side below which the verdict is 'too few seeds'.")] = 3,
    cost_tolerance: Annotated[float, typer.Option(help="Cost change (time per epoch, memory) below this fraction "
                                                       "is no change.")] = 0.5,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    format_: Annotated[str, typer.Option("--format", help="table, markdown or json.")] = "table",
    fail_on_regression: Annotated[bool, typer.Option(help="Exit 1 when a metric got worse, or when the gate "
                                                           "cannot vouch: damaged records, no pair compared, or "
                                                           "candidate jobs that failed where the base's did not.")
                                  ] = False,
    fail_on_cost: Annotated[bool, typer.Option(help="Exit 1 when a cost got worse beyond its tolerance too.")
                            ] = False,
    allow_unequal_tuning: Annotated[bool, typer.Option(help="Compare a tuned side with an untuned one (or "
                                                            "unequal budgets) without failing the gate; the "
                                                            "output records it.")] = False,
) -> None:
    """Is CANDIDATE better, worse, or noise compared with BASE? Per (task, model): tests, CI, verdict."""
    import json

    from gbench.comparison import Settings, compare as run_compare
    from gbench.gate import decide
    from gbench.comparison.render import comparison_findings, comparison_markdown, print_comparison

    if format_ not in ("table", "markdown", "json"):
        raise GbenchError(f"--format '{format_}': choose table, markdown or json.")
    settings = Settings(alpha=alpha, tolerance_rel=tolerance_rel if tolerance_rel >= 0 else None,
                        tolerance_abs=tolerance_abs, min_seeds=min_seeds, correction=correction,  # type: ignore
                        cost_tolerance_rel=cost_tolerance, bootstrap_seed=bootstrap_seed,
                        allow_unequal_tuning=allow_unequal_tuning)
    result = run_compare(base, candidate, base_model=base_model, candidate_model=candidate_model,
                         base_task=base_task, candidate_task=candidate_task, settings=settings, split=split)
    if format_ == "json":
        body = result.to_dict()
        body["findings"] = comparison_findings(result, fail_on_cost)
        print(json.dumps(body, indent=1))
    elif format_ == "markdown":
        print(comparison_markdown(result, fail_on_cost), end="")
    else:
        print_comparison(result, console, fail_on_cost)
    gate = decide(result, fail_on_regression, fail_on_cost)
    for line in ([gate.cannot_vouch] if gate.cannot_vouch else []) + gate.findings:
        err_console.print(line, style="red", highlight=False, soft_wrap=True, markup=False)
    if gate.failed:
        raise typer.Exit(1)


@app.command()
def publish(
    results: Annotated[Path, typer.Argument(help="A results directory written by `gbench run`.")],
    name: Annotated[str, typer.Option(help="Leaderboard name: writes DIR/NAME.csv, NAME.md and NAME.html.")],
    dir_: Annotated[Path, typer.Option("--dir", help="Where published leaderboards live.")] = Path("leaderboards"),
    force: Annotated[bool, typer.Option(help="Replace a published leaderboard of that name.")] = False,
) -> None:
    """Publish RESULTS as a leaderboard: CSV, Markdown and a self-contained sortable HTML page."""
    from gbench.publish import publish as run_publish

    done = run_publish(results, name, dir_, force=force)
    console.print(f"published {done.rows} rows: " + ", ".join(str(p) for p in done.paths), highlight=False)
    if done.absolute_out:
        err_console.print(f"note: {done.absolute_out} of the copied records name an absolute --out in their command "
                          "(kept as it ran; the pages show results/NAME); run with a relative --out to keep machine "
                          "paths out of a repository.", highlight=False, soft_wrap=True, markup=False)


@app.command()
def plot(
    source: Annotated[Path, typer.Argument(help="A results directory or a leaderboard CSV.")],
    kind: Annotated[str, typer.Option(help="bars (per task, error bars), cost (metric against cost) or scale "
                                           "(metric per test split).")] = "bars",
    out: Annotated[Path, typer.Option(help="Folder for the PNG.")] = Path("plots"),
    cost: Annotated[str, typer.Option(help="For --kind cost: time (seconds per epoch) or memory (peak MB).")
                    ] = "time",
) -> None:
    """Plot a leaderboard as PNG: OUT/bars.png, OUT/cost.png or OUT/scale.png, as --kind says."""
    from gbench.plots import plot as run_plot

    path = run_plot(source, kind, out, cost=cost)
    console.print(f"wrote {path}", highlight=False)


app.add_typer(__import__("gbench.cli_results", fromlist=["results_app"]).results_app, name="results")


@app.command()
def verify(
    task: Annotated[str, typer.Argument(help="Task id or task YAML path.")],
    model: Annotated[str, typer.Argument(help="Baseline name, model YAML, or candidate path/to/file.py:factory.")],
    seed: Annotated[int, typer.Option(help="The job's seed.")] = 0,
    runs: Annotated[int, typer.Option(help="How many times to run it.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    deterministic: Annotated[str, typer.Option(help="strict, warn, off or auto (strict on CPU, warn on CUDA).")
                             ] = "auto",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override, as for `gbench run`.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Folder of raw datasets.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="gbench's cache.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads.")] = None,
) -> None:
    """Run one job twice and report every difference in its results. Exit 1 when the runs differ."""
    from rich.markup import escape

    from gbench.sweep import run_options, single_job
    from gbench.verify import verify_job

    if runs < 2:
        raise GbenchError(f"--runs {runs}: give at least 2.")
    job = single_job(task, model, seed, set_ or [])
    opts = run_options(device=device, deterministic=deterministic, threads=threads, data_root=data_root,
                       cache_dir=cache_dir, command=command_line())
    console.print(f"{job.label} (job {job.job_id}) on {opts.device}, determinism {opts.deterministic}: {runs} runs")
    records, diffs = verify_job(job, opts, runs)
    for i, rec in enumerate(records, start=1):
        value = rec.headline()
        shown = f"{rec.metric} {value!r}" if value is not None else next(iter((rec.error or "").splitlines()), "")
        console.print(f"run {i}: {rec.status}, {shown}, selected epoch {rec.selected_epoch}", highlight=False)
        if rec.determinism.get("nondeterministic_ops"):
            console.print(f"  non-deterministic operations hit: {', '.join(rec.determinism['nondeterministic_ops'])}",
                          highlight=False)
    if diffs:
        for d in diffs:
            err_console.print(f"[red]differs[/red] {escape(d)}", highlight=False)
        err_console.print(f"the {runs} runs differ: this job is not reproducible under these settings.")
        raise typer.Exit(1)
    console.print(f"identical: {runs} runs gave exactly the same metrics, validation loss and selected epoch.")


@app.command()
def schema(
    part: Annotated[Optional[str], typer.Argument(help="task, model or suite; all of them when left out.")] = None,
) -> None:
    """Print the spec reference (every field, its type, default and meaning) as Markdown."""
    from gbench.specs.reference import PARTS, spec_reference

    if part is not None and part not in PARTS:
        raise GbenchError(f"schema '{part}': give one of {', '.join(PARTS)}, or nothing for all of them.")
    sys.stdout.write(spec_reference(part))


def main() -> None:
    import warnings

    # PyG's import-time use of torch.jit.script warns on torch >= 2.10; it is noise to a gbench user.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    try:
        code = app(standalone_mode=False)  # returns the exit code of typer.Exit instead of raising it
        if isinstance(code, int) and code:
            sys.exit(code)
    except GbenchError as e:
        _fail(str(e), 2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted; finished jobs keep their records, and the next run resumes from them.", 130)
    except OSError as e:  # a file or folder the user named cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}; check the path and its permissions.", 2)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:
        # A usage error (unknown option, missing argument, a value of the wrong type) from typer's command-line
        # parser, which is click or typer's own copy of it: either way it shows itself as usage and one line.
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    sys.exit(code)


if __name__ == "__main__":
    main()
