"""The one results reader behind `gbench compare`, `publish` and `plot`.

A source is a results directory (its records, read and verified by the result store) or a leaderboard CSV that
`gbench run` or `gbench publish` wrote (summary statistics only). Either way the reader gives the leaderboard
frame (gbench.results.aggregate's columns; `test_split` names each row's headline test split), and a results
directory also gives each row's records, for the per-seed values that a CSV cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gbench.errors import GbenchError
from gbench.results.aggregate import LEADERBOARD_COLUMNS, aggregate, group_records, headline_splits
from gbench.results.records import RunRecord
from gbench.results.store import ResultStore

CSV_REQUIRED = [*LEADERBOARD_COLUMNS, "higher_is_better"]


@dataclass
class Results:
    """One source of results: its leaderboard rows and, for a results directory, the records behind each row."""

    source: str
    kind: Literal["records", "csv"]
    frame: Any  # pandas.DataFrame, one row per (task, model as shown)
    groups: dict[tuple[str, str], list[RunRecord]] = field(default_factory=dict)  # (task, model) -> records
    damaged: list[str] = field(default_factory=list)  # record files excluded because they are not intact

    @property
    def records(self) -> list[RunRecord]:
        return [r for recs in self.groups.values() for r in recs]

    def heads(self) -> dict[str, str]:
        """task -> the name of its headline test split, where the source says it."""
        return headline_splits(self.frame)

    def __len__(self) -> int:
        return len(self.frame)


def read_results(source: Path | str, csv: bool = True) -> Results:
    """Read a results directory (with records/) or, unless `csv` is False, a leaderboard .csv; a user error for
    anything else."""
    path = Path(source)
    if path.is_dir() or not csv:
        return _from_records(path)
    if path.is_file() and path.suffix == ".csv":
        return _from_csv(path)
    if path.exists():
        raise GbenchError(f"'{source}': give a results directory (with records/) or a leaderboard .csv file.")
    raise GbenchError(f"'{source}' does not exist: give a results directory or a leaderboard CSV.")


def _from_records(root: Path) -> Results:
    store = ResultStore(root)
    if not store.records_dir.is_dir():
        raise GbenchError(f"'{root}' has no records/ folder: give a results directory written by `gbench run`"
                          + (" or a leaderboard CSV." if root.suffix != ".csv" else "."))
    records, problems = store.load()
    groups = {(recs[0].task, name): recs for name, recs in group_records(records)}
    return Results(str(root), "records", aggregate(records), groups, list(problems))


def _from_csv(path: Path) -> Results:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as e:  # pandas raises several types for a file that is not a CSV
        raise GbenchError(f"{path}: not a readable CSV ({e}).") from None
    missing = [c for c in CSV_REQUIRED if c not in frame.columns]
    if missing:
        raise GbenchError(f"{path}: not a gbench leaderboard CSV, missing column(s) {', '.join(missing)}; "
                          "give the leaderboard.csv that `gbench run` wrote, or the results directory.")
    return Results(str(path), "csv", frame)


def seed_rows(results: Results) -> list[dict[str, Any]]:
    """One row per record of a results directory, ordered by task, model and seed: what each seed scored and how
    it ran (the per-seed values a leaderboard's mean and std summarise). `split` is the data split the seed ran on:
    the official split's index (tasks with several) or a random link split's seed, None where neither applies.
    `other_tests` holds the value on each test split after the first (near- and far-OOD on the structural tasks)."""
    rows = []
    for (task, model), recs in sorted(results.groups.items()):
        for r in sorted(recs, key=lambda r: (r.seed, r.fold if r.fold is not None else -1)):
            head = r.test_splits[0] if r.test_splits else "test"
            rows.append({"task": task, "model": model, "seed": r.seed, "fold": r.fold, "status": r.status,
                         "test": r.metrics.get(head, {}).get(r.metric), "val": r.metrics.get("val", {}).get(r.metric),
                         "selected_epoch": r.selected_epoch, "epochs_run": r.epochs_run,
                         "s_per_epoch": r.cost.s_per_epoch, "peak_memory_mb": r.cost.peak_memory_mb,
                         "memory": r.cost.peak_memory_kind, "commit": str(r.environment.get("git_commit") or "")[:7],
                         "split": r.split_index if r.split_index is not None else r.extra.get("split_seed"),
                         "other_tests": {s: r.metrics.get(s, {}).get(r.metric) for s in r.test_splits[1:]}})
    return rows


def splits_vary(rows: list[dict[str, Any]]) -> bool:
    """Whether the seeds of some (task, model) in `seed_rows` ran on different data splits."""
    seen: dict[tuple[str, str], set[Any]] = {}
    for r in rows:
        seen.setdefault((r["task"], r["model"]), set()).add(r["split"])
    return any(len(splits) > 1 for splits in seen.values())
