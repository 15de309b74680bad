"""LRGB's Peptides-func (Dwivedi et al., NeurIPS 2022 Datasets and Benchmarks, "Long Range Graph Benchmark"):
15,535 peptides as molecular graphs, 10 binary functional classes, LRGB's stratified random split.

The inputs are LRGB's own two files, in LRGB's layout under the data root's `lrgb/peptides-functional/`:
`raw/peptide_multi_class_dataset.csv.gz` (SMILES and a 10-label list per peptide) and
`splits_random_stratified_peptide.pickle` (a dict of index arrays 'train' / 'val' / 'test'). Where a network
exists and the data root lacks them, they download from the URLs LRGB's loader uses. Both files are checked
against the sha256 values the task spec pins (`dataset.params`); the split pickle is unpickled only after its
sha256 matches, because unpickling runs whatever code the file names.

Graphs come from `ogb.utils.smiles2graph` (OGB's 9 atom and 3 bond categorical features), as in LRGB, so models
embed them with OGB's AtomEncoder / BondEncoder. Featurising takes a minute or two on one core (it runs over the
usable cores), so the graphs are cached once, keyed by the two files' sha256 and the ogb and RDKit versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cached_tensors, copy_raw_files, sha256_file, unavailable
from gbench.errors import DatasetUnavailable, SpecError
from gbench.hashing import stable_hash
from gbench.ogb_import import import_ogb
from gbench.specs import TaskSpec

FORMAT = "lrgb-peptides-func-v1"
FOLDER = Path("lrgb") / "peptides-functional"
CSV = "raw/peptide_multi_class_dataset.csv.gz"
SPLIT = "splits_random_stratified_peptide.pickle"
# LRGB's loader (vijaydwivedi75/lrgb and GraphGPS, loader/dataset/peptides_functional.py) downloads these.
URLS = {CSV: "https://www.dropbox.com/s/ol2v01usvaxbsr8/peptide_multi_class_dataset.csv.gz?dl=1",
        SPLIT: "https://www.dropbox.com/s/j4zcnx2eipuo0xz/splits_random_stratified_peptide.pickle?dl=1"}
NUM_TASKS = 10
DATASETS = ("peptides-functional",)


def _download(url: str, dst: Path) -> None:
    import urllib.request

    from gbench.atomic import atomic_path

    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp, urllib.request.urlopen(url, timeout=60) as response:
        Path(tmp).write_bytes(response.read())


def stage_files(ctx: DataContext) -> Path:
    """The cache folder holding both raw files: copied from the data root, else downloaded where allowed. Raises
    DatasetUnavailable naming both files when neither works."""
    cache = ctx.cache_dir / "datasets" / FOLDER
    src = ctx.data_root / FOLDER if ctx.data_root else None
    missing = copy_raw_files(src, cache, [CSV, SPLIT])
    if not missing:
        return cache
    expected = [(src or Path("<data root>") / FOLDER) / name for name in (CSV, SPLIT)]
    hint = " (LRGB's peptides-functional files; with a network they download from LRGB's Dropbox URLs)"
    if ctx.offline:
        raise unavailable("peptides-functional (LRGB)", expected, ctx, hint=hint)
    try:
        for name in missing:
            _download(URLS[name], cache / name)
    except Exception as e:  # network errors come in many types; all mean the same to the user
        raise unavailable("peptides-functional (LRGB)", expected, ctx, e, hint=hint) from e
    return cache


def _checked(path: Path, want: str, field: str, task: TaskSpec, why: str) -> str:
    got = sha256_file(path)
    if got != want:
        raise DatasetUnavailable(f"{path}: sha256 {got} does not match dataset.params.{field} {want} of task "
                                 f"'{task.id}'; {why}.")
    return got


def read_split(path: Path, want_sha256: str, task: TaskSpec) -> dict[str, np.ndarray]:
    """LRGB's split pickle as int64 index arrays 'train' / 'val' / 'test', unpickled only once its sha256 equals
    `want_sha256` (a pickle can run code, so a file that differs is never opened as one)."""
    import pickle

    _checked(path, want_sha256, "split_sha256", task,
             "refusing to unpickle it, since a pickle can run code (replace the file with LRGB's, or pin its sha256)")
    with open(path, "rb") as f:
        split = pickle.load(f)  # noqa: S301 - the sha256 above pins the file's exact bytes
    return {k: np.asarray(split[k], dtype=np.int64) for k in ("train", "val", "test")}


def _featurise(smiles: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(node_feat, edge_index, edge_feat, num_nodes) of each SMILES, in order, by `ogb.utils.smiles2graph`."""
    from rdkit import RDLogger

    smiles2graph = import_ogb("ogb.utils").smiles2graph
    RDLogger.DisableLog("rdApp.*")
    out = []
    for s in smiles:
        graph = smiles2graph(s)
        out.append((graph["node_feat"], graph["edge_index"], graph["edge_feat"], graph["num_nodes"]))
    return out


def _featurise_all(smiles: list[str], processes: int | None = None) -> list[tuple[Any, ...]]:
    """`_featurise` over every SMILES, in a pool of processes over chunks (the usable cores, or
    GBENCH_RENDER_PROCESSES, as for rendering; `processes` > 1 always pools): each graph depends on its own SMILES
    only, so the result is the same, in the same order, whatever the number of processes."""
    import math
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from gbench.data.render import render_processes

    n_proc = min(render_processes(processes), max(1, len(smiles)))
    if processes is None:  # a pool costs a fork and the imports: worth it from a few hundred SMILES a process
        n_proc = min(n_proc, max(1, len(smiles) // 256))
    if n_proc == 1 or multiprocessing.current_process().daemon:  # a daemonic process may not start children
        return _featurise(smiles)
    step = math.ceil(len(smiles) / (4 * n_proc))
    chunks = [smiles[i:i + step] for i in range(0, len(smiles), step)]
    _featurise(smiles[:1])  # import RDKit and ogb here, so forked children import nothing
    # fork where the platform has it (see gbench.data.render.draw): the children run RDKit only, never torch.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(n_proc, mp_context=multiprocessing.get_context(method)) as pool:
        return [graph for chunk in pool.map(_featurise, chunks) for graph in chunk]


def build_graphs(csv_path: Path, processes: int | None = None) -> dict[str, Any]:
    """Featurise every SMILES of LRGB's CSV with `ogb.utils.smiles2graph` (in parallel, see `_featurise_all`).
    Returns plain tensors: node features `x` [N, 9] int64, `edge_index` [2, E] (per-graph node ids, both
    directions of each bond), `edge_attr` [E, 3] int64, `num_nodes` [G], `num_edges` [G], labels `y` [G, 10]
    float (NaN where a label is missing)."""
    import pandas as pd

    frame = pd.read_csv(csv_path)
    if "smiles" not in frame.columns or "labels" not in frame.columns:
        raise DatasetUnavailable(f"{csv_path}: not LRGB's peptide CSV (columns {list(frame.columns)}); expected "
                                 "columns smiles and labels.")
    graphs = _featurise_all(list(frame["smiles"]), processes)
    xs, eis, eas, n_nodes = (list(part) for part in zip(*graphs))
    n_edges = [ei.shape[1] for ei in eis]
    # The labels column holds a JSON list per peptide, e.g. "[0, 0, 1, 0, 0, 0, 0, 0, 0, 1]".
    y = np.array([[np.nan if v is None else v for v in json.loads(s)] for s in frame["labels"]], dtype=np.float32)
    return {"x": torch.from_numpy(np.concatenate(xs)).long(),
            "edge_index": torch.from_numpy(np.concatenate(eis, axis=1)).long(),
            "edge_attr": torch.from_numpy(np.concatenate(eas)).long(), "num_nodes": torch.tensor(n_nodes),
            "num_edges": torch.tensor(n_edges), "y": torch.from_numpy(y)}


def load_peptides(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """Peptides-func with LRGB's official split (see the module docstring); `dataset.params` pins both files'
    sha256 (gbench.specs.params.LRGBParams)."""
    import rdkit
    from torch_geometric.data import Data

    if task.dataset.name not in DATASETS:
        raise SpecError(f"task '{task.id}': dataset.name must be one of {', '.join(DATASETS)} for source 'lrgb', "
                        f"got {task.dataset.name!r}.")
    if task.split.kind != "official":
        raise SpecError(f"task '{task.id}': split.kind must be 'official' (LRGB's stratified split) for source "
                        "'lrgb'.")
    params = task.dataset.params
    folder = stage_files(ctx)
    csv_sha = _checked(folder / CSV, params["csv_sha256"], "csv_sha256", task,
                       "it is not the CSV this task was pinned to (replace it with LRGB's)")
    split = read_split(folder / SPLIT, params["split_sha256"], task)
    key = stable_hash({"format": FORMAT, "csv": csv_sha, "ogb": import_ogb("ogb.version").__version__,
                       "rdkit": rdkit.__version__})[:20]
    t = cached_tensors(ctx.cache_dir / "generated" / f"peptides-func-{key}.pt", lambda: build_graphs(folder / CSV))
    node_off = np.concatenate([[0], np.cumsum(t["num_nodes"].numpy())])
    edge_off = np.concatenate([[0], np.cumsum(t["num_edges"].numpy())])
    graphs = []
    for g in range(t["num_nodes"].numel()):
        a, b, c, d = node_off[g], node_off[g + 1], edge_off[g], edge_off[g + 1]
        graphs.append(Data(x=t["x"][a:b], edge_index=t["edge_index"][:, c:d], edge_attr=t["edge_attr"][c:d],
                           num_nodes=int(b - a)))
    if t["y"].shape[1] != NUM_TASKS:
        raise DatasetUnavailable(f"{folder / CSV}: {t['y'].shape[1]} labels per peptide, expected {NUM_TASKS}.")
    splits = [{k: torch.from_numpy(v) for k, v in split.items()}]
    return GraphTaskData(graphs=graphs, y=t["y"], splits=splits, num_classes=2, feature_kind="categorical",
                         edge_kind="categorical",
                         info={"loader": "ogb.utils.smiles2graph over LRGB's peptide_multi_class_dataset.csv.gz "
                                         "(gbench.data.lrgb)", "split": "official (LRGB "
                               "splits_random_stratified_peptide.pickle)", "content_hash": key,
                               "num_graphs": len(graphs), **{f"num_{k}": int(v.size) for k, v in split.items()}})
