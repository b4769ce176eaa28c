// Differential privacy: clipping before noise, the noise's scale, adaptive clipping, local DP,
// and the RDP accountant against an independent numerical integration.
#include "tdml/fl/dp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tdml/data/synthetic.h"
#include "tdml/fl/runner.h"
#include "tdml/fl/server.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

// log A_alpha = log E_{z ~ N(0, s^2)} [((1-q) + q exp((2z - 1) / (2 s^2)))^alpha], by the
// trapezoid rule on a fine grid: the definition of the sampled Gaussian's Renyi divergence,
// computed without the series the accountant uses.
double dp_log_a_by_integration(double q, double s, double alpha) {
  const double lo = -30 * s, hi = alpha + 30 * s, dz = s / 2000;
  double log_pos = -std::numeric_limits<double>::infinity(), neg = 0;
  std::vector<double> logs;
  for (double z = lo; z <= hi; z += dz) {
    const double log_phi = -z * z / (2 * s * s) - std::log(s * std::sqrt(2 * M_PI));
    const double lg = std::log1p(q * std::expm1((2 * z - 1) / (2 * s * s)));
    const double t = alpha * lg;  // log g^alpha
    if (t > 0) {
      // phi (g^a - 1) in log space
      const double l = log_phi + t + std::log(-std::expm1(-t)) + std::log(dz);
      const double m = std::max(log_pos, l);
      log_pos = m == -std::numeric_limits<double>::infinity()
                    ? l
                    : m + std::log(std::exp(log_pos - m) + std::exp(l - m));
    } else {
      neg += std::exp(log_phi) * -std::expm1(t) * dz;
    }
  }
  if (log_pos > 30) return log_pos + std::log1p((1 - neg) * std::exp(-log_pos));
  return std::log1p(std::exp(log_pos) - neg);
}

TEST(FlDp, AccountantIsExactAtQOne) {
  for (double sigma : {0.5, 1.0, 3.0}) {
    for (double a : {1.25, 2.0, 7.5, 64.0}) {
      EXPECT_DOUBLE_EQ(rdp_sampled_gaussian(1.0, sigma, a), a / (2 * sigma * sigma));
    }
  }
  EXPECT_EQ(rdp_sampled_gaussian(0.0, 1.0, 2.0), 0.0);
}

TEST(FlDp, AccountantMatchesNumericalIntegration) {
  struct Case {
    double q, sigma;
  };
  for (const auto c : {Case{0.01, 1.0}, Case{0.1, 1.0}, Case{0.05, 1.5}, Case{0.5, 2.0},
                       Case{0.2, 4.0}}) {
    for (double a : {1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.5, 8.0, 16.0, 32.0}) {
      const double want = dp_log_a_by_integration(c.q, c.sigma, a) / (a - 1);
      const double got = rdp_sampled_gaussian(c.q, c.sigma, a);
      // 3 significant digits.
      EXPECT_NEAR(got, want, 5e-4 * std::fabs(want) + 1e-12)
          << "q " << c.q << " sigma " << c.sigma << " order " << a;
    }
  }
}

TEST(FlDp, EpsilonIsTheMinimumOverOrders) {
  // q = 1: eps = min_a T a / (2 s^2) + log(1/delta) / (a - 1), over the accountant's orders.
  const double s = 2.0, delta = 1e-5;
  const int T = 10;
  double best = 1e300, order = 0;
  for (double a : rdp_orders()) {
    const double e = T * a / (2 * s * s) + std::log(1 / delta) / (a - 1);
    if (e < best) {
      best = e;
      order = a;
    }
  }
  const auto p = privacy_spent(1.0, s, T, delta);
  EXPECT_DOUBLE_EQ(p.epsilon, best);
  EXPECT_EQ(p.order, order);
  EXPECT_EQ(rdp_orders().front(), 1.25);
  EXPECT_EQ(rdp_orders().back(), 256.0);
  // More rounds, less noise, a larger sampling rate: more epsilon.
  EXPECT_LT(privacy_spent(0.1, 1.0, 10, delta).epsilon, privacy_spent(0.1, 1.0, 20, delta).epsilon);
  EXPECT_LT(privacy_spent(0.1, 2.0, 10, delta).epsilon, privacy_spent(0.1, 1.0, 10, delta).epsilon);
  EXPECT_LT(privacy_spent(0.1, 1.0, 10, delta).epsilon, privacy_spent(0.5, 1.0, 10, delta).epsilon);
}

ServerOptions dp_server(double clip, double noise) {
  ServerOptions o;
  o.aggregator.rule = "mean";
  o.clip_norm = 0;
  o.detect = false;
  o.dp.clip = clip;
  o.dp.noise = noise;
  return o;
}

TEST(FlDp, ClippingComesBeforeNoiseAndTheNoiseIsSigmaC) {
  const int n = 4, d = 200000;
  const double C = 0.5, sigma = 2.0;
  std::vector<torch::Tensor> small, large;
  for (int i = 0; i < n; ++i) {
    auto dir = torch::randn({d});
    dir = dir / dir.norm();
    small.push_back(dir * 10);    // norm 10
    large.push_back(dir * 1000);  // norm 1000: the same after clipping to C
  }
  AggregationInputs in;
  in.seed = 42;
  in.sampled = 5;  // one sampled client did not answer: the denominator stays 5
  const auto quiet = RobustServer(dp_server(C, 0)).aggregate(small, {}, in);
  auto sum = torch::zeros({d});
  for (const auto& u : small) sum += u * (C / 10);
  EXPECT_TRUE(torch::allclose(quiet.update, sum / 5, 1e-5, 1e-7));
  const auto a = RobustServer(dp_server(C, sigma)).aggregate(small, {}, in);
  const auto b = RobustServer(dp_server(C, sigma)).aggregate(large, {}, in);
  // The raw norm does not reach the noise: clipping came first.
  EXPECT_TRUE(torch::allclose(a.update, b.update, 1e-4, 1e-6));
  auto noise = (a.update - quiet.update) * 5;
  EXPECT_NEAR(noise.std().item<double>(), sigma * C, 0.01 * sigma * C);
  EXPECT_NEAR(noise.mean().item<double>(), 0.0, 5 * sigma * C / std::sqrt(d));
  EXPECT_DOUBLE_EQ(a.dp.noise_std, sigma * C);
  EXPECT_EQ(a.clipped.size(), 4u);
}

TEST(FlDp, CentralDpNeedsTheMean) {
  auto o = dp_server(1.0, 1.0);
  o.aggregator.rule = "median";
  EXPECT_THROW(RobustServer{o}, tdml::UsageError);
  o.aggregator.rule = "mean";
  o.bucketing = 2;
  EXPECT_THROW(RobustServer{o}, tdml::UsageError);
  o.bucketing = 1;
  o.dp.local = true;
  o.aggregator.rule = "median";  // local DP: any rule
  EXPECT_NO_THROW(RobustServer{o});
}

TEST(FlDp, AdaptiveClippingFollowsTheTargetQuantile) {
  auto o = dp_server(1.0, 0);
  o.dp.adaptive = true;
  o.dp.count_noise = 0;
  std::vector<torch::Tensor> u(4, torch::full({10}, 10.0f));  // all above C
  AggregationInputs in;
  in.sampled = 4;
  auto r = RobustServer(o).aggregate(u, {}, in);
  EXPECT_DOUBLE_EQ(r.dp.unclipped_fraction, 0.0);
  EXPECT_NEAR(r.dp.next_clip, std::exp(0.2 * 0.5), 1e-12);  // C grows
  in.dp_clip = 1000;  // all below: C shrinks
  r = RobustServer(o).aggregate(u, {}, in);
  EXPECT_DOUBLE_EQ(r.dp.clip, 1000);
  EXPECT_NEAR(r.dp.next_clip, 1000 * std::exp(-0.2 * 0.5), 1e-9);
  // The update noise is raised so that the whole mechanism keeps multiplier sigma.
  EXPECT_NEAR(update_noise_multiplier(1.0, 1.0), 1 / std::sqrt(1 - 0.25), 1e-12);
  EXPECT_THROW(update_noise_multiplier(1.0, 0.4), tdml::UsageError);
}

TEST(FlDp, LocalDpClipsAndNoisesEachBenignUpdate) {
  auto u = torch::full({100000}, 1.0f);  // norm 316
  auto v = local_dp_update(u, 2.0, 0.0, 1);
  EXPECT_NEAR(v.norm().item<double>(), 2.0, 1e-4);
  auto w = local_dp_update(u, 2.0, 1.5, 1);
  EXPECT_NEAR((w - v).std().item<double>(), 3.0, 0.03);
}

TEST(FlDp, TheRunReportsEpsilonEveryRound) {
  auto train = data::make_synthetic(160, data::Split::kTrain);
  auto test = data::make_synthetic(50, data::Split::kTest);
  RunnerOptions o;
  o.model = "tinycnn";
  o.clients = 4;
  o.per_client = 40;
  o.rounds = 2;
  o.clients_per_round = 2;
  o.mode = "local";
  o.batch_size = 20;
  o.malicious = 0;
  o.server.aggregator.rule = "mean";
  o.server.dp.clip = 1.0;
  o.server.dp.noise = 1.0;
  o.limit_test_batches = 1;
  o.eval_batch_size = 50;
  auto r = run_federated(train, test, o);
  ASSERT_EQ(r.rounds.size(), 2u);
  for (int t = 0; t < 2; ++t) {
    const auto& p = r.rounds[t].privacy;
    EXPECT_TRUE(p.on);
    EXPECT_EQ(p.mode, "central");
    EXPECT_DOUBLE_EQ(p.q, 0.5);
    EXPECT_DOUBLE_EQ(p.epsilon, privacy_spent(0.5, 1.0, t + 1, 1e-5).epsilon);
  }
  EXPECT_LT(r.rounds[0].privacy.epsilon, r.rounds[1].privacy.epsilon);
  EXPECT_TRUE(r.rounds[1].to_json()["privacy"]["epsilon"].is_number());
}

}  // namespace
}  // namespace tdml::fl
