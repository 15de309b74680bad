"""One side of a comparison: per (task, model), the per-seed (or per-fold) values, or only their summary statistics
when the side is a leaderboard CSV. Read through the one results reader (gbench.results.read_results)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gbench.errors import GbenchError

COST_COLUMNS = {"s_per_epoch": "seconds per epoch", "peak_memory_mb": "peak memory (MB)"}


@dataclass
class Sample:
    """One (task, model) on one side: the per-seed (or per-fold) values, or only their summary statistics."""

    task: str
    model: str
    metric: str
    higher_is_better: bool
    task_version: int | None
    mean: float
    std: float
    n: int
    values: list[float] | None = None  # None: the side is a leaderboard CSV
    costs: dict[str, list[float] | float] = field(default_factory=dict)  # per-seed list, or a CSV mean
    cost_kind: str | None = None  # peak memory measured how (records only)
    std_over: str = "seeds"
    n_not_ok: int = 0  # jobs that failed, ran out of memory or diverged
    tuning: str = "no"  # how the row was tuned ('no', or sampler and budget: gbench.results.tuning_label)
    split: str | None = None  # the test split the values are on
    test_splits: tuple[str, ...] = ()  # the row's test splits (headline first)

    @property
    def missing_split(self) -> str | None:
        """Why this row has no values on the split asked for (then n is 0); None when it has the split."""
        if self.split is None or self.split in self.test_splits:
            return None
        return f"no test split '{self.split}' (it has {', '.join(self.test_splits) or 'none'})"


@dataclass
class Side:
    source: str
    kind: Literal["records", "csv"]
    samples: dict[tuple[str, str], Sample]
    warnings: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # record files excluded because they are not intact


def load_side(source: Path | str, model: str | None = None, rename: str | None = None, task: str | None = None,
              task_rename: str | None = None, split: str | None = None) -> Side:
    """A results directory (its records) or a leaderboard CSV; `model` keeps only that model, keyed as `rename`,
    and `task` only that task, keyed as `task_rename`. The values are on `split` (a test split, e.g.
    test_far_ood), or on each task's headline test split (the first) when it is None; a row without that split
    keeps n = 0 and says so in `missing_split`."""
    from gbench.results import read_results

    results = read_results(source)
    side = _side_from_records(results, split) if results.kind == "records" else _side_from_csv(results, split)
    for what, name, new in (("model", model, rename), ("task", task, task_rename)):
        if name is None:
            continue
        kept = {k: s for k, s in side.samples.items() if getattr(s, what) == name}
        if not kept:
            have = sorted({getattr(s, what) for s in side.samples.values()})
            raise GbenchError(f"{what} '{name}' has no results in {source}; it has: {', '.join(have) or 'none'}.")
        for s in kept.values():
            setattr(s, what, new or name)
        side.samples = {(s.task, s.model): s for s in kept.values()}
    return side


def _side_from_records(results, split: str | None = None) -> Side:
    from gbench.results import per_unit_values, tuning_label

    side = Side(results.source, "records", {}, [f"excluded damaged record: {p}" for p in results.damaged],
                list(results.damaged))
    for (task, name), recs in sorted(results.groups.items()):
        first = recs[0]
        ok = sorted((r for r in recs if r.status == "ok"), key=lambda r: r.seed)
        on = split or first.test_splits[0]
        values = per_unit_values(recs, on) if on in first.test_splits else []
        costs: dict[str, list[float] | float] = {
            "s_per_epoch": [r.cost.s_per_epoch for r in ok if r.cost.s_per_epoch is not None],
            "peak_memory_mb": [r.cost.peak_memory_mb for r in ok if r.cost.peak_memory_mb is not None],
        }
        kinds = {r.cost.peak_memory_kind for r in ok}
        failed = len(recs) - len(ok)
        if failed:
            side.warnings.append(f"{task} / {name}: {failed} job(s) not ok (failed, oom or diverged) in "
                                 f"{results.source}; only the ok seeds are compared.")
        side.samples[(task, name)] = Sample(
            task=task, model=name, metric=first.metric, higher_is_better=first.higher_is_better,
            task_version=first.task_version, mean=sample_mean(values), std=sample_sd(values), n=len(values),
            values=values,
            costs=costs, cost_kind=",".join(sorted(k for k in kinds if k)) or None,
            std_over=first.std_over, n_not_ok=failed, tuning=tuning_label(first.tuning), split=on,
            test_splits=tuple(first.test_splits))
    return side


def csv_test_splits(row: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A leaderboard CSV row's test splits -> (mean, std): the headline (`mean`, `std`, named by `test_split`,
    'test' in CSVs older than that column) and each `<split>_mean` / `<split>_std` pair beside it."""
    head = row.get("test_split") if isinstance(row.get("test_split"), str) else "test"
    out = {head: (float(row["mean"]), float(row["std"]))}
    for column in row:
        name = str(column)
        if name.endswith("_mean") and name != "val_mean" and f"{name[:-5]}_std" in row and finite(row[column]):
            out[name[:-5]] = (float(row[column]), float(row[f"{name[:-5]}_std"]))
    return out


def _side_from_csv(results, split: str | None = None) -> Side:
    side = Side(results.source, "csv", {})
    for row in results.frame.to_dict("records"):
        splits = csv_test_splits(row)
        on = split or next(iter(splits))
        mean, std = splits.get(on, (float("nan"), float("nan")))
        version = row.get("task_version")
        version = None if version is None or (isinstance(version, float) and math.isnan(version)) else int(version)
        hib = row["higher_is_better"]
        hib = hib if isinstance(hib, bool) else str(hib).strip().lower() in ("true", "1")
        costs = {c: float(row[c]) for c in COST_COLUMNS if c in row and finite(row[c])}
        side.samples[(str(row["task"]), str(row["model"]))] = Sample(
            task=str(row["task"]), model=str(row["model"]), metric=str(row["metric"]), higher_is_better=hib,
            task_version=version, mean=mean, std=std,
            n=int(row["n_seeds"]) if finite(row["n_seeds"]) and on in splits else 0, values=None, costs=costs,
            n_not_ok=sum(int(row[c]) for c in ("n_failed", "n_diverged") if c in row and finite(row[c])),
            std_over=str(row.get("std_over", "seeds")) if _finite_or_str(row.get("std_over")) else "seeds",
            tuning=str(row["tuned"]) if isinstance(row.get("tuned"), str) and row["tuned"] else "no", split=on,
            test_splits=tuple(splits))
    return side


def finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _finite_or_str(v: Any) -> bool:
    return isinstance(v, str) or finite(v)


def sample_mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def sample_sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else float("nan")
