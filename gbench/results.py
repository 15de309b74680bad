"""Run records, the result store and aggregation.

A record is one (task, model, seed): written once, atomically (temp file + rename), never edited. It carries a
sha256 of its own content, so a truncated or hand-edited file is detected and excluded, never averaged in.
Aggregation reads records and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gbench.specs import stable_hash

SCHEMA_VERSION = 1
Status = Literal["ok", "failed", "diverged", "oom"]
# Statuses that are results: a rerun skips their jobs. failed and oom are retried (the old record is kept aside).
FINAL_STATUSES = ("ok", "diverged")


class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    setup_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None
    s_per_epoch: float | None = None
    peak_memory_mb: float | None = None
    peak_memory_kind: str | None = Field(default=None, description=(
        "cuda_max_allocated (torch.cuda.max_memory_allocated, reset at the job's start), rss_hwm_job (the "
        "process's resident-set high-water mark, reset at the job's start through /proc/self/clear_refs), "
        "rss_sampled (psutil RSS sampled every 20 ms during the job) or process_lifetime_peak_rss (ru_maxrss: "
        "the whole process's peak, only per job in a fresh process)"))
    baseline_memory_mb: float | None = Field(default=None, description=(
        "the same measure at the job's start (the process with torch and cached data loaded); peak minus "
        "baseline is what the job itself added"))


class RunRecord(BaseModel):
    """One job's outcome. Metric values are stored exactly as the evaluator returned them."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    job_id: str
    task: str
    task_version: int
    level: str
    family: str | None = None
    model: str
    model_spec: dict[str, Any]
    model_hash: str
    candidate: bool = False
    seed: int
    status: Status
    error: str | None = None
    metric: str
    higher_is_better: bool
    test_splits: list[str] = Field(default_factory=lambda: ["test"])
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict, description="split -> metric -> value")
    val_loss: float | None = None
    split_index: int | None = None
    selected_epoch: int | None = None
    epochs_run: int = 0
    num_params: int | None = None
    cost: Cost = Field(default_factory=Cost)
    device: str
    determinism: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    std_over: Literal["seeds", "folds"] = "seeds"
    std_ddof: int = 1
    reference: dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    command: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    worker: dict[str, Any] = Field(default_factory=dict, description="where the job ran: executor, host, pid; "
                                   "provenance only, never part of a result")
    checksum: str = ""

    def content_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json", exclude={"checksum"}))

    def sealed(self) -> RunRecord:
        return self.model_copy(update={"checksum": self.content_hash()})

    def headline(self, split: str | None = None) -> float | None:
        split = split or self.test_splits[0]
        return self.metrics.get(split, {}).get(self.metric)


class DamagedRecord(Exception):
    pass


def read_record(path: Path) -> RunRecord:
    """Parse and verify one record file; raise DamagedRecord with the reason if it is not intact."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedRecord(f"{path}: not readable JSON ({e})") from None
    try:
        record = RunRecord.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        raise DamagedRecord(f"{path}: field '{'.'.join(map(str, first['loc']))}' {first['msg']}") from None
    # The checksum covers the fields as written. Hashing the file's own fields (not the re-dumped model) keeps
    # records of an older schema valid when a later version adds fields with defaults.
    written = stable_hash({k: v for k, v in raw.items() if k != "checksum"})
    if record.checksum not in (written, record.content_hash()):
        raise DamagedRecord(f"{path}: checksum mismatch (the file was edited or damaged after it was written)")
    return record


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+\-]", "_", name)


_TEMP = re.compile(r"^\..+\.json\.tmp-(?P<host>.+)-(?P<pid>\d+)$")


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a crash right after os.replace must not lose the new name)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ResultStore:
    """`<root>/records/<task>/<model>/s<seed>-<job id>.json`; superseded failures go to `records/_attempts/`.

    A record file appears only by an atomic rename of a complete, fsynced temp file (`.<name>.tmp-<host>-<pid>`,
    never read as a record), so a process killed at any point leaves either the whole record or none.
    """

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    @property
    def claims_dir(self) -> Path:
        return self.root / "claims"

    def path_for(self, task: str, model: str, seed: int, job_id: str) -> Path:
        return self.records_dir / _safe(task) / _safe(model) / f"s{seed:04d}-{job_id}.json"

    def existing(self, task: str, model: str, seed: int, job_id: str) -> RunRecord | None:
        """The valid record of a job, or None when there is none (or only a damaged one)."""
        path = self.path_for(task, model, seed, job_id)
        if not path.exists():
            return None
        try:
            return read_record(path)
        except DamagedRecord:
            return None

    def is_done(self, task: str, model: str, seed: int, job_id: str) -> bool:
        record = self.existing(task, model, seed, job_id)
        return record is not None and record.status in FINAL_STATUSES

    def write(self, record: RunRecord) -> Path:
        """Write atomically. A final record is never replaced; a failed or damaged one is moved aside first.
        Writing the very record that is there already (same checksum) changes nothing."""
        record = record.sealed()
        path = self.path_for(record.task, record.model, record.seed, record.job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:
                old = read_record(path)
            except DamagedRecord:
                old = None
            if old is not None and old.checksum == record.checksum:
                return path
            if old is not None and old.status in FINAL_STATUSES:
                raise FileExistsError(f"{path}: a finished record exists already; results are never overwritten.")
            attempts = self.records_dir / "_attempts"
            attempts.mkdir(parents=True, exist_ok=True)
            n = len(list(attempts.glob(f"{path.stem}.*.json")))
            os.replace(path, attempts / f"{path.stem}.{n}.json")
        tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(record.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return path

    def temp_files(self) -> list[Path]:
        if not self.records_dir.is_dir():
            return []
        return sorted(p for p in self.records_dir.rglob(".*.json.tmp-*") if _TEMP.match(p.name))

    def clean_stale_temps(self) -> list[Path]:
        """Remove temp files left by writers on this host that are dead (killed mid-write); they never count as
        records, this only tidies up. Another host's temps are left alone (its writer may be alive)."""
        removed = []
        host = socket.gethostname()
        for p in self.temp_files():
            m = _TEMP.match(p.name)
            if m and m["host"] == host and not pid_alive(int(m["pid"])):
                p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def record_paths(self) -> list[Path]:
        if not self.records_dir.is_dir():
            return []
        return sorted(p for p in self.records_dir.rglob("*.json")
                      if "_attempts" not in p.relative_to(self.records_dir).parts and not p.name.startswith("."))

    def _check_place(self, path: Path, record: RunRecord) -> None:
        place = self.path_for(record.task, record.model, record.seed, record.job_id)
        if path.resolve() != place.resolve():
            raise DamagedRecord(f"{path}: holds job {record.job_id} ({record.task} / {record.model} / seed "
                                f"{record.seed}), whose place is {place.relative_to(self.root)} (moved or copied "
                                "by hand?)")

    def load(self) -> tuple[list[RunRecord], list[str]]:
        """All intact records, and one line per damaged file (excluded): unreadable, failing the schema, failing
        its checksum, or lying outside the place its content names."""
        records, problems = [], []
        for path in self.record_paths():
            try:
                record = read_record(path)
                self._check_place(path, record)
                records.append(record)
            except DamagedRecord as e:
                problems.append(str(e))
        return records, problems

    def verify(self) -> StoreReport:
        """Check every file under `records/` (superseded attempts included) without changing anything."""
        report = StoreReport(root=self.root)
        for path in self.record_paths():
            try:
                record = read_record(path)
                self._check_place(path, record)
                report.valid += 1
            except DamagedRecord as e:
                report.damaged.append((path, str(e).split(": ", 1)[-1]))
        attempts = self.records_dir / "_attempts"
        for path in sorted(attempts.glob("*.json")) if attempts.is_dir() else []:
            try:
                read_record(path)
                report.attempts += 1
            except DamagedRecord as e:
                report.damaged_attempts.append((path, str(e).split(": ", 1)[-1]))
        report.temp_files = self.temp_files()
        return report


@dataclass
class StoreReport:
    root: Path
    valid: int = 0
    attempts: int = 0
    damaged: list[tuple[Path, str]] = field(default_factory=list)  # records: excluded from every aggregate
    damaged_attempts: list[tuple[Path, str]] = field(default_factory=list)  # superseded failures, never read
    temp_files: list[Path] = field(default_factory=list)


def load_records(source: Path | str, warn: bool = True) -> list[RunRecord]:
    """Records from a results directory (its `records/`), warning about and excluding damaged files."""
    records, problems = ResultStore(Path(source)).load()
    if warn:
        for p in problems:
            warnings.warn(f"excluded damaged record: {p}", stacklevel=2)
    return records


# ---------------------------------------------------------------------------------------------------------------
# Aggregation

LEADERBOARD_COLUMNS = ["task", "model", "metric", "mean", "std", "n_seeds"]


def _std(values: list[float], ddof: int) -> float:
    n = len(values)
    if n - ddof <= 0:
        return float("nan")
    m = sum(values) / n
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - ddof))


def _mean(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def per_unit_values(records: list[RunRecord], split: str) -> list[float]:
    """The values the leaderboard's mean and std are taken over: one per seed, or one per fold (averaged over
    the seeds that ran that fold) when the task protocol says std over folds."""
    ok = [r for r in records if r.status == "ok" and r.headline(split) is not None]
    if not ok:
        return []
    if ok[0].std_over == "folds":
        by_fold: dict[int, list[float]] = {}
        for r in ok:
            for fold, value in enumerate(r.extra.get("fold_metrics", {}).get(split, [])):
                by_fold.setdefault(fold, []).append(value)
        return [sum(v) / len(v) for _, v in sorted(by_fold.items())]
    return [float(r.headline(split)) for r in sorted(ok, key=lambda r: r.seed)]


def aggregate(records: list[RunRecord]):
    """Leaderboard rows, one per (task, task version, model, model spec): a pandas DataFrame.

    Columns: task, model, metric, mean, std, n_seeds (then val_mean, one `<split>_mean`/`<split>_std` pair per
    extra test split, failures, costs, the reference number and its source, versions). `std` is the sample
    std (ddof=1) over seeds unless the task protocol says otherwise (`std_over`, `std_ddof` columns).
    """
    import pandas as pd

    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.task, r.task_version, r.model, r.model_hash), []).append(r)
    clash = {}
    for task, version, model, mhash in groups:
        clash.setdefault((task, model), set()).add((version, mhash))
    rows = []
    for (task, version, model, mhash), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        first = recs[0]
        ok = [r for r in recs if r.status == "ok"]
        head = first.test_splits[0]
        values = per_unit_values(recs, head)
        row: dict[str, Any] = {
            "task": task, "model": model, "metric": first.metric,
            "mean": _mean(values), "std": _std(values, first.std_ddof), "n_seeds": len(ok),
            "higher_is_better": first.higher_is_better,
            "val_mean": _mean(r.metrics.get("val", {}).get(first.metric) for r in ok),
        }
        for split in first.test_splits[1:]:
            vals = per_unit_values(recs, split)
            row[f"{split}_mean"] = _mean(vals)
            row[f"{split}_std"] = _std(vals, first.std_ddof)
        row.update({
            "n_failed": sum(r.status in ("failed", "oom") for r in recs),
            "n_diverged": sum(r.status == "diverged" for r in recs),
            "std_over": first.std_over, "std_ddof": first.std_ddof,
            "s_per_epoch": _mean(r.cost.s_per_epoch for r in ok),
            "train_s": _mean(r.cost.train_s for r in ok),
            "setup_s": _mean(r.cost.setup_s for r in ok),
            "eval_s": _mean(r.cost.eval_s for r in ok),
            "peak_memory_mb": _mean(r.cost.peak_memory_mb for r in ok),
            "peak_memory_kind": ",".join(sorted({r.cost.peak_memory_kind for r in ok if r.cost.peak_memory_kind})),
            "num_params": first.num_params,
            "reference": (first.reference or {}).get("value"),
            "reference_std": (first.reference or {}).get("std"),
            "reference_source": (first.reference or {}).get("source"),
            "task_version": version, "model_hash": mhash,
            "device": ",".join(sorted({r.device for r in ok})) or first.device,
        })
        if len(clash[(task, model)]) > 1:
            row["model"] = f"{model}@{mhash[:8]}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    return frame
