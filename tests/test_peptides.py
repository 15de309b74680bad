"""LRGB Peptides-func: the split pickle is opened only when its sha256 matches the spec, LRGB's split and graph
sizes, AP as LRGB computes it, and the GCN baseline's LRGB configuration."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from gbench.errors import DatasetUnavailable

FOLDER = Path("lrgb") / "peptides-functional"


def _ctx(root, cache):
    from gbench.data.staging import DataContext

    return DataContext(data_root=root, cache_dir=cache, offline=True)


@pytest.fixture(scope="module")
def peptides(tmp_path_factory):
    """The task loaded once for the module: featurising 15,535 peptides takes one to two minutes."""
    from conftest import SHARED_DATA, missing_data

    if not (SHARED_DATA / FOLDER / "splits_random_stratified_peptide.pickle").is_file():
        missing_data(f"LRGB Peptides-func not found at {SHARED_DATA / FOLDER}")
    from gbench.data import load_task_data
    from gbench.specs import load_task

    return load_task_data(load_task("peptides-func"), _ctx(SHARED_DATA, tmp_path_factory.mktemp("peptides-cache")))


class _Payload:
    """Unpickling this object creates `path`: the proof that a pickle was opened."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_split_pickle_with_another_checksum_is_refused_unopened(shared_data, tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    if not (shared_data / FOLDER).is_dir():
        pytest.skip("LRGB Peptides-func not in the data root")
    root = tmp_path / "root"
    shutil.copytree(shared_data / FOLDER, root / FOLDER)
    marker = tmp_path / "the-pickle-ran"
    split = root / FOLDER / "splits_random_stratified_peptide.pickle"
    split.chmod(0o644)
    split.write_bytes(pickle.dumps({"train": _Payload(marker)}))
    with pytest.raises(DatasetUnavailable, match="does not match dataset.params.split_sha256.*refusing to unpickle"):
        load_task_data(load_task("peptides-func"), _ctx(root, tmp_path / "cache"))
    assert not marker.exists()


def test_offline_without_the_files_names_both_and_where_they_go(tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    (tmp_path / "root").mkdir()
    with pytest.raises(DatasetUnavailable) as e:
        load_task_data(load_task("peptides-func"), _ctx(tmp_path / "root", tmp_path / "cache"))
    message = str(e.value)
    assert str(tmp_path / "root" / FOLDER / "raw" / "peptide_multi_class_dataset.csv.gz") in message
    assert str(tmp_path / "root" / FOLDER / "splits_random_stratified_peptide.pickle") in message


def test_lrgb_split_sizes_and_graph_sizes(peptides):
    split = peptides.splits[0]
    assert {k: len(v) for k, v in split.items()} == {"train": 10873, "val": 2331, "test": 2331}
    every = np.concatenate([v.numpy() for v in split.values()])
    assert np.array_equal(np.sort(every), np.arange(15535))  # disjoint and covering
    assert round(float(np.mean([g.num_nodes for g in peptides.graphs])), 2) == 150.94  # the LRGB paper
    assert peptides.y.shape == (15535, 10) and peptides.feature_kind == "categorical"
    assert peptides.num_features == 9 and peptides.edge_dim == 3


def test_ap_is_the_mean_over_tasks_of_sklearn_average_precision_on_labelled_rows():
    from sklearn.metrics import average_precision_score

    from gbench.metrics import get_metric
    from gbench.specs import load_task

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(300, 10)).astype(float)
    y[rng.random(y.shape) < 0.2] = np.nan
    scores = rng.normal(size=y.shape) + y * 0.5
    labelled = ~np.isnan(y)
    direct = np.mean([average_precision_score(y[labelled[:, t], t], scores[labelled[:, t], t]) for t in range(10)])
    assert get_metric(load_task("peptides-func").metric)(y, scores) == pytest.approx(direct, abs=1e-12)


def test_gcn_takes_lrgbs_configuration_on_peptides_func():
    from gbench.models.contract import TaskInfo
    from gbench.models.graph import gcn
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    import torch
    from torch_geometric.data import Batch, Data

    model = resolve_model(load_model("gcn", "graph"), load_task("peptides-func"))
    assert model.hparams == {"hidden": 300, "layers": 5, "dropout": 0.0, "readout": "mean", "head_layers": 1,
                             "l2norm": True, "conv_bias": False}
    assert (model.optim.name, model.optim.lr, model.train.batch_size) == ("adamw", 0.001, 128)
    schedule = model.train.lr_schedule  # LRGB's reduce_on_plateau
    assert (schedule.name, schedule.gamma, schedule.patience, schedule.min_lr) == ("plateau", 0.5, 20, 1e-5)
    info = TaskInfo(level="graph", target="multilabel", num_features=9, out_dim=10, edge_dim=3,
                    extras={"categorical_features": True, "categorical_edges": True})
    net = gcn(info, **model.hparams)
    # LRGB's GCN-500k has 507,910 (aggr_results/results-peptides-func.json): the same network, with one
    # AtomEncoder row of 300 more here (OGB's 174 atom categories), one linear head and no convolution bias.
    assert sum(p.numel() for p in net.parameters()) == 507910 + 300
    assert isinstance(net.head, torch.nn.Linear)
    pooled = []
    net.head.register_forward_pre_hook(lambda module, args: pooled.append(args[0].detach()))
    graph = Data(x=torch.zeros(4, 9, dtype=torch.long), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
    net.eval()(Batch.from_data_list([graph]))
    # identical atoms on a path: the GCN gives the node states one direction; L2-normalised, their mean is a unit
    # vector (without the normalisation its norm is whatever the layers make it)
    assert float(pooled[0].norm()) == pytest.approx(1.0, abs=1e-4)


def test_online_the_two_files_download_from_lrgbs_urls_and_are_checked(tmp_path, monkeypatch):
    from gbench.data import lrgb
    from gbench.data.staging import DataContext
    from gbench.specs import load_task

    fetched = []

    def fake_download(url: str, dst: Path) -> None:  # no network in tests: record the URL, write other bytes
        fetched.append(url)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b"not LRGB's file")

    monkeypatch.setattr(lrgb, "_download", fake_download)
    ctx = DataContext(data_root=None, cache_dir=tmp_path / "cache", offline=False)
    with pytest.raises(DatasetUnavailable, match="does not match dataset.params.csv_sha256"):
        lrgb.load_peptides(load_task("peptides-func"), ctx)
    assert sorted(fetched) == sorted(lrgb.URLS.values())
    assert all(url.startswith("https://www.dropbox.com/s/") for url in fetched)


def test_featurising_in_a_pool_gives_the_serial_graphs_in_order(shared_data, tmp_path, process_pools):
    """The pool over chunks of SMILES must not reorder or change a graph: 300 peptides, serial against 3
    processes, every tensor equal."""
    import gzip

    import torch

    from gbench.data import lrgb

    src = shared_data / FOLDER / "raw" / "peptide_multi_class_dataset.csv.gz"
    if not src.is_file():
        pytest.skip("LRGB Peptides-func not in the data root")
    with gzip.open(src, "rt") as f:
        head = "".join(next(f) for _ in range(301))  # the header and 300 peptides
    csv = tmp_path / "head.csv"
    csv.write_text(head)
    serial = lrgb.build_graphs(csv, processes=1)
    assert process_pools == []  # one process: no pool
    pooled = lrgb.build_graphs(csv, processes=3)
    # the pool really ran (a silent fallback to the serial path would make the comparison below vacuous)
    assert [(workers, len(pids)) for workers, pids in process_pools] == [(3, 3)]
    assert os.getpid() not in process_pools[0][1]
    assert serial["num_nodes"].numel() == 300
    for key, value in serial.items():
        assert torch.equal(value, pooled[key]) or (key == "y" and torch.equal(value.nan_to_num(-1),
                                                                               pooled[key].nan_to_num(-1))), key
