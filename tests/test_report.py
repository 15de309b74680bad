"""The terminal leaderboard at 80 columns: values whole, seeds shown, one name per metric."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from gbench.report import fmt, metric_label, print_leaderboard, to_markdown

REPO = Path(__file__).resolve().parents[1]
VALUE = re.compile(r"\d+\.\d{4}(?: ± \d+\.\d{4})?")


def _table_lines(out: str) -> list[str]:
    """The printed leaderboard: from its header row (starting 'task') to the line after its last row."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("task "))
    end = next((i for i in range(start + 2, len(lines)) if lines[i].startswith(("wrote ", "ran "))), len(lines))
    return lines[start:end]


def _assert_whole(lines: list[str], frame: pd.DataFrame, width: int) -> None:
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    header = lines[0].split()
    assert header[:2] == ["task", "model"] and "test" in header and "seeds" in header, lines[0]
    rows = [line for line in lines[2:] if line.strip()]
    assert len(rows) == len(frame)
    seeds_end = lines[0].index(" seeds") + len(" seeds")  # the column is right-aligned under its header
    for line in rows:
        assert not line.rstrip().endswith("±") and "± " + " " * 3 not in line, line  # no std cut off
        assert re.search(r"\s\d+(?: \(\+\d+ failed\))?$", line[:seeds_end]), line  # the seeds cell, whole
    body = "\n".join(rows)
    for r in frame.to_dict("records"):  # every headline value, mean ± std, whole
        assert fmt(r["mean"], r["std"]) in body, (fmt(r["mean"], r["std"]), body)


def test_gbench_run_at_80_columns_prints_every_value_whole_with_its_seeds(tmp_path, session_cache):
    """The whole command, its output piped (Rich then assumes 80 columns unless COLUMNS says otherwise)."""
    spec = yaml.safe_load((REPO / "tasks" / "node" / "sbm-node.yaml").read_text())
    spec["id"] = "sbm-node-with-a-rather-long-task-identifier"
    spec["dataset"]["params"]["num_nodes"] = 200
    task = tmp_path / "long.yaml"
    task.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "GBENCH_CACHE": str(session_cache),
           "GBENCH_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "gbench", "run", "--tasks", str(task), "--models",
                           "gcn,label-propagation", "--seeds", "2", "--set", "train.epochs=3", "--device", "cpu",
                           "--threads", "1", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(out / "leaderboard.csv")
    lines = _table_lines(done.stdout)
    _assert_whole(lines, frame, 80)
    assert "accuracy" in lines[2] and " acc " not in "\n".join(lines)  # the registry's one name for accuracy
    assert set(frame["metric"]) == {"acc"}  # the CSV keeps the evaluator's own name


def _frame(rows: list[dict]) -> pd.DataFrame:
    base = {"task": "t", "model": "m", "metric": "acc", "mean": 0.5, "std": 0.01, "n_seeds": 3, "n_failed": 0,
            "n_diverged": 0, "val_mean": 0.6, "reference": float("nan"), "reference_std": float("nan"),
            "s_per_epoch": 0.0123, "peak_memory_mb": 1805.7, "peak_memory_kind": "rss_hwm_job",
            "num_params": 123456, "test_near_ood_mean": 1.0, "test_near_ood_std": 0.5,
            "test_far_ood_mean": 2.0, "test_far_ood_std": 0.7}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_table_fits_any_width_without_cutting_a_value():
    from rich.console import Console

    frame = _frame([
        {"task": "structure-symmetry-synthetic-cpu-with-a-longer-name", "model": "structure-agnostic-baseline",
         "mean": 32.9235, "std": 18.6535, "n_failed": 2, "reference": 0.815, "reference_std": 0.005},
        {"task": "sbm-node", "model": "gcn", "metric": "rocauc", "mean": 0.8633, "std": float("nan"), "n_seeds": 1},
        {"task": "sbm-link", "model": "common-neighbours", "metric": "hits@20", "mean": 124.3147, "std": 100.25},
    ])
    for width in (60, 80, 100, 140, 220):
        console = Console(width=width, record=True)
        print_leaderboard(frame, console)
        text = console.export_text()
        _assert_whole(_table_lines(text), frame, width)
        assert "(+2 failed)" in text and "rocauc" not in text
        if width >= 80:  # the metric column fits from 80 columns on
            assert "roc_auc" in text and "hits@20" in text
        if width >= 220:  # wide enough for every column: none is announced as left out
            assert "not shown" not in text and "123,456" in text and "0.8150 ± 0.0050" in text and "1,806" in text
        if width == 80:
            dropped = " ".join(text.split("not shown:")[1].split(";")[0].split())  # the title wraps at 80
            assert {"params", "peak MB"} <= set(dropped.split(", ")), dropped


def test_pages_give_each_rows_peak_memory_and_say_how_it_was_measured():
    from gbench.publish import to_html

    frame = _frame([{}, {"task": "u", "peak_memory_mb": 512.4, "peak_memory_kind": "cuda_max_allocated"},
                    {"task": "v", "peak_memory_kind": "cuda_max_allocated,rss_hwm_job"}])
    md = to_markdown(frame)
    header = next(line for line in md.splitlines() if line.startswith("| task"))
    assert "| s/epoch | peak MB | params |" in header
    assert "| 0.0123 | 1,806 | 123,456 |" in md and "| 0.0123 | 512 | 123,456 |" in md
    assert "| 0.0123 | mixed | 123,456 |" in md  # a GPU allocation and an RSS have no meaningful mean
    note = next(line for line in md.splitlines() if line.startswith("Peak MB is"))
    assert "`cuda_max_allocated`, torch's peak GPU allocation" in note and "`rss_hwm_job`, the process's" in note
    assert "Resident memory counts the whole process" in note and "`mixed` marks a row" in note
    gpu = to_markdown(frame.iloc[1:2])  # a GPU page: no word on resident memory, no row to mark mixed
    assert "Resident memory" not in gpu and "`mixed`" not in gpu and "`cuda_max_allocated`" in gpu
    page = to_html(frame, {}, "x")
    assert ">1,806</td>" in page and ">mixed</td>" in page and "Peak MB is the mean" in page
    from gbench.cli_results import MEMORY_LABELS
    from gbench.results.records import PEAK_MEMORY_KINDS

    assert set(MEMORY_LABELS) == set(PEAK_MEMORY_KINDS)  # every kind gbench.jobs.PeakMemory records, named both ways
    no_memory = frame.drop(columns=["peak_memory_mb", "peak_memory_kind"])
    assert "Peak MB is" not in to_markdown(no_memory) and "| 0.0123 | – | 123,456 |" in to_markdown(no_memory)


def test_markdown_and_comparison_tables_use_one_name_per_metric():
    md = to_markdown(_frame([{"metric": "acc"}, {"task": "u", "metric": "accuracy"}]))
    assert "| accuracy |" in md and "| acc |" not in md
    assert metric_label("acc") == metric_label("accuracy") == "accuracy"
    assert metric_label("rocauc") == metric_label("roc_auc") == "roc_auc"
    assert metric_label("hits@20") == "hits@20"


def test_pages_say_how_each_metric_reads_and_print_the_task_specs_own_deviations():
    from gbench.results.aggregate import task_deviations
    from gbench.specs import load_task

    md = to_markdown(_frame([{"metric": "acc"}, {"task": "u", "metric": "mae"}, {"task": "v", "metric": "hits@100"}]))
    assert "(accuracy, hits@100 as a fraction; mae in the target's units)" in md
    written = load_task("citeseer-link-70-10-20").deviations
    assert written and task_deviations("citeseer-link-70-10-20", 1) == tuple(written)
    assert task_deviations("citeseer-link-70-10-20", 99) == ()  # records of another version: not these words
    assert task_deviations("a-users-own-task", 1) == ()
    md = to_markdown(_frame([{"task": "citeseer-link-70-10-20", "task_deviation": "\n".join(written)}]))
    assert "- citeseer-link-70-10-20:\n" + "".join(f"  - {d}\n" for d in written) in md.split("Task deviations")[1]


def test_a_copied_task_prints_its_own_deviations_not_the_catalogs(cli, shared_data, tmp_path):
    """The records carry the deviations of the spec the job ran (a user's copy keeps the catalog id and version);
    only records made before they did fall back to the catalog spec of their version."""
    spec = yaml.safe_load((REPO / "tasks" / "link" / "citeseer-link-70-10-20.yaml").read_text())
    spec["deviations"] = ["my copy draws its split otherwise"]
    task = tmp_path / "copy.yaml"
    task.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    result = cli("run", "--tasks", task, "--models", "common-neighbours", "--seeds", "1", "--data-root", shared_data,
                 "--out", out)
    assert result.code == 0, result.err
    written = (out / "leaderboard.md").read_text().split("Task deviations")[1]
    assert "- citeseer-link-70-10-20:\n  - my copy draws its split otherwise\n" in written
    assert "unseeded generator" not in written  # the catalog spec's words are not this task's


def test_the_comparison_fits_80_columns_with_every_number_and_verdict_whole():
    # The CI gate's own comparison (the committed reference against itself): 21 pairs over 7 tasks, and a pair of
    # pages whose costs are compared too. At 80 columns each task is named once above its table, and no number
    # or verdict is cut.
    from rich.console import Console

    from gbench.comparison.verdicts import compare
    from gbench.comparison.render import comparison_rows, print_comparison

    runs = REPO / "leaderboards" / "runs"
    for base, cand in ((REPO / "leaderboards" / "ci-reference",) * 2,
                       (runs / "structure-paper-spe-traced", runs / "structure-paper-spe-5seeds")):
        comparison = compare(base, cand)
        console = Console(width=80, record=True)
        print_comparison(comparison, console)
        text = console.export_text()
        table = text.split("notes")[0].split("not compared")[0]
        assert max(map(len, table.splitlines())) <= 80
        rows = comparison_rows(comparison, compact=True)
        assert [line.removeprefix("task ") for line in table.splitlines() if line.startswith("task ")][
            :len({r[0] for r in rows})] == list(dict.fromkeys(r[0] for r in rows))
        for row in rows:
            line = next(line for line in table.splitlines() if f"{row[3]}  {row[4]}" in line)
            assert line.rstrip().endswith(row[-1]) and row[5] in line and row[8] in line  # gain, p, verdict
    assert "s/epoch  19.3496  13.7715  0.71x" in text  # the cost table of the second pair, whole
    # The protocol paragraph (about 320 characters) is wrapped at words, every word whole.
    protocol = comparison.settings.describe()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("A change counts only"))
    wrapped = lines[start:start + 5]
    assert max(map(len, wrapped)) <= 80
    assert " ".join(line.strip() for line in wrapped).startswith(protocol)
