#!/usr/bin/env bash
# The robustness grid of issue #18 on real CIFAR-10 (SmallCifarCNN, FedAvg, bf16 + channels-last):
#   attacks      none, backdoor+model-replacement:1, alie:2, ipm:2
#   aggregators  mean, median, trimmed-mean, krum, bulyan, cclip, cclip+bucketing, fltrust
#   alphas       iid, 0.5 (Dirichlet label skew)       x 3 seeds = 192 cells   -> OUT/grid/
# then "norm bound + weak central DP": mean, attacks none and backdoor+model-replacement:1,
# alpha 0.5, every update clipped to C and Gaussian noise on the sum  x 3 seeds -> OUT/grid-dp/
# Each cell is a `tdml fl` run; each grid writes grid.csv / grid.json (mean, std and 95% t
# interval over the seeds) and its plots (tdml plot). Resumable: after a stop, the same command
# skips the finished cells.
# Sized for about an hour on a 2-core CPU: 2 cells at a time with 1 thread each, about 25 s a
# cell. The cells train on a subset of CLIENTS x PER_CLIENT training images (OUT/cifar-subset:
# the first images of each training batch, the full test batch), so that the Dirichlet cells,
# which share out the whole training set, cost what the IID cells cost.
# Usage: scripts/fl/grid.sh CIFAR_DIR [OUT]   (TDML=path/to/tdml, default build/tdml; the sizes
# below can be set from the environment: ROUNDS=10 scripts/fl/grid.sh ...)
set -euo pipefail
OUT=${2:-${OUT:-runs/fl-grid}}
source "$(dirname "$0")/common.sh"

CLIENTS=${CLIENTS:-12}        # bulyan needs n >= 4f + 3 = 11 with f = 2 (alie:2, ipm:2)
PER_CLIENT=${PER_CLIENT:-500} # training images per client (IID); the subset is CLIENTS x this
ROUNDS=${ROUNDS:-5}
LIMIT_TEST_BATCHES=${LIMIT_TEST_BATCHES:-2}  # x 500 test images per round (accuracy and ASR)
SEEDS=${SEEDS:-0,1,2}
JOBS=${JOBS:-2}               # cells at once ...
THREADS=${THREADS:-1}         # ... with this many threads each (JOBS x THREADS = the cores)
KRUM_F=${KRUM_F:-2}           # Byzantine clients krum and bulyan assume
# Norm bound + weak central DP (DP-FedAvg): updates clipped to NORM_C (L2) before the mean, and
# N(0, (DP_SIGMA * NORM_C)^2) per coordinate on their sum. An honest update here has an L2 norm
# of about 0.5-1 and a x10 model-replacement update about 10, so C = 1 bounds the boost; the
# noise on the mean, about DP_SIGMA * C * sqrt(289k parameters) / 12 clients = 0.45 in L2 with
# 0.01, is weak on purpose (a backdoor defence, not a privacy guarantee: see the eps reported).
NORM_C=${NORM_C:-1.0}
DP_SIGMA=${DP_SIGMA:-0.01}

# The training subset: PER_FILE records of each of the 5 training batches (3073 bytes a record).
subset=$out/cifar-subset
per_file=$(( (CLIENTS * PER_CLIENT + 4) / 5 ))
mkdir -p "$subset"
src=$(cd "$data" && { [[ -f data_batch_1.bin ]] && pwd || echo "$(pwd)/cifar-10-batches-bin"; })
for k in 1 2 3 4 5; do
  head -c $(( per_file * 3073 )) "$src/data_batch_$k.bin" > "$subset/data_batch_$k.bin"
done
ln -sf "$src/test_batch.bin" "$subset/test_batch.bin"

cell=(--data "$subset" --model smallcifarcnn --clients "$CLIENTS" --per-client "$PER_CLIENT"
      --rounds "$ROUNDS" --local train --batch-size 32 --local-lr 0.05 --krum-f "$KRUM_F"
      --poison-rate 0.2 --boost 10 --limit-test-batches "$LIMIT_TEST_BATCHES"
      --amp bf16 --channels-last --threads "$THREADS")
grid() { nice -n 10 "$tdml" fl grid --seeds "$SEEDS" --jobs "$JOBS" "$@"; }

# Ctrl-C stops the grid (its running cells too) and this script, not just the current grid.
trap 'echo "stopped: the same command resumes" >&2; exit 130' INT TERM
# A grid with failed cells exits 1 after the others ran (they are named; a rerun retries them).
retry="failed cells are left out of the statistics; rerun this script to retry them"
start=$SECONDS
grid --attacks none,backdoor+model-replacement:1,alie:2,ipm:2 \
     --aggregators mean,median,trimmed-mean,krum,bulyan,cclip,cclip+bucketing,fltrust \
     --alphas iid,0.5 "${cell[@]}" --max-norm 0 --out "$out/grid" || echo "grid: $retry"
grid --attacks none,backdoor+model-replacement:1 --aggregators mean --alphas 0.5 \
     "${cell[@]}" --max-norm "$NORM_C" --dp-clip "$NORM_C" --dp-noise "$DP_SIGMA" \
     --out "$out/grid-dp" || echo "grid-dp: $retry"
echo "both grids: $(( SECONDS - start )) s"

for g in grid grid-dp; do
  [[ -f $out/$g/grid.json ]] || continue
  "$tdml" plot "$out/$g" -q || echo "($g: no plots; tdml plot needs python3-matplotlib)"
  /usr/bin/python3 - "$out/$g/grid.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def f(s, scale=100):
    if s["mean"] is None:
        return f"{'-':>17}"
    ci = f" +-{scale * (s['ci95_high'] - s['mean']):4.1f}" if s["ci95_high"] is not None else " " * 7
    return f"{scale * s['mean']:10.1f}{ci}"
print(sys.argv[1])
print(f"{'attack':30}{'aggregator':17}{'alpha':>6}{'acc %':>17}{'ASR %':>17}{'no attack':>17}")
for g in doc["groups"]:
    attack = g["attack"] + (f":{g['malicious']}" if g["malicious"] is not None else "")
    rule = g["aggregator"] + ("+bucketing" if g["bucketing"] else "")
    print(f"{attack:30}{rule:17}{str(g['alpha']):>6}{f(g['accuracy'])}{f(g['asr'])}"
          f"{f(g['asr_baseline'])}" + (f"  failed: {len(g['failed_cells'])}" if g["failed_cells"] else ""))
print("(mean over seeds +- half the 95% Student t interval)")
PY
done
