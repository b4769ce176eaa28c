#pragma once
// Cutting a model's forward chain (models::Model::blocks()) into S sequential pipeline stages.
//
// A Stage shares the model's modules (like models::Block): running stage 0, then stage 1, ...
// on x gives model.forward(x) bit for bit. Stages are cut only between blocks.
//
// Methods:
//   study   SmallCifarCNN into features / classifier (the study's 2-stage split; S must be 2)
//   params  contiguous stages minimising the largest stage's parameter count
//   time    the same on measured forward+backward time of each block (a few timed runs)
//   auto    one device: study for smallcifarcnn with S = 2 (the study's comparison), params
//           otherwise; multi-process (DistributedPipelineStep): time, whose cut rank 0 measures
//           and broadcasts
//
// Not thread-safe (splitting runs the model); use the stages from one thread at a time.
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/models/model.h"

namespace tdml::pipeline {

enum class SplitMethod { kAuto, kStudy, kParams, kTime };

// "auto" | "study" | "params" | "time"; tdml::UsageError otherwise.
SplitMethod parse_split_method(const std::string& name);
std::string split_method_name(SplitMethod m);

struct SplitOptions {
  SplitMethod method = SplitMethod::kAuto;  // how to place the cuts
  std::int64_t time_batch = 32;             // time: batch size of the timing runs
  int time_repeats = 5;                     // time: timed runs per block (after one warm-up)
};

class Stage {
 public:
  Stage(int index, std::vector<models::Block> blocks);
  int index() const { return index_; }
  const std::vector<models::Block>& blocks() const { return blocks_; }
  // The blocks in order; x -> the next stage's input (last stage: logits).
  torch::Tensor forward(torch::Tensor x) const;
  std::vector<torch::Tensor> parameters() const;
  std::vector<torch::Tensor> buffers() const;
  std::int64_t parameter_count() const;  // elements
  std::string block_range() const;       // "features.0-2 .. features.13"

 private:
  int index_;
  std::vector<models::Block> blocks_;
};

// Splits into `stages` stages (1 <= stages <= number of blocks); tdml::UsageError naming the
// limit otherwise, or when the study split is asked for a model/S it does not fit.
std::vector<Stage> split_model(models::Model& model, int stages, const SplitOptions& options = {});

// The same split from explicit cuts: cuts[s] = index of stage s's first block (cuts[0] = 0,
// increasing). Used to rebuild on every rank the split rank 0 chose.
std::vector<Stage> split_at(models::Model& model, const std::vector<int>& cuts);
std::vector<int> cuts_of(const std::vector<Stage>& stages);

// Contiguous partition of `costs` into `parts` non-empty groups minimising the largest group's
// sum; returns each group's first index. Exact (dynamic programming).
std::vector<int> balanced_cuts(const std::vector<double>& costs, int parts);

// Forward+backward seconds of each block on a random batch of `batch` CIFAR images.
std::vector<double> measure_block_times(models::Model& model, std::int64_t batch, int repeats);

struct StageInfo {
  int index = 0;
  std::vector<std::string> blocks;         // block names in order
  std::int64_t parameters = 0;             // trainable elements
  std::vector<std::int64_t> output_shape;  // per sample (no batch dim): what crosses the cut
};

// Runs one image through the stages (eval mode, no grad; the model's mode is restored) to get
// each cut's activation shape.
std::vector<StageInfo> describe_split(const std::vector<Stage>& stages, models::Model& model);
nlohmann::json to_json(const std::vector<StageInfo>& info);
// A table: stage, blocks, parameters, activation shape at the cut.
std::string format_split(const std::vector<StageInfo>& info);

}  // namespace tdml::pipeline
