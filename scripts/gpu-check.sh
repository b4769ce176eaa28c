#!/usr/bin/env bash
# The CUDA smoke and measurement sequence for a GPU machine, after scripts/build-gpu.sh:
#   BUILD_DIR=build-gpu LOG=gpu-check.log scripts/gpu-check.sh
# Every command is echoed before its output, runs under a time limit, and a failure does not
# stop the ones after it. Run directories go under RUNS (default runs/gpu-check).
set -uo pipefail
cd "$(dirname "$0")/.."
b=${BUILD_DIR:-build-gpu}
runs=${RUNS:-runs/gpu-check}
log=${LOG:-/dev/stdout}
mkdir -p "$runs"
step() {
  local limit=$1
  shift
  echo "### \$ $*" >>"$log"
  local t0=$SECONDS
  timeout "$limit" "$@" >>"$log" 2>&1
  echo "### exit $? after $((SECONDS - t0)) s" >>"$log"
}
step 120 "$b/tdml" info
# One rank as torchrun would start it (the launcher needs --nproc >= 2; NCCL wants a GPU per rank).
one_rank=(env RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1
  MASTER_PORT=29533)
step 120 "${one_rank[@]}" "$b/tdml" bench allreduce --backend nccl --out "$runs/allreduce-nccl"
step 60 "${one_rank[@]}" "$b/tdml" bench allreduce --backend gloo --sizes small \
  --out "$runs/allreduce-gloo"
for amp in off,bf16 fp16; do
  step 300 "$b/tdml" bench throughput --model all --amp "$amp" --device cuda --out "$runs/tp-$amp"
done
step 300 "$b/tdml" bench throughput --model resnet50 --amp bf16 --channels-last --device cuda \
  --batch-size 256 --out "$runs/tp-r50-cl"
step 300 "$b/tdml" train --data synthetic --device cuda --epochs 1 --amp fp16 --out "$runs/train-fp16"
step 300 "$b/tdml" train --data synthetic --device cuda --epochs 1 --amp bf16 --channels-last \
  --out "$runs/train-bf16-cl"
step 300 "$b/tdml" train --mode single --model resnet50 --data synthetic --device cuda --amp bf16 \
  --channels-last --limit-train-batches 20 --limit-test-batches 4 --out "$runs/train-r50"
