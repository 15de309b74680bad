"""Plug-ins: a package adds tasks, models, data sources and transforms to gbench by being installed.

gbench reads Python entry points (`importlib.metadata`), as pytest reads `pytest11`: every process reads them for
itself, so a worker started by `--workers N`, by Ray or by Slurm sees the same plug-ins as the sweep that started
it, as long as the package is installed where the worker runs. Nothing is registered at run time.

- `gbench.tasks`: `name = package` (every `*.yaml` under the package's folder is a task YAML) or
  `name = package.module:attr` (`attr` is a path, file or folder, or a list of paths);
- `gbench.models`: model spec YAMLs, named the same way (a YAML's `implementation` names its factory);
- `gbench.sources`: `name = package.module:load`, the loader of `dataset.source: name`,
  `load(task, ctx) -> NodeTaskData | LinkTaskData | GraphTaskData`;
- `gbench.transforms`: `name = package.module:fn`, the transform `name:args` of a model's `transforms`,
  `fn(graphs, args, ctx, key) -> (graphs, extras)`.

Sources and transforms are imported only when a task or model uses them. The name of a source or transform cannot
be one gbench ships, nor a task id or (level, model name) the catalog has: a clash is an error naming both.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gbench.errors import GbenchError

GROUPS = ("gbench.tasks", "gbench.models", "gbench.sources", "gbench.transforms")
LEVELS = ("node", "link", "graph")


class PluginError(GbenchError):
    """An installed plug-in's entry point cannot be used as declared."""


@functools.lru_cache(maxsize=None)
def entry_points(group: str) -> tuple[importlib.metadata.EntryPoint, ...]:
    """The installed entry points of `group`, sorted by name (read once per process)."""
    return tuple(sorted(importlib.metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value)))


def refresh() -> None:
    """Read the entry points again (after installing a package into a running process)."""
    entry_points.cache_clear()
    _yaml_files.cache_clear()


def _where(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = f" of package '{dist.name}'" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' in group {ep.group}{name}"


def targets(group: str, builtin: dict[str, str]) -> dict[str, str]:
    """Name -> `module:attr` of a registry: `builtin` and, added to it, the entry points of `group`."""
    table = dict(builtin)
    for ep in entry_points(group):
        if ":" not in ep.value:
            raise PluginError(f"{_where(ep)}: expected 'package.module:function'.")
        if ep.name in table and table[ep.name] != ep.value:
            raise PluginError(f"{_where(ep)}: the name '{ep.name}' is taken already (by {table[ep.name]}); "
                              "rename the plug-in's entry point.")
        table[ep.name] = ep.value
    return table


def _paths_of(ep: importlib.metadata.EntryPoint) -> list[Path]:
    """The files and folders an entry point of gbench.tasks or gbench.models names."""
    if ep.attr is None:  # a package: its folder
        spec = importlib.util.find_spec(ep.module)
        if spec is None or not spec.submodule_search_locations:
            raise PluginError(f"{_where(ep)}: '{ep.module}' is not an installed package with a folder of YAML files.")
        return [Path(p) for p in spec.submodule_search_locations]
    try:
        value: Any = ep.load()
    except Exception as e:  # noqa: BLE001 - any import failure of a third-party module is reported as such
        raise PluginError(f"{_where(ep)}: cannot be loaded ({type(e).__name__}: {e}).") from None
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(v, (str, Path)) for v in items):
        raise PluginError(f"{_where(ep)}: expected a path or a list of paths of YAML files or folders, got "
                          f"{type(value).__name__}.")
    return [Path(v) for v in items]


@functools.lru_cache(maxsize=None)
def _yaml_files(group: str) -> tuple[tuple[Path, str], ...]:
    out: list[tuple[Path, str]] = []
    for ep in entry_points(group):
        for path in _paths_of(ep):
            if path.is_dir():
                out += [(p, _where(ep)) for p in sorted(path.rglob("*.y*ml"))]
            elif path.is_file():
                out.append((path, _where(ep)))
            else:
                raise PluginError(f"{_where(ep)}: {path} does not exist.")
    return tuple(out)


def add_tasks(index: dict[str, Path], load_task_file: Callable[[Path], Any]) -> None:
    """Add the installed plug-ins' task YAMLs to the catalog's index (task id -> file), reading each with the
    catalog's `load_task_file` (passed in: the catalog calls this module, never the other way round)."""
    for path, where in _yaml_files("gbench.tasks"):
        spec = load_task_file(path)
        if spec.id in index:
            raise PluginError(f"{path} ({where}): task id '{spec.id}' is already used by {index[spec.id]}.")
        index[spec.id] = path


def add_models(index: dict[tuple[str, str], Path], load_model_file: Callable[[Path], Any]) -> None:
    """Add the installed plug-ins' model spec YAMLs to the catalog's index ((level, name) -> file); a model of
    level `any` is added at every level."""
    for path, where in _yaml_files("gbench.models"):
        spec = load_model_file(path)
        for level in LEVELS if spec.level == "any" else (spec.level,):
            if (level, spec.name) in index:
                raise PluginError(f"{path} ({where}): model '{spec.name}' at level {level} is already defined in "
                                  f"{index[(level, spec.name)]}.")
            index[(level, spec.name)] = path


def describe() -> list[tuple[str, str, str]]:
    """(group, name, target) of every installed gbench entry point, for listing."""
    return [(group, ep.name, ep.value) for group in GROUPS for ep in entry_points(group)]
