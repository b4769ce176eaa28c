#pragma once
// Configuration of a training run. The CLI fills these structs; the library never parses argv.
// Defaults follow the study's recipe: SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128,
// augmentation on, fp32, test evaluation after every epoch.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tdml::train {

struct OptimizerOptions {
  std::string name = "sgd";     // "sgd" or "adamw"
  double lr = 0.1;              // peak learning rate (after warmup)
  double momentum = 0.9;        // sgd only
  bool nesterov = false;        // sgd only
  double weight_decay = 5e-4;   // sgd: L2 in the gradient; adamw: decoupled
  double beta1 = 0.9;           // adamw
  double beta2 = 0.999;         // adamw
  double eps = 1e-8;            // adamw
};

struct ScheduleOptions {
  std::string name = "constant";  // "constant", "step", "cosine" or "onecycle"
  double warmup_epochs = 0;       // linear warmup from 0 to lr (fractions allowed)
  double step_epochs = 30;        // step: multiply by gamma every step_epochs epochs
  double gamma = 0.1;             // step: decay factor
  double min_lr = 0;              // cosine: floor
  double pct_start = 0.3;         // onecycle: share of the run spent rising to lr
};

struct TrainOptions {
  std::string model = "smallcifarcnn";  // see tdml::models::list_models()
  int epochs = 1;
  std::int64_t batch_size = 128;        // per process (per rank in ddp), per micro-batch
  // Micro-batches per optimizer step: gradients of K batches are accumulated (loss / K) before
  // one step (ddp: no all-reduce on the first K-1, as PyTorch's no_sync()).
  int grad_accum = 1;
  OptimizerOptions optim;
  ScheduleOptions schedule;
  bool augment = true;                  // random crop 32 (padding 4) + horizontal flip
  std::uint64_t seed = 0;               // init, shuffling, augmentation
  int threads = 0;                      // intra-op threads; 0 = all cores
  std::string device = "auto";          // "auto", "cpu", "cuda", "cuda:N"
  std::string amp = "off";              // "off", "bf16" (CPU and CUDA), "fp16" (CUDA, loss scaling)
  bool channels_last = false;           // NHWC memory format for conv models
  std::int64_t limit_train_batches = 0; // 0 = whole epoch
  std::int64_t limit_test_batches = 0;  // 0 = whole test set
  std::int64_t eval_batch_size = 500;   // test-set batches
  std::string data = "auto";            // DIR, "synthetic" or "auto" (see data/source.h)
  std::string out_dir = "runs/train";   // metrics.json, train.log, checkpoint.pt
  bool save = false;                    // write out_dir/checkpoint.pt after every epoch
  bool resume = false;                  // continue from the newest checkpoint (error if none)
  bool resume_auto = false;             // with resume: start afresh when there is no checkpoint
  // Every N optimizer steps, a step checkpoint (checkpoint.h) holding all the rest of the run
  // depends on; a resumed run then ends bit-identical to an uninterrupted one (0 = off).
  std::int64_t save_every = 0;
  int prefetch = 2;                     // batches prepared ahead by the loader
  int loader_workers = 1;               // threads preparing batches
};

// The configuration as JSON (metrics.json "config"; the ledger hashes it).
nlohmann::json to_json(const TrainOptions& o);

// Checks ranges and names; throws tdml::UsageError naming the bad option.
void validate(const TrainOptions& o);

}  // namespace tdml::train
