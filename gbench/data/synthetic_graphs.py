"""A generated graph-classification task that needs no download: coloured random graphs whose label depends on
which colours the edges join, so a model must read the edges (the structure-agnostic baseline sees only how many
nodes of each colour there are, which tells it a little but not enough).

Each graph: n ~ U{min_nodes..max_nodes} nodes, an Erdős-Rényi graph with edge probability avg_degree / (n - 1),
every node coloured uniformly at random from `colours` colours (x = one-hot colour). Its score is the fraction of
its edges that join colour 0 to colour 1; label 1 when the score is above the median score of the dataset (so the
classes are balanced up to ties at the median), else 0. Graphs without edges are redrawn. The dataset is a pure
function of its parameters (numpy PCG64, `seed`) and cached by their content hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cached_tensors
from gbench.errors import SpecError
from gbench.hashing import stable_hash
from gbench.specs import TaskSpec

MOTIF_DEFAULTS: dict[str, Any] = {"num_graphs": 400, "min_nodes": 8, "max_nodes": 20, "avg_degree": 3.0,
                                  "colours": 3, "seed": 0}
SPLIT_PARAMS = {"train", "val", "num_splits", "seed"}


def generate_colour_motifs(num_graphs: int, min_nodes: int, max_nodes: int, avg_degree: float, colours: int,
                           seed: int) -> dict[str, torch.Tensor]:
    """Concatenated tensors: x [N, colours] float32, edge_index [2, E] (per-graph node ids, both directions),
    num_nodes [G], num_edges [G], y [G] int64."""
    rng = np.random.default_rng(seed)
    xs, eis, n_nodes, n_edges, scores = [], [], [], [], []
    while len(n_nodes) < num_graphs:
        n = int(rng.integers(min_nodes, max_nodes + 1))
        p = min(1.0, avg_degree / (n - 1))
        upper = np.triu(rng.random((n, n)) < p, k=1)
        src, dst = np.nonzero(upper)
        if src.size == 0:
            continue
        colour = rng.integers(0, colours, n)
        joins = ((colour[src] == 0) & (colour[dst] == 1)) | ((colour[src] == 1) & (colour[dst] == 0))
        scores.append(joins.mean())
        xs.append(np.eye(colours, dtype=np.float32)[colour])
        eis.append(np.concatenate([np.stack([src, dst]), np.stack([dst, src])], axis=1))
        n_nodes.append(n)
        n_edges.append(2 * src.size)
    scores_np = np.asarray(scores)
    y = (scores_np > np.median(scores_np)).astype(np.int64)
    return {"x": torch.from_numpy(np.concatenate(xs)), "edge_index": torch.from_numpy(np.concatenate(eis, axis=1)),
            "num_nodes": torch.tensor(n_nodes), "num_edges": torch.tensor(n_edges), "y": torch.from_numpy(y)}


def stratified_random_splits(y: np.ndarray, params: dict[str, Any], where: str) -> list[dict[str, torch.Tensor]]:
    """`num_splits` stratified train/val/test splits (fractions `train`, `val`; the rest is test), split s drawn
    with scikit-learn's train_test_split(random_state=seed + s)."""
    from sklearn.model_selection import train_test_split

    unknown = set(params) - SPLIT_PARAMS
    if unknown:
        raise SpecError(f"{where}: split.params has unknown field(s) {sorted(unknown)}; allowed: "
                        f"{', '.join(sorted(SPLIT_PARAMS))}.")
    train, val = float(params.get("train", 0.6)), float(params.get("val", 0.2))
    if not (0 < train and 0 < val and train + val < 1):
        raise SpecError(f"{where}: split.params train and val must be positive fractions summing below 1.")
    index = np.arange(len(y))
    out = []
    for s in range(int(params.get("num_splits", 1))):
        rs = int(params.get("seed", 0)) + s
        tr, rest = train_test_split(index, train_size=train, random_state=rs, stratify=y)
        va, te = train_test_split(rest, train_size=val / (1 - train), random_state=rs, stratify=y[rest])
        out.append({k: torch.from_numpy(np.sort(v)) for k, v in (("train", tr), ("val", va), ("test", te))})
    return out


def load_colour_motifs(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    from torch_geometric.data import Data

    unknown = set(task.dataset.params) - set(MOTIF_DEFAULTS)
    if unknown:
        raise SpecError(f"task '{task.id}': dataset.params has unknown field(s) {sorted(unknown)} for source "
                        f"'graph-motifs'; allowed: {', '.join(MOTIF_DEFAULTS)}.")
    p = {**MOTIF_DEFAULTS, **task.dataset.params}
    if p["min_nodes"] < 2 or p["max_nodes"] < p["min_nodes"] or p["colours"] < 2:
        raise SpecError(f"task '{task.id}': dataset.params need 2 <= min_nodes <= max_nodes and colours >= 2.")
    if task.split.kind not in ("random", "generated"):
        raise SpecError(f"task '{task.id}': split.kind must be 'random' for source 'graph-motifs'.")
    key = stable_hash({"generator": "colour-motifs-v1", **p})[:20]
    folder = ctx.cache_dir / "generated"
    path = folder / f"colour-motifs-{key}.pt"
    t = cached_tensors(path, lambda: generate_colour_motifs(**p))
    node_off = np.concatenate([[0], np.cumsum(t["num_nodes"].numpy())])
    edge_off = np.concatenate([[0], np.cumsum(t["num_edges"].numpy())])
    graphs = [Data(x=t["x"][node_off[g]:node_off[g + 1]], edge_index=t["edge_index"][:, edge_off[g]:edge_off[g + 1]],
                   num_nodes=int(node_off[g + 1] - node_off[g])) for g in range(len(t["y"]))]
    splits = stratified_random_splits(t["y"].numpy(), dict(task.split.params), f"task '{task.id}'")
    return GraphTaskData(graphs=graphs, y=t["y"], splits=splits, num_classes=2,
                         info={"generator": "colour-motifs-v1", "content_hash": key, "num_graphs": len(graphs)})
