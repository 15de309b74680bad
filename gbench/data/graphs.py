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

    def splits_for_seed(self, seed: int) -> list[tuple[int, dict[str, torch.Tensor]]]:
        """The (index, split) pairs a job with this seed runs."""
        if self.per_fold:
            return list(enumerate(self.splits))
        index = seed % len(self.splits)
        return [(index, self.splits[index])]


def strip_labels(data: Data) -> Data:
    """A copy of a graph holding only model inputs (no y, no masks), as `ModelInputs`."""
    from gbench.models.contract import ModelInputs

    keep = {k: v for k, v in data.to_dict().items() if k not in ("y", "train_mask", "val_mask", "test_mask")}
    return ModelInputs(**keep)
