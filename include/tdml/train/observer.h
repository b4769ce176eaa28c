#pragma once
// Who watches a training run from outside the loop: the ledger (ledger/train_ledger.h), and
// anything else that records epochs (a TensorBoard writer, a progress reporter). The loop itself
// writes metrics.json and checkpoints; observers see the same document and may add to it.
// Observers run on the writer rank (rank 0) only, in the order given, on the training thread.
#include <cstdint>
#include <memory>
#include <vector>
#include <nlohmann/json.hpp>

#include "tdml/models/model.h"

namespace tdml::train {

// The end of one epoch, as the writer rank sees it.
struct EpochEnd {
  int epoch = 0;                 // 1-based
  std::int64_t global_step = 0;  // optimizer steps taken since the run began
  const models::Model& model;    // the weights after the epoch
  nlohmann::json& record;        // the epoch's metrics.json record: observers may add fields
};

class TrainObserver;
using Observers = std::vector<std::shared_ptr<TrainObserver>>;

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  // Once, before the first epoch. `doc` is metrics.json as written so far ("config", "run",
  // "data", "model"): an observer may add its own top-level entry. Throwing fails the run.
  virtual void on_start(nlohmann::json& doc) {}
  // After each epoch: after the checkpoint is saved, before the record goes into metrics.json.
  virtual void on_epoch_end(const EpochEnd& epoch) {}
};

}  // namespace tdml::train
