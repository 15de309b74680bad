"""`gbench results`: inspecting a results directory (verify, seeds, running). Parsing and printing only; registered
on the `gbench` app by `gbench.cli`, kept apart so each file stays readable."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gbench.errors import GbenchError

console = Console()
err_console = Console(stderr=True)

# How a record's peak memory was measured (gbench.jobs.PeakMemory), as `results seeds --memory` labels it where the
# records of one directory were measured in different ways.
MEMORY_LABELS = {"cuda_max_allocated": "gpu", "rss_hwm_job": "rss", "rss_sampled": "smp",
                 "process_lifetime_peak_rss": "prc"}

results_app = typer.Typer(no_args_is_help=True, help="Inspect a results directory.")


def _need_records(results: Path) -> None:
    if not (results / "records").is_dir():
        raise GbenchError(f"{results}: no records/ folder here; give the --out directory of a `gbench run`.")


@results_app.command("verify")
def results_verify(results: Annotated[Path, typer.Argument(help="A results directory written by `gbench run`.")]
                   ) -> None:
    """Check every record: readable, valid, checksum intact, in its place. Exit 1 when any file is damaged."""
    from rich.markup import escape

    from gbench.results import ResultStore

    _need_records(results)
    report = ResultStore(results).verify()
    for path, reason in report.damaged:
        err_console.print(f"[red]damaged[/red] {escape(str(path))}: {escape(reason)}", highlight=False,
                          soft_wrap=True)
    for path, reason in report.damaged_attempts:
        err_console.print(f"[yellow]damaged superseded attempt[/yellow] {escape(str(path))}: {escape(reason)}",
                          highlight=False, soft_wrap=True)
    extra = f", {report.attempts} superseded attempt(s)" if report.attempts else ""
    temps = f", {len(report.temp_files)} unfinished temp file(s) (never read as records)" if report.temp_files else ""
    console.print(f"{report.valid} valid record(s){extra}, {len(report.damaged)} damaged{temps}", highlight=False)
    if report.damaged:
        raise typer.Exit(1)


@results_app.command("seeds")
def results_seeds(results: Annotated[Path, typer.Argument(help="A results directory written by `gbench run`.")],
                  memory: Annotated[bool, typer.Option(
                      "--memory", help="Add each seed's peak memory in MB (the record's cost.peak_memory_mb) and "
                      "how it was measured: rss_hwm_job is the job's resident-set high-water mark on CPU, "
                      "cuda_max_allocated torch's peak allocation on the GPU.")] = False) -> None:
    """One line per record: each seed's test value (one column per test split where a task has several, such as
    near- and far-OOD), validation value, the epoch kept, s/epoch and gbench commit (and the data split, where a
    task's seeds ran on different ones); with --memory, its peak memory too. One table per task; a status, commit
    or way of measuring memory that every record shares is printed once above them instead of in a column, so that
    a sweep's seeds fit an 80-column terminal (with --memory, unless a model is shown with its hash: then its name
    folds onto a second line)."""
    from gbench.results.reader import read_results, seed_rows

    _need_records(results)
    rows = seed_rows(read_results(results, csv=False))
    keys = ("status", "commit", "memory") if memory else ("status", "commit")
    shared = {key: rows[0][key] for key in keys if len({r[key] for r in rows}) == 1}
    if shared:
        console.print(", ".join(f"{key} {value or '-'}" for key, value in shared.items()) + " (every record)",
                      highlight=False)
    if memory and "memory" not in shared:  # the short labels that keep the mixed table within 80 columns
        kinds = sorted({r["memory"] for r in rows if r["memory"] in MEMORY_LABELS})
        console.print("mem: " + ", ".join(f"{MEMORY_LABELS[k]} {k}" for k in kinds), highlight=False)
    for task in dict.fromkeys(r["task"] for r in rows):
        console.print(f"task {task}", highlight=False)
        console.print(_seed_table([r for r in rows if r["task"] == task], shared, memory))


def _seed_table(rows: list[dict[str, Any]], shared: dict[str, Any], memory: bool = False) -> Any:
    """`gbench results seeds`' table for one task's rows, without the columns in `shared`."""
    from rich import box
    from rich.table import Table

    from gbench.results.reader import splits_vary

    folds = any(r["fold"] is not None for r in rows)
    splits = splits_vary(rows)
    others = list(dict.fromkeys(name for r in rows for name in r["other_tests"]))
    # One space between columns and no vertical rules, so that 3 test splits, the commit and a model shown with its
    # hash (`gcn-spe@3532b4e0`: one model run with two configurations) fit 80 columns; where they do not, the model
    # name folds onto a second line and the numbers are never cut.
    table = Table(box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False)
    table.add_column("model", overflow="fold", min_width=min(10, max(len(r["model"]) for r in rows)))
    for name, shown in (("seed", True), ("split", splits), ("fold", folds), ("status", "status" not in shared)):
        if shown:
            table.add_column(name, no_wrap=True)
    for name in ("test", *(n.removeprefix("test_") for n in others), "val", "kept/run", "s/epoch",
                 *(["peak_MB"] if memory else [])):
        table.add_column(name, no_wrap=True, min_width=len(name))
    if memory and "memory" not in shared:
        table.add_column("mem", no_wrap=True)
    if "commit" not in shared:
        table.add_column("commit", no_wrap=True, min_width=7)
    for r in rows:
        values = [r["test"], *(r["other_tests"].get(name) for name in others), r["val"]]
        table.add_row(r["model"], str(r["seed"]), *(["-" if r["split"] is None else str(r["split"])] if splits else []),
                      *([str(r["fold"])] if folds else []), *([] if "status" in shared else [str(r["status"])]),
                      *(f"{v:.4f}" if v is not None else "-" for v in values),
                      f"{r['selected_epoch']}/{r['epochs_run']}",
                      f"{r['s_per_epoch']:.2f}" if r["s_per_epoch"] is not None else "-",
                      *([f"{r['peak_memory_mb']:.0f}" if r["peak_memory_mb"] is not None else "-"] if memory else []),
                      *([MEMORY_LABELS.get(r["memory"], "-")] if memory and "memory" not in shared else []),
                      *([] if "commit" in shared else [r["commit"]]))
    return table


def _age(stamp: str | None) -> str:
    try:
        then = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return "-"
    s = max(0, int((dt.datetime.now(dt.timezone.utc) - then).total_seconds()))
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"


def _process(body: dict[str, Any]) -> str:
    """Whether the job's process still runs: known on this host only."""
    host, pid = body.get("host"), body.get("pid")
    if host != socket.gethostname() or not isinstance(pid, int):
        return f"on {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone (stopped here)"
    except PermissionError:
        pass
    return f"running (pid {pid})"


@results_app.command("running")
def results_running(results: Annotated[Path, typer.Argument(help="A results directory written by `gbench run`.")]
                    ) -> None:
    """Jobs in flight (or killed in flight): epoch reached, the epoch kept so far and its validation value,
    patience used, s/epoch so far, and whether the process still runs. Read from RESULTS/progress/, which each
    job's training loop keeps up to date (at most every 5 s) until its record is written."""
    from gbench.results import ResultStore
    from gbench.train.progress import read_progress

    if not results.is_dir():
        raise GbenchError(f"{results}: no such folder; give the --out directory of a `gbench run`.")
    store = ResultStore(results)
    jobs = read_progress(store.progress_dir)
    if not jobs:
        console.print(f"no job in flight in {results}: {store.progress_dir} holds no progress file (a job's file "
                      "is removed once its record is written).", highlight=False)
        return
    for b in jobs:
        epoch = b.get("epoch") or 0
        spent = (b.get("train_s") or 0.0) + (b.get("eval_s") or 0.0)
        val = b.get("best_val")
        parts = ([f"setting up (data, transforms, model) since {b.get('started_at')}"] if b.get("phase") == "setup"
                 else [f"epoch {epoch} of {b.get('epochs')}"])
        if b.get("selected_epoch") and val is not None:
            parts.append(f"kept {b['selected_epoch']} (val {val:.4f})")
        if b.get("patience"):
            parts.append(f"patience {b.get('since_best', 0)}/{b['patience']}")
        if epoch:
            parts.append(f"{spent / epoch:.2f} s/epoch")
        done = store.existing(str(b.get("task")), str(b.get("model")), int(b.get("seed") or 0), str(b.get("job_id")))
        parts += [f"updated {_age(b.get('updated_at'))}",
                  "finished (record written)" if done is not None else _process(b)]
        console.print(f"{b.get('task')} / {b.get('model')} / seed {b.get('seed')}: " + ", ".join(parts),
                      highlight=False)
