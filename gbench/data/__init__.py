"""Data sources. Each source is one module; a task spec's `dataset.source` names its loader here.

A loader is `load(task: TaskSpec, ctx: DataContext) -> <Level>TaskData`; loaders know nothing about models.
Entries are lazy `module:function` strings (as in lm-evaluation-harness's registry) so that importing gbench
stays cheap and a source's optional dependencies are only needed when it is used.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gbench.data.staging import DataContext
from gbench.errors import SpecError

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import Data

    from gbench.specs import TaskSpec

SOURCES: dict[str, str] = {
    "planetoid": "gbench.data.pyg_node:load_planetoid",
    "webkb": "gbench.data.pyg_node:load_webkb",
    "heterophilous": "gbench.data.pyg_node:load_heterophilous",
    "heterophilous-npz": "gbench.data.pyg_node:load_heterophilous_npz",
    "pyg-node": "gbench.data.pyg_node:load_any_pyg",
    "ogb-node": "gbench.data.ogb_node:load_ogb_node",
    "sbm": "gbench.data.synthetic:load_sbm",
}


@dataclass
class NodeSplit:
    """Index tensors (int64, sorted) of the nodes in each part of one split."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    def parts(self) -> dict[str, torch.Tensor]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass
class NodeTaskData:
    """One graph and its splits. `data` holds x [N, F] (float), edge_index [2, E] and y ([N] class ids, or
    [N, T] for multi-label / regression). `splits` has one entry per official split; seed s uses s mod len."""

    data: Data
    splits: list[NodeSplit]
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)

    def split_for_seed(self, seed: int) -> tuple[int, NodeSplit]:
        index = seed % len(self.splits)
        return index, self.splits[index]


_cache: dict[str, Any] = {}
_lock = threading.Lock()


def register_source(name: str, target: str) -> None:
    """Add a data source (`module:function`); a plug-in's way in."""
    SOURCES[name] = target


def _resolve(source: str):
    if source not in SOURCES:
        raise SpecError(f"dataset.source '{source}' is not a known data source; known: {', '.join(sorted(SOURCES))}.")
    module, attr = SOURCES[source].split(":")
    return getattr(importlib.import_module(module), attr)


def load_task_data(task: TaskSpec, ctx: DataContext):
    """Load (once per process) the data of a task; later calls with the same spec and context reuse it."""
    from gbench.specs import stable_hash

    key = stable_hash({"dataset": task.dataset.model_dump(mode="json"), "split": task.split.model_dump(mode="json"),
                       "level": task.level, "root": str(ctx.data_root), "cache": str(ctx.cache_dir)})
    with _lock:
        if key not in _cache:
            _cache[key] = _resolve(task.dataset.source)(task, ctx)
        return _cache[key]


def clear_memory_cache() -> None:
    with _lock:
        _cache.clear()
