"""PubMed (Planetoid) at node and link level, offline from the shared data root, whose `ind.pubmed.allx` is the
rebuilt copy (../shared/data/README.md): the official counts, the 85/5/10 edge split, and the data deviation that
every record and leaderboard made from the rebuilt file carries."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from conftest import missing_data
from gbench.specs import load_task
from gbench.data import DataContext, load_task_data
from gbench.errors import DatasetUnavailable

REBUILT_SHA256 = "1be14ba1a7bd9be37a375368cb3aac6e121278f70ec0e8ca0ea2f166ceff67b9"


@pytest.fixture(scope="module")
def pubmed_root(shared_data) -> Path:
    raw = shared_data / "Planetoid" / "PubMed" / "raw"
    if not (raw / "ind.pubmed.allx").is_file():
        missing_data(f"PubMed's Planetoid files not found under {raw}")
    return shared_data


@pytest.fixture(scope="module")
def pubmed_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pubmed-cache")


def _rebuilt_here(root: Path) -> bool:
    from gbench.data.staging import sha256_file

    return sha256_file(root / "Planetoid" / "PubMed" / "raw" / "ind.pubmed.allx") == REBUILT_SHA256


def test_pubmed_official_counts(pubmed_root, pubmed_cache):
    td = load_task_data(load_task("pubmed"), DataContext.from_env(pubmed_root, pubmed_cache, offline=True))
    data = td.data
    assert (data.num_nodes, data.edge_index.size(1), data.x.size(1), td.num_classes) == (19717, 88648, 500, 3)
    assert len(td.splits) == 1
    split = td.splits[0]
    assert (len(split.train), len(split.val), len(split.test)) == (60, 500, 1000)
    assert int(data.y[split.train].bincount(minlength=3).min()) == 20  # 20 labelled nodes per class


def test_pubmed_record_and_leaderboard_name_the_rebuilt_features(cli, pubmed_root, pubmed_cache, tmp_path):
    if not _rebuilt_here(pubmed_root):
        pytest.skip("this data root holds Planetoid's original ind.pubmed.allx: no deviation to report")
    out = tmp_path / "out"
    result = cli("run", "--tasks", "pubmed", "--models", "logreg", "--seeds", "1", "--data-root", pubmed_root,
                 "--cache-dir", pubmed_cache, "--out", out)
    assert result.code == 0, result.err
    (path,) = [p for p in (out / "records").rglob("*.json") if "_attempts" not in p.parts]
    record = json.loads(path.read_text())
    assert record["status"] == "ok"
    assert "ind.pubmed.allx" in record["extra"]["data_deviation"]
    assert "rebuilt" in record["extra"]["data_deviation"]
    assert record["extra"]["data_deviation"] in (out / "leaderboard.md").read_text()
    assert "rebuilt" in (out / "leaderboard.csv").read_text()
    written = load_task("pubmed").deviations[0]  # and the task spec's own words, under their own heading
    assert f"- pubmed:\n  - {written}" in (out / "leaderboard.md").read_text().split("Task deviations")[1]
    assert cli("publish", out, "--name", "pubmed", "--dir", tmp_path / "pub").code == 0
    page = (tmp_path / "pub" / "pubmed.html").read_text()
    assert "ind.pubmed.allx is the reconstructed file" in page
    assert "Task deviations" in page and html.escape(written) in page


def test_pubmed_link_split_is_85_5_10_of_the_undirected_edges(pubmed_root, pubmed_cache):
    import torch

    td = load_task_data(load_task("pubmed-link"), DataContext.from_env(pubmed_root, pubmed_cache, offline=True))
    edges = 88648 // 2  # each undirected edge of PubMed once
    n_test, n_val = round(0.10 * edges), round(0.05 * edges)
    assert (td.num_nodes, td.num_features) == (19717, 500)
    assert (td.train_pos.size(1), td.pos["val"].size(1), td.pos["test"].size(1)) == (edges - n_test - n_val,
                                                                                       n_val, n_test)
    assert (td.neg["val"].size(1), td.neg["test"].size(1)) == (n_val, n_test)
    everything = torch.cat([td.train_pos, td.pos["val"], td.pos["test"]], dim=1)
    assert torch.unique(everything[0] * td.num_nodes + everything[1]).numel() == edges  # disjoint parts
    if _rebuilt_here(pubmed_root):
        assert "ind.pubmed.allx" in td.info["deviation"]


def test_an_unknown_allx_is_refused_with_its_checksum(pubmed_root, tmp_path):
    root = tmp_path / "root"
    raw = root / "Planetoid" / "PubMed" / "raw"
    shutil.copytree(pubmed_root / "Planetoid" / "PubMed" / "raw", raw)
    with open(raw / "ind.pubmed.allx", "ab") as f:
        f.write(b"\0")  # after the pickle's end: it still loads, but it is not a file anyone published
    with pytest.raises(DatasetUnavailable, match=r"ind\.pubmed\.allx: sha256 [0-9a-f]{64} is neither"):
        load_task_data(load_task("pubmed"), DataContext.from_env(root, tmp_path / "cache", offline=True))
