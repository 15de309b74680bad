"""Importing ogb without its network version check, for every module that uses ogb (metrics, data, models)."""

from __future__ import annotations

import importlib
import sys


def import_ogb(module: str):
    """Import an ogb submodule without starting its network version-check thread (it hangs offline)."""
    if "outdated" not in sys.modules:
        sys.modules["outdated"] = None  # ogb/__init__ skips its check when this import fails
    return importlib.import_module(module)
