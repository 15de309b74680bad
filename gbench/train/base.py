"""What every level's runner shares: the outcome it returns, losses by target type, optimizers, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from gbench.errors import GbenchError
from gbench.metrics import Metric, get_metric
from gbench.specs import LRScheduleSpec, OptimSpec, ResolvedModel, TaskSpec

if TYPE_CHECKING:
    from gbench.job import Job

T = TypeVar("T")


@dataclass
class Outcome:
    """What a level runner measured for one job (the job wrapper adds identity, environment and status)."""

    metrics: dict[str, dict[str, float]]
    val_loss: float | None = None
    selected_epoch: int | None = None
    epochs_run: int = 0
    num_params: int | None = None
    train_s: float = 0.0
    eval_s: float = 0.0
    split_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def task_metrics(task: TaskSpec) -> list[Metric]:
    """The headline metric first, then the task's extra metrics."""
    return [get_metric(m) for m in [task.metric, *task.extra_metrics]]


def out_dim(task: TaskSpec, num_classes: int, num_targets: int = 1) -> int:
    if task.target == "multiclass":
        return num_classes
    if task.target == "binary":
        return 1
    return num_targets


def loss_fn(target: str):
    """Cross-entropy for multiclass; BCE-with-logits for binary and multi-label (NaN labels masked, as OGB does);
    mean squared error for regression."""

    def multiclass(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y.view(-1).long())

    def binary(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y.view(out.shape).float()
        labelled = y == y
        return F.binary_cross_entropy_with_logits(out[labelled], y[labelled])

    def regression(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y.view(out.shape).float()
        labelled = y == y
        return F.mse_loss(out[labelled], y[labelled])

    return {"multiclass": multiclass, "binary": binary, "multilabel": binary, "regression": regression}[target]


def make_optimizer(spec: OptimSpec, params) -> torch.optim.Optimizer:
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return kinds[spec.name](params, lr=spec.lr, weight_decay=spec.weight_decay)


@dataclass(frozen=True)
class TrainSettings:
    """The schedule a job trains by: the task protocol, with what the model spec fixes for itself taking
    precedence. Epochs and `eval_every` count passes over the training units; `patience` counts evaluations."""

    epochs: int
    patience: int | None
    batch_size: int | None  # None or 0: full batch (the level's default where it has no full-batch mode)
    eval_every: int
    monitor: str
    grad_clip: float | None  # largest global L2 norm of the gradients at an optimizer step; None: no clipping
    lr_schedule: LRScheduleSpec | None  # None: a constant learning rate


def train_settings(task: TaskSpec, model: ResolvedModel) -> TrainSettings:
    p, t = task.protocol, model.train
    return TrainSettings(epochs=t.epochs or p.epochs, patience=t.patience if t.patience is not None else p.patience,
                         batch_size=t.batch_size if t.batch_size is not None else p.batch_size,
                         eval_every=p.eval_every, monitor=p.monitor, grad_clip=t.grad_clip,
                         lr_schedule=t.lr_schedule)


def evaluate_splits(metrics: list[Metric], y: np.ndarray, scores: np.ndarray, parts: dict[str, np.ndarray]
                    ) -> dict[str, dict[str, float]]:
    """Every metric on every split: `parts` maps split name -> row indices into `y` and `scores`."""
    return {name: {m.name: m(y[idx], scores[idx]) for m in metrics} for name, idx in parts.items()}


def reported_parts(parts: dict[str, T], selection: bool) -> dict[str, T]:
    """The splits of `parts` (split name -> anything) a job scores: all of them, or in a tuning trial
    (`Job.selection`) the validation split alone, so that no other split is scored and no test label is read."""
    return {k: v for k, v in parts.items() if k == "val"} if selection else dict(parts)


def refuse_fold(job: Job) -> None:
    """Node and link tasks run one split per seed; a job naming an outer fold is a mistake in its caller."""
    if job.fold is not None:
        raise GbenchError(f"job '{job.label}': fold {job.fold} was given, but task '{job.task.id}' is a "
                          f"{job.task.level}-level task with one split per seed; run it without a fold (folds "
                          "apply to k-fold graph tasks only).")
