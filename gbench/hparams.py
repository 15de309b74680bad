"""Checking a sweep's hyperparameters against the factories that will take them, before any job runs: every key
must be one the factory accepts, and every value one its annotation allows (a Literal's choices, bool, int, float,
str, or one of them or None). A typo or a wrong value is then one sentence and exit 2, not a failure recorded in
every job. Factories that take `**kwargs`, and annotations that are not of those kinds, are left to the factory.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gbench.errors import SpecError

if TYPE_CHECKING:
    from gbench.job import Job
    from gbench.specs import ModelSpec

Overrides = dict[str, dict[str, Any]]  # as gbench.sweep.overrides_from returns


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A clause naming the closest of KNOWN to NAME (" (did you mean 'x'?)"), or an empty string."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _expected(annotation: Any) -> tuple[Callable[[Any], bool], str] | None:
    """(a test of a value, what it should be) for a factory parameter annotated with a Literal, bool, int, float or
    str, or one of them or None; None for any other annotation (not checked: the factory itself decides)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return (lambda v: any(v == a and type(v) is type(a) for a in args)), \
            "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        found = _expected(inner[0]) if len(inner) == 1 else None
        return None if found is None else ((lambda v: v is None or found[0](v)), f"{found[1]} or null")
    simple = {bool: (lambda v: isinstance(v, bool), "true or false"),
              int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
              float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
              str: (lambda v: isinstance(v, str), "a string")}
    return simple.get(annotation)


def _factory_types(factory: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved is not checked
        return {}


def _factory_keywords(implementation: str) -> tuple[set[str] | None, list[str], dict[str, Any]]:
    """(keywords the factory accepts after `info`, None when it takes **kwargs or has no signature; their names;
    their annotations, where they can be resolved)."""
    from gbench.models.contract import load_factory

    factory = load_factory(implementation)  # a missing file, a syntax error or a missing factory: refused here
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None, [], {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None, [], {}
    named = [p.name for p in params[1:] if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                       inspect.Parameter.KEYWORD_ONLY)]
    return set(named), named, _factory_types(factory)


def check_hparams(jobs: Iterable[Job], overrides: Overrides | None = None) -> None:
    """Every job's factory can be imported and accepts every hyperparameter it will be given, with a value of the
    kind its annotation names (a Literal's choices, bool, int, float, str, or one of them or None); else SpecError
    naming the key, where it came from (--set or the model spec) and a did-you-mean."""
    cli = (overrides or {}).get("hparams", {})
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    factories: dict[str, tuple[set[str] | None, list[str], dict[str, Any]]] = {}  # each file imported once
    for job in jobs:
        model = job.model
        key = (model.name, model.implementation, tuple(sorted((k, repr(v)) for k, v in model.hparams.items())))
        if key in seen:
            continue
        seen.add(key)
        if model.implementation not in factories:
            factories[model.implementation] = _factory_keywords(model.implementation)
        accepted, named, annotations = factories[model.implementation]
        if accepted is None:
            continue
        for name, value in model.hparams.items():
            if name in accepted:
                _check_value(model, job.task.id, name, value, annotations.get(name), cli)
                continue
            spec_keys = [k for k in model.hparams if k not in cli]
            hint = did_you_mean(name, named + spec_keys)
            takes = f"it takes {', '.join(named)}" if named else "it takes no hyperparameters"
            if name in cli:
                raise SpecError(f"--set {name}={cli[name]!r}: model '{model.name}' has no hyperparameter '{name}'"
                                f"{hint}; its factory {model.implementation} does not accept it ({takes}).")
            raise SpecError(f"model '{model.name}' on task '{job.task.id}': its spec sets hyperparameter '{name}'"
                            f"{hint}, which its factory {model.implementation} does not accept ({takes}); rename "
                            "it in the spec or add it to the factory's keyword arguments.")
        _check_pe_args(model, job.task.id, cli)


def _check_pe_args(model: ModelSpec, task: str, cli: dict[str, Any]) -> None:
    """A shipped graph model's learned positional encoder (`pe`, `pe_args`): its name, settings and their values,
    which need no data to check, so a typo stops the sweep instead of failing every job."""
    if not model.implementation.startswith("gbench.models.graph:") or model.hparams.get("pe") is None:
        return
    from gbench.models.pe import encoder_settings

    try:
        encoder_settings(model.hparams["pe"], model.hparams.get("pe_args"))
    except ValueError as e:
        where = "--set" if {"pe", "pe_args"} & set(cli) else "its spec"
        raise SpecError(f"model '{model.name}' on task '{task}' ({where}): {str(e).rstrip('.')}.") from None


def _check_value(model: ModelSpec, task: str, name: str, value: Any, annotation: Any, cli: dict[str, Any]) -> None:
    """SpecError when the factory's annotation of `name` says what a value must be and `value` is not that."""
    expected = _expected(annotation) if annotation is not None else None
    if expected is None or expected[0](value):
        return
    choices = [a for a in typing.get_args(annotation) if isinstance(a, str)]
    hint = did_you_mean(value, choices) if isinstance(value, str) and choices else ""
    if isinstance(value, str) and expected[0](_number(value)):
        hint = f" (read as text: YAML takes a number like {value} only with a decimal point, e.g. 1.0e-3)"
    where = (f"--set {name}={cli[name]!r}" if name in cli
             else f"model '{model.name}' on task '{task}': its spec's hyperparameter {name}: {value!r}")
    raise SpecError(f"{where}{hint}: {model.implementation} takes {expected[1]} for '{name}'.")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
