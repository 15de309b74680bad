"""What one job is (`Job`: a task, a resolved model and a seed) and how jobs run (`RunOptions`).

Both are plain, picklable values, low in the layers: the level runners (`gbench.train`) take them, the job
wrapper (`gbench.jobs`) and the executors pass them on, and nothing here imports either.
"""

from __future__ import annotations

from dataclasses import dataclass

from gbench.data.staging import DataContext
from gbench.specs import ResolvedModel, TaskSpec, job_identity


@dataclass(frozen=True)
class Job:
    task: TaskSpec
    model: ResolvedModel
    seed: int

    @property
    def job_id(self) -> str:
        return job_identity(self.task, self.model, self.seed)

    @property
    def label(self) -> str:
        return f"{self.task.id} / {self.model.name} / seed {self.seed}"


@dataclass(frozen=True)
class RunOptions:
    """How jobs run; none of this is part of a job's identity, all of it is recorded."""

    device: str
    deterministic: str
    data: DataContext
    command: str | None = None
    threads: int | None = None  # torch intra-op threads per job; None keeps torch's default
    executor: str = "in-process"  # recorded as provenance in `RunRecord.worker`, never part of a result
