"""Graph-level runner: mini-batches of whole graphs, one or more evaluation splits (scale splits included), and
k-fold protocols where one job runs every fold and records each fold's metrics (or, with `Job.fold` set, runs that
one outer fold and records it as a single split).

Labels never enter a batch: batches are collated from label-free copies of the graphs and the labels are indexed
separately. The validation split is evaluated at each evaluation step, every other split but 'train' once from the
selected epoch's parameters; the selected epoch is the best by the task's monitor, as for every level. A tuning
trial (`Job.selection`) scores the validation split alone: no other split is predicted or has its labels read.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gbench.data import load_task_data
from gbench.data.graphs import GraphTaskData, strip_labels
from gbench.data.transforms import apply_transforms
from gbench.models.contract import TaskInfo, build_model, count_parameters, is_fit_predict
from gbench.errors import GbenchError
from gbench.hashing import stable_hash
from gbench.train.base import Outcome, evaluate_splits, loss_fn, out_dim, reported_parts, task_metrics, train_settings
from gbench.train.loop import Evaluation, Recipe, history_columns, train

if TYPE_CHECKING:
    from gbench.data.staging import DataContext
    from gbench.job import Job, RunOptions
    from gbench.specs import ResolvedModel, TaskSpec

DEFAULT_BATCH_SIZE = 128


def graph_task_info(td: GraphTaskData, task, extras: dict[str, Any], num_features: int) -> TaskInfo:
    targets = td.y.size(1) if td.y.dim() == 2 else 1
    return TaskInfo(level="graph", target=task.target, num_features=num_features,
                    out_dim=out_dim(task, td.num_classes, targets), edge_dim=td.edge_dim,
                    num_classes=td.num_classes if task.target == "multiclass" else None,
                    extras={"categorical_features": td.feature_kind == "categorical",
                            "categorical_edges": td.edge_kind == "categorical", **td.info.get("extras", {}),
                            **extras})


class GraphBatcher:
    """Collates label-free graphs into `torch_geometric.data.Batch` objects; labels are indexed alongside."""

    def __init__(self, graphs: list, y: torch.Tensor, device: torch.device) -> None:
        self.graphs = [strip_labels(g) for g in graphs]
        self.y = y
        self.device = device

    def batches(self, index: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
        from torch_geometric.data import Batch

        if generator is not None:
            index = index[torch.randperm(index.numel(), generator=generator)]
        for start in range(0, index.numel(), batch_size):
            idx = index[start: start + batch_size]
            batch = Batch.from_data_list([self.graphs[i] for i in idx.tolist()])
            yield batch.to(self.device), self.y[idx].to(self.device)


def _predict(model, batcher: GraphBatcher, index: torch.Tensor, batch_size: int) -> torch.Tensor:
    outs = [model(batch).float().cpu() for batch, _ in batcher.batches(index, batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)


def graph_inputs(task: TaskSpec, model: ResolvedModel, ctx: DataContext) -> tuple[GraphTaskData, list, TaskInfo]:
    """The task's data, its graphs after the model's transforms, and the TaskInfo the model is built with."""
    td: GraphTaskData = load_task_data(task, ctx)
    key = stable_hash({"task": task.identity()})
    graphs, extras = apply_transforms(td.graphs, model.transforms, ctx, key)
    num_features = 0 if graphs[0].x is None else int(graphs[0].x.size(1))
    return td, graphs, graph_task_info(td, task, extras, num_features)


def run_graph(job: Job, opts: RunOptions) -> Outcome:
    task = job.task
    td, graphs, info = graph_inputs(task, job.model, opts.data)
    device = torch.device(opts.device)
    metrics = task_metrics(task)
    criterion = loss_fn(task.target)
    settings = train_settings(task, job.model)
    batch_size = settings.batch_size or DEFAULT_BATCH_SIZE
    batcher = GraphBatcher(graphs, td.y, device)
    y_np = td.y.numpy()

    per_split: list[Outcome] = []
    for split_index, split in job_splits(job, td):
        # Every fold starts from the same seeded state, so fold results do not depend on the order they ran in.
        torch.manual_seed(job.seed)
        np.random.seed(job.seed)
        per_split.append(_run_split(job, task, info, batcher, split, split_index, y_np, metrics, criterion,
                                    settings, batch_size, device, opts))
    # Which files and folds made the data (e.g. ogbg-molhiv from OGB's files or rebuilt from HIV.csv).
    data_info = {k: v for k, v in td.info.items() if isinstance(v, (str, int, float, bool))}
    outcome = per_split[0] if len(per_split) == 1 else _combine_folds(per_split, task)
    if data_info:
        outcome.extra = {**outcome.extra, "data": data_info}
    if td.info.get("deviation"):  # data that differs from its published files says so, as at node and link level
        outcome.extra = {**outcome.extra, "data_deviation": td.info["deviation"]}
    return outcome


def job_splits(job: Job, td: GraphTaskData) -> list[tuple[int, dict[str, torch.Tensor]]]:
    """The (split index, split) pairs `job` runs: those of its seed, or with `job.fold` set, that one outer fold of
    a k-fold task."""
    pairs = td.splits_for_seed(job.seed)
    if job.fold is None:
        return pairs
    if not td.per_fold:
        raise GbenchError(f"job '{job.label}': fold {job.fold} was given, but task '{job.task.id}' is not a k-fold "
                          "task (each seed runs one split); run it without a fold.")
    chosen = [(i, split) for i, split in pairs if i == job.fold]
    if not chosen:
        raise GbenchError(f"job '{job.label}': fold {job.fold} is out of range; task '{job.task.id}' has folds 0 "
                          f"to {len(td.splits) - 1}.")
    return chosen


def _run_split(job, task, info, batcher, split, split_index, y_np, metrics, criterion, settings, batch_size,
               device, opts) -> Outcome:
    model = build_model(job.model.implementation, info, job.model.hparams)
    eval_parts = {k: v for k, v in split.items() if k != "train"}
    parts_np = {k: np.arange(v.numel()) for k, v in eval_parts.items()}

    if is_fit_predict(model):
        t0 = time.perf_counter()
        train_idx = split["train"]
        model.fit([batcher.graphs[i] for i in train_idx.tolist()], batcher.y[train_idx])
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluated, kept = {}, {}
        for name, idx in reported_parts(eval_parts, job.selection).items():
            scores = model.predict([batcher.graphs[i] for i in idx.tolist()])
            scores = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=float)
            evaluated.update(evaluate_splits(metrics, y_np[idx.numpy()], scores, {name: parts_np[name]}))
            if job.model.train.keep_predictions:
                kept[name] = _kept(idx, y_np, scores)
        return Outcome(metrics=evaluated, epochs_run=0, train_s=train_s, eval_s=time.perf_counter() - t0,
                       split_index=split_index, extra={"predictions": kept} if kept else {})

    model.to(device)
    generator = torch.Generator().manual_seed(job.seed)
    train_idx = split["train"]

    skipped = 0
    trace_every = job.model.train.trace_every
    traced = list(reported_parts(eval_parts, job.selection))  # the splits a trace scores: val alone in a trial
    curve: dict[str, list] = {}
    current_epoch = 0

    def batches(epoch: int):
        nonlocal skipped, current_epoch
        current_epoch = epoch
        for batch, y in batcher.batches(train_idx, batch_size, generator):
            if batch.num_nodes < 2:
                # A last batch holding one single-atom molecule: batch norm cannot train on one node (OGB's example
                # skips such batches too). Counted in the record's extra.skipped_single_node_batches.
                skipped += 1
                continue
            yield batch, y

    def loss(batch_and_y) -> tuple[torch.Tensor, int]:
        batch, y = batch_and_y
        return criterion(model(batch), y), y.size(0)

    kept: dict[str, dict[str, list]] = {}

    @torch.no_grad()
    def score(names, keep: bool = False) -> tuple[dict[str, dict[str, float]], float | None]:
        model.eval()
        evaluated: dict[str, dict[str, float]] = {}
        val_loss = None
        for name in names:
            idx = eval_parts[name]
            scores = _predict(model, batcher, idx, batch_size)
            if name == "val":
                val_loss = float(criterion(scores, batcher.y[idx]))
            evaluated.update(evaluate_splits(metrics, y_np[idx.numpy()], scores.numpy(), {name: parts_np[name]}))
            if keep:
                kept[name] = _kept(idx, y_np, scores.numpy())
        return evaluated, val_loss

    def evaluate() -> Evaluation:
        # Only the validation split during training; the other splits once, from the selected epoch's parameters.
        if not trace_every or current_epoch % trace_every:
            return Evaluation(*score(["val"]))
        # A traced epoch scores every split for extra.curve; the loop (selection, patience) still sees val only.
        evaluated, val_loss = score(traced)
        curve.setdefault("epoch", []).append(current_epoch)
        for name in traced:
            curve.setdefault(name, []).append(evaluated[name][task.metric.name])
        return Evaluation({"val": evaluated["val"]}, val_loss)

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    result = train(Recipe(model, batches, loss, evaluate, snapshot), job.model.optim, settings, task, opts.device)
    assert result.best is not None
    if curve:  # the losses of the traced epochs beside the metrics: whether training fits while validation stalls
        val_losses = {epoch: val_loss for epoch, _, val_loss in result.history}
        curve["train_loss"] = [result.train_losses[epoch - 1] for epoch in curve["epoch"]]
        curve["val_loss"] = [val_losses.get(epoch) for epoch in curve["epoch"]]
    history = history_columns(result)  # traced or not
    t0 = time.perf_counter()
    model.load_state_dict(result.best_snapshot)
    keep = bool(job.model.train.keep_predictions)
    final, _ = score([n for n in reported_parts(eval_parts, job.selection) if n != "val"], keep=keep)
    final["val"] = result.best.metrics["val"]
    if keep:  # validation once more, from the parameters it selected, for its per-graph outputs
        score(["val"], keep=True)
    return Outcome(metrics=final, val_loss=result.best.val_loss, selected_epoch=result.selected_epoch,
                   epochs_run=result.epochs_run, num_params=count_parameters(model), train_s=result.train_s,
                   eval_s=result.eval_s + time.perf_counter() - t0, split_index=split_index,
                   extra={**({"skipped_single_node_batches": skipped} if skipped else {}),
                          "history": history,
                          **({"curve": curve} if curve else {}),
                          **({"predictions": kept} if kept else {})})


def _kept(idx: torch.Tensor, y_np: np.ndarray, scores: np.ndarray) -> dict[str, list]:
    """One split's per-graph outputs for extra.predictions: dataset indices, labels and the model's outputs, in the
    order the metric saw them."""
    return {"index": idx.tolist(), "y": y_np[idx.numpy()].tolist(), "score": np.asarray(scores).tolist()}


def _combine_folds(outcomes: list[Outcome], task) -> Outcome:
    """One record for all folds: the mean over folds as the job's metrics, each fold's values in
    `extra['fold_metrics'][split]` (the leaderboard takes mean and std over folds from there)."""
    name = task.metric.name
    splits = sorted({s for o in outcomes for s in o.metrics})
    mean = {s: {m: float(np.mean([o.metrics[s][m] for o in outcomes])) for m in outcomes[0].metrics[s]}
            for s in splits}
    fold_metrics = {s: [o.metrics[s][name] for o in outcomes] for s in splits}
    epochs = [o.epochs_run for o in outcomes]
    skipped = sum(o.extra.get("skipped_single_node_batches", 0) for o in outcomes)
    return Outcome(metrics=mean, val_loss=None, selected_epoch=None, epochs_run=int(sum(epochs)),
                   num_params=outcomes[0].num_params, train_s=sum(o.train_s for o in outcomes),
                   eval_s=sum(o.eval_s for o in outcomes), split_index=None,
                   extra={"fold_metrics": fold_metrics, "fold_selected_epochs": [o.selected_epoch for o in outcomes],
                          "fold_epochs_run": epochs, "num_folds": len(outcomes),
                          **({"skipped_single_node_batches": skipped} if skipped else {}),
                          **({"fold_histories": [o.extra.get("history") for o in outcomes]}
                             if any("history" in o.extra for o in outcomes) else {}),
                          **({"fold_curves": [o.extra.get("curve") for o in outcomes]}
                             if any("curve" in o.extra for o in outcomes) else {}),
                          **({"fold_predictions": [o.extra.get("predictions") for o in outcomes]}
                             if any("predictions" in o.extra for o in outcomes) else {})})
