"""Task, model and suite specs: YAML files validated by pydantic, and the catalog that finds them.

- `schema`: the spec models (TaskSpec, ModelSpec, SuiteSpec ...) and the values filled in at load.
- `params`: one model per data source, split kind, level protocol and transform, for the free-form `params`.
- `catalog`: reading spec files (every problem reported at once, naming the file) and finding specs by name.
- `search`: a model's search space (`search:`), the domains a tune draws from.
- `resolution`: a model resolved for a task (overrides, --set), and the job identity.
- `reference`: the spec reference written from the models (`gbench schema`, docs/spec-reference.md).

This package imports nothing of gbench above it but `gbench.errors` and `gbench.metrics`.
"""

from gbench.specs.catalog import (candidate_spec, catalog_root, format_problems, has_model, load_model,
                                  load_model_file, load_suite, load_suite_file, load_task, load_task_file,
                                  model_entries, model_names, read_yaml, suite_ids, task_ids, task_path)
from gbench.specs.resolution import (implementation_fingerprint, job_identity, parse_assignments, resolve_model,
                                     search_space, stable_hash)
from gbench.specs.schema import (DatasetSpec, Level, LRScheduleSpec, MetricSpec, ModelOverride, ModelSpec,
                                 OptimSpec, ProtocolSpec, ReferenceSpec, ResolvedModel, SplitSpec, SuiteGroup,
                                 SuiteSpec, Target, TaskSpec, TrainSpec)
from gbench.specs.search import Domain, GridDomain, IntDomain, LogUniformDomain, SearchSpec, UniformDomain

__all__ = [
    "DatasetSpec", "Domain", "GridDomain", "IntDomain", "LRScheduleSpec", "Level", "LogUniformDomain", "MetricSpec",
    "ModelOverride", "ModelSpec", "OptimSpec", "ProtocolSpec", "ReferenceSpec", "ResolvedModel", "SearchSpec",
    "SplitSpec", "SuiteGroup", "SuiteSpec", "Target", "TaskSpec", "TrainSpec", "UniformDomain", "candidate_spec",
    "catalog_root", "format_problems", "has_model", "implementation_fingerprint", "job_identity", "load_model",
    "load_model_file", "load_suite", "load_suite_file", "load_task", "load_task_file", "model_entries",
    "model_names", "parse_assignments", "read_yaml", "resolve_model", "search_space", "stable_hash", "suite_ids",
    "task_ids", "task_path",
]
