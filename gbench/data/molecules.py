"""OGB molecule datasets (ogbg-mol*): OGB's own files and official scaffold splits through
`PygGraphPropPredDataset`, and ogbg-molhiv rebuilt from MoleculeNet's `HIV.csv` where OGB's files are not at hand.

Atoms and bonds carry OGB's categorical features (9 atom and 3 bond columns of `ogb.utils.features`), so the
task data is `feature_kind='categorical'` and models embed them with OGB's AtomEncoder / BondEncoder.

ogbg-molhiv offline (`build_molhiv_from_csv`): OGB's molhiv is MoleculeNet's HIV set (41,127 molecules, same row
order) featurised by `ogb.utils.smiles2graph`, with the scaffold split of Hu et al. (ICLR 2020, "Strategies for
Pre-training GNNs", `splitters.scaffold_split`), which OGB ships: Bemis-Murcko scaffolds with chirality, scaffold
sets ordered by size (largest first, ties by their first molecule's index, also descending), assigned greedily to
train until 80% would be exceeded, then to valid until 90%, the rest to test: 32,901 / 4,113 / 4,113 molecules.
Seven SMILES of HIV.csv fail RDKit's valence check under current RDKit (hypervalent Al, B, Ge); OGB's files were
made with an RDKit that accepted them, so they are parsed here without the valence check (every other
sanitisation step kept) and featurised with the same OGB feature functions; the count is recorded.
The built graphs are cached, keyed by the CSV's sha256 and the ogb and RDKit versions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cache_lock, cached_tensors, copy_raw_tree, sha256_file, unavailable
from gbench.errors import DatasetUnavailable, SpecError
from gbench.ogb_import import import_ogb
from gbench.hashing import stable_hash
from gbench.specs import TaskSpec

MOLHIV_CSV = Path("moleculenet") / "hiv" / "raw" / "HIV.csv"
MOLHIV_SIZES = {"train": 32901, "valid": 4113, "test": 4113}
OGB_GRAPH_PARAMS = {"fallback_csv"}
FORMAT = "molhiv-csv-v1"


def _need_name(task: TaskSpec) -> str:
    if not task.dataset.name or not task.dataset.name.startswith("ogbg-"):
        raise SpecError(f"task '{task.id}': dataset.name must be an OGB graph dataset such as ogbg-molhiv for source "
                        f"'{task.dataset.source}'.")
    return task.dataset.name


def _task_data(graphs, y: torch.Tensor, split: dict[str, torch.Tensor], info: dict[str, Any]) -> GraphTaskData:
    y = y.float().view(len(graphs), -1)
    split = {"train": split["train"], "val": split["valid"], "test": split["test"]}
    return GraphTaskData(graphs=graphs, y=y, splits=[split], num_classes=2, feature_kind="categorical",
                         edge_kind="categorical", info={**info, "num_graphs": len(graphs),
                                                        **{f"num_{k}": int(v.numel()) for k, v in split.items()}})


def _ogb_dataset(name: str, ctx: DataContext):
    """`PygGraphPropPredDataset(name, root=<cache>/datasets/ogb)` on raw files staged from the data root's
    `ogb/<name with _>/` folder (OGB's layout), or downloaded by OGB where allowed; never prompts."""
    from gbench.data.ogb_compat import trusted_ogb_loads

    graphprop = import_ogb("ogb.graphproppred")
    folder = name.replace("-", "_")
    cache_root = ctx.cache_dir / "datasets" / "ogb"
    src = ctx.data_root / "ogb" / folder if ctx.data_root else None
    expected = [(src or Path("<data root>") / "ogb" / folder) / p for p in
                ("RELEASE_v1.txt", "raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/graph-label.csv.gz",
                 "split/scaffold/train.csv.gz")]
    with cache_lock(cache_root):
        if src is not None and (src / "raw").is_dir():
            copy_raw_tree(src, cache_root / folder)
        elif not (cache_root / folder / "raw").is_dir() and not (cache_root / folder / "processed").is_dir():
            if ctx.offline:
                raise unavailable(name, expected, ctx, hint=" (OGB downloads them from snap.stanford.edu when online)")
            # OGB downloads into a fresh folder; a partial one left by a failed download would make it prompt.
            import shutil

            shutil.rmtree(cache_root / folder, ignore_errors=True)
        try:
            with trusted_ogb_loads(cache_root):
                return graphprop.PygGraphPropPredDataset(name=name, root=str(cache_root))
        except DatasetUnavailable:
            raise
        except Exception as e:  # network errors come in many types; all mean the same to the user
            hint = (" (or run offline, GBENCH_OFFLINE=1, to rebuild it from the data root's "
                    f"{MOLHIV_CSV})") if name == "ogbg-molhiv" else ""
            raise unavailable(name, expected, ctx, e, hint=hint) from e


def load_ogb_graph(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """An ogbg-mol* dataset with its official split. `dataset.params.fallback_csv: true` (ogbg-molhiv only): when
    OGB's files are neither in the data root nor in the cache and downloads are off, build the dataset from the
    data root's MoleculeNet `moleculenet/hiv/raw/HIV.csv` instead (`build_molhiv_from_csv`)."""
    name = _need_name(task)
    params = dict(task.dataset.params)
    unknown = set(params) - OGB_GRAPH_PARAMS
    if unknown:
        raise SpecError(f"task '{task.id}': dataset.params has unknown field(s) {sorted(unknown)} for source "
                        f"'ogb-graph'; allowed: {', '.join(sorted(OGB_GRAPH_PARAMS))}.")
    if task.split.kind != "official":
        raise SpecError(f"task '{task.id}': split.kind must be 'official' (OGB's scaffold split) for source "
                        "'ogb-graph'.")
    folder = name.replace("-", "_")
    have_ogb = (ctx.data_root is not None and (ctx.data_root / "ogb" / folder / "raw").is_dir()) or \
        (ctx.cache_dir / "datasets" / "ogb" / folder / "processed").is_dir()
    csv = ctx.data_root / MOLHIV_CSV if ctx.data_root else None
    if params.get("fallback_csv") and name == "ogbg-molhiv" and not have_ogb and ctx.offline:
        if csv is None or not csv.is_file():
            raise unavailable(name, [(ctx.data_root or Path("<data root>")) / "ogb" / folder / "raw/edge.csv.gz",
                                     (ctx.data_root or Path("<data root>")) / MOLHIV_CSV], ctx,
                              hint=" (either OGB's files, or MoleculeNet's HIV.csv to rebuild them from)")
        return load_molhiv_csv(task, ctx)
    ds = _ogb_dataset(name, ctx)
    split = {k: torch.as_tensor(v, dtype=torch.long) for k, v in ds.get_idx_split().items()}
    from torch_geometric.data import Data

    graphs = [Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr, num_nodes=g.num_nodes) for g in ds]
    y = torch.cat([g.y.view(1, -1) for g in ds]).float()
    return _task_data(graphs, y, split, {"loader": f"ogb.graphproppred.PygGraphPropPredDataset(name='{name}')",
                                         "split": "official (OGB split/scaffold)"})


# ---------------------------------------------------------------------------------------------------------------
# ogbg-molhiv from MoleculeNet's HIV.csv


def _lenient_mol(smiles: str):
    """An RDKit molecule: sanitised normally, or, where only the valence check fails, with every other step."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        return mol, False
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    mol.UpdatePropertyCache(strict=False)
    flags = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
    Chem.SanitizeMol(mol, flags, catchErrors=True)
    return mol, True


def _mol_graph(mol) -> dict[str, np.ndarray]:
    """OGB's `smiles2graph` features, from a molecule object (same feature functions, same edge order)."""
    features = import_ogb("ogb.utils.features")
    x = np.array([features.atom_to_feature_vector(a) for a in mol.GetAtoms()], dtype=np.int64).reshape(-1, 9)
    edges, feats = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = features.bond_to_feature_vector(bond)
        edges += [(i, j), (j, i)]
        feats += [f, f]
    edge_index = np.array(edges, dtype=np.int64).T.reshape(2, -1)
    edge_attr = np.array(feats, dtype=np.int64).reshape(-1, 3)
    return {"node_feat": x, "edge_index": edge_index, "edge_feat": edge_attr}


def _scaffold(mol, murcko) -> str:
    """The Bemis-Murcko scaffold SMILES with chirality (`MurckoScaffoldSmiles(includeChirality=True)`); for a
    molecule kept without the valence check, RDKit's `MurckoDecompose` directly (the Python wrapper re-checks
    valences and would refuse it)."""
    from rdkit import Chem

    try:
        return murcko.MurckoScaffoldSmiles(mol=mol, includeChirality=True)
    except Exception:
        return Chem.MolToSmiles(Chem.MurckoDecompose(mol), isomericSmiles=True)


def scaffold_split(scaffolds: list[str], frac_train: float = 0.8, frac_valid: float = 0.1
                   ) -> dict[str, np.ndarray]:
    """Hu et al.'s deterministic scaffold split (the one OGB ships): molecules grouped by scaffold, groups sorted by
    (size, first index) descending, filled greedily into train, then valid, then test."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(scaffolds):
        groups.setdefault(s, []).append(i)
    ordered = sorted(groups.values(), key=lambda idx: (len(idx), idx[0]), reverse=True)
    n = len(scaffolds)
    train_cut, valid_cut = frac_train * n, (frac_train + frac_valid) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for idx in ordered:
        if len(train) + len(idx) > train_cut:
            if len(train) + len(valid) + len(idx) > valid_cut:
                test += idx
            else:
                valid += idx
        else:
            train += idx
    return {k: np.sort(np.array(v, dtype=np.int64)) for k, v in (("train", train), ("valid", valid), ("test", test))}


def read_hiv_csv(csv_path: Path) -> tuple[list[str], list[float]]:
    """SMILES and HIV_active labels of MoleculeNet's HIV.csv, in file order (blank lines skipped)."""
    import csv

    with open(csv_path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header, rows = rows[0], rows[1:]
    if header[:1] != ["smiles"] or "HIV_active" not in header:
        raise DatasetUnavailable(f"{csv_path}: not MoleculeNet's HIV.csv (header {header}); expected columns "
                                 "smiles, activity, HIV_active.")
    col = header.index("HIV_active")
    return [r[0] for r in rows], [float(r[col]) for r in rows]


def molhiv_scaffold_split(csv_path: Path) -> dict[str, np.ndarray]:
    """The scaffold split of HIV.csv alone (no featurisation): what the split-size test checks."""
    from rdkit import RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")
    smiles, _ = read_hiv_csv(csv_path)
    return scaffold_split([_scaffold(_lenient_mol(s)[0], MurckoScaffold) for s in smiles])


def build_molhiv_from_csv(csv_path: Path) -> dict[str, Any]:
    """Featurise HIV.csv as OGB does and split it by scaffold. Returns plain tensors: node features `x` [N, 9],
    `edge_index` [2, E] (per-graph node ids), `edge_attr` [E, 3], `num_nodes` [G], `num_edges` [G], `y` [G, 1],
    split index tensors `train`/`valid`/`test`, and `lenient` (indices parsed without the valence check)."""
    from rdkit import RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    smiles2graph = import_ogb("ogb.utils").smiles2graph
    RDLogger.DisableLog("rdApp.*")
    all_smiles, labels = read_hiv_csv(csv_path)
    xs, eis, eas, n_nodes, n_edges, scaffolds, lenient = [], [], [], [], [], [], []
    for i, smiles in enumerate(all_smiles):
        mol, relaxed = _lenient_mol(smiles)
        graph = _mol_graph(mol) if relaxed else smiles2graph(smiles)
        if relaxed:
            lenient.append(i)
        xs.append(graph["node_feat"])
        eis.append(graph["edge_index"])
        eas.append(graph["edge_feat"])
        n_nodes.append(graph["node_feat"].shape[0])
        n_edges.append(graph["edge_index"].shape[1])
        scaffolds.append(_scaffold(mol, MurckoScaffold))
    split = scaffold_split(scaffolds)
    return {"x": torch.from_numpy(np.concatenate(xs)), "edge_index": torch.from_numpy(np.concatenate(eis, axis=1)),
            "edge_attr": torch.from_numpy(np.concatenate(eas)), "num_nodes": torch.tensor(n_nodes),
            "num_edges": torch.tensor(n_edges), "y": torch.tensor(labels).view(-1, 1),
            **{k: torch.from_numpy(v) for k, v in split.items()}, "lenient": torch.tensor(lenient, dtype=torch.long)}


def molhiv_tensors(ctx: DataContext) -> tuple[dict[str, Any], str]:
    """The built molhiv tensors from gbench's cache, building them (about a minute) on first use."""
    import rdkit

    csv = ctx.data_root / MOLHIV_CSV if ctx.data_root else None
    if csv is None or not csv.is_file():
        raise unavailable("ogbg-molhiv (from MoleculeNet HIV.csv)",
                          [(ctx.data_root or Path("<data root>")) / MOLHIV_CSV], ctx)
    ogb_version = import_ogb("ogb.version").__version__
    key = stable_hash({"format": FORMAT, "csv": sha256_file(csv), "ogb": ogb_version,
                       "rdkit": rdkit.__version__})[:20]
    folder = ctx.cache_dir / "generated"
    path = folder / f"ogbg-molhiv-csv-{key}.pt"
    return cached_tensors(path, lambda: build_molhiv_from_csv(csv)), key


def load_molhiv_csv(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """ogbg-molhiv rebuilt from MoleculeNet's HIV.csv (see the module docstring)."""
    from torch_geometric.data import Data

    t, key = molhiv_tensors(ctx)
    graphs = []
    node_off = np.concatenate([[0], np.cumsum(t["num_nodes"].numpy())])
    edge_off = np.concatenate([[0], np.cumsum(t["num_edges"].numpy())])
    for g in range(t["num_nodes"].numel()):
        a, b, c, d = node_off[g], node_off[g + 1], edge_off[g], edge_off[g + 1]
        graphs.append(Data(x=t["x"][a:b], edge_index=t["edge_index"][:, c:d], edge_attr=t["edge_attr"][c:d],
                           num_nodes=int(b - a)))
    split = {k: t[k] for k in ("train", "valid", "test")}
    return _task_data(graphs, t["y"], split, {
        "loader": "ogb.utils.smiles2graph over MoleculeNet HIV.csv + Hu et al. scaffold split (gbench.data.molecules)",
        "split": "scaffold, rebuilt", "content_hash": key, "lenient_smiles": t["lenient"].tolist()})
