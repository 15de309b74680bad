"""Graph-level probe for `gbench check-model --level graph`: a batch of six tiny generated graphs."""

from __future__ import annotations

from gbench.models.check import Probe


def tiny_graph_batch(num_graphs: int = 6, seed: int = 0):
    """(batch, y [num_graphs] int64): random graphs of 5-12 nodes with 4 float features, collated label-free."""
    import torch
    from torch_geometric.data import Batch
    from torch_geometric.utils import erdos_renyi_graph

    from gbench.data.inputs import ModelInputs

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(5, 13, (1,), generator=gen))
        graphs.append(ModelInputs(x=torch.randn(n, 4, generator=gen), edge_index=erdos_renyi_graph(n, 0.4),
                                  num_nodes=n))
    return Batch.from_data_list(graphs), torch.randint(0, 3, (num_graphs,), generator=gen)


def graph_probe() -> Probe:
    import torch

    from gbench.models.contract import TaskInfo

    batch, y = tiny_graph_batch()
    g = len(y)
    graphs = batch.to_data_list()

    def fit_predict(model):
        model.fit(graphs, y)
        return model.predict(graphs)

    return Probe(
        info=TaskInfo(level="graph", target="multiclass", num_features=4, out_dim=3, num_classes=3,
                      extras={"categorical_features": False, "categorical_edges": False}),
        fit_predict=fit_predict, fit_predict_call="fit(graphs, y) or predict(graphs)",
        forward=lambda model: model(batch), forward_call="model(batch)",
        ran=f"model(batch) ran on a batch of {g} graphs",
        shape=(g, 3), shape_words=f"[num_graphs={g}, out_dim=3]",
        loss=lambda out: torch.nn.functional.cross_entropy(out, y), evaluate=lambda model: model(batch))
