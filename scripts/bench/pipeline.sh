#!/usr/bin/env bash
# Pipeline benchmarks (the study's section 4 targets), on one machine, one run at a time:
#  1. single-device pipeline vs single-node training, same model, batch, data and threads:
#     epoch time ratio (target: pipeline within 10%), speedup and efficiency (speedup / S) as the
#     study reports them; both schedules. Also single-node training of the same batch as M
#     accumulated micro-batches (--grad-accum M, no split): what micro-batching alone costs, so
#     the pipeline's own overhead (split, schedule) is the difference between the two.
#  2. multi-process pipeline (one stage per process, Gloo, the default split: auto, which is
#     time-balanced with --nproc) for each --bubble-models model and M >= 4S: measured bubble
#     (mean idle fraction of the stages) vs (S-1)/(M+S-1) (target: within 5 percentage points).
#     --split params|study|time compares another cut.
#     --cpu-bind none runs the stages unbound (auto, the default, gives each its own cores).
#     --bubble-only skips part 1.
# Prints a table and writes OUT/summary.json.
# Usage: scripts/bench/pipeline.sh [--data DIR|synthetic] [--model smallcifarcnn] [--batch 128]
#          [--micro 4] [--stages 2] [--epochs 1] [--limit N] [--threads T] [--bubble-micro "8 16"]
#          [--cpu-bind auto|none] [--bubble-models "smallcifarcnn resnet50"] [--split auto]
#          [--bubble-only] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh"
data=auto model=smallcifarcnn batch=128 micro=4 stages=2 epochs=1 limit=0 threads=0
bubble_micro="8 16" bind=auto bubble_only=0 out=runs/bench-pipeline
bubble_models=smallcifarcnn split=auto
while (($#)); do
  case $1 in
    --data) data=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --micro) micro=$2; shift 2 ;;
    --stages) stages=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --bubble-micro) bubble_micro=$2; shift 2 ;;
    --cpu-bind) bind=$2; shift 2 ;;
    --bubble-only) bubble_only=1; shift ;;
    --bubble-models) bubble_models=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
common=(--data "$data" --batch-size "$batch" --epochs "$epochs" --limit-train-batches "$limit"
        --limit-test-batches 2 --seed 0 -q)

if ((bubble_only == 0)); then
  echo "== 1. single-node vs single-device pipeline ($model, batch $batch, $stages stages, M=$micro)" >&2
  "$tdml" train --mode single --model "$model" --threads "$threads" "${common[@]}" --out "$out/single"
  "$tdml" train --mode single --model "$model" --threads "$threads" --data "$data" \
    --batch-size $((batch / micro)) --grad-accum "$micro" --epochs "$epochs" \
    --limit-train-batches $((limit * micro)) --limit-test-batches 2 --seed 0 -q --out "$out/single-accum"
  for sched in gpipe 1f1b; do
    "$tdml" train --mode pipeline --model "$model" --stages "$stages" --micro-batches "$micro" \
      --pipeline-schedule "$sched" --threads "$threads" "${common[@]}" --out "$out/local-$sched"
  done
fi

echo "== 2. multi-process pipeline bubble ($bubble_models, --split $split, threads: each stage's share)" >&2
for bm in $bubble_models; do
  for m in $bubble_micro; do
    "$tdml" train --mode pipeline --model "$bm" --stages "$stages" --nproc "$stages" \
      --cpu-bind "$bind" --split "$split" --micro-batches "$m" --pipeline-schedule 1f1b \
      "${common[@]}" --out "$out/mp-$bm-m$m"
  done
done

"$py" - "$out" "$bubble_micro" "$bubble_only" "$bind" "$bubble_models" <<'PY'
import json, sys, os
out, micros = sys.argv[1], sys.argv[2].split()
bubble_only, bind, bubble_models = sys.argv[3] == "1", sys.argv[4], sys.argv[5].split()
def load(name):
    with open(os.path.join(out, name, "metrics.json")) as f:
        return json.load(f)
def last(doc):  # the last epoch (later epochs are warm)
    return doc["epochs"][-1]
summary = {"single_device": [], "multi_process": [], "cpu_bind": bind}
if not bubble_only:
    single = last(load("single"))
    print(f"{'run':<18}{'epoch s':>9}{'img/s':>9}{'vs single':>11}{'speedup':>9}{'effic.':>8}")
    print(f"{'single':<18}{single['epoch_time_s']:>9.2f}{single['samples_per_s']:>9.0f}")
    accum = last(load("single-accum"))
    accum_ratio = accum["epoch_time_s"] / single["epoch_time_s"]
    summary["single_accumulated"] = {"epoch_time_s": accum["epoch_time_s"],
                                      "samples_per_s": accum["samples_per_s"], "time_ratio": accum_ratio}
    print(f"{'single, M accum':<18}{accum['epoch_time_s']:>9.2f}{accum['samples_per_s']:>9.0f}"
          f"{100 * (accum_ratio - 1):>+10.1f}%   (micro-batching alone, no split)")
    for sched in ("gpipe", "1f1b"):
        doc = load(f"local-{sched}")
        e = last(doc)
        S = doc["pipeline"]["stages"]
        ratio = e["epoch_time_s"] / single["epoch_time_s"]
        speedup = single["epoch_time_s"] / e["epoch_time_s"]
        row = {"schedule": sched, "stages": S, "micro_batches": doc["pipeline"]["micro_batches"],
               "epoch_time_s": e["epoch_time_s"], "samples_per_s": e["samples_per_s"],
               "single_epoch_time_s": single["epoch_time_s"], "time_ratio": ratio,
               "speedup": speedup, "efficiency": speedup / S, "within_10pct": ratio <= 1.10,
               "vs_single_accumulated": e["epoch_time_s"] / accum["epoch_time_s"]}
        summary["single_device"].append(row)
        print(f"{'pipeline ' + sched:<18}{e['epoch_time_s']:>9.2f}{e['samples_per_s']:>9.0f}"
              f"{100 * (ratio - 1):>+10.1f}%{speedup:>9.2f}{speedup / S:>8.2f}"
              f"   ({100 * (row['vs_single_accumulated'] - 1):+.1f}% vs single, M accum)")
    print()
print(f"{'multi-process':<18}{'theory':>9}{'measured':>10}{'diff pts':>10}  idle per stage"
      f"{'':>8}theory at these stage times")
for bm, m in [(bm, m) for bm in bubble_models for m in micros]:
    doc = load(f"mp-{bm}-m{m}")
    st = last(doc)["strategy"]
    th, me = st["theoretical_bubble"], st["measured_bubble"]
    idle = [round(s["idle_fraction"], 3) for s in st["stages"]]
    # (S-1)/(M+S-1) assumes equal stages. With the measured busy times the slowest stage sets
    # the pace: a step lasts at least (M+S-1)/M x its busy time, and every other stage idles
    # for the rest. What the measurement exceeds this by is communication and bookkeeping.
    M, S = int(m), doc["pipeline"]["stages"]
    busy = [s["busy_s"] for s in st["stages"]]
    floor = max(busy) * (M + S - 1) / M
    th_busy = sum(1 - b / floor for b in busy) / len(busy)
    row = {"model": bm, "micro_batches": int(m), "stages": doc["pipeline"]["stages"],
           "split_method": doc["pipeline"].get("split_method"), "theoretical_bubble": th,
           "measured_bubble": me, "difference_points": 100 * (me - th),
           "idle_fraction": idle, "within_5_points": abs(me - th) <= 0.05,
           "busy_s": busy, "theoretical_bubble_at_measured_stage_times": th_busy,
           "samples_per_s": last(doc)["samples_per_s"], "split": doc["pipeline"]["split"]}
    summary["multi_process"].append(row)
    print(f"{bm + ' M=' + m:<18}{th:>9.3f}{me:>10.3f}{100 * (me - th):>+10.1f}  {str(idle):<22}"
          f"{th_busy:.3f} ({100 * (me - th_busy):+.1f} pts)")
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
print(f"\nsummary: {os.path.join(out, 'summary.json')}")
PY
