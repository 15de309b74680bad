"""Run records: one (task, model, seed) outcome, with a sha256 of its own content.

A truncated or hand-edited record file fails its checksum and is excluded, never averaged in. Records of an older
schema stay valid: their checksum is taken over the fields as written, and every field added later has a default.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gbench.hashing import stable_hash

# 2: records carry `run_id` and `attempt`; version-1 records (without them) load as they are.
SCHEMA_VERSION = 2
Status = Literal["ok", "failed", "diverged", "oom"]
# Statuses that are results: a rerun skips their jobs. failed and oom are retried (the old record is kept aside).
FINAL_STATUSES = ("ok", "diverged")


# How a job's peak memory was measured (gbench.jobs.PeakMemory): Cost.peak_memory_kind -> what it is. Pages say it
# under their peak-MB column (gbench.report.memory_note).
PEAK_MEMORY_KINDS: dict[str, str] = {
    "cuda_max_allocated": "torch's peak GPU allocation over the job (torch.cuda.max_memory_allocated, reset at the "
                          "job's start)",
    "rss_hwm_job": "the process's resident-set high-water mark over the job (reset at the job's start through "
                   "/proc/self/clear_refs)",
    "rss_sampled": "the process's highest resident set of psutil samples taken every 20 ms during the job",
    "process_lifetime_peak_rss": "the whole process's peak resident set (ru_maxrss; per job only in a fresh "
                                 "process)",
}


class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    setup_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None
    s_per_epoch: float | None = None
    peak_memory_mb: float | None = None
    peak_memory_kind: str | None = Field(default=None, description="; ".join(
        f"{kind}: {what}" for kind, what in PEAK_MEMORY_KINDS.items()))
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
    run_id: str | None = Field(default=None, description=(
        "one execution of the job: a random id given when the record is first sealed. Two attempts at a job never "
        "share it, so a retry whose record is otherwise identical (a failure within the same second) is still a "
        "new record, while one record written twice (by its worker and by the driver) stays one."))
    attempt: int = Field(default=1, ge=1, description=(
        "which attempt at this job the record is: 1, or n + 1 when it replaced n earlier failed or damaged "
        "records (kept under records/_attempts/); numbered by the result store"))
    fold: int | None = Field(default=None, description=(
        "the one outer fold of a k-fold task this job ran (its index in the task's split list); None: the job ran "
        "the task's whole protocol"))
    selection: bool = Field(default=False, description=(
        "a tuning trial: only the validation split was evaluated, and no test split was scored or its labels read; "
        "`metrics` holds 'val' alone"))
    tuning: dict[str, Any] | None = Field(default=None, description=(
        "for a tuned final run, how it was tuned (sampler, budget, the selected configuration ...), as the tune "
        "engine gave it; None for a run of a fixed configuration"))
    checksum: str = ""

    def content_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json", exclude={"checksum"}))

    def sealed(self) -> RunRecord:
        """This record with its run id (a fresh one unless it has one) and the checksum of its content."""
        run_id = self.run_id or uuid.uuid4().hex
        return self.model_copy(update={"run_id": run_id, "checksum": self.model_copy(
            update={"run_id": run_id}).content_hash()})

    def headline(self, split: str | None = None) -> float | None:
        split = split or self.test_splits[0]
        return self.metrics.get(split, {}).get(self.metric)


class DamagedRecord(Exception):
    """A record file that is not intact (unreadable, off-schema, failing its checksum, or out of place)."""


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


