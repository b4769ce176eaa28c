#include "tdml/fl/update.h"

#include <gtest/gtest.h>

#include "tdml/util/error.h"

using namespace tdml::fl;

namespace {

struct TinyNet : torch::nn::Module {
  TinyNet() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    bn = register_module("bn", torch::nn::BatchNorm1d(2));
  }
  torch::Tensor forward(torch::Tensor x) { return bn(fc(x)); }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

}  // namespace

TEST(FlUpdate, FlattenAssignAndAddParameters) {
  TinyNet net;
  auto params = FlatLayout::parameters(net);
  EXPECT_EQ(params.numel(), 6 + 2 + 2 + 2);
  auto flat = params.flatten();
  EXPECT_TRUE(torch::equal(flat.slice(0, 0, 6), net.fc->weight.detach().reshape({-1})));
  params.assign(torch::arange(12, torch::kFloat));
  EXPECT_EQ(net.fc->bias[1].item<float>(), 7.0f);
  params.add(torch::ones({12}), -0.5);  // a server step with lr 0.5
  EXPECT_EQ(net.bn->weight[0].item<float>(), 7.5f);
  EXPECT_THROW(params.assign(torch::zeros({11})), tdml::Error);
}

TEST(FlUpdate, FloatBuffersAreBatchNormStatisticsOnly) {
  TinyNet net;
  auto buffers = FlatLayout::float_buffers(net);
  EXPECT_EQ(buffers.numel(), 4);  // running_mean, running_var; num_batches_tracked skipped
  auto before = buffers.flatten();
  net.train();
  net.forward(torch::randn({8, 3}));
  auto delta = buffers.flatten() - before;
  EXPECT_GT(delta.abs().sum().item<float>(), 0.0f);
  buffers.assign(before);
  EXPECT_TRUE(torch::equal(buffers.flatten(), before));
}

TEST(FlUpdate, GradientsFlattenWithZerosWhereMissing) {
  TinyNet net;
  auto params = FlatLayout::parameters(net);
  EXPECT_EQ(params.flatten_grads().abs().sum().item<float>(), 0.0f);
  net.forward(torch::randn({4, 3})).sum().backward();
  auto g = params.flatten_grads();
  EXPECT_EQ(g.numel(), 12);
  EXPECT_TRUE(torch::equal(g.slice(0, 6, 8), net.fc->bias.grad()));
}
