"""Graph-level tasks: TU folds (Errica et al.'s protocol), CSL, OGB molecules offline, ogbg-molhiv rebuilt from
HIV.csv, the WL kernel, OGB's molecule GNNs and the generated default-suite task."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from gbench.errors import DatasetUnavailable, SpecError
from gbench.results import ResultStore, read_record


def _ctx(root, cache):
    from gbench.data.staging import DataContext

    return DataContext(data_root=root, cache_dir=cache, offline=True)


def test_molhiv_offline_scaffold_split_has_ogb_sizes(shared_data):
    from gbench.data.molecules import MOLHIV_CSV, MOLHIV_SIZES, molhiv_scaffold_split

    split = molhiv_scaffold_split(shared_data / MOLHIV_CSV)
    assert {k: len(v) for k, v in split.items()} == MOLHIV_SIZES == {"train": 32901, "valid": 4113, "test": 4113}
    every = np.concatenate(list(split.values()))
    assert np.array_equal(np.sort(every), np.arange(41127))  # disjoint and covering


def test_scaffold_split_orders_groups_by_size_then_first_index():
    from gbench.data.molecules import scaffold_split

    # groups: a = {0, 3, 5, 7} (4), b = {1, 4} (2), c = {2} (1), d = {6} (1), e = {8, 9} (2)
    scaffolds = ["a", "b", "c", "a", "b", "a", "d", "a", "e", "e"]
    split = scaffold_split(scaffolds, frac_train=0.6, frac_valid=0.2)
    # a (4) fits train (<= 6); then e (2, first index 8) before b (2, first index 1): train = a + e; b overflows
    # train and fits valid (<= 8); d (first index 6) before c (2) and both overflow valid -> test.
    assert split["train"].tolist() == [0, 3, 5, 7, 8, 9]
    assert split["valid"].tolist() == [1, 4]
    assert split["test"].tolist() == [2, 6]


def test_folds_are_stratified_disjoint_covering_deterministic_and_seeded():
    from gbench.data.folds import fold_fingerprint, kfold_splits, splits_from_spec

    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    folds = kfold_splits(y, folds=10, seed=0, val_fraction=0.1)
    tests = np.concatenate([f["test"].numpy() for f in folds])
    assert np.array_equal(np.sort(tests), np.arange(100))  # test folds partition the graphs
    for f in folds:
        parts = [f[k].numpy() for k in ("train", "val", "test")]
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(100))  # disjoint, covering, per fold
        assert np.bincount(y[f["test"].numpy()], minlength=3).tolist() == [7, 2, 1]  # stratified outer split
        assert len(parts[1]) == 9  # 10% of the fold's 90 training graphs
        assert np.bincount(y[parts[1]], minlength=3).tolist() == [6, 2, 1]  # stratified hold-out
    again = kfold_splits(y, folds=10, seed=0, val_fraction=0.1)
    assert fold_fingerprint(folds) == fold_fingerprint(again)
    other = kfold_splits(y, folds=10, seed=1, val_fraction=0.1)
    assert fold_fingerprint(other) != fold_fingerprint(folds)

    task = SimpleNamespace(id="t", split=SimpleNamespace(params={"folds": 10, "seed": 0, "sha256": "0" * 64}))
    with pytest.raises(SpecError, match="differ from split.params.sha256"):
        splits_from_spec(task, y)
    task.split.params["sha256"] = fold_fingerprint(folds)
    assert fold_fingerprint(splits_from_spec(task, y)) == fold_fingerprint(folds)


def test_tu_task_end_to_end_records_folds_and_population_std(cli, shared_data, tmp_path):
    from gbench.specs import load_task

    out = tmp_path / "o"
    result = cli("run", "--tasks", "mutag", "--models", "gin,wl-kernel", "--seeds", "1", "--set", "train.epochs=2",
                 "--data-root", shared_data, "--out", out, "--threads", "1")
    assert result.code == 0, result
    records = {r.model: r for r in (read_record(p) for p in ResultStore(out).record_paths())}
    assert set(records) == {"gin", "wl-kernel"} and all(r.status == "ok" for r in records.values())
    pinned = load_task("mutag").split.params["sha256"]
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    for name, rec in records.items():
        folds = rec.extra["fold_metrics"]["test"]
        assert len(folds) == 10 and rec.extra["num_folds"] == 10
        assert rec.extra["data"]["fold_sha256"] == pinned
        assert rec.std_over == "folds" and rec.std_ddof == 0
        row = board.loc[name]
        assert row["mean"] == pytest.approx(np.mean(folds))
        assert row["std"] == pytest.approx(np.std(folds))  # numpy's population std, as Errica et al.
        assert row["std_over"] == "folds" and row["std_ddof"] == 0
    assert records["wl-kernel"].metrics["test"]["accuracy"] > 0.7  # WL on MUTAG is well above the 66% majority


def test_k_fold_records_keep_each_folds_per_graph_outputs(cli, shared_data, tmp_path):
    """train.keep_predictions on a k-fold task, for a trained model and a fit/predict one: extra.fold_predictions
    holds each fold's val and test outputs, whose accuracy is that fold's recorded one, and
    benchmarks/split_errors.py reads every fold."""
    import contextlib
    import importlib.util
    import io
    from pathlib import Path

    from gbench.metrics import class_ids

    out = tmp_path / "o"
    result = cli("run", "--tasks", "mutag", "--models", "gin,wl-kernel", "--seeds", "1", "--set", "train.epochs=2",
                 "--set", "train.keep_predictions=true", "--data-root", shared_data, "--out", out, "--threads", "1")
    assert result.code == 0, result
    for rec in (read_record(p) for p in ResultStore(out).record_paths()):
        kept = rec.extra["fold_predictions"]
        assert len(kept) == 10 and "predictions" not in rec.extra
        for fold, preds in enumerate(kept):
            for split in ("val", "test"):
                correct = class_ids(np.asarray(preds[split]["score"])) == np.asarray(preds[split]["y"]).reshape(-1)
                assert correct.mean() == pytest.approx(rec.extra["fold_metrics"][split][fold]), (rec.model, fold)
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "split_errors.py"
    spec = importlib.util.spec_from_file_location("benchmark_split_errors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert module.main([str(out), "--a", "val", "--b", "test", "--resamples", "99"]) == 0
    heads = [line for line in printed.getvalue().splitlines() if not line.startswith(" ")]
    assert heads == [f"mutag / {m} / seed 0 / fold {f}: accuracy over {n_val} and {n_test} graphs"
                     for m in ("gin", "wl-kernel") for f, (n_val, n_test) in enumerate(
                         (len(p["val"]["index"]), len(p["test"]["index"])) for p in kept)]


def test_wl_subtree_kernel_on_a_known_case():
    from torch_geometric.data import Data

    from gbench.models.kernels import WLSubtreeFeatures, WLSubtreeSVM, wl_kernel

    def graph(edges, n):
        ei = torch.tensor(edges).t()
        return Data(x=torch.ones(n, 1), edge_index=torch.cat([ei, ei.flip(0)], 1), num_nodes=n)

    triangle, path = graph([[0, 1], [1, 2], [2, 0]], 3), graph([[0, 1], [1, 2]], 3)
    feats = WLSubtreeFeatures(iterations=1)
    feats.fit_columns([triangle, path])
    m = feats.transform([triangle, path])
    k = wl_kernel(m, m, normalize=False)
    # round 0: three identical labels each (3*3 = 9); round 1: the triangle's 3 nodes all have two neighbours,
    # the path has 2 ends and 1 middle node: <tri, path> = 9 + 3*1, <tri, tri> = 9 + 9, <path, path> = 9 + 4 + 1
    assert k.tolist() == [[18.0, 12.0], [12.0, 14.0]]
    svm = WLSubtreeSVM(iterations=1, C=1.0, normalize=True).fit([triangle, path] * 4, torch.tensor([1, 0] * 4))
    assert (np.asarray(svm.predict([path, triangle])) > 0).tolist() == [False, True]

    # A continuous attribute column is left out of the labels (else every node is unique and nothing matches).
    noisy = [graph([[0, 1], [1, 2], [2, 0]], 3), graph([[0, 1], [1, 2]], 3)]
    for i, g in enumerate(noisy):
        g.x = torch.cat([torch.rand(3, 1, generator=torch.Generator().manual_seed(i)), g.x], dim=1)
    feats = WLSubtreeFeatures(iterations=1)
    feats.fit_columns(noisy)
    assert feats.columns.tolist() == [1]
    m = feats.transform(noisy)
    assert wl_kernel(m, m, normalize=False).tolist() == [[18.0, 12.0], [12.0, 14.0]]


def test_ogbg_molbace_loads_offline_from_the_data_root(shared_data, tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    td = load_task_data(load_task("ogbg-molbace"), _ctx(shared_data, tmp_path))
    split = td.splits[0]
    assert len(td.graphs) == 1513 and {k: len(v) for k, v in split.items()} == {"train": 1210, "val": 151, "test": 152}
    assert td.feature_kind == "categorical" and td.graphs[0].x.dtype == torch.long and td.num_features == 9
    assert td.edge_dim == 3 and td.y.shape == (1513, 1)
    assert not (shared_data / "ogb" / "ogbg_molbace" / "processed").exists()  # nothing written into the root
    with pytest.raises(DatasetUnavailable, match="ogbg_molpcba/RELEASE_v1.txt"):
        load_task_data(load_task("ogbg-molpcba"), _ctx(shared_data, tmp_path))


def test_ogb_molecule_gnns_match_ogb_architecture_sizes():
    from gbench.models.contract import TaskInfo
    from gbench.models.graph import gcn, gin

    info = TaskInfo(level="graph", target="binary", num_features=9, out_dim=1, edge_dim=3,
                    extras={"categorical_features": True, "categorical_edges": True})
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    kw = {"hidden": 300, "layers": 5, "dropout": 0.5, "readout": "mean"}
    # The OGB leaderboard lists 1,885,206 / 527,701 / 3,336,306; each is 300 (one AtomEncoder row) fewer.
    assert count(gin(info, ogb_conv=True, **kw)) == 1885206 + 300
    assert count(gcn(info, ogb_conv=True, **kw)) == 527701 + 300
    assert count(gin(info, virtual_node=True, **kw)) == 3336306 + 300

    from torch_geometric.data import Batch, Data

    # A one-graph training batch (513 ogbg-molfreesolv training graphs, batch 32) must not break the virtual node.
    model = gin(info, hidden=16, layers=3, virtual_node=True).train()
    mol = Data(x=torch.zeros(3, 9, dtype=torch.long), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]),
               edge_attr=torch.zeros(4, 3, dtype=torch.long), num_nodes=3)
    assert model(Batch.from_data_list([mol])).shape == (1, 1) and model.training


def test_csl_has_five_stratified_folds(shared_data, tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    td = load_task_data(load_task("csl"), _ctx(shared_data, tmp_path))
    assert len(td.graphs) == 150 and td.num_classes == 10 and td.per_fold and len(td.splits) == 5
    assert all({k: len(v) for k, v in s.items()} == {"train": 90, "val": 30, "test": 30} for s in td.splits)
    assert all(np.bincount(td.y[s["test"]].numpy()).tolist() == [3] * 10 for s in td.splits)


def test_generated_colour_motifs_are_deterministic_and_balanced(tmp_path):
    from gbench.data import clear_memory_cache, load_task_data
    from gbench.specs import load_task

    task = load_task("colour-motifs")
    a = load_task_data(task, _ctx(None, tmp_path / "a"))
    clear_memory_cache()
    b = load_task_data(task, _ctx(None, tmp_path / "b"))
    assert torch.equal(a.y, b.y) and all(torch.equal(x.edge_index, z.edge_index) for x, z in zip(a.graphs, b.graphs))
    assert len(a.graphs) == 400 and len(a.splits) == 3
    assert 190 <= int(a.y.sum()) <= 200  # above the median: half the graphs, fewer by the ties at the median
