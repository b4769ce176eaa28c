#pragma once
// Test-set evaluation: loss, accuracy, confusion matrix, a few sample predictions.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "tdml/data/dataset.h"
#include "tdml/train/amp.h"

namespace tdml::train {

struct EvalOptions {
  std::int64_t batch_size = 500;
  std::int64_t limit_batches = 0;    // 0 = whole set
  torch::Device device = torch::kCPU;
  AmpMode amp = AmpMode::kOff;
  bool channels_last = false;
  int rank = 0;                      // evaluate rows rank, rank+world, ... (sharded evaluation)
  int world = 1;
  // Sums a small CPU tensor across ranks in place (null: single process).
  std::function<void(torch::Tensor&)> all_reduce_sum;
};

struct EvalResult {
  double loss = 0;                 // mean cross-entropy
  double accuracy = 0;             // fraction correct
  std::int64_t samples = 0;
  torch::Tensor confusion;         // int64 [C, C], rows = true class, columns = predicted
  nlohmann::json to_json() const;  // {"loss","accuracy","samples","confusion_matrix"}
};

// `forward` maps a normalised float batch to logits (usually the model in eval mode).
EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                    const data::Dataset& data, const EvalOptions& opts);

// Predicted classes of the first n rows of `data` (for the picture of test images).
torch::Tensor predict_first(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                            const data::Dataset& data, std::int64_t n, const EvalOptions& opts);

}  // namespace tdml::train
