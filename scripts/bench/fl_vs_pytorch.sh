#!/usr/bin/env bash
# Side-by-side benchmark of one federated round, the study's own configuration: 6 clients x
# 6,000 CIFAR-10 samples, gradient mode, client 0 backdoored, clip 5.0, coordinate median,
# server lr 0.3 -- `tdml fl --channels-last` (fp32, and bf16 autocast) against the study's way in
# PyTorch Python (fl_ref.py: per-image DataLoader, a model rebuilt per client, NCHW), in one run
# on one machine. Channels-last changes the layout, not the precision (fp32 stays fp32).
# Compared: clients + aggregation time of a round (evaluation excluded on both sides).
# Prints a table and writes OUT/summary.json.
# Usage: scripts/bench/fl_vs_pytorch.sh CIFAR_DIR [--clients 6] [--per-client 6000]
#          [--rounds 1] [--out DIR] [--no-bf16]
set -euo pipefail
source "$(dirname "$0")/common.sh"
data=${1:?usage: fl_vs_pytorch.sh CIFAR_DIR [--clients N] [--per-client N] [--rounds N] [--out DIR] [--no-bf16]}
shift
clients=6 per=6000 rounds=1 out=runs/bench-fl bf16=1
while (($#)); do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --per-client) per=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-bf16) bf16=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
need_torch_python
mkdir -p "$out"
fl_args=(--data "$data" --model smallcifarcnn --clients "$clients" --per-client "$per"
         --rounds "$rounds" --local gradient --attack backdoor --malicious 1 --max-norm 5
         --aggregator median --server-lr 0.3 --seed 123 --limit-test-batches 2 --channels-last -q)
echo "== PyTorch Python (per-image DataLoader, 2 workers, model rebuilt per client)" >&2
"$py" "$here/fl_ref.py" --data "$data" --clients "$clients" --per-client "$per" \
  --rounds "$rounds" > "$out/pytorch.json"
echo "== tdml fl (fp32)" >&2
"$tdml" fl "${fl_args[@]}" --out "$out/tdml-fp32"
if ((bf16)); then
  echo "== tdml fl --amp bf16" >&2
  "$tdml" fl "${fl_args[@]}" --amp bf16 --out "$out/tdml-bf16"
fi
"$py" - "$out" "$bf16" <<'PY'
import json, os, sys
out, bf16 = sys.argv[1], sys.argv[2] == "1"
ref = json.load(open(f"{out}/pytorch.json"))
# The fastest round on each side (with --rounds > 1 the first pays one-off costs).
rows = [("PyTorch Python fp32", min(r["train_s"] for r in ref["rounds"]))]
for name in ["fp32"] + (["bf16"] if bf16 else []):
    m = json.load(open(f"{out}/tdml-{name}/metrics.json"))
    rows.append((f"tdml fl {name}",
                 min(r["client_seconds"] + r["server_seconds"] for r in m["rounds"])))
samples = ref["clients"] * ref["per_client"]
base = rows[0][1]
print(f"{'':22}{'round s':>10}{'samples/s':>12}{'speedup':>10}")
summary = {"config": {k: ref[k] for k in ("clients", "per_client", "threads", "workers")},
           "rows": []}
for name, s in rows:
    print(f"{name:22}{s:10.1f}{samples / s:12.0f}{base / s:10.2f}x")
    summary["rows"].append({"impl": name, "round_s": s, "samples_per_s": samples / s,
                            "speedup_vs_pytorch": base / s})
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
PY
