"""gbench on one NVIDIA GPU, in one time-boxed script: do the CUDA paths run, is a seeded job deterministic there,
and what do an epoch and the harness cost? Each part is a gbench command (or a benchmark script) run with a time
limit, so the whole ends in a known time and a part that overruns leaves the records it finished.

Parts, in order (`--parts` picks some):

- `default`: the default suite (every family: node, link, graph, structural, vision) on `cuda`, twice, into
  OUT/default-a and OUT/default-b, then every job's two records compared exactly (gbench.verify's comparison)
  and the non-deterministic operations each model hit listed (CUDA runs default to `--deterministic warn`, which
  records them);
- `strict`: `gbench verify` under `--deterministic strict` on a node GCN and a structural GIN+LapPE (does
  strict mode run on CUDA, or which operation stops it);
- `harness`: benchmarks/harness_overhead.py on cora-gcn and cora-gat on `cuda` (gbench against a plain PyG loop);
- `peptides`: Peptides-func, every graph baseline of its leaderboard and `graphgps`, 3 epochs each, one job at a
  time: s/epoch and peak GPU memory (torch.cuda.max_memory_allocated) in OUT/peptides-func;
- `symmetry`: the paper-sized `structure-symmetry` task with GCN / GAT + SPE / SignNet at the task's own protocol,
  3 seeds (the structure-paper suite's jobs: its `--out` can take these records), into OUT/structure-paper;
- `regression-pe`: the paper-sized `structure-spectral-gap` and `structure-bridges` with GCN / GAT + SignNet / SPE
  at the tasks' own protocol (the structure-paper suite's jobs), seed 0 of every row first, then seeds 1-4 with
  what is left of the limit, into OUT/structure-paper;
- `ncnc-pubmed`: NCNC on `pubmed-link-70-10-20` (the split NCN's code uses in effect), the task's 10 seeds at its
  protocol, into OUT/link-ncnc-pubmed-70-10-20.

    GBENCH_DATA=DATA_ROOT python benchmarks/gpu_check.py --out gpu-check [--parts default,peptides]
        [--part-seconds 120] [--limit peptides=150 ...] [--workers 8]

The data root needs `lrgb/peptides-functional` (peptides), `Planetoid/Cora` (harness) and `Planetoid/PubMed`
(ncnc-pubmed); the other parts are generated tasks. Two invocations with different parts and `--out` can share
one GPU at once; `--threads` then keeps their workers within the cores. Everything a part prints goes to OUT/<part>.log, its last lines to the terminal; the comparisons
and costs go to OUT/summary.txt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PARTS = ("default", "strict", "harness", "peptides", "symmetry", "regression-pe", "ncnc-pubmed")
PEPTIDES_MODELS = "gcn,gine,gatedgcn,gps,graph-transformer,graphgps,gcn-tuned,transformer-lappe"
SYMMETRY_MODELS = "gcn-spe,gat-spe,gcn-signnet,gat-signnet"
REGRESSION_PE_MODELS = "gcn-signnet,gat-signnet,gcn-spe,gat-spe"


def run_part(name: str, cmd: list[str], out: Path, seconds: float, tail: int = 25) -> int | None:
    """Run `cmd` with its output in OUT/<name>.log (its last `tail` lines printed after); None when it ran past
    `seconds` and was killed with its worker processes."""
    print(f"== {time.strftime('%H:%M:%S')} {name}: {' '.join(cmd)} (limit {seconds:.0f} s)", flush=True)
    t0 = time.perf_counter()
    log_path = out / f"{name}.log"
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            code = None
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if "Warning" not in ln]
    print("\n".join(lines[-tail:]))
    said = f"stopped at its limit of {seconds:.0f} s" if code is None else f"exit {code}"
    print(f"== {name}: {said} after {time.perf_counter() - t0:.0f} s", flush=True)
    return code


def _records(folder: Path) -> list:
    from gbench.results import load_records

    return load_records(folder, warn=False) if (folder / "records").is_dir() else []


def compare_runs(a: Path, b: Path, dev: str) -> list[str]:
    """Lines saying, per job finished in both runs, whether its two records agree exactly, and which
    non-deterministic operations each model hit."""
    from gbench.verify import compare_records

    ra = {r.job_id: r for r in _records(a)}
    rb = {r.job_id: r for r in _records(b)}
    both = sorted(set(ra) & set(rb), key=lambda j: (ra[j].task, ra[j].model, ra[j].seed))
    lines = [f"default suite twice on {dev}: {len(ra)} and {len(rb)} records, {len(both)} jobs in both"]
    same = 0
    for job in both:
        diffs = compare_records(ra[job], rb[job])
        same += not diffs
        ops = ", ".join(ra[job].determinism.get("nondeterministic_ops", [])) or "none"
        verdict = "identical" if not diffs else "DIFFER: " + "; ".join(diffs[:3])
        lines.append(f"  {ra[job].task} / {ra[job].model} / seed {ra[job].seed} [{ra[job].status}]: {verdict}; "
                     f"non-deterministic ops: {ops}")
    lines.append(f"identical: {same} of {len(both)}")
    return lines


def cost_lines(folder: Path) -> list[str]:
    """One line per finished job (s/epoch, peak memory, epochs, parameters, headline), then one per job stopped
    in flight at its part's limit: how far its training got (its progress file, gbench.train.progress)."""
    from gbench.train.progress import read_progress

    lines = []
    for r in sorted(_records(folder), key=lambda r: (r.task, r.model, r.seed)):
        c = r.cost
        lines.append(f"  {r.task} / {r.model} / seed {r.seed} [{r.status}] on {r.device}: s/epoch {c.s_per_epoch}, "
                     f"peak {c.peak_memory_mb} MB ({c.peak_memory_kind}), epochs {r.epochs_run}, "
                     f"params {r.num_params}, headline {r.headline()}")
    for b in read_progress(folder / "progress"):
        epoch = b.get("epoch") or 0
        spent = (b.get("train_s") or 0.0) + (b.get("eval_s") or 0.0)
        lines.append(f"  {b.get('task')} / {b.get('model')} / seed {b.get('seed')} [stopped in flight]: epoch {epoch} "
                     f"of {b.get('epochs')}, s/epoch {spent / epoch if epoch else '-'}, epoch kept "
                     f"{b.get('selected_epoch')} (val {b.get('best_val')})")
    return lines


def threads(workers: int, given: int | None = None) -> int:
    """torch CPU threads per worker: `given`, else the cores shared out, so workers do not oversubscribe them."""
    return given or max(1, (os.cpu_count() or 1) // workers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-check", help="folder for the records, logs and summary")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated; they run in this order")
    parser.add_argument("--part-seconds", type=float, default=120, help="time limit of each gbench command")
    parser.add_argument("--limit", action="append", default=[], metavar="PART=SECONDS",
                        help="another limit for one part's commands (repeatable), e.g. peptides=150")
    parser.add_argument("--workers", type=int, default=8, help="worker processes sharing the GPU (default suite)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per worker (default: the cores shared out among --workers)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    out = Path(args.out)
    gbench = [sys.executable, "-m", "gbench"]
    dev, parts = args.device, [p.strip() for p in args.parts.split(",") if p.strip()]
    limits = {part: args.part_seconds for part in PARTS}
    for item in args.limit:
        part, _, value = item.partition("=")
        try:
            limits[part] = float(value) if part in PARTS else float("nan")
        except ValueError:
            limits[part] = float("nan")
        if limits[part] != limits[part]:
            parser.error(f"--limit {item}: give PART=SECONDS with PART one of {', '.join(PARTS)}")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: {', '.join(unknown)} not known; choose from {', '.join(PARTS)}")
    summary: list[str] = []

    import torch

    if dev.startswith("cuda") and not torch.cuda.is_available():
        print(f"benchmarks/gpu_check.py: --device {dev} but torch sees no CUDA device here "
              f"(torch {torch.__version__}); run it on a machine with an NVIDIA GPU, or try the parts on this "
              "one with --device cpu.", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    summary.append(f"torch {torch.__version__} (CUDA {torch.version.cuda}), "
                   f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, "
                   f"{os.cpu_count()} cores, python {sys.version.split()[0]}")
    if "default" in parts:
        for side in ("a", "b"):
            run_part(f"default-{side}", gbench + ["run", "--device", dev, "--workers", str(args.workers), "--threads",
                                                  str(threads(args.workers, args.threads)),
                                                  "--out", str(out / f"default-{side}")], out, limits["default"])
        summary += compare_runs(out / "default-a", out / "default-b", dev)
    if "strict" in parts:
        for task, model in (("sbm-node", "gcn"), ("structure-topology-cpu", "gin-lappe")):
            code = run_part(f"strict-{model}", gbench + ["verify", task, model, "--device", dev,
                                                          "--deterministic", "strict"], out, limits["strict"])
            said = "stopped at its time limit" if code is None else f"exit {code}"
            summary.append(f"verify {task} {model} --deterministic strict on {dev}: {said} "
                           "(exit 0: two identical runs; 1: they differ; 2: failed, see the log)")
    if "harness" in parts:
        run_part("harness", [sys.executable, "benchmarks/harness_overhead.py", "--cases", "cora-gcn,cora-gat",
                             "--device", dev, "--deterministic", "off", "--repeats", "3",
                             "--json", str(out / "harness.json")], out, limits["harness"])
    if "peptides" in parts:
        run_part("peptides", gbench + ["run", "--tasks", "peptides-func", "--models", PEPTIDES_MODELS, "--seeds", "1",
                                       "--set", "train.epochs=3", "--device", dev, "--out",
                                       str(out / "peptides-func")], out, limits["peptides"])
        summary += ["Peptides-func, 3 epochs, one job at a time:"] + cost_lines(out / "peptides-func")
    if "symmetry" in parts:
        run_part("symmetry", gbench + ["run", "--tasks", "structure-symmetry", "--models", SYMMETRY_MODELS,
                                       "--seeds", "3", "--device", dev, "--workers", str(min(args.workers, 4)),
                                       "--threads", str(threads(min(args.workers, 4), args.threads)),
                                       "--out", str(out / "structure-paper")], out, limits["symmetry"])
        summary += ["structure-symmetry, the task's protocol:"] + cost_lines(out / "structure-paper")
    if "regression-pe" in parts:
        start, common = time.perf_counter(), ["--tasks", "structure-spectral-gap,structure-bridges", "--models",
                                              REGRESSION_PE_MODELS, "--device", dev, "--workers", str(args.workers),
                                              "--threads", str(threads(args.workers, args.threads)),
                                              "--out", str(out / "structure-paper")]
        run_part("regression-pe", gbench + ["run", "--seeds", "1"] + common, out, limits["regression-pe"])
        left = limits["regression-pe"] - (time.perf_counter() - start)
        if left > 30:
            run_part("regression-pe", gbench + ["run", "--seeds", "1-4"] + common, out, left)
        summary += ["structure-spectral-gap and -bridges, the tasks' protocol:"] + cost_lines(out / "structure-paper")
    if "ncnc-pubmed" in parts:
        run_part("ncnc-pubmed", gbench + ["run", "--tasks", "pubmed-link-70-10-20", "--models", "ncnc", "--device", dev,
                                          "--workers", str(args.workers),
                                          "--threads", str(threads(args.workers, args.threads)),
                                          "--out", str(out / "link-ncnc-pubmed-70-10-20")], out, limits["ncnc-pubmed"])
        summary += ["pubmed-link-70-10-20 / ncnc, the task's protocol:"] + cost_lines(out / "link-ncnc-pubmed-70-10-20")
    text = "\n".join(summary)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
