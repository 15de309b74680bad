"""The scope of a job: one outer fold of a k-fold task (`Job.fold`), a validation-only tuning trial
(`Job.selection`) and a tuned final run's metadata (`Job.tuning`).

Jobs run through `gbench.jobs.run_job`, the one path every executor takes. The leak test runs a selection job twice,
the second time on data whose test labels are permuted (the runner's data loader is wrapped), and asserts that the
two records are identical in everything a tuning engine selects on; the same permutation without `selection`
changes the test metric, so the test would notice a trial that read the test labels.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gbench import specs
from gbench.data.staging import DataContext
from gbench.jobs import Job, RunOptions, run_job

def _opts(data_root=None) -> RunOptions:
    return RunOptions(device="cpu", deterministic="strict", data=DataContext.from_env(data_root=data_root), threads=1)


def _job(task_id: str, model: str, seed: int = 0, train: dict | None = None, **scope) -> Job:
    task = specs.load_task(task_id)
    cli = {"hparams": {}, "optim": {}, "train": train or {"epochs": 5}}
    return Job(task, specs.resolve_model(specs.load_model(model, task.level), task, cli), seed, **scope)


def _permuted(y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """`y` with its rows at `idx` permuted among themselves (a fixed permutation that moves every row)."""
    y = y.clone()
    order = torch.roll(torch.arange(idx.numel()), 1)
    y[idx] = y[idx][order]
    return y


def _permute_node_test_labels(monkeypatch, seed: int) -> None:
    import gbench.train.node as node

    load = node.load_task_data

    def loader(task, ctx):
        td = load(task, ctx)
        _, split = td.split_for_seed(seed)
        data = td.data.clone()
        data.y = _permuted(data.y, split.test)
        return dataclasses.replace(td, data=data)

    monkeypatch.setattr(node, "load_task_data", loader)


def _permute_graph_test_labels(monkeypatch, seed: int, fold: int) -> None:
    import gbench.train.graph as graph

    load = graph.load_task_data

    def loader(task, ctx):
        td = load(task, ctx)
        test = dict(td.splits_for_seed(seed))[fold]["test"]
        return dataclasses.replace(td, y=_permuted(td.y, test))

    monkeypatch.setattr(graph, "load_task_data", loader)


def _selected(record) -> tuple:
    return record.metrics, record.val_loss, record.selected_epoch, record.epochs_run


def test_job_ids_of_plain_jobs_do_not_change_and_each_scope_is_a_new_job():
    from gbench.hashing import stable_hash

    plain = _job("sbm-node", "gcn")
    # The id of a job without a scope is the hash of exactly (task, model, seed), as before jobs had a scope.
    assert plain.job_id == stable_hash({"task": plain.task.identity(), "model": plain.model.identity(),
                                        "seed": 0})[:16]
    assert Job(plain.task, plain.model, 0, fold=None, selection=False, tuning=None).job_id == plain.job_id
    scoped = [dataclasses.replace(plain, **kw) for kw in
              ({"fold": 0}, {"fold": 1}, {"selection": True}, {"selection": True, "fold": 0},
               {"tuning": {"sampler": "tpe", "budget": 16}}, {"tuning": {"sampler": "tpe", "budget": 8}})]
    ids = [plain.job_id] + [j.job_id for j in scoped]
    assert len(set(ids)) == len(ids)
    assert "fold 1" in scoped[1].label and "selection" in scoped[2].label and "fold" not in plain.label


def test_node_selection_job_scores_validation_only_and_never_sees_test_labels(monkeypatch):
    job = _job("sbm-node", "gcn", seed=1, train={"epochs": 15}, selection=True)
    first = run_job(job, _opts())
    assert first.status == "ok", first.error
    assert set(first.metrics) == {"val"} and first.selection and first.fold is None and first.tuning is None
    with pytest.MonkeyPatch.context() as patch:  # not `monkeypatch.undo()`: that would undo conftest's env too
        _permute_node_test_labels(patch, seed=1)
        second = run_job(job, _opts())
    assert _selected(second) == _selected(first)

    # Teeth: the same permutation changes the test metric of a job that is not a trial.
    full = dataclasses.replace(job, selection=False)
    plain = run_job(full, _opts())
    _permute_node_test_labels(monkeypatch, seed=1)
    permuted = run_job(full, _opts())
    assert set(plain.metrics) == {"train", "val", "test"}
    assert plain.metrics["val"] == permuted.metrics["val"] == first.metrics["val"]
    assert plain.metrics["test"] != permuted.metrics["test"]


def test_node_minibatch_selection_job_scores_validation_only(monkeypatch):
    import torch_geometric.typing as pyg_typing

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        from test_train_settings import WholeGraphLoader

        monkeypatch.setattr("torch_geometric.loader.NeighborLoader", WholeGraphLoader)
        monkeypatch.setattr("gbench.train.node._require_neighbor_sampler", lambda task_id: None)
    job = _job("sbm-node", "gcn", train={"epochs": 3, "batch_size": 256}, selection=True)
    task = job.task.model_copy(update={"protocol": job.task.protocol.model_copy(
        update={"params": {"sampler": {"num_neighbors": [5, 5]}}})})
    record = run_job(dataclasses.replace(job, task=task), _opts())
    assert record.status == "ok", record.error
    assert set(record.metrics) == {"val"} and record.extra.get("sampler")


def test_graph_selection_job_on_one_fold_never_sees_test_labels(monkeypatch, shared_data):
    job = _job("mutag", "gin", train={"epochs": 25}, fold=0, selection=True)
    first = run_job(job, _opts(shared_data))
    assert first.status == "ok", first.error
    assert set(first.metrics) == {"val"} and first.split_index == 0 and first.fold == 0
    with pytest.MonkeyPatch.context() as patch:
        _permute_graph_test_labels(patch, seed=0, fold=0)
        second = run_job(job, _opts(shared_data))
    assert _selected(second) == _selected(first)

    full = dataclasses.replace(job, selection=False)
    plain = run_job(full, _opts(shared_data))
    _permute_graph_test_labels(monkeypatch, seed=0, fold=0)
    permuted = run_job(full, _opts(shared_data))
    assert set(plain.metrics) == {"val", "test"}
    assert plain.metrics["val"] == permuted.metrics["val"] == first.metrics["val"]
    assert plain.metrics["test"] != permuted.metrics["test"]


def test_graph_selection_job_on_a_generated_task_scores_validation_only():
    record = run_job(_job("colour-motifs", "gin", train={"epochs": 2}, selection=True), _opts())
    assert record.status == "ok", record.error
    assert set(record.metrics) == {"val"}


def test_link_selection_job_scores_validation_only():
    for model in ("gcn", "common-neighbours"):  # gradient-trained and fit/predict
        record = run_job(_job("sbm-link", model, train={"epochs": 2}, selection=True), _opts())
        assert record.status == "ok", record.error
        assert set(record.metrics) == {"val"}, model
        plain = run_job(_job("sbm-link", model, train={"epochs": 2}), _opts())
        assert plain.metrics["val"] == record.metrics["val"] and "test" in plain.metrics


def test_one_fold_job_is_that_fold_of_the_whole_protocol(shared_data):
    whole = run_job(_job("mutag", "gin", train={"epochs": 2}), _opts(shared_data))
    one = run_job(_job("mutag", "gin", train={"epochs": 2}, fold=3), _opts(shared_data))
    assert whole.status == one.status == "ok", (whole.error, one.error)
    assert whole.extra["num_folds"] == 10 and whole.split_index is None
    assert one.split_index == 3 and one.fold == 3 and "fold_metrics" not in one.extra
    assert one.epochs_run == whole.extra["fold_epochs_run"][3] == 2
    assert one.selected_epoch == whole.extra["fold_selected_epochs"][3]
    assert one.metrics["test"]["accuracy"] == whole.extra["fold_metrics"]["test"][3]


def test_a_fold_the_task_does_not_have_is_refused(shared_data):
    out_of_range = run_job(_job("mutag", "gin", fold=10), _opts(shared_data))
    assert out_of_range.status == "failed" and "fold 10 is out of range" in out_of_range.error
    assert "folds 0 to 9" in out_of_range.error
    not_kfold = run_job(_job("colour-motifs", "gin", fold=0), _opts())
    assert not_kfold.status == "failed" and "is not a k-fold task" in not_kfold.error
    for task, model in (("sbm-node", "gcn"), ("sbm-link", "gcn")):
        record = run_job(_job(task, model, fold=0), _opts())
        assert record.status == "failed" and "one split per seed" in record.error, task


def test_tuning_metadata_is_recorded():
    tuning = {"sampler": "tpe", "budget": 16, "selected": {"hidden": 64}}
    record = run_job(_job("sbm-node", "mlp", train={"epochs": 2}, tuning=tuning), _opts())
    assert record.status == "ok", record.error
    assert record.tuning == tuning and not record.selection and "test" in record.metrics


def test_scoped_records_round_trip_and_records_without_the_fields_still_verify(tmp_path):
    from pathlib import Path

    from gbench.results import ResultStore, read_record

    tuning = {"sampler": "grid", "budget": 4}
    job = _job("sbm-node", "mlp", train={"epochs": 2}, selection=True, tuning=tuning)
    path = ResultStore(tmp_path / "out").write(run_job(job, _opts()))
    back = read_record(path)
    assert (back.selection, back.tuning, back.fold, back.job_id) == (True, tuning, None, job.job_id)
    reference = Path(__file__).resolve().parent / "fixtures" / "legacy-records"  # written before these fields
    old = sorted(reference.rglob("*.json"))
    assert old and all("selection" not in p.read_text() for p in old)
    for p in old:
        record = read_record(p)  # raises DamagedRecord on a checksum mismatch
        assert (record.fold, record.selection, record.tuning) == (None, False, None)


def test_a_record_names_the_checkout_its_process_started_with(monkeypatch):
    """A commit made while a job trains (a long sweep beside ongoing work) must not be the one its record names."""
    import gbench.jobs as jobs
    from gbench import repro
    from gbench.errors import GbenchError

    checkout = {"commit": "started-with"}
    monkeypatch.setattr(repro, "git_commit", lambda: checkout["commit"])

    def runner(job, opts):
        checkout["commit"] = "committed-during-the-job"
        raise GbenchError("stopped on purpose after the commit moved")

    monkeypatch.setattr(jobs, "_runner", lambda level: runner)
    repro.environment.cache_clear()
    try:
        record = run_job(_job("sbm-node", "mlp"), _opts())
    finally:
        repro.environment.cache_clear()  # later tests read the real checkout
    assert record.status == "failed" and "on purpose" in record.error
    assert record.environment["git_commit"] == "started-with"
