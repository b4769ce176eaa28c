#!/usr/bin/env bash
# Aggregation cost, tdml vs NumPy as Flower does it (issue #18): `tdml bench aggregate` on every
# rule, then scripts/bench/aggregate_ref.py (Flower's strategy/aggregate.py algorithms in NumPy)
# on the same n and the same layer shapes (read from tdml's metrics.json), in one run, with the
# same thread count on both sides (tdml --threads T; OMP/OPENBLAS/MKL_NUM_THREADS=T for numpy).
# Prints one side-by-side table (median ms of REPEATS timed calls after one warm-up) and writes
# OUT/summary.json and OUT/summary.md; the two runs are OUT/tdml and OUT/numpy.
# Usage: scripts/bench/aggregate.sh [--clients 10,100,1000] [--models smallcifarcnn,resnet50]
#          [--rules all|mean,median,...] [--repeats 3] [--threads 2] [--max-gib 8]
#          [--max-seconds 300] [--out DIR]
# Env: TDML (default build/tdml).
set -euo pipefail
source "$(dirname "$0")/common.sh"
clients=10,100,1000 models=smallcifarcnn,resnet50 rules=all repeats=3 threads=2 max_gib=8 max_s=300
out=runs/bench-aggregate
while (($#)); do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --max-gib) max_gib=$2; shift 2 ;;
    --max-seconds) max_s=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1 (see the usage at the top of $0)" >&2; exit 2 ;;
  esac
done
"$py" -c 'import numpy' 2>/dev/null || {
  echo "needs Debian's python3-numpy (scripts/install-deps.sh --python)" >&2
  exit 1
}
mkdir -p "$out"
echo "== tdml bench aggregate (--threads $threads)" >&2
"$tdml" bench aggregate --clients "$clients" --model "$models" --rules "$rules" --repeats "$repeats" \
  --threads "$threads" --max-gib "$max_gib" --out "$out/tdml"
echo "== NumPy, Flower's algorithms (OMP/OPENBLAS/MKL_NUM_THREADS=$threads)" >&2
OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads \
  "$py" "$here/aggregate_ref.py" --shapes "$out/tdml/metrics.json" --clients "$clients" \
  --models "$models" --rules "$rules" --repeats "$repeats" --max-gib "$max_gib" --max-seconds "$max_s" \
  --out "$out/numpy"
"$py" - "$out" "$threads" <<'PY'
import json, sys
out, threads = sys.argv[1], int(sys.argv[2])
t = json.load(open(f"{out}/tdml/metrics.json"))
p = json.load(open(f"{out}/numpy/metrics.json"))
ref = {(c["rule"], c["model"], c["n"]): c for c in p["cells"]}
missing = p["not_in_reference"]
rows, notes = [], []
def show(c, side):
    if c is None:
        return None, "-"
    if c["status"] == "measured":
        return c["median_ms"], f"{c['median_ms']:.2f}"
    notes.append(f"{c['rule']} {c['model']} n={c['n']} ({side}): skipped, {c['reason']}")
    return None, "skipped"
for c in t["cells"]:
    key = (c["rule"], c["model"], c["n"])
    tm, ttext = show(c, "tdml")
    if c["rule"] in missing:
        nm, ntext = None, "not in Flower"
    else:
        nm, ntext = show(ref.get(key), "numpy")
    ratio = nm / tm if tm and nm else None
    rows.append({"rule": key[0], "model": key[1], "n": key[2], "tdml_ms": tm, "numpy_ms": nm,
                 "numpy_over_tdml": ratio, "tdml": ttext, "numpy": ntext})
reps = t["settings"]["repeats"]
head = (f"median ms of {reps} timed calls after 1 warm-up; {threads} threads on both sides "
        f"(tdml --threads {threads}; numpy OMP/OPENBLAS/MKL_NUM_THREADS={threads}); "
        f"{t['settings']['notes']}")
print(head)
fmt = "{:<12} {:<13} {:>5} {:>12} {:>14} {:>11}"
print(fmt.format("rule", "model", "n", "tdml ms", "numpy ms", "numpy/tdml"))
md = [head, "", "| rule | model | n | tdml ms | numpy ms | numpy/tdml |", "|---|---|---:|---:|---:|---:|"]
for r in rows:
    ratio = f"{r['numpy_over_tdml']:.1f}" if r["numpy_over_tdml"] else "-"
    print(fmt.format(r["rule"], r["model"], r["n"], r["tdml"], r["numpy"], ratio))
    md.append(f"| {r['rule']} | {r['model']} | {r['n']} | {r['tdml']} | {r['numpy']} | {ratio} |")
for rule, why in missing.items():
    notes.append(f"{rule}: not in the NumPy reference ({why})")
for n in notes:
    print("  " + n)
md += [""] + [f"- {n}" for n in notes]
summary = {"threads": threads, "repeats": reps, "tdml_settings": t["settings"],
           "numpy": {k: p[k] for k in ("impl", "numpy", "python", "threads")}, "rows": rows,
           "notes": notes}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
print(f"wrote {out}/summary.json, {out}/summary.md")
PY
