"""Parameter budgets: how many parameters a model has on a task, and the width that lands at or just under a budget.

Benchmarking-gnns and LRGB compare models at a fixed parameter budget (100k, 500k) instead of a fixed width. The
model is built exactly as its level's runner builds it (the same TaskInfo, after the model's transforms), on the
CPU, with torch's random state restored afterwards so that counting does not change what a later job draws. The
count is `gbench.models.contract.count_parameters`, the one a record's `num_params` holds.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

import torch

from gbench.errors import GbenchError
from gbench.hashing import stable_hash
from gbench.models.contract import TaskInfo, build_model, count_parameters

if TYPE_CHECKING:
    from gbench.data.staging import DataContext
    from gbench.specs import ResolvedModel, TaskSpec

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}
_LARGEST_WIDTH = 1 << 24  # doubling stops here: a width this large that still fits means it sets no parameters
_info_cache: dict[str, TaskInfo] = {}
_lock = threading.Lock()


def parse_budget(text: str) -> int:
    """'100k' -> 100000, '1.5m' -> 1500000, '250000' -> 250000 (suffixes k and m, either case)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(text))
    value = float(match.group(1)) * _SUFFIX[match.group(2).lower()] if match else 0.0
    if not match or value < 1 or value != int(value):
        raise GbenchError(f"parameter budget '{text}' is not a positive whole number of parameters; write it as "
                          "e.g. 100k, 500k, 1.5m or 250000.")
    return int(value)


def _task_info(task: TaskSpec, model: ResolvedModel, data: DataContext) -> TaskInfo:
    """The TaskInfo the level's runner builds `model` with, cached per (task, transforms, data context)."""
    key = stable_hash({"task": task.identity(), "transforms": list(model.transforms), "root": str(data.data_root),
                       "cache": str(data.cache_dir)})
    with _lock:
        hit = _info_cache.get(key)
    if hit is not None:
        return hit
    if task.level == "graph":
        from gbench.train.graph import graph_inputs

        info = graph_inputs(task, model, data)[2]
    elif task.level == "node":
        from gbench.data import load_task_data
        from gbench.train.node import node_task_info

        info = node_task_info(load_task_data(task, data), task)
    elif task.level == "link":
        from gbench.data import load_task_data
        from gbench.data.link import split_for_seed
        from gbench.train.link import link_task_info

        # the shapes are the same on every split: seed 0's, which a sweep of that task loads and caches anyway
        info = link_task_info(load_task_data(split_for_seed(task, 0), data), task)
    else:
        raise GbenchError(f"task '{task.id}' is a {task.level}-level task; parameter budgets apply to node, graph "
                          "and link tasks.")
    with _lock:
        _info_cache[key] = info
    return info


def _count(task: TaskSpec, model: ResolvedModel, data: DataContext, hparams: dict) -> int:
    info = _task_info(task, model, data)
    with torch.random.fork_rng(devices=[]):  # initialising the weights draws from torch's generator
        built = build_model(model.implementation, info, hparams)
    return count_parameters(built) or 0


def count_params(task: TaskSpec, model: ResolvedModel, data: DataContext) -> int:
    """The number of parameters of `model` (with its own hyperparameters) built for `task`; 0 for a model that
    is not a torch module (fit/predict models)."""
    return _count(task, model, data, dict(model.hparams))


def solve_width(task: TaskSpec, model: ResolvedModel, width: str, budget: int, data: DataContext
                ) -> tuple[int, int]:
    """(w, count): the largest value w of the integer hyperparameter `width` at which the model has at most
    `budget` parameters, and its parameter count there. A binary search, assuming the count grows with the width."""
    current = model.hparams.get(width)
    if isinstance(current, bool) or not isinstance(current, int):
        ints = sorted(k for k, v in model.hparams.items() if isinstance(v, int) and not isinstance(v, bool))
        raise GbenchError(f"model '{model.name}': '{width}' is not an integer hyperparameter of the model (its "
                          f"integer hyperparameters: {', '.join(ints) or 'none'}); name the one that sets its width.")

    def count(w: int) -> int:
        return _count(task, model, data, {**model.hparams, width: w})

    low_count = count(1)
    if low_count == 0:
        raise GbenchError(f"model '{model.name}' has no trainable parameters on task '{task.id}', so no width meets "
                          "a parameter budget; run it without one.")
    if low_count > budget:
        raise GbenchError(f"model '{model.name}' on task '{task.id}' has {low_count} parameters even at {width}=1, "
                          f"over the budget of {budget}; raise the budget or make the model's other "
                          "hyperparameters smaller.")
    low, high = 1, 2
    high_count = count(high)
    while high_count <= budget:  # double until over the budget: the answer lies in [low, high)
        if high >= _LARGEST_WIDTH:
            raise GbenchError(f"model '{model.name}' on task '{task.id}' has {high_count} parameters at "
                              f"{width}={high}, still within the budget of {budget}: '{width}' does not set the "
                              "model's width; name the hyperparameter that does.")
        low, low_count, high = high, high_count, high * 2
        high_count = count(high)
    while high - low > 1:
        mid = (low + high) // 2
        mid_count = count(mid)
        if mid_count <= budget:
            low, low_count = mid, mid_count
        else:
            high = mid
    return low, low_count
