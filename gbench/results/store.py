"""The result store: `<root>/records/<task>/<model>/s<seed>-<job id>.json`, one record per job.

A record is written once, atomically (gbench.atomic), never edited. A failed (or damaged) record is replaced by the
job's next attempt and kept under `records/_attempts/`, so the history of a job is never lost.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from gbench.atomic import TEMP_NAME, atomic_path, stale_temps
from gbench.results.records import FINAL_STATUSES, DamagedRecord, RunRecord, read_record


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+\-]", "_", name)


def _is_record_temp(path: Path) -> bool:
    m = TEMP_NAME.match(path.name)
    return m is not None and m["name"].endswith(".json")


@dataclass
class ResultStore:
    """The records of one results directory, and the only code that writes them.

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
    def attempts_dir(self) -> Path:
        return self.records_dir / "_attempts"

    @property
    def claims_dir(self) -> Path:
        return self.root / "claims"

    @property
    def progress_dir(self) -> Path:
        """Live progress of the jobs in flight (gbench.train.progress); advisory, never read as results."""
        return self.root / "progress"

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

    def attempts_of(self, path: Path) -> list[Path]:
        """The superseded records of the job whose record is at `path`, oldest first."""
        if not self.attempts_dir.is_dir():
            return []
        found = self.attempts_dir.glob(f"{path.stem}.*.json")
        return sorted(found, key=lambda p: int(p.stem.rsplit(".", 1)[1]) if p.stem.rsplit(".", 1)[1].isdigit()
                      else -1)

    def write(self, record: RunRecord) -> Path:
        """Write a job's record atomically and return its path.

        The same run's record written again (same run id, e.g. by its worker and then by the driver) changes
        nothing. A finished record is never replaced. A failed or damaged one is moved to `records/_attempts/`
        (`<name>.<n>.json`, n = 0, 1, ...) and the new record is numbered `attempt` n + 2: every attempt is kept,
        even one whose content is identical to the one before.
        """
        record = record.sealed()
        path = self.path_for(record.task, record.model, record.seed, record.job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:
                old = read_record(path)
            except DamagedRecord:
                old = None
            if old is not None and (old.checksum == record.checksum
                                    or (old.run_id is not None and old.run_id == record.run_id)):
                return path
            if old is not None and old.status in FINAL_STATUSES:
                raise FileExistsError(f"{path}: a finished record exists already; results are never overwritten.")
            self.attempts_dir.mkdir(parents=True, exist_ok=True)
            n = len(self.attempts_of(path))
            path.replace(self.attempts_dir / f"{path.stem}.{n}.json")
            record = record.model_copy(update={"attempt": n + 2}).sealed()
        with atomic_path(path) as tmp:
            tmp.write_text(record.model_dump_json(indent=1))
        return path

    def temp_files(self) -> list[Path]:
        if not self.records_dir.is_dir():
            return []
        return sorted(p for p in self.records_dir.rglob(".*.json.tmp-*") if _is_record_temp(p))

    def clean_stale_temps(self) -> list[Path]:
        """Remove temp files left by writers on this host that are dead (killed mid-write); they never count as
        records, this only tidies up. Another host's temps are left alone (its writer may be alive)."""
        removed = stale_temps(self.temp_files())
        for p in removed:
            p.unlink(missing_ok=True)
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
        attempts = self.attempts_dir
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
