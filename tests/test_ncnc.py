"""NCNC (Neural Common Neighbor with Completion): the completed common neighbours on hand-made graphs where the
answer is known, the link-level contract, and permutation equivariance of the scores."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gbench.models.contract import ModelInputs, TaskInfo
from gbench.models.link import NCNModel
from gbench.models.ncnc import ncnc

I, J, K, C = 0, 1, 2, 8  # the scored pair (I, J); K adjacent to I only, its edge to J implied; C adjacent to both
IMPLIED = [3, 4, 5, 6, 7]  # common neighbours of J and K, adjacent to J only as seen from (I, J)
M = 11  # adjacent to I only, in a clique of its own: nothing implies an edge M-J
FAR = 9  # adjacent to neither endpoint (edge 9-10)
NUM_NODES = 16


def undirected(edges: list[tuple[int, int]]) -> torch.Tensor:
    e = torch.tensor(edges, dtype=torch.long).t()
    return torch.cat([e, e.flip(0)], dim=1)


def handmade_edges() -> list[tuple[int, int]]:
    """A clique on {J, K} ∪ IMPLIED without the edge J-K; I adjacent to K, C and M; C adjacent to J; FAR-10; a
    clique on 11..15 (M's)."""
    group = [J, K, *IMPLIED]
    edges = [(a, b) for a, b in itertools.combinations(group, 2) if {a, b} != {J, K}]
    edges += [(I, K), (I, C), (C, J), (I, M), (FAR, 10)]
    edges += list(itertools.combinations(range(11, 16), 2))
    return edges


def handmade(features: torch.Tensor | None = None) -> tuple[TaskInfo, ModelInputs]:
    x = torch.ones(NUM_NODES, 1) if features is None else features
    info = TaskInfo(level="link", target="binary", num_features=x.size(1), out_dim=1, num_nodes=NUM_NODES)
    return info, ModelInputs(x=x, edge_index=undirected(handmade_edges()), num_nodes=NUM_NODES)


def weights_of(model, data, pair: tuple[int, int]) -> dict[int, float]:
    """Node -> its weight in the completed common-neighbour aggregation of `pair` (absent: no entry)."""
    with torch.no_grad():
        z = model.encode(data)
        s = model.completed_neighbours(z, torch.tensor([[pair[0]], [pair[1]]]), data)
    return {int(u): float(w) for u, w in zip(s.indices()[1], s.values())}


def test_completion_weights_true_common_neighbours_one_and_one_sided_neighbours_by_the_ncn_pass():
    torch.manual_seed(0)
    info, data = handmade()
    model = ncnc(info, hidden=16, input_dropout=0.0, dropout=0.0, predictor_dropout=0.0, cn_edge_dropout=0.0,
                 prob_scale=4.3, prob_offset=2.8, prior=0.75, alpha=0.9).eval()
    w = weights_of(model, data, (I, J))
    assert w[C] == 1.0
    assert set(w) == {C, K, M, *IMPLIED}  # neither FAR, 10, the clique 12..15 nor the endpoints themselves
    assert all(0.0 < w[u] < 0.9 for u in (K, M, *IMPLIED))
    with torch.no_grad():  # K's weight is the calibrated probability of the missing edge (J, K) by the NCN pass
        z = model.encode(data)
        logit = float(NCNModel.score(model, z, torch.tensor([[J], [K]]), data))
    assert w[K] == pytest.approx(0.9 * 0.75 * (p := 1 / (1 + math.exp(-4.3 * (logit - 2.8)))) / (0.75 * p + 1 - p),
                                 rel=1e-5)
    # a pair with no one-sided neighbours is plain NCN: same score
    pair = torch.tensor([[12], [13]])
    with torch.no_grad():
        assert set(weights_of(model, data, (12, 13))) == {11, 14, 15}
        assert torch.allclose(model.score(z, pair, data), NCNModel.score(model, z, pair, data), atol=1e-6)


def test_completion_by_a_trained_ncn_pass_counts_the_implied_neighbour_and_not_the_others():
    """The completion pass is the network's own NCN (no completion). Trained as NCN on the hand-made graph (its edges
    against its non-edges, J-K held out), it finds J-K likely (five common neighbours) and M-J not (none): K then
    counts for (I, J) almost as a common neighbour, M and the nodes adjacent to J only (one common neighbour with
    I, namely K) hardly at all."""
    torch.manual_seed(0)
    info, data = handmade()
    model = ncnc(info, hidden=32, input_dropout=0.0, dropout=0.0, predictor_dropout=0.0, cn_edge_dropout=0.0,
                 prob_scale=1.0, prob_offset=0.0, prior=1.0, alpha=1.0)
    edges = undirected(handmade_edges())
    present = {(int(a), int(b)) for a, b in edges.t()}
    non_edges = torch.tensor([(a, b) for a in range(NUM_NODES) for b in range(a + 1, NUM_NODES)
                              if (a, b) not in present and {a, b} != {J, K}]).t()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        z = model.encode(data)
        pos, neg = NCNModel.score(model, z, edges, data), NCNModel.score(model, z, non_edges, data)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                + torch.nn.functional.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))
        loss.backward()
        opt.step()
    w = weights_of(model.eval(), data, (I, J))
    assert w[C] == 1.0 and FAR not in w
    assert w[K] > 0.9 and max(w[u] for u in (M, *IMPLIED)) < 0.5


def test_ncnc_follows_the_link_contract(cli):
    result = cli("check-model", "gbench.models.ncnc:ncnc", "--level", "link")
    assert result.code == 0, result.out + result.err


def test_scores_are_permutation_equivariant():
    torch.manual_seed(0)
    info, data = handmade(torch.randn(NUM_NODES, 5))
    model = ncnc(info, hidden=16).eval()
    pairs = torch.tensor([[I, I, 12, FAR, M], [J, 14, 13, K, 3]])
    perm = torch.randperm(NUM_NODES)  # new id of old node u: perm[u]
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(NUM_NODES)
    permuted = ModelInputs(x=data.x[inverse], edge_index=perm[data.edge_index], num_nodes=NUM_NODES)
    with torch.no_grad():
        before = model.score(model.encode(data), pairs, data)
        after = model.score(model.encode(permuted), perm[pairs], permuted)
    assert torch.allclose(before, after, atol=1e-5)


def test_spec_takes_the_authors_settings_per_task():
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    spec = load_model("ncnc", "link")
    cora = resolve_model(spec, load_task("cora-link"))
    citeseer = resolve_model(spec, load_task("citeseer-link"))
    assert (cora.hparams["prob_scale"], cora.hparams["prob_offset"], cora.hparams["alpha"]) == (4.3, 2.8, 1.0)
    assert (citeseer.hparams["prob_scale"], citeseer.hparams["alpha"], citeseer.optim.lr) == (6.5, 0.4, 0.0085)
    code = resolve_model(spec, load_task("citeseer-link-70-10-20")).hparams  # the code's network on its split
    assert (code["architecture"], code["head_layers"], code["predictor_lr"]) == ("authors-code", 2, 0.0078)
    assert "architecture" not in citeseer.hparams  # the 85/5/10 rows keep gbench's form


def test_in_the_authors_code_form_completion_runs_on_the_predictors_node_states():
    """The released code completes with an NCN pass over x = z + MLP_x(z), not over z, and sums the completed
    neighbours' x: K's weight comes from scoring (J, K) with x as the node states."""
    torch.manual_seed(0)
    info, data = handmade(torch.randn(NUM_NODES, 4))
    model = ncnc(info, hidden=16, architecture="authors-code", prob_scale=4.3, prob_offset=2.8, prior=0.75,
                 alpha=0.9).eval()
    pair = torch.tensor([[I], [J]])
    with torch.no_grad():
        z = model.encode(data)
        x = model.predictor.node_states(z)
        logit_x, logit_z = (float(NCNModel.score(model, h, torch.tensor([[J], [K]]), data)) for h in (x, z))
        assert abs(logit_x - logit_z) > 1e-3  # the two readings differ here, so the test can tell them apart
        s = model.completed_neighbours(x, pair, data)
        w = {int(u): float(v) for u, v in zip(s.indices()[1], s.values())}
        assert w[K] == pytest.approx(float(model.completion_weight(torch.tensor(logit_x))), rel=1e-5)
        assert torch.allclose(model.score(z, pair, data), model.predictor(s, z, pair, x), atol=1e-6)


def test_edge_dropout_on_the_adjacency_keeps_directed_entries_independently_and_turns_common_into_one_sided():
    """`cn_edge_dropout_on: adjacency` (the code's DropAdj before the split): each directed entry is kept with
    1 - p on its own, so an undirected edge keeps both with (1 - p)^2; and a common neighbour that lost its edge to
    J is a completion candidate of (I, J), weighted by the completion pass on the inner adjacency, undropped."""
    from scipy.stats import binomtest

    from gbench.models.link import _scipy_adjacency, common_neighbour_matrix

    torch.manual_seed(0)
    info, data = handmade(torch.randn(NUM_NODES, 4))
    model = ncnc(info, hidden=16, architecture="authors-code", cn_edge_dropout=0.4,
                 cn_edge_dropout_on="adjacency").train()
    a = _scipy_adjacency(data.edge_index, NUM_NODES)
    kept = both = 0
    for _ in range(200):
        d = model.drop_adjacency(a)
        assert d.data.min() == 1.0 and (d - d.multiply(a)).nnz == 0  # kept entries stay 1, nothing new
        kept += d.nnz
        both += d.multiply(d.T).nnz // 2
    assert binomtest(kept, 200 * a.nnz, 0.6).pvalue > 1e-3
    assert binomtest(both, 200 * a.nnz // 2, 0.36).pvalue > 1e-3

    model.eval()  # the explicit adjacencies below are the only randomness
    outer = a.tolil()
    outer[J, C] = 0  # C, common to I and J, loses its edge to J (the reverse entry C-J stays)
    outer = outer.tocsr()
    outer.eliminate_zeros()
    inner = a.tolil()
    inner[I, 3] = inner[3, I] = 1  # an inner graph that differs from the outer one
    inner = inner.tocsr()
    pair = torch.tensor([[I], [J]])
    with torch.no_grad():
        x = model.predictor.node_states(model.encode(data))
        s = model.completed_neighbours(x, pair, data, adjacency=outer, inner=inner)
        w = {int(u): float(v) for u, v in zip(s.indices()[1], s.values())}
        q = torch.tensor([[J], [C]])
        expected = model.completion_weight(model.score_neighbours(common_neighbour_matrix(inner, NUM_NODES, q), x, q))
    assert C in w and w[C] < 1.0 and w[C] == pytest.approx(float(expected), rel=1e-5)
    assert w[C] != pytest.approx(float(weights_of(model, data, (I, J))[C]))  # 1.0 on the undropped graph
    with pytest.raises(ValueError, match="authors-code"):
        ncnc(info, hidden=16, cn_edge_dropout_on="adjacency")
    model.train()  # the training path runs on the twice-dropped adjacency and gives finite logits with gradients
    logits = model.score(model.encode(data), torch.tensor([[I, 12], [J, 13]]), data)
    assert torch.isfinite(logits).all() and logits.requires_grad
