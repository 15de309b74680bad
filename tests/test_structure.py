"""Structural-abstraction tasks (GraphAbstract): labels against independent computations, byte-identical
datasets, scale-split sizes, a deterministic renderer, and an end-to-end run with a GNN and a vision model."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import missing_data

from gbench.data import structure as S
from gbench.data.staging import DataContext
from gbench.results import ResultStore, read_record


def _benchmark(name: str):
    """A script of benchmarks/, imported as a module."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params(task: str, n: int = 6, seed: int = 0, **extra) -> dict:
    lo = 30 if task == "symmetry" else 20
    ranges = {"train": [lo, 50], "val": [lo, 50], "test_id": [lo, 50], "test_near_ood": [40, 70],
              "test_far_ood": [60, 90]}
    return {**S.DEFAULTS, "task": task, "seed": seed, **extra,
            "splits": {k: {"graphs": n, "nodes": r} for k, r in ranges.items()}}


def _graphs(blob):
    ptr, ei = blob["edge_ptr"], blob["edge_index"]
    for i, n in enumerate(blob["num_nodes"].tolist()):
        e = ei[:, int(ptr[i]): int(ptr[i + 1])].numpy()
        yield n, e[:, e[0] < e[1]].T


@pytest.fixture(scope="module")
def blobs():
    return {t: S.generate(_params(t)) for t in S.TASKS}


def test_bridge_counts_match_brute_force(blobs):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def components(n, e):
        return connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)),
                                    directed=False)[0]

    blob = blobs["bridges"]
    counts = []
    for (n, e), y in zip(_graphs(blob), blob["y"].tolist()):
        base = components(n, e)
        counts.append(sum(components(n, np.delete(e, k, 0)) > base for k in range(len(e))))
        assert counts[-1] == y
    assert len(set(counts)) > 3  # the label varies


def test_spectral_gap_matches_scipy(blobs):
    from scipy.linalg import eigvalsh
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import laplacian

    blob = blobs["spectral_gap"]
    values = []
    for (n, e), y in zip(_graphs(blob), blob["y"].tolist()):
        a = coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
        lam = eigvalsh(laplacian(a.toarray(), normed=True))
        assert lam[0] == pytest.approx(0, abs=1e-8) and lam[1] > 1e-6  # connected
        assert y == pytest.approx(lam[1], abs=1e-5)
        values.append(y)
    assert 0 < min(values) < 0.2 and max(values) > 0.4


def test_symmetry_labels_match_automorphisms(blobs):
    import networkx as nx
    import pynauty
    from networkx.algorithms.isomorphism import GraphMatcher

    blob = blobs["symmetry"]
    assert blob["y"].tolist() == [1, 0] * 15  # balanced by construction
    for k, ((n, e), y) in enumerate(zip(_graphs(blob), blob["y"].tolist())):
        adj = {v: [] for v in range(n)}
        for u, v in e.tolist():
            adj[u].append(v)
        size = pynauty.autgrp(pynauty.Graph(n, adjacency_dict=adj))[1]
        assert (size > 1) == bool(y)
        if k < 8:  # VF2 on a few: a non-identity automorphism exists iff symmetric
            g = nx.Graph(e.tolist())
            g.add_nodes_from(range(n))
            found = sum(1 for _, m in zip(range(2), GraphMatcher(g, g).isomorphisms_iter()))
            assert (found > 1) == bool(y)


def test_topology_labels_are_generator_families(blobs):
    blob = blobs["topology"]
    assert torch.equal(blob["y"], blob["family"])
    assert torch.bincount(blob["y"]).tolist() == [5] * 6  # 30 graphs, 6 classes, balanced
    # the families differ where they should: cyclic graphs are sparse rings, communities are dense
    mean_deg = {c: [] for c in range(6)}
    for (n, e), y in zip(_graphs(blob), blob["y"].tolist()):
        mean_deg[y].append(2 * len(e) / n)
    assert np.mean(mean_deg[2]) > np.mean(mean_deg[1])


def test_every_graph_connected_and_sizes_in_range(blobs):
    for task, blob in blobs.items():
        p = _params(task)
        for (n, e), s in zip(_graphs(blob), blob["split"].tolist()):
            lo, hi = p["splits"][S.SPLITS[s]]["nodes"]
            assert lo <= n <= hi and S.is_connected(n, e), task


def test_same_spec_same_bytes_and_seed_changes_data(tmp_path):
    p = _params("bridges", n=4)
    paths = []
    for name in ("a", "b"):
        ctx = DataContext(data_root=None, cache_dir=tmp_path / name)
        S.load_or_generate(p, ctx)
        paths.append(S.cache_path(p, ctx))
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in paths]
    assert digest[0] == digest[1]
    torch.load(paths[0], weights_only=True)  # plain tensors only
    other = S.generate(_params("bridges", n=4, seed=1))
    assert not torch.equal(other["edge_index"][:, :50], torch.load(paths[0], weights_only=True)["edge_index"][:, :50])


def test_catalog_specs_have_table4_sizes():
    from gbench.specs import load_task

    table4 = {"structure-topology": [3000, 300, 300, 300, 300], "structure-symmetry": [2000, 200, 600, 600, 600],
              "structure-spectral-gap": [3000, 300, 300, 300, 300], "structure-bridges": [2500, 250, 250, 250, 250]}
    for tid, sizes in table4.items():
        spec = load_task(tid)
        splits = spec.dataset.params["splits"]
        assert [splits[s]["graphs"] for s in S.SPLITS] == sizes
        assert spec.split.test_splits == ["test_id", "test_near_ood", "test_far_ood"]
        assert load_task(f"{tid}-cpu").dataset.params["splits"]["train"]["graphs"] < sizes[0]
    assert load_task("structure-symmetry-synthetic-cpu").dataset.params["bases"] == "synthetic"
    assert load_task("structure-symmetry").dataset.params["bases"] == "real"


def test_split_sizes_follow_the_spec(tmp_path):
    from gbench.specs import load_task

    spec = load_task("structure-topology-cpu")
    small = {k: {"graphs": 3 + i, "nodes": v["nodes"]} for i, (k, v) in
             enumerate(spec.dataset.params["splits"].items())}
    task = spec.model_copy(update={"dataset": spec.dataset.model_copy(
        update={"params": {**spec.dataset.params, "splits": small}})})
    td = S.load_structure(task, DataContext(data_root=None, cache_dir=tmp_path))
    assert {k: int(v.numel()) for k, v in td.splits[0].items()} == {k: 3 + i for i, k in enumerate(S.SPLITS)}
    assert td.num_classes == 6 and len(td.graphs) == sum(3 + i for i in range(5))


def test_renderer_is_deterministic_and_cached(tmp_path):
    from gbench.data.render import render_images

    td = S.to_task_data(S.generate(_params("topology", n=2)), "k")
    ctx = DataContext(data_root=None, cache_dir=tmp_path)
    a = render_images(td.graphs, "fa2", 32, 0, ctx)
    files = list((tmp_path / "renders").glob("*.pt"))
    assert len(files) == 1 and a.shape == (10, 3, 32, 32) and a.dtype == torch.uint8
    b = render_images(td.graphs, "fa2", 32, 0, None)  # drawn again, not read from the cache
    assert torch.equal(a, b) and a.float().mean() > 1  # something was drawn
    assert not torch.equal(a, render_images(td.graphs, "spectral", 32, 0, None))


def test_real_bases_fail_clearly_offline_without_data(cli, tmp_path):
    # An empty cache of its own: with no data root the cache serves as one, and other tests stage MUTAG and Cora
    # into the session-wide cache.
    result = cli("run", "--tasks", "structure-symmetry-cpu", "--models", "gin-degree", "--seeds", "1",
                 "--out", tmp_path / "o", "--cache-dir", tmp_path / "cache")
    assert result.code != 0
    assert "MUTAG" in result.err + result.out and "data root" in result.err + result.out


def test_real_bases_from_the_data_root(shared_data, tmp_path):
    if not (shared_data / "TU" / "MUTAG" / "raw").is_dir():
        missing_data("MUTAG not in the data root")
    real = S.load_real_bases(DataContext(data_root=shared_data, cache_dir=tmp_path, offline=True), S.DEFAULTS)
    assert min(real.by_size) >= 10 and len(real.starts) > 2000
    blob = S.generate(_params("symmetry", n=4, bases="real"), real)
    assert blob["y"].tolist() == [1, 0] * 10


def test_end_to_end_scale_metrics_for_a_gnn_and_a_vision_model(cli, tmp_path):
    from gbench.specs import load_task

    spec = load_task("structure-topology-cpu").model_dump(mode="json", exclude_none=True)
    spec["id"] = "structure-topology-tiny"
    spec["dataset"]["params"]["splits"] = {k: {"graphs": g, "nodes": v["nodes"]} for (k, v), g in
                                           zip(spec["dataset"]["params"]["splits"].items(), [24, 12, 12, 12, 12])}
    spec["protocol"].update({"epochs": 2, "seeds": 1})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("run", "--tasks", path, "--models", "gin-degree,resnet10-spectral-scratch", "--seeds", "1",
                 "--set", "train.epochs=2", "--out", tmp_path / "o", "--threads", "1")
    assert result.code == 0, result
    recs = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert sorted(r.model for r in recs) == ["gin-degree", "resnet10-spectral-scratch"]
    for r in recs:
        assert r.status == "ok" and set(r.metrics) == {"val", "test_id", "test_near_ood", "test_far_ood"}
        assert r.test_splits[0] == "test_id"
    board = pd.read_csv(tmp_path / "o" / "leaderboard.csv")
    assert {"test_near_ood_mean", "test_far_ood_mean"} <= set(board.columns)


def test_a_traced_run_keeps_every_splits_curve_and_trains_and_selects_exactly_as_an_untraced_one(cli, tmp_path):
    """train.trace_every scores the test and scale splits along the way (extra.curve, with the epochs' training and
    validation losses) without touching training or selection: the traced record's metrics and selected epoch equal
    the untraced one's, and the curve's values at the selected epoch are the record's own test metrics. Both keep
    the validation history selection saw (extra.history). Node and link tasks refuse tracing before the sweep."""
    from gbench.specs import load_task

    spec = load_task("structure-topology-cpu").model_dump(mode="json", exclude_none=True)
    spec["id"] = "structure-topology-tiny"
    spec["dataset"]["params"]["splits"] = {k: {"graphs": g, "nodes": v["nodes"]} for (k, v), g in
                                           zip(spec["dataset"]["params"]["splits"].items(), [96, 36, 24, 24, 24])}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    common = ["run", "--tasks", path, "--models", "gin-degree", "--seeds", "1", "--threads", "1"]
    assert cli(*common, "--set", "train.epochs=8", "--out", tmp_path / "plain").code == 0
    result = cli(*common, "--set", "train.epochs=8", "--set", "train.trace_every=1", "--out", tmp_path / "traced")
    assert result.code == 0, result
    [plain] = [read_record(p) for p in ResultStore(tmp_path / "plain").record_paths()]
    [traced] = [read_record(p) for p in ResultStore(tmp_path / "traced").record_paths()]
    assert traced.metrics == plain.metrics and traced.selected_epoch == plain.selected_epoch
    curve = traced.extra["curve"]
    assert curve["epoch"] == list(range(1, traced.epochs_run + 1)) and "curve" not in plain.extra
    assert len(set(curve["val"])) > 1  # the model learns something, so equal records are not two constant ones
    at = curve["epoch"].index(traced.selected_epoch)
    for split in ("val", "test_id", "test_near_ood", "test_far_ood"):
        assert curve[split][at] == traced.metrics[split]["accuracy"]
    # and each traced epoch's mean training loss and validation loss, the selected one's being the record's
    assert len(curve["train_loss"]) == len(curve["val_loss"]) == traced.epochs_run
    assert curve["val_loss"][at] == traced.val_loss and curve["train_loss"][-1] < curve["train_loss"][0]
    # untraced or not, every record keeps what selection saw at each epoch (extra.history): the traced curve's
    # validation metric and the two losses, so the selected epoch's are the record's
    for record in (plain, traced):
        history = record.extra["history"]
        assert history["epoch"] == curve["epoch"]
        assert {k: history[k] for k in ("val", "val_loss", "train_loss")} == {
            k: curve[k] for k in ("val", "val_loss", "train_loss")}
    assert plain.extra["history"]["val"][at] == plain.metrics["val"]["accuracy"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _benchmark("split_curves").main([str(tmp_path / "plain")]) == 0
    assert f"{traced.selected_epoch:>5}  {curve['val'][at]:>13.4f}" in out.getvalue()
    assert _benchmark("split_curves").kept_line(plain.extra["history"]["val"], curve["val"][at]) in out.getvalue()
    # that line on a curve whose median, range and 10 % count are known (a kept low among noisy epochs)
    assert _benchmark("split_curves").kept_line([0.5, 1.0, 0.54, 8.0, 0.58, 1.2], 0.5) == (
        "validation: kept 0.5000; over the 6 epochs listed median 0.7900, range 0.5000-8.0000; 2 within 10 % of the "
        "kept value (it included)")
    # benchmarks/split_curves.py --gap (benchmarks/README.md section 18) summarises exactly this curve
    gaps = [v - t for v, t in zip(curve["val"], curve["test_id"])]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _benchmark("split_curves").main([str(tmp_path / "traced"), "--gap", "test_id"]) == 0
    assert (f"val - test_id: val lower at {sum(g < 0 for g in gaps)} of {len(gaps)} traced epochs, mean difference "
            f"{sum(gaps) / len(gaps):+.4f}; at the selected epoch {gaps[at]:+.4f}") in out.getvalue()
    refused = cli("run", "--tasks", "sbm-node", "--models", "gcn", "--seeds", "1", "--set", "train.trace_every=1",
                  "--out", tmp_path / "node")
    assert refused.code == 2 and "trace_every traces graph-level tasks only" in refused.err


def _tiny_bridges(tmp_path: Path) -> Path:
    """structure-bridges-cpu with 60 / 30 / 30 / 20 / 20 graphs (train, val, test ID, near, far), as a YAML file."""
    from gbench.specs import load_task

    spec = load_task("structure-bridges-cpu").model_dump(mode="json", exclude_none=True)
    spec["id"] = "structure-bridges-tiny"
    spec["dataset"]["params"]["splits"] = {k: {"graphs": g, "nodes": v["nodes"]} for (k, v), g in
                                           zip(spec["dataset"]["params"]["splits"].items(), [60, 30, 30, 20, 20])}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_kept_predictions_are_the_outputs_the_metrics_came_from_and_change_no_number(cli, tmp_path):
    """train.keep_predictions keeps every reported split's per-graph labels and outputs at the selected epoch
    (extra.predictions) without touching training or selection: the record's metrics equal the plain run's, and
    each split's metric recomputed from its kept outputs is the record's, validation's included (predicted once
    more from the selected parameters). benchmarks/split_errors.py reads them; node and link tasks refuse the
    setting before the sweep."""
    path = _tiny_bridges(tmp_path)
    common = ["run", "--tasks", path, "--models", "gcn-degree", "--seeds", "1", "--threads", "1",
              "--set", "train.epochs=4"]
    assert cli(*common, "--out", tmp_path / "plain").code == 0
    result = cli(*common, "--set", "train.keep_predictions=true", "--out", tmp_path / "kept")
    assert result.code == 0, result
    [plain] = [read_record(p) for p in ResultStore(tmp_path / "plain").record_paths()]
    [kept] = [read_record(p) for p in ResultStore(tmp_path / "kept").record_paths()]
    assert kept.metrics == plain.metrics and kept.selected_epoch == plain.selected_epoch
    assert kept.job_id != plain.job_id and "predictions" not in plain.extra
    preds = kept.extra["predictions"]
    sizes = {"val": 30, "test_id": 30, "test_near_ood": 20, "test_far_ood": 20}
    assert {s: len(preds[s]["index"]) for s in preds} == sizes
    for split, p in preds.items():
        assert len(p["y"]) == len(p["score"]) == sizes[split] and len(set(p["index"])) == sizes[split]
        mae = float(np.mean(np.abs(np.asarray(p["score"]).reshape(-1) - np.asarray(p["y"]).reshape(-1))))
        assert mae == pytest.approx(kept.metrics[split]["mae"], rel=1e-5)
    assert len(set(np.asarray(preds["val"]["score"]).reshape(-1).round(4))) > 1  # not a constant predictor
    # benchmarks/split_errors.py (benchmarks/README.md section 19) compares two splits' per-graph errors
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _benchmark("split_errors").main([str(tmp_path / "kept"), "--resamples", "999"]) == 0
    line = out.getvalue()
    errors = {s: np.abs(np.asarray(preds[s]["score"]).reshape(-1) - np.asarray(preds[s]["y"]).reshape(-1)).mean()
              for s in ("val", "test_id")}
    diff = errors["val"] - errors["test_id"]
    assert f"val - test_id {diff:+.4f}, 95% CI [" in line and "permutation p " in line, line
    low, high = (float(x) for x in line.split("CI [")[1].split("]")[0].split(", "))
    p_value = float(line.split("permutation p ")[1].split("\n")[0])
    assert low <= diff <= high and 0 < p_value <= 1
    y = {s: float(np.mean(preds[s]["y"])) for s in ("val", "test_id")}
    assert f"  val {errors['val']:.4f} ± " in line and f", test_id {errors['test_id']:.4f} ± " in line
    assert f"  mean label {y['val']:.3f}, {y['test_id']:.3f}; Spearman(label, absolute error) " in line
    assert max(len(row) for row in line.splitlines()) <= 80
    refused = cli("run", "--tasks", "sbm-node", "--models", "gcn", "--seeds", "1", "--set",
                  "train.keep_predictions=true", "--out", tmp_path / "node")
    assert refused.code == 2 and "keep_predictions keeps per-graph outputs of graph-level tasks only" in refused.err


def test_split_errors_permutation_and_bootstrap_see_a_real_gap_and_not_a_null_one():
    """benchmarks/split_errors.py's statistics: two samples from one distribution give a large p and an interval
    around zero; a shifted one gives a small p and an interval that excludes zero."""
    compare = _benchmark("split_errors").compare
    rng = np.random.default_rng(0)
    same = compare(rng.exponential(1.0, 250), rng.exponential(1.0, 250), resamples=1999)
    shifted = compare(rng.exponential(1.0, 250), rng.exponential(1.0, 250) + 0.5, resamples=1999)
    assert same[3] > 0.05 and same[1] < 0 < same[2]
    assert shifted[3] <= 2 / 2000 and shifted[2] < 0  # the smallest two-sided p 1999 resamples can give
    # every graph right in both splits (per-graph accuracy 1): an interval of zero width, not an error
    assert compare(np.ones(20), np.ones(30), resamples=999) == (0.0, 0.0, 0.0, 1.0)


def test_paired_graphs_compares_two_models_on_the_same_kept_graphs(cli, tmp_path):
    """benchmarks/paired_graphs.py (benchmarks/README.md section 20) pairs two models' kept per-graph errors by
    dataset index: each side's mean is its record's metric, the difference and the better/worse/tied counts are the
    per-graph ones, one model against itself ties everywhere, and what it cannot pair ends in one sentence."""
    path = _tiny_bridges(tmp_path)
    kept = tmp_path / "kept"
    result = cli("run", "--tasks", path, "--models", "gcn-degree,gat-degree", "--seeds", "2", "--threads", "1",
                 "--set", "train.epochs=3", "--set", "train.keep_predictions=true", "--out", kept)
    assert result.code == 0, result
    recs = {(r.model, r.seed): r for r in map(read_record, ResultStore(kept).record_paths())}

    def errors(rec, split):  # per-graph absolute error, in dataset-index order
        p = rec.extra["predictions"][split]
        order = np.argsort(p["index"])
        return np.abs(np.asarray(p["score"]).reshape(-1) - np.asarray(p["y"]).reshape(-1))[order]

    paired_graphs = _benchmark("paired_graphs")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--split", "test_far_ood",
                                   "--resamples", "999"]) == 0
    text = out.getvalue()
    assert text.splitlines()[:4] == ["structure-bridges-tiny: mae, lower is better", "  A gcn-degree (kept), seeds 0, 1",
                                     "  B gat-degree (kept), seeds 0, 1", "test_far_ood, 20 graphs"]
    for seed in (0, 1):
        a, b = errors(recs["gcn-degree", seed], "test_far_ood"), errors(recs["gat-degree", seed], "test_far_ood")
        assert a.mean() == pytest.approx(recs["gcn-degree", seed].metrics["test_far_ood"]["mae"], rel=1e-5)
        assert f"  seed {seed}: A {a.mean():.4f}, B {b.mean():.4f}, B - A {b.mean() - a.mean():+.4f}" in text
        assert (f"B better on {int(np.sum(b < a))}, worse on {int(np.sum(b > a))}, tied on "
                f"{int(np.sum(a == b))} of 20 graphs") in text
    assert "  seed means (2 A, 2 B): A " in text and max(map(len, text.splitlines())) <= 80
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gcn-degree", "--split", "test_id"]) == 0
    assert "95% CI [+0.0000, +0.0000], paired permutation p 1.0000" in out.getvalue()
    assert "tied on 30 of 30 graphs" in out.getvalue() and "seed means" not in out.getvalue()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gin-degree"]) == 2
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--split", "train"]) == 2
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gcn-degree", "--offset", "2"]) == 2
    lines = err.getvalue().splitlines()
    assert lines[2] == ("--offset: no seed s of A on structure-bridges-tiny has a B seed s + 2 (A: 0, 1; B: 0, 1).")
    assert lines[0].startswith("--b: ") and "holds no ok record of 'gin-degree' with per-graph outputs" in lines[0]
    assert lines[1].startswith("--split: not every record of structure-bridges-tiny kept 'train'")
    # a second kept record of one (task, model, seed), as another --set writes: refused, not silently picked
    twin = recs["gcn-degree", 0].model_copy(update={"job_id": "f" * 16, "run_id": None}).sealed()
    ResultStore(kept).write(twin)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree"]) == 2
    assert "two kept records of structure-bridges-tiny / gcn-degree / seed 0" in err.getvalue()
    assert "give each setting its own results directory" in err.getvalue()


def test_paired_graphs_breaks_the_seed_means_down_by_graph_size_and_label(cli, tmp_path):
    """`--by size`: quartile bins of the split's node counts, read from the task's data (checked against the
    records' data hash); each bin's graph count and means are those of its graphs, so the bins add up to the split.
    `--by label` on a regression task: quartile bins of the label. A task the records did not run is refused."""
    path = _tiny_bridges(tmp_path)
    kept = tmp_path / "kept"
    assert cli("run", "--tasks", path, "--models", "gcn-degree,gat-degree", "--seeds", "2", "--threads", "1",
               "--set", "train.epochs=2", "--set", "train.keep_predictions=true", "--out", kept).code == 0
    recs = {(r.model, r.seed): r for r in map(read_record, ResultStore(kept).record_paths())}
    paired_graphs = _benchmark("paired_graphs")
    sizes = paired_graphs.graph_sizes(str(path), recs["gcn-degree", 0], None)

    def seed_means(model):
        return np.mean([paired_graphs.aligned(recs[model, s], "test_far_ood")[2] for s in (0, 1)], axis=0)

    index = paired_graphs.aligned(recs["gcn-degree", 0], "test_far_ood")[0]
    a, b, n = seed_means("gcn-degree"), seed_means("gat-degree"), sizes[index]
    labels = np.asarray(recs["gcn-degree", 0].extra["predictions"]["test_far_ood"]["y"], dtype=float).ravel()
    labels = labels[np.argsort(recs["gcn-degree", 0].extra["predictions"]["test_far_ood"]["index"])]
    from gbench.comparison import holm
    for by, values in (("size", n), ("label", labels)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            files = ["--task-file", str(path)] if by == "size" else []  # label bins need no task data
            assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--split",
                                       "test_far_ood", "--by", by, *files, "--resamples", "499"]) == 0
        lines = out.getvalue().splitlines()
        start = lines.index(next(x for x in lines if x.strip().startswith("graphs")))
        rows = [x.split() for x in lines[start + 1:]]
        assert sum(int(r[2]) for r in rows) == 20 and len(rows) >= 2 and max(map(len, lines)) <= 80
        assert rows[0][0] == ("nodes" if by == "size" else "y")
        for r in rows:  # each bin's count, mean label and means are its graphs', read independently of the script
            low, high = (float(v) for v in (r[1].split("-") * 2)[:2])
            mask = (values >= low) & (values <= high)
            assert int(r[2]) == mask.sum()
            assert float(r[3]) == pytest.approx(labels[mask].mean(), rel=5e-3)
            assert (float(r[4]), float(r[5])) == pytest.approx((a[mask].mean(), b[mask].mean()), abs=6e-5)
            assert r[9] == "/".join(map(str, (np.sum(b[mask] < a[mask]), np.sum(b[mask] > a[mask]))))
        p_values, adjusted = [float(r[7]) for r in rows], [float(r[8]) for r in rows]
        assert adjusted == pytest.approx(holm(p_values), abs=4e-4)  # Holm over the bins, from the printed p
        assert float(rows[-1][1].split("-")[-1]) == values.max()
    assert all(20 <= s <= 200 for s in sizes) and len(sizes) == 160
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # the records' task is a YAML of one's own: the catalog does not have it
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--by", "size"]) == 2
        assert paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--by", "size",
                                   "--task-file", "structure-bridges-cpu"]) == 2
        with pytest.raises(SystemExit) as exit_:  # a task file that nothing reads: refused, not ignored
            paired_graphs.main([str(kept), "--a", "gcn-degree", "--b", "gat-degree", "--by", "label",
                                "--task-file", str(path)])
    assert exit_.value.code == 2
    lines = err.getvalue().splitlines()
    assert lines[-1].endswith("error: --task-file and --data-root are read with --by size only")
    lines = lines[:2]
    assert lines[0].startswith("--by: the task's data could not be loaded (") and "--task-file" in lines[0]
    assert lines[1].startswith("--by: structure-bridges-cpu gives task 'structure-bridges-cpu' (data_digest ")


def test_structure_records_carry_a_digest_of_their_data_that_a_generator_code_change_keeps(cli, tmp_path,
                                                                                              monkeypatch):
    """extra.data.data_digest is a sha256 of the generated tensors, not the cache key: a change to the generator's
    code that makes the same graphs gives a new content_hash and the same digest, and paired_graphs.py --by size
    accepts the record; a record of other graphs is refused by its digest, and one written before the digest
    existed by its cache key."""
    path = _tiny_bridges(tmp_path)
    kept = tmp_path / "kept"
    assert cli("run", "--tasks", path, "--models", "gcn-degree", "--seeds", "1", "--threads", "1", "--set",
               "train.epochs=1", "--set", "train.keep_predictions=true", "--out", kept).code == 0
    rec = read_record(next(iter(ResultStore(kept).record_paths())))
    data = rec.extra["data"]
    assert len(data["data_digest"]) == 64 and data["data_digest"] != data["content_hash"]
    sizes = _benchmark("paired_graphs").graph_sizes
    before = sizes(str(path), rec, None)
    import gbench.data as data_package
    from gbench.data import clear_memory_cache

    # An edit to the generators that makes the same graphs (a comment): new keys, the data generated again.
    generators = Path(data_package.__file__).parent / "structure" / "generators.py"
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"\n# edited\n" if self == generators else b""))
    data_package._source_fingerprint.cache_clear()
    clear_memory_cache()
    try:
        assert np.array_equal(sizes(str(path), rec, None), before)  # accepted by the digest
        legacy = rec.model_copy(update={"extra": {**rec.extra, "data": {k: v for k, v in data.items()
                                                                        if k != "data_digest"}}})
        with pytest.raises(ValueError, match=r"\(content_hash [0-9a-f]{20}\), the records task 'structure-"
                                             r"bridges-tiny' \(content_hash " + data["content_hash"]):
            sizes(str(path), legacy, None)  # no digest: only the cache key to go by, and it changed with the code
    finally:
        monkeypatch.undo()
        data_package._source_fingerprint.cache_clear()
        clear_memory_cache()
    spec = yaml.safe_load(path.read_text())
    spec["dataset"]["params"]["seed"] = spec["dataset"]["params"].get("seed", 0) + 1  # other graphs, same names
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match=r"\(data_digest [0-9a-f]{64}\), the records task 'structure-bridges-tiny' "
                                         r"\(data_digest " + data["data_digest"]):
        sizes(str(other), rec, None)


# Two commits whose structure generator code differs, and the key each computes for structure-bridges-cpu (the
# same graphs under both).
OLD, NEW = "739ff6c32079bb6708e2b88515bca53612128b84", "eb3648c2bad7907cc25fbef613918fbdc5429698"
KEYS = {OLD: "07e8b8f7b7cdee3a5fdc", NEW: "c748214a7262eafea18d"}


def test_data_audit_rebuilds_each_records_data_at_its_commit_and_finds_a_wrong_key(cli, tmp_path):
    """benchmarks/data_audit.py (benchmarks/README.md section 21): records of two commits whose generator code
    differs (two keys) are found to be on one data; a record whose key is not its commit's, or whose data_digest is
    not its data's, is flagged and the script exits 1. Needs the two commits in the checkout's history."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    for commit in KEYS:
        if subprocess.run(["git", "-C", str(repo), "cat-file", "-e", commit], capture_output=True).returncode:
            pytest.skip(f"commit {commit[:7]} is not in this checkout's history (a shallow clone)")
    assert cli("run", "--tasks", "structure-bridges-cpu", "--models", "gcn-degree", "--seeds", "1", "--threads",
               "1", "--set", "train.epochs=1", "--out", tmp_path / "run").code == 0
    rec = read_record(next(iter(ResultStore(tmp_path / "run").record_paths())))

    def copy(where, seed, commit, key, **data):  # the record as `commit` would have written it
        update = {"seed": seed, "job_id": f"{seed:016x}", "run_id": None,
                  "environment": {**rec.environment, "git_commit": commit},
                  "extra": {**rec.extra, "data": {**rec.extra["data"], "content_hash": key, **data}}}
        ResultStore(where).write(rec.model_copy(update=update).sealed())

    audit = _benchmark("data_audit")
    old, new, old_key, new_key = OLD, NEW, KEYS[OLD], KEYS[NEW]
    copy(tmp_path / "good", 0, old, old_key)
    copy(tmp_path / "good", 1, new, new_key, data_digest=rec.extra["data"]["data_digest"])
    copy(tmp_path / "good", 2, new + "-dirty", new_key)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert audit.main([str(tmp_path / "good"), "--repo", str(repo)]) == 0
    lines = out.getvalue().splitlines()
    digest = rec.extra["data"]["data_digest"][:16]  # today's code makes the same graphs as both commits
    assert lines == ["structure-bridges-cpu",
                     f"  key {old_key}: 1 record(s), 1 commit(s), data digest {digest} (made at 739ff6c)",
                     f"  key {new_key}: 2 record(s), 2 commit(s), data digest {digest} (made at eb3648c)",
                     "    written from a tree with uncommitted changes at eb3648c; rebuilt from the commit",
                     "  one data under 2 key(s); every key is its commit's"], lines
    copy(tmp_path / "bad", 0, new, old_key)  # a key the commit does not compute: data served from elsewhere
    copy(tmp_path / "bad", 1, new, new_key, data_digest="0" * 64)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert audit.main([str(tmp_path / "bad"), "--repo", str(repo)]) == 1
    text = out.getvalue()
    assert "    commits whose own key differs (served another commit's data): eb3648c\n" in text
    assert "    records whose data_digest differs: 0000000000000000\n" in text and "see above" in text


def test_paired_graphs_aligns_each_records_graphs_by_dataset_index():
    """Two records may keep a split's graphs in different orders; the pairing is by dataset index, not position."""
    from types import SimpleNamespace

    aligned = _benchmark("paired_graphs").aligned
    kept = {"index": [7, 2, 5], "y": [3.0, 1.0, 2.0], "score": [3.5, 1.0, 1.0]}
    rec = SimpleNamespace(task="t", model="m", seed=0, metric="mae", extra={"predictions": {"test_id": kept}},
                          metrics={"test_id": {"mae": 0.5}})
    index, y, errors = aligned(rec, "test_id")
    assert index.tolist() == [2, 5, 7] and y.ravel().tolist() == [1.0, 2.0, 3.0]
    assert errors.tolist() == [0.0, 1.0, 0.5]
    rec.metrics["test_id"]["mae"] = 0.4  # outputs that do not give the record's metric: refused
    with pytest.raises(ValueError, match="the record is inconsistent"):
        aligned(rec, "test_id")


def test_paired_permutation_and_bootstrap_see_a_consistent_shift_and_not_noise():
    """benchmarks/paired_graphs.py's statistics: independent noise around the same values gives a large p and an
    interval around zero; a small shift on every graph, far under the graphs' own spread, a tiny p (pairing
    removes the spread); a constant shift an interval of zero width at the shift."""
    paired = _benchmark("paired_graphs").paired
    rng = np.random.default_rng(0)
    difficulty = rng.exponential(2.0, 200)  # each graph's own level, shared by both models
    same = paired(difficulty + rng.normal(0, 0.3, 200), difficulty + rng.normal(0, 0.3, 200), resamples=1999)
    shifted = paired(difficulty + rng.normal(0, 0.3, 200), difficulty + rng.normal(0, 0.3, 200) - 0.15,
                     resamples=1999)
    assert same[3] > 0.05 and same[1] < 0 < same[2]
    assert shifted[3] <= 2 / 2000 and shifted[2] < 0
    assert paired(difficulty, difficulty + 0.5, resamples=999)[:3] == pytest.approx((0.5, 0.5, 0.5))


def test_vision_model_starts_from_a_user_weights_file(tmp_path):
    from gbench.models.contract import TaskInfo
    from gbench.models.vision import resnet

    info = TaskInfo(level="graph", target="multiclass", num_features=0, out_dim=6, extras={"image_size": 32})
    torch.manual_seed(1)
    donor = resnet(TaskInfo(level="graph", target="multiclass", num_features=0, out_dim=1000,
                            extras={"image_size": 32}), depth=10)
    path = tmp_path / "w.pt"
    torch.save(donor.net.state_dict(), path)
    model = resnet(info, depth=10, weights=str(path))
    assert model.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert torch.equal(model.net.conv1.weight, donor.net.conv1.weight) and model.net.fc.out_features == 6
    with pytest.raises(Exception, match="render"):
        resnet(TaskInfo(level="graph", target="multiclass", num_features=0, out_dim=6), depth=10)


def test_gps_local_growth_reads_gins_mlp_input_which_grows_with_the_degree_only_for_the_sum():
    """benchmarks/gps_local_growth.py (benchmarks/README.md section 24) reads, per GPS layer and graph, the norm of
    what GIN's MLP receives, of the local output and of the attention's output on the graph's own nodes. With equal
    node states on complete graphs of 5 and 20 nodes, GIN's input is n times the state with the sum (eps = 0) and
    twice it with the mean; attention over equal tokens gives the same output at either size. The hooks come off."""
    from torch_geometric.data import Batch, Data

    from gbench.models.contract import TaskInfo
    from gbench.models.graph import gps

    layer_norms = _benchmark("gps_local_growth").layer_norms
    info = TaskInfo(level="graph", target="regression", num_features=3, out_dim=1)

    def complete(n: int) -> Data:
        return Data(x=torch.ones(n, 3), edge_index=torch.tensor([(i, j) for i in range(n) for j in range(n)
                                                                 if i != j]).t(), num_nodes=n)
    batch = Batch.from_data_list([complete(5), complete(20), complete(5)])
    for local, grows in (("gin", 4.0), ("gin-mean", 1.0)):
        torch.manual_seed(0)
        model = gps(info, hidden=8, layers=2, local=local)
        norms, out = layer_norms(model, [batch])
        assert set(norms) == {(i, p) for i in range(2) for p in ("gin_in", "local", "attn")}
        assert out.shape == (3, 1) and all(v.shape == (3,) for v in norms.values())
        gin_in, attn = norms[(0, "gin_in")], norms[(0, "attn")]
        assert (gin_in[1] / gin_in[0]).item() == pytest.approx(grows, rel=1e-5)
        assert gin_in[2].item() == pytest.approx(gin_in[0].item(), rel=1e-6)
        assert attn[1].item() == pytest.approx(attn[0].item(), rel=1e-5)
        with torch.no_grad():
            assert torch.equal(model(batch), out)  # the hooks were removed and changed nothing
        assert not any(c.conv.nn._forward_pre_hooks or c.attn._forward_hooks for c in model.convs)
        # A graph's values do not depend on the graphs batched with it (the attention's padding is left out).
        g = Data(x=torch.randn(6, 3), edge_index=torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]]), num_nodes=6)
        alone, _ = layer_norms(model, [Batch.from_data_list([g])])
        beside, _ = layer_norms(model, [Batch.from_data_list([g, complete(20), g])])
        assert all(torch.allclose(alone[k][0], beside[k][2], rtol=1e-5) for k in alone)


def test_a_rerun_that_differs_from_its_record_names_the_environment_fields_that_differ(tmp_path, capsys):
    """benchmarks/structure_errors.py's record check: equal metrics and epoch say 'equals' and nothing more; a rerun
    that differs and ran on another CPU names each field of the environment that differs (benchmarks/README.md
    section 25: the same job on an AMD EPYC and an Intel Xeon, same OpenBLAS kernel, is not the same bits)."""
    from types import SimpleNamespace

    from gbench.repro import environment_differences

    amd = {"torch": "2.14.1+cu130", "cpu": "AMD EPYC", "cpu_capability": "AVX512",
           "blas": "openblas 0.3.31.188.0 Haswell", "python": "3.11.7"}
    intel = {**amd, "cpu": "Intel(R) Xeon(R) Processor", "python": "3.11.9"}
    assert environment_differences(amd, dict(amd)) == []
    assert environment_differences(amd, intel) == ["cpu 'AMD EPYC' there, 'Intel(R) Xeon(R) Processor' here"]
    older = {k: v for k, v in amd.items() if k != "blas"}
    assert environment_differences(older, amd) == ["blas not recorded there, 'openblas 0.3.31.188.0 Haswell' here"]

    job = SimpleNamespace(task=SimpleNamespace(id="structure-spectral-gap"), model=SimpleNamespace(name="gcn-degree"),
                          seed=1, job_id="0fac383d364ae951")
    place = tmp_path / "records" / "structure-spectral-gap" / "gcn-degree" / "s0001-0fac383d364ae951.json"
    place.parent.mkdir(parents=True)
    metrics = {"test_id": {"mae": 0.0997}, "val": {"mae": 0.0973}}
    place.write_text(json.dumps({"metrics": metrics, "selected_epoch": 25, "environment": amd}))
    check = _benchmark("structure_errors").say_whether_it_equals_the_record

    check(str(tmp_path), job, SimpleNamespace(metrics=metrics, selected_epoch=25, environment=intel))
    said = capsys.readouterr().err
    assert said.startswith("equals the committed record") and "environments" not in said
    check(str(tmp_path), job, SimpleNamespace(metrics={"test_id": {"mae": 0.0934}, "val": {"mae": 0.0902}},
                                              selected_epoch=75, environment=intel))
    said = capsys.readouterr().err
    assert said.startswith("DIFFERS FROM") and "cpu 'AMD EPYC' there, 'Intel(R) Xeon(R) Processor' here" in said
    assert "python" not in said
    check(str(tmp_path), job, SimpleNamespace(metrics=metrics, selected_epoch=26, environment=dict(amd)))
    said = capsys.readouterr().err
    assert said.startswith("DIFFERS FROM") and "environments" not in said
