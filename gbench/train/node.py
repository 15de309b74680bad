"""Node-level runner: full-batch training on one graph (mini-batch through NeighborLoader where the task asks)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from gbench.data import NodeTaskData, load_task_data
from gbench.errors import GbenchError
from gbench.models.contract import TaskInfo, build_model, count_parameters, is_fit_predict
from gbench.train.base import (Outcome, evaluate_splits, loss_fn, out_dim, refuse_fold, reported_parts, task_metrics,
                               train_settings)
from gbench.train.loop import Evaluation, Recipe, history_columns, train

if TYPE_CHECKING:
    from gbench.job import Job, RunOptions


def node_task_info(td: NodeTaskData, task) -> TaskInfo:
    data = td.data
    targets = data.y.size(1) if data.y.dim() == 2 else 1
    return TaskInfo(level="node", target=task.target, num_features=int(data.x.size(1)),
                    out_dim=out_dim(task, td.num_classes, targets), num_nodes=int(data.num_nodes),
                    num_classes=td.num_classes if task.target == "multiclass" else None)


def model_inputs(td: NodeTaskData, device: torch.device):
    """What the model sees: features and structure, never labels or split masks."""
    from gbench.models.contract import ModelInputs

    data = td.data
    return ModelInputs(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes).to(device)


def _require_neighbor_sampler(task_id: str) -> None:
    import torch_geometric.typing as pyg_typing

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        raise GbenchError(
            f"task '{task_id}' trains mini-batch with torch_geometric.loader.NeighborLoader, which needs pyg-lib or "
            "torch-sparse; install one built for your torch and CUDA (see https://pytorch-geometric.readthedocs.io/"
            "en/latest/install/installation.html), or train full-batch where memory allows with --set "
            "train.batch_size=0.")


def run_node(job: Job, opts: RunOptions) -> Outcome:
    refuse_fold(job)
    settings = train_settings(job.task, job.model)
    if settings.batch_size and job.task.protocol.params.get("sampler"):
        _require_neighbor_sampler(job.task.id)  # before a 1.4 GB download, not after
    td: NodeTaskData = load_task_data(job.task, opts.data)
    outcome = _run_node(job, opts, td, settings)
    # Data that differs from its published files (PubMed's rebuilt features) says so in every record it makes.
    if td.info.get("deviation"):
        outcome.extra = {**outcome.extra, "data_deviation": td.info["deviation"]}
    return outcome


def _run_node(job: Job, opts: RunOptions, td: NodeTaskData, settings) -> Outcome:
    task = job.task
    sampler = task.protocol.params.get("sampler")
    split_index, split = td.split_for_seed(job.seed)
    info = node_task_info(td, task)
    device = torch.device(opts.device)
    metrics = task_metrics(task)
    model = build_model(job.model.implementation, info, job.model.hparams)
    inputs = model_inputs(td, device)
    y = td.data.y.to(device)
    y_np = td.data.y.numpy()
    parts_np = reported_parts({k: v.numpy() for k, v in split.parts().items()}, job.selection)
    criterion = loss_fn(task.target)

    if is_fit_predict(model):
        t0 = time.perf_counter()
        train_idx = split.train.to(device)
        model.fit(inputs, y[train_idx], train_idx)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = model.predict(inputs).detach().float().cpu().numpy()
        evaluated = evaluate_splits(metrics, y_np, scores, parts_np)
        return Outcome(metrics=evaluated, selected_epoch=None, epochs_run=0, num_params=None, train_s=train_s,
                       eval_s=time.perf_counter() - t0, split_index=split_index)

    if settings.batch_size and sampler:
        return _run_minibatch(job, opts, td, model, settings, split_index)

    model.to(device)
    train_idx, val_idx = split.train.to(device), split.val.to(device)

    def loss(batch) -> tuple[torch.Tensor, int]:
        # One batch, the whole graph: its loss is the epoch's loss (weight 1).
        out = model(batch)
        return criterion(out[train_idx], y[train_idx]), 1

    val_np = split.val.numpy()
    last: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def evaluate() -> Evaluation:
        # During training only the validation split is scored; the selected epoch's outputs are kept (snapshot)
        # and every split is scored from them once, after the loop.
        model.eval()
        out = model(inputs)
        last["out"] = out
        val_loss = float(criterion(out[val_idx], y[val_idx]))
        val_scores = out[val_idx].float().cpu().numpy()
        return Evaluation({"val": {m.name: m(y_np[val_np], val_scores) for m in metrics}}, val_loss)

    recipe = Recipe(model, batches=lambda epoch: [inputs], loss=loss, evaluate=evaluate,
                    snapshot=lambda: last["out"])
    result = train(recipe, job.model.optim, settings, task, opts.device)
    assert result.best is not None
    t0 = time.perf_counter()
    final = evaluate_splits(metrics, y_np, result.best_snapshot.float().cpu().numpy(), parts_np)
    return Outcome(metrics=final, val_loss=result.best.val_loss, selected_epoch=result.selected_epoch,
                   epochs_run=result.epochs_run, num_params=count_parameters(model), train_s=result.train_s,
                   eval_s=result.eval_s + time.perf_counter() - t0, split_index=split_index,
                   extra={"history": history_columns(result)})


def _run_minibatch(job, opts, td, model, settings, split_index) -> Outcome:
    """Neighbour-sampled training (GraphSAGE-style), full-graph evaluation without gradients."""
    from torch_geometric.loader import NeighborLoader

    task = job.task
    sampler = task.protocol.params["sampler"]
    device = torch.device(opts.device)
    _, split = td.split_for_seed(job.seed)
    metrics = task_metrics(task)
    criterion = loss_fn(task.target)
    data = td.data
    generator = torch.Generator().manual_seed(job.seed)
    loader = NeighborLoader(model_inputs(td, torch.device("cpu")), input_nodes=split.train,
                            num_neighbors=list(sampler["num_neighbors"]), batch_size=settings.batch_size,
                            shuffle=True, generator=generator, num_workers=int(sampler.get("num_workers", 0)))
    model.to(device)
    y_cpu = data.y
    y_np = data.y.numpy()
    parts_np = reported_parts({k: v.numpy() for k, v in split.parts().items()}, job.selection)
    eval_device = torch.device(sampler.get("eval_device", opts.device))

    def loss(batch) -> tuple[torch.Tensor, int]:
        # The sampled subgraph's first `batch_size` nodes are the seeds: the loss is theirs alone.
        batch = batch.to(device)
        out = model(batch)[: batch.batch_size]
        target = y_cpu[batch.n_id[: batch.batch_size]].to(device)
        return criterion(out, target), batch.batch_size

    last: dict[str, torch.Tensor] = {}
    val_np = split.val.numpy()

    @torch.no_grad()
    def evaluate() -> Evaluation:
        model.eval()
        model.to(eval_device)
        out = model(model_inputs(td, eval_device)).float().cpu()
        model.to(device)
        last["out"] = out
        val_loss = float(criterion(out[split.val], y_cpu[split.val]))
        return Evaluation({"val": {m.name: m(y_np[val_np], out[split.val].numpy()) for m in metrics}}, val_loss)

    recipe = Recipe(model, batches=lambda epoch: loader, loss=loss, evaluate=evaluate, snapshot=lambda: last["out"])
    result = train(recipe, job.model.optim, settings, task, opts.device)
    assert result.best is not None
    final = evaluate_splits(metrics, y_np, result.best_snapshot.numpy(), parts_np)
    return Outcome(metrics=final, val_loss=result.best.val_loss, selected_epoch=result.selected_epoch,
                   epochs_run=result.epochs_run, num_params=count_parameters(model), train_s=result.train_s,
                   eval_s=result.eval_s, split_index=split_index,
                   extra={"sampler": {"num_neighbors": list(sampler["num_neighbors"]),
                                      "batch_size": settings.batch_size},
                          "history": history_columns(result)})
