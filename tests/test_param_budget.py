"""Parameter budgets (`gbench.train.budget`): the count is the one a run records, and the solved width is the largest
whose count is within the budget."""

from __future__ import annotations

import pytest
import torch

from gbench import specs
from gbench.data.staging import DataContext
from gbench.errors import GbenchError
from gbench.jobs import Job, RunOptions, run_job
from gbench.train.budget import count_params, parse_budget, solve_width


def _resolved(task_id: str, model: str):
    task = specs.load_task(task_id)
    return task, specs.resolve_model(specs.load_model(model, task.level), task,
                                     {"hparams": {}, "optim": {}, "train": {"epochs": 1}})


def _with(model, **hparams):
    return model.model_copy(update={"hparams": {**model.hparams, **hparams}})


@pytest.mark.parametrize("budget", ["100k", "500k"])
def test_gcn_on_cora_lands_at_or_just_under_the_budget(shared_data, budget):
    ctx = DataContext.from_env(data_root=shared_data)
    task, model = _resolved("cora", "gcn")
    n = parse_budget(budget)
    width, count = solve_width(task, model, "hidden", n, ctx)
    assert count == count_params(task, _with(model, hidden=width), ctx) <= n
    assert count_params(task, _with(model, hidden=width + 1), ctx) > n
    # Two GCNConv layers, 1433 -> w -> 7, with biases.
    assert count == 1433 * width + width + width * 7 + 7


def test_gin_on_a_tu_task_lands_at_or_just_under_the_budget(shared_data):
    ctx = DataContext.from_env(data_root=shared_data)
    task, model = _resolved("mutag", "gin")
    width, count = solve_width(task, model, "hidden", 100_000, ctx)
    assert count == count_params(task, _with(model, hidden=width), ctx) <= 100_000
    assert count_params(task, _with(model, hidden=width + 1), ctx) > 100_000
    assert 16 < width < 200


@pytest.mark.parametrize("task_id, model", [("sbm-node", "gcn"), ("colour-motifs", "gin"), ("sbm-link", "gcn")])
def test_the_count_is_the_one_a_run_records_and_leaves_torch_random_state_alone(task_id, model):
    ctx = DataContext.from_env()
    task, resolved = _resolved(task_id, model)
    state = torch.get_rng_state()
    counted = count_params(task, resolved, ctx)
    assert torch.equal(state, torch.get_rng_state())
    width, count = solve_width(task, resolved, "hidden", counted, ctx)
    assert (width, count) == (resolved.hparams["hidden"], counted)  # the budget of its own width solves to it
    record = run_job(Job(task, resolved, 0), RunOptions(device="cpu", deterministic="strict", data=ctx, threads=1))
    assert record.status == "ok", record.error
    assert record.num_params == counted


def test_budgets_that_cannot_be_met_are_refused_in_one_sentence():
    ctx = DataContext.from_env()
    task, model = _resolved("sbm-node", "gcn")
    with pytest.raises(GbenchError, match="has 41 parameters even at hidden=1, over the budget of 40"):
        solve_width(task, model, "hidden", 40, ctx)
    with pytest.raises(GbenchError, match="'dropout' is not an integer hyperparameter .* hidden, layers"):
        solve_width(task, model, "dropout", 100_000, ctx)
    with pytest.raises(GbenchError, match="'width' is not an integer hyperparameter"):
        solve_width(task, model, "width", 100_000, ctx)
    task, model = _resolved("sbm-node", "label-propagation")
    with pytest.raises(GbenchError, match="has no trainable parameters"):
        solve_width(task, model, "num_layers", 100_000, ctx)


@pytest.mark.parametrize("text, value", [("100k", 100_000), ("500K", 500_000), ("1.5m", 1_500_000),
                                         ("250000", 250_000), (" 2M ", 2_000_000), ("0.5k", 500)])
def test_parse_budget(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["", "k", "100x", "-5k", "1.0005k", "0", "1e5", "100 kb", "lots"])
def test_parse_budget_refuses_junk(text):
    with pytest.raises(GbenchError, match="is not a positive whole number of parameters; write it as e.g. 100k"):
        parse_budget(text)


def test_a_link_task_with_a_split_per_seed_is_counted_on_the_split_its_seed_0_loads(monkeypatch, tmp_path):
    """Counting loads the data the sweep's seed-0 job loads (one cache entry), not the many-split task as given."""
    import gbench.data

    text = (specs.catalog_root() / "tasks" / "link" / "sbm-link.yaml").read_text()
    path = tmp_path / "sbm-link-splits.yaml"
    path.write_text(text.replace("id: sbm-link", "id: sbm-link-splits")
                    .replace("seed: 0, neg", "seed: 0, num_splits: 3, neg"))
    task = specs.load_task(str(path))
    assert task.split.params["num_splits"] == 3
    resolved = specs.resolve_model(specs.load_model("gcn", "link"), task)
    loaded = []
    real = gbench.data.load_task_data
    monkeypatch.setattr(gbench.data, "load_task_data", lambda t, ctx: loaded.append(t) or real(t, ctx))
    assert count_params(task, resolved, DataContext.from_env(cache_dir=tmp_path / "cache")) > 0
    assert [(t.split.params["seed"], t.split.params["num_splits"]) for t in loaded] == [(0, 1)]
