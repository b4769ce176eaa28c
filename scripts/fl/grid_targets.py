#!/usr/bin/env python3
"""The issue #18 targets, checked on the grids scripts/fl/grid.sh writes.

Usage: grid_targets.py GRID_DIR [DP_GRID_DIR] [--alpha 0.5]

Reads GRID_DIR/grid.json (and DP_GRID_DIR/grid.json with its cells' metrics.json for eps) and
prints each target with the numbers behind it. Means over the seeds that completed; accuracy
and ASR in percent. "FedAvg" is the `none` attack with the `mean` rule, no bucketing.

A cost is reported two ways: against FedAvg without attack (the verdict: what defending costs
against the undefended clean run) and against the same rule without attack (in brackets).
Exit status 0 whether or not a target is met; 1 when a grid is missing or has no such cells.
"""
import json
import sys
from pathlib import Path

BACKDOOR = "backdoor+model-replacement"


def load(path):
    doc = json.loads((Path(path) / "grid.json").read_text())
    groups = {}
    for g in doc["groups"]:
        rule = g["aggregator"] + ("+bucketing" if g["bucketing"] else "")
        groups[(g["attack"], rule, str(g["alpha"]))] = g
    return doc, groups


def mean(g, field):
    s = g.get(field) or {}
    return None if s.get("mean") is None else 100.0 * s["mean"]


def fmt(v):
    return "-" if v is None else f"{v:.1f}"


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    alpha = "0.5"
    if "--alpha" in argv:
        alpha = argv[argv.index("--alpha") + 1]
        args.remove(alpha)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    _, groups = load(args[0])
    rules = sorted({r for (_, r, a) in groups if a == alpha},
                   key=lambda r: list(dict.fromkeys(k[1] for k in groups)).index(r))
    fedavg = groups.get(("none", "mean", alpha))
    if fedavg is None or not rules:
        print(f"no 'none' x 'mean' cells at alpha {alpha} in {args[0]}", file=sys.stderr)
        return 1
    base = mean(fedavg, "accuracy")
    print(f"alpha {alpha}: FedAvg without attack {fmt(base)}% "
          f"(trigger baseline ASR {fmt(mean(fedavg, 'asr'))}%)")

    # Target 1: the boosted backdoor.
    held = []
    print(f"Target 1 (boosted backdoor: >= 3 rules with ASR <= 10% at a cost <= 3 pts):")
    for r in rules:
        g, clean = groups.get((BACKDOOR, r, alpha)), groups.get(("none", r, alpha))
        if g is None or clean is None:
            continue
        acc, asr = mean(g, "accuracy"), mean(g, "asr")
        cost, own = base - acc, mean(clean, "accuracy") - acc
        ok = asr is not None and asr <= 10.0 and cost <= 3.0
        held += [r] if ok else []
        print(f"  {r:17} ASR {fmt(asr):>5} (no attack {fmt(mean(g, 'asr_baseline')):>5})  "
              f"acc {fmt(acc):>5}  cost {cost:+5.1f} ({own:+5.1f})  {'holds' if ok else ''}")
    print(f"  -> {len(held)} rule(s) hold: {', '.join(held) or 'none'}: "
          f"{'met' if len(held) >= 3 else 'not met'}")

    # Target 2: ALIE.
    alie = sorted({a for (a, _, al) in groups if a.startswith("alie") and al == alpha})
    if alie:
        name = alie[0]
        print(f"Target 2 ({name}: median loses >= 5 pts against no attack; "
              f">= 1 rule within 3 pts of FedAvg without attack):")
        within, median_loss = [], None
        for r in rules:
            g, clean = groups.get((name, r, alpha)), groups.get(("none", r, alpha))
            if g is None or clean is None:
                continue
            acc = mean(g, "accuracy")
            loss, cost = mean(clean, "accuracy") - acc, base - acc
            if r == "median":
                median_loss = loss
            if cost <= 3.0:
                within.append(r)
            print(f"  {r:17} acc {fmt(acc):>5}  loss against its no-attack run {loss:+5.1f}  "
                  f"against FedAvg {cost:+5.1f}")
        works = median_loss is not None and median_loss >= 5.0
        print(f"  -> median loses {fmt(median_loss)} pts ({'works' if works else 'under 5'}); "
              f"within 3 of FedAvg: {', '.join(within) or 'none'}: "
              f"{'met' if works and within else 'not met'}")

    # Target 3: norm bound + weak central DP on the mean.
    if len(args) > 1:
        dp_doc, dp = load(args[1])
        g = dp.get((BACKDOOR, "mean", alpha))
        undefended = groups.get((BACKDOOR, "mean", alpha))
        if g is not None:
            acc, asr = mean(g, "accuracy"), mean(g, "asr")
            cost = base - acc
            eps = []
            for c in dp_doc["cells"]:
                if c["attack"] == BACKDOOR and c["status"] == "completed":
                    m = json.loads((Path(args[1]) / c["dir"] / "metrics.json").read_text())
                    p = m["rounds"][-1].get("privacy") or {}
                    eps.append((p.get("epsilon"), p.get("delta"), p.get("clip"),
                                p.get("noise_multiplier")))
            ok = asr is not None and asr <= 20.0 and cost <= 5.0
            print("Target 3 (norm bound + weak central DP, mean, boosted backdoor: ASR <= 20% "
                  "at a cost <= 5 pts):")
            print(f"  ASR {fmt(asr)}% (mean without DP: "
                  f"{fmt(mean(undefended, 'asr')) if undefended else '-'}%, "
                  f"DP without attack: {fmt(mean(dp.get(('none', 'mean', alpha), {}), 'asr'))}%)"
                  f"  acc {fmt(acc)}%  cost {cost:+.1f}")
            if eps:
                e, d, c, s = eps[0]
                print(f"  privacy after the last round: eps {e:.4g} at delta {d:g} "
                      f"(clip {c:g}, noise multiplier {s:g}; the same in every seed's cell)")
            print(f"  -> {'met' if ok else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
