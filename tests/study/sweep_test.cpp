#include "tdml/study/sweep.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "support/test_support.h"
#include "tdml/data/synthetic.h"
#include "tdml/study/tfevents.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace {

namespace fs = std::filesystem;

TEST(Sweep, CoversEveryCellAndWritesTensorBoardScalars) {
  tdml::test::TempDir dir;
  tdml::data::SynthOptions so;
  so.train_size = 200;
  so.test_size = 50;
  tdml::data::write_synthetic_cifar10(dir / "data", so);
  tdml::study::SweepOptions o;
  o.base.model = "tinycnn";
  o.base.data = dir / "data";
  o.base.epochs = 2;
  o.base.limit_train_batches = 2;
  o.base.limit_test_batches = 1;
  o.base.threads = 1;
  o.batch_sizes = {8, 16};
  o.workers = {0, 2};
  o.log_dir = dir / "tb";
  o.out_dir = dir / "sweep";
  tdml::study::run_sweep(o);

  auto doc = nlohmann::json::parse(tdml::util::read_file(dir / "sweep/metrics.json"));
  EXPECT_EQ(doc["kind"], "sweep");
  EXPECT_EQ(doc["status"], "completed");
  ASSERT_EQ(doc["cells"].size(), 4u);
  std::set<std::pair<std::int64_t, int>> seen;
  for (const auto& c : doc["cells"]) {
    const auto b = c["batch_size"].get<std::int64_t>();
    const auto w = c["workers"].get<int>();
    seen.insert({b, w});
    // Throughput is the images trained over the time spent training them (2 epochs).
    const double rate = c["samples_per_s"].get<double>();
    EXPECT_NEAR(rate, c["images"].get<double>() / (2 * c["epoch_time_s"].get<double>()),
                1e-6 * rate)
        << c["name"];
    EXPECT_GE(c["test_acc"].get<double>(), 0);
    EXPECT_LE(c["test_acc"].get<double>(), 1);
    EXPECT_EQ(c["images"].get<std::int64_t>(), 2 * 2 * b);  // 2 epochs x 2 batches
    ASSERT_EQ(c["epochs"].size(), 2u);
    EXPECT_TRUE(fs::exists(c["run_dir"].get<std::string>() + "/metrics.json"));

    // The cell's TensorBoard file: header + 9 tags x 2 epochs, values as in metrics.json.
    auto events = tdml::study::read_event_file(c["tfevents"].get<std::string>());
    ASSERT_EQ(events.size(), 1 + 2 * tdml::study::sweep_scalar_tags().size());
    EXPECT_EQ(events[0].file_version, "brain.Event:2");
    std::map<std::pair<std::string, std::int64_t>, float> by_tag;
    for (std::size_t i = 1; i < events.size(); ++i)
      by_tag[{events[i].tag, events[i].step}] = events[i].value;
    for (const auto& tag : tdml::study::sweep_scalar_tags()) {
      EXPECT_TRUE(by_tag.count({tag, 1}) && by_tag.count({tag, 2})) << tag;
    }
    auto value = [&](const std::string& tag, std::int64_t step) { return by_tag[{tag, step}]; };
    for (int e = 1; e <= 2; ++e) {
      const auto& rec = c["epochs"][e - 1];
      EXPECT_FLOAT_EQ(value("loss/train", e), rec["train_loss"].get<float>());
      EXPECT_FLOAT_EQ(value("accuracy/test", e), rec["test_acc"].get<float>());
      EXPECT_FLOAT_EQ(value("throughput/images_per_s", e), rec["samples_per_s"].get<float>());
      EXPECT_NEAR(value("share/loader_wait", e) + value("share/compute", e), 1.0, 1e-5);
    }
  }
  EXPECT_EQ(seen, (std::set<std::pair<std::int64_t, int>>{{8, 0}, {8, 2}, {16, 0}, {16, 2}}));
}

TEST(Sweep, RejectsAnEmptyOrNegativeGrid) {
  tdml::test::TempDir dir;
  tdml::study::SweepOptions o;
  o.out_dir = dir / "s";
  o.batch_sizes = {};
  EXPECT_THROW(tdml::study::run_sweep(o), tdml::UsageError);
  o.batch_sizes = {8};
  o.workers = {-1};
  EXPECT_THROW(tdml::study::run_sweep(o), tdml::UsageError);
}

TEST(Sweep, CliParsesListsAndPrintsTheGrid) {
  tdml::test::TempDir dir;
  auto bad = tdml::test::run_tdml("sweep --batch-sizes 8,x --out " + dir / "s");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--batch-sizes 8,x"), std::string::npos) << bad.output;
}

}  // namespace
