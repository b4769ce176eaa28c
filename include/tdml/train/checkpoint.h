#pragma once
// Training checkpoints in a run directory:
//   checkpoint.pt   the model's state dict, a file Python's torch.load reads (weights_only too)
//   train_state.pt  optimizer state + progress (epoch, step, weights fingerprint), tdml-only
// Each is written atomically. On resume the fingerprint must match the weights, so a crash
// between the two writes is detected instead of resuming a mixed state.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "tdml/models/model.h"

namespace tdml::train {

struct CheckpointMeta {
  std::string model;                 // model name, e.g. "resnet50"
  int epochs_done = 0;               // completed epochs
  std::int64_t global_step = 0;      // optimizer steps taken
  double weights_fingerprint = 0;    // sum of all weights (double), ties the two files together
};

double weights_fingerprint(const torch::nn::Module& m);

void save_checkpoint(const std::string& dir, const models::Model& model,
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta);

// Loads weights and optimizer state in place; returns the progress. Throws tdml::Error when the
// files are missing, of another model, or do not belong together.
CheckpointMeta load_checkpoint(const std::string& dir, models::Model& model,
                               torch::optim::Optimizer& opt);

// Which of tdml's models a state dict belongs to (names and shapes must all match), or "".
std::string infer_model_name(const std::string& checkpoint_path);

}  // namespace tdml::train
