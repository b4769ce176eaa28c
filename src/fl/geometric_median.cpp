#include <numeric>

#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {

GeometricMedian::GeometricMedian(double nu, double tol, int max_iter)
    : nu_(nu), tol_(tol), max_iter_(max_iter) {
  if (!(nu > 0)) throw UsageError("geometric median: smoothing nu must be > 0");
  if (!(tol > 0)) throw UsageError("geometric median: tolerance must be > 0");
  if (max_iter < 1) throw UsageError("geometric median: max iterations must be >= 1");
}

Aggregate GeometricMedian::aggregate(const torch::Tensor& updates, const torch::Tensor&) const {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "geomed: updates must be float [n, d]");
  const int n = updates.size(0);
  check(n);
  // Iterate in float64: the weights 1/|u_i - z| span many orders of magnitude.
  auto x = updates.to(torch::kFloat64);
  auto z = x.mean(0);
  int it = 0;
  while (it < max_iter_) {
    ++it;
    auto w = 1.0 / (x - z).norm(2, 1).clamp_min(nu_);
    auto next = torch::matmul(w, x) / w.sum();
    const double step = (next - z).norm().item<double>();
    const double scale = std::max(1.0, next.norm().item<double>());
    z = next;
    if (step <= tol_ * scale) break;
  }
  std::vector<int> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  return {z.to(updates.scalar_type()), rows, it};
}

}  // namespace tdml::fl
