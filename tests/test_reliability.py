"""Reliability of the result store under crashes, concurrent sweeps and damaged files, through the CLI."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gbench.results import ResultStore, load_records, read_record

REPO = Path(__file__).resolve().parents[1]

# A candidate that takes a moment per forward pass, so a sweep is long enough to be killed part-way through, and
# that counts its factory calls: one line per job run.
SLOW = '''
import os, time
import torch

COUNTER = {counter!r}


class Slow(torch.nn.Module):
    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)

    def forward(self, data):
        time.sleep({sleep})
        return self.lin(data.x)


def build(info):
    with open(COUNTER, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    return Slow(info)
'''


def tiny_task(folder: Path) -> Path:
    spec = yaml.safe_load((REPO / "tasks" / "node" / "sbm-node.yaml").read_text())
    spec["id"] = "tiny-sbm"
    spec["dataset"]["params"]["num_nodes"] = 200
    path = folder / "tiny-sbm.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def slow_model(folder: Path, sleep: float) -> tuple[Path, Path]:
    counter = folder / "factory-calls.txt"
    src = folder / "slow.py"
    src.write_text(SLOW.format(counter=str(counter), sleep=sleep))
    return src, counter


def gbench_args(task: Path, model: Path, out: Path, seeds: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gbench", "run", "--tasks", str(task), "--model", f"{model}:build", "--seeds",
            str(seeds), "--set", "train.epochs=4", "--set", "train.patience=100", "--threads", "1", "--device", "cpu",
            "--out", str(out), *extra]


def env_for(cache: Path) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "GBENCH_CACHE": str(cache),
            "GBENCH_OFFLINE": "1"}


def snapshot(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in ResultStore(out).record_paths()}


def test_sweep_killed_at_random_points_ends_with_exactly_one_valid_record_per_job(cli, tmp_path, session_cache):
    jobs, kills = 10, 3
    task = tiny_task(tmp_path)
    model, counter = slow_model(tmp_path, sleep=0.03)
    out = tmp_path / "out"
    env = env_for(session_cache)
    rng = random.Random(7)
    survived = []  # (records before the kill, records after it)
    for k in range(kills):
        workers = "2" if k % 2 else "1"  # in-process runs and worker pools both get killed
        before = snapshot(out)
        if len(before) >= jobs - 1:
            break
        proc = subprocess.Popen(gbench_args(task, model, out, jobs, "--workers", workers), env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = min(len(before) + rng.randint(1, 2), jobs - 1)
        deadline = time.time() + 240
        while time.time() < deadline and len(ResultStore(out).record_paths()) < target and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.2))  # anywhere: in a job, in a record's write, between jobs
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = snapshot(out)
        for path, content in before.items():
            assert after.get(path) == content, f"kill {k + 1} lost or changed {path}"
        for path in after:
            read_record(path)  # every file that counts as a record is whole and valid
        survived.append((len(before), len(after)))
    assert len(survived) >= 3, survived
    done = subprocess.run(gbench_args(task, model, out, jobs), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    recs = [read_record(p) for p in ResultStore(out).record_paths()]
    assert len(recs) == jobs and len({r.job_id for r in recs}) == jobs and {r.seed for r in recs} == set(range(jobs))
    assert all(r.status == "ok" for r in recs)
    assert not ResultStore(out).temp_files()  # temps of killed writers were tidied away
    assert not list((out / "records").rglob("*.json.tmp-*"))
    verify = cli("results", "verify", out)
    assert verify.code == 0 and f"{jobs} valid record(s), 0 damaged" in verify.out
    # Workers of killed pools did not outlive their sweep.
    pids = {int(m) for log in (out / "logs").glob("*.log") for m in re.findall(r"worker pid (\d+)", log.read_text())}
    time.sleep(1.0)
    alive = [p for p in pids if _alive(p)]
    assert not alive, alive
    print(f"\ncrash test: {len(survived)} kills survived (records before/after each: {survived}), "
          f"{jobs} jobs completed, 0 records lost, {len(counter.read_text().split())} job starts in all")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def test_two_sweeps_sharing_a_results_directory_run_each_job_once(tmp_path, session_cache):
    jobs = 6
    task = tiny_task(tmp_path)
    model, counter = slow_model(tmp_path, sleep=0.25)  # jobs outlast the skew between the two start-ups
    out = tmp_path / "out"
    env = env_for(session_cache)
    procs = [subprocess.Popen(gbench_args(task, model, out, jobs), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    recs = [read_record(p) for p in ResultStore(out).record_paths()]
    assert len(recs) == jobs and len({r.job_id for r in recs}) == jobs
    calls = counter.read_text().split()
    assert len(calls) == jobs, calls  # no job ran twice
    ran = [int(re.search(r"ran (\d+), already done", stdout).group(1)) for stdout, _ in outputs]
    assert sum(ran) == jobs, ran
    assert {r.worker["pid"] for r in recs} <= {p.pid for p in procs}
    board = pd.read_csv(out / "leaderboard.csv")
    assert int(board.n_seeds.iloc[0]) == jobs
    assert not (out / "claims").exists() or not list((out / "claims").iterdir())
    print(f"\nconcurrency: jobs run per process {ran}, factory calls {len(calls)} for {jobs} jobs")


def test_damaged_records_are_listed_by_verify_and_excluded_from_the_leaderboard(cli, tmp_path):
    task = tiny_task(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--tasks", str(task), "--models", "mlp", "--seeds", "4", "--set", "train.epochs=3",
            "--threads", "1", "--device", "cpu", "--out", out]
    assert cli(*args).code == 0
    paths = ResultStore(out).record_paths()
    assert len(paths) == 4
    clean = cli("results", "verify", out)
    assert clean.code == 0 and "4 valid record(s), 0 damaged" in clean.out
    truncated, edited, moved, _ = paths
    truncated.write_text(truncated.read_text()[:200])
    body = json.loads(edited.read_text())
    body["metrics"]["test"]["acc"] = 0.99  # a "better" number typed in by hand
    edited.write_text(json.dumps(body, indent=1))
    copy = moved.with_name(moved.name.replace("s0002", "s0007"))
    copy.write_bytes(moved.read_bytes())
    (out / "records" / "tiny-sbm" / "mlp" / ".s0009-abc.json.tmp-otherhost-12").write_text("{")

    report = cli("results", "verify", out)
    assert report.code == 1
    assert f"{truncated}: not readable JSON" in report.err.replace("\n", "")
    assert f"{edited}: checksum mismatch" in report.err.replace("\n", "")
    assert f"{copy}: holds job" in report.err.replace("\n", "")
    assert "2 valid record(s), 3 damaged, 1 unfinished temp file(s)" in report.out

    with pytest.warns(UserWarning, match="excluded damaged record") as caught:
        kept = load_records(out)
    assert len(caught) == 3 and sorted(r.seed for r in kept) == [2, 3]
    from gbench.results import aggregate

    row = aggregate(kept).iloc[0]
    assert row["n_seeds"] == 2 and row["mean"] != pytest.approx(0.99)

    # The next run reports them, reruns the two damaged jobs and keeps the damaged files aside, never averaged in.
    again = cli(*args)
    assert again.code == 0 and "ran 2, already done 2" in again.out
    assert again.err.count("excluded damaged record") == 1  # the copy in the wrong place stays excluded
    board = pd.read_csv(out / "leaderboard.csv")
    assert int(board.n_seeds.iloc[0]) == 4 and board["mean"].iloc[0] < 0.99
    assert len(list((out / "records" / "_attempts").glob("*.json"))) == 2


def _failure(**changes):
    """A failed record of one job, as a worker makes it (not yet sealed), built from a shipped reference record."""
    from gbench.results import RunRecord

    src = sorted((REPO / "leaderboards" / "ci-reference" / "records").rglob("*.json"))[0]
    raw = json.loads(src.read_text())
    fields = {k: v for k, v in raw.items() if k not in ("checksum", "run_id", "attempt")}
    fields.update(status="failed", error="RuntimeError: boom", metrics={}, started_at="2026-01-01T00:00:00+00:00",
                  finished_at="2026-01-01T00:00:00+00:00")
    fields.update(changes)
    return RunRecord(**fields)


def test_every_attempt_is_kept_even_when_a_retry_fails_identically_within_the_same_second(tmp_path):
    store = ResultStore(tmp_path)
    first = _failure()
    path = store.write(first)
    assert read_record(path).attempt == 1 and read_record(path).run_id
    # The retry fails in the same way within the same second: the same content, but another run of the job.
    retry = _failure()
    assert retry.model_dump(exclude={"checksum"}) == first.model_dump(exclude={"checksum"})
    assert store.write(retry) == path
    [aside] = sorted((store.records_dir / "_attempts").glob("*.json"))
    assert read_record(aside).attempt == 1 and read_record(path).attempt == 2
    assert read_record(aside).run_id != read_record(path).run_id
    # A third run's record, written twice (by its worker, then by the driver), is one attempt, not two.
    sealed = retry.sealed()
    store.write(sealed)
    store.write(sealed)
    assert len(list((store.records_dir / "_attempts").glob("*.json"))) == 2
    assert read_record(path).attempt == 3 and read_record(path).run_id == sealed.run_id
    # A finished record ends the history and is never replaced.
    ok = _failure(status="ok", error=None)
    store.write(ok)
    with pytest.raises(FileExistsError):
        store.write(_failure(status="ok", error=None))
    assert read_record(path).status == "ok" and read_record(path).attempt == 4
    assert store.verify().attempts == 3 and not store.verify().damaged


def test_records_written_before_run_ids_and_attempts_still_load_and_verify(tmp_path):
    """Records of schema version 1 (no run_id, no attempt; tests/fixtures/legacy-records, kept from the CI reference
    as gbench first wrote it) are intact and read as attempt 1."""
    import shutil

    shutil.copytree(REPO / "tests" / "fixtures" / "legacy-records", tmp_path / "records")
    records, problems = ResultStore(tmp_path).load()
    raw = json.loads(next((tmp_path / "records").rglob("*.json")).read_text())
    assert "run_id" not in raw and raw["schema_version"] == 1
    assert records and not problems
    assert all(r.attempt == 1 and r.run_id is None for r in records)
