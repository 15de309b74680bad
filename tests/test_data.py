"""Data: real datasets load offline from the data root through their own loaders, the root is never written,
missing files are named, generated graphs are pure functions of their parameters."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch
import yaml

from gbench.data import clear_memory_cache, load_task_data
from gbench.data.staging import DataContext
from gbench.data.synthetic import generate_sbm
from gbench.errors import DatasetUnavailable
from gbench.specs import load_task


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


def test_cora_offline_from_read_only_root(shared_data, tmp_path):
    # A read-only copy of the raw files: gbench must copy them into its cache and never write beside them.
    root = tmp_path / "root"
    shutil.copytree(shared_data / "Planetoid" / "Cora", root / "Planetoid" / "Cora")
    for p in root.rglob("*"):
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    root.chmod(0o555)
    before = snapshot(root)
    ctx = DataContext.from_env(root, tmp_path / "cache", offline=True)
    td = load_task_data(load_task("cora"), ctx)
    assert snapshot(root) == before
    assert not (root / "Planetoid" / "Cora" / "processed").exists()
    assert (tmp_path / "cache" / "datasets" / "Planetoid" / "Cora" / "raw" / "ind.cora.x").is_file()
    data = td.data
    assert (data.num_nodes, data.edge_index.size(1), data.x.size(1), td.num_classes) == (2708, 10556, 1433, 7)
    split = td.splits[0]
    assert (len(split.train), len(split.val), len(split.test)) == (140, 500, 1000)
    assert torch.allclose(data.x.sum(1)[data.x.sum(1) > 0], torch.ones(1))  # row-normalised, as the spec says
    root.chmod(0o755)


def test_shared_root_untouched_after_loading(shared_data, tmp_path):
    before = snapshot(shared_data / "Planetoid")
    load_task_data(load_task("citeseer"), DataContext.from_env(shared_data, tmp_path, offline=True))
    assert snapshot(shared_data / "Planetoid") == before


def test_raw_files_added_to_a_data_root_reprocess_the_cached_dataset(shared_data, tmp_path):
    # A cache staged from a root that lacked MUTAG's node labels holds a processed MUTAG without them; PyG only
    # checks that its processed files exist, so without the staging's invalidation the labels would never appear.
    partial = tmp_path / "partial" / "TU" / "MUTAG" / "raw"
    partial.mkdir(parents=True)
    for part in ("A", "graph_indicator", "graph_labels"):
        shutil.copyfile(shared_data / "TU" / "MUTAG" / "raw" / f"MUTAG_{part}.txt", partial / f"MUTAG_{part}.txt")
    task = load_task("mutag").model_copy(deep=True)
    task.dataset.params["node_features"] = "degree"
    cache = tmp_path / "cache"
    td = load_task_data(task, DataContext.from_env(tmp_path / "partial", cache, offline=True))
    assert td.graphs[0].x.size(1) == 1
    assert (cache / "datasets" / "TU" / "MUTAG" / "processed").is_dir()

    full = DataContext.from_env(shared_data, cache, offline=True)
    clear_memory_cache()
    assert load_task_data(load_task("mutag"), full).graphs[0].x.size(1) == 7  # one-hot labels of the full folder

    # A cache from before gbench listed the raw files: every raw file already staged, the processed folder stale.
    staged = cache / "datasets" / "TU" / "MUTAG"
    shutil.rmtree(staged / "processed")
    shutil.rmtree(cache / "tasks")  # gbench's finished data for this spec and this (unchanged) root
    shutil.copytree(staged, tmp_path / "full-raw")
    shutil.rmtree(staged / "raw")
    shutil.copytree(partial, staged / "raw")
    clear_memory_cache()
    assert load_task_data(task, DataContext.from_env(tmp_path / "partial", cache, offline=True)).graphs[0].x.size(1) == 1
    shutil.rmtree(staged / "raw")
    shutil.copytree(tmp_path / "full-raw" / "raw", staged / "raw")
    (staged / ".raw-files").unlink()
    shutil.rmtree(cache / "tasks")
    clear_memory_cache()
    assert load_task_data(load_task("mutag"), full).graphs[0].x.size(1) == 7


def test_a_raw_file_rewritten_in_the_data_root_is_not_served_from_the_finished_cache(shared_data, tmp_path):
    # The same root path, one raw file rewritten in place: MUTAG's node label 0 becomes 10, so its one-hot node
    # features widen from 7 to 10 columns (PyG one-hot encodes labels 1-10). Keyed by the root's path alone, the
    # finished data would keep 7.
    root = tmp_path / "root" / "TU" / "MUTAG"
    shutil.copytree(shared_data / "TU" / "MUTAG", root)
    ctx = DataContext.from_env(tmp_path / "root", tmp_path / "cache", offline=True)
    assert load_task_data(load_task("mutag"), ctx).num_features == 7
    labels = root / "raw" / "MUTAG_node_labels.txt"
    labels.chmod(0o644)
    labels.write_text("".join(f"{10 if v == '0' else v}\n" for v in labels.read_text().split()))
    clear_memory_cache()
    assert load_task_data(load_task("mutag"), ctx).num_features == 10
    assert len(list((tmp_path / "cache" / "tasks").glob("mutag-*.pt"))) == 2

    # A cache inside the data root: gbench's own writes there do not count as a change of the root.
    inside = DataContext.from_env(tmp_path / "root", tmp_path / "root" / "cache", offline=True)
    for _ in range(2):
        clear_memory_cache()
        load_task_data(load_task("mutag"), inside)
    assert len(list((tmp_path / "root" / "cache" / "tasks").glob("mutag-*.pt"))) == 1


def test_staging_recopies_a_raw_file_whose_size_changed_and_keeps_processed_when_nothing_did(tmp_path):
    from gbench.data.staging import copy_raw_tree

    src, dst = tmp_path / "root" / "X", tmp_path / "cache" / "X"
    (src / "raw").mkdir(parents=True)
    (src / "raw" / "a.txt").write_text("new content")
    (src / "processed").mkdir()  # a processed folder in the root is never copied
    (src / "processed" / "data.pt").write_text("root's")
    assert copy_raw_tree(src, dst) == [Path("raw/a.txt")]
    (dst / "processed").mkdir()
    (dst / "processed" / "data.pt").write_text("made from new content")
    assert copy_raw_tree(src, dst) == [] and (dst / "processed" / "data.pt").is_file()

    (src / "raw" / "a.txt").write_text("rebuilt, longer content")
    assert copy_raw_tree(src, dst) == [Path("raw/a.txt")]
    assert (dst / "raw" / "a.txt").read_text() == "rebuilt, longer content"
    assert not (dst / "processed").exists()

    (dst / "processed").mkdir()
    (src / "raw" / "a.txt").write_text("REBUILT, LONGER CONTENT")  # the same size, a later modification time
    os.utime(src / "raw" / "a.txt", ns=(0, (dst / "raw" / "a.txt").stat().st_mtime_ns + 1))
    assert copy_raw_tree(src, dst) == [Path("raw/a.txt")]
    assert (dst / "raw" / "a.txt").read_text() == "REBUILT, LONGER CONTENT"
    assert not (dst / "processed").exists()


def test_missing_dataset_offline_names_files_and_root(tmp_path):
    empty = tmp_path / "empty-root"
    empty.mkdir()
    ctx = DataContext.from_env(empty, tmp_path / "cache", offline=True)
    with pytest.raises(DatasetUnavailable) as err:
        load_task_data(load_task("pubmed"), ctx)
    message = str(err.value)
    assert str(empty) in message and "ind.pubmed.x" in message and "Planetoid/PubMed/raw" in message
    with pytest.raises(DatasetUnavailable, match=r"ogbn_arxiv"):
        load_task_data(load_task("ogbn-arxiv"), ctx)


def test_missing_dataset_recorded_as_failed_job_with_the_reason(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("run", "--tasks", "pubmed", "--models", "logreg", "--seeds", "1", "--data-root", empty,
                 "--out", tmp_path / "out")
    assert result.code == 1 and "ind.pubmed" in result.err


def test_user_task_yaml_uses_any_pyg_dataset_class(shared_data, tmp_path, cli):
    """A user adds a dataset with a YAML file and no code: any torch_geometric.datasets class by name."""
    spec = {
        "id": "my-cora", "version": 1, "level": "node", "description": "Cora via the generic PyG source",
        "dataset": {"source": "pyg-node", "name": "Planetoid",
                    "params": {"root": "Planetoid", "kwargs": {"name": "Cora"}}},
        "split": {"kind": "official"}, "target": "multiclass",
        "metric": {"name": "accuracy", "higher_is_better": True},
        "protocol": {"seeds": 1, "epochs": 3, "optim": {"lr": 0.01}},
    }
    path = tmp_path / "my-cora.yaml"
    path.write_text(yaml.safe_dump(spec))
    td = load_task_data(load_task(str(path)), DataContext.from_env(shared_data, tmp_path / "c", offline=True))
    assert td.data.num_nodes == 2708 and len(td.splits[0].train) == 140
    result = cli("run", "--tasks", path, "--models", "logreg", "--data-root", shared_data, "--out", tmp_path / "o")
    assert result.code == 0, result
    assert "my-cora" in (tmp_path / "o" / "leaderboard.csv").read_text()


@pytest.mark.parametrize("task, nodes, splits, classes", [
    ("chameleon-filtered", 890, 10, 5), ("squirrel-filtered", 2223, 10, 5), ("minesweeper", 10000, 10, 2),
    ("cornell", 183, 10, 5),
])
def test_heterophily_tasks_have_their_official_splits(shared_data, tmp_path, task, nodes, splits, classes):
    td = load_task_data(load_task(task), DataContext.from_env(shared_data, tmp_path, offline=True))
    assert td.data.num_nodes == nodes and len(td.splits) == splits and td.num_classes == classes
    # Undirected: every edge appears in both directions.
    ei = td.data.edge_index
    pairs = set(map(tuple, ei.t().tolist()))
    assert all((b, a) in pairs for a, b in list(pairs)[:500])
    for s in td.splits:
        parts = [set(s.train.tolist()), set(s.val.tolist()), set(s.test.tolist())]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_sbm_is_a_pure_function_of_its_parameters():
    kw = dict(num_nodes=500, num_classes=3, avg_degree=6.0, homophily=0.8, degree_exponent=2.5, feature_dim=4,
              feature_signal=1.0, seed=7)
    a, b = generate_sbm(**kw), generate_sbm(**kw)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = generate_sbm(**{**kw, "seed": 8})
    assert not torch.equal(a["edge_index"], c["edge_index"])
    row, col = a["edge_index"]
    homophily = (a["y"][row] == a["y"][col]).float().mean().item()
    assert 0.7 < homophily < 0.9
    assert (row != col).all()  # no self-loops
    # Undirected and coalesced.
    assert a["edge_index"].size(1) == torch.unique(a["edge_index"], dim=1).size(1)
    assert torch.equal(torch.sort(row * 500 + col).values, torch.sort(col * 500 + row).values)


def test_an_edit_to_a_structure_generator_is_not_served_from_the_finished_cache(tmp_path, monkeypatch):
    """The finished-task cache is keyed by the loaders' source: every module under gbench/data, the structure
    subpackage included. Keyed by the top-level modules alone (as it was), data an old generator made was served
    after the generator changed; here an edit to generators.py gives new finished data, generated again."""
    import gbench.data as data

    generators = Path(data.__file__).parent / "structure" / "generators.py"
    ctx = DataContext.from_env(None, tmp_path, offline=True)
    task = load_task("structure-bridges-cpu")
    load_task_data(task, ctx)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"\n# edited\n" if self == generators else b""))
    try:
        data._source_fingerprint.cache_clear()
        clear_memory_cache()
        load_task_data(task, ctx)
    finally:
        monkeypatch.undo()
        data._source_fingerprint.cache_clear()
        clear_memory_cache()
    assert len(list((tmp_path / "tasks").glob("structure-bridges-cpu-*.pt"))) == 2
    assert len(list((tmp_path / "generated").glob("structure-bridges-*.pt"))) == 2


def test_generated_task_is_cached_by_content_hash(tmp_path):
    ctx = DataContext.from_env(None, tmp_path, offline=True)
    td = load_task_data(load_task("sbm-node"), ctx)
    files = list((tmp_path / "generated").glob("sbm-*.pt"))
    assert len(files) == 1
    from gbench.data import clear_memory_cache

    clear_memory_cache()
    mtime = files[0].stat().st_mtime_ns
    again = load_task_data(load_task("sbm-node"), ctx)
    assert files[0].stat().st_mtime_ns == mtime
    assert torch.equal(td.data.x, again.data.x) and torch.equal(td.data.edge_index, again.data.edge_index)
    assert abs(td.info["edge_homophily"] - 0.7) < 0.05
    # The finished task (graph and splits) is cached as plain tensors and read back identically.
    finished = list((tmp_path / "tasks").glob("sbm-node-*.pt"))
    assert len(finished) == 1
    assert all(torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
               for a, b in zip(td.splits, again.splits)) and again.info == td.info



def _same(a, b) -> bool:
    """Equal tensors, dicts, lists and graphs, exactly (dtype and values)."""
    from torch_geometric.data import Data

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, Data):
        return a.num_nodes == b.num_nodes and sorted(a.keys()) == sorted(b.keys()) and all(
            _same(a[k], b[k]) for k in a.keys())
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("task", ["sbm-link", "cora-link", "mutag", "ogbg-molbace", "structure-bridges-cpu"])
def test_finished_task_data_of_every_level_reads_back_identically(shared_data, tmp_path, task):
    """Link and graph data are cached finished too, so a fresh worker process reads one file; what it reads is
    exactly what the loader built."""
    import dataclasses

    from gbench.data import clear_memory_cache

    ctx = DataContext.from_env(shared_data, tmp_path, offline=True)
    built = load_task_data(load_task(task), ctx)
    assert len(list((tmp_path / "tasks").glob(f"{task}-*.pt"))) == 1
    clear_memory_cache()
    cached = load_task_data(load_task(task), ctx)
    assert cached is not built and type(cached) is type(built)
    for f in dataclasses.fields(built):
        assert _same(getattr(built, f.name), getattr(cached, f.name)), f.name

def test_minibatch_task_says_what_to_install_without_a_sampler(cli, tmp_path):
    import torch_geometric.typing as pyg_typing

    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        pytest.skip("a neighbour sampler is installed here")
    result = cli("run", "--tasks", "ogbn-products", "--models", "sage", "--seeds", "1", "--out", tmp_path)
    assert result.code == 1 and "needs pyg-lib or torch-sparse" in result.err
    full = cli("run", "--tasks", "ogbn-products", "--models", "sage", "--seeds", "1", "--set", "train.batch_size=0",
               "--out", tmp_path / "full")
    assert full.code == 1 and "ogbn_products" in full.err  # full batch goes on to the (missing) data instead
