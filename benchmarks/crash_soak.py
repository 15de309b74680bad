"""Crash soak: a sweep SIGKILLed at seeded random points, resumed after each kill, then checked against an
uninterrupted run of the same sweep.

Each round starts `gbench run` (in-process and 2-worker pools in turn) and kills it with SIGKILL at a random
moment: every fifth round while it starts up (a random delay after launch, before its jobs), the others a random
delay after it has written a new record (inside a job, inside a record's write, between jobs). After every kill,
every record written before it must be unchanged byte for byte and every file that counts as a record must read
back whole (schema and checksum). At the end the sweep is resumed to completion and compared with a run that was
never interrupted:

- every job present exactly once (one record file per task / model / seed, job ids unique, the same set of ids);
- every record's checksum valid (`gbench results verify`: 0 damaged);
- metrics, selected epoch and epochs run bitwise identical to the uninterrupted run's;
- no temp file left anywhere under the results directory, and no worker of a killed pool still alive.

    python benchmarks/crash_soak.py [--kills 20] [--seed 0] [--models gcn,mlp,sage] [--seeds 50] [--epochs 20]

Not part of CI: a soak takes minutes. It prints one line per kill and a summary (and `--json FILE` writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gbench.results import ResultStore, read_record

REPO = Path(__file__).resolve().parents[1]


def sweep_command(out: Path, args: argparse.Namespace, workers: int) -> list[str]:
    return [sys.executable, "-m", "gbench", "run", "--tasks", args.task, "--models", args.models,
            "--seeds", str(args.seeds), "--set", f"train.epochs={args.epochs}", "--device", "cpu",
            "--threads", "1", "--workers", str(workers), "--out", str(out)]


def snapshot(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in ResultStore(out).record_paths()}


def temp_files(out: Path) -> list[Path]:
    """Any unfinished write under the results directory: record temps, leaderboard temps, anything `*.tmp*`."""
    return sorted(p for p in out.rglob("*") if p.is_file() and ".tmp" in p.name)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def kill_once(out: Path, args: argparse.Namespace, env: dict[str, str], rng: random.Random, workers: int,
              in_startup: bool) -> dict[str, object]:
    """One round: start the sweep, SIGKILL it at a random point (in start-up, or a random delay after its first new
    record), check nothing written before was lost or changed. Returns what happened."""
    before = snapshot(out)
    delay = rng.uniform(0.1, args.startup_s) if in_startup else rng.uniform(0.0, args.max_delay)
    proc = subprocess.Popen(sweep_command(out, args, workers), env=env, cwd=out.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    if not in_startup:  # wait for this run's first new record, then the random delay
        while proc.poll() is None and len(ResultStore(out).record_paths()) <= len(before):
            if time.monotonic() - started > 300:
                break
            time.sleep(0.01)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = snapshot(out)
    lost = [str(p) for p, content in before.items() if after.get(p) != content]
    damaged = []
    for path in after:
        try:
            read_record(path)
        except Exception as e:  # noqa: BLE001 - any failure to read back is damage
            damaged.append(f"{path}: {e}")
    return {"workers": workers, "where": "start-up" if in_startup else "after a new record",
            "delay_s": round(delay, 3), "killed_after_s": round(time.monotonic() - started, 2),
            "finished_before_kill": finished, "records_before": len(before), "records_after": len(after),
            "lost": lost, "damaged": damaged}


def records_by_job(out: Path) -> dict[tuple[str, str, int], list]:
    by_job: dict[tuple[str, str, int], list] = {}
    for path in ResultStore(out).record_paths():
        r = read_record(path)
        by_job.setdefault((r.task, r.model, r.seed), []).append(r)
    return by_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill points")
    parser.add_argument("--task", default="sbm-node")
    parser.add_argument("--models", default="gcn,mlp,sage")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per model (jobs = models x seeds)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=2.0, help="largest delay after a new record, seconds")
    parser.add_argument("--startup-s", type=float, default=8.0, help="kills in start-up land in (0.1, this) s")
    parser.add_argument("--startup-every", type=int, default=5, help="every N-th round is killed in start-up")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="gbench-soak-"))
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "GBENCH_OFFLINE": "1",
           "GBENCH_CACHE": os.environ.get("GBENCH_CACHE") or str(work / "cache")}
    out, clean = work / "killed", work / "uninterrupted"
    t0 = time.monotonic()

    rounds: list[dict[str, object]] = []
    # A round whose sweep finished before its kill point is no kill; the sweep is sized so that this is rare.
    expected = len(args.models.split(",")) * args.seeds
    while (sum(not r["finished_before_kill"] for r in rounds) < args.kills and len(rounds) < 2 * args.kills
           and len(ResultStore(out).record_paths()) < expected):
        k = len(rounds)
        in_startup = k % args.startup_every == args.startup_every - 1
        r = kill_once(out, args, env, rng, workers=1 + k % 2, in_startup=in_startup)
        rounds.append(r)
        print(f"round {k + 1:2d}: workers {r['workers']}, {r['where']}, +{r['delay_s']} s (at {r['killed_after_s']} s)"
              f", records {r['records_before']} -> {r['records_after']}"
              + (" [the sweep had finished]" if r["finished_before_kill"] else "")
              + (f", LOST {r['lost']}" if r["lost"] else "") + (f", DAMAGED {r['damaged']}" if r["damaged"] else ""),
              flush=True)
    resumed = subprocess.run(sweep_command(out, args, 1), env=env, cwd=work, capture_output=True, text=True)
    uninterrupted = subprocess.run(sweep_command(clean, args, 1), env=env, cwd=work, capture_output=True, text=True)

    problems = []
    for name, proc in (("resumed", resumed), ("uninterrupted", uninterrupted)):
        if proc.returncode != 0:
            problems.append(f"the {name} run exited {proc.returncode}: {proc.stderr[-2000:]}")
    problems += [f"round {i + 1} lost {p}" for i, r in enumerate(rounds) for p in r["lost"]]
    problems += [f"round {i + 1} left damaged {p}" for i, r in enumerate(rounds) for p in r["damaged"]]
    got, want = records_by_job(out), records_by_job(clean)
    if len(want) != expected:
        problems.append(f"the uninterrupted run has {len(want)} jobs, not {expected}")
    for key in sorted(set(got) | set(want)):
        if len(got.get(key, [])) != 1:
            problems.append(f"{key}: {len(got.get(key, []))} record(s) after the kills, not exactly 1")
            continue
        a, b = got[key][0], want.get(key, [None])[0]
        if b is None:
            problems.append(f"{key}: not in the uninterrupted run")
            continue
        for f in ("job_id", "status", "metrics", "selected_epoch", "epochs_run"):
            if getattr(a, f) != getattr(b, f):
                problems.append(f"{key}: {f} {getattr(a, f)!r} != uninterrupted {getattr(b, f)!r}")
    verify = subprocess.run([sys.executable, "-m", "gbench", "results", "verify", str(out)], env=env,
                            capture_output=True, text=True)
    if verify.returncode != 0 or " 0 damaged" not in verify.stdout:
        problems.append(f"gbench results verify: {verify.stdout.strip()} {verify.stderr.strip()}")
    temps = temp_files(out)
    problems += [f"temp file left: {p}" for p in temps]
    pids = {int(m) for log in (out / "logs").glob("*.log") for m in re.findall(r"worker pid (\d+)", log.read_text())}
    time.sleep(1.0)
    problems += [f"worker {p} of a killed pool is still alive" for p in pids if alive(p)]

    killed = sum(not r["finished_before_kill"] for r in rounds)
    summary = {"kills": killed, "rounds": len(rounds), "seed": args.seed, "jobs": expected,
               "records": sum(len(v) for v in got.values()),
               "kills_in_startup": sum(r["where"] == "start-up" and not r["finished_before_kill"] for r in rounds),
               "records_lost": sum(len(r["lost"]) for r in rounds), "records_damaged": sum(len(r["damaged"])
                                                                                          for r in rounds),
               "metrics_differing": sum("metrics" in p for p in problems), "temp_files_left": len(temps),
               "verify": verify.stdout.strip(), "problems": problems,
               "wall_s": round(time.monotonic() - t0, 1), "load_average": os.getloadavg()}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rounds": rounds}, indent=1))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
