"""Throughput of the structural-abstraction data: generation (graphs/s per task), rendering (images/s per layout
and backend, layout and rasteriser separately; a pool of 1 vs 2 processes) and the cache-hit load times.

Generation draws `--graphs` graphs per split from each task's CPU-profile spec (the paper's node ranges), in an
empty cache; the cache hit is `load_structure` again on the file the first call wrote (a fresh process is not
used: imports are not what is measured). Rendering draws `--render` graphs, an even sample of the splits of
`--render-task` (the paper-sized topology task by default), with every backend of every layout (networkx, the
reference; igraph's Kamada-Kawai; fa2-modified's ForceAtlas2), then through the process pool with each count in
`--processes`, checking that the images are identical.

    python benchmarks/structure_throughput.py [--graphs 40] [--render 120] [--size 64] [--json out.json]
    python benchmarks/structure_throughput.py --graphs 0 --render 0 --data-root ../shared/data \
        --tasks structure-topology,structure-symmetry,structure-spectral-gap,structure-bridges   # paper-sized
    python benchmarks/structure_throughput.py --tasks "" --render 200   # rendering only
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


def _render_rows(args, cache: Path) -> list[dict]:
    """images/s per (layout, backend), layout and rasteriser apart; a pool of 1 vs 2 processes; a cache hit."""
    import os

    import numpy as np

    from gbench.data import render as R
    from gbench.data import structure as S
    from gbench.data.layouts import BACKENDS
    from gbench.data.staging import DataContext

    rows = []
    # An even sample of every split of the render task (the paper-sized spec by default: 20-50 nodes in
    # distribution, 40-100 near, 60-150 far), so the sizes the full dataset draws are all represented.
    sample = S.load_structure(_small(args.render_task, max(1, args.render // 5)), DataContext(None, cache))
    items = [(int(g.num_nodes), R._undirected(g.edge_index)) for g in sample.graphs]
    nodes = float(np.mean([n for n, _ in items]))
    print(f"\nrendering {len(items)} graphs of {args.render_task} (mean {nodes:.1f} nodes) at {args.size} px, "
          f"one process; load average {os.getloadavg()[0]:.1f}")
    print(f"{'layout':9s} {'backend':13s} {'images/s':>9s} {'layout/s':>9s} {'raster/s':>9s} {'vs nx':>6s}")
    reference: dict[str, float] = {}
    for kind, backends in BACKENDS.items():
        for backend in backends:
            R._preload(kind, backend)  # imports outside the clock
            pos, t_layout = [], 0.0
            for n, edges in items:
                t0 = time.perf_counter()
                pos.append(R.layout(n, edges, kind, 0, backend))
                t_layout += time.perf_counter() - t0
            t0 = time.perf_counter()
            for (_, edges), p in zip(items, pos):
                R.rasterize(p, edges, args.size)
            t_raster = time.perf_counter() - t0
            rate = len(items) / (t_layout + t_raster)
            reference.setdefault(kind, rate)  # nx is listed first
            rows.append({"case": f"render {kind}:{backend}:{args.size}", "images": len(items),
                         "images_per_s": round(rate, 1), "layout_per_s": round(len(items) / t_layout, 1),
                         "raster_per_s": round(len(items) / t_raster, 1),
                         "speedup_vs_nx": round(rate / reference[kind], 2)})
            print(f"{kind:9s} {backend:13s} {rate:9.1f} {len(items) / t_layout:9.1f} {len(items) / t_raster:9.1f}"
                  f" {rate / reference[kind]:5.1f}x")
    counts = [int(c) for c in args.processes.split(",")]
    print(f"\nprocess pool (R.draw, same {len(items)} graphs; images identical whatever the count), images/s:")
    print(f"{'layout':9s} {'backend':13s} " + " ".join(f"{f'{c} proc':>9s}" for c in counts) + "  speed-up")
    for kind, backend in (("kk", "nx"), ("kk", "igraph"), ("fa2", "nx"), ("fa2", "fa2-modified")):
        rates, images = [], []
        for c in counts:
            t0 = time.perf_counter()
            images.append(R.draw(items, kind, args.size, 0, backend, processes=c))
            rates.append(len(items) / (time.perf_counter() - t0))
        same = all(np.array_equal(images[0], im) for im in images)
        rows.append({"case": f"pool {kind}:{backend}:{args.size}", "images": len(items),
                     **{f"images_per_s_{c}proc": round(r, 1) for c, r in zip(counts, rates)},
                     "speedup": round(rates[-1] / rates[0], 2), "identical": same})
        print(f"{kind:9s} {backend:13s} " + " ".join(f"{r:9.1f}" for r in rates)
              + f"  {rates[-1] / rates[0]:5.2f}x{'' if same else '  IMAGES DIFFER'}")
    ctx = DataContext(data_root=None, cache_dir=cache)
    R.render_images(sample.graphs, "spectral", args.size, 0, ctx)
    t0 = time.perf_counter()
    R.render_images(sample.graphs, "spectral", args.size, 0, ctx)
    hit = time.perf_counter() - t0
    rows.append({"case": "render cache hit", "images": len(items), "seconds": round(hit, 4)})
    print(f"\nrender cache hit: {len(items)} images in {hit * 1000:.1f} ms")
    return rows


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=40, help="graphs per split (5 splits) per task; 0: the spec's")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated structure task ids")
    parser.add_argument("--render", type=int, default=120, help="graphs to render per layout (0: none)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--render-task", default="structure-topology",
                        help="task whose split node ranges the rendered sample follows (paper-sized by default)")
    parser.add_argument("--processes", default="1,2", help="process counts for the pool comparison")
    parser.add_argument("--data-root", default=None, help="for the real-base symmetry task (else it is skipped)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import numpy as np

    from gbench.data import structure as S
    from gbench.data.staging import DataContext

    rows = []
    print(environment())
    # Warm-up, so the first task does not pay for importing torch_geometric, networkx, scipy and pynauty.
    import torch_geometric.data  # noqa: F401

    tiny = {"graphs": 1, "nodes": [20, 30]}
    for task in ("topology", "symmetry", "bridges"):
        S.generate({**S.DEFAULTS, "task": task, "splits": {k: tiny for k in S.SPLITS}})
    with tempfile.TemporaryDirectory() as tmp:
        for tid in filter(None, args.tasks.split(",")):
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
        rows += _render_rows(args, Path(tmp) / "render")
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
