"""The graph-level runner on a tiny generated task registered by this test: scale test splits, k-fold records,
input transforms, and labels kept out of batches."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml
from hypothesis import given, settings, strategies as st

from gbench.data import SOURCES
from gbench.specs.params import SOURCE_PARAMS, FreeParams
from gbench.results import ResultStore, read_record


def _ring_or_path(n: int, ring: bool):
    from torch_geometric.utils import to_undirected

    src = torch.arange(n - 1)
    edges = torch.stack([src, src + 1])
    if ring:
        edges = torch.cat([edges, torch.tensor([[n - 1], [0]])], dim=1)
    return to_undirected(edges, num_nodes=n)


def load_rings(task, ctx):
    """Rings (label 1) versus paths (label 0): small graphs for train/val/test, larger ones for test_large."""
    from torch_geometric.data import Data

    from gbench.data.graphs import GraphTaskData

    gen = torch.Generator().manual_seed(0)
    graphs, labels = [], []
    sizes = [int(torch.randint(4, 9, (1,), generator=gen)) for _ in range(80)] + list(range(12, 32))
    for i, n in enumerate(sizes):
        ring = i % 2 == 0
        graphs.append(Data(edge_index=_ring_or_path(n, ring), num_nodes=n, x=torch.ones(n, 1)))
        labels.append(int(ring))
    y = torch.tensor(labels)
    small = torch.arange(80)
    if task.split.kind == "kfold":
        folds = [small[small % 4 != k] for k in range(4)]
        splits = [{"train": f[: int(0.8 * len(f))], "val": f[int(0.8 * len(f)):], "test": small[small % 4 == k]}
                  for k, f in enumerate(folds)]
        return GraphTaskData(graphs=graphs, y=y, splits=splits, num_classes=2, per_fold=True)
    split = {"train": small[:56], "val": small[56:68], "test": small[68:], "test_large": torch.arange(80, 100)}
    return GraphTaskData(graphs=graphs, y=y, splits=[split], num_classes=2)


def task_yaml(tmp_path, kind="generated", **protocol):
    spec = {
        "id": f"rings-{kind}", "version": 1, "level": "graph", "description": "rings versus paths",
        "dataset": {"source": "test-rings"},
        "split": {"kind": kind, "test_splits": ["test", "test_large"] if kind != "kfold" else ["test"]},
        "target": "multiclass", "metric": {"name": "accuracy", "higher_is_better": True},
        "protocol": {"seeds": 2, "epochs": 6, "batch_size": 16, "optim": {"lr": 0.01}, **protocol},
    }
    path = tmp_path / f"rings-{kind}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    monkeypatch.setitem(SOURCES, "test-rings", f"{__name__}:load_rings")
    monkeypatch.setitem(SOURCE_PARAMS, "test-rings", FreeParams)  # a source the specs do not know


def test_scale_splits_give_one_column_per_scale(cli, tmp_path):
    path = task_yaml(tmp_path)
    result = cli("run", "--tasks", path, "--models", "gin,gcn,gat,gps", "--seeds", "2", "--out", tmp_path / "o")
    assert result.code == 0, result
    recs = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert len(recs) == 8 and all(r.status == "ok" for r in recs)
    assert all(set(r.metrics) == {"val", "test", "test_large"} for r in recs)
    gps = next(r for r in recs if r.model == "gps")
    assert gps.model_spec["transforms"] == ["rw_pe:16"]
    board = pd.read_csv(tmp_path / "o" / "leaderboard.csv")
    assert {"test_large_mean", "test_large_std"} <= set(board.columns)
    gin = board[board.model == "gin"].iloc[0]
    values = sorted(r.metrics["test_large"]["accuracy"] for r in recs if r.model == "gin")
    assert gin["test_large_mean"] == pytest.approx(sum(values) / 2)


def test_kfold_job_records_every_fold_and_std_is_over_folds(cli, tmp_path):
    path = task_yaml(tmp_path, kind="kfold", std="folds", std_ddof=0)
    result = cli("run", "--tasks", path, "--models", "gin", "--seeds", "2", "--out", tmp_path / "o")
    assert result.code == 0, result
    recs = sorted((read_record(p) for p in ResultStore(tmp_path / "o").record_paths()), key=lambda r: r.seed)
    folds = [r.extra["fold_metrics"]["test"] for r in recs]
    assert all(len(f) == 4 for f in folds) and recs[0].extra["num_folds"] == 4
    assert recs[0].metrics["test"]["accuracy"] == pytest.approx(sum(folds[0]) / 4)
    per_fold = [(a + b) / 2 for a, b in zip(*folds)]  # seeds averaged within a fold, then mean/std over folds
    row = pd.read_csv(tmp_path / "o" / "leaderboard.csv").iloc[0]
    assert row["mean"] == pytest.approx(sum(per_fold) / 4)
    assert row["std"] == pytest.approx(pd.Series(per_fold).std(ddof=0)) and row["std_over"] == "folds"


def test_graph_batches_carry_no_labels():
    from types import SimpleNamespace

    from gbench.train.graph import GraphBatcher

    td = load_rings(SimpleNamespace(split=SimpleNamespace(kind="generated")), None)
    batcher = GraphBatcher(td.graphs, td.y, torch.device("cpu"))
    batch, y = next(batcher.batches(torch.arange(8), 4))
    assert batch.num_graphs == 4 and torch.equal(y, td.y[:4])
    with pytest.raises(AttributeError, match="not a model input"):
        batch.y


def test_lap_pe_is_deterministic_and_orthonormal():
    from gbench.data.transforms import laplacian_eigvecs

    ei = _ring_or_path(10, ring=False)
    a, b = laplacian_eigvecs(ei, 10, 4), laplacian_eigvecs(ei, 10, 4)
    assert torch.equal(a, b) and a.shape == (10, 4)
    assert torch.allclose(a.t() @ a, torch.eye(4), atol=1e-5)
    padded = laplacian_eigvecs(_ring_or_path(3, ring=False), 3, 4)
    assert padded.shape == (3, 4) and torch.all(padded[:, 2:] == 0)


def _petersen_laplacian():
    """The Petersen graph's normalized Laplacian: eigenvalues 0, 2/3 (five times) and 5/3 (four times)."""
    import networkx as nx

    from gbench.data.transforms import normalized_laplacian

    ei = torch.tensor(list(nx.petersen_graph().edges())).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    return ei, normalized_laplacian(ei, 10)


def test_the_canonical_eigenbasis_depends_on_the_eigenspaces_alone():
    """Inside a repeated eigenvalue's eigenspace eigh may return any basis (which one depends on the BLAS kernel);
    `canonical_eigvecs` gives the same vectors for every basis of the same eigenspaces, signs of simple eigenvectors
    included, and they are still an orthonormal eigenbasis. The LAPACK basis, rotated, is not the same."""
    import numpy as np

    from gbench.data.transforms import canonical_eigvecs, laplacian_eigenpairs, laplacian_eigvecs

    ei, lap = _petersen_laplacian()
    vals, vecs = np.linalg.eigh(lap)
    rng = np.random.default_rng(0)
    other = vecs.copy()
    for lo, hi in ((1, 6), (6, 10)):  # another orthonormal basis of each repeated eigenspace
        q, _ = np.linalg.qr(rng.standard_normal((hi - lo, hi - lo)))
        other[:, lo:hi] = vecs[:, lo:hi] @ q
    other[:, 0] *= -1  # and the other sign of the simple one
    assert np.abs(other[:, :4] - vecs[:, :4]).max() > 0.1  # a basis that really differs
    for upto in (4, 6, 10):  # cutting through an eigenspace (4), at its end (6), all of them
        a, b = canonical_eigvecs(vals, vecs, upto), canonical_eigvecs(vals, other, upto)
        assert np.abs(a - b).max() < 1e-10
        assert np.allclose(a.T @ a, np.eye(upto), atol=1e-10) and np.allclose(lap @ a, a * vals[:upto], atol=1e-10)
    # The transforms take it as their `canonical` basis; the default stays LAPACK's.
    _, canon = laplacian_eigenpairs(ei, 10, 4, "sym", canonical=True)
    assert torch.allclose(canon, torch.from_numpy(canonical_eigvecs(vals, vecs, 4)).float())
    assert torch.allclose(laplacian_eigvecs(ei, 10, 3, canonical=True), canon[:, 1:4])
    simple = torch.from_numpy(canonical_eigvecs(vals, vecs, 1)).float()[:, 0]
    assert torch.allclose(simple, laplacian_eigenpairs(ei, 10, 1)[1][:, 0])  # the old sign rule, where it is defined


@settings(max_examples=25, deadline=None)
@given(n=st.integers(6, 30), jumps=st.sets(st.integers(1, 14), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       upto=st.integers(1, 12))
def test_the_canonical_eigenbasis_of_a_circulant_graph_ignores_any_rotation_of_its_eigenspaces(n, jumps, seed, upto):
    """Circulant graphs (a cycle with chords of fixed lengths) have mostly double eigenvalues: for any of them, any
    orthonormal change of basis inside each eigenspace and any cut, the canonical basis is the same and is still an
    orthonormal eigenbasis."""
    import numpy as np

    from gbench.data.transforms import canonical_eigvecs, normalized_laplacian

    src = torch.arange(n).repeat(len(jumps))
    dst = torch.cat([(torch.arange(n) + j) % n for j in sorted(jumps)])
    keep = src != dst
    ei = torch.stack([src[keep], dst[keep]])
    lap = normalized_laplacian(torch.cat([ei, ei.flip(0)], 1), n)
    vals, vecs = np.linalg.eigh(lap)
    rng, other, start = np.random.default_rng(seed), vecs.copy(), 0
    while start < n:  # rotate (and reflect) every eigenspace at random
        end = start + 1
        while end < n and vals[end] - vals[end - 1] < 1e-8:
            end += 1
        q, _ = np.linalg.qr(rng.standard_normal((end - start, end - start)))
        other[:, start:end] = vecs[:, start:end] @ q
        start = end
    upto = min(upto, n)
    a, b = canonical_eigvecs(vals, vecs, upto), canonical_eigvecs(vals, other, upto)
    assert np.abs(a - b).max() < 1e-9
    assert np.allclose(a.T @ a, np.eye(upto), atol=1e-9) and np.allclose(lap @ a, a * vals[:upto], atol=1e-9)


def test_the_canonical_eigenbasis_is_the_same_on_two_blas_kernels():
    """Where this CPU runs two OpenBLAS kernels (OPENBLAS_CORETYPE), LAPACK's eigenbasis of a symmetric graph
    differs between them and the canonical one does not."""
    import subprocess
    import sys

    code = ("import sys, torch, networkx as nx\n"
            "from threadpoolctl import threadpool_info\n"
            "from gbench.data.transforms import laplacian_eigvecs\n"
            "g = nx.circular_ladder_graph(12)\n"
            "ei = torch.tensor(list(g.edges())).t(); ei = torch.cat([ei, ei.flip(0)], 1)\n"
            "out = {b: laplacian_eigvecs(ei, 24, 8, b).numpy().tolist() for b in (False, True)}\n"
            "print(repr(([i.get('architecture') for i in threadpool_info()], out)))\n")
    runs = []
    for kernel in ("Haswell", "SkylakeX"):
        env = {**__import__("os").environ, "OPENBLAS_CORETYPE": kernel}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        runs.append(eval(done.stdout.strip().splitlines()[-1]))
    if runs[0][0] == runs[1][0]:
        pytest.skip(f"this CPU or numpy build runs one OpenBLAS kernel only ({runs[0][0]})")
    lapack = [torch.tensor(r[1][False]) for r in runs]
    canonical = [torch.tensor(r[1][True]) for r in runs]
    assert (lapack[0] - lapack[1]).abs().max() > 1e-3
    assert torch.equal(canonical[0], canonical[1])  # bitwise: rounded to 1e-7 after a basis free of the kernel


def test_a_misspelt_eigenbasis_stops_the_sweep_before_it_starts(cli, tmp_path):
    from gbench import specs
    from gbench.specs.problems import transform_problems

    spec = yaml.safe_load((specs.catalog_root() / "baselines" / "structure" / "gin-lappe.yaml").read_text())
    spec["transforms"] = ["degree_onehot:100", "lap_pe:16:canonica"]
    path = tmp_path / "gin-lappe-canonical.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("run", "--tasks", "structure-topology-cpu", "--models", path, "--seeds", "1", "--out", tmp_path / "r")
    assert result.code == 2 and "'lapack' or 'canonical'" in result.err and "transforms" in result.err, result
    assert not (tmp_path / "r").exists()
    assert not transform_problems(["lap_pe:16:canonical", "eig:16:sym:canonical", "eig:8:comb"], ("transforms",))


def test_lap_pe_of_a_graph_with_an_isolated_node_warns_nothing_and_gives_it_finite_entries():
    import warnings

    from gbench.data.structure.labels import normalized_laplacian_lambda2
    from gbench.data.transforms import laplacian_eigvecs

    ei = _ring_or_path(4, ring=False)  # nodes 0-3 a path, node 4 isolated (Peptides-func has such atoms)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero RuntimeWarning used to reach the user's terminal
        vecs = laplacian_eigvecs(ei, 5, 3)
        lam2 = normalized_laplacian_lambda2(5, ei.t().numpy())
    assert torch.isfinite(vecs).all()
    # the isolated node's L_ii = 1 adds the eigenvalue 1, so the second smallest is the path's own (0.5 for 4 nodes)
    assert lam2 == pytest.approx(normalized_laplacian_lambda2(4, ei.t().numpy())) == pytest.approx(0.5)


def test_check_model_graph_level(cli):
    ok = cli("check-model", "gbench.models.graph:gin", "--level", "graph")
    assert ok.code == 0, ok
    bad = cli("check-model", "gbench.models.node:gcn", "--level", "graph")
    assert bad.code == 1 and "FAIL output shape" in bad.out


def test_lr_schedule_is_applied_and_recorded(cli, tmp_path):
    path = task_yaml(tmp_path, eval_every=6)  # only the last of the 6 epochs is evaluated, so both select it
    runs = {}
    for name, extra in {"constant": [], "step": ["--set", "train.lr_schedule={name: step, step_size: 1, gamma: 0.1}"]
                        }.items():
        result = cli("run", "--tasks", path, "--models", "gin", "--seeds", "1", "--out", tmp_path / name, *extra)
        assert result.code == 0, result
        (record,) = [read_record(p) for p in ResultStore(tmp_path / name).record_paths()]
        runs[name] = record
    assert runs["step"].model_spec["train"]["lr_schedule"] == {"name": "step", "step_size": 1, "gamma": 0.1}
    assert runs["constant"].model_spec["train"].get("lr_schedule") is None
    # A rate divided by 10 after every epoch trains a different model from epoch 2 on.
    assert runs["step"].selected_epoch == runs["constant"].selected_epoch == 6
    assert runs["step"].val_loss != runs["constant"].val_loss


def load_rings_with_a_dot(task, ctx):
    """`load_rings` with training graph 0 replaced by a single node (a one-atom molecule, as in ogbg-molfreesolv)."""
    from torch_geometric.data import Data

    data = load_rings(task, ctx)
    data.graphs[0] = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=1, x=torch.ones(1, 1))
    return data


def test_a_training_batch_of_one_node_is_skipped_and_counted(cli, tmp_path, monkeypatch):
    # Its own source and task id: the finished-data cache must not hand back the plain rings of other tests.
    monkeypatch.setitem(SOURCES, "test-rings-dot", f"{__name__}:load_rings_with_a_dot")
    monkeypatch.setitem(SOURCE_PARAMS, "test-rings-dot", FreeParams)  # a source the specs do not know
    path = task_yaml(tmp_path)
    spec = yaml.safe_load(path.read_text())
    spec.update(id="rings-dot", dataset={"source": "test-rings-dot"})
    path.write_text(yaml.safe_dump(spec))
    # Batch size 1: the one-node graph is a batch alone, which batch norm cannot train on.
    result = cli("run", "--tasks", path, "--models", "gin", "--seeds", "1", "--set", "train.batch_size=1",
                 "--set", "train.epochs=2", "--out", tmp_path / "o")
    assert result.code == 0, result
    (record,) = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert record.status == "ok" and record.extra["skipped_single_node_batches"] == 2
