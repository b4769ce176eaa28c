// The reducer against the arithmetic it promises: 2 ranks on half batches end up exactly where
// one process on the whole batch does.
#include "tdml/dist/ddp.h"

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(bool with_unused = false) {
    fc1 = register_module("fc1", torch::nn::Linear(8, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 4));
    if (with_unused) unused = register_module("unused", torch::nn::Linear(4, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, unused{nullptr};
};
TORCH_MODULE(Mlp);

Mlp make_mlp(std::uint64_t seed, bool with_unused = false) {
  torch::manual_seed(seed);
  return Mlp(with_unused);
}

torch::Tensor loss_of(Mlp& m, const torch::Tensor& x, const torch::Tensor& y) {
  return torch::mse_loss(m->forward(x), y);
}

// Batches for K steps, 2B samples each, deterministic.
struct Data {
  std::vector<torch::Tensor> x, y;
};
Data make_data(int steps, int batch) {
  torch::manual_seed(7);
  Data d;
  for (int s = 0; s < steps; ++s) {
    d.x.push_back(torch::randn({batch, 8}));
    d.y.push_back(torch::randn({batch, 4}));
  }
  return d;
}

TEST(Ddp, TwoRanksOnHalfBatchesMatchOneProcessOnTheWholeBatch) {
  TDML_REQUIRE_GLOO();
  const int steps = 4, world = 2, per_rank = 6;
  auto data = make_data(steps, world * per_rank);
  // Reference: one process, concatenated batch.
  auto ref = make_mlp(1);
  torch::optim::SGD ref_opt(ref->parameters(), torch::optim::SGDOptions(0.1));
  for (int s = 0; s < steps; ++s) {
    ref_opt.zero_grad();
    loss_of(ref, data.x[s], data.y[s]).backward();
    ref_opt.step();
  }
  // Rank 1 starts from other weights: the reducer's broadcast must align it with rank 0.
  std::vector<Mlp> models{make_mlp(1), make_mlp(2)};
  std::vector<StepStats> stats(world);
  run_local_ranks(world, [&](Comm& comm) {
    auto& m = models[comm.rank()];
    GradientReducer reducer(comm.shared_from_this(), *m, DdpOptions{});
    torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
    for (int s = 0; s < steps; ++s) {
      opt.zero_grad();
      reducer.broadcast_buffers();
      auto x = data.x[s].narrow(0, comm.rank() * per_rank, per_rank);
      auto y = data.y[s].narrow(0, comm.rank() * per_rank, per_rank);
      loss_of(m, x, y).backward();
      reducer.finalize();
      opt.step();
    }
    stats[comm.rank()] = reducer.last_step_stats();
  });
  auto ref_params = ref->named_parameters();
  for (int r = 0; r < world; ++r) {
    for (const auto& p : models[r]->named_parameters()) {
      EXPECT_LT((p.value() - ref_params[p.key()]).abs().max().item<double>(), 1e-6)
          << "rank " << r << " " << p.key();
    }
    EXPECT_TRUE(stats[r].synced);
    EXPECT_EQ(stats[r].buckets, 1);  // 388 floats fit the first 1 MiB bucket
    EXPECT_EQ(stats[r].bytes_reduced, (8 * 16 + 16 + 16 * 4 + 4) * 4);
  }
}

TEST(Ddp, SmallBucketsLaunchInReverseOrderAndOverlapBackward) {
  TDML_REQUIRE_GLOO();
  auto models = std::vector<Mlp>{make_mlp(1), make_mlp(1)};
  auto data = make_data(1, 8);
  std::vector<StepStats> stats(2);
  std::vector<std::vector<std::vector<std::string>>> layout(2);
  run_local_ranks(2, [&](Comm& comm) {
    auto& m = models[comm.rank()];
    DdpOptions o;
    o.first_bucket_mb = 16.0 / (1 << 20);  // 16 bytes: every parameter closes its own bucket
    o.bucket_cap_mb = 16.0 / (1 << 20);
    GradientReducer reducer(comm.shared_from_this(), *m, o);
    layout[comm.rank()] = reducer.bucket_layout();
    loss_of(m, data.x[0].narrow(0, comm.rank() * 4, 4), data.y[0].narrow(0, comm.rank() * 4, 4))
        .backward();
    reducer.finalize();
    stats[comm.rank()] = reducer.last_step_stats();
  });
  using V = std::vector<std::string>;
  const std::vector<V> expected{V{"fc2.bias"}, V{"fc2.weight"}, V{"fc1.bias"}, V{"fc1.weight"}};
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(layout[r], expected);
    ASSERT_EQ(stats[r].buckets, 4);
    EXPECT_TRUE(stats[r].per_bucket.front().launched_during_backward);
    EXPECT_FALSE(stats[r].per_bucket.back().launched_during_backward);
    EXPECT_EQ(stats[r].buckets_overlapped, 3);
    EXPECT_GT(stats[r].comm_s, 0.0);
    EXPECT_GE(stats[r].exposed_s, 0.0);
  }
  EXPECT_LT(
      (models[0]->fc1->weight.grad() - models[1]->fc1->weight.grad()).abs().max().item<double>(),
      1e-7);
}

TEST(Ddp, NoSyncAccumulatesLocallyThenAveragesTheSum) {
  TDML_REQUIRE_GLOO();
  const int world = 2, micro = 2, b = 4;
  auto data = make_data(world * micro, b);  // data.x[r * micro + m]
  auto ref = make_mlp(3);
  for (int r = 0; r < world; ++r) {
    for (int m = 0; m < micro; ++m)
      loss_of(ref, data.x[r * micro + m], data.y[r * micro + m]).backward();
  }
  std::vector<Mlp> models{make_mlp(3), make_mlp(3)};
  std::vector<torch::Tensor> local_after_no_sync(world);
  std::vector<StepStats> no_sync_stats(world);
  run_local_ranks(world, [&](Comm& comm) {
    const int r = comm.rank();
    auto& m = models[r];
    GradientReducer reducer(comm.shared_from_this(), *m);
    {
      NoSyncGuard guard(reducer);
      loss_of(m, data.x[r * micro], data.y[r * micro]).backward();
      reducer.finalize();
    }
    no_sync_stats[r] = reducer.last_step_stats();
    local_after_no_sync[r] = m->fc1->weight.grad().clone();
    loss_of(m, data.x[r * micro + 1], data.y[r * micro + 1]).backward();
    reducer.finalize();
  });
  for (int r = 0; r < world; ++r) {
    EXPECT_FALSE(no_sync_stats[r].synced);
    EXPECT_EQ(no_sync_stats[r].bytes_reduced, 0);
  }
  // No communication during the no-sync step: the ranks' gradients still differ.
  EXPECT_GT((local_after_no_sync[0] - local_after_no_sync[1]).abs().max().item<double>(), 1e-4);
  for (int r = 0; r < world; ++r) {
    for (const auto& p : models[r]->named_parameters()) {
      auto expected = ref->named_parameters()[p.key()].grad() / world;
      EXPECT_LT((p.value().grad() - expected).abs().max().item<double>(), 1e-6) << p.key();
    }
  }
}

TEST(Ddp, UnusedParameterIsReportedByNameInsteadOfHanging) {
  TDML_REQUIRE_GLOO();
  std::vector<Mlp> models{make_mlp(1, true), make_mlp(1, true)};
  auto data = make_data(1, 4);
  std::vector<std::string> errors(2);
  run_local_ranks(2, [&](Comm& comm) {
    auto& m = models[comm.rank()];
    GradientReducer reducer(comm.shared_from_this(), *m);
    loss_of(m, data.x[0], data.y[0]).backward();
    try {
      reducer.finalize();
    } catch (const Error& e) {
      errors[comm.rank()] = e.what();
    }
    // The reducer is usable afterwards.
    loss_of(m, data.x[0], data.y[0]).backward();
    EXPECT_THROW(reducer.finalize(), Error);
  });
  for (const auto& e : errors) {
    EXPECT_NE(e.find("unused.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("unused.bias"), std::string::npos) << e;
    EXPECT_EQ(e.find("fc1"), std::string::npos) << e;
  }
}

TEST(Ddp, FindUnusedParametersTreatsMissingGradientsAsZero) {
  TDML_REQUIRE_GLOO();
  std::vector<Mlp> models{make_mlp(1, true), make_mlp(1, true)};
  auto data = make_data(1, 4);
  std::vector<StepStats> stats(2);
  run_local_ranks(2, [&](Comm& comm) {
    auto& m = models[comm.rank()];
    DdpOptions o;
    o.find_unused_parameters = true;
    GradientReducer reducer(comm.shared_from_this(), *m, o);
    loss_of(m, data.x[0], data.y[0]).backward();
    reducer.finalize();
    stats[comm.rank()] = reducer.last_step_stats();
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(stats[r].unused_params, (std::vector<std::string>{"unused.weight", "unused.bias"}));
    EXPECT_EQ(models[r]->unused->weight.grad().abs().sum().item<double>(), 0.0);
    EXPECT_GT(models[r]->fc1->weight.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(Ddp, BroadcastBuffersCopiesRankZerosBatchNormStatistics) {
  TDML_REQUIRE_GLOO();
  std::vector<torch::nn::BatchNorm1d> bns{torch::nn::BatchNorm1d(3), torch::nn::BatchNorm1d(3)};
  torch::manual_seed(5);
  auto x0 = torch::randn({8, 3}) + 2.0;
  auto x1 = torch::randn({8, 3}) - 2.0;
  run_local_ranks(2, [&](Comm& comm) {
    auto& bn = bns[comm.rank()];
    GradientReducer reducer(comm.shared_from_this(), *bn);
    bn->forward(comm.rank() == 0 ? x0 : x1).sum().backward();
    reducer.finalize();
    reducer.broadcast_buffers();
  });
  EXPECT_TRUE(torch::equal(bns[0]->running_mean, bns[1]->running_mean));
  EXPECT_GT(bns[1]->running_mean.mean().item<double>(), 0.1);  // rank 0's positive statistics
  EXPECT_EQ(bns[1]->num_batches_tracked.item<std::int64_t>(), 1);
}

}  // namespace
}  // namespace tdml::dist
