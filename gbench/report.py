"""Leaderboard output: a rich table for the terminal, CSV (full precision) and Markdown."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

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


def _rows(frame) -> tuple[list[str], list[list[str]]]:
    splits = _extra_splits(frame)
    header = ["task", "model", "metric", "test", *splits, "val", "seeds", "reference", "s/epoch", "params"]
    rows = []
    for r in frame.to_dict("records"):
        failed = int(r.get("n_failed", 0) or 0) + int(r.get("n_diverged", 0) or 0)
        seeds = f"{int(r['n_seeds'])}" + (f" (+{failed} failed)" if failed else "")
        ref = fmt(r.get("reference"), r.get("reference_std")) if _num(r.get("reference")) is not None else ""
        spe = _num(r.get("s_per_epoch"))
        params = _num(r.get("num_params"))
        rows.append([str(r["task"]), str(r["model"]), str(r["metric"]), fmt(r["mean"], r["std"]),
                     *[fmt(r.get(f"{s}_mean"), r.get(f"{s}_std")) for s in splits], fmt(r.get("val_mean")), seeds,
                     ref, f"{spe:.4f}" if spe is not None else "–", f"{int(params):,}" if params is not None else "–"])
    return header, rows


def print_leaderboard(frame, console=None, title: str = "leaderboard") -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    header, rows = _rows(frame)
    if console.width < 140:  # the file outputs keep every column; the terminal drops the least read ones
        keep = [i for i, h in enumerate(header) if h not in ("params", "val")]
        header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    table = Table(title=title, show_lines=False, pad_edge=False)
    for h in header:
        text = h in ("task", "model", "metric")
        table.add_column(h, justify="left" if text else "right", no_wrap=True,
                         overflow="ellipsis" if text else "fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def to_markdown(frame, command: str | None = None) -> str:
    header, rows = _rows(frame)
    lines = []
    if command:
        lines += [f"Produced by: `{command}`", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines += ["", "Values are as the evaluator returns them (accuracy as a fraction); ± is the std over "
              "`std_over` (seeds unless the task says folds) with `std_ddof` as in leaderboard.csv."]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_leaderboard(frame, out_dir: Path, command: str | None = None, stem: str = "leaderboard") -> list[Path]:
    """`<out>/<stem>.csv` (every column, full precision) and `<out>/<stem>.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    cols = HEADLINE + [c for c in frame.columns if c not in HEADLINE]
    _atomic_write(csv_path, frame.reindex(columns=cols).to_csv(index=False))
    _atomic_write(md_path, to_markdown(frame, command))
    return [csv_path, md_path]
