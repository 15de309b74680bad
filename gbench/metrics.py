"""Metric registry. Every number comes from `ogb.Evaluator` or scikit-learn; nothing is re-derived by hand.

Two calling conventions:
- label metrics: `metric(y_true, y_score) -> float`, where `y_score` is what the model returned (logits for
  classification, values for regression); converting logits to class ids is the only thing done here.
- ranking metrics (link prediction): `metric.ranking(pos_scores, neg_scores) -> float`.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gbench.errors import SpecError
from gbench.ogb_import import import_ogb


class MetricRef(Protocol):
    """What names a metric: a spec's `metric` entry (gbench.specs.MetricSpec) or anything shaped like it."""

    name: str
    evaluator: str
    dataset: str | None
    k: int | None


@dataclass(frozen=True)
class Metric:
    """A named metric with its direction. `fn` takes numpy arrays; see the module docstring for shapes."""

    name: str
    higher_is_better: bool
    fn: Callable[..., float]
    kind: str = "labels"  # "labels" or "ranking"

    def __call__(self, y_true: np.ndarray, y_score: np.ndarray) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_score)))

    def ranking(self, pos: np.ndarray, neg: np.ndarray) -> float:
        return float(self.fn(np.asarray(pos), np.asarray(neg)))

    def better(self, a: float, b: float) -> bool:
        """True when `a` is strictly better than `b`."""
        return a > b if self.higher_is_better else a < b


def class_ids(y_score: np.ndarray) -> np.ndarray:
    return y_score.argmax(axis=-1) if y_score.ndim == 2 and y_score.shape[1] > 1 else (y_score.reshape(-1) > 0)


def _flat(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y


# ---- scikit-learn -------------------------------------------------------------------------------------------


def _accuracy(y_true, y_score):
    from sklearn.metrics import accuracy_score

    return accuracy_score(_flat(y_true).astype(np.int64), class_ids(y_score).astype(np.int64))


def _roc_auc(y_true, y_score):
    from sklearn.metrics import roc_auc_score

    y_score = _flat(y_score)
    if y_score.ndim == 2:  # two-column logits for a binary task: the positive class's margin
        y_score = y_score[:, 1] - y_score[:, 0]
    return roc_auc_score(_flat(y_true), y_score)


def _mae(y_true, y_score):
    from sklearn.metrics import mean_absolute_error

    return mean_absolute_error(_flat(y_true), _flat(y_score))


def _mse(y_true, y_score):
    from sklearn.metrics import mean_squared_error

    return mean_squared_error(_flat(y_true), _flat(y_score))


def _f1_macro(y_true, y_score):
    from sklearn.metrics import f1_score

    return f1_score(_flat(y_true).astype(np.int64), class_ids(y_score).astype(np.int64), average="macro")


SKLEARN: dict[str, Metric] = {
    "accuracy": Metric("accuracy", True, _accuracy),
    "roc_auc": Metric("roc_auc", True, _roc_auc),
    "mae": Metric("mae", False, _mae),
    "mse": Metric("mse", False, _mse),
    "f1_macro": Metric("f1_macro", True, _f1_macro),
}


# ---- OGB ------------------------------------------------------------------------------------------------------

_OGB_DIRECTION = {"acc": True, "rocauc": True, "ap": True, "rmse": False, "F1": True, "mrr": True}


# OGB's evaluators are per dataset, but several metrics are the same code for every dataset of a family. A spec may
# name the metric alone (`evaluator: ogb`, no `dataset`) to use OGB's evaluator for it; these datasets' evaluators
# stand in (the dataset only decides the expected input shape and metric name, not the arithmetic).
OGB_GENERIC: dict[str, str] = {
    "acc": "ogbn-arxiv",
    "rocauc": "ogbn-proteins",
    "rmse": "ogbg-molesol",
    "ap": "ogbg-molpcba",
    "mrr": "ogbl-citation2",
    "hits": "ogbl-ddi",
}


def _ogb_dataset(name: str, dataset: str | None) -> str | None:
    if dataset is not None:
        return dataset
    return OGB_GENERIC.get(name.split("@")[0])


def _ogb_dir() -> str:
    spec = importlib.util.find_spec("ogb")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("the 'ogb' package is not installed; install it with `pip install ogb`.")
    return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=None)
def _ogb_master() -> dict[str, tuple[str, str]]:
    """OGB dataset name -> (family, eval metric), read from OGB's own master tables without importing torch."""
    import csv

    out: dict[str, tuple[str, str]] = {}
    for family in ("nodeproppred", "linkproppred", "graphproppred"):
        with open(os.path.join(_ogb_dir(), family, "master.csv"), newline="") as f:
            rows = list(csv.reader(f))
        names = rows[0][1:]
        metric_row = next(r for r in rows if r[0] == "eval metric")
        for name, metric in zip(names, metric_row[1:]):
            out[name] = (family, metric)
    return out


@functools.lru_cache(maxsize=None)
def _ogb_evaluator(dataset: str):
    family, _ = _ogb_master()[dataset]
    return import_ogb(f"ogb.{family}").Evaluator(dataset)


def _ogb_label_metric(dataset: str, metric: str, generic: bool = False) -> Callable[..., float]:
    def fn(y_true, y_score):
        y_true = y_true.reshape(len(y_true), -1)
        if metric == "acc":
            y_pred = class_ids(y_score).reshape(len(y_score), -1)
        else:
            y_pred = y_score.reshape(len(y_score), -1)
        evaluator = _ogb_evaluator(dataset)
        if generic and evaluator.num_tasks != y_true.shape[1]:
            # A stand-in dataset fixes only the expected number of task columns (OGB_GENERIC): take the data's.
            import copy

            evaluator = copy.copy(evaluator)
            evaluator.num_tasks = y_true.shape[1]
        return evaluator.eval({"y_true": y_true, "y_pred": y_pred})[metric]

    return fn


def _ogb_ranking_metric(dataset: str, metric: str, k: int | None) -> Callable[..., float]:
    def fn(pos, neg):
        import torch

        ev = _ogb_evaluator(dataset)
        if metric.startswith("hits@"):
            ev.K = k if k is not None else int(metric.split("@")[1])
            return ev.eval({"y_pred_pos": torch.as_tensor(pos), "y_pred_neg": torch.as_tensor(neg)})[f"hits@{ev.K}"]
        out = ev.eval({"y_pred_pos": torch.as_tensor(pos), "y_pred_neg": torch.as_tensor(neg)})
        return float(out[f"{metric}_list"].float().mean())

    return fn


# ---- registry --------------------------------------------------------------------------------------------------


def is_ogb_dataset(name: str | None) -> bool:
    """True when `name` is a dataset OGB has an evaluator for (read from OGB's master tables, no torch)."""
    return name is not None and name in _ogb_master()


def metric_direction(name: str, evaluator: str = "sklearn", dataset: str | None = None) -> bool:
    """Whether a larger value of the metric is better, as its evaluator defines it. Raises ValueError (one sentence,
    with what is allowed) for a metric no evaluator provides. Cheap: imports no torch."""
    if evaluator == "sklearn":
        if name not in SKLEARN:
            close = difflib.get_close_matches(name, list(SKLEARN), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"metric '{name}' is not a scikit-learn metric gbench knows{hint}; allowed: "
                             f"{', '.join(sorted(SKLEARN))}")
        return SKLEARN[name].higher_is_better
    master = _ogb_master()
    if dataset is None and name.split("@")[0] not in OGB_GENERIC:
        close = difflib.get_close_matches(name, list(OGB_GENERIC), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"metric '{name}' is not one ogb.Evaluator computes for any dataset{hint}; allowed for "
                         f"evaluator 'ogb' without a dataset: {', '.join(sorted(OGB_GENERIC))}")
    resolved = _ogb_dataset(name, dataset)
    if resolved not in master:
        raise ValueError(f"metric '{name}': evaluator 'ogb' needs 'dataset' to be an OGB dataset name, got {dataset!r} "
                         f"(or, without a dataset, a metric OGB evaluates generically: "
                         f"{', '.join(sorted(OGB_GENERIC))})")
    family, official = master[resolved]
    base = name.split("@")[0]
    if name != official and not (family == "linkproppred" and base in ("hits", "mrr")):
        raise ValueError(f"metric '{name}': ogb.Evaluator('{resolved}') computes '{official}', not '{name}'")
    return True if base == "hits" else _OGB_DIRECTION.get(base, True)


def get_metric(spec: MetricRef) -> Metric:
    """The metric a spec names; its direction is the evaluator's. Raises SpecError for a metric none provides."""
    try:
        higher_is_better = metric_direction(spec.name, spec.evaluator, spec.dataset)
    except ValueError as e:
        raise SpecError(f"{e}.") from None
    if spec.evaluator == "sklearn":
        return SKLEARN[spec.name]
    dataset = _ogb_dataset(spec.name, spec.dataset)
    family, _ = _ogb_master()[dataset]
    base = spec.name.split("@")[0]
    if family == "linkproppred" and base in ("hits", "mrr"):
        return Metric(spec.name, True, _ogb_ranking_metric(dataset, base if base == "mrr" else spec.name, spec.k),
                      kind="ranking")
    return Metric(spec.name, higher_is_better,
                  _ogb_label_metric(dataset, spec.name, generic=spec.dataset is None))
