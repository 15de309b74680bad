"""The gradient-training driver every level's runner shares.

A level supplies a `Recipe`: its model, the training batches of an epoch, the loss of one batch, how it evaluates
and what it snapshots. `train` does the rest, once for every level: the training step (train mode, zero_grad,
backward, gradient clipping to `train.grad_clip`, the optimizer step), the learning-rate schedule
(`train.lr_schedule`: 'step' and 'cosine' once per epoch after that epoch's optimizer steps, 'cosine' over the run's
epochs, 'plateau' after each evaluation on the validation loss), and, through `fit`, evaluation every `eval_every`
epochs, the best validation epoch, and early stopping after `patience` evaluations without improvement.

The test value reported is the one measured at the selected (best-validation) epoch, as in OGB's Logger. Only the
validation split is evaluated during training; when an epoch becomes the selected one the runner's `snapshot()` is
taken (its eval-mode outputs, or its parameters), and the runner evaluates every other split once, from the
snapshot, after the loop. Ties keep the earlier epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from gbench.specs.schedule import cosine_with_warmup
from gbench.train import progress
from gbench.train.base import TrainSettings, make_optimizer

if TYPE_CHECKING:
    from gbench.specs import OptimSpec, TaskSpec


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training loss became {loss} at epoch {epoch}")
        self.epoch, self.loss = epoch, loss


@dataclass
class Evaluation:
    """Metrics per split ('train', 'val', 'test', or scale splits), plus the validation loss where defined."""

    metrics: dict[str, dict[str, float]]
    val_loss: float | None = None


@dataclass
class LoopResult:
    best: Evaluation | None
    best_snapshot: Any
    selected_epoch: int | None
    epochs_run: int
    train_s: float
    eval_s: float
    history: list[tuple[int, float | None, float | None]] = field(default_factory=list)  # (epoch, val, val_loss)
    train_losses: list[float] = field(default_factory=list)  # each epoch's mean training loss, epoch 1 first


def history_columns(result: LoopResult) -> dict[str, list]:
    """Every evaluated epoch's validation metric and loss and mean training loss, as extra.curve lays them out:
    what selection saw, so a record that kept an early epoch shows whether it learned anything after it."""
    return {"epoch": [epoch for epoch, _, _ in result.history],
            "val": [val for _, val, _ in result.history],
            "val_loss": [val_loss for _, _, val_loss in result.history],
            "train_loss": [result.train_losses[epoch - 1] for epoch, _, _ in result.history]}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def fit(train_epoch: Callable[[int], float], evaluate: Callable[[], Evaluation], *, epochs: int,
        patience: int | None, eval_every: int, monitor: str, metric: str, higher_is_better: bool,
        device: str, snapshot: Callable[[], Any] | None = None,
        evaluated: Callable[[Evaluation], None] | None = None) -> LoopResult:
    """Run the loop. `train_epoch(epoch) -> mean training loss`; `evaluate() -> Evaluation`; `evaluated(ev)` is
    called after each evaluation (a plateau schedule steps there).

    `monitor` is 'val_metric' (the task metric on the validation split), 'val_loss' (lower is better) or
    'val_loss_and_metric' (patience resets when either improves; an epoch is selected when both are at their best).
    `snapshot()` is called right after the evaluation of each newly selected epoch; its value is returned.
    Times are wall-clock seconds with CUDA synchronised at each boundary.
    """
    best: Evaluation | None = None
    best_snapshot: Any = None
    best_score: float | None = None
    best_val: float | None = None  # running best of each quantity, for val_loss_and_metric
    best_loss: float | None = None
    selected = None
    since_best = 0
    train_s = eval_s = 0.0
    history: list[tuple[int, float | None, float | None]] = []
    train_losses: list[float] = []
    epoch = 0

    def report() -> None:  # the job's live progress file (gbench.train.progress), where there is one
        progress.report(phase="train", epoch=epoch, epochs=epochs, selected_epoch=selected, monitor=monitor,
                        best_val=best.metrics.get("val", {}).get(metric) if best is not None else None,
                        since_best=since_best, patience=patience, train_s=round(train_s, 3), eval_s=round(eval_s, 3))

    for epoch in range(1, epochs + 1):
        synchronize(device)
        t0 = time.perf_counter()
        loss = train_epoch(epoch)
        synchronize(device)
        train_s += time.perf_counter() - t0
        if not math.isfinite(loss):
            raise Diverged(epoch, loss)
        train_losses.append(loss)
        if epoch % eval_every and epoch != epochs:
            report()
            continue
        t0 = time.perf_counter()
        ev = evaluate()
        synchronize(device)
        eval_s += time.perf_counter() - t0
        val = ev.metrics.get("val", {}).get(metric)
        history.append((epoch, val, ev.val_loss))
        if evaluated is not None:
            evaluated(ev)
        if monitor in ("val_loss", "val_loss_and_metric") and ev.val_loss is None:
            raise ValueError(f"monitor '{monitor}' needs the runner to report a validation loss")
        if monitor in ("val_metric", "val_loss_and_metric") and val is None:
            raise ValueError(f"validation metric '{metric}' missing from evaluation")
        if monitor == "val_loss_and_metric":
            # Ties count as improvements, as in the reference code (>= and <=).
            val_ok = best_val is None or (val >= best_val if higher_is_better else val <= best_val)
            loss_ok = best_loss is None or ev.val_loss <= best_loss
            if val_ok and loss_ok:
                best, selected = ev, epoch
                best_snapshot = snapshot() if snapshot else None
            if val_ok or loss_ok:
                since_best = 0
                best_val = val if val_ok else best_val
                best_loss = ev.val_loss if loss_ok else best_loss
            else:
                since_best += 1
        else:
            if monitor == "val_loss":
                score, better = ev.val_loss, (best_score is None or ev.val_loss < best_score)
            else:
                score = val
                better = best_score is None or (val > best_score if higher_is_better else val < best_score)
            if better:
                best, best_score, selected, since_best = ev, score, epoch, 0
                best_snapshot = snapshot() if snapshot else None
            else:
                since_best += 1
        report()
        if patience is not None and since_best >= patience:
            break
    return LoopResult(best=best, best_snapshot=best_snapshot, selected_epoch=selected, epochs_run=epoch,
                      train_s=train_s, eval_s=eval_s, history=history, train_losses=train_losses)


@dataclass
class Recipe:
    """What a level supplies to `train`: how it batches and how it scores.

    `batches(epoch)` yields the training batches of one epoch (epochs count from 1), in the order they are trained
    on; any shuffling or sampling happens there. `loss(batch)` runs the model on one batch and returns
    `(loss, weight)`: a scalar tensor to backpropagate and the number of training units (nodes, graphs, positive
    edges) it averages over, which weighs it in the epoch's mean training loss. `evaluate()` scores the model
    (validation only, during training); `snapshot()` keeps what the level needs to score the selected epoch later
    (its outputs, or its parameters).
    """

    model: torch.nn.Module
    batches: Callable[[int], Iterable[Any]]
    loss: Callable[[Any], tuple[torch.Tensor, float]]
    evaluate: Callable[[], Evaluation]
    snapshot: Callable[[], Any]


def train(recipe: Recipe, optim: OptimSpec, settings: TrainSettings, task: TaskSpec, device: str) -> LoopResult:
    """Train `recipe.model` (already on `device`) with the optimizer `optim` and the schedule `settings`, selecting
    on the task's metric (or loss, by `settings.monitor`). The epoch's reported loss is the weighted mean of its
    batch losses; a non-finite one raises `Diverged`."""
    model = recipe.model
    # a model may give parameter groups with their own learning rates (NCN's predictor: `param_groups`)
    optimizer = make_optimizer(optim, model.param_groups() if hasattr(model, "param_groups") else model.parameters())
    schedule = settings.lr_schedule
    scheduler = plateau = None
    if schedule is not None and schedule.name == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=schedule.step_size, gamma=schedule.gamma)
    elif schedule is not None and schedule.name == "cosine":
        warmup, total = schedule.warmup, settings.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: cosine_with_warmup(e, warmup, total))
    elif schedule is not None:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=schedule.gamma,
                                                             patience=schedule.patience, min_lr=schedule.min_lr or 0.0)
    clip = settings.grad_clip

    def evaluated(ev: Evaluation) -> None:
        if ev.val_loss is None:
            raise ValueError("train.lr_schedule 'plateau' steps on the validation loss, which this level's runner "
                             "does not report; use a step schedule or none")
        plateau.step(ev.val_loss)

    def train_epoch(epoch: int) -> float:
        model.train()
        total, count = 0.0, 0
        for batch in recipe.batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss, weight = recipe.loss(batch)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += float(loss.detach()) * weight
            count += weight
        if scheduler is not None:
            scheduler.step()
        return total / max(count, 1)

    return fit(train_epoch, recipe.evaluate, epochs=settings.epochs, patience=settings.patience,
               eval_every=settings.eval_every, monitor=settings.monitor, metric=task.metric.name,
               higher_is_better=task.metric.higher_is_better, device=device, snapshot=recipe.snapshot,
               evaluated=evaluated if plateau is not None else None)
