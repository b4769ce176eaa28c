#include "tdml/fl/clipping.h"

#include "tdml/util/error.h"

namespace tdml::fl {

torch::Tensor finite_rows(const torch::Tensor& updates) {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "updates must be a float [n, d] tensor");
  return torch::isfinite(updates).all(1).cpu();
}

ClipResult clip_rows(const torch::Tensor& updates, double max_norm) {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "clip: updates must be float [n, d]");
  ClipResult out;
  auto norms = updates.to(torch::kFloat64).norm(2, 1);
  out.norms = norms.cpu();
  if (!(max_norm > 0)) {
    out.updates = updates;
    return out;
  }
  auto scale = (max_norm / norms.clamp_min(1e-300)).clamp_max(1.0);
  out.updates = updates * scale.to(updates.scalar_type()).unsqueeze(1);
  auto acc = out.norms.accessor<double, 1>();
  for (int i = 0; i < out.norms.size(0); ++i) {
    if (acc[i] > max_norm) out.clipped.push_back(i);
  }
  return out;
}

}  // namespace tdml::fl
