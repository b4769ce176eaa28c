#pragma once
// The study's grid: batch size x data-loader parallelism, one short training run per cell
// (the trainer of `tdml train`), with throughput, test accuracy and epoch time per cell and,
// optionally, TensorBoard scalars per epoch.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/train/options.h"

namespace tdml::study {

struct SweepOptions {
  train::TrainOptions base;  // model, data, epochs, limits, lr ... of every cell
  std::vector<std::int64_t> batch_sizes = {32, 64, 128};
  // Loader threads preparing batches (augmentation, normalisation, copy): 0 = in the training
  // thread (PyTorch num_workers=0); N > 0 = N background threads, 2N batches prefetched
  // (PyTorch's prefetch_factor 2).
  std::vector<int> workers = {0, 2, 4, 8};
  std::string log_dir;  // TensorBoard: LOG_DIR/b<B>_w<W>/events.out.tfevents.* (empty: none)
  std::string out_dir = "runs/sweep";  // metrics.json; cells/b<B>_w<W>/ train runs
};

// Runs every cell (batch sizes outer, workers inner) and writes out_dir/metrics.json (kind
// "sweep") after each; returns the document. Throws tdml::UsageError on an empty or bad grid.
nlohmann::json run_sweep(const SweepOptions& o);

// The TensorBoard tags written per epoch.
const std::vector<std::string>& sweep_scalar_tags();

}  // namespace tdml::study
