#!/usr/bin/env bash
# Side-by-side benchmark of 2-process data-parallel training on this machine (Gloo, CPU), in one
# run, per model (TinyCNN, SmallCifarCNN by default):
#   tdml ddp     tdml train --mode ddp --nproc 2 (threads = cores / 2 a rank), B a rank, L batches
#   PyTorch ddp  ddp_ref.py: PyTorch Python DDP, gloo, 1 thread a rank, the same B and L
#   tdml single  one tdml process, all cores, the same global work (2L batches of B)
# Augmentation on in all three (the study's recipe). Times are the slowest rank's loop over the
# batches. With --resnet50-steps N it also runs ResNet50 ddp for N steps and reports the
# exposed (not hidden behind backward) share of the all-reduce time per step.
# With --repeats R the three runs of each model are repeated R times, interleaved, each repeat
# starting at the next configuration (ddp, PyTorch, single; then PyTorch, single, ddp; ...), and
# the table shows the medians: on a shared 2-core machine one run of a
# 20-second epoch varies by +-5%, more than the differences being measured.
# --cpu-bind none runs tdml's ranks unbound (the default, auto, gives each rank its own cores),
# to measure what binding is worth.
# --bound also runs two independent tdml processes at once, each on its half of the CPUs with L
# batches of B and no communication: what 2 processes do when nothing makes them wait for each
# other, the bound for any synchronous 2-process run (column "indep s"; "indep/ddp" is how close
# ddp comes to it).
# Prints a table and writes OUT/summary.json (ddp_summary.py; the ratios are paired per repeat,
# with a 95% confidence interval of each, so a difference can be told from the noise).
# Usage: scripts/bench/ddp_vs_pytorch.sh CIFAR_DIR [--batches L] [--batch-size B]
#          [--models tinycnn,smallcifarcnn] [--repeats R] [--resnet50-steps N] [--resnet50-batch B]
#          [--cpu-bind auto|none] [--bound] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage="usage: ddp_vs_pytorch.sh CIFAR_DIR [--batches L] [--batch-size B] [--models a,b] [--repeats R] [--resnet50-steps N] [--resnet50-batch B] [--cpu-bind auto|none] [--bound] [--out DIR]"
data=${1:?$usage}
shift
batches=20 bs=128 models=tinycnn,smallcifarcnn repeats=1 r50_steps=0 r50_bs=32 bind=auto bound=0 out=runs/bench-ddp
while (($#)); do
  case $1 in
    --batches) batches=$2; shift 2 ;;
    --batch-size) bs=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --resnet50-steps) r50_steps=$2; shift 2 ;;
    --resnet50-batch) r50_bs=$2; shift 2 ;;
    --cpu-bind) bind=$2; shift 2 ;;
    --bound) bound=1; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1; $usage" >&2; exit 2 ;;
  esac
done
need_torch_python
# The Python reference reads the binary files themselves.
bins=$data
[[ -f $bins/data_batch_1.bin ]] || bins=$data/cifar-10-batches-bin
[[ -f $bins/data_batch_1.bin ]] || { echo "no data_batch_1.bin in $data" >&2; exit 1; }
mkdir -p "$out"
if ((bound)); then
  mapfile -t halves < <("$py" -c 'import os; c = sorted(os.sched_getaffinity(0)); h = len(c) // 2
print(",".join(map(str, c[:h]))); print(",".join(map(str, c[h:2 * h]))); print(h)')
  ((halves[2] >= 1)) || { echo "--bound needs at least 2 CPUs" >&2; exit 1; }
fi
common=(--data "$data" --epochs 1 --limit-test-batches 1 -q)
# One run of each configuration; $1 model, $2 repeat.
run_ddp() {
  echo "== $1 (run $2/$repeats): tdml ddp, 2 processes" >&2
  "$tdml" train --mode ddp --nproc 2 --cpu-bind "$bind" --model "$1" --batch-size "$bs" \
    --limit-train-batches "$batches" "${common[@]}" --out "$out/tdml-ddp-$1-$2"
}
run_pytorch() {
  echo "== $1 (run $2/$repeats): PyTorch Python DDP, 2 processes, 1 thread each" >&2
  "$py" "$here/ddp_ref.py" --data "$bins" --model "$1" --nproc 2 --batch-size "$bs" \
    --batches "$batches" > "$out/pytorch-ddp-$1-$2.json"
}
run_single() {
  echo "== $1 (run $2/$repeats): tdml, 1 process, all cores, same global work" >&2
  "$tdml" train --mode single --model "$1" --batch-size "$bs" \
    --limit-train-batches $((2 * batches)) "${common[@]}" --out "$out/tdml-single-$1-$2"
}
run_indep() {
  echo "== $1 (run $2/$repeats): 2 independent tdml processes (CPUs ${halves[0]} | ${halves[1]})" >&2
  for h in 0 1; do
    taskset -c "${halves[h]}" "$tdml" train --mode single --threads "${halves[2]}" --model "$1" \
      --batch-size "$bs" --limit-train-batches "$batches" --seed $((h + 1)) "${common[@]}" \
      --out "$out/tdml-indep$h-$1-$2" &
  done
  wait
}
configs=(ddp pytorch single)
((bound)) && configs+=(indep)
for m in ${models//,/ }; do
  for ((k = 1; k <= repeats; k++)); do
    # Repeat k starts at a different configuration, so none always runs first or after the same one.
    for ((j = 0; j < ${#configs[@]}; j++)); do
      "run_${configs[(j + k - 1) % ${#configs[@]}]}" "$m" "$k"
    done
  done
done
if ((r50_steps > 0)); then
  echo "== resnet50: tdml ddp, 2 processes, $r50_steps steps of $r50_bs a rank" >&2
  "$tdml" train --mode ddp --nproc 2 --cpu-bind "$bind" --model resnet50 --batch-size "$r50_bs" \
    --limit-train-batches "$r50_steps" "${common[@]}" --out "$out/tdml-ddp-resnet50"
fi
"$py" "$here/ddp_summary.py" "$out" "$models" "$repeats" "$bound" "$r50_steps"
