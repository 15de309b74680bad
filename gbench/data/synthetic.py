"""Generated node-classification graphs: a degree-corrected stochastic block model, GraphWorld-style.

Palowitch et al., "GraphWorld: Fake Graphs Bring Real Insights for GNNs" (KDD 2022) sweep SBM graphs over
homophily, degree and feature signal. This generator draws every edge in O(1), so 10^6-node graphs take seconds:

- labels: `num_nodes` nodes in `num_classes` equal-sized classes (shuffled);
- degrees: node weights theta ~ Pareto(`degree_exponent` - 1) + 1 (heavy tail) or all 1 (`degree_exponent: null`);
- edges: `num_nodes * avg_degree / 2` draws; each picks a source with probability proportional to theta, is
  intra-class with probability `homophily`, and picks its target proportionally to theta inside the source's class
  (or inside a uniformly chosen other class); self-loops and duplicates are dropped and the graph made undirected,
  so the realised edge homophily is close to, not exactly, `homophily` (it is recorded);
- features: class centres ~ N(0, I) * `feature_signal`, node features = centre of its class + N(0, I).

The dataset is a pure function of its parameters (numpy PCG64, `seed`) and is cached by their content hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gbench.data.nodes import NodeTaskData
from gbench.data.pyg_node import finish, random_splits
from gbench.data.staging import DataContext, cached_tensors
from gbench.errors import SpecError
from gbench.hashing import stable_hash
from gbench.specs import TaskSpec

SBM_DEFAULTS: dict[str, Any] = {
    "num_nodes": 2000,
    "num_classes": 4,
    "avg_degree": 8.0,
    "homophily": 0.7,
    "degree_exponent": 2.5,
    "feature_dim": 32,
    "feature_signal": 0.3,
    "seed": 0,
}


def _sample_within(rng: np.random.Generator, classes: np.ndarray, order: np.ndarray, cum: np.ndarray,
                   start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For each entry of `classes`, a node of that class drawn with probability proportional to its weight."""
    lo = np.where(start[classes] > 0, cum[np.maximum(start[classes] - 1, 0)], 0.0)
    hi = cum[end[classes] - 1]
    u = lo + rng.random(classes.shape[0]) * (hi - lo)
    pos = np.searchsorted(cum, u, side="right")
    return order[np.minimum(pos, end[classes] - 1)]


def generate_sbm(num_nodes: int, num_classes: int, avg_degree: float, homophily: float,
                 degree_exponent: float | None, feature_dim: int, feature_signal: float, seed: int
                 ) -> dict[str, torch.Tensor]:
    """Returns x [N, feature_dim] float32, y [N] int64 and an undirected, coalesced edge_index [2, E] int64."""
    rng = np.random.default_rng(seed)
    n, k = num_nodes, num_classes
    y = np.repeat(np.arange(k), -(-n // k))[:n]
    rng.shuffle(y)
    theta = rng.pareto(degree_exponent - 1.0, n) + 1.0 if degree_exponent else np.ones(n)

    order = np.argsort(y, kind="stable")
    cum = np.cumsum(theta[order])
    counts = np.bincount(y, minlength=k)
    end = np.cumsum(counts)
    start = end - counts

    m = int(round(n * avg_degree / 2))
    src = np.searchsorted(np.cumsum(theta), rng.random(m) * theta.sum(), side="right").clip(max=n - 1)
    intra = rng.random(m) < homophily
    target_class = np.where(intra, y[src], (y[src] + rng.integers(1, k, m)) % k) if k > 1 else y[src]
    dst = _sample_within(rng, target_class, order, cum, start, end)

    keep = src != dst
    src, dst = src[keep], dst[keep]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(lo.astype(np.int64) * n + hi)
    lo, hi = pairs // n, pairs % n
    edge_index = np.concatenate([np.stack([lo, hi]), np.stack([hi, lo])], axis=1)
    order_e = np.lexsort((edge_index[1], edge_index[0]))
    edge_index = edge_index[:, order_e]

    centres = rng.normal(size=(k, feature_dim)) * feature_signal
    x = centres[y] + rng.normal(size=(n, feature_dim))
    return {"x": torch.from_numpy(x.astype(np.float32)), "y": torch.from_numpy(y.astype(np.int64)),
            "edge_index": torch.from_numpy(edge_index.astype(np.int64))}


def sbm_params(task: TaskSpec) -> dict[str, Any]:
    unknown = set(task.dataset.params) - set(SBM_DEFAULTS)
    if unknown:
        raise SpecError(f"task '{task.id}': dataset.params has unknown field(s) {sorted(unknown)} for source 'sbm'; "
                        f"allowed: {', '.join(SBM_DEFAULTS)}.")
    p = {**SBM_DEFAULTS, **task.dataset.params}
    if not 0.0 <= p["homophily"] <= 1.0:
        raise SpecError(f"task '{task.id}': dataset.params.homophily must be in [0, 1], got {p['homophily']}.")
    if p["degree_exponent"] is not None and p["degree_exponent"] <= 1.0:
        raise SpecError(f"task '{task.id}': dataset.params.degree_exponent must be > 1 or null.")
    return p


def sbm_tensors(task: TaskSpec, ctx: DataContext) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """The task's SBM graph (generated once, cached by the content hash of its parameters), its parameters and
    that hash. Shared by the node task and the link task built on the same generator."""
    p = sbm_params(task)
    key = stable_hash({"generator": "sbm-v1", **p})[:20]
    tensors = cached_tensors(ctx.cache_dir / "generated" / f"sbm-{key}.pt", lambda: generate_sbm(**p))
    return tensors, p, key


def load_sbm(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    from torch_geometric.data import Data

    tensors, p, key = sbm_tensors(task, ctx)
    data = Data(x=tensors["x"], y=tensors["y"], edge_index=tensors["edge_index"], num_nodes=p["num_nodes"])
    row, col = data.edge_index
    realised = float((data.y[row] == data.y[col]).float().mean()) if row.numel() else float("nan")
    if task.split.kind not in ("random", "generated"):
        raise SpecError(f"task '{task.id}': split.kind must be 'random' for source 'sbm'.")
    splits = random_splits(data.y, task.split.params, f"task '{task.id}'")
    return finish(data, splits, p["num_classes"], {}, {"generator": "sbm-v1", "content_hash": key,
                                                        "edge_homophily": round(realised, 4)})
