#include "tdml/fl/aggregators.h"

#include <gtest/gtest.h>

#include "tdml/util/error.h"

using namespace tdml::fl;

namespace {

torch::Tensor rows(std::vector<std::vector<float>> v) {
  std::vector<torch::Tensor> r;
  for (auto& x : v) r.push_back(torch::tensor(x));
  return torch::stack(r);
}

bool near(const torch::Tensor& a, std::vector<float> b, double tol = 1e-5) {
  return torch::allclose(a, torch::tensor(b), tol, tol);
}

}  // namespace

TEST(FlAggregators, MeanIsSampleWeighted) {
  auto u = rows({{1, 2}, {3, 4}, {5, 0}});
  EXPECT_TRUE(near(Mean().aggregate(u, torch::tensor({1.0, 1.0, 2.0})).update, {3.5, 1.5}));
  EXPECT_TRUE(near(Mean().aggregate(u, {}).update, {3, 2}));
  EXPECT_THROW(Mean().aggregate(u, torch::tensor({1.0, 0.0, 1.0})), tdml::Error);
}

TEST(FlAggregators, MedianOddEvenAndTies) {
  EXPECT_TRUE(
      near(CoordinateMedian().aggregate(rows({{1, 10}, {3, -1}, {2, 5}}), {}).update, {2, 5}));
  // Even count: the lower middle value (torch.median), or the average of both (numpy).
  auto even = rows({{1, 8}, {4, 5}, {2, 6}, {3, 7}});
  EXPECT_TRUE(near(CoordinateMedian().aggregate(even, {}).update, {2, 6}));
  EXPECT_TRUE(near(CoordinateMedian(true).aggregate(even, {}).update, {2.5, 6.5}));
  auto ties = rows({{1}, {1}, {5}, {5}});
  EXPECT_TRUE(near(CoordinateMedian().aggregate(ties, {}).update, {1}));
  EXPECT_TRUE(near(CoordinateMedian(true).aggregate(ties, {}).update, {3}));
}

TEST(FlAggregators, MedianMatchesSortedLowerMiddleOnRandomData) {
  for (int n : {7, 10}) {
    auto gen = at::detail::createCPUGenerator(n);
    auto u = at::normal(0.0, 1.0, {n, 1000}, gen, torch::kFloat32);
    auto sorted = std::get<0>(u.sort(0));
    EXPECT_TRUE(torch::equal(CoordinateMedian().aggregate(u, {}).update, sorted[(n - 1) / 2]));
  }
}

TEST(FlAggregators, TrimmedMeanCutsKAtEachEnd) {
  TrimmedMean tm(0.2);  // n = 5 -> k = 1
  EXPECT_EQ(tm.trimmed(5), 1);
  EXPECT_TRUE(
      near(tm.aggregate(rows({{1, -50}, {2, 0}, {3, 1}, {4, 2}, {100, 3}}), {}).update, {3, 1}));
  EXPECT_EQ(TrimmedMean(0.3).trimmed(10), 3);
  // trim 1/3 of 3 updates leaves exactly the median.
  EXPECT_TRUE(near(TrimmedMean(0.34).aggregate(rows({{9}, {1}, {4}}), {}).update, {4}));
}

TEST(FlAggregators, TrimmedMeanRefusesATrimThatRemovesNothing) {
  // The study's pitfall: 6 clients at trim 0.1 trims int(0.6) = 0 values.
  auto u = rows({{1}, {2}, {3}, {4}, {5}, {600}});
  try {
    TrimmedMean(0.1).aggregate(u, {});
    FAIL() << "no throw";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain mean"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(near(TrimmedMean(0.1, /*allow_no_trim=*/true).aggregate(u, {}).update, {102.5}));
  EXPECT_THROW(TrimmedMean(0.5), tdml::UsageError);
  EXPECT_THROW(TrimmedMean(-0.1), tdml::UsageError);
}

TEST(FlAggregators, KrumPicksTheMostCentralAndMultiKrumAverages) {
  auto u = rows({{0}, {0.1f}, {0.2f}, {0.3f}, {10}});
  Krum krum(1);
  // Scores: sums of squared distances to the 2 nearest others.
  auto s = krum.scores(u);
  EXPECT_NEAR(s[0].item<double>(), 0.05, 1e-6);
  EXPECT_NEAR(s[1].item<double>(), 0.02, 1e-6);
  EXPECT_NEAR(s[2].item<double>(), 0.02, 1e-6);
  EXPECT_NEAR(s[4].item<double>(), 9.7 * 9.7 + 9.8 * 9.8, 1e-4);
  auto a = krum.aggregate(u, {});
  EXPECT_EQ(a.selected, std::vector<int>{1});  // tie between rows 1 and 2: the lower row
  EXPECT_TRUE(near(a.update, {0.1f}));
  auto m = Krum(1, 0).aggregate(u, {});  // m = n - f = 4
  EXPECT_EQ(m.selected, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(near(m.update, {0.15f}));
}

TEST(FlAggregators, KrumPreconditionIsAClearError) {
  auto u = rows({{0}, {1}, {2}, {3}});
  try {
    Krum(1).aggregate(u, {});
    FAIL() << "no throw";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("2f + 3"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(Krum(0).aggregate(u, {}));
}

TEST(FlAggregators, GeometricMedianIgnoresAFarOutlier) {
  GeometricMedian gm;
  // On a line the geometric median is the median.
  auto a = gm.aggregate(rows({{0}, {1}, {2}, {3}, {1000}}), {});
  EXPECT_NEAR(a.update[0].item<float>(), 2.0, 1e-3);
  EXPECT_GT(a.iterations, 1);
  // Equilateral triangle: the Fermat point is the centroid.
  const float h = std::sqrt(3.0f) / 2;
  auto b = gm.aggregate(rows({{0, 0}, {1, 0}, {0.5f, h}}), {});
  EXPECT_TRUE(near(b.update, {0.5f, h / 3}, 1e-4));
}

TEST(FlAggregators, FactoryAndBreakdownPoints) {
  AggregatorOptions o;
  for (const auto& name : aggregator_names()) {
    o.rule = name;
    EXPECT_EQ(make_aggregator(o)->name(), name);
  }
  o.rule = "average";
  EXPECT_THROW(make_aggregator(o), tdml::UsageError);
  EXPECT_EQ(Mean().tolerated(10), 0);
  EXPECT_EQ(CoordinateMedian().tolerated(10), 4);
  EXPECT_EQ(CoordinateMedian().tolerated(9), 4);
  EXPECT_EQ(TrimmedMean(0.2).tolerated(10), 2);
  EXPECT_EQ(Krum(2).tolerated(10), 2);
  EXPECT_EQ(GeometricMedian().tolerated(6), 2);
}
