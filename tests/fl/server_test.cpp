#include "tdml/fl/server.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tdml/fl/attacks.h"
#include "tdml/fl/clipping.h"
#include "tdml/fl/round_stats.h"
#include "tdml/util/error.h"

using namespace tdml::fl;

namespace {

ServerOptions plain(const std::string& rule, double clip = 0) {
  ServerOptions o;
  o.aggregator.rule = rule;
  o.clip_norm = clip;
  return o;
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.dot(b) / (a.norm() * b.norm())).item<double>();
}

}  // namespace

TEST(FlServer, NonFiniteUpdatesAreRejectedAndNeverAveraged) {
  const float nan = std::nanf(""), inf = INFINITY;
  std::vector<torch::Tensor> u = {torch::tensor({1.0f, 1.0f}), torch::tensor({nan, 0.0f}),
                                  torch::tensor({3.0f, 3.0f}), torch::tensor({0.0f, inf})};
  auto r = RobustServer(plain("mean")).aggregate(u, {1, 1, 1, 1});
  EXPECT_EQ(r.rejected, (std::vector<int>{1, 3}));
  EXPECT_EQ(r.aggregated, (std::vector<int>{0, 2}));
  EXPECT_TRUE(torch::allclose(r.update, torch::tensor({2.0f, 2.0f})));
  EXPECT_TRUE(std::isnan(r.norms[1]));
  EXPECT_NEAR(r.norms[2], std::sqrt(18.0), 1e-6);
  std::vector<torch::Tensor> bad = {torch::tensor({nan}), torch::tensor({inf})};
  EXPECT_THROW(RobustServer(plain("mean")).aggregate(bad), tdml::Error);
}

TEST(FlServer, ClippingScalesLargeUpdatesAndReportsThem) {
  auto c = clip_rows(torch::stack({torch::tensor({3.0f, 4.0f}), torch::tensor({0.3f, 0.4f})}), 2.5);
  EXPECT_EQ(c.clipped, std::vector<int>{0});
  EXPECT_TRUE(torch::allclose(c.updates[0], torch::tensor({1.5f, 2.0f})));
  EXPECT_TRUE(torch::allclose(c.updates[1], torch::tensor({0.3f, 0.4f})));
  EXPECT_NEAR(c.norms[0].item<double>(), 5.0, 1e-6);

  std::vector<torch::Tensor> u = {torch::tensor({3.0f, 4.0f}), torch::tensor({0.0f, 1.0f}),
                                  torch::tensor({0.0f, 1.0f}), torch::tensor({0.0f, 1.0f})};
  auto r = RobustServer(plain("mean", 2.5)).aggregate(u);
  EXPECT_EQ(r.clipped, std::vector<int>{0});
  EXPECT_DOUBLE_EQ(r.clip_ratio, 0.25);
  EXPECT_TRUE(torch::allclose(r.update, torch::tensor({1.5f / 4, 5.0f / 4})));
}

TEST(FlServer, RulePreconditionsApplyToTheUpdatesThatRemain) {
  // 5 updates satisfy krum(f=1) (n >= 5); with one NaN rejected only 4 remain.
  std::vector<torch::Tensor> u(5, torch::ones({3}));
  auto o = plain("krum");
  EXPECT_NO_THROW(RobustServer(o).aggregate(u));
  u[2] = torch::full({3}, std::nanf(""));
  EXPECT_THROW(RobustServer(o).aggregate(u), tdml::Error);
  // The study: trimmed mean 0.1 over 6 clients trims nothing: refused.
  auto t = plain("trimmed-mean");
  t.aggregator.trim = 0.1;
  EXPECT_THROW(RobustServer(t).aggregate(std::vector<torch::Tensor>(6, torch::ones({3}))),
               tdml::Error);
}

TEST(FlServer, ExcludeFlaggedDropsAttackersBeforeTheMean) {
  auto gen = at::detail::createCPUGenerator(5);
  auto truth = torch::ones({500}) * 0.1;
  std::vector<torch::Tensor> u;
  for (int i = 0; i < 8; ++i) u.push_back(truth + at::normal(0.0, 0.01, {500}, gen, torch::kFloat));
  u.push_back(apply_update_attack(UpdateAttack::kMeanShift, u[0], {}, 0));
  auto o = plain("mean");
  o.detection.exclude_flagged = true;
  auto r = RobustServer(o).aggregate(u);
  EXPECT_EQ(r.flagged, std::vector<int>{8});
  EXPECT_EQ(r.excluded, std::vector<int>{8});
  EXPECT_EQ(r.aggregated.size(), 8u);
  EXPECT_GT(cosine(r.update, truth), 0.99);
  ASSERT_EQ(r.scores.size(), 9u);
  EXPECT_GT(r.scores[0].cosine_to_aggregate, 0.9);
}

// The "hijack": 9 benign updates near a true direction and 1 model-replacement update (a
// backdoor direction boosted x100). The mean follows the attacker; robust rules do not.
TEST(FlServer, ModelReplacementHijacksTheMeanButNotRobustRules) {
  const int d = 1000;
  auto gen = at::detail::createCPUGenerator(2024);
  auto truth = at::normal(0.0, 1.0, {d}, gen, torch::kFloat) / std::sqrt(d);
  auto backdoor = at::normal(0.0, 1.0, {d}, gen, torch::kFloat) / std::sqrt(d);
  std::vector<torch::Tensor> u;
  for (int i = 0; i < 9; ++i) {
    u.push_back(truth + at::normal(0.0, 0.3 / std::sqrt(d), {d}, gen, torch::kFloat));
  }
  AttackOptions boost;
  boost.boost = 100;
  u.push_back(apply_update_attack(UpdateAttack::kModelReplacement, backdoor, boost, 0));

  auto cos_of = [&](const std::string& rule, double trim = 0.1) {
    auto o = plain(rule);
    o.aggregator.trim = trim;
    return cosine(RobustServer(o).aggregate(u).update, truth);
  };
  EXPECT_LT(cos_of("mean"), 0.3);
  EXPECT_GT(cos_of("median"), 0.9);
  EXPECT_GT(cos_of("trimmed-mean"), 0.9);  // k = floor(0.1 * 10) = 1
  EXPECT_GT(cos_of("krum"), 0.9);
  EXPECT_GT(cos_of("multi-krum"), 0.9);
  EXPECT_GT(cos_of("geomed"), 0.9);
  // Clipping alone bounds the attacker's pull but the mean still drifts.
  auto clipped = RobustServer(plain("mean", 1.5)).aggregate(u);
  EXPECT_EQ(clipped.clipped, std::vector<int>{9});
  EXPECT_GT(cosine(clipped.update, truth), cos_of("mean"));
}

TEST(FlRoundStats, PerClientStatsVarianceAndBytes) {
  auto s = update_stats(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}));
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std, std::sqrt(5.0 / 3), 1e-9);
  EXPECT_NEAR(s.norm, std::sqrt(30.0), 1e-9);
  auto rows = row_stats(torch::stack({torch::zeros({4}), torch::tensor({1.0f, 2.0f, 3.0f, 4.0f})}));
  EXPECT_EQ(rows[0].norm, 0.0);
  EXPECT_NEAR(rows[1].std, s.std, 1e-12);
  EXPECT_NEAR(aggregate_variance(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f})), 5.0 / 3, 1e-9);
  // The study: SmallCifarCNN's 289,194 float parameters from 6 clients.
  auto c = round_communication(6, 6, 289194);
  EXPECT_EQ(c.up, 6940656);
  EXPECT_EQ(c.down, 6940656);
  EXPECT_EQ(round_communication(5, 6, 10).up, 200);
}
