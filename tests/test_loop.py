"""The training driver: selection at the best validation epoch, patience, divergence, schedule and clipping."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from gbench.specs import LRScheduleSpec, OptimSpec
from gbench.train.base import TrainSettings
from gbench.train.loop import Diverged, Evaluation, Recipe, fit, train


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


def stub_recipe(model, steps_per_epoch=2, evaluate=None):
    """A one-parameter model whose every batch has loss 3 * p (gradient 3), and a constant evaluation."""
    return Recipe(model, batches=lambda epoch: range(steps_per_epoch), loss=lambda batch: (3 * model.p.sum(), 1),
                  evaluate=evaluate or (lambda: Evaluation({"val": {"acc": 0.5}}, 1.0)), snapshot=lambda: None)


def settings(**kw):
    base = dict(epochs=5, patience=None, batch_size=None, eval_every=1, monitor="val_metric", grad_clip=None,
                lr_schedule=None)
    return TrainSettings(**{**base, **kw})


TASK = SimpleNamespace(metric=SimpleNamespace(name="acc", higher_is_better=True))


class OneParameter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))


def test_step_schedule_multiplies_the_rate_after_every_step_size_epochs_and_clipping_bounds_the_gradient():
    model = OneParameter()
    seen = []

    def spy(optimizer, args, kwargs):
        seen.append((optimizer.param_groups[0]["lr"], float(model.p.grad.norm())))

    schedule = LRScheduleSpec(name="step", step_size=2, gamma=0.5)
    with register_optimizer_step_pre_hook(spy):
        train(stub_recipe(model), OptimSpec(name="sgd", lr=0.01), settings(grad_clip=0.5, lr_schedule=schedule),
              TASK, "cpu")
    # Two steps per epoch, the rate halved after epochs 2 and 4; the gradient 3 clipped to norm 0.5.
    assert [lr for lr, _ in seen] == pytest.approx([0.01] * 4 + [0.005] * 4 + [0.0025] * 2)
    assert [g for _, g in seen] == pytest.approx([0.5] * 10)
    seen.clear()
    with register_optimizer_step_pre_hook(spy):
        train(stub_recipe(model), OptimSpec(name="sgd", lr=0.01), settings(), TASK, "cpu")
    assert [lr for lr, _ in seen] == [0.01] * 10 and [g for _, g in seen] == [3.0] * 10


def test_plateau_schedule_decays_the_rate_when_the_validation_loss_stalls_and_never_below_min_lr():
    """LRGB's reduce_on_plateau: mode min on the validation loss, stepped after each evaluation."""
    model = OneParameter()
    seen = []
    losses = iter([1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8])  # improves at evaluations 1, 2 and 5

    def spy(optimizer, args, kwargs):
        seen.append(optimizer.param_groups[0]["lr"])

    schedule = LRScheduleSpec(name="plateau", gamma=0.5, patience=1, min_lr=0.003)
    evaluate = lambda: Evaluation({"val": {"acc": 0.5}}, next(losses))  # noqa: E731
    with register_optimizer_step_pre_hook(spy):
        train(stub_recipe(model, steps_per_epoch=1, evaluate=evaluate), OptimSpec(name="sgd", lr=0.01),
              settings(epochs=10, lr_schedule=schedule), TASK, "cpu")
    # Two evaluations without a lower loss (patience 1 exceeded) halve the rate for the next epoch: after
    # evaluation 4 (0.9, 0.9 after 0.9) and after evaluation 7; then 0.0025 would be under min_lr, so it stays 0.003.
    assert seen == pytest.approx([0.01] * 4 + [0.005] * 3 + [0.003] * 3)


def test_schedules_take_only_their_own_fields():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'step' takes step_size"):
        LRScheduleSpec(name="step", gamma=0.5)
    with pytest.raises(ValidationError, match="'plateau' takes gamma, patience"):
        LRScheduleSpec(name="plateau", gamma=0.5, step_size=3)
    with pytest.raises(ValidationError, match="'step' takes step_size"):
        LRScheduleSpec(name="step", step_size=2, gamma=0.5, patience=3)


def test_cosine_schedule_is_graphgps_cosine_with_warmup_stepped_per_epoch():
    """GraphGPS's peptides-func schedule (cosine_with_warmup, 10 warm-up epochs of 200): the rate of epoch e is the
    base times e / 10 (at least 1e-6) during the warm-up, then 0.5 (1 + cos(pi (e - 10) / 190))."""
    import math

    from gbench.specs.schedule import cosine_with_warmup

    assert cosine_with_warmup(0, 10, 200) == 1e-6 and cosine_with_warmup(5, 10, 200) == 0.5
    assert cosine_with_warmup(10, 10, 200) == 1.0 and cosine_with_warmup(200, 10, 200) == 0.0
    assert cosine_with_warmup(105, 10, 200) == pytest.approx(0.5 * (1 + math.cos(math.pi * 95 / 190)))
    model = OneParameter()
    seen = []

    def spy(optimizer, args, kwargs):
        seen.append(optimizer.param_groups[0]["lr"])

    with register_optimizer_step_pre_hook(spy):
        train(stub_recipe(model, steps_per_epoch=1), OptimSpec(name="sgd", lr=0.01),
              settings(epochs=10, lr_schedule=LRScheduleSpec(name="cosine", warmup=4)), TASK, "cpu")
    want = [0.01 * cosine_with_warmup(e, 4, 10) for e in range(10)]
    assert seen == pytest.approx(want) and seen[0] == pytest.approx(1e-8) and seen[4] == pytest.approx(0.01)
