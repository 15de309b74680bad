"""Node-level task data: one graph, its labels and its official (or generated) splits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch_geometric.data import Data


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

    def to_tensors(self) -> dict[str, Any]:
        """Plain tensors and JSON text only, so the cache file loads with `torch.load(weights_only=True)`."""
        return {"data": {k: v for k, v in self.data.to_dict().items() if isinstance(v, torch.Tensor)},
                "num_nodes": int(self.data.num_nodes),
                "splits": [[s.train, s.val, s.test] for s in self.splits], "num_classes": self.num_classes,
                "info": json.dumps(self.info)}

    @classmethod
    def from_tensors(cls, blob: dict[str, Any]) -> NodeTaskData:
        from torch_geometric.data import Data

        return cls(data=Data(**blob["data"], num_nodes=blob["num_nodes"]),
                   splits=[NodeSplit(*parts) for parts in blob["splits"]], num_classes=int(blob["num_classes"]),
                   info=json.loads(blob["info"]))
