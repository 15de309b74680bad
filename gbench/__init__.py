"""gbench: a benchmarking and evaluation suite for graph machine learning.

The Python API (see `gbench.api`): `gbench.run(...)` runs a sweep and returns its leaderboard as a pandas
DataFrame; `gbench.compare(...)` returns the verdicts of a comparison; `gbench.tune(...)` tunes models with
equal budgets and returns the leaderboard of the selected configurations. The statistics behind `gbench.compare`
live in `gbench.comparison`.
"""

from gbench._version import __version__
from gbench.api import compare, run, tune

__all__ = ["__version__", "compare", "run", "tune"]
