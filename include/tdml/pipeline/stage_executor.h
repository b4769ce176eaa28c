#pragma once
// One pipeline stage running micro-batches: forward keeps what backward needs (the autograd
// graph from the stage's input leaf to its output) until that micro-batch's backward, and
// counts what is in flight.
//
// Owns nothing of the model (the Stage shares its modules). Not thread-safe: one thread drives
// one executor. Errors: tdml::Error for a backward without its forward (a schedule bug).
#include <torch/torch.h>

#include <cstdint>
#include <map>

#include "tdml/pipeline/split.h"
#include "tdml/train/amp.h"

namespace tdml::pipeline {

// What one stage did over an epoch.
struct StageStats {
  double busy_s = 0;  // running its forwards and backwards
  double idle_s = 0;  // step time minus busy: waiting for peers (multi-process) or for the other
                      // stages sharing the device (single device)
  double step_s = 0;  // wall time of the pipelined part of the steps
  int max_in_flight = 0;  // most micro-batches forwarded and not yet backwarded
  // Peak bytes of boundary activations held for in-flight micro-batches: the stage's input and
  // every block's output (a lower bound on what autograd saves inside the blocks).
  std::int64_t peak_activation_bytes = 0;
  std::int64_t micro_batches = 0;  // forwards run
};

class StageExecutor {
 public:
  StageExecutor(Stage stage, torch::Device device, train::AmpMode amp);
  StageExecutor(const StageExecutor&) = delete;
  StageExecutor& operator=(const StageExecutor&) = delete;
  StageExecutor(StageExecutor&&) = default;

  const Stage& stage() const { return stage_; }
  // Forward of micro-batch m. `input`: the images (first stage, no gradient) or the previous
  // stage's output (detached here; its gradient is what backward returns). Returns the output,
  // attached to this stage's graph (last stage: logits).
  torch::Tensor forward(int m, const torch::Tensor& input, bool input_needs_grad);
  // Backward of micro-batch m with the gradient of its output (from the next stage).
  // Returns the gradient of the input (undefined when the input needed none).
  torch::Tensor backward(int m, const torch::Tensor& grad_output);
  // Last stage: backward from the micro-batch's (already weighted and scaled) loss.
  torch::Tensor backward_from_loss(int m, const torch::Tensor& loss);

  int in_flight() const { return static_cast<int>(flight_.size()); }
  StageStats& stats() { return stats_; }
  const StageStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  struct Held {
    torch::Tensor input;   // leaf (requires grad unless first stage)
    torch::Tensor output;  // attached to the graph
    std::int64_t bytes = 0;
  };
  torch::Tensor finish(int m, const torch::Tensor& root, const torch::Tensor& grad);

  Stage stage_;
  torch::Device device_;
  train::AmpMode amp_;
  std::map<int, Held> flight_;
  std::int64_t held_bytes_ = 0;
  StageStats stats_;
};

}  // namespace tdml::pipeline
