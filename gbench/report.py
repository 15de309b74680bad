"""Leaderboard output: a rich table for the terminal, CSV (full precision) and Markdown. A comparison's output is
gbench.comparison.render's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gbench.atomic import write_text as _atomic_write

HEADLINE = ["task", "model", "metric", "mean", "std", "n_seeds"]


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt(mean: Any, std: Any = None, digits: int = 4) -> str:
    m = _num(mean)
    if m is None:
        return "–"
    s = _num(std)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if s is not None else f"{m:.{digits}f}"


def _extra_splits(frame) -> list[str]:
    return [c[: -len("_mean")] for c in frame.columns if c.endswith("_mean") and c != "val_mean"]


# One display name per quantity in every table: OGB's evaluator and scikit-learn name accuracy and ROC-AUC
# differently; tables show the metric registry's scikit-learn name (gbench.metrics.SKLEARN). Records and
# leaderboard.csv keep the evaluator's own name, which is part of what a record says it measured.
METRIC_LABELS: dict[str, str] = {"acc": "accuracy", "rocauc": "roc_auc"}


def metric_label(name: str) -> str:
    """The name a table shows for metric `name` (`acc` -> `accuracy`); unknown names are shown as they are."""
    return METRIC_LABELS.get(str(name), str(name))


def _peak_cell(row: dict) -> str:
    """A row's mean peak memory in MB; `mixed` where its records measured it in different ways (a GPU allocation
    and a process's RSS have no meaningful mean)."""
    peak = _num(row.get("peak_memory_mb"))
    if peak is None:
        return "–"
    return "mixed" if "," in str(row.get("peak_memory_kind") or "") else f"{peak:,.0f}"


def memory_note(frame) -> str | None:
    """What a page's `peak MB` column measured: one clause per measurement its rows used; None without the column."""
    if "peak_memory_mb" not in frame.columns or frame["peak_memory_mb"].isna().all():
        return None
    from gbench.results.records import PEAK_MEMORY_KINDS

    named = [v for v in frame.get("peak_memory_kind", []) if isinstance(v, str)]
    kinds = sorted({k for v in named for k in v.split(",") if k})
    said = "; ".join(f"`{k}`, {PEAK_MEMORY_KINDS.get(k, 'a measurement gbench does not know')}" for k in kinds)
    said = said or "the records do not say how"
    note = f"Peak MB is the mean over a row's records of each job's peak memory: {said}."
    if any(k != "cuda_max_allocated" for k in kinds):
        note += " Resident memory counts the whole process, torch and the loaded data included."
    if any("," in v for v in named):
        note += " `mixed` marks a row whose records measured it in different ways (`peak_memory_kind` in the .csv)."
    return note


def _rows(frame) -> tuple[list[str], list[list[str]]]:
    splits = _extra_splits(frame)
    tuned = "tuned" in frame.columns
    header = ["task", "model", "metric", "test", *splits, "val", "seeds", "reference", "s/epoch", "peak MB",
              "params"]
    header += ["tuned", "search size", "selected"] if tuned else []
    rows = []
    for r in frame.to_dict("records"):
        failed = int(r.get("n_failed", 0) or 0) + int(r.get("n_diverged", 0) or 0)
        seeds = f"{int(r['n_seeds'])}" + (f" (+{failed} failed)" if failed else "")
        ref = fmt(r.get("reference"), r.get("reference_std")) if _num(r.get("reference")) is not None else ""
        spe = _num(r.get("s_per_epoch"))
        params = _num(r.get("num_params"))
        rows.append([str(r["task"]), str(r["model"]), metric_label(r["metric"]), fmt(r["mean"], r["std"]),
                     *[fmt(r.get(f"{s}_mean"), r.get(f"{s}_std")) for s in splits], fmt(r.get("val_mean")), seeds,
                     ref, f"{spe:.4f}" if spe is not None else "–", _peak_cell(r),
                     f"{int(params):,}" if params is not None else "–"])
        if tuned:
            size = r.get("search_size")
            size = f"{int(float(size)):,}" if _num(size) is not None else ("" if size is None else str(size))
            selected = r.get("selected")
            rows[-1] += [str(r.get("tuned") or "no"), size if r.get("tuned") not in (None, "no") else "",
                         str(selected) if isinstance(selected, str) else ""]
    return header, rows


# The terminal shows what fits, most read first; the .csv and .md keep every column. Task, model, the headline
# test value and the seeds are always shown; values (mean ± std) are never cut, names are shortened with '…'.
_ALWAYS = ("task", "model", "test", "seeds")
_NAME_SHARE = {"task": 22, "model": 16}  # widths names get before optional columns compete for the rest


def _terminal_columns(header: list[str], rows: list[list[str]], width: int
                      ) -> tuple[list[int], dict[str, int], list[str]]:
    """Which columns (indices, in table order) fit `width` terminal cells, the widths of the name columns, and the
    names of the columns left out. A column costs its widest cell plus 3 cells of padding and rule."""
    natural = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    empty = {i for i in range(len(header)) if all(r[i] in ("", "–") for r in rows)}
    extra = [i for i, h in enumerate(header) if h.startswith("test_")]
    tuning = [[header.index(h)] for h in ("tuned", "search size", "selected") if h in header]
    optional: list[list[int]] = [extra, *tuning[:1], [header.index("reference")], [header.index("val")],
                                 [header.index("s/epoch")], [header.index("params")], [header.index("peak MB")],
                                 *tuning[1:]]
    optional = [[i for i in group if i not in empty] for group in optional]
    chosen = {header.index(h) for h in _ALWAYS}
    names = {h: min(natural[header.index(h)], 12) for h in _NAME_SHARE}

    def cost(cols: set[int]) -> int:
        return sum(names.get(header[i], natural[i]) + 3 for i in cols) - 3

    if cost(chosen | {header.index("metric")}) <= width:  # the metric is worth shorter names
        chosen.add(header.index("metric"))
    names = {h: min(natural[header.index(h)], _NAME_SHARE[h]) for h in _NAME_SHARE}
    for group in optional:
        if group and cost(chosen | set(group)) <= width:
            chosen |= set(group)
    for h in _NAME_SHARE:  # too narrow even for the columns always shown: the names give way, down to 8 cells
        names[h] -= max(min(cost(chosen) - width, names[h] - 8), 0)
    left = width - cost(chosen)
    # What is left goes to the names, the one that lacks least first, so that as many names as possible show whole.
    for h in sorted(_NAME_SHARE, key=lambda h: natural[header.index(h)] - names[h]):
        grow = max(min(left, natural[header.index(h)] - names[h]), 0)
        names[h] += grow
        left -= grow
    dropped = [header[i] for i in range(len(header)) if i not in chosen and i not in empty]
    return sorted(chosen), names, dropped


def print_leaderboard(frame, console=None, title: str = "leaderboard") -> None:
    """The leaderboard as a table that fits the console's width (80 cells when output goes to a file or pipe):
    columns that do not fit are left out (the title names them), numbers are never cut."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    header, rows = _rows(frame)
    keep, names, dropped = _terminal_columns(header, rows, console.width)
    header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    if dropped:
        title += f" (not shown: {', '.join(dropped)}; every column is in the .md and .csv)"
    table = Table(title=title, pad_edge=False, show_edge=False, box=box.SIMPLE_HEAD)
    for i, h in enumerate(header):
        width = max([len(h)] + [len(r[i]) for r in rows])
        if h in names:
            table.add_column(h, justify="left", no_wrap=True, overflow="ellipsis", max_width=names[h])
        else:
            table.add_column(h, justify="left" if h == "metric" else "right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)


# errors in the target's units (mse in their square); every other metric gbench computes lies in [0, 1]
ERROR_UNITS = {"mae": "the target's units", "rmse": "the target's units", "mse": "the target's units squared"}


def units_note(frame) -> str:
    """How to read the values: which metrics are fractions and which are in the target's units."""
    metrics = list(dict.fromkeys(metric_label(str(m)) for m in frame.get("metric", [])))
    fractions = [m for m in metrics if m not in ERROR_UNITS]
    parts = [f"{', '.join(fractions)} as a fraction"] if fractions else []
    parts += [f"{m} in {ERROR_UNITS[m]}" for m in metrics if m in ERROR_UNITS]
    return "; ".join(parts) or "no metric"


def task_deviation_items(frame) -> dict[str, list[str]]:
    """Task -> the deviations its spec writes, one item each (the `task_deviation` column holds one per line)."""
    if "task_deviation" not in frame.columns:
        return {}
    noted = frame.dropna(subset=["task_deviation"])
    return {task: str(text).split("\n") for task, text in dict.fromkeys(zip(noted["task"], noted["task_deviation"]))}


def to_markdown(frame, command: str | list[str] | None = None, command_note: str | None = None) -> str:
    """The leaderboard as a Markdown table, headed by the command (or commands) that wrote its records and an
    optional note on how they are shown."""
    header, rows = _rows(frame)
    lines = []
    commands = [command] if isinstance(command, str) else list(command or [])
    if len(commands) == 1:
        lines += [f"Produced by: `{commands[0]}`", ""]
    elif commands:
        lines += ["Produced by these commands (each record names its own):", ""]
        lines += [f"- `{c}`" for c in commands] + [""]
    if commands and command_note:
        lines += [command_note, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines += ["", f"Values are as the evaluator returns them ({units_note(frame)}); ± is the std over "
              "`std_over` (seeds unless the task says folds) with `std_ddof` as in leaderboard.csv."]
    memory = memory_note(frame)
    if memory:
        lines += ["", memory]
    written = task_deviation_items(frame)
    if written:  # what the task spec itself says it changes from its source
        lines += ["", "Task deviations (from the task specs: where a task differs from its source):", ""]
        for task, items in written.items():
            lines += [f"- {task}:"] + [f"  - {item}" for item in items]
    if "data_deviation" in frame.columns:  # named by the records (e.g. a rebuilt raw file), beside the numbers
        noted = frame.dropna(subset=["data_deviation"])
        lines += ["", "Data deviations (from the records):", ""]
        lines += [f"- {task}: {text}" for task, text in
                  dict.fromkeys(zip(noted["task"], noted["data_deviation"]))]
    if "protocol_deviation" in frame.columns:  # where a row trained otherwise than its task's protocol
        noted = frame.dropna(subset=["protocol_deviation"])
        lines += ["", "Protocol deviations (from the records: where a row's training differs from its task's "
                  "protocol, or its hyperparameters from its shipped model spec's):", ""]
        lines += [f"- {task} / {model}: {text}" for task, model, text in
                  zip(noted["task"], noted["model"], noted["protocol_deviation"])]
    return "\n".join(lines) + "\n"


def write_leaderboard(frame, out_dir: Path, command: str | list[str] | None = None, stem: str = "leaderboard",
                      heads: dict[str, str] | None = None, command_note: str | None = None) -> list[Path]:
    """`<out>/<stem>.csv` (every column, full precision), `<out>/<stem>.md`, and `<out>/<stem>-scale.png` when a
    task has extra test splits (gbench.plots.plot_scale)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    cols = HEADLINE + [c for c in frame.columns if c not in HEADLINE]
    _atomic_write(csv_path, frame.reindex(columns=cols).to_csv(index=False))
    _atomic_write(md_path, to_markdown(frame, command, command_note))
    paths = [csv_path, md_path]
    scale = write_scale_plot(frame, out_dir / f"{stem}-scale.png", heads)
    return paths + ([scale] if scale else [])


def write_scale_plot(frame, path: Path, heads: dict[str, str] | None = None) -> Path | None:
    """The metric-against-scale plot beside a leaderboard whose tasks have extra test splits; None when none has,
    or when matplotlib (the `plot` extra) is not installed. `heads`: task -> name of its headline test split
    (default: the frame's `test_split` column)."""
    if frame.empty or not _extra_splits(frame):
        return None
    try:
        from gbench.plots import plot_scale, scale_splits
    except ImportError:
        return None
    if not scale_splits(frame):
        return None
    if heads is None:
        from gbench.results import headline_splits

        heads = headline_splits(frame)
    try:
        return plot_scale(frame, path, heads)
    except ImportError:  # matplotlib missing: the tables are the result, the picture is a convenience
        return None
