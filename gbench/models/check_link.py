"""Link-level contract checks for `gbench check-model --level link`: a tiny generated graph and a few node pairs.

A gradient-trained model must give `encode(data) -> z` and `score(z, pairs [2, P], data) -> Tensor[P]` of finite
floats with gradients reaching its parameters, agree with itself in eval mode, and score pairs independently of
how they are batched (the runner scores validation and test pairs in chunks). A heuristic must give
`predict(data, pairs) -> Tensor[P]` after `fit(data, train_pos)`.
"""

from __future__ import annotations

from typing import Any

from gbench.models.check import Check, build_checked, register_level_check


def tiny_link_task(num_nodes: int = 40, seed: int = 0):
    """A 40-node SBM graph with 5 features (in memory), its edges once each, and 12 positive + 12 negative pairs."""
    import torch

    from gbench.data.link import random_link_split, undirected
    from gbench.data.synthetic import generate_sbm
    from gbench.models.contract import ModelInputs

    t = generate_sbm(num_nodes=num_nodes, num_classes=2, avg_degree=6.0, homophily=0.8, degree_exponent=None,
                     feature_dim=5, feature_signal=1.0, seed=seed)
    s = random_link_split(t["edge_index"], num_nodes, val=0.1, test=0.1, seed=seed)
    graph = undirected(s["train_pos"], num_nodes)
    pairs = torch.cat([s["test_pos"], s["test_neg"]], dim=1)
    return ModelInputs(x=t["x"], edge_index=graph, num_nodes=num_nodes), s["train_pos"], pairs


@register_level_check("link")
def check_link(implementation: str, hparams: dict[str, Any]) -> list[Check]:
    import torch

    from gbench.models.contract import TaskInfo, is_fit_predict

    data, train_pos, pairs = tiny_link_task()
    p = pairs.size(1)
    info = TaskInfo(level="link", target="binary", num_features=5, out_dim=1, num_nodes=data.num_nodes,
                    extras={"has_node_features": True})
    model, built = build_checked(implementation, info, hparams)
    if model is None:
        return [built]
    out = [built]

    if is_fit_predict(model):
        try:
            model.fit(data, train_pos)
            scores = model.predict(data, pairs)
        except Exception as e:  # noqa: BLE001 - reported in words
            return out + [Check("fit/predict", False, f"fit(data, train_pos) or predict(data, pairs) raised "
                                                      f"{type(e).__name__}: {e}")]
        shape = tuple(torch.as_tensor(scores).shape)
        return out + [Check("output shape", shape == (p,), f"predict(data, pairs) returned shape {list(shape)}; "
                                                           f"expected [P={p}], one score per pair")]

    missing = [n for n in ("encode", "score") if not callable(getattr(model, n, None))]
    if missing:
        return out + [Check("interface", False, f"the model has no {' or '.join(missing)}() method; a link model "
                                                "implements encode(data) -> z and score(z, pairs, data) -> "
                                                "Tensor[P], or fit()/predict()")]
    try:
        model.train()
        z = model.encode(data)
        result = model.score(z, pairs, data)
    except AttributeError as e:
        return out + [Check("forward", False, f"encode/score raised AttributeError: {e}; data holds x, edge_index "
                                              "and num_nodes only")]
    except Exception as e:  # noqa: BLE001
        return out + [Check("forward", False, f"encode(data) or score(z, pairs, data) raised "
                                              f"{type(e).__name__}: {e}")]
    out.append(Check("forward", True, f"encode and score ran on a {data.num_nodes}-node graph"))
    if not isinstance(result, torch.Tensor):
        return out + [Check("output type", False, f"score() returned {type(result).__name__}; expected a "
                                                  "torch.Tensor of logits")]
    shape_ok = tuple(result.shape) == (p,)
    out.append(Check("output shape", shape_ok, f"score(z, pairs, data) returned shape {list(result.shape)}; "
                                               f"expected [P={p}], one logit per pair"))
    finite = result.is_floating_point() and bool(torch.isfinite(result).all())
    out.append(Check("finite", finite, "scores are finite floats" if finite else "scores are not finite floats"))
    if not (shape_ok and finite):
        return out
    target = torch.cat([torch.ones(p // 2), torch.zeros(p - p // 2)])
    torch.nn.functional.binary_cross_entropy_with_logits(result, target).backward()
    params = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    no_grad = [n for n, q in params if q.grad is None]
    out.append(Check("gradients", bool(params) and len(no_grad) < len(params),
                     "parameters received gradients" if params and not no_grad else
                     "the model has no trainable parameters; use fit()/predict() for a heuristic" if not params else
                     f"{len(no_grad)} of {len(params)} parameters received no gradient (e.g. {no_grad[0]})"))
    model.eval()
    with torch.no_grad():
        z = model.encode(data)
        a, b = model.score(z, pairs, data), model.score(model.encode(data), pairs, data)
        halves = torch.cat([model.score(z, pairs[:, : p // 2], data), model.score(z, pairs[:, p // 2:], data)])
    out.append(Check("eval deterministic", torch.equal(a, b), "two evaluations in eval mode agree"
                     if torch.equal(a, b) else "two evaluations in eval mode differ: is dropout active in eval()?"))
    chunk_ok = torch.allclose(a, halves, atol=1e-5)
    out.append(Check("pairs independent", chunk_ok, "scoring the pairs in two chunks gives the same scores"
                     if chunk_ok else "scores change when the pairs are scored in two chunks; each pair's score "
                                      "must depend on that pair only (the runner scores in chunks)"))
    return out
