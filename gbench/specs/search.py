"""A model's search space (`search:` in a model spec): which hyperparameters, optimiser and train settings a tune
may vary, over which values, and where the space comes from.

In YAML each entry of `space` is one domain:

- a grid, a non-empty list of distinct scalars: `hidden: [32, 64]`, `readout: [sum, mean]`, `train_eps: [true, false]`;
- `{uniform: [lo, hi]}`: a float drawn uniformly from [lo, hi];
- `{loguniform: [lo, hi]}`: a float drawn uniformly in log space (lo > 0);
- `{int: [lo, hi]}`: an integer in [lo, hi], both ends included; `{int: [lo, hi], log: true}` draws it in log space
  (lo >= 1).

Keys follow `--set`: a bare name is a model hyperparameter (`hidden`), `optim.<field>` an OptimSpec field
(`optim.lr`), `train.<field>` a TrainSpec field (`train.batch_size`). Every grid value and every bound of an optim or
train setting is checked against that field's own type and limits when the spec loads, so a space never offers a
value the run would refuse. The space is not part of a job's identity: a trial's job id hashes the configuration
it runs, as any job's does.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from gbench.errors import SpecError
from gbench.specs.problems import as_problems, problem, reraise

Scalar = str | bool | int | float | None
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DISTRIBUTIONS = ("uniform", "loguniform", "int")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridDomain(_Strict):
    """A grid, written as a YAML list of distinct scalars: `[16, 64, 128]`, `[sum, mean]`, `[true, false]`."""

    kind: Literal["grid"] = Field(default="grid", description="always 'grid'")
    values: list[Scalar] = Field(description="the values, in the order written")

    def describe(self) -> str:
        return "{" + ",".join(_fmt(v) for v in self.values) + "}"


class UniformDomain(_Strict):
    """A float drawn uniformly from [low, high], written `{uniform: [low, high]}`."""

    kind: Literal["uniform"] = Field(default="uniform", description="always 'uniform'")
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound, > low")

    @property
    def log(self) -> bool:
        return False

    def describe(self) -> str:
        return f"uniform[{_fmt(self.low)},{_fmt(self.high)}]"


class LogUniformDomain(_Strict):
    """A float drawn uniformly in log space from [low, high], written `{loguniform: [low, high]}` (low > 0)."""

    kind: Literal["loguniform"] = Field(default="loguniform", description="always 'loguniform'")
    low: float = Field(gt=0, description="lower bound, > 0")
    high: float = Field(description="upper bound, > low")

    @property
    def log(self) -> bool:
        return True

    def describe(self) -> str:
        return f"loguniform[{_fmt(self.low)},{_fmt(self.high)}]"


class IntDomain(_Strict):
    """An integer in [low, high], both ends included, written `{int: [low, high]}`; with `log: true` drawn in log
    space (low >= 1)."""

    kind: Literal["int"] = Field(default="int", description="always 'int'")
    low: int = Field(description="lower bound, included")
    high: int = Field(description="upper bound, included, > low")
    log: bool = Field(default=False, description="draw in log space")

    def describe(self) -> str:
        return f"int{'-log' if self.log else ''}[{self.low},{self.high}]"


# Each domain has its own `kind` literal, so the union picks the right one without a discriminator (which would
# hide the domain models from the spec reference).
Domain = GridDomain | UniformDomain | LogUniformDomain | IntDomain


class SearchSpec(_Strict):
    """What a tune may vary: each key of `space` (as `--set` writes it: `hidden`, `optim.lr`, `train.batch_size`)
    maps to a grid (a YAML list: `[32, 64]`) or a distribution (`{uniform: [lo, hi]}`, `{loguniform: [lo, hi]}`,
    `{int: [lo, hi]}` with optional `log: true`). Optim and train values are checked against those fields' own
    types and limits. Not part of the job identity: each trial's job id hashes the configuration it runs."""

    space: dict[str, Domain] = Field(description="setting -> grid (a list of values) or {uniform|loguniform|int: "
                                     "[lo, hi]}; a bare name is a hyperparameter, optim.X / train.X those settings")
    width: str | None = Field(default=None, description="the hyperparameter that sets the model's width, solved "
                              "for by --param-budget (a bare hyperparameter name)")
    source: str | None = Field(default=None, description="where the space comes from (a short citation), or "
                               "'chosen by gbench: <why>' where none is published")

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler: Any) -> SearchSpec:
        problems: list[dict[str, Any]] = []
        if isinstance(data, dict) and isinstance(data.get("space"), dict):
            space: dict[str, Any] = {}
            for key, raw in data["space"].items():
                domain, found = _domain(str(key), raw)
                problems += found
                if domain is not None:
                    space[key] = domain
                elif not found:
                    space[key] = raw
            if not data["space"]:
                problems.append(problem(("space",), "is empty; give at least one setting to search, e.g. "
                                        "{hidden: [32, 64]}", data["space"]))
            data = {**data, "space": space}
        width = data.get("width") if isinstance(data, dict) else None
        if isinstance(width, str) and not _NAME.match(width):
            problems.append(problem(("width",), f"must be a bare hyperparameter name such as 'hidden', got "
                                    f"'{width}'; optim and train settings do not set a model's width", width))
            data = {**data, "width": None}
        spec = None
        try:
            spec = handler(data)
        except ValidationError as err:
            problems += as_problems(err)
        reraise(cls.__name__, problems)
        return spec

    # -----------------------------------------------------------------------------------------------------------

    def is_grid(self) -> bool:
        """True when every domain is a grid (the space has finitely many points)."""
        return all(isinstance(d, GridDomain) for d in self.space.values())

    def grid_size(self) -> int | None:
        """The number of points of an all-grid space (the product of the grid lengths); None with a distribution."""
        if not self.is_grid():
            return None
        return math.prod(len(d.values) for d in self.space.values())  # type: ignore[union-attr]

    def grid_values(self) -> dict[str, list[Any]]:
        """`{key: [values]}` of an all-grid space, in the space's order (what optuna's GridSampler takes)."""
        if not self.is_grid():
            raise SpecError("the search space has a distribution, so it has no finite list of grid points; "
                            "sample it instead.")
        return {k: list(d.values) for k, d in self.space.items()}  # type: ignore[union-attr]

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point of an all-grid space, as `{key: value}`: keys in the order the space lists them, values in
        the order each grid lists them, the last key varying fastest (itertools.product's order)."""
        grids = self.grid_values()
        return [dict(zip(grids, combo, strict=True)) for combo in itertools.product(*grids.values())]

    def overrides(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A chosen point `{'hidden': 64, 'optim.lr': 0.01}` -> `{'hparams': {'hidden': 64}, 'optim': {'lr': 0.01},
        'train': {}}`, the shape `gbench.sweep.overrides_from` returns and `resolve_model` takes."""
        return split_key_values(params)

    def describe(self) -> str:
        """One line for a leaderboard: `hidden∈{32,64} × optim.lr∈{0.01,0.001} (4 points)`."""
        parts = [f"{k}∈{d.describe()}" if isinstance(d, GridDomain) else f"{k}~{d.describe()}"
                 for k, d in self.space.items()]
        size = self.grid_size()
        tail = f" ({size} point{'s' if size != 1 else ''})" if size is not None else ""
        return " × ".join(parts) + tail


def split_key_values(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`{'hidden': 64, 'optim.lr': 0.01, 'train.epochs': 5}` -> the three groups hparams, optim, train."""
    out: dict[str, dict[str, Any]] = {"hparams": {}, "optim": {}, "train": {}}
    for key, value in params.items():
        group, _, name = str(key).partition(".")
        group, name = (group, name) if name else ("hparams", group)
        if group not in out:
            raise SpecError(f"search point '{key}': group '{group}' is not one of optim, train; a bare name is a "
                            "hyperparameter.")
        out[group][name] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# Checking one entry


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


_GROUP_MODELS: dict[str, type[BaseModel]] = {}


def register_groups(**models: type[BaseModel]) -> None:
    """The models whose fields `optim.X` and `train.X` name (OptimSpec and TrainSpec): schema registers them when
    it defines them, since it imports this module for ModelSpec.search."""
    _GROUP_MODELS.update(models)


def _group_fields() -> dict[str, dict[str, Any]]:
    """The searchable fields of each group: name -> pydantic FieldInfo (fields holding a model are not)."""
    return {group: {name: f for name, f in model.model_fields.items() if not _holds_model(f.annotation)}
            for group, model in _GROUP_MODELS.items()}


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(a) for a in typing.get_args(annotation))


def _base_types(annotation: Any) -> set[Any]:
    """The types a field takes, None left out: {int}, {float}, {str} for a Literal of strings."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_base_types(a) for a in typing.get_args(annotation)))
    if origin is Literal:
        return {type(a) for a in typing.get_args(annotation)}
    return set() if annotation is type(None) else {annotation}


def _field_for(key: str) -> tuple[Any, list[dict[str, Any]]]:
    """The FieldInfo an optim/train key names (None for a bare hyperparameter), or the problem with the key."""
    loc = ("space", key)
    group, dot, name = key.partition(".")
    if not dot:
        if not _NAME.match(key):
            return None, [problem(loc, "is not a setting name; a bare name such as 'hidden' is a hyperparameter, "
                                  "optim.X and train.X are those settings", key)]
        return None, []
    fields = _group_fields()
    if group not in fields:
        hint = f"; to search the hyperparameter write the bare name '{name}'" if group == "hparams" else ""
        return None, [problem(loc, f"starts with '{group}', which is not one of optim, train (a bare name is a "
                              f"hyperparameter){hint}", key)]
    if name not in fields[group]:
        every = list(_GROUP_MODELS[group].model_fields)
        close = difflib.get_close_matches(name, list(fields[group]), n=1)
        hint = f" (did you mean '{group}.{close[0]}'?)" if close else ""
        article = "an" if group == "optim" else "a"
        what = "is not searchable (only plain values are)" if name in every else \
            f"is not {article} {group} setting{hint}"
        return None, [problem(loc, f"{what}; searchable {group} settings: "
                              f"{', '.join(f'{group}.{n}' for n in fields[group])}", key)]
    return fields[group][name], []


def _checked_value(key: str, field: Any, value: Any, what: str) -> tuple[Any, str | None]:
    """`value` validated against the optim/train field (its type and limits), or the sentence that refuses it."""
    if field is None:
        return value, None
    try:
        kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        return TypeAdapter(kind).validate_python(value), None
    except ValidationError as err:
        reason = err.errors()[0]["msg"]
        reason = reason[0].lower() + reason[1:] if reason else reason
        return None, f"has {what} {_fmt(value)}, which is not a valid {key} ({reason})"


def _domain(key: str, raw: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One YAML entry -> the domain's fields, or its problems (each at `space.<key>`)."""
    loc = ("space", key)
    field, problems = _field_for(key)
    if problems:
        return None, problems
    if isinstance(raw, (GridDomain, UniformDomain, LogUniformDomain, IntDomain)):
        raw = raw.model_dump()
    if isinstance(raw, dict) and "kind" in raw:
        # Already in the validated form (a spec built in Python or re-validated): bring it back to the YAML form.
        raw = list(raw.get("values", [])) if raw["kind"] == "grid" else \
            {raw["kind"]: [raw.get("low"), raw.get("high")], **({"log": raw["log"]} if raw.get("log") else {})}
    if isinstance(raw, list):
        return _grid(key, field, raw)
    if isinstance(raw, dict):
        return _distribution(key, field, raw)
    return None, [problem(loc, "must be a grid (a non-empty list such as [32, 64]) or a distribution "
                          f"({{uniform|loguniform|int: [lo, hi]}}), got {_fmt(raw)}", raw)]


def _grid(key: str, field: Any, raw: list[Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    loc = ("space", key)
    if not raw:
        return None, [problem(loc, "is an empty grid; list at least one value, e.g. [32, 64]", raw)]
    values, seen, out = [], set(), []
    for value in raw:
        if isinstance(value, (list, dict)):
            out.append(problem(loc, f"holds {value!r}, which is not a scalar; a grid lists numbers, strings, "
                               "booleans or null", raw))
            continue
        checked, why = _checked_value(key, field, value, "grid value")
        if why:
            out.append(problem(loc, why, raw))
            continue
        mark = (type(checked), checked)
        if mark in seen:
            out.append(problem(loc, f"lists {_fmt(checked)} twice; a grid lists each value once", raw))
            continue
        seen.add(mark)
        values.append(checked)
    return (None if out else {"kind": "grid", "values": values}), out


def _distribution(key: str, field: Any, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    loc = ("space", key)
    kinds = [k for k in raw if k in _DISTRIBUTIONS]
    extra = [str(k) for k in raw if k not in _DISTRIBUTIONS and k != "log"]
    if len(kinds) != 1 or extra:
        close = difflib.get_close_matches(extra[0], _DISTRIBUTIONS, n=1) if extra else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return None, [problem(loc, f"must name exactly one distribution, uniform, loguniform or int, as "
                              f"{{loguniform: [0.0001, 0.1]}}{hint}; got keys {', '.join(map(str, raw))}", raw)]
    kind = kinds[0]
    if "log" in raw and (kind != "int" or not isinstance(raw["log"], bool)):
        return None, [problem(loc, "takes 'log: true|false' only with an int distribution ({int: [lo, hi], log: "
                              "true}); loguniform is the log-scale float", raw)]
    bounds = raw[kind]
    numeric = (int,) if kind == "int" else (int, float)
    if not (isinstance(bounds, list) and len(bounds) == 2
            and all(isinstance(b, numeric) and not isinstance(b, bool) for b in bounds)):
        what = "integers" if kind == "int" else "numbers"
        return None, [problem(loc, f"needs two {what} in {{{kind}: [lo, hi]}}, got {bounds!r}", raw)]
    low, high = bounds
    log = bool(raw.get("log", False))
    if not low < high:
        return None, [problem(loc, f"needs lo < hi in {{{kind}: [lo, hi]}}, got [{_fmt(low)}, {_fmt(high)}]", raw)]
    if kind == "loguniform" and low <= 0:
        return None, [problem(loc, f"needs lo > 0 in {{loguniform: [lo, hi]}} (it is drawn in log space), got "
                              f"{_fmt(low)}", raw)]
    if kind == "int" and log and low < 1:
        return None, [problem(loc, f"needs lo >= 1 in {{int: [lo, hi], log: true}} (it is drawn in log space), "
                              f"got {low}", raw)]
    if field is not None:
        takes = _base_types(field.annotation)
        if kind != "int" and float not in takes:
            fix = "give {int: [lo, hi]} or a grid" if int in takes else "give a grid of its values"
            return None, [problem(loc, f"is not a float setting, so it cannot be drawn from {kind}; {fix}", raw)]
        if kind == "int" and not takes & {int, float}:
            return None, [problem(loc, "is not a number setting, so it cannot be drawn from int; give a grid of "
                                  "its values", raw)]
        for bound in (low, high):
            _, why = _checked_value(key, field, bound, "bound")
            if why:
                return None, [problem(loc, why, raw)]
    fields: dict[str, Any] = {"kind": kind, "low": low, "high": high}
    if kind == "int":
        fields["log"] = log
    return fields, []
