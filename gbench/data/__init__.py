"""Data sources. Each source is one module; a task spec's `dataset.source` names its loader here.

A loader is `load(task: TaskSpec, ctx: DataContext) -> <Level>TaskData`; loaders know nothing about models.
Entries are lazy `module:function` strings (as in lm-evaluation-harness's registry) so that importing gbench
stays cheap and a source's optional dependencies are only needed when it is used. An installed package adds sources
through the entry point group `gbench.sources` (gbench/plugins.py), read in every process that loads data.
"""

from __future__ import annotations

import functools
import importlib
import threading
from typing import TYPE_CHECKING, Any

import torch

from gbench.data.nodes import NodeSplit, NodeTaskData  # noqa: F401 - the node-level types, re-exported
from gbench.data.staging import DataContext
from gbench.errors import SpecError

if TYPE_CHECKING:
    from gbench.specs import TaskSpec

SOURCES: dict[str, str] = {
    "planetoid": "gbench.data.pyg_node:load_planetoid",
    "webkb": "gbench.data.pyg_node:load_webkb",
    "heterophilous": "gbench.data.pyg_node:load_heterophilous",
    "heterophilous-npz": "gbench.data.pyg_node:load_heterophilous_npz",
    "pyg-node": "gbench.data.pyg_node:load_any_pyg",
    "ogb-node": "gbench.data.ogb_node:load_ogb_node",
    "sbm": "gbench.data.synthetic:load_sbm",
    "structure": "gbench.data.structure:load_structure",
    "ogb-link": "gbench.data.link:load_ogb_link",
    "planetoid-link": "gbench.data.link:load_planetoid_link",
    "sbm-link": "gbench.data.link:load_sbm_link",
    "tu": "gbench.data.tu:load_tu",
    "csl": "gbench.data.tu:load_csl",
    "ogb-graph": "gbench.data.molecules:load_ogb_graph",
    "molhiv-csv": "gbench.data.molecules:load_molhiv_csv",
    "lrgb": "gbench.data.lrgb:load_peptides",
    "graph-motifs": "gbench.data.synthetic_graphs:load_colour_motifs",
}


# Sources that generate their data and never read the data root (their finished data does not depend on its files).
GENERATED = frozenset({"sbm", "structure", "sbm-link", "graph-motifs"})

_cache: dict[str, Any] = {}
_lock = threading.Lock()


def source_table() -> dict[str, str]:
    """Source name -> `module:function`: gbench's own and those of installed plug-ins (`gbench.sources`)."""
    from gbench.plugins import targets

    return targets("gbench.sources", SOURCES)


def _resolve(source: str):
    table = source_table()
    if source not in table:
        raise SpecError(f"dataset.source '{source}' is not a known data source; known: {', '.join(sorted(table))} "
                        "(a plug-in adds one through the entry point group gbench.sources).")
    module, attr = table[source].split(":")
    return getattr(importlib.import_module(module), attr)


def _fingerprinted_files(source: str) -> list:
    """The source files whose bytes key a source's finished data: every module of `gbench.data`, its subpackages
    included (the structure generators live in one, and loaders share helpers such as fold generation and
    staging), and a plug-in loader's module, or every module of its package."""
    import importlib.util
    from pathlib import Path

    here = Path(__file__).parent
    files = sorted(here.rglob("*.py"))
    spec = importlib.util.find_spec(source_table()[source].split(":")[0])
    if spec is not None and spec.origin is not None and not Path(spec.origin).is_relative_to(here):
        places = spec.submodule_search_locations or []  # a plug-in outside gbench.data: its package, or its module
        files += sorted(f for p in places for f in Path(p).rglob("*.py")) if places else [Path(spec.origin)]
    return files


@functools.lru_cache(maxsize=None)
def _source_fingerprint(source: str) -> str:
    """sha256 of `_fingerprinted_files(source)` (paths and bytes): editing any of them invalidates what was cached."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in _fingerprinted_files(source):
        digest.update((path.relative_to(here).as_posix() if path.is_relative_to(here) else path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _root_fingerprint(root, cache) -> str:
    """sha256 of the data root's file listing (path, size and modification time of every file): a raw file added,
    removed or rewritten under the root changes it, so finished data made from the old files is never served. One
    stat per file, once per task and process. A cache inside the root is left out of the listing, or gbench's own
    writes there would change it."""
    import hashlib
    import os
    from pathlib import Path

    if root is None:
        return ""
    root, cache = Path(root), Path(cache)
    files = []
    for folder, dirs, names in os.walk(root):  # a cache inside the root is not even walked
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_relative_to(cache)]
        files += [Path(folder) / n for n in names if (Path(folder) / n).is_file()]
    digest = hashlib.sha256()
    for path in sorted(files):
        st = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _finished_classes() -> dict[str, type]:
    from gbench.data.graphs import GraphTaskData
    from gbench.data.link import LinkTaskData

    return {"node": NodeTaskData, "link": LinkTaskData, "graph": GraphTaskData}


def _finished_cache(task: TaskSpec, ctx: DataContext, key: str):
    """Task data is cached finished (graph or graphs, features and splits applied) as plain tensors, so a job in a
    fresh process (a pool worker, a Ray task, a Slurm job) loads one weights_only-safe file instead of re-running the
    loader; the key covers the spec, the data root (its path and its files' listing) and the loaders' source code.
    Data a level cannot pack (an attribute that is not a tensor) is returned as loaded and not cached."""
    from gbench.data.staging import cache_lock, save_tensors

    classes = _finished_classes()
    folder = ctx.cache_dir / "tasks"
    path = folder / f"{task.id}-{key[:20]}.pt"
    if path.exists():
        blob = torch.load(path, weights_only=True)
        return classes[blob.get("kind", "node")].from_tensors(blob)
    result = _resolve(task.dataset.source)(task, ctx)
    kind = next((k for k, cls in classes.items() if isinstance(result, cls)), None)
    if kind is None:
        return result
    try:
        blob = {"kind": kind, **result.to_tensors()}
    except (TypeError, ValueError):
        return result
    with cache_lock(folder):
        save_tensors(blob, path)
    return result


def load_task_data(task: TaskSpec, ctx: DataContext):
    """Load the data of a task: from this process's memory, else from gbench's cache of finished task data, else
    through its source's loader. The same spec and context always give the same data."""
    from gbench.hashing import stable_hash

    # Loaders read the task's id, level and target as well as its dataset and split (a generated task seeds its
    # graphs with its id); its protocol and references never change the data. A loader that reads the data root
    # also depends on the files there (a raw file replaced in place keeps the root's path).
    # The root's listing is read on a miss of this process's memory only (clear_memory_cache() to read it again).
    source = task.dataset.source
    key = stable_hash({"id": task.id, "level": task.level, "target": task.target,
                       "dataset": task.dataset.model_dump(mode="json"), "split": task.split.model_dump(mode="json"),
                       "root": str(ctx.data_root), "cache": str(ctx.cache_dir),
                       "loader": _source_fingerprint(source) if source in source_table() else ""})
    with _lock:
        if key not in _cache:
            raw = "" if source in GENERATED else _root_fingerprint(ctx.data_root, ctx.cache_dir)
            _cache[key] = _finished_cache(task, ctx, stable_hash({"spec": key, "raw": raw}))
        return _cache[key]


def clear_memory_cache() -> None:
    with _lock:
        _cache.clear()
