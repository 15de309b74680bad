"""Live progress of running jobs (gbench.train.progress) and `gbench results running`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gbench.results import ResultStore
from gbench.train import progress
from gbench.train.loop import Evaluation, fit

FAST = ["--tasks", "sbm-node", "--models", "gcn", "--set", "train.epochs=30", "--threads", "1"]


def _fit(epochs: int = 12, patience: int = 3):
    vals = iter([0.1, 0.5, 0.4, 0.6, 0.55, 0.5, 0.45, 0.4, 0.3, 0.2, 0.1, 0.0])
    return fit(lambda epoch: 1.0, lambda: Evaluation({"val": {"acc": next(vals)}}), epochs=epochs, patience=patience,
               eval_every=1, monitor="val_metric", metric="acc", higher_is_better=True, device="cpu")


def test_the_training_loop_reports_where_it_is_to_the_jobs_progress_file(tmp_path):
    path = tmp_path / "progress" / "job.json"
    with progress.reporting(path, {"task": "t", "model": "m", "seed": 3, "job_id": "job"}, min_interval=0):
        result = _fit()
    body = json.loads(path.read_text())
    # the last report is the epoch patience stopped at, with the epoch kept so far and its validation value
    assert body["epoch"] == result.epochs_run == 7 and body["epochs"] == 12
    assert body["selected_epoch"] == result.selected_epoch == 4 and body["best_val"] == 0.6
    assert body["since_best"] == 3 and body["patience"] == 3
    assert (body["task"], body["model"], body["seed"], body["pid"]) == ("t", "m", 3, os.getpid())
    assert not [p for p in path.parent.iterdir() if p.name != "job.json"]  # no temp file left beside it


def test_reports_are_throttled_and_nothing_is_written_outside_a_job(tmp_path):
    path = tmp_path / "job.json"
    with progress.reporting(path, {"task": "t"}, min_interval=3600):
        _fit()
    assert json.loads(path.read_text())["epoch"] == 1  # the first report is written, the rest wait their turn
    with progress.reporting(path, {"task": "t"}, min_interval=3600):
        progress.report(phase="setup")
        _fit()
    body = json.loads(path.read_text())
    assert (body["phase"], body["epoch"]) == ("train", 1)  # a change of phase is written despite the throttle
    progress.report(epoch=99)  # outside `reporting`: a no-op, not an error
    with progress.reporting(None, {}):
        _fit()
    assert json.loads(path.read_text())["epoch"] == 1


def test_a_sweep_keeps_a_progress_file_while_the_job_runs_and_removes_it_with_the_record(cli, tmp_path, monkeypatch):
    out = tmp_path / "results"
    seen: dict[str, list[str]] = {}
    real_write = ResultStore.write

    def write(self, record):  # the driver writes the record, then removes the job's progress file
        seen[record.job_id] = sorted(p.name for p in (out / "progress").glob("*.json"))
        body = json.loads((out / "progress" / f"{record.job_id}.json").read_text())
        assert body["phase"] == "train" and body["epoch"] >= 1  # the change of phase is written at once
        return real_write(self, record)

    monkeypatch.setattr(ResultStore, "write", write)
    assert cli("run", *FAST, "--seeds", "2", "--out", out).code == 0
    assert set(seen) and all(names == [f"{job_id}.json"] for job_id, names in seen.items())
    assert list((out / "progress").iterdir()) == []
    listed = cli("results", "running", out)
    assert listed.code == 0 and "no job in flight" in listed.out


def test_results_running_says_how_far_a_killed_job_got_and_which_finished(cli, tmp_path):
    out = tmp_path / "results"
    assert cli("run", *FAST, "--seeds", "1", "--out", out).code == 0
    record = next((out / "records").rglob("*.json"))
    finished = json.loads(record.read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    common = {"host": __import__("socket").gethostname(), "epochs": 200, "patience": 30, "device": "cpu",
              "updated_at": "2026-12-04T17:00:00+00:00"}
    (out / "progress").mkdir(exist_ok=True)
    (out / "progress" / "aaaa.json").write_text(json.dumps({
        **common, "task": "sbm-node", "model": "gat", "seed": 4, "job_id": "aaaa", "pid": int(dead.stdout),
        "epoch": 17, "selected_epoch": 12, "best_val": 0.8125, "since_best": 5, "train_s": 30.0, "eval_s": 4.0}))
    (out / "progress" / f"{finished['job_id']}.json").write_text(json.dumps({
        **common, "task": finished["task"], "model": finished["model"], "seed": finished["seed"],
        "job_id": finished["job_id"], "pid": os.getpid(), "epoch": 3, "train_s": 1.0, "eval_s": 0.5}))
    (out / "progress" / "bbbb.json").write_text(json.dumps({
        **common, "task": "sbm-node", "model": "gin", "seed": 0, "job_id": "bbbb", "pid": os.getpid(),
        "phase": "setup", "started_at": "2026-12-04T16:59:00+00:00"}))
    listed = cli("results", "running", out)
    assert listed.code == 0, listed
    assert "sbm-node / gin / seed 0: setting up (data, transforms, model) since 2026-12-04T16:59:00" in listed.out
    assert f"running (pid {os.getpid()})" in listed.out
    lines = {line.split(":")[0]: line for line in listed.out.splitlines()}
    killed = lines["sbm-node / gat / seed 4"]
    assert "epoch 17 of 200" in killed and "kept 12 (val 0.8125)" in killed and "patience 5/30" in killed
    assert "2.00 s/epoch" in killed and "gone (stopped here)" in killed
    assert "finished (record written)" in lines[f"{finished['task']} / {finished['model']} / seed {finished['seed']}"]
    missing = cli("results", "running", tmp_path / "nowhere")
    assert missing.code == 2 and "no such folder" in missing.err
