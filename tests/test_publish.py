"""`gbench publish` (CSV, Markdown, a static HTML page checked in a real headless browser) and `gbench plot`."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_gbench, seed_tables
from rich.console import Console
import torch
import yaml

from gbench import cli_results
from gbench.data import SOURCES
from gbench.specs.params import SOURCE_PARAMS, FreeParams

FAST = ["--tasks", "sbm-node", "--set", "train.epochs=30", "--threads", "1"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def results(tmp_path_factory, session_cache) -> Path:
    out = tmp_path_factory.mktemp("publish-runs") / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBENCH_OFFLINE", "1")
        mp.setenv("GBENCH_CACHE", str(session_cache))
        mp.delenv("GBENCH_DATA", raising=False)
        mp.setenv("COLUMNS", "200")
        assert run_gbench("run", *FAST, "--models", "gcn,mlp,label-propagation", "--seeds", "3", "--out", out) == 0
    return out


def test_publish_writes_csv_markdown_html_and_never_overwrites_silently(cli, results, tmp_path):
    boards = tmp_path / "leaderboards"
    done = cli("publish", results, "--name", "sbm-cpu", "--dir", boards)
    assert done.code == 0, done
    csv, md, page = (boards / f"sbm-cpu.{ext}" for ext in ("csv", "md", "html"))
    assert csv.exists() and md.exists() and page.exists()
    board = pd.read_csv(csv)
    assert list(board.model) == ["gcn", "label-propagation", "mlp"] and set(board.n_seeds) == {3}
    assert board.equals(pd.read_csv(results / "leaderboard.csv"))  # the same aggregation as `gbench run`
    assert "| sbm-node | gcn | accuracy |" in md.read_text()
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # self-contained
    assert "<script src" not in text and "<link" not in text
    assert torch.__version__ in text and "torch_geometric" in text and "git_commit" in text
    assert "gbench run --tasks sbm-node" in text  # the command that produced the results
    again = cli("publish", results, "--name", "sbm-cpu", "--dir", boards)
    assert again.code == 2 and "exists already" in again.err and "--force" in again.err
    assert cli("publish", results, "--name", "sbm-cpu", "--dir", boards, "--force").code == 0
    bad = cli("publish", tmp_path / "nothing", "--name", "x", "--dir", boards)
    assert bad.code == 2 and "no records/ folder" in bad.err



def test_publish_keeps_the_records_as_a_results_directory_that_compare_seeds_and_republish_read(cli, results,
                                                                                                tmp_path):
    from gbench.results import ResultStore, read_results

    boards = tmp_path / "leaderboards"
    done = cli("publish", results, "--name", "sbm-cpu", "--dir", boards)
    assert done.code == 0, done
    runs = boards / "runs" / "sbm-cpu"
    source_files = {p.relative_to(results): p.read_bytes() for p in ResultStore(results).record_paths()}
    copied = {p.relative_to(runs): p.read_bytes() for p in ResultStore(runs).record_paths()}
    assert len(copied) == 9 and copied == source_files  # every record, byte for byte, in the same places
    assert ResultStore(runs).verify().damaged == []
    assert "absolute --out" in done.err  # the fixture ran with an absolute --out, kept in the copies' command
    assert "`runs/sbm-cpu/` beside it" in (boards / "sbm-cpu.md").read_text()
    assert read_results(runs).frame.equals(read_results(results).frame)
    same = cli("compare", runs, results, "--fail-on-regression")
    assert same.code == 0 and "no detectable change" in same.out, same
    seeds = cli("results", "seeds", runs)
    assert seeds.code == 0 and len(seed_tables(seeds.out)["sbm-node"]) == 9, seeds
    # Republished from its own copy (a fresh clone holds nothing else): the same page, the records untouched.
    before = (boards / "sbm-cpu.csv").read_text()
    assert cli("publish", runs, "--name", "sbm-cpu", "--dir", boards, "--force").code == 0
    assert (boards / "sbm-cpu.csv").read_text() == before
    assert {p.relative_to(runs): p.read_bytes() for p in ResultStore(runs).record_paths()} == copied
    assert not [p for p in (boards / "runs").iterdir() if p.name.startswith(".")]  # no staging left behind
    # The copy resumes the sweep it came from: every job is found done.
    resumed = tmp_path / "resumed"
    shutil.copytree(runs, resumed)
    rerun = cli("run", *FAST, "--models", "gcn,mlp,label-propagation", "--seeds", "3", "--out", resumed)
    assert rerun.code == 0 and "ran 0, already done 9" in rerun.out, rerun
    # A record folder of that name is not replaced silently either.
    (boards / "sbm-cpu.csv").unlink(), (boards / "sbm-cpu.md").unlink(), (boards / "sbm-cpu.html").unlink()
    again = cli("publish", results, "--name", "sbm-cpu", "--dir", boards)
    assert again.code == 2 and "runs/sbm-cpu exists already" in again.err, again


def test_a_leaderboard_names_every_command_that_wrote_its_records(cli, results, tmp_path, session_cache,
                                                                     monkeypatch):
    extended = tmp_path / "extended"
    shutil.copytree(results, extended)
    monkeypatch.setenv("GBENCH_OFFLINE", "1")
    monkeypatch.setenv("GBENCH_CACHE", str(session_cache))
    monkeypatch.delenv("GBENCH_DATA", raising=False)
    assert cli("run", *FAST, "--models", "mlp", "--seeds", "4", "--out", extended).code == 0  # adds mlp seed 3
    for md in (extended / "leaderboard.md", tmp_path / "boards" / "ext.md"):
        if not md.exists():
            assert cli("publish", extended, "--name", "ext", "--dir", md.parent).code == 0
        head = md.read_text().split("|", 1)[0]
        assert "Produced by these commands" in head
        assert "--models gcn,mlp,label-propagation --seeds 3" in head and "--models mlp --seeds 4" in head


def test_a_published_leaderboard_names_no_machine_path(cli, results, tmp_path):
    from gbench.publish import portable_command

    assert str(results).startswith("/")  # the fixture ran with an absolute --out
    boards = tmp_path / "boards"
    assert cli("publish", results, "--name", "sbm-cpu", "--dir", boards).code == 0
    for page in (boards / "sbm-cpu.md", boards / "sbm-cpu.html"):
        text = page.read_text()
        assert str(results) not in text and "--out results/sbm-cpu" in text
        assert "absolute `--out` is shown as `results/&lt;name&gt;`" in text or "as `results/<name>`" in text
    assert (portable_command("gbench run --seeds 3 --out leaderboards-work/x", "n")
            == "gbench run --seeds 3 --out leaderboards-work/x")  # relative: kept as typed
    assert (portable_command("gbench run --out=/tmp/a --set 'x=a b'", "n")
            == "gbench run --out=results/n --set 'x=a b'")
    assert (portable_command("gbench run --out '/tmp/my runs/r' --seeds 1", "n")
            == "gbench run --out results/n --seeds 1")


def _dom(page: Path, fragment: str = "") -> str:
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri() + fragment],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _column(dom: str, index: int) -> list[str]:
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [re.findall(r'<td[^>]*data-value="([^"]*)"', row)[index] for row in rows]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium); "
                                             "the HTML page is checked in a real headless browser only")
def test_html_table_renders_and_sorts_in_headless_chromium(cli, results, tmp_path):
    assert cli("publish", results, "--name", "page", "--dir", tmp_path).code == 0
    page = tmp_path / "page.html"
    board = pd.read_csv(tmp_path / "page.csv")
    plain = _dom(page)
    head = plain.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert 'data-sortable="ready"' in plain and "aria-sort" not in head  # the script ran; nothing sorted yet
    assert _column(plain, 1) == ["gcn", "label-propagation", "mlp"]  # rendered rows, in the CSV's order
    # #sort=mean clicks the "test" header once on load: ascending by the measured mean.
    ascending = _dom(page, "#sort=mean")
    assert re.search(r'<th data-key="mean"[^>]*aria-sort="ascending"', ascending)
    assert _column(ascending, 1) == list(board.sort_values("mean").model)
    assert [float(v) for v in _column(ascending, 3)] == sorted(board["mean"])
    descending = _dom(page, "#sort=-mean")
    assert _column(descending, 1) == list(board.sort_values("mean", ascending=False).model)
    # Label propagation has no epochs: its missing s/epoch sorts last in either direction.
    by_time = _dom(page, "#sort=-s_per_epoch")
    assert _column(by_time, 1)[-1] == "label-propagation" and _column(by_time, 7)[-1] == ""
    assert _column(by_time, 1)[:2] == list(board.dropna(subset=["s_per_epoch"]).sort_values(
        "s_per_epoch", ascending=False).model)


def _png(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 300 and height >= 250 and len(data) > 5_000, (width, height, len(data))
    import matplotlib.image

    assert matplotlib.image.imread(path).shape[:2] == (height, width)  # it decodes
    return width, height


def test_plots_are_pngs_and_bad_arguments_are_refused(cli, results, tmp_path):
    for kind, extra in (("bars", []), ("cost", []), ("cost", ["--cost", "memory"])):
        done = cli("plot", results, "--kind", kind, *extra, "--out", tmp_path / kind / "-".join(extra or ["x"]))
        assert done.code == 0, done
        _png(tmp_path / kind / "-".join(extra or ["x"]) / f"{kind}.png")
    from_csv = cli("plot", results / "leaderboard.csv", "--kind", "bars", "--out", tmp_path / "csv")
    assert from_csv.code == 0 and _png(tmp_path / "csv" / "bars.png")
    kind = cli("plot", results, "--kind", "pie", "--out", tmp_path)
    assert kind.code == 2 and "--kind 'pie': choose bars, cost or scale" in kind.err
    cost = cli("plot", results, "--kind", "cost", "--cost", "carbon", "--out", tmp_path)
    assert cost.code == 2 and "--cost 'carbon'" in cost.err
    scale = cli("plot", results, "--kind", "scale", "--out", tmp_path)
    assert scale.code == 2 and "no task here has extra test splits" in scale.err
    missing = cli("plot", tmp_path / "nope.csv", "--out", tmp_path)
    assert missing.code == 2 and "results directory" in missing.err



def test_one_reader_gives_compare_publish_and_plot_the_same_rows_from_a_directory_or_its_csv(cli, results, tmp_path):
    from gbench.results import read_results

    from_dir, from_csv = read_results(results), read_results(results / "leaderboard.csv")
    assert (from_dir.kind, from_csv.kind) == ("records", "csv")
    assert from_dir.heads() == from_csv.heads() == {"sbm-node": "test"}  # the headline test split is a column
    assert sorted(len(recs) for recs in from_dir.groups.values()) == [3, 3, 3] and not from_csv.groups
    columns = ["task", "model", "metric", "mean", "std", "n_seeds", "test_split"]
    pd.testing.assert_frame_equal(from_dir.frame[columns].reset_index(drop=True), from_csv.frame[columns],
                                  check_exact=False, rtol=1e-12)
    same = cli("compare", results, results / "leaderboard.csv")
    assert same.code == 0 and "3 no detectable change" in same.out.replace("\n", " ")
    # One reader, one refusal: every command says the same about a CSV that is not a leaderboard.
    stray = tmp_path / "stray.csv"
    stray.write_text("a,b\n1,2\n")
    for command in (("compare", stray, results), ("plot", stray, "--out", tmp_path)):
        refused = cli(*command)
        assert refused.code == 2 and "not a gbench leaderboard CSV, missing column(s) task, model" in refused.err
    assert "no records/ folder" in cli("publish", stray, "--name", "x", "--dir", tmp_path).err

def load_sizes(task, ctx):
    """Rings (1) versus paths (0): small graphs to train on, a larger test split per scale."""
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    from gbench.data.graphs import GraphTaskData

    def graph(n: int, ring: bool):
        src = torch.arange(n - 1)
        edges = torch.stack([src, src + 1])
        if ring:
            edges = torch.cat([edges, torch.tensor([[n - 1], [0]])], dim=1)
        return Data(edge_index=to_undirected(edges, num_nodes=n), num_nodes=n, x=torch.ones(n, 1))

    sizes = [4 + i % 5 for i in range(60)] + [12 + i % 4 for i in range(16)] + [24 + i % 4 for i in range(16)]
    graphs = [graph(n, i % 2 == 0) for i, n in enumerate(sizes)]
    y = torch.tensor([i % 2 == 0 for i in range(len(sizes))], dtype=torch.long)
    split = {"train": torch.arange(40), "val": torch.arange(40, 50), "test": torch.arange(50, 60),
             "test_x2": torch.arange(60, 76), "test_x4": torch.arange(76, 92)}
    return GraphTaskData(graphs=graphs, y=y, splits=[split], num_classes=2)


def test_run_writes_the_scale_plot_beside_a_leaderboard_with_scale_splits(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(SOURCES, "test-sizes", f"{__name__}:load_sizes")
    monkeypatch.setitem(SOURCE_PARAMS, "test-sizes", FreeParams)  # a source the specs do not know
    spec = {"id": "sizes", "version": 1, "level": "graph", "description": "rings versus paths at three sizes",
            "dataset": {"source": "test-sizes"}, "split": {"kind": "generated",
                                                          "test_splits": ["test", "test_x2", "test_x4"]},
            "target": "multiclass", "metric": {"name": "accuracy", "higher_is_better": True},
            "protocol": {"seeds": 2, "epochs": 4, "batch_size": 16, "optim": {"lr": 0.01}}}
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    done = cli("run", "--tasks", path, "--models", "gin,gcn", "--seeds", "2", "--threads", "1", "--out", out)
    assert done.code == 0, done
    assert {"test_x2_mean", "test_x4_mean"} <= set(pd.read_csv(out / "leaderboard.csv").columns)
    _png(out / "leaderboard-scale.png")
    again = cli("plot", out, "--kind", "scale", "--out", tmp_path / "plots")
    assert again.code == 0 and _png(tmp_path / "plots" / "scale.png")


def test_a_row_trained_otherwise_than_its_task_protocol_is_listed_in_every_format(cli, results, tmp_path):
    """sbm-node's protocol says 200 epochs and 3 seeds; the fixture ran 3 seeds with --set train.epochs=30."""
    board = pd.read_csv(results / "leaderboard.csv")
    assert set(board.protocol_deviation) == {"epochs 30 (task 200)"}
    assert cli("publish", results, "--name", "dev", "--dir", tmp_path).code == 0
    md, page = (tmp_path / "dev.md").read_text(), (tmp_path / "dev.html").read_text()
    assert "Protocol deviations (from the records" in md and "- sbm-node / gcn: epochs 30 (task 200)" in md
    assert "<li>sbm-node / mlp: epochs 30 (task 200)</li>" in page


def test_hyperparameters_set_otherwise_than_the_shipped_spec_are_listed_beside_the_protocol(cli, results, tmp_path,
                                                                                          session_cache, monkeypatch):
    """`--set hidden=8` on a shipped model is a deviation a page must show; so is a schedule the spec gained after
    the records, while a candidate, a tuned row, a neutral setting (cached) and a model whose implementation the
    catalog no longer has are not compared."""
    from gbench.results.aggregate import spec_deviation
    from gbench.results.store import load_records

    monkeypatch.setenv("GBENCH_OFFLINE", "1")
    monkeypatch.setenv("GBENCH_CACHE", str(session_cache))
    monkeypatch.delenv("GBENCH_DATA", raising=False)
    out = tmp_path / "narrow"
    assert cli("run", "--tasks", "sbm-node", "--models", "gcn", "--seeds", "1", "--set", "train.epochs=5",
               "--set", "hidden=8", "--set", "optim.lr=0.05", "--threads", "1", "--out", out).code == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.protocol_deviation) == ["epochs 5 (task 200); hidden=8 (shipped spec: 16); optim.lr=0.05 "
                                              "(shipped spec: 0.01); 1 of 3 seeds"]
    assert cli("publish", out, "--name", "narrow", "--dir", tmp_path / "pages").code == 0
    md = (tmp_path / "pages" / "narrow.md").read_text()
    assert "or its hyperparameters from its shipped model spec's" in md and "hidden=8 (shipped spec: 16)" in md

    gcn = next(r for r in load_records(results) if r.model == "gcn")
    assert spec_deviation(gcn) == []  # ran as shipped
    spec = gcn.model_spec
    older = {**spec, "optim": {k: v for k, v in spec["optim"].items() if k != "name"}}  # a field added later
    assert spec_deviation(gcn.model_copy(update={"model_spec": older})) == []
    changed = {**spec, "hparams": {**spec["hparams"], "cached": False, "pe_args": {"pool": "mean"}},
               "train": {**spec["train"], "lr_schedule": {"name": "plateau", "gamma": 0.5}}}
    assert spec_deviation(gcn.model_copy(update={"model_spec": changed})) == [
        "pe_args={pool: mean} (shipped spec: unset)", "train.lr_schedule={name: plateau, gamma: 0.5} (shipped spec: "
        "unset)"]
    for other in ({"candidate": True}, {"tuning": {"tune": "x"}},
                  {"model_spec": {**changed, "implementation": "gbench.models.node:mlp"}}):
        assert spec_deviation(gcn.model_copy(update={"model_spec": changed, **other})) == []


def test_records_written_before_they_carried_their_protocol_or_reference_are_read_against_the_catalog(results):
    """Old records have no `task_protocol`; a reference added to a task spec after its records were written is
    still shown beside them (same task id and version only)."""
    from gbench.results.aggregate import aggregate, protocol_deviation
    from gbench.results.store import load_records
    from gbench.specs.catalog import load_task

    gcn = [r for r in load_records(results) if r.model == "gcn"]
    old = [r.model_copy(update={"extra": {k: v for k, v in r.extra.items() if k != "task_protocol"}})
           for r in gcn]
    assert all(r.extra.get("task_protocol") for r in gcn) and not any("task_protocol" in r.extra for r in old)
    assert protocol_deviation(old[0], 1) == "epochs 30 (task 200); 1 of 3 seeds"
    assert protocol_deviation(old[0].model_copy(update={"task_version": 999}), 1) is None  # unknown: no guess
    topology = load_task("structure-topology")
    moved = [r.model_copy(update={"task": topology.id, "task_version": topology.version, "model": "gcn-degree",
                                  "reference": None}) for r in old]
    row = aggregate(moved).iloc[0]
    assert row["reference"] == topology.reference["gcn-degree"].value
    assert "Table 2" in row["reference_source"]
    assert row["protocol_deviation"] == "epochs 30 (task 200); 3 of 5 seeds"  # against the topology protocol


def test_a_scale_plot_of_many_models_draws_each_as_its_own_line_the_same_in_every_panel(tmp_path, monkeypatch):
    """Past ten models the colour cycle repeats: two models must never share a colour, marker and line style,
    and a model keeps its style from one task's panel to the next."""
    import gbench.plots as plots

    rows = [{"task": task, "model": f"model-{i:02d}", "metric": "accuracy", "mean": 0.9 - i / 100, "std": 0.01,
             "test_far_ood_mean": 0.5 + i / 100, "test_far_ood_std": 0.02}
            for task in ("topology", "symmetry") for i in range(14 if task == "topology" else 13, -1, -1)
            if not (task == "symmetry" and i == 3)]  # a model missing from one panel shifts no other's style
    seen = {}
    save = plots._save

    def capture(plt, fig, path, legend=None):
        seen["styles"] = [{(c.get_label(), c.lines[0].get_color(), c.lines[0].get_marker(), c.lines[0].get_linestyle())
                           for c in ax.containers} for ax in fig.axes if ax.get_visible()]
        seen["legend"] = legend
        return save(plt, fig, path, legend)

    monkeypatch.setattr(plots, "_save", capture)
    assert plots.plot_scale(pd.DataFrame(rows), tmp_path / "scale.png").exists()
    topology, symmetry = seen["styles"]
    assert len(topology) == 15 and len({s[1:] for s in topology}) == 15  # 15 models, 15 distinct lines
    assert symmetry <= topology  # the same model, the same line in both panels
    labels = [t.get_text() for t in seen["legend"].get_texts()]
    assert labels == sorted(labels) and len(labels) == 15  # one legend beside the grid, every model once


def test_results_seeds_lists_every_record_with_the_values_the_leaderboard_averages(cli, results):
    listed = cli("results", "seeds", results)
    assert listed.code == 0, listed.out
    assert "status ok, commit " in listed.out.splitlines()[0]  # shared by every record: said once, no column
    board = pd.read_csv(results / "leaderboard.csv")
    for _, row in board.iterrows():
        lines = [cells for cells in seed_tables(listed.out)[row["task"]] if cells["model"] == row["model"]]
        assert [int(cells["seed"]) for cells in lines] == [0, 1, 2]  # one line per seed, in order
        assert [int(cells["split"]) for cells in lines] == [0, 1, 2]  # sbm-node: seed s on split s
        tests = [float(cells["test"]) for cells in lines]
        assert abs(sum(tests) / len(tests) - row["mean"]) < 1e-4  # the values the row's mean is of
    missing = cli("results", "seeds", results / "nowhere")
    assert missing.code == 2 and "no records/ folder" in missing.err


def test_results_seeds_lists_each_test_split_of_a_task_with_several(cli, monkeypatch):
    # A committed page's records (structural task: ID, near- and far-OOD test splits): one column per test split,
    # whose per-seed values average to the page's CSV, every cell whole in an 80-column terminal.
    runs = Path(__file__).resolve().parents[1] / "leaderboards" / "runs" / "structure-paper-signnet-5seeds"
    listed = cli("results", "seeds", runs)
    assert listed.code == 0, listed.out
    board = pd.read_csv(runs.parent.parent / "structure-paper-signnet-5seeds.csv")
    for _, row in board.iterrows():
        lines = [cells for cells in seed_tables(listed.out)[row["task"]] if cells["model"] == row["model"]]
        assert len(lines) == 5
        for split, mean in (("test", "mean"), ("near_ood", "test_near_ood_mean"), ("far_ood", "test_far_ood_mean")):
            values = [float(cells[split]) for cells in lines]
            assert abs(sum(values) / 5 - row[mean]) < 1e-4
    # Records of several commits keep a commit column, and still fit 80 columns without cutting a cell.
    monkeypatch.setattr(cli_results, "console", Console(width=80, force_terminal=False))
    mixed = cli("results", "seeds", runs.parent / "structure-paper-symmetry-pe")
    assert mixed.code == 0 and max(map(len, mixed.out.splitlines())) <= 80, mixed.out
    rows = seed_tables(mixed.out)["structure-symmetry"]
    records = list((runs.parent / "structure-paper-symmetry-pe" / "records").glob("**/*.json"))
    assert len(rows) == len(records) > 13 and {len(r["commit"]) for r in rows} == {7}
    assert {r["model"] for r in rows} >= {"gcn-spe"}


def test_results_seeds_memory_lists_each_records_peak_and_says_how_it_was_measured(cli, monkeypatch, tmp_path):
    # --memory adds each seed's cost.peak_memory_mb (the figure a page's cost notes quote per seed). A committed
    # page's records (several commits, one way of measuring): the kind is said once above the tables, every cell
    # whole in 80 columns.
    from gbench.results import ResultStore, read_record

    page = Path(__file__).resolve().parents[1] / "leaderboards" / "runs" / "structure-paper-regression-spe"
    monkeypatch.setattr(cli_results, "console", Console(width=80, force_terminal=False))
    listed = cli("results", "seeds", page, "--memory")
    assert listed.code == 0 and max(map(len, listed.out.splitlines())) <= 80, listed.out
    assert "memory rss_hwm_job (every record)" in listed.out.splitlines()[0]
    records = [read_record(p) for p in ResultStore(page).record_paths()]
    shown = {(task, r["model"], int(r["seed"])): r["peak_MB"] for task, rows in seed_tables(listed.out).items()
             for r in rows}
    assert len(shown) == len(records) > 10
    assert all(shown[(r.task, r.model, r.seed)] == f"{r.cost.peak_memory_mb:.0f}" for r in records)
    assert "peak_MB" not in cli("results", "seeds", page).out  # without the flag, the table is as it was
    # Records measured two ways (a GPU record beside CPU ones) keep a column saying how each was measured.
    shutil.copytree(page / "records", tmp_path / "records")
    store = ResultStore(tmp_path)
    first = store.record_paths()[0]
    gpu = read_record(first)
    gpu = gpu.model_copy(update={"cost": gpu.cost.model_copy(update={"peak_memory_mb": 407.4,
                                                                      "peak_memory_kind": "cuda_max_allocated"})})
    first.unlink()
    store.write(gpu)
    out = cli("results", "seeds", tmp_path, "--memory").out
    assert max(map(len, out.splitlines())) <= 80, out
    assert out.splitlines()[1] == "mem: gpu cuda_max_allocated, rss rss_hwm_job"  # the labels, explained
    mixed = seed_tables(out)[gpu.task]
    row = next(r for r in mixed if r["model"] == gpu.model and int(r["seed"]) == gpu.seed)
    assert (row["peak_MB"], row["mem"]) == ("407", "gpu")
    assert [r["mem"] for r in mixed].count("rss") == len(mixed) - 1


def test_results_seeds_keeps_a_model_shown_with_its_hash_whole_at_80_columns(cli, monkeypatch, tmp_path):
    # One model run with two configurations is shown as gcn-spe@<hash> (16 characters); beside three test splits
    # and a commit column it fits 80 columns, with neither the name nor the commit cut (the commit was cut to 6
    # characters while the table had two spaces between columns).
    from gbench.results import ResultStore, read_record

    page = Path(__file__).resolve().parents[1] / "leaderboards" / "runs" / "structure-paper-symmetry-pe"
    shutil.copytree(page / "records", tmp_path / "records")
    store = ResultStore(tmp_path)
    first = next(p for p in store.record_paths() if "/gcn-spe/" in p.as_posix())
    other = read_record(first).model_copy(update={"model_hash": "0123456789abcdef", "job_id": "fedcba9876543210"})
    store.write(other)  # the same model with another configuration (as `--set` would give)
    monkeypatch.setattr(cli_results, "console", Console(width=80, force_terminal=False))
    listed = cli("results", "seeds", tmp_path)
    assert listed.code == 0 and max(map(len, listed.out.splitlines())) <= 80, listed.out
    rows = seed_tables(listed.out)["structure-symmetry"]
    assert [r["model"] for r in rows].count("gcn-spe@01234567") == 1
    assert sum(re.fullmatch(r"gcn-spe@[0-9a-f]{8}", r["model"]) is not None for r in rows) == 6
    assert {len(r["commit"]) for r in rows} == {7}
    # With --memory the line is 8 characters longer: the hashed name folds onto a second line, no number is cut.
    wide = cli("results", "seeds", tmp_path, "--memory").out
    assert max(map(len, wide.splitlines())) <= 80, wide
    lines = [line.split() for line in wide.splitlines()
             if re.match(r"[a-z]", line) and len(line.split()) > 8 and not line.startswith("model ")]
    assert len(lines) == len(rows) and {len(cells[-1]) for cells in lines} == {7}  # every commit whole
    assert all(re.fullmatch(r"\d+", cells[-2]) for cells in lines)  # and every peak_MB
