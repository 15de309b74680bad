"""Link-level probe for `gbench check-model --level link`: a tiny generated graph and a few node pairs.

A gradient-trained model must give `encode(data) -> z` and `score(z, pairs [2, P], data) -> Tensor[P]` of finite
floats with gradients reaching its parameters, agree with itself in eval mode, and score pairs independently of
how they are batched (the runner scores validation and test pairs in chunks). A heuristic must give
`predict(data, pairs) -> Tensor[P]` after `fit(data, train_pos)`.
"""

from __future__ import annotations

from gbench.models.check import Check, Probe


def tiny_link_task(num_nodes: int = 40, seed: int = 0):
    """A 40-node SBM graph with 5 features (in memory), its edges once each, and 12 positive + 12 negative pairs."""
    import torch

    from gbench.data.inputs import ModelInputs
    from gbench.data.link import random_link_split, undirected
    from gbench.data.synthetic import generate_sbm

    t = generate_sbm(num_nodes=num_nodes, num_classes=2, avg_degree=6.0, homophily=0.8, degree_exponent=None,
                     feature_dim=5, feature_signal=1.0, seed=seed)
    s = random_link_split(t["edge_index"], num_nodes, val=0.1, test=0.1, seed=seed)
    graph = undirected(s["train_pos"], num_nodes)
    pairs = torch.cat([s["test_pos"], s["test_neg"]], dim=1)
    return ModelInputs(x=t["x"], edge_index=graph, num_nodes=num_nodes), s["train_pos"], pairs


def link_probe() -> Probe:
    import torch

    from gbench.models.contract import TaskInfo

    data, train_pos, pairs = tiny_link_task()
    p = pairs.size(1)
    target = torch.cat([torch.ones(p // 2), torch.zeros(p - p // 2)])

    def fit_predict(model):
        model.fit(data, train_pos)
        return model.predict(data, pairs)

    def interface(model) -> Check | None:
        missing = [n for n in ("encode", "score") if not callable(getattr(model, n, None))]
        if not missing:
            return None
        return Check("interface", False, f"the model has no {' or '.join(missing)}() method; a link model "
                                         "implements encode(data) -> z and score(z, pairs, data) -> Tensor[P], or "
                                         "fit()/predict()")

    def chunks(model, scores) -> list[Check]:
        z = model.encode(data)
        halves = torch.cat([model.score(z, pairs[:, : p // 2], data), model.score(z, pairs[:, p // 2:], data)])
        ok = torch.allclose(scores, halves, atol=1e-5)
        return [Check("pairs independent", ok, "scoring the pairs in two chunks gives the same scores" if ok else
                      "scores change when the pairs are scored in two chunks; each pair's score must depend on "
                      "that pair only (the runner scores in chunks)")]

    return Probe(
        info=TaskInfo(level="link", target="binary", num_features=5, out_dim=1, num_nodes=data.num_nodes,
                      extras={"has_node_features": True}),
        fit_predict=fit_predict, fit_predict_call="fit(data, train_pos) or predict(data, pairs)",
        forward=lambda model: model.score(model.encode(data), pairs, data),
        forward_call="encode(data) then score(z, pairs, data)",
        ran=f"encode and score ran on a {data.num_nodes}-node graph", shape=(p,),
        shape_words=f"[P={p}], one logit per pair",
        loss=lambda out: torch.nn.functional.binary_cross_entropy_with_logits(out, target),
        evaluate=lambda model: model.score(model.encode(data), pairs, data),
        attribute_hint="; data holds x, edge_index and num_nodes only", interface=interface, extra=chunks)
