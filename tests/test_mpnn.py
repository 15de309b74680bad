"""GINE and GatedGCN (gbench/models/mpnn.py): the graph-level contract, a graph output that ignores node order, edge
features that reach the output, GatedGCN's per-layer edge-state update, and LRGB's ~500k parameter budget on
Peptides-func from the shipped specs."""

from __future__ import annotations

import pytest
import torch

from gbench.models.contract import TaskInfo, count_parameters
from gbench.models.mpnn import GatedGCNLayer, gatedgcn, gine

FACTORIES = {"gine": gine, "gatedgcn": gatedgcn}
# LRGB's own counts for its ~500k Peptides-func runs (vijaydwivedi75/lrgb aggr_results/results-peptides-func.json,
# configs GINE-500k and GatedGCN-500k).
LRGB_PARAMS = {"gine": 475_498, "gatedgcn": 509_368}
# Peptides-func as the graph runner describes it: 9 categorical OGB atom features, 3 bond features, 10 tasks.
PEPTIDES_INFO = TaskInfo(level="graph", target="multilabel", num_features=9, out_dim=10, edge_dim=3,
                         extras={"categorical_features": True, "categorical_edges": True})


def _info(edge_dim: int | None = 2, categorical: bool = False) -> TaskInfo:
    return TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, edge_dim=edge_dim, num_classes=2,
                    extras={"categorical_features": categorical, "categorical_edges": categorical})


def _graph(seed: int = 0, edge_dim: int = 2):
    """A 7-node graph with a cycle and a branch (no automorphism hides a wrong permutation), both directions,
    random float node and edge features."""
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    pairs = torch.tensor([(0, 1), (1, 2), (2, 3), (3, 0), (3, 4), (4, 5), (1, 5), (5, 6)]).t()
    ei = torch.cat([pairs, pairs.flip(0)], 1)
    return Data(x=torch.randn(7, 3, generator=g), edge_index=ei, edge_attr=torch.randn(ei.size(1), edge_dim,
                                                                                          generator=g))


def _trained_eval(model, edge_dim: int = 2):
    """A few training-mode passes move batch norm's running statistics off their initial values, then eval mode."""
    from torch_geometric.data import Batch

    model.train()
    with torch.no_grad():
        for seed in range(3):
            model(Batch.from_data_list([_graph(seed + 10, edge_dim), _graph(seed + 20, edge_dim)]))
    return model.eval()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_follows_the_graph_level_contract(cli, name):
    result = cli("check-model", f"gbench.models.mpnn:{name}", "--level", "graph")
    assert result.code == 0, result
    assert "follows the graph-level contract" in result.out


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("edge_dim", [2, None])
def test_graph_output_ignores_node_and_edge_order(name, edge_dim):
    from torch_geometric.data import Batch, Data

    torch.manual_seed(0)
    model = _trained_eval(FACTORIES[name](_info(edge_dim), hidden=16, layers=3), edge_dim or 2)
    data = _graph(1)
    g = torch.Generator().manual_seed(2)
    perm = torch.randperm(7, generator=g)  # new node i is old node perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(7)
    order = torch.randperm(data.edge_index.size(1), generator=g)
    permuted = Data(x=data.x[perm], edge_index=inv[data.edge_index][:, order], edge_attr=data.edge_attr[order])
    with torch.no_grad():
        a = model(Batch.from_data_list([data]))
        b = model(Batch.from_data_list([permuted]))
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, torch.zeros_like(a))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_edge_features_change_the_output(name):
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    model = _trained_eval(FACTORIES[name](_info(), hidden=16, layers=2))
    data = _graph(1)
    other = data.clone()
    other.edge_attr = other.edge_attr.clone()
    other.edge_attr[3] += 2.0  # one edge's features only
    with torch.no_grad():
        a = model(Batch.from_data_list([data]))
        b = model(Batch.from_data_list([other]))
    assert (a - b).abs().max() > 1e-4


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_ogb_atoms_and_bonds_are_embedded(name):
    """Categorical features (OGB's 9 atom and 3 bond columns) go through OGB's encoders: a bond type changes the
    output."""
    from torch_geometric.data import Batch, Data

    torch.manual_seed(0)
    model = FACTORIES[name](PEPTIDES_INFO, hidden=16, layers=2).eval()
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    atoms = torch.tensor([[5, 0, 4, 5, 3, 0, 2, 0, 0], [7, 0, 3, 5, 1, 0, 2, 0, 0], [6, 0, 2, 5, 0, 0, 1, 0, 0]])
    bonds = torch.zeros(4, 3, dtype=torch.long)
    double = bonds.clone()
    double[2:, 0] = 1  # the 1 - 2 bond becomes double
    with torch.no_grad():
        a = model(Batch.from_data_list([Data(x=atoms, edge_index=ei, edge_attr=bonds)]))
        b = model(Batch.from_data_list([Data(x=atoms, edge_index=ei, edge_attr=double)]))
    assert a.shape == (1, 10) and (a - b).abs().max() > 1e-5


def test_gatedgcn_updates_each_edge_from_both_endpoints_and_its_own_state():
    """One GatedGCN layer's edge output for j -> i depends on h_j, h_i and e_ji, and on nothing else."""
    torch.manual_seed(0)
    layer = GatedGCNLayer(8, dropout=0.0, residual=True).eval()
    with torch.no_grad():  # batch norm's running statistics off their initial 0 / 1
        layer.norm_e.running_mean.uniform_(-0.5, 0.5)
        layer.norm_e.running_var.uniform_(0.5, 2.0)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # a directed 4-cycle; edge 0 is 0 -> 1
    x = torch.randn(4, 8)
    e = torch.randn(4, 8)

    def edge_out(x, e):
        with torch.no_grad():
            return layer(x, edge_index, e)[1]

    base = edge_out(x, e)
    assert not torch.allclose(base, e)  # the edge state is updated, not passed through

    def changed(node: int | None = None, edge: int | None = None) -> torch.Tensor:
        x2, e2 = x.clone(), e.clone()
        if node is not None:
            x2[node] += 1.0
        if edge is not None:
            e2[edge] += 1.0
        return (edge_out(x2, e2) - base).abs().amax(1) > 1e-6  # [num_edges]: which edge outputs moved

    assert changed(node=0).tolist() == [True, False, False, True]  # source of edge 0, target of edge 3
    assert changed(node=1).tolist() == [True, True, False, False]  # target of edge 0, source of edge 1
    assert changed(edge=0).tolist() == [True, False, False, False]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_node_without_in_edges_keeps_a_finite_state(name):
    """A node without in-edges keeps a finite state (GatedGCN's gate denominator is 0 there)."""
    from torch_geometric.data import Batch, Data

    torch.manual_seed(0)
    model = FACTORIES[name](_info(), hidden=8, layers=2).eval()
    data = Data(x=torch.randn(3, 3), edge_index=torch.tensor([[0, 1], [1, 2]]), edge_attr=torch.randn(2, 2))
    with torch.no_grad():
        out = model(Batch.from_data_list([data]))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_peptides_func_spec_is_lrgbs_500k_network(name):
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    model = resolve_model(load_model(name, "graph"), load_task("peptides-func"))
    assert (model.optim.name, model.optim.lr, model.train.batch_size, model.train.epochs) == ("adamw", 0.001, 128, 500)
    schedule = model.train.lr_schedule  # LRGB's reduce_on_plateau
    assert (schedule.name, schedule.gamma, schedule.patience, schedule.min_lr) == ("plateau", 0.5, 20, 1e-5)
    assert model.hparams["layers"] == 5 and model.hparams["readout"] == "mean" and model.hparams["dropout"] == 0.0
    assert "configs/" in model.sources["overrides.peptides-func"]
    n = count_parameters(FACTORIES[name](PEPTIDES_INFO, **model.hparams))
    assert abs(n - LRGB_PARAMS[name]) <= 0.1 * LRGB_PARAMS[name]
    # The network is LRGB's: the count differs by one AtomEncoder row (OGB's 174 atom categories here).
    assert n - LRGB_PARAMS[name] == model.hparams["hidden"]


@pytest.mark.parametrize("factory", ["gbench.models.graph:gin", "gbench.models.graph:gcn", "gbench.models.graph:gat",
                                     "gbench.models.graph:gps", "gbench.models.mpnn:gine",
                                     "gbench.models.mpnn:gatedgcn", "gbench.models.graph_transformer:graph_transformer",
                                     "gbench.models.graph:gin:ogb"])
def test_every_graph_model_refuses_a_misspelt_readout_when_built(factory):
    """One readout table (gbench.models.graph.readout_pool) serves every graph-level model, so a misspelt readout
    is a clear error when the model is built, never a KeyError at its first batch."""
    import importlib

    module, name, *ogb = factory.split(":")
    make = getattr(importlib.import_module(module), name)
    kwargs = {"ogb_conv": True} if ogb else {}
    with pytest.raises(ValueError, match="readout must be one of sum, mean, max, got 'avg'"):
        make(_info(), readout="avg", **kwargs)
    make(_info(), readout="max", **kwargs)  # each of the three builds


def test_graphgps_refuses_a_misspelt_readout_when_built():
    from gbench.models.graphgps import graphgps

    info = TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, edge_dim=2, num_classes=2,
                    extras={"eig": 4})
    with pytest.raises(ValueError, match="readout must be one of"):
        graphgps(info, readout="avg")


def test_gps_local_gcn_and_gin_mean_swap_gins_neighbour_sum_for_a_size_free_update():
    """`gps` with `local: gcn` or `local: gin-mean` (size-generalisation what-ifs): every layer's local model is a GCN,
    or a GIN with the same parameters that averages its neighbours; either's update on a complete graph with equal
    node states is the same at 5 and 20 nodes, where the default GIN's grows with the degree; a misspelt local
    model, or edge features it cannot read, is refused when the model is built."""
    from torch_geometric.nn import GCNConv, GINConv

    from gbench.models.graph import gps

    info = _info(edge_dim=None)
    torch.manual_seed(0)
    gin_model, gcn_model = gps(info, hidden=8, layers=2), gps(info, hidden=8, layers=2, local="gcn")
    mean_model = gps(info, hidden=8, layers=2, local="gin-mean")
    assert all(isinstance(c.conv, GINConv) for c in gin_model.convs)
    assert all(isinstance(c.conv, GCNConv) for c in gcn_model.convs)
    assert count_parameters(mean_model) == count_parameters(gin_model)

    def local_update(model, n):
        ei = torch.tensor([(i, j) for i in range(n) for j in range(n) if i != j]).t()
        with torch.no_grad():
            return model.convs[0].conv(torch.ones(n, 8), ei)[0]

    assert torch.allclose(local_update(gcn_model, 5), local_update(gcn_model, 20), atol=1e-5)
    assert torch.allclose(local_update(mean_model, 5), local_update(mean_model, 20), atol=1e-5)
    assert not torch.allclose(local_update(gin_model, 5), local_update(gin_model, 20), atol=1e-3)
    with pytest.raises(ValueError, match="local 'gat' is not one of gin, gcn, gin-mean"):
        gps(info, local="gat")
    with pytest.raises(ValueError, match="reads no edge features"):
        gps(_info(), local="gcn", use_edge_attr=True)


def test_gin_aggr_mean_averages_the_neighbours_with_gins_parameters():
    """`gin` with `aggr: mean` (a what-if beside the GPS one above): the same parameters as GIN-0, a node update on
    a complete graph with equal node states that is the same at 5 and 20 nodes where the sum's grows, and so, with a
    mean readout, one prediction for both graphs; an unknown aggregation or OGB's molecule GIN with it is refused."""
    from torch_geometric.data import Batch, Data
    from torch_geometric.nn import GINConv

    from gbench.models.graph import gin

    info = _info(edge_dim=None)
    torch.manual_seed(0)
    summed, averaged = gin(info, hidden=8, layers=2), gin(info, hidden=8, layers=2, aggr="mean", readout="mean")
    assert count_parameters(summed) == count_parameters(averaged)
    assert all(isinstance(c, GINConv) for c in averaged.convs)

    def complete(n):
        ei = torch.tensor([(i, j) for i in range(n) for j in range(n) if i != j]).t()
        return Data(x=torch.ones(n, info.num_features), edge_index=ei, num_nodes=n)

    def node_update(model, n):
        with torch.no_grad():
            return model.convs[0](torch.ones(n, 8), complete(n).edge_index)[0]

    summed.eval(), averaged.eval()  # batch norm on running statistics: equal rows in training mode divide ~0 by ~0
    assert torch.allclose(node_update(averaged, 5), node_update(averaged, 20), atol=1e-5)
    assert not torch.allclose(node_update(summed, 5), node_update(summed, 20), atol=1e-3)
    with torch.no_grad():
        small_and_large = averaged(Batch.from_data_list([complete(5), complete(20)]))
    assert torch.allclose(small_and_large[0], small_and_large[1], atol=1e-5)
    with pytest.raises(ValueError, match="aggr 'max' is not one of sum, mean"):
        gin(info, aggr="max")
    with pytest.raises(ValueError, match="not available with ogb_conv"):
        gin(info, aggr="mean", ogb_conv=True)
