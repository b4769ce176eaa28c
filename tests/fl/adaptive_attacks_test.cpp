// ALIE, IPM and min-max: the vectors their papers define, and the simulation sending them.
#include "tdml/fl/adaptive_attacks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tdml/data/synthetic.h"
#include "tdml/fl/aggregators.h"
#include "tdml/fl/runner.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

torch::Tensor aa_rows(std::vector<std::vector<float>> v) {
  std::vector<torch::Tensor> r;
  for (auto& x : v) r.push_back(torch::tensor(x));
  return torch::stack(r);
}

TEST(FlAdaptiveAttacks, AlieZFollowsThePaper) {
  // s = floor(n/2 + 1) - f; z = Phi^-1((n - s) / n).
  EXPECT_NEAR(alie_z(10, 2), 0.253347, 1e-5);  // s = 4: Phi^-1(0.6)
  EXPECT_NEAR(alie_z(50, 12), 0.582842, 1e-5);  // s = 14: Phi^-1(0.72)
  EXPECT_NEAR(alie_z(4, 2), 0.674490, 1e-5);    // s = 1: Phi^-1(0.75)
  EXPECT_NEAR(normal_quantile(0.975), 1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
}

TEST(FlAdaptiveAttacks, AlieIsMeanMinusZStd) {
  auto b = aa_rows({{1, 2}, {3, 2}, {5, 2}});
  // mean [3, 2], population std [sqrt(8/3), 0].
  auto v = alie_update(b, 1.5);
  EXPECT_NEAR(v[0].item<double>(), 3 - 1.5 * std::sqrt(8.0 / 3), 1e-5);
  EXPECT_NEAR(v[1].item<double>(), 2, 1e-6);
}

TEST(FlAdaptiveAttacks, IpmIsMinusEpsMean) {
  auto v = ipm_update(aa_rows({{1, 2}, {3, 2}, {5, 2}}), 0.5);
  EXPECT_TRUE(torch::allclose(v, torch::tensor({-1.5f, -1.0f})));
}

TEST(FlAdaptiveAttacks, MinMaxStaysWithinTheBenignDiameter) {
  // mean [1,0], p = -std = [-1, 0]; max benign distance^2 = 4: the largest gamma with
  // max((1 - g)^2, (1 + g)^2) <= 4 is 1, so the crafted update is [0, 0].
  double gamma = 0;
  auto v = minmax_update(aa_rows({{0, 0}, {2, 0}}), &gamma);
  EXPECT_NEAR(gamma, 1.0, 1e-6);
  EXPECT_TRUE(torch::allclose(v, torch::tensor({0.0f, 0.0f}), 1e-5, 1e-5));
  // Random case: the defining property holds, and a slightly larger gamma breaks it.
  auto b = torch::randn({8, 30});
  v = minmax_update(b, &gamma);
  const double diameter = pairwise_sq_distances(b).max().item<double>();
  auto farthest = [&](const torch::Tensor& m) {
    return (b - m.unsqueeze(0)).pow(2).sum(1).max().item<double>();
  };
  EXPECT_LE(farthest(v), diameter * (1 + 1e-6));
  auto p = -b.std(0, false);
  EXPECT_GT(farthest(b.mean(0) + gamma * 1.01 * p), diameter);
}

TEST(FlAdaptiveAttacks, AdaptiveAttacksTakeNoDataAttack) {
  EXPECT_TRUE(parse_client_attack("alie").adaptive());
  EXPECT_FALSE(parse_client_attack("backdoor+model-replacement").adaptive());
  EXPECT_THROW(parse_client_attack("backdoor+alie"), tdml::UsageError);
}

TEST(FlAdaptiveAttacks, TheSimulationSendsTheCraftedVector) {
  auto train = data::make_synthetic(200, data::Split::kTrain);
  auto test = data::make_synthetic(50, data::Split::kTest);
  RunnerOptions o;
  o.model = "tinycnn";
  o.clients = 5;
  o.per_client = 40;
  o.rounds = 1;
  o.mode = "local";
  o.batch_size = 20;
  o.malicious = 2;
  o.server.aggregator.rule = "median";
  o.limit_test_batches = 1;
  o.eval_batch_size = 50;
  for (const char* attack : {"alie", "ipm", "minmax"}) {
    o.attacks = attack;
    std::map<int, torch::Tensor> sent;
    RunHooks hooks;
    hooks.server.admit = [&](const RoundContext&, const ClientUpdate& u) {
      sent[u.client] = u.update.clone();
      return std::string();
    };
    auto r = run_federated(train, test, o, "", hooks);
    ASSERT_EQ(sent.size(), 5u);
    EXPECT_EQ(r.rounds[0].adaptive, (std::vector<int>{0, 1})) << attack;
    auto benign = torch::stack({sent[2], sent[3], sent[4]});
    torch::Tensor want;
    if (std::string(attack) == "alie") want = alie_update(benign, alie_z(5, 2));
    if (std::string(attack) == "ipm") want = ipm_update(benign, o.attack.ipm_eps);
    if (std::string(attack) == "minmax") want = minmax_update(benign);
    EXPECT_TRUE(torch::allclose(sent[0], want, 1e-5, 1e-6)) << attack;
    EXPECT_TRUE(torch::equal(sent[0], sent[1])) << attack;  // they collude
  }
}

}  // namespace
}  // namespace tdml::fl
