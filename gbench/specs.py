"""Task, model and suite specs: YAML files validated by pydantic, and the catalog that finds them.

A spec is data, not code: what a reader of a paper needs to reproduce a number. Anything that can change a number
is a field here, and every field ends up in the job identity and in the run record.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gbench import plugins
from gbench.errors import SpecError

Level = Literal["node", "link", "graph"]
Target = Literal["multiclass", "binary", "multilabel", "regression"]
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """Where the graph comes from: a registered data source, a dataset name and source-specific parameters."""

    source: str = Field(description="registered data source, see `gbench.data.SOURCES`")
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class SplitSpec(_Strict):
    """How nodes, edges or graphs are split. `kind` says whose split it is; `params` holds its parameters."""

    kind: Literal["public", "official", "random", "kfold", "scale", "generated"]
    params: dict[str, Any] = Field(default_factory=dict)
    # Names of the evaluation splits reported on the leaderboard; the first is the headline number.
    test_splits: list[str] = Field(default_factory=lambda: ["test"])


class MetricSpec(_Strict):
    """One metric, computed by a named evaluator (`ogb.Evaluator` or scikit-learn), never by hand."""

    name: str
    evaluator: Literal["sklearn", "ogb"] = "sklearn"
    dataset: str | None = Field(default=None, description="OGB dataset whose evaluator to use (evaluator: ogb); "
                                "omit for metrics OGB computes alike for every dataset (acc, rocauc, rmse, ...)")
    higher_is_better: bool
    k: int | None = Field(default=None, description="K for hits@K")


class OptimSpec(_Strict):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(gt=0)
    weight_decay: float = Field(default=0.0, ge=0)


class ProtocolSpec(_Strict):
    """How a model is trained and selected. Model specs may override epochs, patience and batch size."""

    seeds: int = Field(default=10, ge=1, description="seeds 0..seeds-1 unless --seeds says otherwise")
    epochs: int = Field(ge=1)
    patience: int | None = Field(default=None, ge=1, description="evaluations without improvement before stopping")
    monitor: Literal["val_metric", "val_loss", "val_loss_and_metric"] = Field(
        default="val_metric",
        description="what selects the epoch; val_loss_and_metric is the rule of Veličković et al.'s GAT code: "
                    "patience resets when either improves, an epoch is selected when both are at their best")
    eval_every: int = Field(default=1, ge=1)
    batch_size: int | None = Field(default=None, ge=1, description="None: full batch")
    optim: OptimSpec = Field(description="default optimizer for a candidate model that names none")
    std: Literal["seeds", "folds"] = Field(default="seeds", description="what the leaderboard std is taken over")
    std_ddof: int = Field(default=1, ge=0, le=1, description="1: sample std (OGB); 0: population std (Errica et al.)")
    params: dict[str, Any] = Field(default_factory=dict, description="level-specific protocol settings")


class ReferenceSpec(_Strict):
    """A published number for (this task, a model), in the unit the metric is stored in."""

    value: float
    std: float | None = None
    n: int | None = Field(default=None, description="number of runs behind the published mean")
    source: str
    note: str | None = None


class TaskSpec(_Strict):
    id: str
    version: int = Field(ge=1, description="bump whenever a change could alter numbers")
    level: Level
    family: str | None = Field(default=None, description="e.g. 'structure' for structural-abstraction tasks")
    description: str
    dataset: DatasetSpec
    split: SplitSpec
    target: Target
    metric: MetricSpec
    extra_metrics: list[MetricSpec] = Field(default_factory=list)
    protocol: ProtocolSpec
    reference: dict[str, ReferenceSpec] = Field(default_factory=dict, description="model name -> published number")
    deviations: list[str] = Field(default_factory=list, description="where this task differs from the source")
    requires: list[str] = Field(default_factory=list, description="pip extras this task needs")

    @field_validator("id")
    @classmethod
    def _id_format(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("must be lowercase letters, digits, '-', '_' or '.', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _metric_known(self) -> TaskSpec:
        from gbench.metrics import check_metric_spec

        for m in [self.metric, *self.extra_metrics]:
            check_metric_spec(m)
        return self

    def identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"reference", "description", "deviations"})


class LRScheduleSpec(_Strict):
    """A learning-rate schedule stepped once per epoch: 'step' multiplies the rate by `gamma` every `step_size`
    epochs (torch's StepLR; e.g. Xu et al.'s and Errica et al.'s GIN halve it every 50)."""

    name: Literal["step"]
    step_size: int = Field(ge=1)
    gamma: float = Field(gt=0, le=1)


class TrainSpec(_Strict):
    """A model's own training schedule, where its paper fixes one (e.g. GAT's 1000 epochs with patience 100)."""

    epochs: int | None = Field(default=None, ge=1)
    patience: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=0, description="0: full batch, overriding the task")
    grad_clip: float | None = Field(default=None, gt=0)
    lr_schedule: LRScheduleSpec | None = Field(default=None, description="none: a constant learning rate")


class ModelOverride(_Strict):
    hparams: dict[str, Any] = Field(default_factory=dict)
    optim: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    transforms: list[str] | None = None
    source: str | None = None


class ModelSpec(_Strict):
    name: str
    level: Level | Literal["any"] = "any"
    implementation: str = Field(description="'package.module:factory' or 'path/to/file.py:factory'")
    description: str = ""
    hparams: dict[str, Any] = Field(default_factory=dict)
    optim: OptimSpec | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    transforms: list[str] = Field(default_factory=list, description="input transforms the model needs, e.g. "
                                  "lap_pe:16 (gbench.data.transforms.TRANSFORMS)")
    sources: dict[str, str] = Field(default_factory=dict, description="hyperparameter or group -> where it comes from")
    overrides: dict[str, ModelOverride] = Field(default_factory=dict, description="task id -> overrides")
    requires: list[str] = Field(default_factory=list, description="pip extras this model needs")
    candidate: bool = Field(default=False, description="a user's model rather than a shipped baseline")

    @field_validator("name")
    @classmethod
    def _name_format(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]*$", v):
            raise ValueError("must be letters, digits, '-', '_', '.', ':' or '+'")
        return v

    @field_validator("implementation")
    @classmethod
    def _impl_format(cls, v: str) -> str:
        if ":" not in v:
            raise ValueError("must be 'package.module:factory' or 'path/to/file.py:factory'")
        return v


class SuiteGroup(_Strict):
    """Tasks run with the same models and seeds."""

    tasks: list[str]
    models: list[str]
    seeds: int | None = Field(default=None, ge=1, description="None: each task's protocol.seeds")


class SuiteSpec(_Strict):
    """A named sweep: either one group (`tasks`, `models`, `seeds`) or several `groups` (one per family)."""

    id: str
    description: str = ""
    tasks: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    seeds: int | None = Field(default=None, ge=1)
    groups: list[SuiteGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_form(self) -> SuiteSpec:
        if self.groups and (self.tasks or self.models):
            raise ValueError("give either tasks/models/seeds or groups, not both")
        if not self.groups and not (self.tasks and self.models):
            raise ValueError("needs tasks and models (or groups)")
        return self

    def all_groups(self) -> list[SuiteGroup]:
        return self.groups or [SuiteGroup(tasks=self.tasks, models=self.models, seeds=self.seeds)]


class ResolvedModel(_Strict):
    """A model spec with the per-task and command-line overrides applied: what a job actually runs."""

    name: str
    implementation: str
    hparams: dict[str, Any]
    optim: OptimSpec
    train: TrainSpec
    transforms: list[str] = Field(default_factory=list)
    candidate: bool
    code_hash: str | None = Field(default=None, description="sha256 of a candidate's source file")
    sources: dict[str, str] = Field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        # Fields added after records existed are left out while they hold their default, so ids stay stable.
        exclude: dict[str, Any] = {"sources": True}
        if not self.transforms:
            exclude["transforms"] = True
        if self.train.lr_schedule is None:
            exclude["train"] = {"lr_schedule": True}
        return self.model_dump(mode="json", exclude=exclude)


# ---------------------------------------------------------------------------------------------------------------
# Loading and error reporting


def _format_validation_error(path: Path | str, err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "is not a known field"
    elif first["type"] == "missing":
        msg = "is required but missing"
    elif first["type"] == "literal_error":
        msg = f"{msg} (got {first.get('input')!r})"
    more = f" ({len(err.errors()) - 1} more problem(s) after this one)" if len(err.errors()) > 1 else ""
    return f"{path}: field '{field}' {msg}{more}."


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot be read ({e.strerror}); check the path.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}: is not valid YAML{where}; fix the syntax.") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: must be a YAML mapping of fields, not {type(data).__name__}.")
    return data


def _parse(kind: type[BaseModel], data: dict[str, Any], path: Path | str) -> Any:
    try:
        return kind.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format_validation_error(path, e)) from None


def load_task_file(path: str | Path) -> TaskSpec:
    path = Path(path)
    return _parse(TaskSpec, _read_yaml(path), path)


def load_model_file(path: str | Path) -> ModelSpec:
    """A model spec; a relative `file.py:factory` implementation is taken relative to the YAML's folder."""
    path = Path(path)
    spec = _parse(ModelSpec, _read_yaml(path), path)
    target, _, attr = spec.implementation.rpartition(":")
    if target.endswith(".py") and not Path(target).is_absolute():
        spec = spec.model_copy(update={"implementation": f"{(path.parent / target).resolve()}:{attr}"})
    return spec


def load_suite_file(path: str | Path) -> SuiteSpec:
    path = Path(path)
    return _parse(SuiteSpec, _read_yaml(path), path)


# ---------------------------------------------------------------------------------------------------------------
# Catalog


def catalog_root() -> Path:
    """The folder holding `tasks/` and `baselines/`: the checkout for an editable install, else the wheel's copy."""
    env = os.environ.get("GBENCH_CATALOG")
    if env:
        return Path(env)
    pkg = Path(__file__).resolve().parent
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
        spec = load_task_file(path)
        if spec.id in index:
            raise SpecError(f"{path}: task id '{spec.id}' is already used by {index[spec.id]}; ids must be unique.")
        index[spec.id] = path
    plugins.add_tasks(index, load_task_file)  # installed packages' tasks (entry point group gbench.tasks)
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
    return load_task_file(index[ref])


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
    return ModelSpec(name=f"{stem}.{factory}", implementation=ref, candidate=True)


# ---------------------------------------------------------------------------------------------------------------
# Resolution and identity


def parse_assignments(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set hidden=64 --set optim.lr=0.001 --set train.epochs=5` -> {'hparams': {...}, 'optim': {...}, ...}."""
    out: dict[str, dict[str, Any]] = {"hparams": {}, "optim": {}, "train": {}}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set '{item}': expected KEY=VALUE, e.g. --set hidden=64 or --set optim.lr=0.001.")
        key, raw = item.split("=", 1)
        group, _, field = key.partition(".")
        if not field:
            group, field = "hparams", key
        if group not in out:
            raise SpecError(f"--set '{item}': group '{group}' is not one of hparams, optim, train.")
        out[group][field] = yaml.safe_load(raw)
    return out


def resolve_model(spec: ModelSpec, task: TaskSpec, cli: dict[str, dict[str, Any]] | None = None) -> ResolvedModel:
    """Apply the per-task override and command-line settings; the task protocol supplies what the model leaves."""
    cli = cli or {"hparams": {}, "optim": {}, "train": {}}
    override = spec.overrides.get(task.id, ModelOverride())
    hparams = {**spec.hparams, **override.hparams, **cli["hparams"]}
    optim_base = (spec.optim or task.protocol.optim).model_dump()
    where = f"model '{spec.name}' on task '{task.id}' (after overrides and --set)"
    try:
        optim = OptimSpec.model_validate({**optim_base, **override.optim, **cli["optim"]})
    except ValidationError as e:
        raise SpecError(_format_validation_error(where, e).replace("field '", "field 'optim.", 1)) from None
    try:
        train = TrainSpec.model_validate({**spec.train.model_dump(), **override.train, **cli["train"]})
    except ValidationError as e:
        raise SpecError(_format_validation_error(where, e).replace("field '", "field 'train.", 1)) from None
    sources = dict(spec.sources)
    if override.source:
        sources[f"overrides.{task.id}"] = override.source
    code_hash = None
    if spec.candidate:
        from gbench.models.contract import implementation_fingerprint

        code_hash = implementation_fingerprint(spec.implementation)
    transforms = override.transforms if override.transforms is not None else spec.transforms
    return ResolvedModel(name=spec.name, implementation=spec.implementation, hparams=hparams, optim=optim,
                         train=train, transforms=list(transforms), candidate=spec.candidate, code_hash=code_hash,
                         sources=sources)


def stable_hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def job_identity(task: TaskSpec, model: ResolvedModel, seed: int) -> str:
    """Same task spec (with version), same resolved model, same seed: same job id, same record file."""
    return stable_hash({"task": task.identity(), "model": model.identity(), "seed": seed})[:16]
