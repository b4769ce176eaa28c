#include <algorithm>
#include <limits>
#include <numeric>

#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {

Krum::Krum(int f, int m) : f_(f), m_(m) {
  if (f < 0) throw UsageError("krum: f must be >= 0");
  if (m < 0) throw UsageError("multi-krum: m must be >= 0 (0 = n - f)");
}

void Krum::check(int n) const {
  Aggregator::check(n);
  if (n < 2 * f_ + 3) {
    throw Error(name() + ": needs n >= 2f + 3 updates, got n = " + std::to_string(n) +
                " with f = " + std::to_string(f_) + "; lower f to " +
                std::to_string(std::max(0, (n - 3) / 2)) + " or add clients");
  }
  const int m = m_ == 0 ? n - f_ : m_;
  if (m > n) {
    throw Error("multi-krum: m = " + std::to_string(m) + " exceeds the " + std::to_string(n) +
                " updates");
  }
}

torch::Tensor Krum::scores(const torch::Tensor& updates) const {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "krum: updates must be float [n, d]");
  const int n = updates.size(0);
  check(n);
  auto dist = pairwise_sq_distances(updates);
  // Exclude each row itself before picking its nearest neighbours.
  dist.fill_diagonal_(std::numeric_limits<double>::infinity());
  const int neighbours = n - f_ - 2;
  return std::get<0>(dist.topk(neighbours, 1, /*largest=*/false)).sum(1).cpu();
}

Aggregate Krum::aggregate(const torch::Tensor& updates, const torch::Tensor&) const {
  auto s = scores(updates);
  const int n = updates.size(0);
  const int m = m_ == 0 ? n - f_ : m_;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto acc = s.accessor<double, 1>();
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return acc[a] < acc[b]; });
  order.resize(m);
  std::sort(order.begin(), order.end());
  auto idx = torch::tensor(std::vector<std::int64_t>(order.begin(), order.end()), torch::kInt64)
                 .to(updates.device());
  return {updates.index_select(0, idx).mean(0), order, 0};
}

}  // namespace tdml::fl
