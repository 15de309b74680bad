"""Print the per-epoch curves of traced runs (`--set train.trace_every=N`): each split's metric as training goes on
(and, in records since 2026-12-05, the epoch's mean training loss and the validation loss), with the epoch that
validation selected marked, so one can see whether the scale splits move with the in-distribution
ones or away from them. An untraced graph record (gbench a1b58d1 on) or node record (b0d3a46 on) has its
validation history instead (`extra.history`: every evaluated epoch's validation metric and loss and mean training
loss), printed the same way.

    python benchmarks/split_curves.py RESULTS_DIR [--model gcn-spe] [--every 5] [--gap test_id]

`--gap SPLIT` ends each record with how validation compares with SPLIT over every traced epoch (at how many it is
lower, and the mean difference), to tell a gap that validation selection makes (at the selected epoch only) from
one the two splits' graphs make (at every epoch).

A diagnostic, not a selection rule: gbench selects on the validation split only, traced or not
(tests/test_structure.py checks that a traced record equals the untraced one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from gbench.results import ResultStore, read_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a results directory holding traced records")
    parser.add_argument("--model", help="only this model's records")
    parser.add_argument("--every", type=int, default=1, help="print every Nth traced epoch (and the selected one)")
    parser.add_argument("--gap", metavar="SPLIT", help="summarise validation minus SPLIT (e.g. test_id) per epoch")
    args = parser.parse_args(argv)

    records = [read_record(p) for p in ResultStore(args.results).record_paths()]
    traced = sorted((r for r in records if r.status == "ok" and _curve(r)
                     and (args.model is None or r.model == args.model)), key=lambda r: (r.task, r.model, r.seed))
    if not traced:
        print(f"{args.results}: no traced records and none with a validation history (run with --set "
              "train.trace_every=N)", file=sys.stderr)
        return 1
    for rec in traced:
        curve = _curve(rec)
        splits = [s for s in curve if s != "epoch"]
        print(f"\n{rec.task} / {rec.model} / seed {rec.seed}: {rec.metric}, selected epoch {rec.selected_epoch} "
              f"of {rec.epochs_run} (commit {(rec.environment or {}).get('git_commit', '?')[:7]})")
        print("epoch  " + "  ".join(f"{s:>13}" for s in splits))
        for i, epoch in enumerate(curve["epoch"]):
            if epoch % args.every and epoch != rec.selected_epoch:
                continue
            mark = " <- selected" if epoch == rec.selected_epoch else ""
            print(f"{epoch:>5}  " + "  ".join(f"{curve[s][i]:>13.4f}" if curve[s][i] is not None else f"{'-':>13}"
                                              for s in splits) + mark)
        vals = [v for v in curve.get("val", []) if v is not None]
        if vals and rec.selected_epoch in curve["epoch"]:
            # How the kept value sits in the curve: a rare low of a noisy curve, or one of many epochs like it.
            print(kept_line(vals, curve["val"][curve["epoch"].index(rec.selected_epoch)]))
        if args.gap:
            if args.gap not in curve:
                has = ("only its validation history: --gap needs a traced record (--set train.trace_every=N)"
                       if "curve" not in rec.extra else f"the splits {', '.join(splits)}")
                print(f"--gap: {rec.task} / {rec.model} / seed {rec.seed} has no split {args.gap!r}; it has {has}.",
                      file=sys.stderr)
                return 2
            pairs = [(v, o) for v, o in zip(curve["val"], curve[args.gap]) if v is not None and o is not None]
            if not pairs:
                print(f"--gap: no traced epoch scores both val and {args.gap}.", file=sys.stderr)
                return 2
            lower = sum(v < o for v, o in pairs)
            gap = sum(v - o for v, o in pairs) / len(pairs)
            at = curve["epoch"].index(rec.selected_epoch) if rec.selected_epoch in curve["epoch"] else None
            kept = "" if at is None else f"; at the selected epoch {curve['val'][at] - curve[args.gap][at]:+.4f}"
            print(f"val - {args.gap}: val lower at {lower} of {len(pairs)} traced epochs, "
                  f"mean difference {gap:+.4f}{kept}")
    return 0


def kept_line(vals: list[float], kept: float) -> str:
    """One line on the kept validation value among the listed epochs': their median and range, and how many are
    within 10 % of it (the kept one included)."""
    near = sum(abs(v - kept) <= 0.1 * abs(kept) for v in vals)
    return (f"validation: kept {kept:.4f}; over the {len(vals)} epochs listed median {statistics.median(vals):.4f}, "
            f"range {min(vals):.4f}-{max(vals):.4f}; {near} within 10 % of the kept value (it included)")


def _curve(record) -> dict | None:
    """The record's traced curve, else its validation history (both map a column name to one value per epoch)."""
    extra = record.extra or {}
    return extra.get("curve") or extra.get("history")


if __name__ == "__main__":
    sys.exit(main())
