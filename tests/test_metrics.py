"""Metrics come from scikit-learn and ogb.Evaluator; the registry refuses what they do not provide."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gbench.metrics import get_metric
from gbench.models.node import InputDropout
from gbench.specs import MetricSpec


def test_ogb_and_sklearn_accuracy_agree_on_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 40))
    y = rng.integers(0, 40, size=500)
    ogb = get_metric(MetricSpec(name="acc", evaluator="ogb", dataset="ogbn-arxiv", higher_is_better=True))
    generic = get_metric(MetricSpec(name="acc", evaluator="ogb", higher_is_better=True))  # no dataset named
    skl = get_metric(MetricSpec(name="accuracy", higher_is_better=True))
    assert ogb(y, logits) == generic(y, logits) == skl(y, logits) == float((logits.argmax(1) == y).mean())


def test_roc_auc_for_one_logit_and_two_logits():
    y = np.array([0, 1, 1, 0, 1])
    one = np.array([[-1.0], [2.0], [0.5], [0.7], [3.0]])
    auc = get_metric(MetricSpec(name="roc_auc", higher_is_better=True))
    from sklearn.metrics import roc_auc_score

    assert auc(y, one) == roc_auc_score(y, one.ravel())
    two = np.concatenate([np.zeros_like(one), one], axis=1)
    assert auc(y, two) == auc(y, one)


def test_ogb_hits_at_k_matches_its_definition():
    hits = get_metric(MetricSpec(name="hits@20", evaluator="ogb", dataset="ogbl-ddi", higher_is_better=True))
    neg = np.arange(100, dtype=np.float32)  # the 20th highest negative is 80
    pos = np.array([81.0, 80.0, 79.0, 99.5], dtype=np.float32)
    assert hits.kind == "ranking" and hits.ranking(pos, neg) == 0.5  # strictly above: 81 and 99.5


@pytest.mark.parametrize("spec, words", [
    (dict(name="acc", evaluator="ogb", dataset="ogbn-arxiv", higher_is_better=False), "higher_is_better: true"),
    (dict(name="rocauc", evaluator="ogb", dataset="ogbn-arxiv", higher_is_better=True), "computes 'acc'"),
    (dict(name="acc", evaluator="ogb", dataset="ogbn-nope", higher_is_better=True), "OGB dataset name"),
    (dict(name="f1", evaluator="ogb", higher_is_better=True), "is not one ogb.Evaluator computes for any dataset"),
    (dict(name="precision", higher_is_better=True), "allowed: accuracy"),
])
def test_registry_refuses_what_no_evaluator_provides(spec, words):
    with pytest.raises(ValueError, match=words):
        get_metric(MetricSpec(**spec))


def test_sparse_input_dropout_has_the_distribution_of_dense_dropout():
    torch.manual_seed(0)
    x = torch.zeros(50, 200)
    x.view(-1)[torch.randperm(x.numel())[:300]] = torch.rand(300) + 0.5
    drop = InputDropout(0.6).train()
    draws = torch.stack([drop(x).clone() for _ in range(400)])
    assert (draws[:, x == 0] == 0).all()
    kept = draws[:, x != 0]
    assert abs((kept != 0).float().mean().item() - 0.4) < 0.01
    assert torch.allclose(kept[kept != 0], (x[x != 0] / 0.4).repeat(400, 1)[kept != 0])
    assert drop.eval()(x) is x
    dense = torch.randn(10, 10)  # dense inputs fall back to F.dropout
    assert (drop.train()(dense) == 0).float().mean() > 0.3
