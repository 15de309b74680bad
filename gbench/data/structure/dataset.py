"""Loading a structural task: its parameters checked, the whole dataset generated (or read back from the cache
by the content hash of its parameters and of this package's source) and turned into graph-task data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cached_tensors, tensors_digest
from gbench.data.structure.generators import (
    ASYMMETRIC_FAMILIES,
    BRIDGE_FAMILIES,
    BRIDGE_GENERATORS,
    SPECTRAL_FAMILIES,
    SPECTRAL_GENERATORS,
    SYMMETRIC_FAMILIES,
    TOPOLOGY_CLASSES,
    TOPOLOGY_GENERATORS,
)
from gbench.data.structure.labels import count_bridges, is_connected, normalized_laplacian_lambda2
from gbench.data.structure.symmetry import RealBases, SymmetryGenerator, load_real_bases
from gbench.errors import SpecError
from gbench.hashing import stable_hash
from gbench.specs import TaskSpec

GENERATOR = "structure-v1"
TASKS = ("topology", "symmetry", "spectral_gap", "bridges")
SPLITS = ("train", "val", "test_id", "test_near_ood", "test_far_ood")

DEFAULTS: dict[str, Any] = {
    "task": None,
    "seed": 0,
    "splits": None,
    "bases": "synthetic",           # symmetry only: 'real' (MUTAG + Cora) or 'synthetic'
    "asymmetric_swap_share": 0.5,   # symmetry: share of asymmetric graphs made by double-edge swaps
    "swap_attempts": 20,            # symmetry: attempts to reach |Aut| = 1 by swaps before a new base is drawn
    "swap_fraction": 0.1,           # symmetry: swaps per attempt, as a fraction of the edges (at least 1)
    "cora_methods": ["bfs", "rwr", "sage"],
    "rwr_alpha": 0.2,
    "sage_fanout": 5,
}


def structure_params(task: TaskSpec) -> dict[str, Any]:
    where = f"task '{task.id}': dataset.params"
    unknown = set(task.dataset.params) - set(DEFAULTS)
    if unknown:
        raise SpecError(f"{where} has unknown field(s) {sorted(unknown)} for source 'structure'; allowed: "
                        f"{', '.join(DEFAULTS)}.")
    p = {**DEFAULTS, **task.dataset.params}
    if p["task"] not in TASKS:
        raise SpecError(f"{where}.task must be one of {', '.join(TASKS)}, got {p['task']!r}.")
    if p["bases"] not in ("real", "synthetic"):
        raise SpecError(f"{where}.bases must be 'real' or 'synthetic', got {p['bases']!r}.")
    splits = p["splits"]
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        raise SpecError(f"{where}.splits must map each of {', '.join(SPLITS)} to "
                        "{graphs: <count>, nodes: [<min>, <max>]}.")
    for name, s in splits.items():
        ok = isinstance(s, dict) and set(s) == {"graphs", "nodes"} and int(s["graphs"]) >= 1 and \
            len(s["nodes"]) == 2 and 6 <= int(s["nodes"][0]) <= int(s["nodes"][1])
        if not ok:
            raise SpecError(f"{where}.splits.{name} must be {{graphs: <count >= 1>, nodes: [<min >= 6>, <max>]}}, "
                            f"got {s!r}.")
    bad = [s for s in task.split.test_splits if s not in SPLITS or s in ("train", "val")]
    if bad:
        raise SpecError(f"task '{task.id}': split.test_splits has {bad}; allowed: test_id, test_near_ood, "
                        "test_far_ood.")
    return p


def _module_hash() -> str:
    """sha256 over the sources of this package (file names and bytes, sorted by name): a change to any generator,
    label or loader gives a new cache key."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def generate(params: dict[str, Any], real: RealBases | None = None) -> dict[str, Any]:
    """The whole dataset as plain tensors: edge_index [2, sum of 2m_i] (both directions, graph-local ids, sorted),
    edge_ptr [G+1] (column offsets), num_nodes [G], y [G] (int64 class ids, or float32 for regression),
    family [G] (index into `families`), split [G] (index into SPLITS), and `meta` (JSON text)."""
    task = params["task"]
    code = TASKS.index(task)
    sym = SymmetryGenerator(params, real) if task == "symmetry" else None
    families = {"topology": TOPOLOGY_CLASSES, "bridges": BRIDGE_FAMILIES, "spectral_gap": SPECTRAL_FAMILIES,
                "symmetry": SYMMETRIC_FAMILIES + ASYMMETRIC_FAMILIES}[task]
    edge_parts, ptr, sizes, ys, fams, split_of = [], [0], [], [], [], []
    for s_idx, name in enumerate(SPLITS):
        spec = params["splits"][name]
        lo, hi = int(spec["nodes"][0]), int(spec["nodes"][1])
        for i in range(int(spec["graphs"])):
            rng = np.random.default_rng([int(params["seed"]), code, s_idx, i])
            if task == "symmetry":
                n, e, label, family = sym.draw(rng, lo, hi, i)
            else:
                n = int(rng.integers(lo, hi + 1))
                names = {"topology": TOPOLOGY_CLASSES, "bridges": BRIDGE_FAMILIES,
                         "spectral_gap": SPECTRAL_FAMILIES}[task]
                family = names[i % len(names)]
                gens = {"topology": TOPOLOGY_GENERATORS, "bridges": BRIDGE_GENERATORS,
                        "spectral_gap": SPECTRAL_GENERATORS}[task]
                e = gens[family](rng, n)
                label = {"topology": lambda: TOPOLOGY_CLASSES.index(family),
                         "bridges": lambda: count_bridges(n, e),
                         "spectral_gap": lambda: normalized_laplacian_lambda2(n, e)}[task]()
            if not is_connected(n, e):
                raise RuntimeError(f"generator '{family}' produced a disconnected graph ({name} #{i})")
            both = np.concatenate([e, e[:, ::-1]])
            both = both[np.lexsort((both[:, 1], both[:, 0]))]
            edge_parts.append(both.T)
            ptr.append(ptr[-1] + both.shape[0])
            sizes.append(n)
            ys.append(label)
            fams.append(families.index(family))
            split_of.append(s_idx)
    y = torch.tensor(ys, dtype=torch.float32 if task in ("spectral_gap", "bridges") else torch.int64)
    meta = {"generator": GENERATOR, "task": task, "families": list(families), "splits": list(SPLITS)}
    return {"edge_index": torch.from_numpy(np.ascontiguousarray(np.concatenate(edge_parts, 1), dtype=np.int64)),
            "edge_ptr": torch.tensor(ptr, dtype=torch.int64), "num_nodes": torch.tensor(sizes, dtype=torch.int64),
            "y": y, "family": torch.tensor(fams, dtype=torch.int64),
            "split": torch.tensor(split_of, dtype=torch.int64), "meta": json.dumps(meta, sort_keys=True)}


# The generated tensors that make the data (all but `meta`): what extra.data.data_digest digests.
DIGESTED = ("edge_index", "edge_ptr", "num_nodes", "y", "family", "split")


def content_key(params: dict[str, Any]) -> str:
    return stable_hash({"generator": GENERATOR, "code": _module_hash(), **params})[:20]


def cache_path(params: dict[str, Any], ctx: DataContext):
    return ctx.cache_dir / "generated" / f"structure-{params['task']}-{content_key(params)}.pt"


def load_or_generate(params: dict[str, Any], ctx: DataContext) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        real = load_real_bases(ctx, params) if params["task"] == "symmetry" and params["bases"] == "real" else None
        return generate(params, real)

    return cached_tensors(cache_path(params, ctx), build)


def to_task_data(blob: dict[str, Any], key: str) -> GraphTaskData:
    from torch_geometric.data import Data

    meta = json.loads(blob["meta"])
    ptr, ei = blob["edge_ptr"], blob["edge_index"]
    graphs = [Data(edge_index=ei[:, int(ptr[i]): int(ptr[i + 1])].clone(), num_nodes=int(n))
              for i, n in enumerate(blob["num_nodes"].tolist())]
    split = {name: (blob["split"] == i).nonzero().view(-1) for i, name in enumerate(meta["splits"])}
    task = meta["task"]
    num_classes = {"topology": len(TOPOLOGY_CLASSES), "symmetry": 2}.get(task, 0)
    fam = blob["family"]
    # content_hash keys the cache (generator code included); data_digest is the data itself, equal across commits
    # that generate the same graphs and labels.
    digest = tensors_digest({k: blob[k] for k in DIGESTED})
    info = {"generator": meta["generator"], "content_hash": key, "data_digest": digest, "families": meta["families"],
            "family_counts": {f: int((fam == i).sum()) for i, f in enumerate(meta["families"])},
            "split_sizes": {k: int(v.numel()) for k, v in split.items()}}
    return GraphTaskData(graphs=graphs, y=blob["y"], splits=[split], num_classes=num_classes, info=info)


def load_structure(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """The `structure` data source: one fixed dataset per task spec (the job seed does not regenerate it)."""
    if task.level != "graph":
        raise SpecError(f"task '{task.id}': source 'structure' makes graph-level tasks; set level: graph.")
    if task.split.kind != "scale":
        raise SpecError(f"task '{task.id}': split.kind must be 'scale' for source 'structure'.")
    p = structure_params(task)
    # Symmetry is a 2-class softmax (the paper trains it with cross-entropy, as topology).
    want = {"topology": "multiclass", "symmetry": "multiclass", "spectral_gap": "regression",
            "bridges": "regression"}
    if task.target != want[p["task"]]:
        raise SpecError(f"task '{task.id}': target must be '{want[p['task']]}' for structure task '{p['task']}'.")
    return to_task_data(load_or_generate(p, ctx), content_key(p))
