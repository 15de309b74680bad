"""Node-level probe for `gbench check-model`: a 60-node, 3-class SBM graph with 5 features, generated in memory."""

from __future__ import annotations

from gbench.models.check import Probe


def tiny_node_task(num_nodes: int = 60, seed: int = 0):
    """(inputs, y [num_nodes] int64): a 3-class SBM graph with 5 features (no cache, no download)."""
    from gbench.data.inputs import ModelInputs
    from gbench.data.synthetic import generate_sbm

    t = generate_sbm(num_nodes=num_nodes, num_classes=3, avg_degree=4.0, homophily=0.8, degree_exponent=None,
                     feature_dim=5, feature_signal=1.0, seed=seed)
    return ModelInputs(x=t["x"], edge_index=t["edge_index"], num_nodes=num_nodes), t["y"]


def node_probe() -> Probe:
    import torch

    from gbench.models.contract import TaskInfo

    inputs, y = tiny_node_task()
    n = inputs.num_nodes
    train_idx = torch.arange(0, n, 2)

    def fit_predict(model):
        model.fit(inputs, y[train_idx], train_idx)
        return model.predict(inputs)

    return Probe(
        info=TaskInfo(level="node", target="multiclass", num_features=5, out_dim=3, num_nodes=n, num_classes=3),
        fit_predict=fit_predict, fit_predict_call="fit() or predict()",
        forward=lambda model: model(inputs), forward_call="model(data)", ran=f"model(data) ran on a {n}-node graph",
        shape=(n, 3), shape_words=f"[num_nodes={n}, out_dim=3]",
        loss=lambda out: torch.nn.functional.cross_entropy(out, y), evaluate=lambda model: model(inputs),
        attribute_hint="; data holds x, edge_index and num_nodes only")
