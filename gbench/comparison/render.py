"""A comparison (gbench.comparison.Comparison) as `gbench compare` shows it: the same rows as a rich table for the
terminal and as Markdown, the findings a CI gate fails on, and the one-line summary. JSON is Comparison.to_dict."""

from __future__ import annotations

from typing import Any

from gbench.report import _num, fmt, metric_label

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
