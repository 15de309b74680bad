"""Throughput of the structural-abstraction data: generation (graphs/s per task), rendering (images/s per layout,
layout and rasteriser separately) and the cache-hit load time of a finished dataset.

Generation draws `--graphs` graphs per split from each task's CPU-profile spec (the paper's node ranges), in an
empty cache; the cache hit is `load_structure` again on the file the first call wrote (a fresh process is not
used: imports are not what is measured). Rendering draws the first `--render` graphs of the topology dataset.

    python benchmarks/structure_throughput.py [--graphs 40] [--render 120] [--size 64] [--json out.json]
    python benchmarks/structure_throughput.py --graphs 0 --render 0 --data-root ../shared/data \
        --tasks structure-topology,structure-symmetry,structure-spectral-gap,structure-bridges   # paper-sized
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, write_json  # noqa: E402

TASKS = ["structure-topology-cpu", "structure-symmetry-synthetic-cpu", "structure-symmetry-cpu",
         "structure-spectral-gap-cpu", "structure-bridges-cpu"]


def _small(task_id: str, graphs: int):
    from gbench.specs import load_task

    spec = load_task(task_id)
    if graphs <= 0:  # the spec's own split sizes
        return spec
    splits = {k: {**v, "graphs": graphs} for k, v in spec.dataset.params["splits"].items()}
    return spec.model_copy(update={"dataset": spec.dataset.model_copy(
        update={"params": {**spec.dataset.params, "splits": splits}})})


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=40, help="graphs per split (5 splits) per task; 0: the spec's")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated structure task ids")
    parser.add_argument("--render", type=int, default=120, help="graphs to render per layout (0: none)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--data-root", default=None, help="for the real-base symmetry task (else it is skipped)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import numpy as np

    from gbench.data import structure as S
    from gbench.data import render as R
    from gbench.data.staging import DataContext

    rows = []
    print(environment())
    # Warm-up, so the first task does not pay for importing torch_geometric, networkx, scipy and pynauty.
    import torch_geometric.data  # noqa: F401

    tiny = {"graphs": 1, "nodes": [20, 30]}
    for task in ("topology", "symmetry", "bridges"):
        S.generate({**S.DEFAULTS, "task": task, "splits": {k: tiny for k in S.SPLITS}})
    with tempfile.TemporaryDirectory() as tmp:
        for tid in args.tasks.split(","):
            task = _small(tid, args.graphs)
            ctx = DataContext.from_env(args.data_root, Path(tmp) / tid, offline=True)
            if task.dataset.params.get("bases") == "real" and ctx.data_root is None:
                print(f"{tid:36s} skipped (needs --data-root with TU/MUTAG and Planetoid/Cora)")
                continue
            t0 = time.perf_counter()
            td = S.load_structure(task, ctx)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            S.load_structure(task, ctx)
            hit = time.perf_counter() - t0
            n = len(td.graphs)
            nodes = float(np.mean([g.num_nodes for g in td.graphs]))
            rows.append({"case": f"generate {tid}", "graphs": n, "seconds": round(first, 3),
                         "graphs_per_s": round(n / first, 1), "cache_hit_s": round(hit, 4), "mean_nodes": nodes})
            print(f"{tid:36s} {n:5d} graphs (mean {nodes:5.1f} nodes) in {first:6.2f} s = {n / first:7.1f} graphs/s;"
                  f" cache hit {hit * 1000:7.1f} ms")
        if args.render <= 0:
            write_json(rows, args.json)
            return
        topo = S.load_structure(_small("structure-topology-cpu", max(1, args.render // 5)),
                                DataContext(data_root=None, cache_dir=Path(tmp) / "render"))
        graphs = topo.graphs[: args.render]
        for kind in R.LAYOUTS:
            pos, t_layout = [], 0.0
            for g in graphs:
                t0 = time.perf_counter()
                pos.append(R.layout(int(g.num_nodes), R._undirected(g.edge_index), kind, 0))
                t_layout += time.perf_counter() - t0
            t0 = time.perf_counter()
            for g, p in zip(graphs, pos):
                R.rasterize(p, R._undirected(g.edge_index), args.size)
            t_raster = time.perf_counter() - t0
            total = t_layout + t_raster
            rows.append({"case": f"render {kind}:{args.size}", "images": len(graphs),
                         "images_per_s": round(len(graphs) / total, 1),
                         "layout_per_s": round(len(graphs) / t_layout, 1),
                         "raster_per_s": round(len(graphs) / t_raster, 1)})
            print(f"render {kind:9s} {args.size}px: {len(graphs) / total:7.1f} images/s (layout "
                  f"{len(graphs) / t_layout:7.1f}/s, rasteriser {len(graphs) / t_raster:7.1f}/s), {len(graphs)} "
                  "graphs of 20-150 nodes")
        ctx = DataContext(data_root=None, cache_dir=Path(tmp) / "render")
        R.render_images(graphs, "spectral", args.size, 0, ctx)
        t0 = time.perf_counter()
        R.render_images(graphs, "spectral", args.size, 0, ctx)
        hit = time.perf_counter() - t0
        rows.append({"case": "render cache hit", "images": len(graphs), "seconds": round(hit, 4)})
        print(f"render cache hit: {len(graphs)} images in {hit * 1000:.1f} ms")
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
