"""The renderer's layouts and its cache: a process pool draws the same images as one process, every model that
draws a dataset the same way shares one cache file, the fast backends place every node inside the unit square,
and a missing layout library is one sentence naming the pip package."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from gbench.data import render as R
from gbench.data import structure as S
from gbench.data.layouts import layout, normalize
from gbench.data.staging import DataContext
from gbench.data.transforms import apply_transforms
from gbench.errors import GbenchError, SpecError

FAST = [("kk", "igraph"), ("fa2", "fa2-modified")]


def _graphs(n: int = 2):
    p = {**S.DEFAULTS, "task": "topology", "splits": {k: {"graphs": n, "nodes": [20, 40]} for k in S.SPLITS}}
    return S.to_task_data(S.generate(p), "k").graphs


def _need(backend: str) -> None:
    pytest.importorskip({"igraph": "igraph", "fa2-modified": "fa2_modified"}.get(backend, "networkx"))


@pytest.mark.parametrize(("kind", "backend"), [("kk", "nx"), ("fa2", "nx"), *FAST])
def test_a_process_pool_draws_the_same_images_as_one_process(kind, backend, process_pools):
    _need(backend)
    graphs = _graphs()
    serial = R.render_images(graphs, kind, 32, 3, None, backend, processes=1)
    assert process_pools == []
    parallel = R.render_images(graphs, kind, 32, 3, None, backend, processes=2)
    assert [(workers, len(pids)) for workers, pids in process_pools] == [(2, 2)]  # the pool really drew
    assert serial.shape == (10, 3, 32, 32) and serial.float().mean() > 1
    assert torch.equal(serial, parallel)


def test_one_cache_file_serves_every_model_with_the_same_layout_size_and_backend(tmp_path, monkeypatch):
    _need("igraph")
    graphs = _graphs(1)
    ctx = DataContext(data_root=None, cache_dir=tmp_path)
    draws = []
    real_draw = R.draw
    monkeypatch.setattr(R, "draw", lambda *a, **k: draws.append(a[1:4]) or real_draw(*a, **k))
    # Two models on one dataset (the key names the model, as the runner's does), one of them with a PE first.
    a, extras = apply_transforms(graphs, ["render:kk:32:0:igraph"], ctx, "structure|model-a")
    b, _ = apply_transforms(graphs, ["lap_pe:4", "render:kk:32:0:igraph"], ctx, "structure|model-b")
    assert len(draws) == 1 and len(list((tmp_path / "renders").glob("*.pt"))) == 1
    assert extras["image_size"] == 32 and all(torch.equal(x.image, y.image) for x, y in zip(a, b))
    # Another size or another backend is another drawing, in its own file.
    apply_transforms(graphs, ["render:kk:48:0:igraph"], ctx, "structure|model-c")
    nx_images, _ = apply_transforms(graphs, ["render:kk:32"], ctx, "structure|model-d")
    assert [d[0] for d in draws] == ["kk"] * 3 and sorted(d[1] for d in draws) == [32, 32, 48]
    assert len(list((tmp_path / "renders").glob("*.pt"))) == 3
    assert not all(torch.equal(x.image, y.image) for x, y in zip(a, nx_images))  # igraph's KK is not networkx's


def test_two_renderers_at_once_draw_a_dataset_once(tmp_path, monkeypatch):
    # Two threads stand in for two processes: each takes the cache folder's file lock through its own handle.
    import threading
    import time

    graphs = _graphs(1)[:4]
    ctx = DataContext(data_root=None, cache_dir=tmp_path)
    draws = []
    real_draw = R.draw

    def slow_draw(*a, **k):
        draws.append(1)
        time.sleep(0.5)  # long enough for the other thread to reach the lock while this one holds it
        return real_draw(*a, **k)

    monkeypatch.setattr(R, "draw", slow_draw)
    out: list[torch.Tensor] = []
    threads = [threading.Thread(target=lambda: out.append(R.render_images(graphs, "circular", 32, 0, ctx)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(draws) == 1 and len(out) == 2 and torch.equal(out[0], out[1])


def test_the_default_backend_is_networkx():
    graphs = _graphs(1)[:3]
    default = R.render_images(graphs, "fa2", 32, 0, None)
    assert torch.equal(default, R.render_images(graphs, "fa2", 32, 0, None, "nx"))
    assert R._parse(["kk", "64"]) == ("kk", 64, 0, "nx")


@pytest.mark.parametrize(("kind", "backend"), FAST)
def test_fast_layouts_place_every_node_in_the_unit_square(kind, backend):
    _need(backend)
    cases = {"two components and an isolated node": (6, np.array([[0, 1], [2, 3], [3, 4]])),
             "no edges": (4, np.zeros((0, 2), dtype=np.int64)),
             "one node": (1, np.zeros((0, 2), dtype=np.int64))}
    for what, (n, edges) in cases.items():
        pos = normalize(layout(n, edges, kind, 0, backend))
        assert pos.shape == (n, 2) and np.isfinite(pos).all(), what
        assert pos.min() >= 0 and pos.max() <= 1, what
        if n > 1:
            assert np.unique(pos.round(6), axis=0).shape[0] == n, what  # no two nodes drawn on one point
        image = R.render_one(n, edges, kind, 32, 0, backend)
        assert image.shape == (3, 32, 32) and image.max() > 0, what


def test_a_missing_layout_library_names_its_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "igraph", None)  # `import igraph` now raises ImportError
    with pytest.raises(GbenchError, match=r"pip install igraph") as err:
        apply_transforms(_graphs(1)[:2], ["render:kk:32:0:igraph"], None, "missing-igraph")
    assert str(err.value).count(".") <= 3 and "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "fa2_modified", None)
    with pytest.raises(GbenchError, match=r"pip install fa2-modified"):
        R.render_one(3, np.array([[0, 1]]), "fa2", 32, 0, "fa2-modified")


@pytest.mark.parametrize(("spec", "message"), [
    ("render:spectral:32:0:igraph", "layout 'spectral' has no backend 'igraph'"),
    ("render:kk:32:igraph", "the backend comes after the seed"),
    ("render:kk:32:0:graphviz", "backend 'graphviz' is not known"),
])
def test_a_wrong_backend_is_one_sentence(spec, message):
    with pytest.raises(SpecError, match=message):
        apply_transforms(_graphs(1)[:1], [spec], None, f"wrong|{spec}")


def test_the_process_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GBENCH_RENDER_PROCESSES", "3")
    assert R.render_processes() == 3 and R.render_processes(1) == 1
    monkeypatch.setenv("GBENCH_RENDER_PROCESSES", "many")
    with pytest.raises(GbenchError, match="GBENCH_RENDER_PROCESSES"):
        R.render_processes()


def test_a_model_spec_names_the_backend_and_gets_its_own_job(cli, tmp_path):
    _need("igraph")
    import yaml

    from gbench.results import ResultStore, read_record
    from gbench.specs import load_task
    from gbench.specs.catalog import catalog_root

    task = load_task("structure-topology-cpu").model_dump(mode="json", exclude_none=True)
    task["id"] = "structure-topology-render"
    task["dataset"]["params"]["splits"] = {k: {"graphs": 8, "nodes": v["nodes"]}
                                           for k, v in task["dataset"]["params"]["splits"].items()}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    paths = []
    for backend in ("nx", "igraph"):
        model = yaml.safe_load((catalog_root() / "baselines" / "structure" / "resnet10-kk-scratch.yaml").read_text())
        model.pop("overrides")
        model["name"] = f"resnet10-kk-{backend}"
        model["transforms"] = ["render:kk:32" if backend == "nx" else "render:kk:32:0:igraph"]
        paths.append(tmp_path / f"{backend}.yaml")
        paths[-1].write_text(yaml.safe_dump(model))
    result = cli("run", "--tasks", tmp_path / "task.yaml", "--models", ",".join(map(str, paths)), "--seeds", "1",
                 "--set", "train.epochs=1", "--out", tmp_path / "o", "--threads", "1")
    assert result.code == 0, result
    recs = {r.model: r for r in map(read_record, ResultStore(tmp_path / "o").record_paths())}
    assert set(recs) == {"resnet10-kk-nx", "resnet10-kk-igraph"} and all(r.status == "ok" for r in recs.values())
    assert recs["resnet10-kk-nx"].job_id != recs["resnet10-kk-igraph"].job_id
