#!/usr/bin/env bash
# What a killed rank costs under step checkpoints (#19): the same ddp run twice, uninterrupted
# and with rank 1 SIGKILLed after K steps and the group restarted (--max-restarts 1,
# --save-every N, --resume auto), then the wall times, the steps redone, the seconds lost and
# whether both runs ended with the same bytes. The kill needs tdml-faults (the test build's
# binary with fault injection: tests/support/fault_injection.cpp).
# Usage: scripts/bench/restart.sh CIFAR_DIR [--every N] [--kill-at K] [--steps S]
#          [--model M] [--nproc P] [--out DIR]
# Environment: TDML (default build/tdml), TDML_FAULTS (default build/tests/tdml-faults).
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage='usage: restart.sh CIFAR_DIR [--every N] [--kill-at K] [--steps S] [--model M] [--nproc P] [--out DIR]'
data=${1:?$usage}
shift
every=20 kill_at=35 steps=60 model=smallcifarcnn nproc=2 out=runs/bench-restart
while (($#)); do
  case $1 in
    --every) every=$2; shift 2 ;;
    --kill-at) kill_at=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1; $usage" >&2; exit 2 ;;
  esac
done
faults=${TDML_FAULTS:-$root/build/tests/tdml-faults}
[[ -x $faults ]] || { echo "restart.sh: needs $faults (build the tests, or set TDML_FAULTS)" >&2; exit 1; }
rm -rf "$out/straight" "$out/restarted" "$out/runs.log"
mkdir -p "$out"
run=(train --mode ddp --nproc "$nproc" --model "$model" --data "$data" --epochs 1
     --limit-train-batches "$steps" --limit-test-batches 2 --save --save-every "$every" -q)
# Runs a command (its output to OUT/runs.log) and prints its wall seconds.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >>"$out/runs.log" 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
t_straight=$(seconds "$tdml" "${run[@]}" --out "$out/straight")
t_restarted=$(TDML_TEST_DIE_RANK=1 TDML_TEST_DIE_AFTER_STEPS=$kill_at seconds "$faults" "${run[@]}" \
  --out "$out/restarted" --max-restarts 1 --resume auto)
from=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['resumes'][0]['global_step'])" \
  "$out/restarted/metrics.json")
same=no
cmp -s "$out/straight/checkpoint.pt" "$out/restarted/checkpoint.pt" && same=yes
printf 'restart.sh: %s, %d ranks, %d steps, checkpoint every %d, rank 1 killed after step %d\n' \
  "$model" "$nproc" "$steps" "$every" "$kill_at"
printf '  uninterrupted %.1f s; killed and restarted %.1f s: %.1f s lost, %d steps redone (resumed at step %d)\n' \
  "$t_straight" "$t_restarted" "$(awk -v a="$t_straight" -v b="$t_restarted" 'BEGIN { print b - a }')" \
  "$((kill_at - from))" "$from"
echo "  same final weights (checkpoint.pt bytes): $same"
[[ $same == yes ]]
