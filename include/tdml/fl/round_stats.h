#pragma once
// Statistics a federated round reports: per-client mean / std / norm of the update (the
// study's "gradient mean vs std" scatter), the variance of the aggregated update, and the
// bytes moved. Pure functions, thread-safe.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tdml::fl {

struct UpdateStats {
  double mean = 0;  // mean of the coordinates
  double std = 0;   // standard deviation of the coordinates (unbiased, as torch.std)
  double norm = 0;  // L2 norm
};

// One update (float [d]).
UpdateStats update_stats(const torch::Tensor& update);
// Every row of float [n, d] at once.
std::vector<UpdateStats> row_stats(const torch::Tensor& updates);

// Variance of the aggregated update's coordinates (unbiased, as the study's agg.var()).
double aggregate_variance(const torch::Tensor& aggregate);

struct CommBytes {
  std::int64_t up = 0;    // client -> server: one update of `elements` from each sender
  std::int64_t down = 0;  // server -> client: the model (or update) sent to each receiver
};

// Bytes of one round when `senders` clients upload `elements` values each and `receivers`
// clients download `elements` values each, at `bytes_per_element` (4 for float32). The study's
// "6.6 MB a round" is its upload: 289,194 x 4 x 6 = 6,940,656 bytes = 6.6 MiB.
CommBytes round_communication(int senders, int receivers, std::int64_t elements,
                              int bytes_per_element = 4);

}  // namespace tdml::fl
