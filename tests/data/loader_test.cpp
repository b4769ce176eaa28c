#include "tdml/data/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tdml/data/synthetic.h"
#include "tdml/data/transforms.h"
#include "tdml/util/error.h"

namespace tdml::data {
namespace {

std::vector<std::int64_t> vec(const torch::Tensor& t) {
  auto c = t.contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

LoaderOptions sharded(int rank, int world, bool drop_last = false) {
  LoaderOptions o;
  o.seed = 42;
  o.rank = rank;
  o.world = world;
  o.drop_last = drop_last;
  return o;
}

TEST(Sharding, EveryIndexExactlyOncePerEpochWhenDivisible) {
  for (int epoch : {0, 1}) {
    std::multiset<std::int64_t> seen;
    for (int r = 0; r < 4; ++r) {
      auto idx = vec(shard_indices(40, sharded(r, 4), epoch));
      EXPECT_EQ(idx.size(), 10u);
      seen.insert(idx.begin(), idx.end());
    }
    ASSERT_EQ(seen.size(), 40u);
    for (std::int64_t i = 0; i < 40; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  }
}

TEST(Sharding, MatchesDistributedSamplerRule) {
  // DistributedSampler: randperm from a generator seeded with seed + epoch, then rank::world.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42 + 3);
  auto perm = vec(torch::randperm(40, gen, torch::kInt64));
  auto idx = vec(shard_indices(40, sharded(1, 4), 3));
  for (std::size_t k = 0; k < idx.size(); ++k) EXPECT_EQ(idx[k], perm[1 + 4 * k]);
}

TEST(Sharding, PadsByRepeatingTheHeadWhenNotDivisible) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  auto perm = vec(torch::randperm(10, gen, torch::kInt64));
  perm.push_back(perm[0]);
  perm.push_back(perm[1]);  // 10 -> 12 = 3 per rank x 4 ranks
  for (int r = 0; r < 4; ++r) {
    auto idx = vec(shard_indices(10, sharded(r, 4), 0));
    ASSERT_EQ(idx.size(), 3u);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(idx[k], perm[r + 4 * k]);
  }
}

TEST(Sharding, PadsRepeatedlyWhenWorldExceedsData) {
  LoaderOptions o = sharded(0, 5);
  o.shuffle = false;
  std::vector<std::int64_t> all;
  for (int r = 0; r < 5; ++r) {
    o.rank = r;
    auto idx = vec(shard_indices(2, o, 0));
    ASSERT_EQ(idx.size(), 1u);
    all.push_back(idx[0]);
  }
  EXPECT_EQ(all, (std::vector<std::int64_t>{0, 1, 0, 1, 0}));
}

TEST(Sharding, DropLastCutsTheTail) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  auto perm = vec(torch::randperm(10, gen, torch::kInt64));
  std::set<std::int64_t> seen;
  for (int r = 0; r < 4; ++r) {
    auto idx = vec(shard_indices(10, sharded(r, 4, true), 0));
    ASSERT_EQ(idx.size(), 2u);
    for (int k = 0; k < 2; ++k) EXPECT_EQ(idx[k], perm[r + 4 * k]);
    seen.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(Sharding, ReshufflesBetweenEpochsAndRepeatsWithinOne) {
  auto a = shard_indices(100, sharded(0, 1), 0);
  auto b = shard_indices(100, sharded(0, 1), 1);
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(a, shard_indices(100, sharded(0, 1), 0)));
  LoaderOptions fixed = sharded(0, 1);
  fixed.shuffle = false;
  EXPECT_TRUE(torch::equal(shard_indices(5, fixed, 7), torch::arange(5, torch::kInt64)));
}

class LoaderTest : public ::testing::Test {
 protected:
  Dataset data_ = make_synthetic(50, Split::kTrain);
};

std::vector<Batch> epoch(Loader& l, int e) {
  l.start_epoch(e);
  std::vector<Batch> out;
  while (auto b = l.next()) out.push_back(*b);
  return out;
}

TEST_F(LoaderTest, BatchesHoldTheIndexedRowsNormalised) {
  LoaderOptions o;
  o.batch_size = 16;
  Loader l(data_, o);
  auto batches = epoch(l, 0);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches.back().images.size(0), 2);
  std::set<std::int64_t> seen;
  for (const auto& b : batches) {
    EXPECT_TRUE(torch::equal(b.labels, data_.labels.index_select(0, b.index)));
    EXPECT_TRUE(torch::allclose(b.images, normalize(data_.images.index_select(0, b.index))));
    for (auto i : vec(b.index)) seen.insert(i);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(l.num_batches(), 4);
  EXPECT_EQ(l.num_samples(), 50);
}

TEST_F(LoaderTest, SameBatchesRegardlessOfWorkerCount) {
  auto run = [&](int workers, int prefetch) {
    LoaderOptions o;
    o.batch_size = 8;
    o.augment = true;
    o.seed = 9;
    o.workers = workers;
    o.prefetch = prefetch;
    Loader l(data_, o);
    auto e0 = epoch(l, 0);
    auto e1 = epoch(l, 1);
    e0.insert(e0.end(), e1.begin(), e1.end());
    return e0;
  };
  auto ref = run(1, 0);
  ASSERT_EQ(ref.size(), 14u);
  for (auto [w, p] : {std::pair{1, 1}, std::pair{3, 2}, std::pair{4, 8}}) {
    auto got = run(w, p);
    ASSERT_EQ(got.size(), ref.size());
    for (std::size_t k = 0; k < ref.size(); ++k) {
      EXPECT_TRUE(torch::equal(got[k].index, ref[k].index)) << w << " workers, batch " << k;
      EXPECT_TRUE(torch::equal(got[k].images, ref[k].images)) << w << " workers, batch " << k;
    }
  }
  // Augmentation is on: the images differ from the plain normalised rows.
  EXPECT_FALSE(torch::equal(ref[0].images, normalize(data_.images.index_select(0, ref[0].index))));
  // And a new epoch draws new crops for the same rows.
  EXPECT_FALSE(torch::equal(ref[0].index, ref[7].index));
}

TEST_F(LoaderTest, DropLastAndLimitBatches) {
  LoaderOptions o;
  o.batch_size = 16;
  o.drop_last = true;
  Loader l(data_, o);
  auto batches = epoch(l, 0);
  EXPECT_EQ(batches.size(), 3u);
  for (const auto& b : batches) EXPECT_EQ(b.images.size(0), 16);
  EXPECT_EQ(l.num_samples(), 48);

  o.drop_last = false;
  o.limit_batches = 2;
  Loader limited(data_, o);
  EXPECT_EQ(limited.num_batches(), 2);
  EXPECT_EQ(epoch(limited, 0).size(), 2u);
  EXPECT_EQ(limited.num_samples(), 32);
}

TEST_F(LoaderTest, ShardedLoadersSplitTheData) {
  std::multiset<std::int64_t> seen;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o = sharded(r, 2);
    o.batch_size = 10;
    Loader l(data_, o);
    EXPECT_EQ(l.num_samples(), 25);
    for (const auto& b : epoch(l, 0)) {
      for (auto i : vec(b.index)) seen.insert(i);
    }
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()).size(), 50u);
}

TEST_F(LoaderTest, ChannelsLastOption) {
  LoaderOptions o;
  o.batch_size = 8;
  o.channels_last = true;
  Loader l(data_, o);
  auto b = l.next();
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->images.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(b->images, normalize(data_.images.index_select(0, b->index))));
}

TEST_F(LoaderTest, LabelsOnlyGivesTheSameLabelsAndRowsWithoutImages) {
  // A pipeline stage after the first: the same batches (rows, labels, order) as the full
  // loader, but no image is read, augmented or normalised.
  LoaderOptions o;
  o.batch_size = 16;
  o.augment = true;
  o.seed = 5;
  Loader full(data_, o);
  o.labels_only = true;
  Loader lean(data_, o);
  for (int e : {0, 1}) {
    auto a = epoch(full, e), b = epoch(lean, e);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(a[i].images.defined());
      EXPECT_FALSE(b[i].images.defined());
      EXPECT_TRUE(torch::equal(a[i].index, b[i].index)) << "epoch " << e << " batch " << i;
      EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels));
    }
  }
}

#ifdef __linux__
std::size_t threads_in_process() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The workers assemble batches with plain loops. An ATen parallel op on a worker thread would
// start an OpenMP team of its own (one more thread), and with more OpenMP threads than cores
// libgomp stops spin-waiting: the training thread's team then sleeps and wakes through the
// kernel on every parallel region.
TEST_F(LoaderTest, WorkerThreadsStartNoThreadTeamOfTheirOwn) {
  const int saved = at::get_num_threads();
  at::set_num_threads(2);
  torch::ones({1 << 22}).mul_(2);  // the calling thread's team of 2 now exists
  const std::size_t base = threads_in_process();
  Dataset big = make_synthetic(512, Split::kTrain);
  LoaderOptions o;
  o.batch_size = 64;  // big enough for ATen's kernels to go parallel
  o.augment = true;
  o.prefetch = 2;
  o.workers = 1;
  o.channels_last = true;
  Loader l(big, o);
  l.start_epoch(1);
  ASSERT_TRUE(l.next());  // the worker has made batches and waits: it is alive
  EXPECT_EQ(threads_in_process(), base + 1) << "the loader started more than its worker thread";
  at::set_num_threads(saved);
}
#endif

TEST_F(LoaderTest, DestroyedMidEpochShutsDownWorkers) {
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 4;
  o.prefetch = 6;
  {
    Loader l(data_, o);
    ASSERT_TRUE(l.next());
    l.start_epoch(1);  // abandons epoch 0 with work in flight
    ASSERT_TRUE(l.next());
  }  // destructor joins the workers; a hang or crash fails the test
  SUCCEED();
}

TEST_F(LoaderTest, WorkerErrorsReachNext) {
  Dataset gray;  // one channel: normalize() refuses it inside a worker thread
  gray.images = torch::zeros({8, 1, 32, 32}, torch::kUInt8);
  gray.labels = torch::zeros({8}, torch::kInt64);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  Loader l(gray, o);
  try {
    l.next();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normalize: expected images [B,3,H,W]"), std::string::npos)
        << e.what();
  }
}

TEST_F(LoaderTest, BadOptionsAreErrors) {
  LoaderOptions o;
  o.rank = 2;
  o.world = 2;
  EXPECT_THROW(Loader(data_, o), Error);
  o = LoaderOptions{};
  o.batch_size = 0;
  EXPECT_THROW(Loader(data_, o), Error);
  if (!torch::cuda::is_available()) {
    o = LoaderOptions{};
    o.device = torch::Device(torch::kCUDA, 0);
    EXPECT_THROW(Loader(data_, o), Error);
  }
}

}  // namespace
}  // namespace tdml::data
