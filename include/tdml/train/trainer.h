#pragma once
// The training loop shared by every mode (single, ddp, pipeline): data, epochs, schedule,
// evaluation, metrics.json, checkpoints. How one optimizer step is done on a batch is a
// StepStrategy: plain forward/backward/step here, with gradient all-reduce in ddp, with
// micro-batches in pipeline mode.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/data/loader.h"
#include "tdml/models/model.h"
#include "tdml/train/amp.h"
#include "tdml/train/evaluate.h"
#include "tdml/train/observer.h"
#include "tdml/train/options.h"

namespace tdml::train {

// Running sums of one epoch, kept on the device so a step never waits for a host copy.
struct EpochTotals {
  torch::Tensor loss_sum;  // sum over samples of the loss
  torch::Tensor correct;   // number of correct predictions
  std::int64_t samples = 0;
  std::int64_t steps = 0;
  void add(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& loss);
};

// What a step strategy works on (owned by the trainer, outlives the strategy).
struct StepSetup {
  models::Model& model;
  torch::optim::Optimizer& optimizer;
  torch::Device device;
  AmpMode amp;
  GradScaler& scaler;
};

class StepStrategy {
 public:
  virtual ~StepStrategy() = default;
  // One optimizer step on `batch` (with gradient accumulation: micro-batch micro_index() of
  // micro_count(), the step taken on the last); adds the batch's loss/accuracy to `totals`.
  virtual void step(const data::Batch& batch, EpochTotals& totals) = 0;
  // Called at the start of each epoch.
  virtual void start_epoch() {}
  // Called after the epoch's last step, before evaluation (pipeline: gathers every stage's
  // weights so each rank evaluates the whole model).
  virtual void end_epoch() {}
  // Extra per-epoch metrics of this strategy (communication time, bubble ...), or null.
  // Called on every rank at the same point (strategies may communicate here).
  virtual nlohmann::json epoch_stats() { return nullptr; }
  // Facts fixed for the run, merged into metrics.json's top level (pipeline: {"pipeline": ...}),
  // or null.
  virtual nlohmann::json document_extras() { return nullptr; }
  // Whether step() honours micro_index()/micro_count() (--grad-accum > 1).
  virtual bool supports_grad_accum() const { return false; }
  // Set by the trainer before each step(): this batch is micro-batch `index` of `count`.
  void set_micro_step(int index, int count) {
    micro_index_ = index;
    micro_count_ = count;
  }
  int micro_index() const { return micro_index_; }
  int micro_count() const { return micro_count_; }
  bool last_micro_step() const { return micro_index_ + 1 == micro_count_; }

 private:
  int micro_index_ = 0;
  int micro_count_ = 1;
};

// Forward, cross-entropy, backward (loss-scaled for fp16), optimizer step. Subclasses hook in
// around forward and after backward (ddp: buffer broadcast, gradient all-reduce). With
// gradient accumulation the gradients are zeroed on the first micro-batch, each backward uses
// loss / micro_count(), and the optimizer steps after the last.
class PlainStep : public StepStrategy {
 public:
  explicit PlainStep(StepSetup s) : s_(s) {}
  void step(const data::Batch& batch, EpochTotals& totals) override;
  bool supports_grad_accum() const override { return true; }

 protected:
  virtual void before_forward() {}
  virtual void after_backward() {}
  StepSetup s_;
};

// How a training run fits into a distributed job. The defaults are a single process.
struct TrainContext {
  int rank = 0;
  int world = 1;
  // Sums a small CPU double tensor across ranks in place (null: single process).
  std::function<void(torch::Tensor&)> all_reduce_sum;
  // Builds the step strategy (null: PlainStep).
  std::function<std::unique_ptr<StepStrategy>(StepSetup)> make_strategy;
  // false: every rank reads the whole training set, the same batches (pipeline stages); true:
  // the loader shards it over ranks (data parallelism).
  bool shard_train_data = true;
  // true: this rank's training batches need no images (a pipeline stage after the first only
  // needs the labels): the loader skips reading, augmenting and normalising them.
  bool labels_only_train_data = false;
  // true: every rank holds state of its own (pipeline stages), so every rank writes and reads
  // its part of each step checkpoint; false: rank 0's state is every rank's (data parallel).
  bool every_rank_checkpoints = false;
  // Restarts of the job so far (torchrun's TORCHELASTIC_RESTART_COUNT), for metrics.json.
  int restart_count = 0;
  // Merged into metrics.json "run" (mode, world_size, backend ...).
  nlohmann::json run_info = {{"mode", "single"}, {"world_size", 1}};
  // Called on every rank after each epoch's record is complete (extra logging, tests).
  std::function<void(const nlohmann::json& epoch, const models::Model& model)> on_epoch_end;
  // Watchers of the writer rank (the ledger ...), in order; see observer.h.
  Observers observers;
};

struct RunResult {
  nlohmann::json metrics;  // the final metrics.json document (rank 0; others: their view)
  EvalResult final_eval;
};

// Puts the 4-d parameters (conv weights) in channels-last memory format, in place.
void to_channels_last(torch::nn::Module& model);

// Runs the whole training. Rank 0 writes out_dir/metrics.json after every epoch (and
// checkpoints with --save), then tells ctx.observers; a failure marks metrics.json "failed"
// with the error, then rethrows.
RunResult run_training(const TrainOptions& opts, const TrainContext& ctx = {});

}  // namespace tdml::train
