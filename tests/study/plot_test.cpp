#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include "support/test_support.h"
#include "tdml/data/cifar10.h"
#include "tdml/data/synthetic.h"
#include "tdml/util/fs.h"

namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(__FILE__).parent_path() / "plot_fixtures";

bool have_matplotlib() {
  return std::system("/usr/bin/python3 -c 'import matplotlib, numpy' >/dev/null 2>&1") == 0;
}

// Copies a fixture run (small metrics.json of one kind) into dir; train also gets samples.bin.
std::string make_run(const tdml::test::TempDir& dir, const std::string& kind) {
  const std::string run = dir / kind;
  fs::copy(kFixtures / kind, run, fs::copy_options::recursive);
  if (kind == "train") {
    auto images = tdml::data::make_synthetic(16, tdml::data::Split::kTest);
    tdml::data::write_cifar10_bin(run + "/samples.bin", images);
  }
  return run;
}

// Every expected PNG is a real, non-trivial PNG; index.html shows exactly those and only files
// that exist.
void expect_plots(const std::string& out, const std::set<std::string>& want) {
  for (const auto& name : want) {
    const auto path = out + "/" + name;
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_GT(fs::file_size(path), 10'000u) << path << " looks empty";
    const auto bytes = tdml::util::read_file(path);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  }
  const auto html = tdml::util::read_file(out + "/index.html");
  std::set<std::string> shown;
  std::regex src("src='([^']+)'");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator();
       ++it) {
    const auto ref = (*it)[1].str();
    shown.insert(ref);
    EXPECT_TRUE(fs::exists(out + "/" + ref)) << "index.html references missing " << ref;
  }
  EXPECT_EQ(shown, want);
  EXPECT_NE(html.find("Configuration"), std::string::npos);
}

struct KindCase {
  std::string kind;
  std::set<std::string> pngs;
};

// ctest and gtest name a case by its kind (not by the struct's bytes).
void PrintTo(const KindCase& c, std::ostream* os) { *os << c.kind; }

class PlotKinds : public ::testing::TestWithParam<KindCase> {};

TEST_P(PlotKinds, DrawsEveryFigureAndAnIndex) {
  TDML_REQUIRE(have_matplotlib(), "/usr/bin/python3 with matplotlib");
  tdml::test::TempDir dir;
  const auto run = make_run(dir, GetParam().kind);
  auto r = tdml::test::run_tdml("plot " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_plots(run + "/plots", GetParam().pngs);
}

INSTANTIATE_TEST_SUITE_P(
    Study, PlotKinds,
    ::testing::Values(KindCase{"train",
                               {"loss.png", "accuracy.png", "epoch_time.png",
                                "confusion_matrix.png", "samples.png"}},
                      KindCase{"bench_throughput", {"throughput.png", "ms_per_iter.png"}},
                      KindCase{"autobatch",
                               {"autobatch_search.png", "autobatch_throughput.png",
                                "autobatch_loss.png", "autobatch_memory.png"}},
                      KindCase{"sweep",
                               {"sweep_throughput.png", "sweep_accuracy.png",
                                "sweep_epoch_time.png", "sweep_loader_share.png"}},
                      KindCase{"bench_allreduce",
                               {"allreduce_bandwidth.png", "allreduce_time.png"}},
                      KindCase{"fl",
                               {"fl_accuracy.png", "fl_client_scatter.png", "fl_clip_reject.png",
                                "fl_variance.png", "fl_communication.png", "fl_detection.png"}},
                      KindCase{"fl_grid", {"fl_grid_accuracy.png", "fl_grid_asr.png"}},
                      KindCase{"bench_scaling",
                               {"scaling_measured.png", "scaling_speedup.png",
                                "scaling_comm_fraction.png", "scaling_simulated.png",
                                "allreduce_bandwidth.png", "allreduce_time.png"}}),
    [](const auto& info) { return info.param.kind; });

TEST(Plot, SummaryComparesRuns) {
  TDML_REQUIRE(have_matplotlib(), "/usr/bin/python3 with matplotlib");
  tdml::test::TempDir dir;
  const auto train = make_run(dir, "train");
  const auto fl = make_run(dir, "fl");
  auto r = tdml::test::run_tdml("plot --summary " + train + " " + fl + " --out " + dir / "summary");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_plots(dir / "summary", {"summary_time.png", "summary_throughput.png",
                                 "summary_speedup.png", "summary_accuracy.png"});
}

TEST(Plot, ScriptRunsFromTheSourceTreeToo) {
  TDML_REQUIRE(have_matplotlib(), "/usr/bin/python3 with matplotlib");
  tdml::test::TempDir dir;
  const auto run = make_run(dir, "bench_allreduce");
  const auto script =
      (kFixtures.parent_path().parent_path().parent_path() / "scripts/plot.py").string();
  const auto cmd =
      "/usr/bin/python3 '" + script + "' '" + run + "' --out '" + dir / "o" + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  expect_plots(dir / "o", {"allreduce_bandwidth.png", "allreduce_time.png"});
}

TEST(Plot, ClearErrorsForMissingMatplotlibAndUnknownKinds) {
  tdml::test::TempDir dir;
  const auto run = make_run(dir, "sweep");
  ::setenv("TDML_PYTHON", "/bin/false", 1);  // a python that cannot import matplotlib
  auto r = tdml::test::run_tdml("plot " + run);
  ::unsetenv("TDML_PYTHON");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("install python3-matplotlib"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  TDML_REQUIRE(have_matplotlib(), "/usr/bin/python3 with matplotlib");
  tdml::util::make_dirs(dir / "odd");
  tdml::util::write_file_atomic(dir / "odd/metrics.json",
                                R"({"kind": "odd", "status": "completed"})");
  r = tdml::test::run_tdml("plot " + dir / "odd");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no plots for metrics kind 'odd'"), std::string::npos) << r.output;
  r = tdml::test::run_tdml("plot " + dir / "nothing-here");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no such run directory"), std::string::npos) << r.output;
}

}  // namespace
