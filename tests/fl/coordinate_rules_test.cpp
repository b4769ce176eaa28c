// Median and trimmed mean (their O(n)-per-column selection kernels, src/fl/column_order.h)
// equal the sort-based formulation of each rule, ties and odd shapes included.
#include <gtest/gtest.h>

#include "tdml/fl/aggregators.h"

namespace tdml::fl {
namespace {

TEST(CoordinateRules, MedianAndTrimmedMeanEqualTheSortedFormulation) {
  torch::manual_seed(11);
  for (int n : {1, 2, 3, 4, 7, 10, 11, 64, 101, 256, 257, 300}) {  // > 256: quickselect
    for (int d : {1, 15, 16, 17, 1000}) {
      // Even n: values on a coarse grid, so columns hold ties.
      auto x = n % 2 ? torch::randn({n, d}) : (torch::randn({n, d}) * 4).round() / 4;
      auto sorted = std::get<0>(x.sort(0));
      const auto tag = "n=" + std::to_string(n) + " d=" + std::to_string(d);
      EXPECT_TRUE(
          torch::equal(CoordinateMedian(false).aggregate(x, {}).update, sorted[(n - 1) / 2]))
          << tag;
      auto avg = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) * 0.5;
      EXPECT_TRUE(torch::equal(CoordinateMedian(true).aggregate(x, {}).update, avg)) << tag;
      for (int k = 0; n - 2 * k >= 1; k += std::max(1, n / 5)) {
        const TrimmedMean rule((k + 0.25) / n, /*allow_no_trim=*/true);
        ASSERT_EQ(rule.trimmed(n), k);
        auto want = sorted.slice(0, k, n - k).to(torch::kFloat64).mean(0).to(torch::kFloat);
        EXPECT_TRUE(torch::allclose(rule.aggregate(x, {}).update, want, 1e-6, 1e-6))
            << tag << " k=" << k;
      }
    }
  }
  // A transposed (non-contiguous) input gives what its contiguous copy gives.
  auto t = torch::randn({9, 40}).t();
  EXPECT_TRUE(torch::equal(CoordinateMedian().aggregate(t, {}).update,
                           CoordinateMedian().aggregate(t.contiguous(), {}).update));
  // float64 takes the torch path: the same values.
  auto x64 = torch::randn({6, 33}, torch::kFloat64);
  EXPECT_TRUE(
      torch::equal(CoordinateMedian().aggregate(x64, {}).update, std::get<0>(x64.sort(0))[2]));
}

}  // namespace
}  // namespace tdml::fl
