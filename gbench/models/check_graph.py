"""Graph-level contract checks for `gbench check-model --level graph`: a batch of tiny generated graphs."""

from __future__ import annotations

from typing import Any

from gbench.models.check import Check, build_checked, register_level_check


def tiny_graph_batch(num_graphs: int = 6, seed: int = 0):
    """Six random graphs of 5-12 nodes with 4 float features, collated label-free, and 3-class labels."""
    import torch
    from torch_geometric.data import Batch
    from torch_geometric.utils import erdos_renyi_graph

    from gbench.models.contract import ModelInputs

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(5, 13, (1,), generator=gen))
        graphs.append(ModelInputs(x=torch.randn(n, 4, generator=gen), edge_index=erdos_renyi_graph(n, 0.4),
                                  num_nodes=n))
    return Batch.from_data_list(graphs), torch.randint(0, 3, (num_graphs,), generator=gen)


@register_level_check("graph")
def check_graph(implementation: str, hparams: dict[str, Any]) -> list[Check]:
    import torch

    from gbench.models.contract import TaskInfo, is_fit_predict

    batch, y = tiny_graph_batch()
    info = TaskInfo(level="graph", target="multiclass", num_features=4, out_dim=3, num_classes=3,
                    extras={"categorical_features": False, "categorical_edges": False})
    model, built = build_checked(implementation, info, hparams)
    if model is None:
        return [built]
    out = [built]
    if is_fit_predict(model):
        graphs = batch.to_data_list()
        try:
            model.fit(graphs, y)
            scores = model.predict(graphs)
        except Exception as e:  # noqa: BLE001 - reported in words
            return out + [Check("fit/predict", False, f"fit(graphs, y) or predict(graphs) raised "
                                                      f"{type(e).__name__}: {e}")]
        shape = tuple(torch.as_tensor(scores).shape)
        return out + [Check("output shape", shape == (6, 3), f"predict(graphs) returned shape {list(shape)}; "
                                                             "expected [num_graphs=6, out_dim=3]")]
    try:
        model.train()
        result = model(batch)
    except AttributeError as e:
        return out + [Check("forward", False, f"model(batch) raised AttributeError: {e}")]
    except Exception as e:  # noqa: BLE001
        return out + [Check("forward", False, f"model(batch) raised {type(e).__name__}: {e}")]
    out.append(Check("forward", True, "model(batch) ran on a batch of 6 graphs"))
    if not isinstance(result, torch.Tensor):
        return out + [Check("output type", False, f"model(batch) returned {type(result).__name__}; expected a "
                                                  "torch.Tensor")]
    ok = tuple(result.shape) == (6, 3)
    out.append(Check("output shape", ok, f"model(batch) returned shape {list(result.shape)}; expected "
                                         "[num_graphs=6, out_dim=3]"))
    finite = result.is_floating_point() and bool(torch.isfinite(result).all())
    out.append(Check("finite", finite, "outputs are finite floats" if finite else "outputs are not finite floats"))
    if not (ok and finite):
        return out
    torch.nn.functional.cross_entropy(result, y).backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in params if p.grad is None]
    out.append(Check("gradients", bool(params) and len(missing) < len(params),
                     "parameters received gradients" if params and not missing else
                     f"{len(missing)} of {len(params)} parameters received no gradient"
                     + (f" (e.g. {missing[0]})" if missing else "")))
    model.eval()
    with torch.no_grad():
        a, b = model(batch), model(batch)
    out.append(Check("eval deterministic", torch.equal(a, b), "two forward passes in eval mode agree"
                     if torch.equal(a, b) else "two forward passes in eval mode differ"))
    return out
