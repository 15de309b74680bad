"""Plug-ins through entry points: an installed package's task, model, source and transform reach every worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from gbench import plugins

REPO = Path(__file__).resolve().parents[1]

ENTRY_POINTS = """\
[gbench.tasks]
demo = gbench_demo_plugin:TASKS

[gbench.models]
demo = gbench_demo_plugin.models

[gbench.sources]
demo-sbm = gbench_demo_plugin.source:load

[gbench.transforms]
demo_scale = gbench_demo_plugin.transform:scale
"""

SOURCE = '''
import os

from gbench.data.synthetic import load_sbm


def load(task, ctx):
    """gbench's SBM generator, noting the process that ran it."""
    with open(os.environ["DEMO_SOURCE_CALLS"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    return load_sbm(task, ctx)
'''

MODEL = '''
import torch


class Linear(torch.nn.Module):
    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)

    def forward(self, data):
        return self.lin(data.x)


def build(info):
    return Linear(info)
'''

TRANSFORM = '''
def scale(graphs, args, ctx, key):
    """x := x * factor (the first argument, default 2)."""
    factor = float(args[0]) if args else 2.0
    out = []
    for g in graphs:
        g = g.clone()
        g.x = g.x * factor
        out.append(g)
    return out, {"demo_scale": factor}
'''


def install_demo_plugin(site: Path, entry_points: str = ENTRY_POINTS, name: str = "gbench_demo_plugin") -> Path:
    """Write a package and its `*.dist-info` (METADATA, entry_points.txt) into `site`: on sys.path or
    PYTHONPATH, that is an installed package, entry points included."""
    pkg = site / name
    (pkg / "tasks").mkdir(parents=True)
    (pkg / "models").mkdir()
    (pkg / "__init__.py").write_text("from pathlib import Path\n\nTASKS = Path(__file__).parent / 'tasks'\n")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "source.py").write_text(SOURCE)
    (pkg / "model.py").write_text(MODEL)
    (pkg / "transform.py").write_text(TRANSFORM)
    task = yaml.safe_load((REPO / "tasks" / "node" / "sbm-node.yaml").read_text())
    task["id"] = "plugin-sbm"
    task["dataset"]["source"] = "demo-sbm"
    task["dataset"]["params"]["num_nodes"] = 200
    (pkg / "tasks" / "plugin-sbm.yaml").write_text(yaml.safe_dump(task))
    (pkg / "models" / "plugin-linear.yaml").write_text(yaml.safe_dump(
        {"name": "plugin-linear", "level": "node", "implementation": f"{name}.model:build",
         "description": "A linear map of the node features, from a plug-in."}))
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    return site


def test_an_installed_plugin_task_model_and_source_run_in_a_two_worker_sweep(tmp_path):
    site = install_demo_plugin(tmp_path / "site")
    calls, out = tmp_path / "source-calls.txt", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "GBENCH_CACHE": str(tmp_path / "cache"), "GBENCH_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "COLUMNS": "200", "DEMO_SOURCE_CALLS": str(calls)}
    sweep = subprocess.Popen([sys.executable, "-m", "gbench", "run", "--tasks", "plugin-sbm", "--models",
                              "plugin-linear", "--seeds", "2", "--workers", "2", "--set", "train.epochs=3",
                              "--device", "cpu", "--threads", "1", "--out", str(out)],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:] + stdout[-2000:]
    records = [json.loads(p.read_text()) for p in (out / "records").rglob("*.json")]
    assert sorted((r["task"], r["model"], r["seed"], r["status"]) for r in records) == [
        ("plugin-sbm", "plugin-linear", 0, "ok"), ("plugin-sbm", "plugin-linear", 1, "ok")]
    assert all(r["model_spec"]["implementation"] == "gbench_demo_plugin.model:build" for r in records)
    workers = {r["worker"]["pid"] for r in records}
    assert sweep.pid not in workers  # the jobs ran in the pool's worker processes ...
    assert set(map(int, calls.read_text().split())) <= workers  # ... and so did the plug-in's data source


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The demo plug-in installed in this process (sys.path), with gbench's entry points read afresh. The catalog
    is reached through a link of its own (GBENCH_CATALOG), so its index is built anew, with the plug-in, and the
    index other tests use stays as it was."""
    from gbench.data import clear_memory_cache

    catalog = tmp_path / "catalog"
    catalog.symlink_to(REPO, target_is_directory=True)
    monkeypatch.setenv("GBENCH_CATALOG", str(catalog))

    def install(entry_points: str = ENTRY_POINTS, name: str = "gbench_demo_plugin") -> Path:
        site = install_demo_plugin(tmp_path / f"site-{name}", entry_points, name)
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("DEMO_SOURCE_CALLS", str(tmp_path / "calls.txt"))
        plugins.refresh()
        return site

    yield install
    monkeypatch.undo()
    plugins.refresh()
    clear_memory_cache()


def test_plugin_tasks_models_sources_and_transforms_join_the_registries(installed, tmp_path):
    from gbench import specs
    from gbench.data import load_task_data, source_table
    from gbench.data.staging import DataContext
    from gbench.data.transforms import apply_transforms, transform_table

    installed()
    assert specs.load_task("plugin-sbm").dataset.source == "demo-sbm"
    assert specs.load_model("plugin-linear", "node").implementation == "gbench_demo_plugin.model:build"
    assert "plugin-linear" in specs.model_names("node") and "plugin-sbm" in specs.task_ids()
    assert source_table()["demo-sbm"] == "gbench_demo_plugin.source:load" and "sbm" in source_table()
    td = load_task_data(specs.load_task("plugin-sbm"), DataContext(data_root=None, cache_dir=tmp_path / "c",
                                                                   offline=True))
    assert td.data.num_nodes == 200
    assert transform_table()["demo_scale"] == "gbench_demo_plugin.transform:scale"
    graph = td.data.clone()
    (scaled,), extras = apply_transforms([graph], ["demo_scale:3"], None, "plugin-test")
    assert torch.equal(scaled.x, graph.x * 3) and extras == {"demo_scale": 3.0}
    assert ("gbench.sources", "demo-sbm", "gbench_demo_plugin.source:load") in plugins.describe()


def test_a_plugin_that_reuses_a_builtin_name_is_refused_naming_both(installed):
    from gbench.data import source_table
    from gbench.errors import GbenchError

    installed(textwrap.dedent("""\
        [gbench.sources]
        sbm = gbench_clash_plugin.source:load
        """), name="gbench_clash_plugin")
    clash = (r"entry point 'sbm = gbench_clash_plugin.source:load'.*package 'gbench-clash-plugin'.*"
             r"taken already \(by gbench.data.synthetic:load_sbm\)")
    with pytest.raises(GbenchError, match=clash):
        source_table()
