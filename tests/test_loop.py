"""The shared epoch loop: selection at the best validation epoch, patience, divergence."""

from __future__ import annotations

import pytest

from gbench.train.loop import Diverged, Evaluation, fit


def scripted(vals, losses, tests):
    """An evaluate() that replays a scripted trajectory, and a train_epoch() that does nothing."""
    it = iter(zip(vals, losses, tests))

    def evaluate():
        v, l, t = next(it)
        return Evaluation({"val": {"acc": v}, "test": {"acc": t}}, val_loss=l)

    return (lambda epoch: 0.0), evaluate


def run(monitor, vals, losses, tests, patience=2):
    train, evaluate = scripted(vals, losses, tests)
    return fit(train, evaluate, epochs=len(vals), patience=patience, eval_every=1, monitor=monitor, metric="acc",
               higher_is_better=True, device="cpu")


VALS = [0.5, 0.7, 0.7, 0.6, 0.65, 0.9]
LOSSES = [1.0, 0.8, 0.9, 0.7, 0.75, 0.5]
TESTS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_val_metric_keeps_the_earlier_of_tied_epochs_and_stops_on_patience():
    r = run("val_metric", VALS, LOSSES, TESTS)
    assert r.selected_epoch == 2 and r.best.metrics["test"]["acc"] == 0.2 and r.epochs_run == 4


def test_val_loss_selects_the_lowest_loss():
    r = run("val_loss", VALS, LOSSES, TESTS, patience=3)
    assert r.selected_epoch == 6 and r.best.metrics["test"]["acc"] == 0.6


def test_gat_rule_resets_on_either_and_selects_when_both_are_best():
    # epoch 3 ties the accuracy (counts) but not the loss; epoch 4 improves the loss only: patience resets, no
    # selection; epoch 5 improves neither; epoch 6 both.
    r = run("val_loss_and_metric", VALS, LOSSES, TESTS, patience=2)
    assert r.selected_epoch == 6 and r.epochs_run == 6
    r = run("val_loss_and_metric", VALS[:5] + [0.1], LOSSES[:5] + [2.0], TESTS, patience=2)
    assert r.selected_epoch == 2 and r.epochs_run == 6


def test_non_finite_loss_is_divergence():
    def train(epoch):
        return float("nan") if epoch == 3 else 1.0

    with pytest.raises(Diverged, match="epoch 3"):
        fit(train, lambda: Evaluation({"val": {"acc": 0.5}}, 1.0), epochs=5, patience=None, eval_every=1,
            monitor="val_metric", metric="acc", higher_is_better=True, device="cpu")


def test_eval_every_and_last_epoch_are_evaluated():
    seen = []

    def evaluate():
        seen.append(len(seen))
        return Evaluation({"val": {"acc": 0.5}}, 1.0)

    r = fit(lambda e: 0.0, evaluate, epochs=7, patience=None, eval_every=3, monitor="val_metric", metric="acc",
            higher_is_better=True, device="cpu")
    assert [h[0] for h in r.history] == [3, 6, 7]


def test_step_schedule_multiplies_the_rate_after_every_step_size_epochs():
    import torch

    from gbench.specs import LRScheduleSpec
    from gbench.train.base import with_lr_schedule

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=0.01)
    seen = []

    def train_epoch(epoch):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        return 0.0

    schedule = LRScheduleSpec(name="step", step_size=2, gamma=0.5)
    fit(with_lr_schedule(train_epoch, optimizer, {"lr_schedule": schedule}), lambda: Evaluation({"val": {"acc": 0}}),
        epochs=5, patience=None, eval_every=1, monitor="val_metric", metric="acc", higher_is_better=True,
        device="cpu")
    assert seen == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])
    # No schedule: the epoch function itself, a constant rate.
    assert with_lr_schedule(train_epoch, optimizer, {"lr_schedule": None}) is train_epoch
