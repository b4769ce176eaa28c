#include "tdml/study/autobatch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "support/test_support.h"
#include "tdml/data/synthetic.h"
#include "tdml/study/run_recorder.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace {

using tdml::study::BatchProbe;
using tdml::study::SearchOptions;

// A fake device: a step at batch b needs base + per_sample * b bytes.
struct FakeMemory {
  std::int64_t base = 300 << 20;
  std::int64_t per_sample = 6'500'000;
  std::int64_t peak(std::int64_t b) const { return base + per_sample * b; }
  std::int64_t limit(std::int64_t budget) const { return (budget - base) / per_sample; }
};

TEST(Autobatch, SearchFindsTheExactLimitOfAFakeBudget) {
  FakeMemory mem;
  for (std::int64_t budget :
       {std::int64_t(4) << 30, std::int64_t(1) << 30, std::int64_t(700) << 20}) {
    std::vector<std::int64_t> ran;
    auto probe = tdml::study::budget_probe(
        [&](std::int64_t b) {
          ran.push_back(b);
          return mem.peak(b);
        },
        budget);
    SearchOptions o;
    o.start = 32;
    o.max_batch = 1 << 20;
    o.resolution = 1;
    auto r = tdml::study::search_batch_size(probe, o);
    const auto want = mem.limit(budget);
    EXPECT_EQ(r.batch, want) << "budget " << budget;
    EXPECT_FALSE(r.hit_cap);
    // Binary search: about log2(limit) probes after the doubling, not a scan.
    EXPECT_LE(r.probes.size(), 2u * 21u);
    // No step that runs needs more than 1.25x the budget (extrapolation stops the rest).
    for (auto b : ran) EXPECT_LE(mem.peak(b), 1.25 * budget) << "batch " << b << " was run";
    for (const auto& p : r.probes) {
      EXPECT_EQ(p.result.fits, mem.peak(p.batch) <= budget) << "batch " << p.batch;
    }
  }
}

TEST(Autobatch, OutOfMemoryIsAFailedProbeAndTheSearchGoesOn) {
  const std::int64_t limit = 777;  // the fake device runs out of memory above this
  int ooms = 0;
  auto probe = tdml::study::budget_probe(
      [&](std::int64_t b) -> std::int64_t {
        if (b > limit) {
          ++ooms;
          throw tdml::study::OutOfMemory("fake");
        }
        return b * 1000;
      },
      0);
  SearchOptions exact;
  exact.resolution = 1;
  auto r = tdml::study::search_batch_size(probe, exact);
  EXPECT_EQ(r.batch, limit);
  EXPECT_GT(ooms, 0);
  int failed = 0;
  for (const auto& p : r.probes) failed += p.result.fits ? 0 : 1;
  EXPECT_EQ(failed, ooms);
  EXPECT_EQ(r.probes.front().batch, 32);
  EXPECT_EQ(r.probes.front().phase, "exponential");
}

TEST(Autobatch, StartTooLargeDescendsAndCapStops) {
  auto under = [](std::int64_t limit) -> BatchProbe {
    return [limit](std::int64_t b) {
      tdml::study::ProbeResult r;
      r.fits = b <= limit;
      return r;
    };
  };
  SearchOptions o;
  o.start = 256;
  auto r = tdml::study::search_batch_size(under(5), o);
  EXPECT_EQ(r.batch, 5);
  EXPECT_EQ(r.probes[1].phase, "descend");

  o.start = 32;
  o.max_batch = 100;
  r = tdml::study::search_batch_size(under(1000), o);
  EXPECT_EQ(r.batch, 100);
  EXPECT_TRUE(r.hit_cap);
  std::set<std::int64_t> tried;
  for (const auto& p : r.probes) tried.insert(p.batch);
  EXPECT_EQ(tried, (std::set<std::int64_t>{32, 64, 100}));

  o.resolution = 8;
  o.max_batch = 4096;
  r = tdml::study::search_batch_size(under(1000), o);
  EXPECT_LE(r.batch, 1000);
  EXPECT_GT(r.batch, 1000 - 8);
  o.resolution = 0;  // default: within found/16
  r = tdml::study::search_batch_size(under(1000), o);
  EXPECT_LE(r.batch, 1000);
  EXPECT_GE(r.batch, 1000 - 1000 / 16);
  EXPECT_LT(r.probes.size(), 12u);

  EXPECT_THROW(tdml::study::search_batch_size(under(0), SearchOptions{}), tdml::Error);
  o.start = 0;
  EXPECT_THROW(tdml::study::search_batch_size(under(10), o), tdml::UsageError);
}

TEST(Autobatch, PlanSeesAboutTheRequestedImages) {
  auto p = tdml::study::plan_images(20480, 128, 50000);
  EXPECT_EQ(p.epochs, 1);
  EXPECT_EQ(p.batches_per_epoch, 160);
  p = tdml::study::plan_images(20480, 4096, 5000);  // 5 steps, 2 batches an epoch
  EXPECT_EQ(p.epochs, 3);
  EXPECT_EQ(p.batches_per_epoch, 2);
}

// The real thing on CPU at toy size: measured peak RSS, then the two training runs.
TEST(Autobatch, RunsSearchAndBothTrainingRunsOnCpu) {
  tdml::test::TempDir dir;
  tdml::data::SynthOptions so;
  so.train_size = 400;
  so.test_size = 100;
  auto data_dir = tdml::data::write_synthetic_cifar10(dir / "data", so);
  tdml::study::AutobatchOptions o;
  o.probe.model = "tinycnn";
  o.probe.device = "cpu";
  o.search.start = 8;
  o.search.max_batch = 32;
  o.mem_budget_bytes = std::int64_t(16) << 30;  // far above what tinycnn needs: the cap wins
  o.static_batch = 16;
  o.images = 96;
  o.threads = 1;
  o.limit_test_batches = 1;
  o.data = dir / "data";
  o.out_dir = dir / "run";
  auto doc = tdml::study::run_autobatch(o);
  auto file = nlohmann::json::parse(tdml::util::read_file(dir / "run/metrics.json"));
  EXPECT_EQ(file["kind"], "autobatch");
  EXPECT_EQ(file["status"], "completed");
  EXPECT_EQ(file["search"]["batch"], 32);
  EXPECT_TRUE(file["search"]["hit_cap"].get<bool>());
  for (const auto& p : file["search"]["probes"])
    EXPECT_GT(p["peak_memory_bytes"].get<std::int64_t>(), 0);
  ASSERT_EQ(file["runs"].size(), 2u);
  EXPECT_EQ(file["runs"][0]["name"], "static");
  EXPECT_EQ(file["runs"][1]["batch_size"], 32);
  EXPECT_DOUBLE_EQ(file["runs"][1]["lr"].get<double>(), 0.1 * 32 / 16);
  for (const auto& run : file["runs"]) {
    EXPECT_GE(run["images"].get<std::int64_t>(), 96);
    EXPECT_LT(run["images"].get<std::int64_t>(), 96 + 32);
    EXPECT_GT(run["samples_per_s"].get<double>(), 0);
    EXPECT_GT(run["peak_memory_bytes"].get<std::int64_t>(), 0);
    EXPECT_EQ(run["loss_curve"].size(), run["steps"].get<std::size_t>());
    EXPECT_TRUE(std::filesystem::exists(run["run_dir"].get<std::string>() + "/metrics.json"));
  }
  EXPECT_EQ(file["runs"][0]["loss_curve"].back()["images"], file["runs"][0]["images"]);
}

}  // namespace
