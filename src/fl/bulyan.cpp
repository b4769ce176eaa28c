// Bulyan (El Mhamdi, Guerraoui and Rouault 2018): Krum picks, then a trimmed mean around the
// coordinate-wise median of the picks.
#include <algorithm>
#include <limits>
#include <numeric>

#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {

Bulyan::Bulyan(int f) : f_(f) {
  if (f < 0) throw UsageError("bulyan: f must be >= 0");
}

void Bulyan::check(int n) const {
  Aggregator::check(n);
  if (n < 4 * f_ + 3) {
    throw Error("bulyan: needs n >= 4f + 3 updates, got n = " + std::to_string(n) + " with f = " +
                std::to_string(f_) + "; lower f (--krum-f) to " +
                std::to_string(std::max(0, (n - 3) / 4)) + " or sample more clients");
  }
}

Aggregate Bulyan::aggregate(const torch::Tensor& updates, const torch::Tensor&) const {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "bulyan: updates must be float [n, d]");
  const int n = updates.size(0);
  check(n);
  const int theta = n - 2 * f_;
  const auto dist = pairwise_sq_distances(updates).cpu();
  auto acc = dist.accessor<double, 2>();
  // Selection: Krum on the remaining set, theta times; each pick leaves the set.
  std::vector<int> remaining(n);
  std::iota(remaining.begin(), remaining.end(), 0);
  std::vector<int> picked;
  while (static_cast<int>(picked.size()) < theta) {
    const int m = remaining.size();
    // Krum's neighbour count on the current set (at least 1; the paper's n - f - 2).
    const int neighbours = std::max(1, m - f_ - 2);
    double best = std::numeric_limits<double>::infinity();
    int best_pos = 0;
    for (int a = 0; a < m; ++a) {
      std::vector<double> d;
      d.reserve(m - 1);
      for (int b = 0; b < m; ++b) {
        if (a != b) d.push_back(acc[remaining[a]][remaining[b]]);
      }
      const int k = std::min<int>(neighbours, d.size());
      std::partial_sort(d.begin(), d.begin() + k, d.end());
      const double score = std::accumulate(d.begin(), d.begin() + k, 0.0);
      if (score < best) {  // ties: the lowest row
        best = score;
        best_pos = a;
      }
    }
    picked.push_back(remaining[best_pos]);
    remaining.erase(remaining.begin() + best_pos);
  }
  std::sort(picked.begin(), picked.end());
  auto idx = torch::tensor(std::vector<std::int64_t>(picked.begin(), picked.end()), torch::kInt64)
                 .to(updates.device());
  auto sel = updates.index_select(0, idx);
  // Aggregation: per coordinate the beta values closest to the median, averaged.
  const int beta = theta - 2 * f_;
  auto med = std::get<0>(sel.kthvalue((theta - 1) / 2 + 1, 0));
  auto gap = (sel - med.unsqueeze(0)).abs();
  auto nearest = std::get<1>(gap.topk(beta, 0, /*largest=*/false));
  return {sel.gather(0, nearest).mean(0), picked, 0};
}

}  // namespace tdml::fl
