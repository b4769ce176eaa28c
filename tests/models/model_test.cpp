#include "tdml/models/model.h"

#include <gtest/gtest.h>

#include <set>

#include "tdml/models/state_dict.h"
#include "tdml/train/trainer.h"
#include "tdml/util/error.h"

using tdml::models::make_model;
using tdml::models::parameter_bytes;
using tdml::models::parameter_count;
using tdml::models::state_dict;

namespace {

const char* const kModels[] = {"tinycnn", "smallcifarcnn", "resnet50"};

std::vector<std::string> keys_of(const tdml::models::StateDict& sd) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  return keys;
}

}  // namespace

TEST(Models, ParameterCountsMatchPyTorch) {
  const std::pair<const char*, std::int64_t> expected[] = {
      {"tinycnn", 113866}, {"smallcifarcnn", 289194}, {"resnet50", 23528522}};
  for (const auto& [name, count] : expected) {
    auto m = make_model(name);
    EXPECT_EQ(parameter_count(*m), count) << name;
    EXPECT_EQ(parameter_bytes(*m), count * 4) << name;
    EXPECT_EQ(m->name(), name);
  }
}

TEST(Models, OutputIsBatchByClasses) {
  torch::manual_seed(0);
  auto x = torch::randn({3, 3, 32, 32});
  for (const char* name : kModels) {
    auto m = make_model(name);
    m->eval();
    torch::NoGradGuard no_grad;
    auto y = m->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 10})) << name;
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << name;
  }
  auto m = make_model("smallcifarcnn", 7);
  EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{3, 7}));
}

TEST(Models, UnknownNameIsUsageErrorListingChoices) {
  try {
    make_model("vgg16");
    FAIL() << "no exception";
  } catch (const tdml::UsageError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown model 'vgg16' (choose one of: tinycnn, smallcifarcnn, resnet50)");
  }
  EXPECT_THROW(make_model("tinycnn", 0), tdml::UsageError);
  ASSERT_EQ(tdml::models::list_models().size(), 3u);
  EXPECT_EQ(tdml::models::list_models()[2].name, "resnet50");
}

TEST(Models, TinyCnnStateDictKeys) {
  auto keys = keys_of(state_dict(*make_model("tinycnn")));
  EXPECT_EQ(keys,
            (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.2.weight",
                                      "features.2.bias", "features.5.weight", "features.5.bias",
                                      "classifier.weight", "classifier.bias"}));
}

TEST(Models, SmallCifarCnnStateDictKeys) {
  auto sd = state_dict(*make_model("smallcifarcnn"));
  ASSERT_EQ(sd.size(), 44u);  // 6 x (conv w,b + bn w,b,mean,var,count) + classifier w,b
  auto keys = keys_of(sd);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 8),
            (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.1.weight",
                                      "features.1.bias", "features.1.running_mean",
                                      "features.1.running_var", "features.1.num_batches_tracked",
                                      "features.3.weight"}));
  EXPECT_EQ(keys[35], "features.17.weight");
  EXPECT_EQ(keys[42], "classifier.weight");
  EXPECT_EQ(sd[6].second.scalar_type(), torch::kLong);
  EXPECT_EQ(sd[42].second.sizes(), (std::vector<int64_t>{10, 128}));
}

TEST(Models, ResNet50StateDictMatchesTorchvisionLayout) {
  auto m = make_model("resnet50");
  auto sd = state_dict(*m);
  ASSERT_EQ(sd.size(), 320u);
  auto keys = keys_of(sd);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 8),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                      "bn1.running_var", "bn1.num_batches_tracked",
                                      "layer1.0.conv1.weight", "layer1.0.bn1.weight"}));
  EXPECT_EQ(keys[318], "fc.weight");
  EXPECT_EQ(keys[319], "fc.bias");
  // The downsample branch follows bn3 of the first bottleneck, as in torchvision.
  auto ds = std::find(keys.begin(), keys.end(), "layer1.0.downsample.0.weight");
  ASSERT_NE(ds, keys.end());
  EXPECT_EQ(*(ds - 1), "layer1.0.bn3.num_batches_tracked");
  EXPECT_EQ(*(ds + 1), "layer1.0.downsample.1.weight");
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "layer2.1.downsample.0.weight"), 0);

  int counters = 0;
  for (const auto& [k, v] : sd) {
    if (k.size() > 19 && k.compare(k.size() - 19, 19, "num_batches_tracked") == 0) {
      ++counters;
      EXPECT_EQ(v.scalar_type(), torch::kLong) << k;
    }
  }
  EXPECT_EQ(counters, 53);
  EXPECT_EQ(m->parameters().size(), 161u);
  EXPECT_EQ(m->buffers().size(), 159u);
  // v1.5: the stride sits on the 3x3 conv2 (checked through shapes of the chain below).
  auto blocks = m->blocks();
  ASSERT_EQ(blocks.size(), 18u);  // stem, 3+4+6+3 bottlenecks, head
  EXPECT_EQ(blocks[4].name, "layer2.0");
  m->eval();
  torch::NoGradGuard no_grad;
  auto x = blocks[0].forward(torch::randn({1, 3, 32, 32}));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{1, 64, 8, 8}));
}

TEST(Models, ResNet50InitialisationIsTorchvisions) {
  torch::manual_seed(3);
  auto m = make_model("resnet50");
  for (const auto& [k, v] : state_dict(*m)) {
    if (k == "conv1.weight") {
      // kaiming_normal_(fan_out, relu): std = sqrt(2 / (64 * 7 * 7))
      EXPECT_NEAR(v.std().item<double>(), std::sqrt(2.0 / (64 * 49)), 0.002);
      EXPECT_NEAR(v.mean().item<double>(), 0.0, 0.002);
    }
    if (k.find("bn") != std::string::npos || k.find("downsample.1") != std::string::npos) {
      if (k.size() > 7 && k.compare(k.size() - 7, 7, ".weight") == 0) {
        EXPECT_TRUE(v.eq(1).all().item<bool>()) << k;
      }
      if (k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0) {
        EXPECT_TRUE(v.eq(0).all().item<bool>()) << k;
      }
    }
    if (k == "fc.weight") {  // Linear default: U(-1/sqrt(2048), 1/sqrt(2048))
      EXPECT_LE(v.abs().max().item<double>(), 1.0 / std::sqrt(2048.0));
      EXPECT_GT(v.abs().max().item<double>(), 0.9 / std::sqrt(2048.0));
    }
  }
}

TEST(Models, CnnDefaultInitIsPyTorchs) {
  torch::manual_seed(5);
  auto sd = state_dict(*make_model("tinycnn"));
  // Conv2d / Linear defaults: weight and bias uniform in +-1/sqrt(fan_in).
  const std::pair<std::size_t, double> fan_in[] = {{0, 27},  {1, 27},  {2, 576}, {3, 576},
                                                   {4, 576}, {5, 576}, {6, 128}, {7, 128}};
  for (const auto& [i, fan] : fan_in) {
    double bound = 1.0 / std::sqrt(fan);
    double max = sd[i].second.abs().max().item<double>();
    EXPECT_LE(max, bound) << sd[i].first;
    EXPECT_GT(max, 0.8 * bound) << sd[i].first;
  }
  torch::manual_seed(5);
  auto again = state_dict(*make_model("tinycnn"));
  for (std::size_t i = 0; i < sd.size(); ++i)
    EXPECT_TRUE(torch::equal(sd[i].second, again[i].second));
}

TEST(Models, BlocksInOrderEqualForward) {
  torch::manual_seed(1);
  auto x = torch::randn({2, 3, 32, 32});
  for (const char* name : kModels) {
    auto m = make_model(name);
    torch::NoGradGuard no_grad;
    for (bool train : {false, true}) {
      m->train(train);
      auto expected = m->forward(x);
      auto y = x;
      for (auto& b : m->blocks()) y = b.forward(y);
      EXPECT_TRUE(torch::equal(y, expected)) << name << (train ? " train" : " eval");
    }
  }
}

TEST(Models, EachTensorBelongsToExactlyOneBlock) {
  for (const char* name : kModels) {
    auto m = make_model(name);
    std::set<const void*> params, buffers;
    std::size_t n_params = 0, n_buffers = 0;
    for (const auto& b : m->blocks()) {
      for (const auto& p : b.parameters) params.insert(p.unsafeGetTensorImpl()), ++n_params;
      for (const auto& t : b.buffers) buffers.insert(t.unsafeGetTensorImpl()), ++n_buffers;
    }
    EXPECT_EQ(n_params, params.size()) << name << ": a parameter in two blocks";
    EXPECT_EQ(n_buffers, buffers.size()) << name << ": a buffer in two blocks";
    std::set<const void*> all_params, all_buffers;
    for (const auto& p : m->parameters()) all_params.insert(p.unsafeGetTensorImpl());
    for (const auto& t : m->buffers()) all_buffers.insert(t.unsafeGetTensorImpl());
    EXPECT_EQ(params, all_params) << name;
    EXPECT_EQ(buffers, all_buffers) << name;
  }
}

TEST(Models, CnnBlockNames) {
  std::vector<std::string> names;
  for (const auto& b : make_model("smallcifarcnn")->blocks()) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"features.0-2", "features.3-5", "features.6",
                                             "features.7-9", "features.10-12", "features.13",
                                             "features.14-16", "features.17-19", "head"}));
}

TEST(Models, ChannelsLastGivesTheSameGradientsAsContiguous) {
  // --channels-last changes the memory layout of conv weights and inputs, not the math: every
  // parameter's gradient matches the NCHW model's up to summation order. LibTorch's NHWC
  // BatchNorm backward reduces in another order: up to ~0.7% relative difference in the layers
  // before it (PyTorch 1.13 in Python gives the same figures for this model). A wrong layout
  // would differ by O(1). Conv biases feeding a BatchNorm have a gradient of exactly zero in
  // theory (~1e-7 in practice): their relative error is noise and is not compared.
  for (const std::string name : {"tinycnn", "smallcifarcnn"}) {
    torch::manual_seed(0);
    auto a = make_model(name, 10);
    torch::manual_seed(0);
    auto b = make_model(name, 10);
    tdml::train::to_channels_last(*b);
    auto x = torch::randn({20, 3, 32, 32});
    auto y = torch::randint(0, 10, {20});
    torch::nn::functional::cross_entropy(a->forward(x), y).backward();
    torch::nn::functional::cross_entropy(b->forward(x.contiguous(torch::MemoryFormat::ChannelsLast)), y)
        .backward();
    auto pa = a->parameters(), pb = b->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      auto ga = pa[i].grad(), gb = pb[i].grad();
      if (ga.norm().item<double>() < 1e-5) continue;
      EXPECT_LT(((ga - gb).norm() / ga.norm()).item<double>(), 2e-2)
          << name << " parameter " << i << " " << pa[i].sizes();
    }
  }
}
