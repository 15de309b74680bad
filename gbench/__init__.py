"""gbench: a benchmarking and evaluation suite for graph machine learning.

The Python API (see `gbench.api`): `gbench.run(...)` runs a sweep and returns its leaderboard as a pandas
DataFrame; `gbench.compare(...)` returns the verdicts of a comparison. The name `gbench.compare` is the function;
the statistics behind it are imported as `from gbench.compare import Settings, compare_sides, ...`.
"""

from gbench._version import __version__
from gbench import compare as _statistics  # noqa: F401 - loaded first, so that the function below keeps the name
from gbench.api import compare, run

__all__ = ["__version__", "compare", "run"]
