#pragma once
// Throughput of the input pipeline alone (batching + random crop + flip + normalise, through
// the Loader and its worker threads), for `tdml data bench` and scripts/bench/data_pipeline.sh.
#include <cstdint>

#include "tdml/data/dataset.h"

namespace tdml::data {

struct PipelineBenchOptions {
  std::int64_t batch_size = 128;  // images per batch
  int workers = 2;                // loader threads (the study's DataLoader used 2 workers)
  int prefetch = 4;               // batches prepared ahead
  int epochs = 1;                 // full passes over the data set
  int warmup_batches = 5;         // untimed batches first (allocator, thread start)
  std::uint64_t seed = 0;         // shuffle/augmentation seed
};

struct PipelineBenchResult {
  std::int64_t images = 0;  // images delivered in the timed part
  double seconds = 0;       // wall time of the timed part
  double images_per_s() const { return seconds > 0 ? images / seconds : 0; }
};

// Runs the loader with augmentation over `data` and times it. The batches are consumed (a
// checksum of each is taken) so nothing is optimised away.
PipelineBenchResult bench_pipeline(const Dataset& data, const PipelineBenchOptions& opts);

}  // namespace tdml::data
