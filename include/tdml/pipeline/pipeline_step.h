#pragma once
// Pipeline-parallel training steps (train::StepStrategy), plugged into train::run_training.
//
// Every batch is split into M micro-batches (sizes as even as possible, like torch.tensor_split;
// a batch smaller than M gives one micro-batch per sample). Micro-batch m's loss is its mean
// cross-entropy weighted by n_m / B (= 1/M when M divides B), so the accumulated gradients are
// those of the batch's mean loss; one optimizer step per batch.
//
// BatchNorm rule (as torch.distributed.pipeline.sync.Pipe with deferred_batch_norm=False):
// statistics are computed per micro-batch in training mode, and running statistics are updated
// once per micro-batch (M momentum updates per step). Gradients therefore equal the unsplit
// model's on the whole batch only for models without BatchNorm (tinycnn) or with BatchNorm in
// eval mode; with BatchNorm in training mode they differ as small-batch statistics do.
//
//   LocalPipelineStep:  all stages on one device (what the study ran), run in the schedule's
//                       order: at each tick every stage runs its next action if its input is there.
//   DistributedPipelineStep: stage = rank of a process group of S ranks; activations go forward
//                       and gradients backward with tagged send/recv; only rank S-1 sees the loss.
//
// Not thread-safe; one strategy per process (or per rank thread).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "tdml/dist/process_group.h"
#include "tdml/pipeline/schedule.h"
#include "tdml/pipeline/split.h"
#include "tdml/pipeline/stage_executor.h"
#include "tdml/train/trainer.h"

namespace tdml::pipeline {

struct PipelineOptions {
  int stages = 2;                                // S: pipeline stages (ranks in multi-process mode)
  int micro_batches = 4;                         // M: micro-batches per batch
  ScheduleKind schedule = ScheduleKind::kGPipe;  // gpipe or 1f1b
  SplitOptions split;                            // where to cut the model
};

// Throws tdml::UsageError naming --stages or --micro-batches when either is below 1.
void validate(const PipelineOptions& options);

// Sizes of the micro-batches of a batch of `batch` samples (sum = batch, min(M, batch) parts).
std::vector<std::int64_t> micro_batch_sizes(std::int64_t batch, int micro_batches);

class LocalPipelineStep : public train::StepStrategy {
 public:
  // Splits setup.model into options.stages stages. Throws tdml::UsageError for a bad split.
  LocalPipelineStep(train::StepSetup setup, PipelineOptions options);
  void step(const data::Batch& batch, train::EpochTotals& totals) override;
  void start_epoch() override;
  nlohmann::json epoch_stats() override;
  nlohmann::json document_extras() override;
  const std::vector<StageExecutor>& executors() const { return execs_; }

 private:
  train::StepSetup s_;
  PipelineOptions o_;
  std::vector<StageExecutor> execs_;
  std::vector<StageInfo> info_;
};

class DistributedPipelineStep : public train::StepStrategy {
 public:
  // Rank r runs stage r; comm->world() must equal options.stages. Rank 0 chooses the split
  // (with --split time it measures) and broadcasts it. --split time (and auto) then calibrates
  // the cut on the real pipeline: two trial steps on random data time every stage as it runs,
  // each block's cost is scaled by its stage's measured / predicted time, and the cut is made
  // again on the scaled costs; weights, buffers and optimizer state are restored afterwards, so
  // the run is the one it would have been. Needs amp off. Construct on every rank at the same
  // point (it communicates).
  DistributedPipelineStep(train::StepSetup setup, PipelineOptions options,
                          std::shared_ptr<dist::Comm> comm);
  // Throws tdml::Error naming the stage, micro-batch and peer when a send/recv fails or times out.
  void step(const data::Batch& batch, train::EpochTotals& totals) override;
  void start_epoch() override;
  // Every rank receives each stage's parameters and buffers from its owner.
  void end_epoch() override;
  // Collective: every rank must call it.
  nlohmann::json epoch_stats() override;
  nlohmann::json document_extras() override;
  StageExecutor& executor() { return *exec_; }

 private:
  // A receive posted ahead of use: with Gloo every step posts all of its receives before the
  // schedule runs, so a tensor arrives while the stage computes (NCCL orders point-to-point ops
  // of a rank pair on one stream, where that would deadlock: there a receive is posted when
  // needed).
  struct Incoming {
    torch::Tensor buffer;
    dist::PendingOp op;
  };
  Incoming post_recv(std::vector<std::int64_t> shape, int src, int tag, const char* what, int m);
  // Waits for it (the wait counts as this stage's idle time) and returns the tensor.
  torch::Tensor wait_recv(Incoming& in, int src, const char* what, int m);

  // The trial of the constructor's comment: returns the calibrated cuts for `costs` (the
  // blocks' measured seconds, the same on every rank) and records what it found.
  std::vector<int> calibrate_cuts(std::vector<double> costs, const std::vector<int>& cuts);
  void use_cuts(const std::vector<int>& cuts);

  train::StepSetup s_;
  PipelineOptions o_;
  std::shared_ptr<dist::Comm> comm_;
  nlohmann::json calibration_;  // metrics.json "pipeline"."split_calibration" (time split)
  std::vector<Stage> stages_;  // all stages (for the weight exchange); this rank runs one
  std::vector<StageInfo> info_;
  std::unique_ptr<StageExecutor> exec_;
  std::int64_t steps_ = 0;
  bool calibrating_ = false;  // in the constructor's trial steps
};

// {"pipeline": {...}} for metrics.json: mode, stages, micro_batches, schedule, split, bubble.
nlohmann::json pipeline_section(const PipelineOptions& o, const std::vector<StageInfo>& info,
                                const char* mode);

}  // namespace tdml::pipeline
