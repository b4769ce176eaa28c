// Bulyan, centered clipping, FLTrust and bucketing: hand-computed cases and the robustness
// property each rule claims.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tdml/fl/aggregators.h"
#include "tdml/fl/server.h"
#include "tdml/util/error.h"

using namespace tdml::fl;

namespace {

torch::Tensor rr_rows(std::vector<std::vector<float>> v) {
  std::vector<torch::Tensor> r;
  for (auto& x : v) r.push_back(torch::tensor(x));
  return torch::stack(r);
}

bool rr_near(const torch::Tensor& a, std::vector<float> b, double tol = 1e-5) {
  return torch::allclose(a, torch::tensor(b), tol, tol);
}

// n benign rows around 1 plus f rows far away.
torch::Tensor rr_with_attackers(int benign, int f, int d, double far, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto b = torch::randn({benign, d}, gen, torch::kFloat32) * 0.1 + 1.0;
  auto a = torch::full({f, d}, far, torch::kFloat32);
  return torch::cat({b, a});
}

}  // namespace

TEST(FlRobustRules, PairwiseDistancesMatchDirectComputation) {
  auto x = torch::randn({7, 300000});  // more than one column block
  auto d = pairwise_sq_distances(x);
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 7; ++j) {
      const double direct = (x[i] - x[j]).to(torch::kFloat64).pow(2).sum().item<double>();
      EXPECT_NEAR(d[i][j].item<double>(), direct, 1e-6 * std::max(1.0, direct));
    }
  }
}

// Close updates far from the origin (a common offset of 5, differences of 0.01): the Gram form
// would cancel most digits in float32; the direct sums keep 1e-6. And the same bits with 1 or 2
// threads (the columns are chunked by n and d, not by thread).
TEST(FlRobustRules, PairwiseDistancesOfCloseUpdatesAreExactEnoughAndThreadIndependent) {
  torch::manual_seed(3);
  auto x = torch::randn({9, 100003}) * 0.01 + 5.0;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = pairwise_sq_distances(x);
  at::set_num_threads(2);
  const auto two = pairwise_sq_distances(x);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));
  const auto xd = x.to(torch::kFloat64);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(one[i][i].item<double>(), 0.0);
    for (int j = 0; j < 9; ++j) {
      if (i == j) continue;
      const double direct = (xd[i] - xd[j]).pow(2).sum().item<double>();
      EXPECT_NEAR(one[i][j].item<double>(), direct, 1e-6 * direct) << i << "," << j;
    }
  }
}

TEST(FlRobustRules, BulyanHandComputed) {
  // n = 7, f = 1: theta = 5 picks by repeated Krum ({0,1,2,3,4}: 2, then 1, 3, 0, 4), then
  // per coordinate the beta = 3 values nearest the median of the picks are averaged.
  auto u = rr_rows({{0, 10}, {1, 14}, {2, 11}, {3, 12}, {4, 13}, {100, -100}, {-50, 50}});
  auto a = Bulyan(1).aggregate(u, {});
  EXPECT_EQ(a.selected, (std::vector<int>{0, 1, 2, 3, 4}));
  // x: median 2, nearest {1,2,3} -> 2; y: picks {10,14,11,12,13}, median 12, nearest {11,12,13}.
  EXPECT_TRUE(rr_near(a.update, {2, 12}));
}

TEST(FlRobustRules, BulyanNeedsFourFPlusThree) {
  auto u = torch::randn({10, 3});
  EXPECT_THROW(Bulyan(2).aggregate(u, {}), tdml::Error);  // 10 < 11
  EXPECT_NO_THROW(Bulyan(2).aggregate(torch::randn({11, 3}), {}));
  try {
    Bulyan(2).check(10);
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("4f + 3"), std::string::npos) << e.what();
  }
}

TEST(FlRobustRules, BulyanStaysWithinTheBenignRangeUnderAttack) {
  for (double far : {1e6, -1e6, 3.0}) {
    auto u = rr_with_attackers(9, 2, 50, far, 3);
    auto out = Bulyan(2).aggregate(u, {}).update;
    auto benign = u.slice(0, 0, 9);
    EXPECT_TRUE((out >= std::get<0>(benign.min(0)) - 1e-6).all().item<bool>()) << far;
    EXPECT_TRUE((out <= std::get<0>(benign.max(0)) + 1e-6).all().item<bool>()) << far;
  }
}

TEST(FlRobustRules, CenteredClippingHandComputed) {
  // Centre 0, tau 1, one iteration: [3,0] is clipped to [1,0], [0,0.5] is kept.
  auto u = rr_rows({{3, 0}, {0, 0.5}});
  EXPECT_TRUE(rr_near(CenteredClipping(1.0, 1).aggregate(u, {}).update, {0.5, 0.25}));
  // Centred on the previous aggregate [3,0]: the first row is at the centre.
  RuleInputs in;
  in.previous = torch::tensor({3.0f, 0.0f});
  // diff [0,0] -> 0; [-3,0.5] norm 3.041 -> scaled to tau: [-0.9864, 0.1644]; mean / 2.
  auto out = CenteredClipping(1.0, 1).aggregate_with(u, {}, in).update;
  const double n = std::sqrt(9 + 0.25);
  EXPECT_TRUE(rr_near(out, {static_cast<float>(3 - 3 / n / 2), static_cast<float>(0.5 / n / 2)}));
}

TEST(FlRobustRules, CenteredClippingBoundsTheAttackersPull) {
  // Benign rows all equal b, centre b: f attackers move the result by at most
  // iterations * tau * f / n, however far they are.
  const int n = 10, f = 3, iters = 3;
  const double tau = 0.5;
  auto b = torch::full({20}, 1.0f);
  auto u = torch::cat({b.expand({n - f, 20}), torch::full({f, 20}, 1e6f)});
  RuleInputs in;
  in.previous = b;
  auto out = CenteredClipping(tau, iters).aggregate_with(u, {}, in).update;
  EXPECT_LE((out - b).norm().item<double>(), iters * tau * f / n + 1e-5);
  EXPECT_GT((out - b).norm().item<double>(), 0.0);  // they do pull, within the bound
}

TEST(FlRobustRules, FLTrustHandComputed) {
  RuleInputs in;
  in.root = torch::tensor({1.0f, 0.0f});
  // cos 1, 0, -1: only the first is trusted; rescaled to |g0| = 1.
  auto a = FLTrust().aggregate_with(rr_rows({{2, 0}, {0, 3}, {-1, 0}}), {}, in);
  EXPECT_TRUE(rr_near(a.update, {1, 0}));
  EXPECT_EQ(a.selected, (std::vector<int>{0}));
  // [1,1]: trust 1/sqrt2, rescaled to [1,1]/sqrt2; [3,0]: trust 1, rescaled to [1,0].
  auto b = FLTrust().aggregate_with(rr_rows({{1, 1}, {3, 0}}), {}, in).update;
  const double s = 1 / std::sqrt(2.0);
  EXPECT_TRUE(rr_near(b, {static_cast<float>((s * s + 1) / (s + 1)),
                          static_cast<float>(s * s / (s + 1))}));
  // No trusted update: zero.
  EXPECT_TRUE(rr_near(FLTrust().aggregate_with(rr_rows({{-1, 0}}), {}, in).update, {0, 0}));
  EXPECT_THROW(FLTrust().aggregate(rr_rows({{1, 0}}), {}), tdml::Error);  // no root
}

TEST(FlRobustRules, FLTrustIgnoresUpdatesAgainstTheRoot) {
  auto benign = rr_with_attackers(6, 0, 30, 0, 5);
  RuleInputs in;
  in.root = benign.mean(0);
  auto clean = FLTrust().aggregate_with(benign, {}, in).update;
  // Attackers sending -k * g0 (any k) get trust 0 and change nothing.
  auto attacked = torch::cat({benign, -100 * in.root.unsqueeze(0), -1e6 * in.root.unsqueeze(0)});
  EXPECT_TRUE(torch::allclose(FLTrust().aggregate_with(attacked, {}, in).update, clean, 1e-5, 1e-6));
  // And no update, however large, moves the result by more than |g0|.
  auto big = torch::cat({benign, 1e6 * torch::randn({2, 30})});
  auto out = FLTrust().aggregate_with(big, {}, in).update;
  EXPECT_LE(out.norm().item<double>(), in.root.norm().item<double>() * (1 + 1e-5));
}

TEST(FlRobustRules, RulesArePermutationInvariant) {
  auto u = rr_with_attackers(9, 2, 40, 7.0, 11);
  auto perm = torch::randperm(11, torch::kInt64);
  auto p = u.index_select(0, perm);
  RuleInputs in;
  in.root = u.slice(0, 0, 9).mean(0);
  in.previous = torch::full({40}, 0.9f);
  std::vector<std::unique_ptr<Aggregator>> rules;
  rules.push_back(std::make_unique<CoordinateMedian>());
  rules.push_back(std::make_unique<TrimmedMean>(0.2));
  rules.push_back(std::make_unique<Krum>(2, 1));
  rules.push_back(std::make_unique<Krum>(2, 0));
  rules.push_back(std::make_unique<Bulyan>(2));
  rules.push_back(std::make_unique<CenteredClipping>(0.5, 3));
  rules.push_back(std::make_unique<FLTrust>());
  rules.push_back(std::make_unique<GeometricMedian>());
  for (const auto& r : rules) {
    auto a = r->aggregate_with(u, {}, in).update;
    auto b = r->aggregate_with(p, {}, in).update;
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << r->name();
  }
}

TEST(FlRobustRules, BucketingWithOneIsThePlainRule) {
  auto u = rr_with_attackers(8, 3, 25, -4.0, 13);
  for (const char* rule : {"median", "krum", "bulyan", "trimmed-mean", "mean"}) {
    ServerOptions plain;
    plain.aggregator.rule = rule;
    plain.aggregator.f = 2;
    plain.detect = false;
    plain.clip_norm = 0;
    auto bucketed = plain;
    bucketed.bucketing = 1;
    std::vector<torch::Tensor> list;
    for (int i = 0; i < 11; ++i) list.push_back(u[i]);
    AggregationInputs in;
    in.seed = 99;
    auto a = RobustServer(plain).aggregate(list, {}, in).update;
    auto b = RobustServer(bucketed).aggregate(list, {}, in).update;
    EXPECT_TRUE(torch::equal(a, b)) << rule;
    auto buckets = bucket_average(u, {}, 1, 99);
    EXPECT_TRUE(torch::equal(buckets.means, u)) << rule;
  }
}

TEST(FlRobustRules, BucketsAverageAPermutationOfTheRows) {
  auto u = torch::arange(10, torch::kFloat32).unsqueeze(1) * torch::ones({1, 3});
  auto b = bucket_average(u, torch::arange(1, 11, torch::kFloat64), 3, 5);
  ASSERT_EQ(b.members.size(), 4u);  // 3 + 3 + 3 + 1
  std::vector<int> seen;
  for (std::size_t k = 0; k < b.members.size(); ++k) {
    double sum = 0, w = 0;
    for (int r : b.members[k]) {
      sum += r;
      w += r + 1;
      seen.push_back(r);
    }
    EXPECT_NEAR(b.means[k][0].item<double>(), sum / b.members[k].size(), 1e-6);
    EXPECT_NEAR(b.weights[k].item<double>(), w, 1e-9);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // Seeded: the same seed, the same buckets; another seed, (almost surely) others.
  EXPECT_EQ(bucket_average(u, {}, 3, 5).members, b.members);
  EXPECT_NE(bucket_average(u, {}, 3, 6).members, b.members);
}

TEST(FlRobustRules, BucketingChecksTheRuleOnTheBucketCount) {
  ServerOptions o;
  o.aggregator.rule = "krum";
  o.aggregator.f = 1;
  o.bucketing = 2;
  o.detect = false;
  std::vector<torch::Tensor> list;
  for (int i = 0; i < 8; ++i) list.push_back(torch::randn({4}));
  // 8 updates -> 4 buckets < 2f + 3 = 5.
  try {
    RobustServer(o).aggregate(list);
    FAIL() << "krum on 4 buckets should be refused";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 buckets of 2"), std::string::npos) << e.what();
  }
  list.push_back(torch::randn({4}));
  list.push_back(torch::randn({4}));
  auto r = RobustServer(o).aggregate(list);
  EXPECT_EQ(r.buckets, 5);
  EXPECT_EQ(r.selected.size(), 2u);  // krum picks one bucket of 2
}

TEST(FlRobustRules, FactoryKnowsTheNewRulesAndRefusesBadSettings) {
  for (const char* n : {"bulyan", "cclip", "fltrust"}) {
    AggregatorOptions o;
    o.rule = n;
    EXPECT_EQ(make_aggregator(o)->name(), n);
  }
  AggregatorOptions bad;
  bad.rule = "cclip";
  bad.cclip_tau = 0;
  EXPECT_THROW(make_aggregator(bad), tdml::UsageError);
  ServerOptions fl;
  fl.aggregator.rule = "fltrust";
  EXPECT_THROW(RobustServer{fl}, tdml::UsageError);  // no root set
  fl.root_samples = 10;
  EXPECT_NO_THROW(RobustServer{fl});
}
