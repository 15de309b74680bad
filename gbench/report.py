"""Leaderboard output: a rich table for the terminal, CSV (full precision) and Markdown."""

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


# How a record's peak memory was measured (gbench.jobs.PeakMemory; RecordCost.peak_memory_kind), as a page says it.
MEMORY_KINDS: dict[str, str] = {
    "rss_hwm_job": "the process's resident memory at its highest over the job (the mark reset at the job's start)",
    "rss_sampled": "the process's resident memory at its highest of samples every 20 ms during the job",
    "process_lifetime_peak_rss": "the whole process's highest resident memory (ru_maxrss; per job only in a fresh "
                                 "process)",
    "cuda_max_allocated": "torch's peak GPU allocation over the job (torch.cuda.max_memory_allocated)",
}


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
    named = [v for v in frame.get("peak_memory_kind", []) if isinstance(v, str)]
    kinds = sorted({k for v in named for k in v.split(",") if k})
    said = "; ".join(f"`{k}`, {MEMORY_KINDS.get(k, 'a measurement gbench does not know')}" for k in kinds)
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


# ---------------------------------------------------------------------------------------------------------------
# Comparisons (gbench.comparison.Comparison): the same rows as a rich table and as Markdown; JSON is Comparison.to_dict.

COMPARE_HEADER = ["task", "model", "metric", "base", "candidate", "gain", "gain %", "p Welch", "p corrected",
                  "p MWU", "CI of gain", "verdict"]  # p corrected: Welch's p after the multiple-testing correction
COST_HEADER = ["task", "model", "cost", "base", "candidate", "ratio", "p Welch", "verdict"]


def _p(v: Any) -> str:
    f = _num(v)
    return "–" if f is None else (f"{f:.2g}" if f < 0.001 else f"{f:.3f}")


def _signed(v: Any, digits: int = 4) -> str:
    f = _num(v)
    return "–" if f is None else f"{f:+.{digits}f}"


def comparison_rows(comparison, compact: bool = False) -> list[list[str]]:
    """compact: means without their std (a narrow terminal)."""
    rows = []
    for p in comparison.pairs:
        ci = f"[{_signed(p.ci_low)}, {_signed(p.ci_high)}]" if p.ci_low is not None else "–"
        mw = _p(p.p_mannwhitney) if p.p_mannwhitney is not None else (
            f"n/a (min {p.mannwhitney_min_p:.2g})" if p.mannwhitney_min_p is not None else "–")
        rel = f"{p.gain_rel:+.2%}" if p.gain_rel is not None else "–"
        rows.append([p.task, p.model, metric_label(p.metric) + ("" if p.higher_is_better else " (lower better)"),
                     f"{fmt(p.base_mean, None if compact else p.base_std)} ({p.base_n})",
                     f"{fmt(p.cand_mean, None if compact else p.cand_std)} ({p.cand_n})",
                     _signed(p.gain), rel, _p(p.p_welch), _p(p.p_adjusted), mw, ci, p.verdict])
    return rows


def cost_rows(comparison) -> list[list[str]]:
    def num(v: float, column: str) -> str:
        return f"{v:.4f}" if column == "s_per_epoch" else f"{v:,.0f}"

    return [[c.task, c.model, c.column, num(c.base, c.column), num(c.candidate, c.column),
             f"{c.ratio:.2f}x" if c.ratio is not None else "–", _p(c.p_welch), c.verdict]
            for c in comparison.costs]


def comparison_findings(comparison, fail_on_cost: bool = False) -> list[str]:
    """One line per thing that got worse (and the lists of what was not compared), for every output format."""
    lines = []
    on = f" on {comparison.split}" if comparison.split else ""
    for p in comparison.regressions:
        rel = f", {p.gain_rel:+.2%}" if p.gain_rel is not None else ""
        lines.append(f"REGRESSION {p.task} / {p.model}: {p.metric}{on} {p.base_mean:.4f} -> {p.cand_mean:.4f} "
                     f"(gain {p.gain:+.4f}{rel}; Welch p {_p(p.p_welch)}, corrected {_p(p.p_adjusted)})")
    for p in comparison.failing_candidates:
        lines.append(f"FAILED JOBS {p.task} / {p.model}: {p.cand_not_ok} candidate job(s) failed or diverged "
                     f"(base: {p.base_not_ok}); see the candidate's records for the errors")
    for line in comparison.unequal_tuning:
        allowed = comparison.settings.allow_unequal_tuning
        lines.append(f"{'unequal tuning (allowed by --allow-unequal-tuning)' if allowed else 'UNEQUAL TUNING'} "
                     f"{line}")
    for c in comparison.cost_regressions:
        tag = "COST REGRESSION" if fail_on_cost else "cost"
        lines.append(f"{tag} {c.task} / {c.model}: {c.column} {c.base:.4g} -> {c.candidate:.4g} ({c.ratio:.2f}x)")
    return lines


def _notes_lines(comparison) -> list[str]:
    """One line per distinct note, naming the pairs it applies to (all of them: 'every pair')."""
    by_note: dict[str, list[str]] = {}
    for p in comparison.pairs:
        for n in p.notes:
            by_note.setdefault(n, []).append(f"{p.task} / {p.model}")
    lines = []
    for n, where in by_note.items():
        if len(where) == len(comparison.pairs) and len(where) > 1:
            lines.append(f"every pair: {n}")
        elif len(where) > 4:
            lines.append(f"{len(where)} pairs ({', '.join(where[:3])}, ...): {n}")
        else:
            lines.append(f"{', '.join(where)}: {n}")
    for c in comparison.costs:
        for n in c.notes:
            lines.append(f"{c.task} / {c.model} / {c.column}: {n}")
    return lines


def _unmatched_lines(comparison) -> list[str]:
    return [f"{u.task} / {u.model}: {u.reason}"
            for u in comparison.not_compared + comparison.only_base + comparison.only_candidate]


def _summary(comparison, fail_on_cost: bool) -> str:
    counts: dict[str, int] = {}
    for p in comparison.pairs:
        counts[p.verdict] = counts.get(p.verdict, 0) + 1
    parts = [f"{n} {v}" for v, n in sorted(counts.items())]
    worse = len(comparison.regressions) + len(comparison.failing_candidates) + (
        len(comparison.cost_regressions) if fail_on_cost else 0)
    head = f"{len(comparison.pairs)} pair(s) compared: " + (", ".join(parts) or "none")
    if comparison.unequal_tuning:
        head += f"; {len(comparison.unequal_tuning)} tuned unequally" + (
            " (allowed)" if comparison.settings.allow_unequal_tuning else "")
    unmatched = len(comparison.only_base) + len(comparison.only_candidate) + len(comparison.not_compared)
    if unmatched:
        head += f"; {unmatched} not compared (listed above)"
    return head + ("; regression(s) found." if worse else "; no regression.")


def _comparison_table(header: list[str], rows: list[list[str]], title: str | None, narrow: bool, width: int):
    """A table of `print_comparison` (metrics or cost). Narrow: no vertical rules, numbers and verdicts at their width,
    the relative gain dropped first where they do not fit, the task and model names sharing what is left."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, pad_edge=False, show_edge=not narrow, padding=(0, 1, 0, 0) if narrow else (0, 1),
                  box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD)
    gap = 2 if narrow else 3
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    names = [h for h in header if h in ("task", "model")]
    left = width - sum(w + gap for h, w in zip(header, widths) if h not in names)
    if narrow and left < 10 * len(names) and "%" in header:
        i = header.index("%")
        left += widths[i] + gap
        header, widths, rows = header[:i] + header[i + 1:], widths[:i] + widths[i + 1:], [r[:i] + r[i + 1:]
                                                                                          for r in rows]
    share = {h: max(6, (left - gap * len(names)) // max(len(names), 1)) for h in names}
    for i, h in enumerate(header):
        text = h in ("task", "model", "metric", "cost", "verdict")
        table.add_column(h, justify="left" if text else "right", no_wrap=narrow and h not in names,
                         min_width=widths[i] if narrow and h not in names else None,
                         max_width=min(share[h], widths[i]) if narrow and h in names else None,
                         overflow="fold" if h in names or h == "verdict" else "ellipsis")
    styles = {"worse": "red", "better": "green", "too few seeds to tell": "yellow"}
    for row in rows:
        style = styles.get(row[-1])
        table.add_row(*[escape(c) for c in row[:-1]], f"[{style}]{row[-1]}[/{style}]" if style else row[-1])
    return table


def _print_tables(console, title: str, header: list[str], rows: list[list[str]], narrow: bool) -> None:
    """One table; narrow: one per task (the first column), named above it, so that the model, the numbers and
    the verdict fit."""
    from rich.markup import escape

    if not narrow:
        console.print(_comparison_table(header, rows, title, narrow, console.width))
        return
    console.print(title, style="italic", highlight=False, soft_wrap=True)
    for task in dict.fromkeys(r[0] for r in rows):
        console.print(f"task {escape(task)}", highlight=False, soft_wrap=True)
        console.print(_comparison_table(header[1:], [r[1:] for r in rows if r[0] == task], None, narrow,
                                        console.width))


def print_comparison(comparison, console=None, fail_on_cost: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    console.print(f"base: {escape(comparison.base)}\ncandidate: {escape(comparison.candidate)}", highlight=False)
    if comparison.split:
        console.print(f"test split: {escape(comparison.split)} (not each task's headline split)", highlight=False)
    narrow = console.width < 150  # drop what --format markdown/json keep: std, uncorrected p's, CI, metric
    header, rows = COMPARE_HEADER, comparison_rows(comparison, compact=narrow)
    if narrow:
        keep = [i for i, h in enumerate(header) if h not in ("metric", "p Welch", "p MWU", "CI of gain")]
        short = {"candidate": "cand.", "gain %": "%", "p corrected": "p corr."}
        header = [short.get(header[i], header[i]) for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
    title = "metrics (gain: + is better)" + (" -- all columns: --format markdown" if narrow else "")
    _print_tables(console, title, header, rows, narrow)
    if comparison.costs:
        short = {"candidate": "cand.", "s_per_epoch": "s/epoch", "peak_memory_mb": "peak MB"} if narrow else {}
        _print_tables(console, "cost (never a metric regression; see --fail-on-cost)",
                      [short.get(h, h) for h in COST_HEADER],
                      [[short.get(c, c) for c in r] for r in cost_rows(comparison)], narrow)
    for title, lines in (("not compared", _unmatched_lines(comparison)), ("notes", _notes_lines(comparison)),
                         ("", comparison.notes)):
        if lines:
            if title:
                console.print(f"[bold]{title}[/bold]")
            for line in lines:
                console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    # The protocol paragraph is prose: wrapped at words to the terminal (soft wrap would cut words at 80 columns).
    console.print(comparison.settings.describe(), style="dim", highlight=False)
    for line in comparison_findings(comparison, fail_on_cost):
        console.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
    console.print(_summary(comparison, fail_on_cost), highlight=False, soft_wrap=True)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows])


def comparison_markdown(comparison, fail_on_cost: bool = False) -> str:
    lines = [f"Base: `{comparison.base}`  ", f"Candidate: `{comparison.candidate}`"
             + (f"  \nTest split: `{comparison.split}` (not each task's headline split)" if comparison.split else ""),
             "",
             "Metrics (gain: + is better)", ""]
    lines += _md_table(COMPARE_HEADER, comparison_rows(comparison))
    if comparison.costs:
        lines += ["", "Cost (never a metric regression unless `--fail-on-cost`)", ""]
        lines += _md_table(COST_HEADER, cost_rows(comparison))
    for title, items in (("Not compared", _unmatched_lines(comparison)), ("Notes", _notes_lines(comparison)
                                                                          + comparison.notes)):
        if items:
            lines += ["", f"{title}:", ""] + [f"- {i}" for i in items]
    lines += ["", comparison.settings.describe(), ""]
    lines += [f"**{line}**  " for line in comparison_findings(comparison, fail_on_cost)]
    lines += [_summary(comparison, fail_on_cost)]
    return "\n".join(lines) + "\n"
