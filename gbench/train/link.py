"""Link-level runner: positive training edges in seeded mini-batches against seeded negative samples, early stopping
on the validation ranking metric, every other split scored once from the selected epoch's parameters.

What a model sees: `data` with `x` (when the dataset has node features), `edge_index` and `num_nodes`, where
`edge_index` is the message-passing graph the protocol allows for the split at hand (`LinkTaskData.graphs`):
the training edges, plus the validation edges for the test split only where the task sets
`split.params.use_valedges_as_input` (ogbl-collab). Validation and test pairs are only ever passed to `score`.

Training negatives: for every batch of B positive edges, B * `negatives.ratio` pairs from
`torch_geometric.utils.negative_sampling(train graph, method=negatives.method)`, with Python's `random` (which that
function draws from) seeded from (job seed, epoch, batch) and restored afterwards, so the negatives are a pure
function of the seed and never depend on what else consumed randomness. The method is written into the record.

Models that do not train by gradient implement `fit(data, train_pos [2, E]) -> self` and
`predict(data, pairs [2, P]) -> Tensor[P]` (higher is more likely an edge); `predict` is called with each split's
allowed graph.

A tuning trial (`Job.selection`) scores the validation split alone: the test pairs are never scored or read, and the
test split's graph is never built.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from gbench.data import load_task_data
from gbench.data.link import LinkTaskData, split_for_seed
from gbench.errors import SpecError
from gbench.models.contract import ModelInputs, TaskInfo, build_model, count_parameters, is_fit_predict
from gbench.train.base import Outcome, refuse_fold, reported_parts, task_metrics, train_settings
from gbench.train.loop import Evaluation, Recipe, train

if TYPE_CHECKING:
    from gbench.job import Job, RunOptions

DEFAULT_BATCH_SIZE = 65536
DEFAULT_EVAL_BATCH_SIZE = 65536
_PARAMS = {"negatives", "eval_batch_size"}


def link_task_info(td: LinkTaskData, task) -> TaskInfo:
    return TaskInfo(level="link", target=task.target, num_features=td.num_features, out_dim=1,
                    num_nodes=td.num_nodes, extras={"has_node_features": td.x is not None})


def model_inputs(td: LinkTaskData, split: str, device: torch.device, edge_index: torch.Tensor | None = None):
    """What the model sees when `split` is trained or scored: features, that split's allowed graph, node count."""
    ei = td.graphs[split] if edge_index is None else edge_index
    kwargs: dict[str, Any] = {"edge_index": ei.to(device), "num_nodes": td.num_nodes}
    if td.x is not None:
        kwargs["x"] = td.x.to(device)
    return ModelInputs(**kwargs)


def negative_settings(task) -> dict[str, Any]:
    params = task.protocol.params
    unknown = set(params) - _PARAMS
    if unknown:
        raise SpecError(f"task '{task.id}': protocol.params has unknown field(s) {sorted(unknown)} for a link task; "
                        f"allowed: {', '.join(sorted(_PARAMS))}.")
    neg = {"method": "sparse", "ratio": 1, **params.get("negatives", {})}
    if neg["method"] not in ("sparse", "dense") or set(neg) - {"method", "ratio"}:
        raise SpecError(f"task '{task.id}': protocol.params.negatives takes method (sparse or dense) and ratio.")
    return neg


def _derived_seed(*parts: int) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def sample_training_negatives(graph: torch.Tensor, num_nodes: int, count: int, method: str, seed: int, epoch: int,
                              batch: int) -> torch.Tensor:
    """[2, count] node pairs that are not edges of `graph`, a pure function of (seed, epoch, batch)."""
    from torch_geometric.utils import negative_sampling

    state = random.getstate()
    try:
        random.seed(_derived_seed(seed, epoch, batch))
        return negative_sampling(graph, num_nodes=num_nodes, num_neg_samples=count, method=method)
    finally:
        random.setstate(state)


def remove_pairs(graph: torch.Tensor, pairs: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """`graph` without the edges in `pairs`, in either direction."""
    key = torch.minimum(graph[0], graph[1]) * num_nodes + torch.maximum(graph[0], graph[1])
    drop = torch.minimum(pairs[0], pairs[1]) * num_nodes + torch.maximum(pairs[0], pairs[1])
    return graph[:, ~torch.isin(key, drop)]


def ranking_metrics(metrics, pos: np.ndarray, neg: np.ndarray, neg_per_pos: int | None) -> dict[str, float]:
    """Ranking metrics (ogb.Evaluator hits@K / mrr) on positive and negative scores; label metrics (ROC-AUC) on
    positives labelled 1 and negatives labelled 0."""
    out = {}
    for m in metrics:
        if m.kind == "ranking":
            out[m.name] = m.ranking(pos, neg.reshape(-1, neg_per_pos) if neg_per_pos else neg)
        else:
            y = np.concatenate([np.ones(pos.shape[0]), np.zeros(neg.shape[0])])
            out[m.name] = m(y, np.concatenate([pos, neg]))
    return out


def run_link(job: Job, opts: RunOptions) -> Outcome:
    task = job.task
    refuse_fold(job)
    td: LinkTaskData = load_task_data(split_for_seed(task, job.seed), opts.data)
    info = link_task_info(td, task)
    device = torch.device(opts.device)
    metrics = task_metrics(task)
    negatives = negative_settings(task)
    eval_bs = int(task.protocol.params.get("eval_batch_size", DEFAULT_EVAL_BATCH_SIZE))
    model = build_model(job.model.implementation, info, job.model.hparams)
    # A tuning trial (`Job.selection`) scores the validation split alone and never reads the test pairs.
    scored = list(reported_parts({"val": None, "test": None}, job.selection))
    inputs = {split: model_inputs(td, split, device) for split in ("train", *scored)}
    extra: dict[str, Any] = {"message_passing": td.info.get("message_passing"), "split_seed": td.split_seed,
                             "use_valedges_as_input": td.info.get("use_valedges_as_input", False),
                             "eval_negatives": td.info.get("negatives", "seeded random non-edges (split seed)")}
    if td.info.get("deviation"):  # data that differs from its source (PubMed's rebuilt features) says so
        extra["data_deviation"] = td.info["deviation"]

    if is_fit_predict(model):
        t0 = time.perf_counter()
        model.fit(inputs["train"], td.train_pos.to(device))
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluated = {}
        for split in scored:
            pos = _as_numpy(model.predict(inputs[split], td.pos[split].to(device)))
            neg = _as_numpy(model.predict(inputs[split], td.neg[split].to(device)))
            evaluated[split] = ranking_metrics(metrics, pos, neg, td.neg_per_pos)
        return Outcome(metrics=evaluated, epochs_run=0, train_s=train_s, eval_s=time.perf_counter() - t0,
                       extra=extra)

    for name in ("encode", "score"):
        if not callable(getattr(model, name, None)):
            raise SpecError(f"model '{job.model.name}' has no {name}() method; a link-level model implements "
                            "encode(data) -> z and score(z, pairs, data) -> logits, or fit()/predict().")
    if task.protocol.monitor != "val_metric":
        raise SpecError(f"task '{task.id}': link tasks select on the validation metric; set protocol.monitor: "
                        "val_metric.")
    settings = train_settings(task, job.model)
    batch_size = settings.batch_size or DEFAULT_BATCH_SIZE
    mask_targets = bool(getattr(model, "mask_target_edges", False))
    model.to(device)
    train_pos = td.train_pos.to(device)
    train_graph = inputs["train"].edge_index
    generator = torch.Generator().manual_seed(job.seed)
    ratio = negatives["ratio"]

    def batches(epoch: int):
        """(epoch, batch number, positive pairs [2, B], the graph the model sees) per batch of the epoch."""
        perm = torch.randperm(train_pos.size(1), generator=generator).to(device)
        for b, start in enumerate(range(0, perm.numel(), batch_size)):
            pos_pairs = train_pos[:, perm[start: start + batch_size]]
            data = inputs["train"]
            if mask_targets:
                data = model_inputs(td, "train", device, remove_pairs(train_graph, pos_pairs, td.num_nodes))
            yield epoch, b, pos_pairs, data

    def loss(batch) -> tuple[torch.Tensor, int]:
        epoch, b, pos_pairs, data = batch
        z = model.encode(data)
        pos_out = model.score(z, pos_pairs, data)
        neg_pairs = sample_training_negatives(train_graph, td.num_nodes, int(ratio * pos_pairs.size(1)),
                                              negatives["method"], job.seed, epoch, b).to(device)
        neg_out = model.score(z, neg_pairs, data)
        value = (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                 + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        return value, pos_pairs.size(1)

    @torch.no_grad()
    def score_split(split: str) -> dict[str, float]:
        model.eval()
        data = inputs[split]
        z = model.encode(data)
        pos = _score_chunks(model, z, td.pos[split].to(device), data, eval_bs)
        neg = _score_chunks(model, z, td.neg[split].to(device), data, eval_bs)
        return ranking_metrics(metrics, pos, neg, td.neg_per_pos)

    def evaluate() -> Evaluation:
        return Evaluation({"val": score_split("val")})

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    result = train(Recipe(model, batches, loss, evaluate, snapshot), job.model.optim, settings, task, opts.device)
    assert result.best is not None
    t0 = time.perf_counter()
    model.load_state_dict(result.best_snapshot)
    final = {"val": result.best.metrics["val"], **{split: score_split(split) for split in scored if split != "val"}}
    extra.update({"train_negatives": {"function": "torch_geometric.utils.negative_sampling", **negatives,
                                      "seeding": "python random seeded from sha256(seed, epoch, batch)",
                                      "excludes": "training graph edges"},
                  "batch_size": batch_size, "mask_target_edges": mask_targets,
                  "val_history": [[epoch, val] for epoch, val, _ in result.history]})
    return Outcome(metrics=final, selected_epoch=result.selected_epoch, epochs_run=result.epochs_run,
                   num_params=count_parameters(model), train_s=result.train_s,
                   eval_s=result.eval_s + time.perf_counter() - t0, extra=extra)


def _as_numpy(scores) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        return scores.detach().double().cpu().numpy().reshape(-1)  # float64: heuristics' exact ties survive
    return np.asarray(scores, dtype=float).reshape(-1)


def _score_chunks(model, z: torch.Tensor, pairs: torch.Tensor, data, chunk: int) -> np.ndarray:
    outs = [model.score(z, pairs[:, s: s + chunk], data).float().cpu() for s in range(0, pairs.size(1), chunk)]
    return torch.cat(outs).numpy() if outs else np.empty(0)
