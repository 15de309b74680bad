"""TU graph-classification datasets (Morris et al., 2020) and CSL, through PyG's own dataset classes, with the
k-fold protocol of Errica et al. (ICLR 2020) generated from the task's seed (`gbench.data.folds`).

Node features (`dataset.params.node_features`):
- `labels`: the one-hot node labels PyG reads (`TUDataset(use_node_attr=False)`), as Errica et al.'s CHEMICAL sets;
- `labels+attributes`: continuous node attributes and one-hot labels (`use_node_attr=True`): ENZYMES' 18 + 3, the
  21 features of Errica et al.'s ENZYMES;
- `degree`: one scalar per node, its degree (unnormalised): Errica et al.'s SOCIAL_DEGREE preparation
  (`PrepareDatasets.py --use-degree`, `Graph.get_x(use_node_degree=True)`), the one behind their IMDB numbers;
- `one`: a constant 1 per node (their SOCIAL_1 preparation).

`drop_trivial: true` keeps only graphs with more than one node and at least one edge, as Errica et al.'s
`TUDatasetManager._process` does before drawing folds; how many were dropped is recorded in the task info.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gbench.data.folds import FOLDS_VERSION, fold_fingerprint, splits_from_spec
from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cache_lock, copy_raw_tree, staged_pyg_dataset, unavailable
from gbench.errors import SpecError
from gbench.specs import TaskSpec

NODE_FEATURES = ("labels", "labels+attributes", "degree", "one")
TU_PARAMS = {"node_features", "drop_trivial"}
TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"


def _need_name(task: TaskSpec) -> str:
    if not task.dataset.name:
        raise SpecError(f"task '{task.id}': dataset.name is required for source '{task.dataset.source}' "
                        "(e.g. name: PROTEINS).")
    return task.dataset.name


def _stage_tu(name: str, ctx: DataContext, use_node_attr: bool):
    """`TUDataset(root=<cache>/datasets/TU, name=name)` with every raw file of the data root's `TU/<name>/raw/`
    copied in first: PyG reads whichever optional files (node labels, attributes, edge labels) it finds there, so
    the whole folder is staged, not just the two files PyG lists as required."""
    from torch_geometric.datasets import TUDataset

    cache_root = ctx.cache_dir / "datasets" / "TU"
    src = ctx.data_root / "TU" / name if ctx.data_root else None
    with cache_lock(cache_root):
        if src is not None and (src / "raw").is_dir():
            copy_raw_tree(src, cache_root / name)
        elif ctx.offline and not (cache_root / name / "raw").is_dir():
            expected = [(src or Path("<data root>") / "TU" / name) / "raw" / f"{name}_{part}.txt"
                        for part in ("A", "graph_indicator", "graph_labels")]
            raise unavailable(f"TUDataset({name})", expected, ctx,
                              hint=f" (the files of {TU_URL.format(name=name)})")
        try:
            return staged_pyg_dataset(TUDataset, ctx, "TU", name=name, use_node_attr=use_node_attr)
        except Exception as e:
            if isinstance(e, SpecError) or type(e).__name__ == "DatasetUnavailable":
                raise
            expected = [(src or Path("<data root>") / "TU" / name) / "raw" / f"{name}_A.txt"]
            raise unavailable(f"TUDataset({name})", expected, ctx, e) from e


def _features(graph, kind: str, name: str):
    from torch_geometric.utils import degree

    if kind == "degree":
        return degree(graph.edge_index[0], graph.num_nodes).view(-1, 1)
    if kind == "one":
        return torch.ones(graph.num_nodes, 1)
    if graph.x is None:
        raise SpecError(f"TU dataset {name} has no node labels; use dataset.params.node_features: degree or one.")
    return graph.x.float()


def load_tu(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """A TU dataset with k-fold splits (`split.kind: kfold`, see `gbench.data.folds`)."""
    from torch_geometric.data import Data

    name = _need_name(task)
    params: dict[str, Any] = dict(task.dataset.params)
    unknown = set(params) - TU_PARAMS
    if unknown:
        raise SpecError(f"task '{task.id}': dataset.params has unknown field(s) {sorted(unknown)} for source 'tu'; "
                        f"allowed: {', '.join(sorted(TU_PARAMS))}.")
    kind = params.get("node_features", "labels")
    if kind not in NODE_FEATURES:
        raise SpecError(f"task '{task.id}': dataset.params.node_features must be one of {', '.join(NODE_FEATURES)}, "
                        f"got {kind!r}.")
    if task.split.kind != "kfold":
        raise SpecError(f"task '{task.id}': split.kind must be 'kfold' for source 'tu' (Errica et al.'s protocol).")
    ds = _stage_tu(name, ctx, use_node_attr=kind == "labels+attributes")
    graphs, labels, dropped = [], [], 0
    for g in ds:
        if params.get("drop_trivial", False) and (g.num_nodes <= 1 or g.edge_index.size(1) == 0):
            dropped += 1
            continue
        graphs.append(Data(x=_features(g, kind, name), edge_index=g.edge_index, num_nodes=g.num_nodes))
        labels.append(int(g.y))
    y = torch.tensor(labels, dtype=torch.long)
    splits = splits_from_spec(task, y.numpy())
    info = {"loader": f"torch_geometric.datasets.TUDataset(name='{name}', use_node_attr={kind == 'labels+attributes'})",
            "num_graphs": len(graphs), "dropped_trivial_graphs": dropped, "node_features": kind,
            "folds": FOLDS_VERSION, "fold_sha256": fold_fingerprint(splits)}
    return GraphTaskData(graphs=graphs, y=y, splits=splits, num_classes=int(y.max()) + 1, info=info, per_fold=True)


def load_csl(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """Circular skip-link graphs (Murphy et al., ICML 2019): 150 4-regular graphs of 41 nodes in 10 isomorphism
    classes, `GNNBenchmarkDataset(name='CSL')`. Benchmarking-gnns (Dwivedi et al.) evaluate it by stratified 5-fold
    CV with a stratified validation part of each training part (90/30/30 graphs); the graphs have no features, so
    every node starts from the same vector (1-WL models are at chance without positional encodings)."""
    from torch_geometric.data import Data
    from torch_geometric.datasets import GNNBenchmarkDataset

    if task.split.kind != "kfold":
        raise SpecError(f"task '{task.id}': split.kind must be 'kfold' for source 'csl'.")
    if task.dataset.params:
        raise SpecError(f"task '{task.id}': source 'csl' takes no dataset.params.")
    with cache_lock(ctx.cache_dir / "datasets" / "GNNBenchmarkDataset"):
        ds = staged_pyg_dataset(GNNBenchmarkDataset, ctx, "GNNBenchmarkDataset", name="CSL", split="train")
    graphs = [Data(x=torch.ones(g.num_nodes, 1), edge_index=g.edge_index, num_nodes=g.num_nodes) for g in ds]
    y = torch.tensor([int(g.y) for g in ds], dtype=torch.long)
    splits = splits_from_spec(task, y.numpy())
    info = {"loader": "torch_geometric.datasets.GNNBenchmarkDataset(name='CSL')", "num_graphs": len(graphs),
            "folds": FOLDS_VERSION, "fold_sha256": fold_fingerprint(splits)}
    return GraphTaskData(graphs=graphs, y=y, splits=splits, num_classes=int(y.max()) + 1, info=info, per_fold=True)

