"""What tuning costs beyond its trials, and what 2 local workers buy a tune.

1. Per-trial overhead (goal: under 5 %). A tune's trial phase (`gbench.tuning.engine.run_tune` without final
   runs: Optuna's ask and tell on its study, the record lookups, one sweep per round) against running the very
   same trial jobs with `gbench run`'s driver (`gbench.execute.run_sweep`, one sweep, in process). Both sides run
   the same jobs in this process into fresh results folders; they alternate (tune, run, tune, run, ...) and the
   median of the repeats is reported. Every job trains all `--epochs` (patience set to the epochs), so that a
   job's work is what `--epochs` says.

2. Speed-up of `--workers 2` on a 16-trial tune (round size 4), each tune a whole `gbench tune` in a fresh process
   and results folder, alternating 1 and 2 workers, one torch thread per job in both.

3. What one ask-and-tell costs in the study's storage: Optuna's journal file (the default) against SQLite.

    python benchmarks/tune_overhead.py [--trials 16] [--epochs 100] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402

SPACE = {"name": "gcn-bench", "level": "node", "implementation": "gbench.models.node:gcn",
         "hparams": {"hidden": 16, "layers": 2, "dropout": 0.5, "input_dropout": 0.5},
         "search": {"space": {"hidden": [8, 16, 32, 64], "dropout": [0.0, 0.2, 0.4, 0.6]}, "width": "hidden",
                    "source": "benchmark space"}}


def _studies(spec_path: str, trials: int, epochs: int, out: Path):
    from gbench.tuning import prepare_tune

    return prepare_tune(tasks="sbm-node", candidates=[spec_path], budget=trials, sampler="grid", seeds=[0],
                        overrides=[f"train.epochs={epochs}", f"train.patience={epochs}"], out=out, device="cpu",
                        threads=1)


def overhead(spec_path: str, trials: int, epochs: int, repeats: int) -> dict:
    from gbench.execute import run_sweep
    from gbench.results import ResultStore
    from gbench.tuning.engine import open_storage, run_tune

    tune_s, run_s = [], []
    for _ in range(repeats + 1):  # the first pair warms the data cache and imports
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            tuner = _studies(spec_path, trials, epochs, Path(a))
            t0 = time.perf_counter()
            run_tune(tuner.studies, tuner.opts, ResultStore(Path(a)), tuner.executor, open_storage(Path(a), None),
                     final_seeds=[])
            tune_s.append(time.perf_counter() - t0)
            jobs = [t.job for s in tuner.studies for t in s.trials]
            plain = _studies(spec_path, trials, epochs, Path(b))
            t0 = time.perf_counter()
            run_sweep(jobs, plain.opts, ResultStore(Path(b)), executor=plain.executor)
            run_s.append(time.perf_counter() - t0)
    t, r = statistics.median(tune_s[1:]), statistics.median(run_s[1:])
    return {"case": f"tune trial phase vs gbench run of the same {trials} jobs", "tune_s": round(t, 3),
            "run_s": round(r, 3), "overhead_pct": round(100 * (t / r - 1), 2),
            "per_trial_ms": round(1000 * (t - r) / trials, 1), "repeats": repeats}


def speedup(spec_path: str, trials: int, epochs: int, repeats: int) -> dict:
    def once(workers: int) -> float:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gbench", "tune", "--tasks", "sbm-node", "--model", spec_path,
                            "--sampler", "grid", "--budget", str(trials), "--seeds", "1", "--set",
                            f"train.epochs={epochs}", "--set", f"train.patience={epochs}", "--threads", "1",
                            "--device", "cpu", "--workers", str(workers), "--out", out], check=True,
                           capture_output=True)
            return time.perf_counter() - t0

    one, two = [], []
    for _ in range(repeats):
        one.append(once(1))
        two.append(once(2))
    a, b = statistics.median(one), statistics.median(two)
    return {"case": f"gbench tune, {trials} trials (round size 4), 1 vs 2 local workers", "workers_1_s": round(a, 2),
            "workers_2_s": round(b, 2), "speedup": round(a / b, 2), "repeats": repeats}


def storage_cost(calls: int = 16) -> dict:
    """Milliseconds per ask-and-tell of a 2-parameter TPE study in Optuna's journal file (gbench's default) and in
    SQLite through Optuna's RDB storage (`--storage sqlite:///...`), and the seconds to open each."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {"a": CategoricalDistribution([1, 2, 3, 4]), "b": CategoricalDistribution([0.1, 0.2, 0.3])}
    row: dict = {"case": f"Optuna storage, {calls} ask-and-tell calls"}
    with tempfile.TemporaryDirectory() as folder:
        for name, make in (("journal", lambda: optuna.storages.JournalStorage(
                JournalFileBackend(str(Path(folder) / "journal.log")))),
                           ("sqlite", lambda: optuna.storages.RDBStorage(f"sqlite:///{folder}/optuna.db"))):
            t0 = time.perf_counter()
            study = optuna.create_study(storage=make(), study_name="bench",
                                        sampler=optuna.samplers.TPESampler(seed=0))
            opened = time.perf_counter()
            for _ in range(calls):
                trial = study.ask(dists)
                study.tell(trial, 0.5)
            row[f"{name}_open_s"] = round(opened - t0, 3)
            row[f"{name}_ms_per_call"] = round(1000 * (time.perf_counter() - opened) / calls, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        spec_path = str(Path(folder) / "gcn-bench.yaml")
        Path(spec_path).write_text(yaml.safe_dump(SPACE))
        rows = [storage_cost(), overhead(spec_path, args.trials, args.epochs, args.repeats),
                speedup(spec_path, args.trials, args.epochs, args.repeats)]
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
