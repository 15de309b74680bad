"""The Graph Transformer baseline (Dwivedi & Bresson, 2020): its node states are permutation-equivariant, its
attention never leaves a node's neighbourhood, and it follows the graph-level model contract."""

from __future__ import annotations

import pytest
import torch

from gbench.models.contract import TaskInfo
from gbench.models.graph_transformer import NeighbourAttention, graph_transformer


def _path_graph(n: int, features: int = 3, edge_dim: int = 2, seed: int = 0):
    """A path 0 - 1 - ... - n-1, both directions, random node and edge features and a random `lap_pe`."""
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
    data = Data(x=torch.randn(n, features, generator=g), edge_index=edge_index,
                edge_attr=torch.randn(edge_index.size(1), edge_dim, generator=g),
                lap_pe=torch.randn(n, 4, generator=g))
    return Batch.from_data_list([data])


def _info(edge_dim: int | None = 2) -> TaskInfo:
    return TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, edge_dim=edge_dim,
                    num_classes=2, extras={"lap_pe": 4})


def _model(layers: int, edges: bool):
    torch.manual_seed(0)
    model = graph_transformer(_info(2 if edges else None), hidden=16, layers=layers, heads=4)
    # Batch norm in eval mode (running statistics) makes each node's state a function of its own inputs only; a
    # few training passes first move the running statistics off their initial values.
    model.train()
    for seed in range(3):
        model.node_states(_path_graph(7, seed=seed))
    return model.eval()


@pytest.mark.parametrize("edges", [False, True])
def test_node_states_permute_with_the_nodes(edges):
    from torch_geometric.data import Batch, Data

    model = _model(layers=3, edges=edges)
    # A graph with a cycle and a branch, so that no automorphism hides a wrong permutation.
    edges_list = [(0, 1), (1, 2), (2, 3), (3, 0), (3, 4), (4, 5), (1, 5), (5, 6)]
    ei = torch.tensor(edges_list).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    g = torch.Generator().manual_seed(1)
    n = 7
    data = Data(x=torch.randn(n, 3, generator=g), edge_index=ei, edge_attr=torch.randn(ei.size(1), 2, generator=g),
                lap_pe=torch.randn(n, 4, generator=g))
    perm = torch.randperm(n, generator=g)  # new node i is old node perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    edge_order = torch.randperm(ei.size(1), generator=g)
    permuted = Data(x=data.x[perm], edge_index=inv[ei][:, edge_order], edge_attr=data.edge_attr[edge_order],
                    lap_pe=data.lap_pe[perm])
    with torch.no_grad():
        h = model.node_states(Batch.from_data_list([data]))
        h_perm = model.node_states(Batch.from_data_list([permuted]))
        out, out_perm = model(Batch.from_data_list([data])), model(Batch.from_data_list([permuted]))
    assert torch.allclose(h_perm, h[perm], atol=1e-5)
    assert torch.allclose(out_perm, out, atol=1e-5)  # the mean readout makes the graph output invariant


@pytest.mark.parametrize("edges", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_a_node_never_attends_outside_its_neighbourhood(layers, edges):
    """On a path, node 0's state after L layers depends on nodes 0..L and the edges among them, and on nothing
    further away: changing anything beyond leaves it bitwise unchanged; changing node L moves it."""
    model = _model(layers=layers, edges=edges)
    base = _path_graph(7)
    with torch.no_grad():
        h0 = model.node_states(base)[0]
        for far in range(layers + 1, 7):
            other = base.clone()
            other.x[far] += 5.0
            other.lap_pe[far] -= 3.0
            assert torch.equal(model.node_states(other)[0], h0), f"node {far} reached node 0 in {layers} layer(s)"
        if edges:
            # The edges between nodes layers+1 and layers+2, both directions (forward edge i joins i and i+1).
            other = base.clone()
            n_fwd = base.edge_index.size(1) // 2
            other.edge_attr[[layers + 1, n_fwd + layers + 1]] += 5.0
            assert torch.equal(model.node_states(other)[0], h0)
        near = base.clone()
        near.x[layers] += 5.0
        assert not torch.allclose(model.node_states(near)[0], h0), f"node {layers} should reach node 0"


def test_attention_weights_are_a_softmax_over_incoming_edges_only():
    """Each node's weights over the edges into it sum to 1 per head; a node without incoming edges gets none."""
    torch.manual_seed(0)
    attn = NeighbourAttention(hidden=8, heads=2, edges=False)
    # 0 -> 1, 2 -> 1, 1 -> 2; node 0 has no incoming edge.
    edge_index = torch.tensor([[0, 2, 1], [1, 1, 2]])
    h = torch.randn(3, 8)
    out, _, alpha = attn(h, edge_index, None)
    assert alpha.shape == (3, 2)
    assert torch.allclose(alpha[:2].sum(0), torch.ones(2))
    assert torch.allclose(alpha[2], torch.ones(2))
    assert torch.equal(out[0], torch.zeros(8))


def test_graph_transformer_follows_the_contract(cli):
    result = cli("check-model", "gbench.models.graph_transformer:graph_transformer", "--level", "graph",
                 "--set", "layers=2", "--set", "hidden=16", "--set", "heads=4")
    assert result.code == 0, result
    assert "follows the graph-level contract" in result.out


def _rings(task, ctx):
    """Rings (label 1) versus paths (label 0) of 5-12 nodes: a tiny graph task for an end-to-end run."""
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    from gbench.data.graphs import GraphTaskData

    graphs, labels = [], []
    for i in range(48):
        n, ring = 5 + i % 8, i % 2 == 0
        src = torch.arange(n - 1)
        edges = torch.stack([src, src + 1])
        if ring:
            edges = torch.cat([edges, torch.tensor([[n - 1], [0]])], 1)
        graphs.append(Data(edge_index=to_undirected(edges, num_nodes=n), num_nodes=n, x=torch.ones(n, 1)))
        labels.append(int(ring))
    idx = torch.arange(48)
    return GraphTaskData(graphs=graphs, y=torch.tensor(labels), num_classes=2,
                         splits=[{"train": idx[:32], "val": idx[32:40], "test": idx[40:]}])


def test_graph_transformer_lappe_runs_end_to_end(cli, tmp_path, monkeypatch):
    """`gbench run` with the shipped structural spec: the record holds its transforms and a finite test score."""
    import math

    import yaml

    from gbench.data import SOURCES
    from gbench.results import ResultStore, read_record
    from gbench.specs.params import SOURCE_PARAMS, FreeParams

    monkeypatch.setitem(SOURCES, "test-gt-rings", f"{__name__}:_rings")
    monkeypatch.setitem(SOURCE_PARAMS, "test-gt-rings", FreeParams)
    task = {"id": "gt-rings", "version": 1, "level": "graph", "description": "rings versus paths",
            "dataset": {"source": "test-gt-rings"}, "split": {"kind": "generated", "test_splits": ["test"]},
            "target": "multiclass", "metric": {"name": "accuracy", "higher_is_better": True},
            "protocol": {"seeds": 1, "epochs": 2, "batch_size": 16, "optim": {"lr": 0.01}}}
    path = tmp_path / "gt-rings.yaml"
    path.write_text(yaml.safe_dump(task))
    result = cli("run", "--tasks", path, "--models", "graph-transformer-lappe", "--set", "layers=2",
                 "--out", tmp_path / "o")
    assert result.code == 0, result
    (rec,) = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert rec.status == "ok"
    assert rec.model_spec["transforms"] == ["degree_onehot:100", "lap_pe:16"]
    assert rec.model_spec["implementation"] == "gbench.models.graph_transformer:graph_transformer"
    assert 0.0 <= rec.metrics["test"]["accuracy"] <= 1.0 and math.isfinite(rec.metrics["test"]["accuracy"])
