"""Leaderboard plots as PNG (matplotlib, Agg backend: no display needed).

- `bars`: one panel per task, one bar per model, error bars = the leaderboard's std, the reference as a line;
- `cost`: one panel per task, the metric against a cost (seconds per epoch or peak memory), one point per model;
- `scale`: one panel per task with extra test splits (scale splits, or test_id / test_near_ood / test_far_ood),
  the metric on each split in the task's order, one line per model.

Input is a leaderboard frame (gbench.results.aggregate) or what the results reader (gbench.results.read_results)
reads into one: a results directory or a leaderboard CSV.
"""

from __future__ import annotations

import math
from pathlib import Path

from gbench.errors import GbenchError

KINDS = ("bars", "cost", "scale")
COSTS = {"time": ("s_per_epoch", "seconds per epoch"), "memory": ("peak_memory_mb", "peak memory (MB)")}


def load_frame(source: Path | str):
    """(leaderboard frame, {task: name of its headline split} where known) of a results directory or CSV."""
    from gbench.results import read_results

    results = read_results(source)
    if results.kind == "records" and not results.records:
        raise GbenchError(f"'{source}' has no intact records to plot.")
    return results.frame, results.heads()


def scale_splits(frame) -> list[str]:
    return [c[: -len("_mean")] for c in frame.columns if c.endswith("_mean") and c != "val_mean"
            and frame[c].notna().any()]


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _grid(n: int):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat[:n])


def _save(plt, fig, path: Path, legend=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    if legend is not None:  # a figure legend beside the grid: the saved image grows to hold it
        fig.savefig(path, dpi=110, bbox_extra_artists=[legend], bbox_inches="tight")
    else:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Ten colours, then the same ten with another marker and line style: up to 40 series tell apart.
_MARKERS, _LINES = "osD^", ["-", "--", ":", "-."]
_SHARED_LEGEND_FROM = 7  # models in a plot from which one legend beside the grid replaces one per panel


def _style(i: int) -> dict:
    return {"color": f"C{i % 10}", "marker": _MARKERS[(i // 10) % 4], "linestyle": _LINES[(i // 10) % 4]}


def _ylabel(sub) -> str:
    metric = str(sub["metric"].iloc[0]) if "metric" in sub.columns else "metric"
    hib = sub["higher_is_better"].iloc[0] if "higher_is_better" in sub.columns else True
    return metric + ("" if str(hib).lower() in ("true", "1") else " (lower is better)")


def plot_bars(frame, path: Path) -> Path:
    tasks = list(dict.fromkeys(frame["task"]))
    plt, fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        sub = frame[frame["task"] == task]
        models = [str(m) for m in sub["model"]]
        stds = [float(s) if _finite(s) else 0.0 for s in sub["std"]]
        ax.bar(range(len(models)), sub["mean"], yerr=stds, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
        ref = sub["reference"] if "reference" in sub.columns else []
        for i, r in enumerate(ref):
            if _finite(r):
                ax.hlines(float(r), i - 0.4, i + 0.4, colors="#c44e52", linestyles="--",
                          label="reference" if i == 0 or not ax.get_legend_handles_labels()[0] else None)
        if any(_finite(r) for r in ref):
            ax.legend(fontsize=8)
        ax.set_title(task)
        ax.set_ylabel(_ylabel(sub))
    return _save(plt, fig, path)


def plot_cost(frame, path: Path, cost: str = "time") -> Path:
    if cost not in COSTS:
        raise GbenchError(f"--cost '{cost}': choose time (seconds per epoch) or memory (peak MB).")
    column, label = COSTS[cost]
    if column not in frame.columns or not frame[column].map(_finite).any():
        raise GbenchError(f"no {label} in these results: nothing to plot against; try --cost "
                          f"{'memory' if cost == 'time' else 'time'}.")
    have = frame[frame[column].map(_finite)]
    tasks = list(dict.fromkeys(have["task"]))
    plt, fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        sub = have[have["task"] == task]
        stds = [float(s) if _finite(s) else 0.0 for s in sub["std"]]
        ax.errorbar(sub[column], sub["mean"], yerr=stds, fmt="o", capsize=3)
        for x, y, m in zip(sub[column], sub["mean"], sub["model"]):
            ax.annotate(str(m), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        absent = [str(m) for m in frame.loc[(frame["task"] == task) & ~frame[column].map(_finite), "model"]]
        if absent:  # say who is missing rather than drop them silently
            ax.text(0.01, 0.01, f"no {label}: {', '.join(absent)}", transform=ax.transAxes, fontsize=7,
                    color="#57606a", va="bottom")
        ax.set_xscale("log")
        ax.set_xlabel(label + " (log scale)")
        ax.set_ylabel(_ylabel(sub))
        ax.set_title(task)
    return _save(plt, fig, path)


def plot_scale(frame, path: Path, heads: dict[str, str] | None = None) -> Path:
    splits = scale_splits(frame)
    tasks = [t for t in dict.fromkeys(frame["task"])
             if any(frame.loc[frame["task"] == t, f"{s}_mean"].notna().any() for s in splits)]
    if not tasks:
        raise GbenchError("no task here has extra test splits (scale splits or id/ood splits): nothing to plot "
                          "with --kind scale; use --kind bars or cost.")
    plt, fig, axes = _grid(len(tasks))
    # One style per model in every panel, so that a model is the same line everywhere.
    models = sorted({str(m) for m in frame.loc[frame["task"].isin(tasks), "model"]})
    style = {m: _style(i) for i, m in enumerate(models)}
    shared = len(models) >= _SHARED_LEGEND_FROM
    handles: dict[str, object] = {}
    for ax, task in zip(axes, tasks):
        sub = frame[frame["task"] == task]
        mine = [s for s in splits if sub[f"{s}_mean"].notna().any()]
        names = [(heads or {}).get(task, "headline test split"), *mine]
        for row in sub.to_dict("records"):
            ys = [row["mean"], *[row[f"{s}_mean"] for s in mine]]
            es = [row["std"], *[row.get(f"{s}_std") for s in mine]]
            es = [float(e) if _finite(e) else 0.0 for e in es]
            model = str(row["model"])
            handles[model] = ax.errorbar(range(len(names)), ys, yerr=es, capsize=3, label=model, **style[model])
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_xlabel("test split (in the task's order)")
        ax.set_ylabel(_ylabel(sub))
        ax.set_title(task)
        if not shared:
            ax.legend(fontsize=8)
    legend = None
    if shared:
        legend = fig.legend([handles[m] for m in models], models, loc="center left", bbox_to_anchor=(1.0, 0.5),
                            fontsize=8, title="model")
    return _save(plt, fig, path, legend)


def plot_best_so_far(trials, path: Path) -> Path | None:
    """A tune's progress: the best validation value so far against the trial number, one panel per task and
    one line per model (the mean over outer folds where a k-fold task has one study per fold). `trials` is
    `gbench.tuning.engine.trials_table`'s frame; None when it has no completed trial."""
    if trials.empty or not trials["best_so_far"].notna().any():
        return None
    tasks = list(dict.fromkeys(trials["task"]))
    plt, fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        sub = trials[trials["task"] == task]
        for model in dict.fromkeys(sub["model"]):
            rows = sub[sub["model"] == model].copy()
            rows["position"] = rows.groupby(rows["fold"].fillna(-1)).cumcount() + 1
            curve = rows.groupby("position")["best_so_far"].mean()
            folds = rows["fold"].nunique()
            label = f"{model} (mean of {folds} folds)" if folds > 1 else str(model)
            ax.plot(curve.index, curve.values, marker="o", markersize=3, label=label)
        ax.set_xlabel("trials")
        ax.xaxis.get_major_locator().set_params(integer=True)  # trials are counted, not measured
        ax.set_ylabel("best validation value so far")
        ax.set_title(task)
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot(source_or_frame, kind: str, out_dir: Path, cost: str = "time", heads: dict[str, str] | None = None,
         stem: str | None = None) -> Path:
    """Write `<out_dir>/<stem or kind>.png` and return its path."""
    if kind not in KINDS:
        raise GbenchError(f"--kind '{kind}': choose bars, cost or scale.")
    if isinstance(source_or_frame, (str, Path)):
        frame, heads = load_frame(source_or_frame)
    else:
        frame = source_or_frame
    if frame.empty:
        raise GbenchError("the leaderboard is empty: nothing to plot.")
    path = Path(out_dir) / f"{stem or kind}.png"
    if kind == "bars":
        return plot_bars(frame, path)
    if kind == "cost":
        return plot_cost(frame, path, cost)
    return plot_scale(frame, path, heads)
