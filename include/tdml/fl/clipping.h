#pragma once
// Pre-aggregation hygiene on a round's stacked updates (float [n, d], one row per client):
// rejecting rows that hold NaN/Inf and L2-clipping every row to a maximum norm.
// Pure functions, thread-safe; inputs are never modified.
#include <torch/torch.h>

#include <vector>

namespace tdml::fl {

// bool [n]: true where the row is entirely finite (no NaN, no +-Inf).
torch::Tensor finite_rows(const torch::Tensor& updates);

struct ClipResult {
  torch::Tensor updates;     // float [n, d]: row i scaled by min(1, max_norm / |u_i|)
  torch::Tensor norms;       // float64 [n]: L2 norm of each row BEFORE clipping (CPU)
  std::vector<int> clipped;  // rows whose norm exceeded max_norm (so were scaled down)
};

// max_norm <= 0 disables clipping (norms are still reported). Rows must be finite.
ClipResult clip_rows(const torch::Tensor& updates, double max_norm);

}  // namespace tdml::fl
