"""One sweep of small jobs through the local executor with 1 and with 2 workers: the speed-up. Goal: >= 1.7x on 2
cores.

Each measurement is a whole `gbench run` in a fresh process and a fresh results directory (start-up, imports, the
worker processes' own start-up and the leaderboard included: what a user waits for), with one torch thread per job
in both cases so that the jobs themselves are the same work. The data cache is warmed first. Runs alternate
(1, 2, 1, 2, ...) so that drift in machine load affects both alike; the median is reported.

With 2 workers each worker process imports torch and PyG once (a few CPU seconds), which `--workers 1` does not
pay: the speed-up approaches 2 as the sweep's work grows against that fixed cost, and is below 1 for a sweep of a
few tiny jobs.

    python benchmarks/executors.py [--jobs 16] [--epochs 400] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # gbench run and its workers, once reaped
    return usage.ru_utime + usage.ru_stime


def sweep(workers: int, jobs: int, epochs: int, cache: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the run and its worker processes)."""
    with tempfile.TemporaryDirectory() as out:
        args = [sys.executable, "-m", "gbench", "run", "--tasks", "sbm-node", "--models", "gcn", "--seeds",
                str(jobs), "--set", f"train.epochs={epochs}", "--set", "train.patience=100000", "--threads", "1",
                "--device", "cpu", "--workers", str(workers), "--out", out]
        env = {**os.environ, "GBENCH_CACHE": cache, "GBENCH_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        cpu0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0, _children_cpu() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cache = os.environ.get("GBENCH_CACHE") or tempfile.mkdtemp(prefix="gbench-bench-")
    load = os.getloadavg()[0]
    sweep(1, 1, 1, cache)  # warm the data cache: both cases then load the task from it
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeats):
        for workers in (1, 2):
            wall, used = sweep(workers, args.jobs, args.epochs, cache)
            times[workers].append(wall)
            cpu[workers].append(used)
            print(f"workers {workers}: {wall:.1f} s wall, {used:.1f} s CPU", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    write_json([{"case": f"{args.jobs} x gcn on sbm-node, {args.epochs} epochs, 1 thread per job",
                 "workers_1_s": round(one, 2), "workers_2_s": round(two, 2), "speedup": round(one / two, 2),
                 "workers_1_cpu_s": round(statistics.median(cpu[1]), 2),
                 "workers_2_cpu_s": round(statistics.median(cpu[2]), 2),
                 "repeats": args.repeats, "load_avg_before": load, "load_avg_after": os.getloadavg()[0]}],
               args.json)


if __name__ == "__main__":
    main()
