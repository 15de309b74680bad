"""The pip extras a task or model spec may name in `requires`, and which of their packages are missing here.

The table mirrors `[project.optional-dependencies]` in pyproject.toml (a test keeps the two equal): an installed
package's metadata can be stale (an editable install keeps the extras of the day it was installed), so the check
asks the import system, not the metadata.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

# extra -> (distribution name as pyproject.toml spells it, the module it installs)
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "structure": (("pynauty", "pynauty"), ("torchvision", "torchvision"), ("timm", "timm"),
                  ("matplotlib", "matplotlib")),
    "layouts": (("igraph", "igraph"), ("fa2-modified", "fa2_modified")),
    "molecules": (("rdkit", "rdkit"),),
    "sampling": (("pyg-lib", "pyg_lib"),),
    "ray": (("ray", "ray"),),
    "slurm": (("submitit", "submitit"),),
    "plot": (("matplotlib", "matplotlib"),),
    "test": (("pytest", "pytest"), ("pytest-timeout", "pytest_timeout"), ("hypothesis", "hypothesis")),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(extras: Iterable[str]) -> list[str]:
    """The distributions of `extras` that cannot be imported here, in order, each once (unknown extras: none)."""
    out: list[str] = []
    for extra in extras:
        for dist, module in EXTRAS.get(extra, ()):
            if dist not in out and not _installed(module):
                out.append(dist)
    return out


def install_hint(extras: Iterable[str]) -> str:
    """`pip install 'gbench[a,b]'` for the given extras."""
    return f"pip install 'gbench[{','.join(dict.fromkeys(extras))}]'"
