"""What one job is (`Job`: a task, a resolved model and a seed) and how jobs run (`RunOptions`).

Both are plain, picklable values, low in the layers: the level runners (`gbench.train`) take them, the job
wrapper (`gbench.jobs`) and the executors pass them on, and nothing here imports either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gbench.data.staging import DataContext
from gbench.specs import ResolvedModel, TaskSpec, job_identity
from gbench.specs.resolution import legacy_model_identity


@dataclass(frozen=True)
class Job:
    """One task, resolved model and seed, and the job's scope.

    `fold`: on a k-fold task, run only this outer fold (its index in the task's split list) instead of all of
    them. `selection`: a tuning trial, which evaluates the validation split only and never computes anything on,
    or reads the labels of, a test split. `tuning`: JSON-able metadata of a tuned final run (sampler, budget,
    the selected configuration ...), given by the tune engine and kept in the record. Each enters the job id only
    when it differs from its default.
    """

    task: TaskSpec
    model: ResolvedModel
    seed: int
    fold: int | None = None
    selection: bool = False
    tuning: dict[str, Any] | None = None

    @property
    def job_id(self) -> str:
        return job_identity(self.task, self.model, self.seed, fold=self.fold, selection=self.selection,
                            tuning=self.tuning)

    @property
    def legacy_job_ids(self) -> list[str]:
        """The ids an earlier gbench gave this job where they differ from `job_id` (records written at
        gbench.specs.resolution.DRIFTED_IDENTITY_COMMIT): a sweep resumed over such records finds them."""
        legacy = legacy_model_identity(self.model)
        if legacy is None:
            return []
        return [job_identity(self.task, self.model, self.seed, fold=self.fold, selection=self.selection,
                             tuning=self.tuning, model_identity=legacy)]

    @property
    def label(self) -> str:
        scope = (f" / fold {self.fold}" if self.fold is not None else "") + (" / selection" if self.selection else "")
        return f"{self.task.id} / {self.model.name} / seed {self.seed}{scope}"


@dataclass(frozen=True)
class RunOptions:
    """How jobs run; none of this is part of a job's identity, all of it but `progress_dir` is recorded."""

    device: str
    deterministic: str
    data: DataContext
    command: str | None = None
    threads: int | None = None  # torch intra-op threads per job; None keeps torch's default
    executor: str = "in-process"  # recorded as provenance in `RunRecord.worker`, never part of a result
    # where the training loop keeps each job's live progress file (gbench.train.progress); set by the sweep's
    # driver to <results>/progress, None (no file) elsewhere. Not recorded: it says where a job ran, not how.
    progress_dir: str | None = None
