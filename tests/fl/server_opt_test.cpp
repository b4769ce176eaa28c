// The server's optimisers (FedAvgM, FedAdam) and FedProx on the client.
#include "tdml/fl/server_opt.h"

#include <gtest/gtest.h>

#include "tdml/data/synthetic.h"
#include "tdml/fl/client.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

TEST(FlServerOpt, SgdAvgmAdamSteps) {
  auto d1 = torch::tensor({1.0f, -2.0f}), d2 = torch::tensor({0.5f, 0.5f});
  ServerOptimizer sgd({});
  EXPECT_TRUE(torch::allclose(sgd.step(d1, 0.5), d1 * 0.5));
  ServerOptOptions m;
  m.name = "avgm";
  m.momentum = 0.9;
  ServerOptimizer avgm(m);
  EXPECT_TRUE(torch::allclose(avgm.step(d1, 1.0), d1));
  EXPECT_TRUE(torch::allclose(avgm.step(d2, 1.0), d1 * 0.9 + d2));
  ServerOptOptions a;
  a.name = "adam";
  ServerOptimizer adam(a);
  // m = 0.1 d, v = 0.01 d^2: step = lr 0.1 d / (0.1 |d| + tau).
  auto s1 = adam.step(d1, 0.01);
  EXPECT_TRUE(torch::allclose(s1, 0.01 * 0.1 * d1 / (0.1 * d1.abs() + 1e-3)));
  auto m2 = 0.9 * 0.1 * d1 + 0.1 * d2;
  auto v2 = 0.99 * 0.01 * d1.square() + 0.01 * d2.square();
  EXPECT_TRUE(torch::allclose(adam.step(d2, 0.01), 0.01 * m2 / (v2.sqrt() + 1e-3)));
  // Its state restores: a fresh optimiser loaded with it takes the same next step.
  ServerOptimizer again(a);
  again.load_state(adam.state());
  EXPECT_TRUE(torch::equal(again.step(d1, 0.01), adam.step(d1, 0.01)));
  ServerOptOptions bad;
  bad.name = "rmsprop";
  EXPECT_THROW(ServerOptimizer{bad}, tdml::UsageError);
}

TEST(FlServerOpt, FedProxPullsTheLocalModelTowardsTheGlobal) {
  auto train = data::make_synthetic(120, data::Split::kTrain);
  RunnerOptions o;
  o.model = "tinycnn";
  o.clients = 2;
  o.per_client = 60;
  o.mode = "local";
  o.local_epochs = 2;
  o.batch_size = 20;
  o.malicious = 0;
  o.augment = false;
  ClientPool free(train, o);
  RoundContext ctx{1, free.params().flatten(), free.buffers().flatten(), ""};
  const double plain = free.run(0, ctx).update.norm().item<double>();
  o.prox_mu = 5.0;
  ClientPool prox(train, o);
  const double pulled = prox.run(0, ctx).update.norm().item<double>();
  EXPECT_LT(pulled, plain * 0.9);
  o.mode = "gradient";
  EXPECT_THROW(o.validate(), tdml::UsageError);  // FedProx has no effect on a gradient
}

}  // namespace
}  // namespace tdml::fl
