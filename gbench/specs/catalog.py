"""Reading spec files and finding specs by name: the catalog of tasks/, baselines/ and tasks/suites/.

Whatever a file holds (bytes that are not UTF-8, YAML that is a list, a number where a mapping belongs), loading
it either returns a valid spec or raises SpecError naming the file and every problem in it.
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gbench import plugins
from gbench.errors import SpecError
from gbench.specs.problems import allowed_fields
from gbench.specs.schema import ModelSpec, SuiteSpec, TaskSpec

# ---------------------------------------------------------------------------------------------------------------
# Error reporting


def _describe(model: Any, e: dict[str, Any]) -> str:
    loc = tuple(e["loc"])
    kind = e["type"]
    if kind == "extra_forbidden":
        allowed = allowed_fields(model, loc[:-1]) or []
        close = difflib.get_close_matches(str(loc[-1]) if loc else "", allowed, n=1)
        text = "is not a known field"
        if allowed:
            text += f"; allowed: {', '.join(allowed)}"
        return text + (f"; did you mean '{close[0]}'?" if close else "")
    if kind == "missing":
        return "is required but missing"
    msg = e["msg"]
    if kind == "literal_error" or "Input should be '" in msg:
        choices = re.findall(r"'([^']*)'", e.get("ctx", {}).get("expected", "") or msg)
        got = e.get("input")
        close = difflib.get_close_matches(str(got), choices, n=1) if isinstance(got, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{msg} (got {_short(got)}{hint})"
    if kind != "gbench" and "input" in e and not isinstance(e["input"], dict):
        return f"{msg} (got {_short(e['input'])})"
    return msg


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_problems(where: Path | str, err: ValidationError, model: Any = None) -> str:
    """Every problem of a spec, each with its dotted field path: one line for one problem, a list for several."""
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"field '{field}' {_describe(model, e)}")
    if len(lines) == 1:
        return f"{where}: {lines[0]}."
    return f"{where}: {len(lines)} problems:\n" + "\n".join(f"  - {line};" for line in lines[:-1]) + \
        f"\n  - {lines[-1]}."


# ---------------------------------------------------------------------------------------------------------------
# Loading


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a spec file holds, or SpecError naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(f"{path}: cannot be read ({e.strerror or e}); check the path.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: is not UTF-8 text (byte {e.start}); save the spec as UTF-8 YAML.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}: is not valid YAML{where}; fix the syntax.") from None
    except RecursionError:
        raise SpecError(f"{path}: nests too deeply to be a spec.") from None
    if not isinstance(data, dict):
        got = {type(None): "empty", list: "a list", str: "text", bool: "a boolean", int: "a number",
               float: "a number"}.get(type(data), f"a {type(data).__name__}")
        raise SpecError(f"{path}: must be a YAML mapping of fields, but the document is {got}.")
    return data


def parse(kind: type[BaseModel], data: Any, where: Path | str, **context: Any) -> Any:
    try:
        return kind.model_validate(data, context=context or None)
    except ValidationError as e:
        raise SpecError(format_problems(where, e, kind)) from None
    except RecursionError:
        raise SpecError(f"{where}: nests too deeply to be a spec.") from None


def load_task_file(path: str | Path, catalog: bool = False) -> TaskSpec:
    """A task spec file; a catalog task must state its `version`, a user's own may leave it at 1."""
    path = Path(path)
    return parse(TaskSpec, read_yaml(path), path, catalog=catalog)


def load_model_file(path: str | Path) -> ModelSpec:
    """A model spec; a relative `file.py:factory` implementation is taken relative to the YAML's folder."""
    path = Path(path)
    spec = parse(ModelSpec, read_yaml(path), path)
    target, _, attr = spec.implementation.rpartition(":")
    if target.endswith(".py") and not Path(target).is_absolute():
        spec = spec.model_copy(update={"implementation": f"{(path.parent / target).resolve()}:{attr}"})
    return spec


def load_suite_file(path: str | Path) -> SuiteSpec:
    path = Path(path)
    return parse(SuiteSpec, read_yaml(path), path)


# ---------------------------------------------------------------------------------------------------------------
# Catalog


def catalog_root() -> Path:
    """The folder holding `tasks/` and `baselines/`: the checkout for an editable install, else the wheel's copy."""
    env = os.environ.get("GBENCH_CATALOG")
    if env:
        return Path(env)
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg.parent, pkg / "_catalog"):
        if (candidate / "tasks").is_dir() and (candidate / "baselines").is_dir():
            return candidate
    raise SpecError(f"no task catalog found beside {pkg}; reinstall gbench or set GBENCH_CATALOG to a checkout.")


def _looks_like_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or os.sep in ref


@lru_cache(maxsize=4)
def _task_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted((root / "tasks").rglob("*.yaml")):
        if "suites" in path.relative_to(root / "tasks").parts:
            continue
        spec = load_task_file(path, catalog=True)
        if spec.id in index:
            raise SpecError(f"{path}: task id '{spec.id}' is already used by {index[spec.id]}; ids must be unique.")
        index[spec.id] = path
    # Installed packages' tasks (entry point group gbench.tasks) are shipped tasks too: their version is required.
    plugins.add_tasks(index, lambda p: load_task_file(p, catalog=True))
    return index


@lru_cache(maxsize=4)
def _model_index(root: Path) -> dict[tuple[str, str], Path]:
    index: dict[tuple[str, str], Path] = {}
    for path in sorted((root / "baselines").rglob("*.yaml")):
        spec = load_model_file(path)
        key = (spec.level, spec.name)
        if key in index:
            raise SpecError(f"{path}: model '{spec.name}' at level {spec.level} is already defined in {index[key]}.")
        index[key] = path
    plugins.add_models(index, load_model_file)  # installed packages' models (entry point group gbench.models)
    return index


@lru_cache(maxsize=4)
def _suite_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted((root / "tasks" / "suites").glob("*.yaml")):
        index[load_suite_file(path).id] = path
    return index


def _unknown(kind: str, name: str, known: list[str]) -> SpecError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return SpecError(f"unknown {kind} '{name}'{hint}; known {kind}s: {', '.join(sorted(known))}.")


def task_ids() -> list[str]:
    return sorted(_task_index(catalog_root()))


def load_task(ref: str) -> TaskSpec:
    """A catalog task id (`cora`) or the path of a user's task YAML."""
    if _looks_like_path(ref):
        return load_task_file(ref)
    index = _task_index(catalog_root())
    if ref not in index:
        raise _unknown("task", ref, list(index))
    return load_task_file(index[ref], catalog=True)


def task_path(task_id: str) -> Path | None:
    return _task_index(catalog_root()).get(task_id)


def model_names(level: str | None = None) -> list[str]:
    return sorted({name for (lvl, name) in _model_index(catalog_root()) if level in (None, lvl)})


def model_entries() -> list[tuple[str, str, Path]]:
    return [(lvl, name, p) for (lvl, name), p in sorted(_model_index(catalog_root()).items())]


def load_model(name: str, level: str) -> ModelSpec:
    """A shipped baseline by name for a task level, or a model spec YAML path."""
    if _looks_like_path(name):
        spec = load_model_file(name)
        if spec.level not in ("any", level):
            raise SpecError(f"{name}: model '{spec.name}' is for level {spec.level}, not {level}.")
        return spec
    index = _model_index(catalog_root())
    if (level, name) not in index:
        known = [n for (lvl, n) in index if lvl == level]
        if any(n == name for (_, n) in index):
            raise SpecError(f"model '{name}' has no {level}-level implementation; {level}-level models: "
                            f"{', '.join(sorted(known))}.")
        raise _unknown(f"{level}-level model", name, known)
    return load_model_file(index[(level, name)])


def has_model(name: str, level: str) -> bool:
    return (level, name) in _model_index(catalog_root())


def suite_ids() -> list[str]:
    return sorted(_suite_index(catalog_root()))


def load_suite(ref: str) -> SuiteSpec:
    if _looks_like_path(ref):
        return load_suite_file(ref)
    index = _suite_index(catalog_root())
    if ref not in index:
        raise _unknown("suite", ref, list(index))
    return load_suite_file(index[ref])


def candidate_spec(ref: str) -> ModelSpec:
    """A user's model given as `path/to/file.py:factory`, `package.module:factory` or a model spec YAML."""
    if ref.endswith((".yaml", ".yml")):
        spec = load_model_file(ref)
        return spec.model_copy(update={"candidate": True})
    if ":" not in ref:
        raise SpecError(f"--model '{ref}': expected 'path/to/file.py:factory', 'package.module:factory' "
                        "or a model spec .yaml file.")
    target, factory = ref.rsplit(":", 1)
    stem = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
    return parse(ModelSpec, {"name": f"{stem}.{factory}", "implementation": ref, "candidate": True}, f"--model '{ref}'")
