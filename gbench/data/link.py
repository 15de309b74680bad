"""Link prediction data: OGB link datasets with their official splits and negatives, Planetoid graphs with a seeded
random edge split, and a generated graph (no download).

Every loader returns a `LinkTaskData`: the positive training edges, the validation and test positives and
negatives, and for each split the message-passing graph the protocol allows when that split is scored. By default
that graph holds the training edges only; `split.params.use_valedges_as_input: true` (the OGB rule for ogbl-collab,
allowed only once hyperparameters are fixed) adds the validation edges to the graph used for the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gbench.data.staging import DataContext, cache_lock
from gbench.errors import SpecError
from gbench.specs import TaskSpec


@dataclass
class LinkTaskData:
    """One graph and its edge split. Index tensors are int64.

    x: node features [N, F] (float), or None where the dataset has none (ogbl-ddi).
    train_pos: positive training edges [2, E_train], one entry per undirected edge (directed for citation2).
    graphs: split name ('train', 'val', 'test') -> the undirected edge_index [2, E'] a model may pass messages over
        while that split is trained or scored. Validation and test positives are in none of them by default.
    pos / neg: 'val' and 'test' -> positive pairs [2, P] and negative pairs [2, M]. With `neg_per_pos` = K the
        negatives are per positive (citation2: pair p's K negatives are columns p*K .. p*K+K-1); otherwise every
        positive of the split is ranked against all of the split's negatives (ogb.Evaluator's hits@K).
    split_seed: the seed of a random edge split, None for an official split.
    """

    num_nodes: int
    x: torch.Tensor | None
    train_pos: torch.Tensor
    graphs: dict[str, torch.Tensor]
    pos: dict[str, torch.Tensor]
    neg: dict[str, torch.Tensor]
    neg_per_pos: int | None = None
    split_seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return 0 if self.x is None else int(self.x.size(1))

    def to_tensors(self) -> dict[str, Any]:
        """Plain tensors and JSON text only, so gbench's finished-data cache loads with `weights_only=True`."""
        import json

        return {"num_nodes": self.num_nodes, "x": self.x, "train_pos": self.train_pos, "graphs": dict(self.graphs),
                "pos": dict(self.pos), "neg": dict(self.neg), "neg_per_pos": self.neg_per_pos,
                "split_seed": self.split_seed, "info": json.dumps(self.info)}

    @classmethod
    def from_tensors(cls, blob: dict[str, Any]) -> LinkTaskData:
        import json

        return cls(num_nodes=int(blob["num_nodes"]), x=blob["x"], train_pos=blob["train_pos"],
                   graphs=blob["graphs"], pos=blob["pos"], neg=blob["neg"], neg_per_pos=blob["neg_per_pos"],
                   split_seed=blob["split_seed"], info=json.loads(blob["info"]))


# ---------------------------------------------------------------------------------------------------------------
# Splits


def undirected(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Both directions of every edge, coalesced, without self-loops."""
    from torch_geometric.utils import remove_self_loops, to_undirected

    return to_undirected(remove_self_loops(edge_index)[0], num_nodes=num_nodes)


def unique_pairs(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Each undirected edge once, as (low, high), sorted; self-loops dropped. [2, M]."""
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    key = torch.unique(lo[keep] * num_nodes + hi[keep])
    return torch.stack([key // num_nodes, key % num_nodes])


def sample_non_edges(num_nodes: int, exclude: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` distinct node pairs (low, high), uniformly among pairs that are not in `exclude` ([2, M], any
    direction) and are not self-loops, in random order. Drawn from `generator` only. [2, count]."""
    excluded = unique_pairs(exclude, num_nodes)
    excluded_keys = excluded[0] * num_nodes + excluded[1]
    possible = num_nodes * (num_nodes - 1) // 2 - excluded_keys.numel()
    if count > possible:
        raise SpecError(f"cannot draw {count} negative pairs: the graph has only {possible} non-edges.")
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < count:
        need = count - chosen.numel()
        a = torch.randint(0, num_nodes, (2 * need + 16,), generator=generator)
        b = torch.randint(0, num_nodes, (2 * need + 16,), generator=generator)
        lo, hi = torch.minimum(a, b), torch.maximum(a, b)
        keys = (lo * num_nodes + hi)[lo != hi]
        keys = keys[~torch.isin(keys, excluded_keys) & ~torch.isin(keys, chosen)]
        # First occurrence of each key, in draw order (torch.unique would sort, and sorting biases the split).
        uniq, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long).scatter_reduce(
            0, inverse, torch.arange(keys.numel()), reduce="amin")
        keys = keys[first.sort().values]
        chosen = torch.cat([chosen, keys[:need]])
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def random_link_split(edge_index: torch.Tensor, num_nodes: int, val: float, test: float, seed: int,
                      neg_ratio: float = 1.0, val_neg_ratio: float | None = None) -> dict[str, torch.Tensor]:
    """A seeded random split of the undirected edges into train / val / test positives, and val / test negatives.

    The edges (each undirected edge once) are permuted with `torch.Generator().manual_seed(seed)`; the first
    round(test * M) are test, the next round(val * M) validation, the rest training. Negatives are distinct
    non-edges of the whole graph, round(neg_ratio * P) per split (validation: round(val_neg_ratio * P) where
    given), validation and test disjoint: as PyG's `train_test_split_edges`, which the NCN code uses. Returns
    train_pos, val_pos, test_pos, val_neg, test_neg.
    """
    pairs = unique_pairs(edge_index, num_nodes)
    m = pairs.size(1)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(m, generator=gen)
    n_test, n_val = int(round(test * m)), int(round(val * m))
    test_idx, val_idx, train_idx = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    n_val_neg = int(round((neg_ratio if val_neg_ratio is None else val_neg_ratio) * n_val))
    n_test_neg = int(round(neg_ratio * n_test))
    neg = sample_non_edges(num_nodes, pairs, n_val_neg + n_test_neg, gen)
    return {"train_pos": pairs[:, train_idx.sort().values], "val_pos": pairs[:, val_idx.sort().values],
            "test_pos": pairs[:, test_idx.sort().values], "val_neg": neg[:, :n_val_neg],
            "test_neg": neg[:, n_val_neg:]}


_RANDOM_KEYS = {"val", "test", "seed", "num_splits", "neg_ratio", "val_neg_ratio"}


def split_for_seed(task: TaskSpec, seed: int) -> TaskSpec:
    """The task whose data job seed `seed` runs on. A random edge split with `num_splits` > 1 is one split per seed,
    as NCN's code draws a new split for each run: seed s takes the split drawn from `seed` + (s mod num_splits),
    returned as a one-split task (its data is cached apart). Any other task is returned as it is."""
    p = task.split.params
    if task.split.kind != "random" or int(p.get("num_splits", 1)) <= 1:
        return task
    drawn = int(p.get("seed", 0)) + seed % int(p["num_splits"])
    split = task.split.model_copy(update={"params": {**p, "seed": drawn, "num_splits": 1}})
    return task.model_copy(update={"split": split})


def _random_split_params(task: TaskSpec) -> dict[str, Any]:
    p = task.split.params
    unknown = set(p) - _RANDOM_KEYS
    if unknown:
        raise SpecError(f"task '{task.id}': split.params has unknown field(s) {sorted(unknown)} for a random link "
                        f"split; allowed: {', '.join(sorted(_RANDOM_KEYS))}.")
    try:
        val, test = float(p["val"]), float(p["test"])
    except KeyError as e:
        raise SpecError(f"task '{task.id}': split.params needs '{e.args[0]}' (a fraction of the edges) for a "
                        "random link split.") from None
    if not (0 < val and 0 < test and val + test < 1):
        raise SpecError(f"task '{task.id}': split.params val and test must be positive fractions summing below 1.")
    out = {"val": val, "test": test, "seed": int(p.get("seed", 0)), "neg_ratio": float(p.get("neg_ratio", 1.0))}
    if p.get("val_neg_ratio") is not None:
        out["val_neg_ratio"] = float(p["val_neg_ratio"])
    return out


def _from_random_split(task: TaskSpec, x: torch.Tensor | None, edge_index: torch.Tensor, num_nodes: int,
                       info: dict[str, Any]) -> LinkTaskData:
    if task.split.kind not in ("random", "generated"):
        raise SpecError(f"task '{task.id}': split.kind must be 'random' for source '{task.dataset.source}'.")
    p = _random_split_params(task)
    s = random_link_split(edge_index, num_nodes, p["val"], p["test"], p["seed"], p["neg_ratio"],
                          p.get("val_neg_ratio"))
    graph = undirected(s["train_pos"], num_nodes)
    info = {**info, "num_nodes": num_nodes, "num_edges": int(s["train_pos"].size(1) + s["val_pos"].size(1)
                                                             + s["test_pos"].size(1)),
            "split": {"train": int(s["train_pos"].size(1)), "val": int(s["val_pos"].size(1)),
                      "test": int(s["test_pos"].size(1)), "val_neg": int(s["val_neg"].size(1)),
                      "test_neg": int(s["test_neg"].size(1))},
            "message_passing": {"train": "train", "val": "train", "test": "train"}}
    return LinkTaskData(num_nodes=num_nodes, x=x, train_pos=s["train_pos"],
                        graphs={"train": graph, "val": graph, "test": graph},
                        pos={"val": s["val_pos"], "test": s["test_pos"]},
                        neg={"val": s["val_neg"], "test": s["test_neg"]}, split_seed=p["seed"], info=info)


# ---------------------------------------------------------------------------------------------------------------
# Planetoid (Cora, CiteSeer, PubMed) with a random edge split


def load_planetoid_link(task: TaskSpec, ctx: DataContext) -> LinkTaskData:
    from gbench.data.pyg_node import _load_pyg_class, planetoid_data_deviation

    name = task.dataset.name
    if not name:
        raise SpecError(f"task '{task.id}': dataset.name is required for source 'planetoid-link' (Cora, CiteSeer, "
                        "PubMed).")
    ds = _load_pyg_class("Planetoid", task, ctx, "Planetoid", name=name, split="public")
    info: dict[str, Any] = {"loader": f"torch_geometric.datasets.Planetoid(name='{name}')"}
    deviation = planetoid_data_deviation(ds, name)
    if deviation:
        info["deviation"] = deviation
    data = ds[0]
    return _from_random_split(task, data.x.float(), data.edge_index, int(data.num_nodes), info)


# ---------------------------------------------------------------------------------------------------------------
# Generated: the SBM of gbench.data.synthetic, with a random edge split


def load_sbm_link(task: TaskSpec, ctx: DataContext) -> LinkTaskData:
    from gbench.data.synthetic import sbm_tensors

    tensors, p, key = sbm_tensors(task, ctx)
    return _from_random_split(task, tensors["x"], tensors["edge_index"], int(p["num_nodes"]),
                              {"generator": "sbm-v1", "content_hash": key})


# ---------------------------------------------------------------------------------------------------------------
# OGB link property prediction


def _numpy_safe_globals() -> list:
    """What `torch.load(weights_only=True)` needs to read numpy arrays (OGB's split files hold them): numpy's array
    reconstruction and dtypes only, never arbitrary code."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    dtypes = {type(np.dtype(t)) for t in (np.int64, np.int32, np.float32, np.float64, np.bool_, np.uint8)}
    return [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, *dtypes]


def load_split_file(path: Path) -> dict[str, torch.Tensor]:
    """One of OGB's split files (`split/<kind>/{train,valid,test}.pt`): a dict of numpy arrays or tensors."""
    import numpy as np

    with torch.serialization.safe_globals(_numpy_safe_globals()):
        blob = torch.load(path, weights_only=True)
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in blob.items()}


def message_passing_graphs(train_pos: torch.Tensor, val_pos: torch.Tensor, num_nodes: int, val_as_input: bool
                           ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The graph a model may see per split: the training edges; with `val_as_input` (OGB's ogbl-collab rule) the
    validation edges join the graph used to score the test split only (validation is still scored without them,
    as in OGB's collab example)."""
    graph = undirected(train_pos, num_nodes)
    graphs = {"train": graph, "val": graph, "test": graph}
    described = {"train": "train", "val": "train", "test": "train"}
    if val_as_input:
        graphs["test"] = undirected(torch.cat([train_pos, val_pos], dim=1), num_nodes)
        described["test"] = "train+valid"
    return graphs, described


OGB_LINK = ("ogbl-ddi", "ogbl-collab", "ogbl-ppa", "ogbl-citation2")
_OGB_KEYS = {"use_valedges_as_input"}


def _edge(part: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    return part[key].long().t().contiguous()


def load_ogb_link(task: TaskSpec, ctx: DataContext) -> LinkTaskData:
    from gbench.data.ogb_node import open_ogb_dataset

    name = task.dataset.name
    if name not in OGB_LINK:
        raise SpecError(f"task '{task.id}': dataset.name must be one of {', '.join(OGB_LINK)} for source "
                        f"'ogb-link', got {name!r}.")
    if task.split.kind != "official":
        raise SpecError(f"task '{task.id}': split.kind must be 'official' for source 'ogb-link'.")
    unknown = set(task.split.params) - _OGB_KEYS
    if unknown:
        raise SpecError(f"task '{task.id}': split.params has unknown field(s) {sorted(unknown)} for source "
                        f"'ogb-link'; allowed: {', '.join(sorted(_OGB_KEYS))}.")
    val_as_input = bool(task.split.params.get("use_valedges_as_input", False))
    if val_as_input and name != "ogbl-collab":
        raise SpecError(f"task '{task.id}': split.params.use_valedges_as_input is allowed only for ogbl-collab "
                        "(OGB leaderboard rule); remove it.")
    ds = open_ogb_dataset("linkproppred", name, ctx)
    folder = Path(ds.root) / "split" / ds.meta_info["split"]
    with cache_lock(ctx.cache_dir / "datasets" / "ogb" / f".{name}-split"):
        train, valid, test = (load_split_file(folder / f"{part}.pt") for part in ("train", "valid", "test"))
    data = ds[0]
    num_nodes = int(data.num_nodes)
    x = data.x.float() if getattr(data, "x", None) is not None else None
    neg_per_pos = None
    if name == "ogbl-citation2":
        train_pos = torch.stack([train["source_node"], train["target_node"]]).long()
        pos, neg = {}, {}
        for split, part in (("val", valid), ("test", test)):
            src, dst, dst_neg = part["source_node"].long(), part["target_node"].long(), part["target_node_neg"].long()
            k = dst_neg.size(1)
            pos[split] = torch.stack([src, dst])
            neg[split] = torch.stack([src.repeat_interleave(k), dst_neg.reshape(-1)])
            neg_per_pos = k
    else:
        train_pos = _edge(train, "edge")
        pos = {"val": _edge(valid, "edge"), "test": _edge(test, "edge")}
        neg = {"val": _edge(valid, "edge_neg"), "test": _edge(test, "edge_neg")}
    graphs, message_passing = message_passing_graphs(train_pos, pos["val"], num_nodes, val_as_input)
    info = {"loader": f"ogb.linkproppred.PygLinkPropPredDataset(name='{name}').get_edge_split()",
            "num_nodes": num_nodes, "num_train_edges": int(train_pos.size(1)),
            "split": {"train": int(train_pos.size(1)), "val": int(pos["val"].size(1)), "test": int(pos["test"].size(1)),
                      "val_neg": int(neg["val"].size(1)), "test_neg": int(neg["test"].size(1))},
            "use_valedges_as_input": val_as_input, "message_passing": message_passing,
            "negatives": "official (OGB split files)"}
    if name == "ogbl-collab":
        info["deviation"] = "edge weights and repeated (multi-year) edges are not used: the graph is unweighted"
    return LinkTaskData(num_nodes=num_nodes, x=x, train_pos=train_pos, graphs=graphs, pos=pos, neg=neg,
                        neg_per_pos=neg_per_pos, split_seed=None, info=info)
