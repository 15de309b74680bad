"""How much of a structural task a model could solve without structure: a shortcut probe.

A gradient-boosting model (scikit-learn's HistGradientBoosting, random_state 0, default settings) is trained on the
task's training graphs, each reduced to 19 cheap statistics that need no message passing: node and edge counts,
degree min / max / mean / std, bipartiteness, triangles per node, node-count parity and the degree histogram
(degrees 0-9 and 10+, as shares of the nodes). It is scored on every test split with scikit-learn's accuracy or
MAE, overall and per generator family. A task whose generators leave such cues can be solved by a degree-feature
GNN without abstracting anything; a probe score near a GNN's says the GNN's number may measure the cues, and a
probe score above a paper's GNN rows says the data is easier than the paper's. Each split is also described by its
mean node count, mean degree and label range (and mean, for regression): the distribution shift a model meets out
of distribution. The validation split is described and scored too, beside the test splits.

    python benchmarks/structure_shortcuts.py --data-root ../shared/data \
        [--tasks structure-symmetry,structure-topology] [--param asymmetric_swap_share=1.0] [--json out.json]

`--param KEY=VALUE` (repeatable) replaces a dataset parameter of every task probed (a YAML value), to ask how a
generator setting moves the cues; the variant is generated into the cache like any other.

The datasets come from gbench's cache (GBENCH_CACHE, else ~/.cache/gbench) and are generated there when absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, write_json  # noqa: E402

FEATURES = ["nodes", "edges", "deg_min", "deg_max", "deg_mean", "deg_std", "bipartite", "triangles_per_node",
            "nodes_odd", *[f"deg_share_{d}" for d in range(10)], "deg_share_10plus"]


def statistics(n: int, edges: np.ndarray) -> list[float]:
    """The probe's features of one graph (`edges`: [2, E] with both directions)."""
    import networkx as nx

    deg = np.bincount(edges[0], minlength=n)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges.T.tolist())
    triangles = sum(nx.triangles(g).values()) / 3
    hist = np.bincount(np.minimum(deg, 10), minlength=11) / n
    return [n, edges.shape[1] / 2, deg.min(), deg.max(), deg.mean(), deg.std(), float(nx.is_bipartite(g)),
            triangles / n, n % 2, *hist]


def describe(x: np.ndarray, y: np.ndarray) -> dict:
    """How a split differs from training: its mean node count and degree, and its label range and mean."""
    return {"nodes_mean": round(float(x[:, 0].mean()), 2), "degree_mean": round(float(x[:, 4].mean()), 2),
            "label_min": round(float(y.min()), 4), "label_max": round(float(y.max()), 4),
            "label_mean": round(float(y.mean()), 4)}


def probe(task_id: str, data_root: str | None, params: dict | None = None) -> list[dict]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, mean_absolute_error

    from gbench.data.staging import DataContext
    from gbench.data.structure.dataset import load_or_generate, structure_params
    from gbench.specs import load_task

    task = load_task(task_id)
    if params:
        task = task.model_copy(update={"dataset": task.dataset.model_copy(
            update={"params": {**task.dataset.params, **params}})})
    blob = load_or_generate(structure_params(task), DataContext.from_env(data_root, offline=True))
    meta = json.loads(blob["meta"])
    ptr, ei = blob["edge_ptr"], blob["edge_index"].numpy()
    x = np.array([statistics(int(n), ei[:, int(ptr[i]): int(ptr[i + 1])])
                  for i, n in enumerate(blob["num_nodes"].tolist())])
    y, split = blob["y"].numpy(), blob["split"].numpy()
    family = np.array([meta["families"][f] for f in blob["family"].tolist()])
    classify = task.target != "regression"
    model = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(random_state=0)
    train = split == meta["splits"].index("train")
    model.fit(x[train], y[train])
    score = accuracy_score if classify else mean_absolute_error
    metric = "accuracy" if classify else "mae"
    rows = [{"task": task_id, "params": params or {}, "split": "train", "metric": metric, "graphs": int(train.sum()),
             **describe(x[train], y[train])}]
    for name in ["val", *task.split.test_splits]:
        at = split == meta["splits"].index(name)
        pred = model.predict(x[at])
        per_family = {f: round(float(score(y[at][family[at] == f], pred[family[at] == f])), 4)
                      for f in sorted(set(family[at]))}
        rows.append({"task": task_id, "params": params or {}, "split": name,
                     "metric": metric,
                     "probe": round(float(score(y[at], pred)), 4), "graphs": int(at.sum()),
                     **describe(x[at], y[at]), "per_family": per_family})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="structure-symmetry,structure-topology")
    parser.add_argument("--data-root", default=None, help="holds MUTAG and Cora for the real-base symmetry task")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE: a dataset parameter to replace")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import yaml

    params = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in args.param)}
    print(environment())
    rows = []
    for task_id in [t for t in args.tasks.split(",") if t]:
        for row in probe(task_id, args.data_root, params):
            rows.append(row)
            shape = (f"{row['graphs']} graphs, {row['nodes_mean']} nodes and mean degree {row['degree_mean']} "
                     f"on average, labels {row['label_min']}..{row['label_max']}"
                     + (f" (mean {row['label_mean']})" if row["metric"] == "mae" else ""))
            if row["split"] == "train":
                print(f"{row['task']} train: {shape}")
                continue
            families = ", ".join(f"{f} {v}" for f, v in row["per_family"].items())
            print(f"{row['task']} {row['split']}: {row['metric']} {row['probe']} ({shape})")
            print(f"    per family: {families}")
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
