"""Shared fixtures. Tests run offline against ../shared/data (or $GBENCH_DATA), with a throwaway cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GBENCH_DATA") or REPO.parent / "shared" / "data").resolve()


def missing_data(reason: str) -> None:
    """Skip a test whose shared dataset is missing, or fail it where the data must be there: CI sets
    GBENCH_REQUIRE_DATA=1 when the data root exists, so a moved or incomplete data root fails the run instead of
    turning it green by testing nothing."""
    if os.environ.get("GBENCH_REQUIRE_DATA", "") not in ("", "0"):
        pytest.fail(f"{reason}, and GBENCH_REQUIRE_DATA is set: the shared data root must hold it "
                    "(check GBENCH_DATA, or unset GBENCH_REQUIRE_DATA to skip such tests).", pytrace=False)
    pytest.skip(reason)


def seed_tables(out: str) -> dict[str, list[dict[str, str]]]:
    """Parse `gbench results seeds` output: for each task, one {column: cell} dict per table row."""
    tables: dict[str, list[dict[str, str]]] = {}
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for line in out.splitlines():
        if line.startswith("task "):
            rows = tables.setdefault(line.split()[1], [])
            header = []
        elif not header and line.split() and line.split()[0] == "model":
            header = line.split()
        elif header and line.strip() and not line.startswith("─"):
            cells = line.split()
            assert len(cells) == len(header), line  # a cell never wraps or vanishes
            rows.append(dict(zip(header, cells)))
    return tables


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "Planetoid" / "Cora" / "raw").is_dir():
        missing_data(f"real datasets not found at {SHARED_DATA} (set GBENCH_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gbench-cache")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, session_cache):
    """Every test is offline and uses one session-wide cache unless it sets its own."""
    monkeypatch.setenv("GBENCH_OFFLINE", "1")
    monkeypatch.setenv("GBENCH_CACHE", str(session_cache))
    monkeypatch.delenv("GBENCH_DATA", raising=False)
    from gbench.data import clear_memory_cache

    clear_memory_cache()


@pytest.fixture
def process_pools(monkeypatch) -> list[tuple[int, set[int]]]:
    """Every `ProcessPoolExecutor` gbench creates during the test appends (max_workers, the pids of the processes
    it started) here when it shuts down: a test of a pool asserts the pool really ran, since a silent fallback to
    the serial path would make its comparison with the serial result vacuous."""
    import concurrent.futures

    from gbench.data import render

    made: list[tuple[int, set[int]]] = []

    class Recording(concurrent.futures.ProcessPoolExecutor):
        def shutdown(self, *args, **kwargs):
            made.append((self._max_workers, set(self._processes or {})))
            return super().shutdown(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(render, "ProcessPoolExecutor", Recording)
    return made


def run_gbench(*args) -> int:
    """`gbench ARGS...` in-process, returning its exit code: for module-scoped fixtures, which cannot use `cli`."""
    from gbench import cli as cli_module

    old = sys.argv
    sys.argv = ["gbench", *map(str, args)]
    try:
        cli_module.main()
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = old
    return 0


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `gbench ARGS...` in-process, the way the console script does, and capture what it prints."""
    from gbench import cli as cli_module

    def invoke(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["gbench", *map(str, args)])
        monkeypatch.setenv("COLUMNS", "200")
        code = 0
        try:
            cli_module.main()
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
