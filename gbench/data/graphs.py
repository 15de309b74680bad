"""The data of a graph-level task: many small graphs, their labels, and one or more splits.

Labels are kept apart from the graphs, so a model's batch never carries them. A split maps split names ('train',
'val', 'test', or scale splits such as 'test_near_ood') to graph indices; a task has one split (official, or one per
seed), or one per fold for k-fold protocols, where a job runs every fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch_geometric.data import Data


@dataclass
class GraphTaskData:
    """`graphs[i]` holds x ([n_i, F] float, or [n_i, F] int64 for categorical features such as OGB atoms),
    edge_index and optional edge_attr; `y[i]` is its label ([G] class ids, or [G, T] for multi-task/regression,
    NaN where unlabelled). `splits` lists split dicts name -> int64 graph indices.

    `feature_kind` is 'float' (x is used as is) or 'categorical' (x holds category ids, e.g. OGB atom features:
    models embed them; `info.extras['categorical_features']` says so). `edge_kind` likewise for edge_attr.
    """

    graphs: list[Data]
    y: torch.Tensor
    splits: list[dict[str, torch.Tensor]]
    num_classes: int
    feature_kind: str = "float"
    edge_kind: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    per_fold: bool = False  # True: a job runs every entry of `splits` (k-fold); False: seed s uses s mod len

    @property
    def num_features(self) -> int:
        x = self.graphs[0].x
        return 0 if x is None else int(x.size(1))

    @property
    def edge_dim(self) -> int | None:
        ea = getattr(self.graphs[0], "edge_attr", None)
        return None if ea is None else int(ea.size(1)) if ea.dim() == 2 else 1

    def to_tensors(self) -> dict[str, Any]:
        """Plain tensors and JSON text only (for `torch.load(weights_only=True)`); see `pack_graphs`."""
        import json

        return {"graphs": pack_graphs(self.graphs), "y": self.y, "splits": [dict(s) for s in self.splits],
                "num_classes": self.num_classes, "feature_kind": self.feature_kind, "edge_kind": self.edge_kind,
                "info": json.dumps(self.info), "per_fold": self.per_fold}

    @classmethod
    def from_tensors(cls, blob: dict[str, Any]) -> GraphTaskData:
        import json

        return cls(graphs=unpack_graphs(blob["graphs"]), y=blob["y"], splits=blob["splits"],
                   num_classes=int(blob["num_classes"]), feature_kind=blob["feature_kind"],
                   edge_kind=blob["edge_kind"], info=json.loads(blob["info"]), per_fold=bool(blob["per_fold"]))

    def splits_for_seed(self, seed: int) -> list[tuple[int, dict[str, torch.Tensor]]]:
        """The (index, split) pairs a job with this seed runs."""
        if self.per_fold:
            return list(enumerate(self.splits))
        index = seed % len(self.splits)
        return [(index, self.splits[index])]


def strip_labels(data: Data) -> Data:
    """A copy of a graph holding only model inputs (no y, no masks), as `ModelInputs`."""
    from gbench.data.inputs import ModelInputs

    keep = {k: v for k, v in data.to_dict().items() if k not in ("y", "train_mask", "val_mask", "test_mask")}
    return ModelInputs(**keep)


def pack_graphs(graphs: list[Data]) -> dict[str, Any]:
    """Many small graphs as a few tensors: each attribute concatenated along the dimension PyG batches it on
    (edge_index: the last; node and edge attributes: the first), with every graph's size along it, and the node
    counts. Raises ValueError when the graphs do not share their attributes or one is not a tensor."""
    keys = sorted(k for k in graphs[0].keys() if k != "num_nodes")
    packed: dict[str, Any] = {"num_nodes": torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.int64),
                              "attrs": {}}
    for key in keys:
        values = [g[key] if key in g else None for g in graphs]
        if not all(isinstance(v, torch.Tensor) for v in values):
            raise ValueError(f"graph attribute '{key}' is not a tensor in every graph")
        dim = graphs[0].__cat_dim__(key, values[0])
        dim = dim if dim >= 0 else values[0].dim() + dim
        packed["attrs"][key] = {"cat": torch.cat(values, dim=dim), "dim": dim,
                                "sizes": torch.tensor([v.size(dim) for v in values], dtype=torch.int64)}
    return packed


def unpack_graphs(packed: dict[str, Any]) -> list[Data]:
    """The inverse of `pack_graphs`: equal graphs, in the same order (attributes are views of the packed tensors)."""
    from torch_geometric.data import Data

    num_nodes = packed["num_nodes"].tolist()
    columns = {}
    for key, entry in packed["attrs"].items():
        columns[key] = torch.split(entry["cat"], entry["sizes"].tolist(), dim=entry["dim"])
    return [Data(num_nodes=n, **{key: parts[i] for key, parts in columns.items()}) for i, n in enumerate(num_nodes)]
