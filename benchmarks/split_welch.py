"""Welch's t-test between rows of results directories on one named test split (e.g. a structural task's far-OOD).

`gbench compare A B --base-model X --candidate-model Y --split SPLIT` tests one such pair. This script tests one
row against several rows spread over several results directories and corrects over all of them, with gbench's own
pieces: the records' per-seed values (`gbench.results.per_unit_values`), Welch's test from summary statistics
(`gbench.comparison.stats.welch_p`, scipy) and Holm's correction over the pairs given
(`gbench.comparison.stats.holm`).

    python benchmarks/split_welch.py --task structure-topology --split test_far_ood \
        leaderboards/runs/structure-paper-vision-protocol:resnet10-kk-scratch \
        leaderboards/runs/structure-paper-signnet-5seeds:gcn-signnet leaderboards/runs/structure-paper-spe-5seeds:gat-spe

The first DIR:MODEL is compared with each of the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402


def values(ref: str, task: str, split: str) -> list[float]:
    """The per-seed values of DIR:MODEL's row of `task` on `split`, read as `gbench compare --split` reads them."""
    from gbench.comparison.sides import load_side
    from gbench.errors import GbenchError

    where, _, model = ref.rpartition(":")
    if not where:
        raise GbenchError(f"{ref}: give DIR:MODEL, e.g. leaderboards/runs/structure-paper-spe-5seeds:gcn-spe.")
    [sample] = load_side(where, model, task=task, split=split).samples.values()
    if sample.missing_split or sample.values is None:
        raise GbenchError(f"--split {split}: {task} / {model} in {where} has {sample.missing_split or 'no records'}.")
    return sample.values


def main() -> None:
    from gbench.comparison.sides import sample_mean, sample_sd
    from gbench.comparison.stats import holm, welch_p

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True)
    ap.add_argument("--split", required=True, help="a test split of the task, e.g. test_far_ood")
    ap.add_argument("rows", nargs="+", help="DIR:MODEL; the first is compared with each of the others")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if len(args.rows) < 2:
        ap.error("give at least two DIR:MODEL rows")
    first = values(args.rows[0], args.task, args.split)
    out, raw = [], []
    for ref in args.rows[1:]:
        other = values(ref, args.task, args.split)
        p, note = welch_p(sample_mean(first), sample_sd(first), len(first),
                          sample_mean(other), sample_sd(other), len(other))
        out.append({"row": args.rows[0], "against": ref, "split": args.split, "mean": round(sample_mean(first), 4),
                    "n": len(first), "against_mean": round(sample_mean(other), 4), "against_n": len(other),
                    "welch_p": round(p, 4), "note": note})
        raw.append(p)
    for row, corrected in zip(out, holm(raw)):
        row["holm_p"] = round(corrected, 4)
        print(f"{args.task} {args.split}: {row['mean']:.4f} (n {row['n']}) against {row['against']} "
              f"{row['against_mean']:.4f} (n {row['against_n']}): Welch p {row['welch_p']:.3f}, Holm over "
              f"{len(out)} {row['holm_p']:.3f}", file=sys.stderr)
    write_json(out, args.json)


if __name__ == "__main__":
    from gbench.errors import GbenchError

    try:
        main()
    except GbenchError as e:
        raise SystemExit(f"error: {e}") from None
