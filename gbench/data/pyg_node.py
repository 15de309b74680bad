"""Node-level datasets through PyG's own dataset classes (and Platonov et al.'s npz files), official splits."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gbench.data.nodes import NodeSplit, NodeTaskData
from gbench.atomic import atomic_path
from gbench.data.staging import (DataContext, cache_lock, copy_raw_files, sha256_file, staged_pyg_dataset,
                                 unavailable)
from gbench.errors import DatasetUnavailable, SpecError
from gbench.specs import TaskSpec


def _index(mask: torch.Tensor) -> torch.Tensor:
    return mask.nonzero(as_tuple=False).view(-1)


def splits_from_masks(train: torch.Tensor, val: torch.Tensor, test: torch.Tensor) -> list[NodeSplit]:
    """Masks of shape [N] (one split) or [N, K] (K official splits) -> one NodeSplit per split."""
    if train.dim() == 1:
        return [NodeSplit(_index(train), _index(val), _index(test))]
    return [NodeSplit(_index(train[:, k]), _index(val[:, k]), _index(test[:, k])) for k in range(train.size(1))]


def random_splits(y: torch.Tensor, params: dict[str, Any], where: str) -> list[NodeSplit]:
    """`num_splits` random splits (fractions `train`, `val`; the rest is test), drawn from `seed`."""
    try:
        train_frac, val_frac = float(params["train"]), float(params["val"])
    except KeyError as e:
        raise SpecError(f"{where}: split.params needs '{e.args[0]}' (a fraction) for kind 'random'.") from None
    if not (0 < train_frac and 0 < val_frac and train_frac + val_frac < 1):
        raise SpecError(f"{where}: split.params train and val must be positive fractions summing below 1.")
    gen = torch.Generator().manual_seed(int(params.get("seed", 0)))
    n = y.size(0)
    out = []
    for _ in range(int(params.get("num_splits", 10))):
        perm = torch.randperm(n, generator=gen)
        a, b = int(round(train_frac * n)), int(round((train_frac + val_frac) * n))
        out.append(NodeSplit(perm[:a].sort().values, perm[a:b].sort().values, perm[b:].sort().values))
    return out


def finish(data, splits: list[NodeSplit], num_classes: int, params: dict[str, Any], info: dict[str, Any]):
    """Apply the spec's graph transforms (each one is recorded by being a spec field)."""
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    out = Data(x=data.x.float(), edge_index=data.edge_index, y=data.y, num_nodes=data.num_nodes)
    if params.get("to_undirected", False):
        out.edge_index = to_undirected(out.edge_index, num_nodes=out.num_nodes)
    if params.get("normalize_features", False):
        # Row-normalise bag-of-words features, as in Kipf & Welling's preprocessing (PyG NormalizeFeatures).
        s = out.x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        out.x = out.x / s
    info = {**info, "num_nodes": out.num_nodes, "num_edges": int(out.edge_index.size(1))}
    return NodeTaskData(data=out, splits=splits, num_classes=num_classes, info=info)


def _need_name(task: TaskSpec) -> str:
    if not task.dataset.name:
        raise SpecError(f"task '{task.id}': dataset.name is required for source '{task.dataset.source}'.")
    return task.dataset.name


def _official_or_random(task: TaskSpec, data) -> list[NodeSplit]:
    if task.split.kind in ("public", "official"):
        return splits_from_masks(data.train_mask, data.val_mask, data.test_mask)
    if task.split.kind == "random":
        return random_splits(data.y, task.split.params, f"task '{task.id}'")
    raise SpecError(f"task '{task.id}': split.kind '{task.split.kind}' is not supported by source "
                    f"'{task.dataset.source}'; use public, official or random.")


def _load_pyg_class(cls_name: str, task: TaskSpec, ctx: DataContext, root_name: str, **kwargs: Any):
    import torch_geometric.datasets as datasets

    cls = getattr(datasets, cls_name, None)
    if cls is None:
        raise SpecError(f"task '{task.id}': torch_geometric.datasets has no class '{cls_name}'.")
    with cache_lock(ctx.cache_dir / "datasets" / root_name):
        return staged_pyg_dataset(cls, ctx, root_name, **kwargs)


# PubMed's `ind.pubmed.allx` as Planetoid published it, and the copy rebuilt from a 6-significant-digit text dump
# of the same TF-IDF matrix (../shared/data/README.md, PubMed row): the original is absent from every public
# snapshot small enough to store, so a data root may hold the rebuilt file instead.
PUBMED_ALLX = "ind.pubmed.allx"
PUBMED_ALLX_SHA256 = "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e"
PUBMED_ALLX_REBUILT_SHA256 = "1be14ba1a7bd9be37a375368cb3aac6e121278f70ec0e8ca0ea2f166ceff67b9"
PUBMED_ALLX_DEVIATION = (
    "PubMed features rebuilt: raw/ind.pubmed.allx is the reconstructed file (sha256 1be14ba1...), not Planetoid's "
    "original (508e538e...); its values are within about 5e-6 relative of the original's")


def planetoid_data_deviation(ds, name: str) -> str | None:
    """Check the raw files a Planetoid dataset was built from: None when they are the published ones, the deviation
    to record when PubMed's `allx` is the rebuilt copy; any other `allx` (a damaged or altered download) is refused,
    as nothing measured on it could be compared."""
    if name.lower() != "pubmed":
        return None
    path = Path(ds.raw_dir) / PUBMED_ALLX
    digest = sha256_file(path)
    if digest == PUBMED_ALLX_SHA256:
        return None
    if digest == PUBMED_ALLX_REBUILT_SHA256:
        return PUBMED_ALLX_DEVIATION
    raise DatasetUnavailable(
        f"{path}: sha256 {digest} is neither Planetoid's original {PUBMED_ALLX_SHA256} nor the documented "
        f"rebuilt copy {PUBMED_ALLX_REBUILT_SHA256}; delete the folder {path.parent.parent} and place the original "
        "file under the data root (or let gbench download it again).")


def load_planetoid(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    name = _need_name(task)
    ds = _load_pyg_class("Planetoid", task, ctx, "Planetoid", name=name, split="public")
    info: dict[str, Any] = {"loader": f"torch_geometric.datasets.Planetoid(name='{name}', split='public')"}
    deviation = planetoid_data_deviation(ds, name)
    if deviation:
        info["deviation"] = deviation
    data = ds[0]
    return finish(data, _official_or_random(task, data), ds.num_classes, task.dataset.params, info)


def load_webkb(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    name = _need_name(task)
    ds = _load_pyg_class("WebKB", task, ctx, "WebKB", name=name)
    data = ds[0]
    return finish(data, _official_or_random(task, data), ds.num_classes, task.dataset.params,
                  {"loader": f"torch_geometric.datasets.WebKB(name='{name}')"})


def load_heterophilous(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    name = _need_name(task)
    ds = _load_pyg_class("HeterophilousGraphDataset", task, ctx, "HeterophilousGraphDataset", name=name)
    data = ds[0]
    num_classes = int(data.y.max()) + 1
    return finish(data, _official_or_random(task, data), num_classes, task.dataset.params,
                  {"loader": f"torch_geometric.datasets.HeterophilousGraphDataset(name='{name}')"})


def load_any_pyg(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    """Any single-graph PyG dataset class, configured from YAML alone:

    dataset: {source: pyg-node, name: <class in torch_geometric.datasets>,
              params: {root: <folder under the data root>, kwargs: {...}, to_undirected: ..., normalize_features: ...}}
    """
    cls_name = _need_name(task)
    params = task.dataset.params
    kwargs = dict(params.get("kwargs", {}))
    ds = _load_pyg_class(cls_name, task, ctx, str(params.get("root", cls_name)), **kwargs)
    data = ds[0]
    num_classes = int(getattr(ds, "num_classes", 0) or int(data.y.max()) + 1)
    return finish(data, _official_or_random(task, data), num_classes, params,
                  {"loader": f"torch_geometric.datasets.{cls_name}(**{kwargs})"})


HETEROPHILOUS_NPZ_URL = "https://github.com/yandex-research/heterophilous-graphs/raw/main/data/{name}.npz"


def load_heterophilous_npz(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    """Platonov et al. (ICLR 2023) npz files, e.g. chameleon_filtered: features, labels, edges, 10 official splits.

    The edges are stored one direction per pair; like the authors' code, the graph is made undirected.
    """
    from torch_geometric.data import Data

    name = _need_name(task)
    folder = "heterophilous-graphs-npz"
    cache_dir = ctx.cache_dir / "datasets" / folder
    file = f"{name}.npz"
    with cache_lock(cache_dir):
        missing = copy_raw_files(ctx.data_root / folder if ctx.data_root else None, cache_dir, [file])
        if missing:
            expected = [(ctx.data_root or Path("<data root>")) / folder / file]
            if ctx.offline:
                raise unavailable(f"{name}.npz", expected, ctx)
            try:
                with atomic_path(cache_dir / file) as tmp:
                    urllib.request.urlretrieve(HETEROPHILOUS_NPZ_URL.format(name=name), tmp)
            except Exception as e:
                raise unavailable(f"{name}.npz", expected, ctx, e) from e
    raw = np.load(cache_dir / file)
    x = torch.from_numpy(raw["node_features"]).float()
    y = torch.from_numpy(raw["node_labels"]).long()
    edge_index = torch.from_numpy(raw["edges"]).long().t().contiguous()
    data = Data(x=x, y=y, edge_index=edge_index, num_nodes=x.size(0))
    train, val, test = (torch.from_numpy(raw[k]).t() for k in ("train_masks", "val_masks", "test_masks"))
    splits = splits_from_masks(train, val, test) if task.split.kind == "official" else _official_or_random(task, data)
    params = {"to_undirected": True, **task.dataset.params}
    return finish(data, splits, int(y.max()) + 1, params, {"loader": f"numpy.load('{folder}/{file}')"})
