"""Problems of a spec, as pydantic error entries built by hand, so that checks outside pydantic's own (a params
table, a transform's arguments) land in the same report as pydantic's, each at its field path."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from gbench.specs.params import TRANSFORM_PARAMS, FreeParams, plugin_params, transform_fields


def problem(loc: tuple[Any, ...], message: str, value: Any = None, kind: str = "gbench") -> dict[str, Any]:
    """One problem at `loc`, its message kept verbatim (no context is given, so braces are not formatted)."""
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def reraise(title: str, problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ValidationError.from_exception_data(title, problems)


def as_problems(err: ValidationError, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """A ValidationError's entries, re-rooted under `prefix`, with pydantic's messages kept."""
    return [_rerooted(e, prefix) for e in err.errors()]


def _rerooted(e: Any, prefix: tuple[Any, ...]) -> dict[str, Any]:
    loc = (*prefix, *e["loc"])
    if e["type"] in ("missing", "extra_forbidden"):
        return {"type": e["type"], "loc": loc, "input": e.get("input")}
    return problem(loc, e["msg"], e.get("input"), e["type"])


def check_params(model: type[BaseModel], data: Any, prefix: tuple[Any, ...], what: str) -> list[dict[str, Any]]:
    """Problems of a free-form `params` mapping against its params model; unknown keys get the allowed list."""
    if data is None:
        data = {}
    try:
        model.model_validate(data)
        return []
    except ValidationError as err:
        out = []
        for e in err.errors():
            if e["type"] == "extra_forbidden":
                key = str(e["loc"][-1])
                allowed = allowed_fields(model, e["loc"][:-1]) or []
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                out.append(problem((*prefix, *e["loc"]), f"is not a parameter of {what}{_under(e['loc'])}; allowed: "
                                   f"{', '.join(allowed) or 'none'}{hint}", e.get("input")))
            else:
                out.append(_rerooted(e, prefix))
        return out


def unknown_name(kind: str, name: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"is not a known {kind}{hint}; known: {', '.join(sorted(known))}"


def transform_problems(items: Any, prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Each `name:arg:...` transform against its params model."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, str):
            continue
        name = item.split(":")[0]
        model = plugin_params(TRANSFORM_PARAMS, "gbench.transforms", name)
        if model is None:
            out.append(problem((*prefix, i), unknown_name("transform", name, list(TRANSFORM_PARAMS))
                               + " (e.g. lap_pe:16)", item))
            continue
        if model is FreeParams:
            continue  # a plug-in transform reads its own arguments
        try:
            _, values = transform_fields(item)
        except ValueError as e:
            out.append(problem((*prefix, i), str(e), item))
            continue
        out += check_params(model, values, (*prefix, i), f"transform '{name}'")
    return out


def _under(loc: tuple[Any, ...]) -> str:
    return f" (in {'.'.join(map(str, loc[:-1]))})" if len(loc) > 1 else ""


def _inner_model(annotation: Any) -> Any:
    """The model class of a field annotated `X` or `X | None`; for `list[X]` or `dict[str, X]`, X wrapped in a
    _Container (its loc has an index or key before the next field name); None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return _Container(inner) if typing.get_origin(annotation) in (list, dict) else inner
    return None


class _Container:
    """Marks a list or dict of models: the next loc part is an index or key, the one after it a field."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model


def allowed_fields(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the (sub-)model at `loc` below `model`, None where the spec is free-form there."""
    current: Any = model
    parts = list(loc)
    while parts:
        if isinstance(current, _Container):
            parts.pop(0)
            current = current.model
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None
