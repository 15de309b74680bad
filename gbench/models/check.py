"""`gbench check-model`: run the model contract on a tiny generated task and say, in words, what is wrong.

Like scikit-learn's `check_estimator`, this is the contract made executable: a user runs it before a long sweep.
Each check returns (name, passed, message); later checks are skipped once the model cannot be built or called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gbench.errors import ModelContractError


@dataclass
class Check:
    name: str
    passed: bool
    message: str


LEVEL_CHECKS: dict[str, Callable[[str, dict[str, Any]], list[Check]]] = {}
# Modules that register the checks of other levels when imported.
LEVEL_CHECK_MODULES: dict[str, str] = {"graph": "gbench.models.check_graph", "link": "gbench.models.check_link"}


def register_level_check(level: str):
    def deco(fn):
        LEVEL_CHECKS[level] = fn
        return fn

    return deco


def check_model(implementation: str, level: str = "node", hparams: dict[str, Any] | None = None) -> list[Check]:
    from gbench.models.contract import load_factory

    if level not in LEVEL_CHECKS and level in LEVEL_CHECK_MODULES:
        import importlib

        importlib.import_module(LEVEL_CHECK_MODULES[level])
    if level not in LEVEL_CHECKS:
        return [Check("level", False, f"no contract checks for level '{level}'; choose one of "
                                      f"{', '.join(sorted(LEVEL_CHECKS))}.")]
    try:
        load_factory(implementation)
    except ModelContractError as e:
        return [Check("import", False, str(e))]
    return [Check("import", True, f"found factory '{implementation}'")] + LEVEL_CHECKS[level](
        implementation, hparams or {})


def tiny_node_task(num_nodes: int = 60, seed: int = 0):
    """A 3-class SBM graph with 5 features, generated in memory (no cache, no download)."""
    from gbench.data.synthetic import generate_sbm
    from gbench.models.contract import ModelInputs

    t = generate_sbm(num_nodes=num_nodes, num_classes=3, avg_degree=4.0, homophily=0.8, degree_exponent=None,
                     feature_dim=5, feature_signal=1.0, seed=seed)
    return ModelInputs(x=t["x"], edge_index=t["edge_index"], num_nodes=num_nodes), t["y"]


@register_level_check("node")
def _check_node(implementation: str, hparams: dict[str, Any]) -> list[Check]:
    import torch

    from gbench.models.contract import TaskInfo, is_fit_predict

    out: list[Check] = []
    inputs, y = tiny_node_task()
    n = inputs.num_nodes
    info = TaskInfo(level="node", target="multiclass", num_features=5, out_dim=3, num_nodes=n, num_classes=3)
    model, built = build_checked(implementation, info, hparams)
    out.append(built)
    if model is None:
        return out

    if is_fit_predict(model):
        train_idx = torch.arange(0, n, 2)
        try:
            model.fit(inputs, y[train_idx], train_idx)
            scores = model.predict(inputs)
        except Exception as e:  # noqa: BLE001 - reported in words
            return out + [Check("fit/predict", False, f"fit() or predict() raised {type(e).__name__}: {e}")]
        ok = isinstance(scores, torch.Tensor) and tuple(scores.shape) == (n, 3)
        out.append(Check("output shape", ok, f"predict(data) returned {_describe(scores)}; expected a tensor of "
                                             f"shape [num_nodes={n}, out_dim=3]"))
        return out

    try:
        model.train()
        result = model(inputs)
    except AttributeError as e:
        hint = "" if "not a model input" in str(e) else "; data holds x, edge_index and num_nodes only"
        return out + [Check("forward", False, f"model(data) raised AttributeError: {e}{hint}")]
    except Exception as e:  # noqa: BLE001
        return out + [Check("forward", False, f"model(data) raised {type(e).__name__}: {e}")]
    out.append(Check("forward", True, "model(data) ran on a 60-node graph"))
    if not isinstance(result, torch.Tensor):
        return out + [Check("output type", False, f"model(data) returned {type(result).__name__}; expected a "
                                                  "torch.Tensor of logits")]
    shape_ok = tuple(result.shape) == (n, 3)
    out.append(Check("output shape", shape_ok, f"model(data) returned shape {list(result.shape)}; expected "
                                               f"[num_nodes={n}, out_dim=3]"))
    out.append(Check("output dtype", result.is_floating_point(),
                     f"output dtype is {result.dtype}; expected a floating-point tensor"))
    out.append(Check("finite", bool(torch.isfinite(result).all()) if result.is_floating_point() else False,
                     "outputs are finite" if result.is_floating_point() and torch.isfinite(result).all()
                     else "outputs contain NaN or infinity"))
    if not (shape_ok and result.is_floating_point()):
        return out
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return out + [Check("gradients", False, "the model has no trainable parameters; return an object with "
                                                "fit() and predict() for a model that does not train by gradient")]
    loss = torch.nn.functional.cross_entropy(result, y)
    loss.backward()
    no_grad = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    out.append(Check("gradients", len(no_grad) < len(params),
                     "every parameter received a gradient" if not no_grad else
                     f"{len(no_grad)} of {len(params)} parameters received no gradient (e.g. {no_grad[0]})"))
    model.eval()
    with torch.no_grad():
        a, b = model(inputs), model(inputs)
    out.append(Check("eval deterministic", torch.equal(a, b),
                     "two forward passes in eval mode agree" if torch.equal(a, b) else
                     "two forward passes in eval mode differ: is dropout or sampling active in eval()?"))
    return out


def build_checked(implementation: str, info, hparams: dict[str, Any]) -> tuple[Any, Check]:
    """Seed, call the factory, and say how it went: (model or None, the 'build' check). Shared by every level."""
    import torch

    from gbench.models.contract import build_model

    torch.manual_seed(0)
    try:
        model = build_model(implementation, info, hparams)
    except ModelContractError as e:
        return None, Check("build", False, str(e))
    return model, Check("build", True, f"factory(info, **{hparams}) returned {type(model).__name__}")


def _describe(obj: Any) -> str:
    import torch

    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {list(obj.shape)}"
    return type(obj).__name__
