"""How time and peak memory grow with graph size on the generated node task (full-batch GCN, CPU or GPU).

Each size runs in a fresh process (so peak RSS is that run's): the SBM graph is generated (or read from the cache),
then `--epochs` epochs of a gbench job. Reported per size: nodes, edges, generation seconds, seconds per training
epoch, and peak memory (process peak RSS on CPU, `max_memory_allocated` on CUDA), with what the data and the job
added to the process (on CPU: peak RSS minus the RSS after imports, so torch's fixed ~1 GB does not flatten the
slope). The log-log slope of time and
memory against edges says whether growth is linear (slope ~1).

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402

CHILD = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from gbench.data import load_task_data
from gbench.data.staging import DataContext
from gbench.jobs import Job, RunOptions, run_job
from gbench.specs import load_model, load_task, parse_assignments, resolve_model
n, epochs, device, cache = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = load_task("sbm-node")
task = base.model_copy(update={"dataset": base.dataset.model_copy(
    update={"params": {**base.dataset.params, "num_nodes": n, "avg_degree": 10.0}})})
ctx = DataContext.from_env(None, cache, offline=True)
import psutil
import gbench.data.synthetic, gbench.train.node, gbench.models.node  # lazy imports: not what grows with size
from gbench.metrics import get_metric
get_metric(base.metric)  # imports ogb and builds its evaluator
base_mb = psutil.Process().memory_info().rss / 2**20  # everything imported, no data yet
t0 = time.perf_counter()
td = load_task_data(task, ctx)
gen = time.perf_counter() - t0
model = resolve_model(load_model("gcn", "node"), task,
                      parse_assignments([f"train.epochs={epochs}", "train.patience=1000000000"]))
rec = run_job(Job(task, model, 0), RunOptions(device=device, deterministic="off", data=ctx))
assert rec.status == "ok", rec.error
peak = rec.cost.peak_memory_mb if device.startswith("cuda") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"nodes": n, "edges": int(td.data.edge_index.size(1)), "generate_s": gen,
                  "s_per_epoch": rec.cost.s_per_epoch, "eval_s_per_epoch": rec.cost.eval_s / epochs,
                  "peak_memory_mb": peak, "added_memory_mb": peak - (0 if device.startswith("cuda") else base_mb)}))
"""


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for n in map(int, args.sizes.split(",")):
            out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(args.epochs), args.device, cache],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    edges = [r["edges"] for r in rows]
    summary = {"slope_time_vs_edges": round(slope(edges, [r["s_per_epoch"] for r in rows]), 3),
               "slope_memory_vs_edges": round(slope(edges, [r["added_memory_mb"] for r in rows]), 3),
               "slope_generation_vs_edges": round(slope(edges, [r["generate_s"] for r in rows]), 3)}
    write_json(rows + [summary], args.json)


if __name__ == "__main__":
    main()
