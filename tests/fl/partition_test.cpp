#include "tdml/fl/partition.h"

#include <gtest/gtest.h>

#include <set>

#include "tdml/util/error.h"

using namespace tdml::fl;

namespace {

// Balanced labels: n rows, class = row % classes.
torch::Tensor balanced_labels(std::int64_t n, int classes) {
  return torch::arange(n, torch::kInt64).remainder(classes);
}

std::set<std::int64_t> as_set(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::set<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
}

}  // namespace

TEST(FlPartition, IidStudyShardsAreDisjointAndSized) {
  auto part = iid_partition(50000, 6, 6000, 123);
  ASSERT_EQ(part.size(), 6u);
  std::set<std::int64_t> seen;
  for (const auto& p : part) {
    EXPECT_EQ(p.numel(), 6000);
    for (auto v : as_set(p)) {
      EXPECT_TRUE(v >= 0 && v < 50000);
      EXPECT_TRUE(seen.insert(v).second) << "row " << v << " given twice";
    }
  }
  EXPECT_EQ(seen.size(), 36000u);
}

TEST(FlPartition, IidMatchesPythonRandpermSeed123) {
  // torch.randperm(50000, generator=torch.Generator().manual_seed(123))[:6] in PyTorch 1.13.
  auto part = iid_partition(50000, 6, 6000, 123);
  std::vector<std::int64_t> expect = {12382, 31033, 8264, 29034, 47532, 24607};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(part[0][i].item<std::int64_t>(), expect[i]);
  // Same seed, same partition; another seed, another one.
  EXPECT_TRUE(torch::equal(iid_partition(50000, 6, 6000, 123)[3], part[3]));
  EXPECT_FALSE(torch::equal(iid_partition(50000, 6, 6000, 124)[3], part[3]));
}

TEST(FlPartition, IidDefaultPerClientAndErrors) {
  auto part = iid_partition(100, 3, 0, 1);
  for (const auto& p : part) EXPECT_EQ(p.numel(), 33);
  EXPECT_THROW(iid_partition(100, 6, 20, 1), tdml::UsageError);
  EXPECT_THROW(iid_partition(100, 0, 10, 1), tdml::UsageError);
}

TEST(FlPartition, DirichletCoversEveryRowOnce) {
  auto labels = balanced_labels(5000, 10);
  DirichletOptions o;
  o.alpha = 0.5;
  o.seed = 7;
  auto part = dirichlet_partition(labels, 8, 10, o);
  ASSERT_EQ(part.size(), 8u);
  std::set<std::int64_t> seen;
  for (const auto& p : part) {
    EXPECT_GE(p.numel(), o.min_size);
    for (auto v : as_set(p)) EXPECT_TRUE(seen.insert(v).second);
  }
  EXPECT_EQ(seen.size(), 5000u);
  auto hist = class_histogram(labels, part, 10);
  EXPECT_TRUE(torch::equal(hist.sum(0), torch::full({10}, 500, torch::kInt64)));
  // Deterministic.
  auto again = dirichlet_partition(labels, 8, 10, o);
  for (int k = 0; k < 8; ++k) EXPECT_TRUE(torch::equal(again[k], part[k]));
}

TEST(FlPartition, DirichletSkewFollowsAlpha) {
  auto labels = balanced_labels(10000, 10);
  auto entropy_at = [&](double alpha) {
    DirichletOptions o;
    o.alpha = alpha;
    o.seed = 11;
    o.min_size = 1;
    auto part = dirichlet_partition(labels, 10, 10, o);
    return mean_normalized_label_entropy(class_histogram(labels, part, 10));
  };
  const double skewed = entropy_at(0.05), mid = entropy_at(1.0), flat = entropy_at(1000.0);
  EXPECT_LT(skewed, 0.45) << "alpha 0.05: clients should hold few classes";
  EXPECT_GT(flat, 0.98) << "alpha 1000: clients should be near uniform";
  EXPECT_LT(skewed, mid);
  EXPECT_LT(mid, flat);
}

TEST(FlPartition, DirichletRejectsBadArguments) {
  auto labels = balanced_labels(100, 10);
  DirichletOptions o;
  o.alpha = 0;
  EXPECT_THROW(dirichlet_partition(labels, 4, 10, o), tdml::UsageError);
  o.alpha = 1;
  EXPECT_THROW(dirichlet_partition(labels, 4, 5, o), tdml::UsageError);  // label 9 >= 5
  o.min_size = 50;
  EXPECT_THROW(dirichlet_partition(labels, 4, 10, o), tdml::UsageError);
}

TEST(FlPartition, DirichletOnASeededSubset) {
  auto labels = torch::arange(2000, torch::kInt64) % 10;
  tdml::fl::PartitionSpec spec;
  spec.kind = "dirichlet";
  spec.clients = 5;
  spec.alpha = 0.5;
  spec.seed = 3;
  spec.dirichlet_rows = 600;
  auto part = tdml::fl::partition_rows(labels, 10, spec);
  std::int64_t total = 0;
  std::set<std::int64_t> seen;
  for (const auto& p : part) {
    total += p.numel();
    for (std::int64_t i = 0; i < p.numel(); ++i) seen.insert(p[i].item<std::int64_t>());
  }
  EXPECT_EQ(total, 600);
  EXPECT_EQ(seen.size(), 600u);  // disjoint
  EXPECT_LT(*seen.rbegin(), 2000);
  // Deterministic, and the whole set when dirichlet_rows is 0.
  auto again = tdml::fl::partition_rows(labels, 10, spec);
  for (int k = 0; k < 5; ++k) EXPECT_TRUE(torch::equal(again[k], part[k]));
  spec.dirichlet_rows = 0;
  std::int64_t all = 0;
  for (const auto& p : tdml::fl::partition_rows(labels, 10, spec)) all += p.numel();
  EXPECT_EQ(all, 2000);
}
