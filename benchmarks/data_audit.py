"""Were the records on a page scored on the same data? For generated structure tasks, each record's data rebuilt as
the commit that wrote the record generated it, and compared.

    python benchmarks/data_audit.py RESULTS [RESULTS ...] [--data-root DIR] [--repo DIR]

A structure record carries `extra.data.content_hash`, the key of gbench's data cache: it covers the task's
parameters and the generator's source code, so a change to the code that makes the same graphs gives a new key, and
records of one page can carry several keys. For each catalog task the records ran, and each key they carry:
- every commit that wrote such a record computes its key again from its own source (`git archive` of the commit,
  unpacked to a temporary folder; a record written from a tree with uncommitted changes, its commit ending in
  "-dirty", is rebuilt from the commit and said so): a record whose key is not its commit's was served data that
  another commit made (from a cache; benchmarks/README.md section 21);
- the data is generated once per key, from the source of the first such commit, in a fresh cache, and digested
  with `gbench.data.staging.tensors_digest` (what newer records carry as `extra.data.data_digest`; a record that
  has one is checked against it too).
Each task ends with one line: one data under all its keys (one digest), or which keys give other data.
Exit 0 when every task has one digest and every key and record digest checks; 1 otherwise; 2 on bad input.
Generation is the cost: seconds to minutes per key (paper-sized symmetry the longest); the key checks are seconds
per commit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

from gbench.data.staging import tensors_digest
from gbench.data.structure.dataset import DIGESTED
from gbench.results import ResultStore, read_record

# Run with the commit's source first on the path: its key for each task, and with --generate its data's cache file.
PROBE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
from gbench.data.staging import DataContext
from gbench.data.structure import dataset
from gbench.specs import load_task
generate, cache, root = sys.argv[1] == "1", sys.argv[2], sys.argv[3] or None
out = {}
for name in sys.argv[4:]:
    params = dataset.structure_params(load_task(name))
    ctx = DataContext.from_env(root, cache, offline=True)
    if generate:
        dataset.load_or_generate(params, ctx)
    out[name] = {"key": dataset.content_key(params), "file": str(dataset.cache_path(params, ctx))}
print(json.dumps(out))
"""


def structure_records(dirs: list[Path]) -> dict[str, dict[str, dict[str, list]]]:
    """{task: {key: {commit: [records]}}} for the records of generated structure tasks that name their data."""
    out: dict[str, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for where in dirs:
        for path in ResultStore(where).record_paths():
            rec = read_record(path)
            data = (rec.extra or {}).get("data") or {}
            if not str(data.get("generator", "")).startswith("structure-") or "content_hash" not in data:
                continue
            commit = (rec.environment or {}).get("git_commit")
            if not commit:
                raise ValueError(f"{path}: the record names no git commit (environment.git_commit); its data "
                                 "cannot be rebuilt.")
            out[rec.task][data["content_hash"]][commit].append(rec)
    return out


def probe(repo: Path, commit: str, tasks: list[str], generate: bool, cache: Path, data_root: str) -> dict:
    """What `commit`'s own source says of `tasks`: each one's key, and where its data was written (generate)."""
    # A record written from a tree with uncommitted changes names its commit with "-dirty": rebuilt from the commit.
    commit = commit.removesuffix("-dirty")
    with tempfile.TemporaryDirectory(prefix=f"audit-{commit[:7]}-") as tmp:
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "gbench", "tasks", "baselines"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise ValueError(f"--repo: {repo} does not have commit {commit[:12]} "
                             f"({archive.stderr.decode().strip()}); give a clone with the records' history.")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        env = {k: v for k, v in os.environ.items() if k != "GBENCH_CATALOG"}  # the commit's own catalog
        env.update(PYTHONPATH=tmp, GBENCH_OFFLINE="1")
        run = subprocess.run([sys.executable, "-c", PROBE, "1" if generate else "0", str(cache), data_root, *tasks],
                             capture_output=True, text=True, cwd=tmp, env=env, check=False)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise ValueError(f"commit {commit[:12]}: its source could not rebuild {', '.join(tasks)} ({last}).")
        return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="results directories (a gbench run's --out)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git checkout with the records' commits")
    parser.add_argument("--data-root", default=os.environ.get("GBENCH_DATA", ""),
                        help="the data root (real symmetry bases; default: GBENCH_DATA)")
    args = parser.parse_args(argv)
    for where in args.results:
        if not where.is_dir():
            print(f"RESULTS: {where} is not a directory; give a gbench run's --out.", file=sys.stderr)
            return 2
    try:
        return audit(args)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2


def audit(args: argparse.Namespace) -> int:
    found = structure_records(args.results)
    if not found:
        print(f"RESULTS: no record of a generated structure task in {', '.join(map(str, args.results))}.",
              file=sys.stderr)
        return 2
    by_commit: dict[str, set[str]] = defaultdict(set)
    for task, keys in found.items():
        for commits in keys.values():
            for commit in commits:
                by_commit[commit].add(task)
    computed = {c: probe(args.repo, c, sorted(t), False, Path(tempfile.gettempdir()), args.data_root)
                for c, t in sorted(by_commit.items())}
    ok = True
    with tempfile.TemporaryDirectory(prefix="audit-cache-") as cache:
        for task, keys in sorted(found.items()):
            print(task)
            digests, task_ok = {}, True
            for key, commits in sorted(keys.items()):
                wrong = [c[:7] for c in commits if computed[c][task]["key"] != key]
                count = sum(map(len, commits.values()))
                first = min(commits, key=lambda c: min(r.started_at or "" for r in commits[c]))
                made = probe(args.repo, first, [task], True, Path(cache), args.data_root)[task]
                blob = torch.load(made["file"], weights_only=True)
                digests[key] = tensors_digest({k: blob[k] for k in DIGESTED})
                named = {r.extra["data"].get("data_digest") for rs in commits.values() for r in rs} - {None}
                print(f"  key {key}: {count} record(s), {len(commits)} commit(s), data digest "
                      f"{digests[key][:16]} (made at {first[:7]})")
                dirty = sorted(c[:7] for c in commits if c.endswith("-dirty"))
                if dirty:  # their tree may have differed from the commit: the rebuild is the commit's
                    print(f"    written from a tree with uncommitted changes at {' '.join(dirty)}; rebuilt from "
                          "the commit")
                if wrong:
                    task_ok = False
                    print(f"    commits whose own key differs (served another commit's data): {' '.join(wrong)}")
                if named - {digests[key]}:
                    task_ok = False
                    print(f"    records whose data_digest differs: {' '.join(sorted(d[:16] for d in named))}")
            same = len(set(digests.values())) == 1
            print(f"  {'one data' if same else f'{len(set(digests.values()))} different data'} under "
                  f"{len(digests)} key(s); " + ("every key is its commit's" if task_ok else "see above"))
            ok = ok and same and task_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
