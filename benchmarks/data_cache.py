"""First load (staging raw files and processing them) against a cached load, per dataset. Goal: cached >= 20x faster.

Each measurement runs in a fresh Python process, so nothing is shared in memory: "first" starts from an empty cache
directory, "cached" from the cache the first load left. Times are the `load_task_data` call only (imports excluded).

    python benchmarks/data_cache.py --data-root ../shared/data [--tasks cora,ogbl-ddi,proteins,ogbg-molbace]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402

CHILD = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch_geometric.datasets, torch_geometric.transforms  # imports are not what we measure
import gbench.data.pyg_node, gbench.data.synthetic, gbench.data.ogb_node
import gbench.data.link, gbench.data.tu, gbench.data.molecules, gbench.data.structure
from gbench.data import load_task_data
from gbench.data.staging import DataContext
from gbench.specs import load_task
task = load_task(sys.argv[1])
ctx = DataContext.from_env(sys.argv[2] or None, sys.argv[3], offline=True)
t0 = time.perf_counter()
load_task_data(task, ctx)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def load_once(task: str, data_root: str | None, cache: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, task, data_root or "", cache], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--tasks", default="cora,citeseer,minesweeper,chameleon-filtered,sbm-node,"
                        "ogbl-ddi,cora-link,proteins,nci1,ogbg-molbace,structure-topology-cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for task in args.tasks.split(","):
        firsts, cached = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                firsts.append(load_once(task, args.data_root, cache))
                cached.append(load_once(task, args.data_root, cache))
        first, hit = min(firsts), min(cached)
        rows.append({"task": task, "first_s": round(first, 4), "cached_s": round(hit, 4),
                     "speedup": round(first / hit, 1), "repeats": args.repeats})
        print(rows[-1], flush=True)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
