"""`gbench check-model`: run the model contract on a tiny generated task and say, in words, what is wrong.

Like scikit-learn's `check_estimator`, this is the contract made executable: a user runs it before a long sweep.
Each check returns (name, passed, message); later checks are skipped once the model cannot be built or called.

The sequence is written once (`run_probe`) for every level: import, build, then either fit/predict and the
output shape, or forward, output type, shape, finite floats, gradients reaching the parameters, two equal passes
in eval mode, and the level's own checks. A level supplies only a `Probe`: its tiny task, how a model is called on
it and what shape comes back (check_node.py, check_graph.py, check_link.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gbench.errors import ModelContractError


@dataclass
class Check:
    name: str
    passed: bool
    message: str


@dataclass
class Probe:
    """One level's tiny task and how a model meets it. Calls get the built model; outputs are torch tensors."""

    info: Any  # gbench.models.contract.TaskInfo handed to the factory
    fit_predict: Callable[[Any], Any]  # fit on the task, return the predicted scores
    fit_predict_call: str  # the calls in words, for an error ("fit() or predict()")
    forward: Callable[[Any], Any]  # one pass in train mode, the outputs the loss is taken on
    forward_call: str  # e.g. "model(data)"
    ran: str  # what a successful pass did, in words
    shape: tuple[int, ...]  # the expected output shape
    shape_words: str  # e.g. "[num_nodes=60, out_dim=3]"
    loss: Callable[[Any], Any]  # outputs -> a scalar loss
    evaluate: Callable[[Any], Any]  # one pass in eval mode under no_grad
    attribute_hint: str = ""  # added to an AttributeError from the forward pass
    interface: Callable[[Any], Check | None] = lambda model: None  # a missing method, before any call
    extra: Callable[[Any, Any], list[Check]] = field(default=lambda model, outputs: [])  # level's own checks


# level -> "module:function" returning that level's Probe; imported only when that level is checked.
PROBES: dict[str, str] = {"node": "gbench.models.check_node:node_probe",
                          "graph": "gbench.models.check_graph:graph_probe",
                          "link": "gbench.models.check_link:link_probe"}


def check_model(implementation: str, level: str = "node", hparams: dict[str, Any] | None = None) -> list[Check]:
    from gbench.models.contract import load_factory

    if level not in PROBES:
        return [Check("level", False, f"no contract checks for level '{level}'; choose one of "
                                      f"{', '.join(sorted(PROBES))}.")]
    try:
        load_factory(implementation)
    except ModelContractError as e:
        return [Check("import", False, str(e))]
    module, _, name = PROBES[level].partition(":")
    probe: Probe = getattr(importlib.import_module(module), name)()
    return [Check("import", True, f"found factory '{implementation}'")] + run_probe(implementation, probe,
                                                                                    hparams or {})


def run_probe(implementation: str, probe: Probe, hparams: dict[str, Any]) -> list[Check]:
    """The contract checks of one model on one level's tiny task, in order, stopping where the next cannot run."""
    import torch

    from gbench.models.contract import is_fit_predict

    model, built = build_checked(implementation, probe.info, hparams)
    out = [built]
    if model is None:
        return out
    if is_fit_predict(model):
        try:
            scores = probe.fit_predict(model)
        except Exception as e:  # noqa: BLE001 - reported in words
            return out + [Check("fit/predict", False, f"{probe.fit_predict_call} raised {type(e).__name__}: {e}")]
        try:
            shape: tuple[int, ...] | None = tuple(torch.as_tensor(scores).shape)
        except (TypeError, ValueError, RuntimeError):
            shape = None
        got = f"shape {list(shape)}" if shape is not None else f"a {type(scores).__name__}"
        return out + [Check("output shape", shape == probe.shape, f"predict returned {got}; expected a tensor of "
                                                                  f"shape {probe.shape_words}")]
    missing = probe.interface(model)
    if missing is not None:
        return out + [missing]
    try:
        model.train()
        result = probe.forward(model)
    except AttributeError as e:
        hint = "" if "not a model input" in str(e) else probe.attribute_hint
        return out + [Check("forward", False, f"{probe.forward_call} raised AttributeError: {e}{hint}")]
    except Exception as e:  # noqa: BLE001
        return out + [Check("forward", False, f"{probe.forward_call} raised {type(e).__name__}: {e}")]
    out.append(Check("forward", True, probe.ran))
    if not isinstance(result, torch.Tensor):
        return out + [Check("output type", False, f"{probe.forward_call} returned {type(result).__name__}; expected "
                                                  "a torch.Tensor of logits")]
    shape_ok = tuple(result.shape) == probe.shape
    out.append(Check("output shape", shape_ok, f"{probe.forward_call} returned shape {list(result.shape)}; "
                                               f"expected {probe.shape_words}"))
    finite = result.is_floating_point() and bool(torch.isfinite(result).all())
    out.append(Check("finite", finite, "outputs are finite floats" if finite else
                     f"outputs are not finite floats (dtype {result.dtype}, or NaN / infinity)"))
    if not (shape_ok and finite):
        return out
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        return out + [Check("gradients", False, "the model has no trainable parameters; return an object with "
                                                "fit() and predict() for a model that does not train by gradient")]
    probe.loss(result).backward()
    no_grad = [n for n, p in params if p.grad is None]
    out.append(Check("gradients", len(no_grad) < len(params),
                     "every parameter received a gradient" if not no_grad else
                     f"{len(no_grad)} of {len(params)} parameters received no gradient (e.g. {no_grad[0]})"))
    model.eval()
    with torch.no_grad():
        a, b = probe.evaluate(model), probe.evaluate(model)
    same = torch.equal(a, b)
    out.append(Check("eval deterministic", same, "two passes in eval mode agree" if same else
                     "two passes in eval mode differ: is dropout or sampling active in eval()?"))
    with torch.no_grad():
        return out + probe.extra(model, a)


def build_checked(implementation: str, info, hparams: dict[str, Any]) -> tuple[Any, Check]:
    """Seed, call the factory, and say how it went: (model or None, the 'build' check)."""
    import torch

    from gbench.models.contract import build_model

    torch.manual_seed(0)
    try:
        model = build_model(implementation, info, hparams)
    except ModelContractError as e:
        return None, Check("build", False, str(e))
    return model, Check("build", True, f"factory(info, **{hparams}) returned {type(model).__name__}")
