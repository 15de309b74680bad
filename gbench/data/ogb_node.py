"""OGB node property prediction (ogbn-arxiv, ogbn-products, ...) through OGB's own loader and official split."""

from __future__ import annotations

from pathlib import Path

from gbench.data.nodes import NodeSplit, NodeTaskData
from gbench.data.ogb_compat import trusted_ogb_loads
from gbench.data.pyg_node import finish
from gbench.data.staging import DataContext, cache_lock, copy_raw_tree, unavailable
from gbench.errors import SpecError
from gbench.ogb_import import import_ogb
from gbench.specs import TaskSpec


def open_ogb_dataset(kind: str, name: str, ctx: DataContext):
    """An OGB Pyg*PropPredDataset on gbench's cache, its raw folder staged from `<data root>/ogb/<dir>` if there.

    `kind` is 'nodeproppred', 'linkproppred' or 'graphproppred'. Without the files and offline, one clear error.
    """
    module = import_ogb(f"ogb.{kind}")
    cls = {"nodeproppred": "PygNodePropPredDataset", "linkproppred": "PygLinkPropPredDataset",
           "graphproppred": "PygGraphPropPredDataset"}[kind]
    dir_name = name.replace("-", "_")
    cache_root = ctx.cache_dir / "datasets" / "ogb"
    src = ctx.data_root / "ogb" / dir_name if ctx.data_root else None
    with cache_lock(cache_root / f".{dir_name}"):
        if src is not None and src.is_dir():
            copy_raw_tree(src, cache_root / dir_name)
        elif not (cache_root / dir_name).is_dir():
            expected = [(ctx.data_root or Path("<data root>")) / "ogb" / dir_name / "raw",
                        (ctx.data_root or Path("<data root>")) / "ogb" / dir_name / "split"]
            if ctx.offline:
                raise unavailable(name, expected, ctx, hint=" (OGB's own layout: RELEASE_v*.txt, raw/, split/)")
        try:
            with trusted_ogb_loads(cache_root):
                return getattr(module, cls)(name=name, root=str(cache_root))
        except SpecError:
            raise
        except OSError as e:
            raise unavailable(name, [cache_root / dir_name], ctx, e) from e


def load_ogb_node(task: TaskSpec, ctx: DataContext) -> NodeTaskData:
    name = task.dataset.name
    if not name or not name.startswith("ogbn-"):
        raise SpecError(f"task '{task.id}': dataset.name must be an ogbn-* dataset for source 'ogb-node'.")
    ds = open_ogb_dataset("nodeproppred", name, ctx)
    with trusted_ogb_loads(ctx.cache_dir / "datasets" / "ogb"):
        idx = ds.get_idx_split()
    data = ds[0]
    if data.y.dim() == 2 and data.y.size(1) == 1 and task.target == "multiclass":
        data.y = data.y.view(-1)
    split = NodeSplit(idx["train"].sort().values, idx["valid"].sort().values, idx["test"].sort().values)
    num_classes = int(ds.num_classes) if task.target == "multiclass" else int(data.y.size(-1))
    return finish(data, [split], num_classes, task.dataset.params,
                  {"loader": f"ogb.nodeproppred.PygNodePropPredDataset(name='{name}')"})
