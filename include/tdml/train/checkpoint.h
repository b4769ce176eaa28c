#pragma once
// Training checkpoints in a run directory:
//   checkpoint.pt   the model's state dict, a file Python's torch.load reads (weights_only too)
//   train_state.pt  optimizer state + progress (epoch, step, weights fingerprint) and the other
//                   state the rest of the run depends on (RNG streams, grad scaler, an unfinished
//                   epoch's running totals): tensors in the same file format, the progress record
//                   and the optimizer's options as JSON bytes (tdml_meta); tdml reads both with
//                   its own reader (models::load_tensors), not LibTorch's TorchScript one
// Each is written atomically. On resume the fingerprint must match the weights, so a crash
// between the two writes is detected instead of resuming a mixed state.
//
// Epoch checkpoints (--save) are that pair in the run directory itself. Step checkpoints
// (--save-every N) are the pair in DIR/checkpoints/step-<N>/ (N = optimizer steps taken): every
// saving rank writes into DIR/checkpoints/.partial-<N>/, which one rename then publishes, so a
// crash mid-save leaves the previous step checkpoint intact. Ranks other than 0 that hold state
// of their own (pipeline stages) write checkpoint.rank-K.pt and train_state.rank-K.pt there.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tdml/models/model.h"

namespace tdml::train {

struct CheckpointMeta {
  std::string model;                 // model name, e.g. "resnet50"
  int epochs_done = 0;               // completed epochs
  std::int64_t global_step = 0;      // optimizer steps taken
  double weights_fingerprint = 0;    // sum of all weights (double), ties the two files together
  // Inside an epoch (step checkpoints): batches of epoch epochs_done + 1 already trained and
  // their train seconds (their sums and counts are a state tensor). Both 0 at an epoch's end.
  std::int64_t epoch_batches = 0;
  double epoch_seconds = 0;
};

// Named tensors a checkpoint carries besides weights and optimizer (the RNG states, the grad
// scaler, an unfinished epoch's loss and accuracy sums), restored bit for bit.
using StateTensors = std::map<std::string, torch::Tensor>;

double weights_fingerprint(const torch::nn::Module& m);

// Writes DIR/checkpoint.pt and DIR/train_state.pt (rank > 0: DIR/checkpoint.rank-K.pt and
// DIR/train_state.rank-K.pt).
void save_checkpoint(const std::string& dir, const models::Model& model,
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta,
                     const StateTensors& extra = {}, int rank = 0);

// Loads weights and optimizer state in place; returns the progress and fills `extra` (when
// given) with the state tensors saved. Throws tdml::Error when the files are missing, of
// another model, or do not belong together.
CheckpointMeta load_checkpoint(const std::string& dir, models::Model& model,
                               torch::optim::Optimizer& opt, StateTensors* extra = nullptr,
                               int rank = 0);

// Step checkpoints. The folder rank `rank`'s files of step `step` go to before publishing.
std::string partial_step_dir(const std::string& run_dir, std::int64_t step);
// Renames the partial folder of `step` to DIR/checkpoints/step-<step> (atomic), then removes
// older step checkpoints beyond the newest `keep` and any other partial folder.
void publish_step_checkpoint(const std::string& run_dir, std::int64_t step, int keep = 2);

// Where a run in `run_dir` can resume from, newest (most optimizer steps) first: each step
// checkpoint holding rank `rank`'s files, and, when `with_epoch_checkpoint`, the run directory
// itself if it holds an epoch checkpoint. Unreadable candidates are listed too (after the
// readable ones, so a caller can report them); none: empty.
std::vector<std::string> resume_candidates(const std::string& run_dir, int rank,
                                           bool with_epoch_checkpoint);

// Which of tdml's models a state dict belongs to (names and shapes must all match), or "".
std::string infer_model_name(const std::string& checkpoint_path);

}  // namespace tdml::train
