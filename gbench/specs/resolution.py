"""Resolving a model for a task: per-task overrides and command-line settings applied, and the job identity.

Same task spec (with version), same resolved model, same seed: same job id, same record file. A candidate's job id
also follows the source file behind its factory, so editing the model gives new jobs.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gbench.errors import SpecError
from gbench.hashing import stable_hash
from gbench.specs.catalog import format_problems
from gbench.specs.schema import ModelOverride, ModelSpec, OptimSpec, ResolvedModel, TaskSpec, TrainSpec
from gbench.specs.search import SearchSpec


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
        try:
            out[group][field] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise SpecError(f"--set '{item}': the value is not valid YAML; quote it or fix the syntax.") from None
    return out


def implementation_fingerprint(implementation: str) -> str | None:
    """sha256 (16 hex digits) of the source file behind a factory (`file.py:factory` or `package.module:factory`),
    None where there is no such file. Finding a module's file does not import it."""
    target = implementation.rpartition(":")[0]
    if target.endswith(".py"):
        path: Path | None = Path(target)
    else:
        try:
            spec = importlib.util.find_spec(target) if target else None
        except (ImportError, ValueError):
            spec = None
        path = Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


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
        raise SpecError(format_problems(where, e, OptimSpec).replace("field '", "field 'optim.")) from None
    try:
        train = TrainSpec.model_validate({**spec.train.model_dump(), **override.train, **cli["train"]})
    except ValidationError as e:
        raise SpecError(format_problems(where, e, TrainSpec).replace("field '", "field 'train.")) from None
    sources = dict(spec.sources)
    if override.source:
        sources[f"overrides.{task.id}"] = override.source
    code_hash = implementation_fingerprint(spec.implementation) if spec.candidate else None
    transforms = override.transforms if override.transforms is not None else spec.transforms
    return ResolvedModel(name=spec.name, implementation=spec.implementation, hparams=hparams, optim=optim,
                         train=train, transforms=list(transforms), candidate=spec.candidate, code_hash=code_hash,
                         sources=sources, requires=list(spec.requires))


def search_space(spec: ModelSpec, task: TaskSpec) -> SearchSpec | None:
    """The space a tune searches for `spec` on `task`: the task override's `search` where it gives one, else the
    model's own; None where neither does."""
    override = spec.overrides.get(task.id)
    if override is not None and override.search is not None:
        return override.search
    return spec.search


# The one commit whose job ids and model hashes counted a field that should have been left out: 6d2f73e added
# `train.trace_every` to every model's identity, 739ff6c wrote records with it, 0326f47 left it out again when
# unset. Those records keep their files (checksummed, never rewritten); the sweep finds them under their old ids
# (`legacy_job_ids`) and the leaderboards group them by today's model hash (`gbench.results.group_records`).
DRIFTED_IDENTITY_COMMIT = "739ff6c"


def legacy_model_identity(model: ResolvedModel) -> dict[str, Any] | None:
    """The identity DRIFTED_IDENTITY_COMMIT gave `model` where it differs from today's (trace_every unset), else
    None."""
    if model.train.trace_every is not None:
        return None
    identity = model.identity()
    identity["train"]["trace_every"] = None
    return identity


def job_identity(task: TaskSpec, model: ResolvedModel, seed: int, fold: int | None = None, selection: bool = False,
                 tuning: dict[str, Any] | None = None, model_identity: dict[str, Any] | None = None) -> str:
    """Same task spec (with version), same resolved model, same seed: same job id, same record file.

    A job's scope (one outer fold of a k-fold task, a validation-only tuning trial, a tuned final run's metadata)
    enters the hash only where it differs from the default, so a plain job's id does not depend on these fields
    existing. `model_identity` replaces `model.identity()` (the legacy ids)."""
    identity: dict[str, Any] = {"task": task.identity(),
                                "model": model.identity() if model_identity is None else model_identity, "seed": seed}
    if fold is not None:
        identity["fold"] = fold
    if selection:
        identity["selection"] = True
    if tuning is not None:
        identity["tuning"] = tuning
    return stable_hash(identity)[:16]
