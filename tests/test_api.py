"""The Python API a notebook uses: `gbench.run(...)` returns the leaderboard and writes the records the CLI writes;
`gbench.compare(...)` returns the verdicts; bad input raises GbenchError before any job runs."""

from __future__ import annotations

import pandas as pd
import pytest

import gbench
from gbench.errors import GbenchError
from gbench.results import ResultStore, read_record

SMALL = dict(tasks="sbm-node", models="gcn,mlp", seeds=3, overrides={"train.epochs": 5}, device="cpu", threads=1)


def results(out):
    return sorted(((r.job_id, r.metrics, r.selected_epoch) for r in map(read_record, ResultStore(out).record_paths())))


def test_run_returns_the_leaderboard_and_writes_what_the_cli_writes(cli, tmp_path):
    board = gbench.run(**SMALL, out=tmp_path / "api")
    assert isinstance(board, pd.DataFrame) and sorted(board.model) == ["gcn", "mlp"]
    assert board.attrs["summary"].ran == 6 and not board.attrs["summary"].failures
    on_disk = pd.read_csv(tmp_path / "api" / "leaderboard.csv").set_index("model")
    for _, row in board.iterrows():
        assert row["mean"] == pytest.approx(on_disk.loc[row["model"], "mean"], abs=0, rel=1e-12)
        assert row["n_seeds"] == 3

    # The command line with the same settings: the same jobs (ids) and the same numbers, bit for bit.
    same = cli("run", "--tasks", "sbm-node", "--models", "gcn,mlp", "--seeds", "3", "--set", "train.epochs=5",
               "--device", "cpu", "--threads", "1", "--out", tmp_path / "cli")
    assert same.code == 0, same
    assert results(tmp_path / "api") == results(tmp_path / "cli")

    again = gbench.run(**SMALL, out=tmp_path / "api")  # finished jobs are not run again
    assert again.attrs["summary"].ran == 0 and again.attrs["summary"].skipped_done == 6

    verdicts = gbench.compare(tmp_path / "api", base_model="mlp", candidate_model="gcn")
    assert list(verdicts.task) == ["sbm-node"] and verdicts.loc[0, "base_n"] == verdicts.loc[0, "cand_n"] == 3
    assert verdicts.loc[0, "verdict"] in ("better", "worse", "no detectable change")
    assert verdicts.loc[0, "cand_mean"] == pytest.approx(on_disk.loc["gcn", "mean"])
    itself = gbench.compare(tmp_path / "api", tmp_path / "cli")
    assert set(itself.verdict) == {"no detectable change"} and not itself.attrs["gate"].failed


def test_run_refuses_bad_input_before_any_job(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(GbenchError, match=r"did you mean 'hidden'\?"):
        gbench.run(**{**SMALL, "overrides": {"hiddn": 3}}, out=out)
    with pytest.raises(GbenchError, match="unknown task 'sbm-nod'"):
        gbench.run(**{**SMALL, "tasks": "sbm-nod"}, out=out)
    with pytest.raises(GbenchError, match="seeds"):
        gbench.run(**{**SMALL, "seeds": []}, out=out)
    assert not out.exists()
    with pytest.raises(GbenchError, match="no results in it|does not exist"):
        gbench.compare(tmp_path / "nothing", tmp_path / "nothing")
