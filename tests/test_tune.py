"""`gbench tune`: equal budgets, selection on validation only, replay after a kill, the same selection whatever the
executor, grid exhaustion, up-front refusals, and `compare` refusing unequal tuning under the gate.

The tunes here are tiny (a generated 2000-node SBM task, 3 epochs per trial) so the whole file runs in about a
minute; what they check does not depend on the size.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

SPACE_MODEL = {
    "name": "gcn-space", "level": "node", "implementation": "gbench.models.node:gcn",
    "hparams": {"hidden": 16, "layers": 2, "dropout": 0.5, "input_dropout": 0.5},
    "search": {"space": {"hidden": [8, 16], "dropout": [0.0, 0.5]}, "width": "hidden",
               "source": "test space"},
}
FAST = ["--set", "train.epochs=3", "--threads", "1", "--device", "cpu"]


def _spec(tmp_path: Path, **changes) -> Path:
    body = json.loads(json.dumps(SPACE_MODEL))
    for key, value in changes.items():
        body[key] = value
    path = tmp_path / f"{body['name']}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _trials(out: Path) -> list[dict[str, str]]:
    with open(out / "tune" / "trials.csv") as f:
        return list(csv.DictReader(f))


def _records(out: Path):
    from gbench.results import ResultStore

    records, problems = ResultStore(out).load()
    assert not problems
    return records


def _selection_view(out: Path) -> list[tuple]:
    """What a tune's selection rests on: each trial's configuration, validation value and record."""
    by_job = {r.job_id: r for r in _records(out) if r.selection}
    rows = []
    for t in _trials(out):
        rec = by_job[t["job_id"]]
        rows.append((t["task"], t["model"], t["fold"], t["trial"], t["config"], t["val"], t["job_id"],
                     json.dumps(rec.metrics, sort_keys=True), rec.selected_epoch, rec.epochs_run))
    return rows


def test_grid_is_exhausted_at_its_size_and_trials_see_no_test_split(cli, tmp_path):
    spec = _spec(tmp_path)
    out = tmp_path / "out"
    r = cli("tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "grid", "--budget", "10",
            "--seeds", "2", "--out", str(out), *FAST)
    assert r.code == 0, r
    trials = _trials(out)
    assert len(trials) == 4  # the grid's size, not the budget of 10
    assert len({t["config"] for t in trials}) == 4
    records = _records(out)
    trial_records = [r for r in records if r.selection]
    finals = [r for r in records if not r.selection]
    assert len(trial_records) == 4 and all(set(r.metrics) == {"val"} for r in trial_records)
    assert len(finals) == 2 and all("test" in r.metrics for r in finals)
    assert {r.seed for r in finals} == {0, 1}
    best = max(trials, key=lambda t: (float(t["val"]), -int(t["trial"])))
    assert all(r.tuning["selected"] == dict(yaml.safe_load("{" + best["config"].replace("=", ": ") + "}"))
               for r in finals)
    board = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert len(board) == 1  # the trials are never leaderboard rows
    row = board[0]
    assert row["model"] == "gcn-space" and row["tuned"] == "grid, budget 10" and row["search_size"] == "4"
    assert row["selected"] == best["config"] and row["n_seeds"] == "2"
    assert (out / "tune-best-so-far.png").stat().st_size > 0
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "tune" / "journal.log")))
    (name,) = optuna.get_all_study_names(storage)  # the study lives with the results
    study = optuna.load_study(study_name=name, storage=storage)
    assert len(study.trials) == 4 and all(t.user_attrs["job_id"] for t in study.trials)


def _permuting_test_labels(monkeypatch):
    """Permute the test labels of the split seed 0 runs on (the trials' and the final run's), nothing else: the
    test nodes of another random split are training nodes of this one."""
    import torch

    import gbench.train.node as node_runner

    real = node_runner.load_task_data

    def permuted(task, ctx):
        td = real(task, ctx)
        y = td.data.y.clone()
        _, split = td.split_for_seed(0)
        idx = split.test if split.test.dtype != torch.bool else split.test.nonzero().view(-1)
        y[idx] = y[idx[torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(1))]]
        td.data.y = y
        return td

    monkeypatch.setattr(node_runner, "load_task_data", permuted)


def test_selection_is_the_same_when_the_test_labels_are_permuted(cli, tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    args = ["tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "tpe", "--budget", "5",
            "--round-size", "2", "--seeds", "1", *FAST]
    plain, permuted = tmp_path / "plain", tmp_path / "permuted"
    assert cli(*args, "--out", str(plain)).code == 0
    _permuting_test_labels(monkeypatch)
    assert cli(*args, "--out", str(permuted)).code == 0
    assert _selection_view(plain) == _selection_view(permuted)
    final_plain = [r for r in _records(plain) if not r.selection]
    final_perm = [r for r in _records(permuted) if not r.selection]
    assert final_plain[0].tuning == final_perm[0].tuning
    # The permutation has teeth: the final run, which alone sees the test split, scores differently.
    assert final_plain[0].metrics["test"] != final_perm[0].metrics["test"]


def test_a_killed_tune_resumes_without_rerunning_a_finished_trial(cli, tmp_path, monkeypatch):
    import gbench.jobs as jobs_module
    from gbench.executors import local

    spec = _spec(tmp_path)
    args = ["tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "tpe", "--budget", "6",
            "--round-size", "2", "--seeds", "1", *FAST]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert cli(*args, "--out", str(whole)).code == 0

    real, ran = jobs_module.run_job, []

    def dies_at_the_fourth(job, opts):
        if len(ran) == 3:
            raise KeyboardInterrupt
        ran.append(job.job_id)
        return real(job, opts)

    monkeypatch.setattr(local, "run_job", dies_at_the_fourth)
    assert cli(*args, "--out", str(killed)).code == 130
    before = {r.job_id: r.run_id for r in _records(killed)}
    assert len(before) == 3
    monkeypatch.setattr(local, "run_job", lambda job, opts: (ran.append(job.job_id), real(job, opts))[1])
    ran.clear()
    assert cli(*args, "--out", str(killed)).code == 0
    assert not set(ran) & set(before)  # no finished trial ran again
    assert {r.job_id: r.run_id for r in _records(killed) if r.job_id in before} == before
    needed = {t["job_id"] for t in _trials(killed)} | {r.job_id for r in _records(killed) if not r.selection}
    assert sorted(ran) == sorted(needed - set(before))  # each job left ran once (a repeated configuration is one job)
    assert _selection_view(whole) == _selection_view(killed)  # a replayed study is the uninterrupted one


def test_two_local_workers_select_what_one_process_selects(cli, tmp_path):
    """16 trials in rounds of 4: the last round is asked after 12 told trials, past TPE's 10 random start-up
    trials, so its suggestions depend on how the trials were grouped. Were the rounds the executor's width (1 in
    process, 2 with two workers), the two tunes would ask different configurations from trial 11 on."""
    spec = _spec(tmp_path, search={"space": {"hidden": [8, 16, 32], "dropout": {"uniform": [0.0, 0.8]}},
                                   "width": "hidden"})
    args = ["tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "tpe", "--budget", "16",
            "--round-size", "4", "--seeds", "1", *FAST]
    one, two, other = tmp_path / "one", tmp_path / "two", tmp_path / "other"
    assert cli(*args, "--out", str(one)).code == 0
    assert cli(*args, "--workers", "2", "--out", str(two)).code == 0
    assert _selection_view(one) == _selection_view(two)
    # The comparison has teeth: grouping the same trials differently (rounds of 1) asks other configurations.
    assert cli(*args, "--round-size", "1", "--out", str(other)).code == 0
    assert [t["config"] for t in _trials(one)] != [t["config"] for t in _trials(other)]
    assert [r.tuning for r in _records(one) if not r.selection] == [r.tuning for r in _records(two)
                                                                    if not r.selection]


def test_ray_selects_what_one_process_selects(cli, tmp_path, monkeypatch):
    """The same tune with its trials on Ray (a fresh local instance gbench starts) selects the same configuration
    from the same trial records as in process."""
    import shutil
    import tempfile

    pytest.importorskip("ray")
    spec = _spec(tmp_path)
    args = ["tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "tpe", "--budget", "4",
            "--round-size", "2", "--seeds", "1", *FAST]
    one, ray = tmp_path / "one", tmp_path / "ray"
    assert cli(*args, "--out", str(one)).code == 0
    ray_tmp = Path(tempfile.mkdtemp(prefix="gbray", dir="/tmp"))  # Ray's socket paths must stay short
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a local instance would otherwise write ~/.ray/auth_token
    try:
        on_ray = cli(*args, "--executor", "ray", "--out", str(ray))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert on_ray.code == 0, on_ray
    assert {r.worker["executor"] for r in _records(ray)} == {"ray"}
    assert _selection_view(one) == _selection_view(ray)


@pytest.mark.parametrize("change, args, message", [
    ({"search": None}, [], "has no search space"),
    ({"search": {"space": {"hidden": {"int": [4, 32]}}, "width": "hidden"}}, ["--sampler", "grid"],
     "--sampler grid"),
    ({}, ["--set", "hidden=32"], "--set hidden"),
    ({"search": {"space": {"dropout": [0.0, 0.5]}}}, ["--param-budget", "5k"], "names no width"),
    ({"search": {"space": {"optim.lr": [0.01, -1.0]}}}, [], "search.space"),
    ({"search": {"space": {"optim.lrr": [0.01]}}}, [], "did you mean"),
    ({"search": {"space": {"hiden": [8, 16]}}}, [], "hiden"),
])
def test_what_would_fail_every_trial_is_refused_up_front(cli, tmp_path, change, args, message):
    spec = _spec(tmp_path, **change)
    out = tmp_path / "out"
    r = cli("tune", "--tasks", "sbm-node", "--model", str(spec), "--budget", "2", "--out", str(out), *FAST, *args)
    assert r.code == 2, r
    assert message in r.err
    assert not (out / "records").exists()


def test_param_budget_solves_the_width_of_every_trial(cli, tmp_path):
    spec = _spec(tmp_path, search={"space": {"dropout": [0.0, 0.5]}, "width": "hidden"})
    out = tmp_path / "out"
    r = cli("tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "grid", "--budget", "2",
            "--seeds", "1", "--param-budget", "2k", "--out", str(out), *FAST)
    assert r.code == 0, r
    records = _records(out)
    assert all(r.num_params <= 2000 for r in records)
    widths = {r.model_spec["hparams"]["hidden"] for r in records}
    assert len(widths) == 1 and widths != {16}
    final = next(r for r in records if not r.selection)
    assert final.tuning["param_budget"] == 2000
    assert "<= 2,000 params" in open(out / "leaderboard.csv").read()


def test_compare_refuses_tuned_against_untuned_under_the_gate(cli, tmp_path):
    spec = _spec(tmp_path)
    fixed, tuned = tmp_path / "fixed", tmp_path / "tuned"
    assert cli("run", "--tasks", "sbm-node", "--model", str(spec), "--seeds", "3", "--out", str(fixed),
               *FAST).code == 0
    assert cli("tune", "--tasks", "sbm-node", "--model", str(spec), "--sampler", "grid", "--budget", "4",
               "--seeds", "3", "--out", str(tuned), *FAST).code == 0
    warned = cli("compare", str(fixed), str(tuned))
    assert warned.code == 0 and "UNEQUAL TUNING" in warned.out and "not tuned" in warned.out
    refused = cli("compare", str(fixed), str(tuned), "--fail-on-regression")
    assert refused.code == 1 and "tuned unequally" in refused.err
    allowed = cli("compare", str(fixed), str(tuned), "--fail-on-regression", "--allow-unequal-tuning")
    assert allowed.code == 0, allowed
    assert "allowed by --allow-unequal-tuning" in allowed.out
    # Equal budgets on both sides compare without a word about tuning.
    same = cli("compare", str(tuned), str(tuned), "--fail-on-regression")
    assert same.code == 0 and "UNEQUAL" not in same.out


def test_kfold_task_tunes_per_outer_fold(cli, tmp_path, shared_data):
    task = yaml.safe_load(open(Path(__file__).resolve().parents[1] / "tasks" / "graph" / "mutag.yaml"))
    task["id"] = "mutag-3fold"
    task["split"]["params"] = {"folds": 3, "seed": 0, "val_fraction": 0.1}
    task["protocol"]["seeds"] = 2
    task_path = tmp_path / "mutag-3fold.yaml"
    task_path.write_text(yaml.safe_dump(task))
    spec = _spec(tmp_path, name="gin-space", level="graph", implementation="gbench.models.graph:gin",
                 hparams={"hidden": 16, "layers": 2, "dropout": 0.5},
                 search={"space": {"hidden": [8, 16]}, "width": "hidden"})
    out = tmp_path / "out"
    r = cli("tune", "--tasks", str(task_path), "--model", str(spec), "--sampler", "grid", "--budget", "2",
            "--data-root", str(shared_data), "--out", str(out), *FAST)
    assert r.code == 0, r
    trials = _trials(out)
    assert sorted({t["fold"] for t in trials}) == ["0", "1", "2"] and len(trials) == 6
    records = _records(out)
    assert all(r.fold is not None for r in records)
    finals = [r for r in records if not r.selection]
    assert sorted((r.fold, r.seed) for r in finals) == [(f, s) for f in range(3) for s in range(2)]
    row = next(csv.DictReader(open(out / "leaderboard.csv")))
    assert row["std_over"] == "folds" and row["n_seeds"] == "2" and "hidden=" in row["selected"]
