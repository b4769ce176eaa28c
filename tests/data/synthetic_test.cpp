#include "tdml/data/synthetic.h"

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "tdml/data/cifar10.h"
#include "tdml/data/source.h"
#include "tdml/data/transforms.h"
#include "tdml/util/fs.h"

namespace tdml::data {
namespace {

TEST(Synthetic, SameSeedSameBytesOtherSeedOtherBytes) {
  SynthOptions o;
  o.seed = 5;
  Dataset a = make_synthetic(300, Split::kTrain, o);
  Dataset b = make_synthetic(300, Split::kTrain, o);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  o.seed = 6;
  EXPECT_FALSE(torch::equal(a.images, make_synthetic(300, Split::kTrain, o).images));
  o.seed = 5;
  EXPECT_FALSE(
      torch::equal(a.images.narrow(0, 0, 100), make_synthetic(100, Split::kTest, o).images));
}

TEST(Synthetic, ShapesAndBalancedClasses) {
  Dataset d = make_synthetic(1000, Split::kTrain);
  EXPECT_EQ(d.images.sizes(), (std::vector<std::int64_t>{1000, 3, 32, 32}));
  EXPECT_EQ(d.images.scalar_type(), torch::kUInt8);
  auto counts = torch::bincount(d.labels, {}, 10);
  EXPECT_EQ(counts.min().item<int>(), 100);
  EXPECT_EQ(counts.max().item<int>(), 100);
  // Not a constant image: the pixels spread over most of the byte range.
  EXPECT_GT(d.images.to(torch::kFloat).std().item<float>(), 20.0f);
}

TEST(Synthetic, FilesAreIdenticalForTheSameSeed) {
  test::TempDir a, b;
  SynthOptions o;
  o.train_size = 23;
  o.test_size = 7;
  write_synthetic_cifar10(a.path(), o);
  write_synthetic_cifar10(b.path(), o);
  for (const char* f : {"data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"}) {
    const std::string rel = std::string("cifar-10-batches-bin/") + f;
    EXPECT_EQ(util::read_file(a / rel), util::read_file(b / rel)) << f;
  }
  // 23 records over 5 files: 5,5,5,4,4.
  EXPECT_EQ(read_cifar10_bin(a / "cifar-10-batches-bin/data_batch_1.bin").size(), 5);
  EXPECT_EQ(read_cifar10_bin(a / "cifar-10-batches-bin/data_batch_5.bin").size(), 4);
  DataSplits s = load_data(a.path());
  EXPECT_EQ(s.train.size(), 23);
  EXPECT_FALSE(s.synthetic);
}

TEST(Synthetic, ClassesAreLearnableBySmallCnn) {
  torch::manual_seed(0);
  SynthOptions o;
  Dataset train = make_synthetic(2000, Split::kTrain, o);
  Dataset test = make_synthetic(500, Split::kTest, o);
  torch::nn::Sequential net(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).stride(2).padding(1)), torch::nn::ReLU(),
      torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1)), torch::nn::ReLU(),
      torch::nn::AdaptiveAvgPool2d(2), torch::nn::Flatten(), torch::nn::Linear(64, 10));
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(3e-3));
  auto x = normalize(train.images);
  for (int step = 0; step < 200; ++step) {
    auto idx = torch::randint(0, 2000, {64}, torch::kInt64);
    auto loss = torch::nn::functional::cross_entropy(net->forward(x.index_select(0, idx)),
                                                     train.labels.index_select(0, idx));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  torch::NoGradGuard ng;
  auto pred = net->forward(normalize(test.images)).argmax(1);
  double acc = pred.eq(test.labels).to(torch::kFloat).mean().item<double>();
  EXPECT_GT(acc, 0.5) << "chance is 0.1";
}

TEST(Synthetic, SourceSpecSynthetic) {
  SynthOptions o;
  o.train_size = 30;
  o.test_size = 10;
  o.seed = 3;
  DataSplits s = load_data("synthetic", o);
  EXPECT_TRUE(s.synthetic);
  EXPECT_EQ(s.train.size(), 30);
  EXPECT_EQ(s.test.size(), 10);
  EXPECT_NE(s.description.find("synthetic (seed 3"), std::string::npos) << s.description;
}

}  // namespace
}  // namespace tdml::data

namespace tdml::data {
namespace {

TEST(Source, AutoPrefersTdmlDataEnvironment) {
  test::TempDir t;
  SynthOptions o;
  o.train_size = 12;
  o.test_size = 4;
  const std::string batches = write_synthetic_cifar10(t.path(), o);
  ::setenv("TDML_DATA", t.path().c_str(), 1);
  DataSplits s = load_data("auto");
  ::unsetenv("TDML_DATA");
  EXPECT_FALSE(s.synthetic);
  EXPECT_EQ(s.train.size(), 12);
  EXPECT_EQ(s.description, "CIFAR-10 from " + batches);
}

}  // namespace
}  // namespace tdml::data
