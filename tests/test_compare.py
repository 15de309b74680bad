"""`gbench compare`: injected regressions are caught, noise and deterministic reruns are not, too few seeds are
said to be too few, CSV sides work from summary statistics, and nothing is dropped silently."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from conftest import run_gbench

from gbench.comparison import Settings, holm, mannwhitney_min_p, welch_p
from gbench.results import ResultStore, read_record

FAST = ["--tasks", "sbm-node", "--set", "train.epochs=30", "--threads", "1"]
WORSE = ["--set", "hidden=2", "--set", "optim.lr=0.0005"]  # the same baseline, crippled: genuinely worse


@pytest.fixture(scope="module")
def runs(tmp_path_factory, session_cache):
    """gcn and mlp, seeds 0-4, on the generated sbm-node task; trained once for the whole module."""
    root = tmp_path_factory.mktemp("compare-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBENCH_OFFLINE", "1")
        mp.setenv("GBENCH_CACHE", str(session_cache))
        mp.delenv("GBENCH_DATA", raising=False)
        mp.setenv("COLUMNS", "200")
        assert run_gbench("run", *FAST, "--models", "gcn,mlp", "--seeds", "0-4", "--out", root / "base") == 0
    return root


def _json(result) -> dict:
    assert result.code in (0, 1), result
    return json.loads(result.out)


def _pair(body: dict, model: str) -> dict:
    return next(p for p in body["pairs"] if p["model"] == model)


def test_injected_regression_is_flagged_and_sets_the_exit_code(cli, runs, tmp_path):
    worse = tmp_path / "worse"
    assert cli("run", *FAST, "--models", "gcn", *WORSE, "--seeds", "0-4", "--out", worse).code == 0
    gate = cli("compare", runs / "base", worse, "--fail-on-regression")
    assert gate.code == 1, gate
    assert "REGRESSION sbm-node / gcn: acc" in gate.err and "REGRESSION sbm-node / gcn" in gate.out
    assert "sbm-node / mlp: only in base" in gate.out  # listed, not dropped
    body = _json(cli("compare", runs / "base", worse, "--format", "json"))
    gcn = _pair(body, "gcn")
    assert gcn["verdict"] == "worse" and gcn["gain"] < -0.1 and gcn["gain_rel"] < -0.1
    assert gcn["p_adjusted"] < 0.05 and gcn["exceeds_tolerance"]
    assert gcn["p_mannwhitney"] is not None and gcn["p_mannwhitney"] <= 2 / math.comb(10, 5) + 1e-12
    assert gcn["ci_high"] < 0  # the whole bootstrap interval of the gain is below zero
    assert body["regressions"] == ["sbm-node / gcn"]
    assert [u["model"] for u in body["only_in_base"]] == ["mlp"]
    # Without --fail-on-regression the report is the same, the exit code 0.
    assert cli("compare", runs / "base", worse).code == 0
    # The other way round it is an improvement, never a regression.
    assert _pair(_json(cli("compare", worse, runs / "base", "--format", "json")), "gcn")["verdict"] == "better"


def test_unchanged_model_rerun_with_other_seeds_is_not_a_regression(cli, runs, tmp_path):
    other = tmp_path / "other-seeds"
    assert cli("run", *FAST, "--models", "gcn", "--seeds", "5-9", "--out", other).code == 0
    gate = cli("compare", runs / "base", other, "--fail-on-regression")
    assert gate.code == 0, gate
    assert "no regression" in gate.out
    gcn = _pair(_json(cli("compare", runs / "base", other, "--format", "json")), "gcn")
    assert gcn["verdict"] == "no detectable change" and gcn["base_mean"] != gcn["cand_mean"]
    assert gcn["ci_low"] < 0 < gcn["ci_high"]


def test_identical_reruns_give_no_detectable_change_not_nan(cli, runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(runs / "base", copy)
    body = _json(cli("compare", runs / "base", copy, "--format", "json", "--fail-on-regression"))
    for p in body["pairs"]:
        assert p["verdict"] == "no detectable change" and p["gain"] == 0.0 and p["p_welch"] == 1.0
        assert p["ci_low"] <= 0 <= p["ci_high"]
        assert any("deterministic rerun" in n for n in p["notes"])
    # Zero spread on both sides, as a deterministic model gives for every seed: decided exactly, not NaN.
    assert welch_p(0.5, 0.0, 3, 0.5, 0.0, 3)[0] == 1.0
    assert welch_p(0.6, 0.0, 3, 0.5, 0.0, 3)[0] == 0.0


def test_too_few_seeds_say_so_instead_of_guessing(cli, runs, tmp_path):
    few = tmp_path / "few"
    assert cli("run", *FAST, "--models", "gcn", *WORSE, "--seeds", "0-1", "--out", few).code == 0
    result = cli("compare", runs / "base", few, "--fail-on-regression", "--format", "json")
    assert result.code == 0, result  # a crippled model, but 2 seeds cannot show it: no verdict, no failure
    gcn = _pair(json.loads(result.out), "gcn")
    assert gcn["verdict"] == "too few seeds to tell" and gcn["p_welch"] is None
    assert "5 vs 2 seeds" in gcn["notes"][0] and "gbench run --seeds" in gcn["notes"][0]
    table = cli("compare", runs / "base", few)
    assert "too few seeds to tell" in table.out
    # 3 vs 3 seeds: Mann-Whitney's smallest two-sided p is 0.1, so it is not run, and the report says why.
    assert mannwhitney_min_p(3, 3) == pytest.approx(0.1) and mannwhitney_min_p(5, 5) == pytest.approx(1 / 126)
    assert mannwhitney_min_p(5, 3) == pytest.approx(2 / 56)  # 5 vs 3 can reach 0.05, so it is run
    three = tmp_path / "three"
    shutil.copytree(runs / "base", three)
    for p in ResultStore(three).record_paths():
        if read_record(p).seed >= 3:
            p.unlink()
    body = _json(cli("compare", three, three, "--format", "json"))
    gcn = _pair(body, "gcn")
    assert gcn["p_mannwhitney"] is None and gcn["mannwhitney_min_p"] == pytest.approx(0.1)
    assert "smallest two-sided p is 0.1, never below alpha 0.05" in " ".join(gcn["notes"])
    assert gcn["verdict"] == "no detectable change" and gcn["p_welch"] == 1.0  # Welch still runs on 3 vs 3


def test_leaderboard_csv_sides_use_summary_statistics(cli, runs, tmp_path):
    worse = tmp_path / "worse"
    assert cli("run", *FAST, "--models", "gcn", *WORSE, "--seeds", "0-4", "--out", worse).code == 0
    from_records = _pair(_json(cli("compare", runs / "base", worse, "--format", "json")), "gcn")
    csv = cli("compare", runs / "base" / "leaderboard.csv", worse / "leaderboard.csv", "--format", "json",
              "--fail-on-regression")
    assert csv.code == 1
    body = json.loads(csv.out)
    gcn = _pair(body, "gcn")
    assert gcn["verdict"] == "worse" and gcn["p_welch"] == pytest.approx(from_records["p_welch"], rel=1e-6)
    assert gcn["p_mannwhitney"] is None and gcn["ci_low"] is None
    assert any("need per-seed values" in n for n in body["notes"])
    mixed = _pair(_json(cli("compare", runs / "base", worse / "leaderboard.csv", "--format", "json")), "gcn")
    assert mixed["verdict"] == "worse" and mixed["ci_low"] is None
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    refused = cli("compare", bad, worse)
    assert refused.code == 2 and "not a gbench leaderboard CSV" in refused.err


def test_two_models_within_one_results_directory(cli, runs):
    result = cli("compare", runs / "base", "--base-model", "gcn", "--candidate-model", "mlp", "--format", "json",
                 "--fail-on-regression")
    assert result.code == 1
    pair = json.loads(result.out)["pairs"][0]
    assert pair["model"] == "mlp vs gcn" and pair["verdict"] == "worse"
    md = cli("compare", runs / "base", "--base-model", "mlp", "--candidate-model", "gcn", "--format", "markdown")
    assert md.code == 0 and "| sbm-node | gcn vs mlp | accuracy |" in md.out and "| better |" in md.out
    missing = cli("compare", runs / "base", "--base-model", "gcn", "--candidate-model", "nope")
    assert missing.code == 2 and "model 'nope' has no results" in missing.err and "gcn, mlp" in missing.err
    alone = cli("compare", runs / "base")
    assert alone.code == 2 and "--base-model and --candidate-model" in alone.err


def test_a_task_against_its_variant(cli, runs, tmp_path):
    """--base-task / --candidate-task pair a model across two tasks (a task and its variant, such as a copied YAML
    with another split), which no plain comparison pairs (their ids differ)."""
    variant = tmp_path / "variant"
    _rewrite(runs / "base", variant, task="sbm-node-variant")
    plain = _json(cli("compare", runs / "base", variant, "--format", "json"))
    assert not plain["pairs"]  # nothing in common by (task, model)
    body = _json(cli("compare", runs / "base", variant, "--base-task", "sbm-node", "--candidate-task",
                     "sbm-node-variant", "--format", "json"))
    assert {p["model"] for p in body["pairs"]} == {"gcn", "mlp"}
    assert all(p["task"] == "sbm-node-variant vs sbm-node" and p["verdict"] == "no detectable change"
               for p in body["pairs"])  # the same values: a deterministic rerun under another name
    both = _json(cli("compare", runs / "base", variant, "--base-task", "sbm-node", "--candidate-task",
                     "sbm-node-variant", "--base-model", "gcn", "--candidate-model", "mlp", "--format", "json"))
    assert [(p["model"], p["verdict"]) for p in both["pairs"]] == [("mlp vs gcn", "worse")]
    missing = cli("compare", runs / "base", variant, "--base-task", "sbm-node", "--candidate-task", "sbm-nod")
    assert missing.code == 2 and "task 'sbm-nod' has no results" in missing.err and "sbm-node-variant" in missing.err
    half = cli("compare", runs / "base", variant, "--base-task", "sbm-node")
    assert half.code == 2 and "--base-task and --candidate-task" in half.err


def _rewrite(src: Path, dst: Path, **changes) -> None:
    """A copy of a results directory whose records carry `changes` (resealed, as if a run had written them)."""
    store = ResultStore(dst)
    for p in ResultStore(src).record_paths():
        rec = read_record(p)
        update = {k: v(rec) if callable(v) else v for k, v in changes.items()}
        store.write(rec.model_copy(update=update))


def test_task_versions_damaged_records_and_costs(cli, runs, tmp_path):
    bumped = tmp_path / "bumped"
    _rewrite(runs / "base", bumped, task_version=2)
    result = cli("compare", runs / "base", bumped, "--format", "json", "--fail-on-regression")
    body = _json(result)
    assert body["pairs"] == [] and len(body["not_compared"]) == 2
    assert "task version differs (base v1, candidate v2)" in body["not_compared"][0]["reason"]
    assert result.code == 1 and "cannot vouch" in result.err  # a gate that compared nothing does not pass

    slow = tmp_path / "slow"
    _rewrite(runs / "base", slow, cost=lambda r: r.cost.model_copy(update={"s_per_epoch": r.cost.s_per_epoch * 5}))
    plain = cli("compare", runs / "base", slow, "--fail-on-regression", "--format", "json")
    assert plain.code == 0, plain  # cost alone never fails the metric gate
    body = json.loads(plain.out)
    slower = [c for c in body["costs"] if c["column"] == "s_per_epoch"]
    assert slower and all(c["verdict"] == "more expensive" and c["ratio"] > 4 for c in slower)
    assert all(p["verdict"] == "no detectable change" for p in body["pairs"])
    gate = cli("compare", runs / "base", slow, "--fail-on-cost")
    assert gate.code == 1 and "COST REGRESSION sbm-node / gcn: s_per_epoch" in gate.err

    victim = ResultStore(slow).record_paths()[0]
    victim.write_text(victim.read_text().replace('"seed": ', '"seed": 1', 1))  # damaged after it was written
    damaged = cli("compare", runs / "base", slow, "--format", "json")
    assert damaged.code == 0
    body = json.loads(damaged.out)
    assert any("excluded damaged record" in n for n in body["notes"]) and len(body["damaged_records"]) == 1
    assert {p["cand_n"] for p in body["pairs"]} == {4, 5}  # the damaged seed is left out, never averaged in
    gate = cli("compare", runs / "base", slow, "--fail-on-regression")
    assert gate.code == 1 and "1 damaged record(s) were excluded" in gate.err

    # A candidate whose jobs fail where the base's ran: the gate does not pass it on the seeds that are left.
    failing = tmp_path / "failing"
    _rewrite(runs / "base", failing, status=lambda r: "failed" if r.seed == 0 else r.status,
             error=lambda r: "RuntimeError: boom" if r.seed == 0 else None)
    gate = cli("compare", runs / "base", failing, "--fail-on-regression")
    assert gate.code == 1 and "FAILED JOBS sbm-node / gcn: 1 candidate job(s) failed" in gate.err
    assert "no detectable change" in gate.out  # the 4 seeds left show no change; the failure is what fails


def test_holm_and_bad_settings(cli, runs):
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.04, 0.01]) == pytest.approx([0.04, 0.02])  # monotone: never below an earlier step
    from scipy.stats import false_discovery_control

    from gbench.comparison import adjust

    ps = [0.01, 0.04, 0.03, 0.005]
    assert adjust(ps, "bh") == pytest.approx(list(false_discovery_control(ps))) and adjust(ps, "none") == ps
    with pytest.raises(Exception, match="--alpha"):
        Settings(alpha=1.5)
    bad = cli("compare", runs / "base", runs / "base", "--format", "xml")
    assert bad.code == 2 and "--format 'xml'" in bad.err
    nowhere = cli("compare", runs / "nowhere", runs / "base")
    assert nowhere.code == 2 and "does not exist" in nowhere.err


def test_a_named_test_split_is_compared_instead_of_the_headline(cli, runs, tmp_path):
    """--split compares another test split (a structural task's far-OOD): a candidate that is unchanged on the
    headline split but worse on that one passes the plain gate and fails the --split one; rows without the split
    are listed as not compared; a split nobody has stops with exit 2, naming the ones there are."""
    from scipy.stats import ttest_ind

    from gbench.results import read_results

    def with_far(shift):
        def metrics(r):
            far = {r.metric: r.headline() + shift} if r.model == "gcn" or shift == 0 else None
            return {**r.metrics, "test_far": far} if far else r.metrics
        return metrics

    base, cand = tmp_path / "base", tmp_path / "cand"
    _rewrite(runs / "base", base, metrics=with_far(0.0), test_splits=lambda r: r.test_splits + ["test_far"])
    _rewrite(runs / "base", cand, metrics=with_far(-0.2),  # mlp's candidate records have no far split
             test_splits=lambda r: r.test_splits + ["test_far"] if r.model == "gcn" else r.test_splits)
    assert cli("compare", base, cand, "--fail-on-regression").code == 0  # the headline split did not move
    gate = cli("compare", base, cand, "--split", "test_far", "--fail-on-regression")
    assert gate.code == 1 and "REGRESSION sbm-node / gcn: acc on test_far" in gate.err, gate
    assert "test split: test_far (not each task's headline split)" in gate.out
    body = _json(cli("compare", base, cand, "--split", "test_far", "--format", "json"))
    gcn = _pair(body, "gcn")
    values = {side: read_results(side).groups[("sbm-node", "gcn")] for side in (base, cand)}
    far = {side: [r.metrics["test_far"][r.metric] for r in sorted(v, key=lambda r: r.seed)]
           for side, v in values.items()}
    assert body["split"] == "test_far" and gcn["verdict"] == "worse" and gcn["gain"] == pytest.approx(-0.2)
    assert gcn["p_welch"] == pytest.approx(ttest_ind(far[cand], far[base], equal_var=False).pvalue, rel=1e-9)
    assert [(u["model"], u["reason"]) for u in body["not_compared"]] == [
        ("mlp", "candidate: no test split 'test_far' (it has test)")]
    # Leaderboard CSVs carry each extra split's mean and std: the same test from summary statistics.
    for side in (base, cand):
        read_results(side).frame.to_csv(side / "board.csv", index=False)
    csv = _pair(_json(cli("compare", base / "board.csv", cand / "board.csv", "--split", "test_far", "--format",
                          "json")), "gcn")
    assert csv["verdict"] == "worse" and csv["p_welch"] == pytest.approx(gcn["p_welch"], rel=1e-6)
    typo = cli("compare", base, cand, "--split", "test_fra")
    assert typo.code == 2 and "--split test_fra: no result in" in typo.err and "test, test_far" in typo.err
    val = cli("compare", base, cand, "--split", "val")
    assert val.code == 2 and "not the validation split" in val.err
