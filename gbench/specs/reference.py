"""The spec reference, written from the pydantic models so that it cannot drift from what the loader accepts.

`gbench schema task|model|suite` prints one part; `gbench schema` prints all of it, which is
docs/spec-reference.md (a test checks that the committed file is this text).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from gbench.specs.params import PROTOCOL_PARAMS, SOURCE_PARAMS, SPLIT_PARAMS, TRANSFORM_PARAMS
from gbench.specs.schema import ModelSpec, SuiteSpec, TaskSpec

PARTS = ("task", "model", "suite")


def type_name(annotation: Any) -> str:
    """`int | None` -> 'int or null', Literal['a', 'b'] -> "'a' \\| 'b'", list[X] -> 'list of X'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True) or "(defaults)"
    if value is None:
        return "null"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`" if value not in ({}, []) else f"`{value!r}`"


def _limits(field: Any) -> str:
    words = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="),
                           ("max_length", "length <="), ("pattern", "matches")):
            value = getattr(meta, attr, None)
            if value is not None:
                words.append(f"{sign} {value}")
    return f" ({', '.join(words)})" if words else ""


def model_table(model: type[BaseModel]) -> str:
    """One model as a Markdown section: its docstring and a table of field, type, default and meaning."""
    doc = " ".join((model.__doc__ or "").split())
    lines = [f"### {model.__name__}", ""]
    if doc and not doc.startswith("Base of every"):
        lines += [doc, ""]
    if not model.model_fields:
        return "\n".join([*lines, "No parameters.", ""])
    lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {type_name(field.annotation)}{_limits(field)} | {_default(field)} | {meaning} |")
    return "\n".join([*lines, ""])


def _nested(model: type[BaseModel], seen: list[type[BaseModel]]) -> list[type[BaseModel]]:
    """`model` and every model its fields hold, depth first, each once."""
    if model in seen:
        return seen
    seen.append(model)
    for field in model.model_fields.values():
        for sub in _models_in(field.annotation):
            _nested(sub, seen)
    return seen


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _tables(models: list[type[BaseModel]], done: list[type[BaseModel]]) -> list[str]:
    """The tables of `models` not yet in `done` (each model is documented once per reference)."""
    fresh = [m for m in models if m not in done]
    done.extend(fresh)
    return [model_table(m) for m in fresh]


def _params_section(heading: str, intro: str, table: dict[str, Any], done: list[type[BaseModel]]) -> list[str]:
    out = [f"## {heading}", "", intro, ""]
    documented: list[type[BaseModel]] = []
    for key, model in table.items():
        out.append(f"- `{key}`: " + ", ".join(f"{lvl}: [{m.__name__}](#{m.__name__.lower()})"
                                                for lvl, m in model.items()) if isinstance(model, dict)
                   else f"- `{key}`: [{model.__name__}](#{model.__name__.lower()})")
        for m in model.values() if isinstance(model, dict) else [model]:
            for sub in _nested(m, []):
                if sub not in documented:
                    documented.append(sub)
    out.append("")
    return out + _tables(documented, done)


def _task(done: list[type[BaseModel]]) -> list[str]:
    out = ["## Task spec (`tasks/**.yaml`, or a user's own file given by path)", "",
           "A catalog task must state `version`; a user's own file may leave it out (1). `higher_is_better`, "
           "`metric.dataset` (when it equals an OGB `dataset.name`) and a structural task's `dataset.params.task` "
           "are filled in from what the spec already says.", ""]
    out += _tables(_nested(TaskSpec, []), done)
    out += _params_section("Dataset sources (`dataset.params`)", "Keyed by `dataset.source`.", SOURCE_PARAMS, done)
    out += _params_section("Split kinds (`split.params`)", "Keyed by `split.kind`, then by the task's level.",
                           SPLIT_PARAMS, done)
    out += _params_section("Level protocols (`protocol.params`)", "Keyed by the task's `level`.", PROTOCOL_PARAMS,
                           done)
    return out


def _model(done: list[type[BaseModel]]) -> list[str]:
    out = ["## Model spec (`baselines/**.yaml`, or a user's candidate)", ""]
    out += _tables(_nested(ModelSpec, []), done)
    out += _params_section("Transforms (`transforms: [name:arg:...]`)", "The words after the name fill the "
                           "transform's fields in order, e.g. `lap_pe:16` or `render:kk:64`.", TRANSFORM_PARAMS,
                           done)
    return out


def _suite(done: list[type[BaseModel]]) -> list[str]:
    return ["## Suite spec (`tasks/suites/*.yaml`)", "", *_tables(_nested(SuiteSpec, []), done)]


def spec_reference(part: str | None = None) -> str:
    """The reference for one part ('task', 'model' or 'suite') or, with None, all of them (Markdown)."""
    makers = {"task": _task, "model": _model, "suite": _suite}
    parts = PARTS if part is None else (part,)
    lines = ["# Spec reference", "",
             "Every field a task, model or suite spec may hold: its type, default and meaning. Generated from the "
             "pydantic models in `gbench/specs/` by `gbench schema > docs/spec-reference.md`; do not edit by hand.",
             ""] if part is None else []
    done: list[type[BaseModel]] = []
    for p in parts:
        lines += makers[p](done)
    return "\n".join(lines).rstrip() + "\n"
