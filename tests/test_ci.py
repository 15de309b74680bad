"""CI knows when it tested nothing: with GBENCH_REQUIRE_DATA set, a test whose shared dataset is missing fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NEEDS_DATA = '''
from conftest import missing_data


def test_on_cora(shared_data):
    assert shared_data.is_dir()


def test_on_a_dataset_the_root_lacks(tmp_path):
    missing_data("NoSuchSet not in the data root")
'''


def _pytest(folder: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "GBENCH_REQUIRE_DATA"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env={**environ, **env}, capture_output=True, text=True, timeout=300)


def test_a_missing_dataset_skips_by_default_and_fails_where_data_is_required(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", suite / "conftest.py")
    (suite / "test_needs_data.py").write_text(NEEDS_DATA)
    empty_root = tmp_path / "moved-data-root"
    empty_root.mkdir()

    relaxed = _pytest(suite, GBENCH_DATA=str(empty_root))
    assert relaxed.returncode == 0 and "2 skipped" in relaxed.stdout, relaxed.stdout[-3000:]

    required = _pytest(suite, GBENCH_DATA=str(empty_root), GBENCH_REQUIRE_DATA="1")
    assert required.returncode == 1, required.stdout[-3000:]
    assert "2 failed" in required.stdout or ("1 failed" in required.stdout and "1 error" in required.stdout)
    assert f"real datasets not found at {empty_root}" in required.stdout
    assert "GBENCH_REQUIRE_DATA is set" in required.stdout and "NoSuchSet not in the data root" in required.stdout


def test_ci_requires_the_data_wherever_the_data_root_exists():
    script = (REPO / ".ci" / "run").read_text()
    guard = script.index('if [ -d "$GBENCH_DATA" ]; then')
    assert script.index("export GBENCH_REQUIRE_DATA=1") > guard
    assert guard < script.index("python -m pytest")  # set before the tests run
