"""Executors: the same sweep through this process, local worker processes, Ray and Slurm (submitit's local
executor) gives the same records; failures end only their job; claims; determinism tiers; cost in every record."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from gbench.results import ResultStore, read_record

REPO = Path(__file__).resolve().parents[1]


def tiny_task(folder: Path, nodes: int = 300, task_id: str = "tiny-sbm") -> Path:
    """The catalog's generated SBM task, made small: a job takes well under a second."""
    spec = yaml.safe_load((REPO / "tasks" / "node" / "sbm-node.yaml").read_text())
    spec["id"] = task_id
    spec["dataset"]["params"]["num_nodes"] = nodes
    path = folder / f"{task_id}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def records(out: Path):
    return sorted((read_record(p) for p in ResultStore(out).record_paths()), key=lambda r: r.job_id)


def results_of(recs):
    """What must not depend on the executor (timings, pids and hosts may)."""
    return [(r.job_id, r.model, r.seed, r.status, r.metrics, r.val_loss, r.selected_epoch, r.epochs_run,
             r.num_params, r.split_index) for r in recs]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_temp_dir() -> Path:
    """Ray's temp folder holds its Unix sockets, whose paths must stay under ~107 characters."""
    return Path(tempfile.mkdtemp(prefix="gbray", dir="/tmp"))


@pytest.fixture
def ray_head():
    """A Ray head started by hand (`ray start --head`) on loopback, with token authentication, stopped by its PID
    (and its process group) afterwards."""
    pytest.importorskip("ray")
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    if not Path(ray_bin).exists():
        pytest.skip("the `ray` command is not installed beside this Python")
    tmp, port, token = short_temp_dir(), free_port(), secrets.token_hex(16)
    env = {**os.environ, "RAY_TMPDIR": str(tmp), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    log = open(tmp / "head.log", "w")
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                             "--disable-usage-stats"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while "block forever" not in (tmp / "head.log").read_text():
            if proc.poll() is not None or time.time() > deadline:
                pytest.skip(f"ray start --head did not come up here: {(tmp / 'head.log').read_text()[-500:]}")
            time.sleep(0.5)
        yield SimpleNamespace(address=f"127.0.0.1:{port}", token=token, tmp=tmp)
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything of that head still alive
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def task(tmp_path) -> Path:
    return tiny_task(tmp_path)


def sweep(task: Path, out: Path, *extra: str, models: str = "gcn,mlp", seeds: str = "2") -> list[str]:
    return ["run", "--tasks", str(task), "--models", models, "--seeds", seeds, "--set", "train.epochs=8",
            "--threads", "1", "--device", "cpu", "--out", str(out), *extra]


def test_local_pool_and_ray_give_the_records_of_the_in_process_run(cli, task, tmp_path, monkeypatch):
    inproc = cli(*sweep(task, tmp_path / "inproc", models="gcn"))
    assert inproc.code == 0, inproc
    pool = cli(*sweep(task, tmp_path / "pool", "--workers", "2", models="gcn"))
    assert pool.code == 0, pool
    assert "executor local, 2 at once" in pool.out

    # gbench starts Ray here itself, with the file of a head that died without `ray stop` in Ray's temp folder:
    # a fresh local instance all the same, not an attempt to reach the dead one.
    pytest.importorskip("ray")
    ray_tmp = short_temp_dir()
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a local instance would otherwise write ~/.ray/auth_token
    try:
        on_ray = cli(*sweep(task, tmp_path / "ray", "--executor", "ray", models="gcn"))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert on_ray.code == 0, on_ray

    base = records(tmp_path / "inproc")
    assert len(base) == 2 and all(r.status == "ok" for r in base)
    for name in ("pool", "ray"):
        recs = records(tmp_path / name)
        assert results_of(recs) == results_of(base), name  # exact float equality of every metric
    assert {r.worker["executor"] for r in base} == {"in-process"}
    assert {r.worker["executor"] for r in records(tmp_path / "pool")} == {"local:2"}
    assert {r.worker["executor"] for r in records(tmp_path / "ray")} == {"ray"}
    pool_pids = {r.worker["pid"] for r in records(tmp_path / "pool")}
    assert os.getpid() not in pool_pids  # the jobs really ran in worker processes

    # Cost in every record, and in the leaderboard.
    gcn = next(r for r in records(tmp_path / "pool") if r.model == "gcn")
    c = gcn.cost
    assert c.setup_s > 0 and c.train_s > 0 and c.eval_s > 0 and c.s_per_epoch == pytest.approx(c.train_s / 8)
    assert c.peak_memory_kind == "rss_hwm_job" and c.peak_memory_mb >= c.baseline_memory_mb > 0
    assert gcn.num_params > 0 and gcn.determinism["torch_num_threads"] == 1
    board = pd.read_csv(tmp_path / "pool" / "leaderboard.csv")
    for column in ("setup_s", "train_s", "eval_s", "s_per_epoch", "peak_memory_mb", "peak_memory_kind",
                   "num_params"):
        assert column in board.columns and board[column].notna().all(), column


def test_an_external_ray_head_with_token_auth_gives_the_records_of_the_in_process_run(cli, ray_head, task, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    env.update(RAY_TMPDIR=str(ray_head.tmp), RAY_AUTH_TOKEN=ray_head.token, COLUMNS="200")
    out = tmp_path / "ray"
    args = [sys.executable, "-m", "gbench", *sweep(task, out, "--executor", "ray", "--address", ray_head.address,
                                                   models="mlp")]
    refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert refused.returncode == 2, refused.stderr[-3000:]
    said = " ".join(refused.stderr.split())
    assert "cannot connect to a Ray cluster there" in said and "RAY_AUTH_MODE=token" in said
    assert "Traceback" not in refused.stderr + refused.stdout and not ResultStore(out).record_paths()

    ran = subprocess.run(args, env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True, timeout=300,
                         cwd=REPO)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert cli(*sweep(task, tmp_path / "inproc", models="mlp")).code == 0
    on_head = records(out)
    assert len(on_head) == 2 and results_of(on_head) == results_of(records(tmp_path / "inproc"))
    assert {r.worker["executor"] for r in on_head} == {"ray"}


def test_slurm_executor_through_submitit_runs_the_same_jobs(cli, task, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("GBENCH_SUBMITIT_CLUSTER", "local")
    args = sweep(task, tmp_path / "slurm", "--executor", "slurm", "--workers", "2", "--time", "0:10:00",
                 "--partition", "gpu", models="gcn", seeds="1")
    result = cli(*args)
    assert result.code == 0, result
    assert cli(*sweep(task, tmp_path / "inproc", models="gcn", seeds="1")).code == 0
    on_slurm = records(tmp_path / "slurm")
    assert results_of(on_slurm) == results_of(records(tmp_path / "inproc"))
    assert {r.worker["executor"] for r in on_slurm} == {"slurm:local"}
    assert list((tmp_path / "slurm" / "slurm").iterdir())  # submitit's scripts and logs live beside the records


def test_slurm_time_limits_and_bad_executor_options_are_refused_clearly(cli, task, tmp_path):
    from gbench.executors.slurm import parse_time

    assert [parse_time(t) for t in ("90", "2:00:00", "1-00:00:00", "45:30")] == [90, 120, 1440, 46]
    bad = cli(*sweep(task, tmp_path, "--executor", "dask"))
    assert bad.code == 2 and "--executor 'dask' is not one of local, ray, slurm" in bad.err
    mixed = cli(*sweep(task, tmp_path, "--partition", "gpu"))
    assert mixed.code == 2 and "not local" in mixed.err
    time_ = cli(*sweep(task, tmp_path, "--executor", "slurm", "--time", "soon"))
    assert time_.code == 2 and "--time 'soon'" in time_.err
    if not any((Path(d) / "srun").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        no_slurm = cli(*sweep(task, tmp_path, "--executor", "slurm"))
        assert no_slurm.code == 2 and "Slurm is not available here" in no_slurm.err


BROKEN = '''
import os, signal
import torch


class Base(torch.nn.Module):
    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)

    def forward(self, data):
        return self.lin(data.x) * self.scale()

    def scale(self):
        return 1.0


class Raises(Base):
    def scale(self):
        raise RuntimeError("boom in forward")


class NaN(Base):
    def scale(self):
        return float("nan")


class CudaOOM(Base):
    def scale(self):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


class HostOOM(Base):
    def scale(self):
        raise MemoryError()


class Killed(Base):
    def scale(self):
        os.kill(os.getpid(), signal.SIGKILL)


def raises(info):
    return Raises(info)

def nan(info):
    return NaN(info)

def cuda_oom(info):
    return CudaOOM(info)

def host_oom(info):
    return HostOOM(info)

def killed(info):
    return Killed(info)
'''

EXPECTED = {"mlp": "ok", "broken.raises": "failed", "broken.nan": "diverged", "broken.cuda_oom": "oom",
            "broken.host_oom": "oom", "broken.killed": "failed"}


def test_every_failure_ends_only_its_job_in_worker_processes(cli, task, tmp_path):
    src = tmp_path / "broken.py"
    src.write_text(BROKEN)
    out = tmp_path / "out"
    models = [a for name in ("raises", "nan", "cuda_oom", "host_oom", "killed") for a in ("--model", f"{src}:{name}")]
    result = cli(*sweep(task, out, "--workers", "2", *models, models="mlp", seeds="1"))
    assert result.code == 1, result
    by_model = {r.model: r for r in records(out)}
    assert {m: r.status for m, r in by_model.items()} == EXPECTED
    assert "boom in forward" in by_model["broken.raises"].error
    assert "worker process" in by_model["broken.killed"].error and "SIGKILL" in by_model["broken.killed"].error
    assert "ran 6, already done 0, failed 5" in result.out  # diverged is a result, and still listed
    for model, status in EXPECTED.items():  # the end summary lists every failure
        if status != "ok":
            assert f"{status} tiny-sbm / {model} / seed 0" in result.err
    assert by_model["mlp"].metrics["test"]["acc"] > 0


def test_oom_in_this_process_is_recorded_and_the_sweep_goes_on(cli, task, tmp_path):
    src = tmp_path / "broken.py"
    src.write_text(BROKEN)
    result = cli(*sweep(task, tmp_path, "--model", f"{src}:cuda_oom", "--model", f"{src}:host_oom", models="mlp",
                       seeds="1"))
    assert result.code == 1
    assert {r.model: r.status for r in records(tmp_path)} == {"mlp": "ok", "broken.cuda_oom": "oom",
                                                              "broken.host_oom": "oom"}


def test_claims_exclude_each_other_and_dead_holders_free_theirs(tmp_path):
    from gbench.claims import ClaimBook

    folder = tmp_path / "claims"
    a, b = ClaimBook(folder), ClaimBook(folder)
    assert a.try_claim("job1") and not b.try_claim("job1")
    assert b.holder("job1")["pid"] == os.getpid()
    a.release("job1")
    assert b.holder("job1") is None and b.try_claim("job1")
    b.release_all()
    # A claim file left by a process that died (its lock died with it) is taken over.
    folder.mkdir(exist_ok=True)
    (folder / "job2.claim").write_text('{"host": "elsewhere", "pid": 999999}')
    assert a.holder("job2") is None and a.try_claim("job2")
    a.release_all()
    assert not folder.exists()  # nothing left behind


def test_a_job_claimed_by_another_sweep_is_waited_for_then_taken_over(task, tmp_path):
    from gbench.data.staging import DataContext
    from gbench.claims import ClaimBook
    from gbench.execute import run_sweep
    from gbench.job import RunOptions
    from gbench.specs import load_task, parse_assignments
    from gbench.sweep import plan_sweep

    plan = plan_sweep([load_task(str(task))], ["mlp"], [], [0, 1, 2],
                      parse_assignments(["train.epochs=3"]))
    store = ResultStore(tmp_path / "out")
    other = ClaimBook(store.claims_dir)  # stands for another live `gbench run`
    held = plan.jobs[1]
    assert other.try_claim(held.job_id)
    waits: list[int] = []

    def on_wait(n, holder):
        waits.append(n)
        assert holder["pid"] == os.getpid()
        other.release(held.job_id)  # ... which now dies without a record

    opts = RunOptions(device="cpu", deterministic="strict", data=DataContext.from_env(), threads=1)
    summary = run_sweep(plan.jobs, opts, store, on_wait=on_wait, poll_s=0.05)
    assert waits == [1] and summary.ran == 3 and not summary.failures
    assert len(store.record_paths()) == 3


NONDETERMINISTIC = '''
import os
import torch
from torch._prims_common import alert_not_deterministic


class Noisy(torch.nn.Module):
    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)
        with torch.no_grad():  # seeded by nothing gbench controls
            self.lin.weight.add_(torch.tensor(int.from_bytes(os.urandom(2), "little") / 65536.0))

    def forward(self, data):
        return self.lin(data.x)


class Flagged(torch.nn.Module):
    """Stands for a CUDA scatter kernel with no deterministic version: torch's own alert, on CPU."""

    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)

    def forward(self, data):
        alert_not_deterministic("scatter_add_cuda_kernel")
        return self.lin(data.x)


def noisy(info):
    return Noisy(info)

def flagged(info):
    return Flagged(info)
'''


def test_verify_reports_identical_runs_and_differences(cli, task, tmp_path):
    same = cli("verify", str(task), "gcn", "--seed", "1", "--set", "train.epochs=5", "--device", "cpu")
    assert same.code == 0, same
    assert "determinism strict" in same.out and "identical: 2 runs" in same.out
    src = tmp_path / "nd.py"
    src.write_text(NONDETERMINISTIC)
    differ = cli("verify", str(task), f"{src}:noisy", "--set", "train.epochs=5", "--device", "cpu")
    assert differ.code == 1, differ
    assert "differs" in differ.err and ("val_loss" in differ.err or "acc" in differ.err)
    assert "not reproducible" in differ.err


def test_determinism_tiers_strict_fails_warn_records_off_allows(cli, task, tmp_path):
    src = tmp_path / "nd.py"
    src.write_text(NONDETERMINISTIC)
    args = sweep(task, tmp_path / "strict", "--model", f"{src}:flagged", models="mlp", seeds="1")
    strict = cli(*args)
    assert strict.code == 1
    rec = next(r for r in records(tmp_path / "strict") if r.model == "nd.flagged")
    assert rec.status == "failed" and "--deterministic warn" in rec.error and rec.determinism["mode"] == "strict"
    warn = cli(*sweep(task, tmp_path / "warn", "--model", f"{src}:flagged", "--deterministic", "warn", models="mlp",
                      seeds="1"))
    assert warn.code == 0, warn
    rec = next(r for r in records(tmp_path / "warn") if r.model == "nd.flagged")
    assert rec.status == "ok" and rec.determinism["nondeterministic_ops"] == ["scatter_add_cuda_kernel"]
    assert rec.determinism["warn_only"] is True
    off = cli(*sweep(task, tmp_path / "off", "--model", f"{src}:flagged", "--deterministic", "off", models="mlp",
                     seeds="1"))
    assert off.code == 0
    rec = next(r for r in records(tmp_path / "off") if r.model == "nd.flagged")
    assert rec.determinism["use_deterministic_algorithms"] is False and "nondeterministic_ops" not in rec.determinism


def test_fused_attention_backward_is_listed_in_every_job_of_a_process():
    """On CUDA under warn mode, torch says "Memory Efficient attention defaults to a non-deterministic algorithm"
    (the SDPA backward of GPS and the Graph Transformer), once per process: seen on an H200, 2026-12-04, where the
    GPS record listed nothing. Each job's log must name it, with torch's warn-always flag on while the job runs and
    restored after; any other warning is passed on once however often it was raised."""
    import warnings

    import torch

    from gbench.repro import NondeterminismLog

    text = ("Memory Efficient attention defaults to a non-deterministic algorithm. To explicitly enable determinism "
            "call torch.use_deterministic_algorithms(True, warn_only=False).")
    before = torch.is_warn_always_enabled()
    for _ in range(2):  # two jobs in one worker process
        with warnings.catch_warnings(record=True) as passed_on:
            warnings.simplefilter("always")
            with NondeterminismLog(warn_always=True) as log:
                assert torch.is_warn_always_enabled()
                warnings.warn(text, UserWarning)
                for _ in range(3):
                    warnings.warn("something else", UserWarning)
        assert log.ops == ["Memory Efficient attention"]
        assert [str(w.message) for w in passed_on] == ["something else"]
        assert torch.is_warn_always_enabled() == before


def test_in_process_peak_memory_is_per_job(cli, task, tmp_path):
    """A job that allocates ~100 MB, then a small one in the same process: the small one's peak must not carry the
    big one's (ru_maxrss would)."""
    src = tmp_path / "big.py"
    src.write_text('''
import torch

class Big(torch.nn.Module):
    def __init__(self, info):
        super().__init__()
        self.lin = torch.nn.Linear(info.num_features, info.out_dim)

    def forward(self, data):
        ballast = torch.ones(25_000_000)  # 100 MB, touched
        return self.lin(data.x) + ballast[:1] * 0

def big(info):
    return Big(info)
''')
    assert cli(*sweep(task, tmp_path / "o", "--model", f"{src}:big", models="", seeds="1")).code == 0
    assert cli(*sweep(task, tmp_path / "o", models="mlp", seeds="1")).code == 0
    by_model = {r.model: r for r in records(tmp_path / "o")}
    big, small = by_model["big.big"].cost, by_model["mlp"].cost
    assert big.peak_memory_mb - big.baseline_memory_mb > 80
    assert small.peak_memory_mb - small.baseline_memory_mb < 40


def test_local_slots_take_the_visible_gpus_in_turn(monkeypatch):
    from gbench.executors.local import gpu_slots

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert gpu_slots("cuda:0", 1) == ["4"] and gpu_slots("cuda:1", 2) == ["5", "5"]
    assert gpu_slots("cuda", 3) == ["4", "5", "4"]
    assert gpu_slots("cpu", 2) == [None, None]


def test_a_suite_with_workers_auto_runs_one_single_threaded_worker_per_core_unless_told(tmp_path, monkeypatch):
    """The default suite's 47 small jobs run one per core on CPU (`workers: auto`); --workers, --threads, named
    tasks and other suites keep their meaning, and a sweep is never given more workers than jobs."""
    import gbench.executors
    from gbench.specs import load_suite
    from gbench.sweep import prepare

    monkeypatch.setattr(gbench.executors, "usable_cores", lambda: 4)
    monkeypatch.setattr(gbench.executors, "machine_memory_gib", lambda: 64.0)
    assert load_suite("default").workers == "auto"

    def plan(**kw):
        sweep = prepare(out=tmp_path / "r", device="cpu", **kw)
        return sweep.executor.slots, sweep.opts.threads

    assert plan() == (4, 1)
    assert plan(workers=1) == (1, None)  # in this process, torch's own threads
    assert plan(threads=2) == (4, 2)
    assert plan(seeds=[0], models="gin-lappe") == (4, 1)  # the suite's 4 structural tasks: 4 jobs
    assert plan(seeds=[0], models="label-propagation") == (1, None)  # one job: one worker with every thread
    assert plan(tasks="sbm-node", models="gcn", seeds="3") == (1, None)  # no suite named: one worker as ever
    monkeypatch.setattr(gbench.executors, "machine_memory_gib", lambda: 5.0)
    assert plan() == (2, 1)  # 2 GiB a worker: 2 on a 5 GiB machine with 4 cores
    suite = tmp_path / "mine.yaml"
    suite.write_text(yaml.safe_dump({"id": "mine", "tasks": ["sbm-node"], "models": ["gcn", "mlp"], "seeds": 2}))
    assert plan(suite=str(suite)) == (1, None)
    suite.write_text(yaml.safe_dump({"id": "mine", "tasks": ["sbm-node"], "models": ["gcn"], "workers": 3}))
    with pytest.raises(Exception, match="workers"):
        load_suite(str(suite))


def test_a_record_written_by_its_worker_survives_the_driver_and_is_not_run_again(task, tmp_path):
    """Slurm workers write their own record (the driver on a login node may be gone by the time a job ends)."""
    from gbench.data.staging import DataContext
    from gbench.execute import run_sweep
    from gbench.executors.worker import execute
    from gbench.job import RunOptions
    from gbench.specs import load_task, parse_assignments
    from gbench.sweep import plan_sweep

    job = plan_sweep([load_task(str(task))], ["mlp"], [], [0], parse_assignments(["train.epochs=3"])).jobs[0]
    opts = RunOptions(device="cpu", deterministic="strict", data=DataContext.from_env(), threads=1)
    store = ResultStore(tmp_path / "out")
    record = execute(job, opts, None, str(store.root))  # the driver died before receiving this
    [path] = store.record_paths()
    before = path.read_bytes()
    assert store.write(record) == path and path.read_bytes() == before  # the driver's write: a no-op
    assert not (store.records_dir / "_attempts").exists()
    summary = run_sweep([job], opts, store)  # the restarted sweep
    assert summary.skipped_done == 1 and summary.ran == 0
