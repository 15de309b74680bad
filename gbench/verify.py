"""Is a job reproducible? Run it more than once in this process and list every difference in its results."""

from __future__ import annotations

from gbench.job import Job, RunOptions
from gbench.results import RunRecord


def compare_records(a: RunRecord, b: RunRecord) -> list[str]:
    """Every difference in the results of two records of one job (metrics compared exactly, as floats)."""
    diffs: list[str] = []
    for name in ("status", "selected_epoch", "epochs_run", "num_params", "split_index"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            diffs.append(f"{name}: {va!r} vs {vb!r}")
    if a.val_loss != b.val_loss and not (a.val_loss != a.val_loss and b.val_loss != b.val_loss):
        diffs.append(_float_diff("val_loss", a.val_loss, b.val_loss))
    for split in sorted(set(a.metrics) | set(b.metrics)):
        ma, mb = a.metrics.get(split, {}), b.metrics.get(split, {})
        for metric in sorted(set(ma) | set(mb)):
            va, vb = ma.get(metric), mb.get(metric)
            if va != vb:
                diffs.append(_float_diff(f"{split}.{metric}", va, vb))
    return diffs


def _float_diff(name: str, a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return f"{name}: {a!r} vs {b!r}"
    return f"{name}: {a!r} vs {b!r} (difference {abs(a - b):.3g})"


def verify_job(job: Job, opts: RunOptions, runs: int = 2) -> tuple[list[RunRecord], list[str]]:
    """Run one job `runs` times in this process (the in-memory data cache cleared in between, so later runs load
    the task from gbench's cache as a fresh worker would) and return (records, differences from the first)."""
    from gbench.data import clear_memory_cache
    from gbench.jobs import run_job

    records = []
    for _ in range(runs):
        clear_memory_cache()
        records.append(run_job(job, opts))
    diffs = [f"run {i + 1}: {d}" for i, r in enumerate(records[1:], start=1) for d in compare_records(records[0], r)]
    return records, diffs
