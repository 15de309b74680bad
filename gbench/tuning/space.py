"""A model spec's search space (`gbench.specs.SearchSpec`) as Optuna sees it: distributions and samplers.

Every sampler is seeded, so the same tune asks for the same configurations in the same order. Optuna's grid
sampler ends a study by calling `Study.stop()` after the last grid point, which only works inside
`Study.optimize`; gbench drives studies through ask and tell (each trial is an ordinary job run by an executor),
stops at the grid's size itself, and so uses the grid sampler without that call.
"""

from __future__ import annotations

from typing import Any

SAMPLERS = ("grid", "random", "tpe")


def distributions(search) -> dict[str, Any]:
    """name -> an Optuna distribution, one per dimension of the space (the names are `--set` keys)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, domain in search.space.items():
        if domain.kind == "grid":
            out[name] = CategoricalDistribution(list(domain.values))
        elif domain.kind == "uniform":
            out[name] = FloatDistribution(float(domain.low), float(domain.high))
        elif domain.kind == "loguniform":
            out[name] = FloatDistribution(float(domain.low), float(domain.high), log=True)
        elif domain.kind == "int":
            out[name] = IntDistribution(int(domain.low), int(domain.high), log=bool(getattr(domain, "log", False)))
        else:  # pragma: no cover - the spec's types allow no other kind
            raise ValueError(f"unknown search domain kind {domain.kind!r}")
    return out


def _grid_sampler_class():
    from optuna.samplers import GridSampler

    class AskTellGridSampler(GridSampler):
        """Optuna's grid sampler, without its `Study.stop()` after the last point (see the module docstring)."""

        def after_trial(self, study, trial, state, values) -> None:  # noqa: D401 - Optuna's hook
            return None

    return AskTellGridSampler


def make_sampler(kind: str, search, seed: int):
    """A seeded Optuna sampler: 'grid' (every point of an all-grid space once, in a seeded order), 'random'
    (independent draws) or 'tpe' (Optuna's tree-structured Parzen estimator, its default settings)."""
    import optuna

    if kind == "grid":
        return _grid_sampler_class()({k: list(d.values) for k, d in search.space.items()}, seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"unknown sampler {kind!r}")


def compact(params: dict[str, Any]) -> str:
    """{'hidden': 64, 'optim.lr': 0.01} -> 'hidden=64, optim.lr=0.01' (floats to 4 significant digits)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(params.items()))
