"""The model contract, shared by shipped baselines and a user's candidate.

A factory is called as `factory(info: TaskInfo, **hparams)` and returns either
- a `torch.nn.Module` trained by gradient:
    node level:  `model(data) -> Tensor[num_nodes, out_dim]`
    graph level: `model(batch) -> Tensor[num_graphs, out_dim]`
    link level:  `model.encode(data) -> z`, `model.score(z, pairs: LongTensor[2, P], data) -> Tensor[P]`
- or an object with `fit(...)` and `predict(...)` (heuristics, kernels, label propagation); see each level's
  runner for the arguments.
The model never receives labels or split masks: `data` holds only the inputs the protocol allows.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gbench.data.inputs import ModelInputs  # noqa: F401 - part of the contract's public surface
from gbench.errors import ModelContractError


@dataclass(frozen=True)
class TaskInfo:
    """What a factory may know about the task.

    out_dim: number of classes (multiclass), 1 (binary), number of tasks (multilabel) or targets (regression).
    num_nodes: nodes of the (single) graph for node and link tasks; None for graph-level tasks.
    edge_dim: size of edge features, None when the graph has none.
    extras: level-specific facts. Graph level: `categorical_features` and `categorical_edges` (x / edge_attr
        hold category ids, e.g. OGB atoms and bonds), and what each of the model's transforms added: `lap_pe` and
        `rw_pe` (the encoding's width), `degree_onehot` (its width), `image_size`, `image_channels` and
        `image_layout` (rendered images). Link level: `has_node_features`. Node level: none.
    """

    level: str
    target: str
    num_features: int
    out_dim: int
    num_nodes: int | None = None
    edge_dim: int | None = None
    num_classes: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _load_file_module(path: Path):
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"gbench_candidate_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelContractError(f"{path}: cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ModelContractError(f"{path}: importing it raised {type(e).__name__}: {e}.") from e
    return module


def load_factory(implementation: str):
    """'path/to/file.py:factory' or 'package.module:factory' -> the callable."""
    target, _, attr = implementation.rpartition(":")
    if not target or not attr:
        raise ModelContractError(f"implementation '{implementation}' must be 'path/to/file.py:factory' or "
                                 "'package.module:factory'.")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ModelContractError(f"model file '{target}' does not exist; check the path before ':{attr}'.")
        module = _load_file_module(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise ModelContractError(f"module '{target}' cannot be imported ({e}); is it installed and on "
                                     "PYTHONPATH?") from e
    factory = getattr(module, attr, None)
    if factory is None:
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ModelContractError(f"'{target}' has no attribute '{attr}'; callables there: {', '.join(names[:12])}.")
    if not callable(factory):
        raise ModelContractError(f"'{implementation}' is not callable; it must be a factory "
                                 "`factory(info, **hparams) -> model`.")
    return factory


def is_fit_predict(model: Any) -> bool:
    return callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))


def build_model(implementation: str, info: TaskInfo, hparams: dict[str, Any]):
    """Call the factory, turning the usual mistakes into one sentence each."""
    import torch

    factory = load_factory(implementation)
    try:
        inspect.signature(factory).bind(info, **hparams)
    except TypeError as e:
        raise ModelContractError(f"factory '{implementation}' cannot be called as factory(info, "
                                 f"{', '.join(f'{k}=...' for k in hparams)}): {e}; it must accept the task info "
                                 "first and every hyperparameter of the spec as a keyword.") from None
    except ValueError:
        pass  # builtins without a signature: just call it
    try:
        model = factory(info, **hparams)
    except ModelContractError:
        raise
    except Exception as e:
        raise ModelContractError(f"factory '{implementation}' raised {type(e).__name__}: "
                                 f"{str(e).rstrip('.')}.") from e
    if not isinstance(model, torch.nn.Module) and not is_fit_predict(model):
        raise ModelContractError(f"factory '{implementation}' returned {type(model).__name__}; it must return a "
                                 "torch.nn.Module or an object with fit() and predict().")
    return model


def count_parameters(model: Any) -> int | None:
    """`sum(p.numel())` over all parameters, as the OGB leaderboard counts them; None for non-torch models."""
    import torch

    if isinstance(model, torch.nn.Module):
        return int(sum(p.numel() for p in model.parameters()))
    return None
