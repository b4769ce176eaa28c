// `tdml fl grid` through the binary: real tiny cells (tinycnn, synthetic data, one round),
// resuming, failed cells, refused flags and tokens, Ctrl-C.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/util/fs.h"

namespace tdml::study {
namespace {

namespace fs = std::filesystem;
using test::run_tdml;

// Every cell a `tdml fl` run of about a second (with --rounds 1).
const std::string kTinyCellOptions =
    " --data synthetic --model tinycnn --clients 3 --per-client 20 --local train "
    "--batch-size 20 --limit-test-batches 1 --eval-batch-size 50 --threads 1";
const std::string kTinyCell = kTinyCellOptions + " --rounds 1";

std::size_t grid_count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::map<std::string, fs::file_time_type> cell_metrics_times(const std::string& dir) {
  std::map<std::string, fs::file_time_type> t;
  for (const auto& e : fs::directory_iterator(dir + "/cells")) {
    if (fs::exists(e.path() / "metrics.json")) {
      t[e.path().filename().string()] = fs::last_write_time(e.path() / "metrics.json");
    }
  }
  return t;
}

TEST(FlGridCli, RunsEveryCellResumesAndRewritesTheSameBytes) {
  test::TempDir dir;
  const std::string out = dir / "grid";
  const std::string cmd = "fl grid --attacks none,mean-shift:1 --aggregators median --alphas iid "
                          "--seeds 0,1 --jobs 2" +
                          kTinyCell + " --out " + out;
  auto first = run_tdml(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("[4/4] "), std::string::npos) << first.output;
  const auto csv = util::read_file(out + "/grid.csv");
  const auto json_text = util::read_file(out + "/grid.json");
  const auto doc = nlohmann::json::parse(json_text);
  EXPECT_EQ(doc["kind"], "fl-grid");
  EXPECT_EQ(doc["status"], "completed");
  ASSERT_EQ(doc["cells"].size(), 4u);
  ASSERT_EQ(doc["groups"].size(), 2u);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["status"], "completed") << c.dump();
    EXPECT_TRUE(c["accuracy"].is_number()) << c.dump();
    EXPECT_TRUE(c["asr"].is_number()) << "every cell measures the trigger: " << c.dump();
    EXPECT_TRUE(fs::exists(out + "/" + c["dir"].get<std::string>() + "/cell.log"));
  }
  // The attacked cell of seed 1: --attack mean-shift --malicious 1, compared with none, seed 1.
  const auto& attacked = doc["cells"][3];
  EXPECT_EQ(attacked["name"], "mean-shift_1__median__iid__s1");
  EXPECT_DOUBLE_EQ(attacked["asr_baseline"].get<double>(), doc["cells"][1]["asr"].get<double>());
  const auto args = attacked["command"].get<std::vector<std::string>>();
  for (const char* want : {"--malicious", "--eval-trigger", "--threads", "--partition"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), want), args.end()) << want;
  }
  EXPECT_EQ(grid_count_of(csv, "\n"), 3u) << csv;
  const auto cell_metrics =
      nlohmann::json::parse(util::read_file(out + "/cells/mean-shift_1__median__iid__s1/metrics.json"));
  EXPECT_EQ(cell_metrics["config"]["seed"], 1);
  EXPECT_EQ(cell_metrics["config"]["malicious"], nlohmann::json({0}));

  // Everything done: nothing runs again and the outputs are the same bytes.
  const auto times = cell_metrics_times(out);
  auto again = run_tdml(cmd);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(grid_count_of(again.output, "completed before, skipped"), 4u) << again.output;
  EXPECT_EQ(util::read_file(out + "/grid.csv"), csv);
  EXPECT_EQ(util::read_file(out + "/grid.json"), json_text);
  EXPECT_EQ(cell_metrics_times(out), times);
  // Other cell options: the finished cells are still kept, with a warning, and grid.json keeps
  // the command lines that made them.
  auto changed = run_tdml(cmd + " --eval-batch-size 40");
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_EQ(grid_count_of(changed.output, "that run had another command line; kept"), 4u)
      << changed.output;
  EXPECT_EQ(nlohmann::json::parse(util::read_file(out + "/grid.json"))["cells"], doc["cells"]);
  EXPECT_EQ(util::read_file(out + "/grid.csv"), csv);
  EXPECT_EQ(cell_metrics_times(out), times);

  // One cell lost (as a crash mid-cell leaves it): only that one runs, from scratch.
  const std::string lost = "mean-shift_1__median__iid__s1";
  fs::remove(out + "/cells/" + lost + "/metrics.json");
  util::write_file_atomic(out + "/cells/" + lost + "/stale-file", "x");
  auto resumed = run_tdml(cmd);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(grid_count_of(resumed.output, "completed before, skipped"), 3u) << resumed.output;
  EXPECT_NE(resumed.output.find("[4/4] mean-shift:1 median iid s1: acc"), std::string::npos)
      << resumed.output;
  EXPECT_FALSE(fs::exists(out + "/cells/" + lost + "/stale-file"));
  auto after = cell_metrics_times(out);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_NE(after[lost], times.at(lost));
  after.erase(lost);
  auto before = times;
  before.erase(lost);
  EXPECT_EQ(after, before) << "the finished cells were not rerun";
  // tdml fl is deterministic: the rerun cell has the same accuracy and ASR.
  const auto redone = nlohmann::json::parse(util::read_file(out + "/grid.json"));
  EXPECT_EQ(redone["cells"][3]["accuracy"], doc["cells"][3]["accuracy"]);
  EXPECT_EQ(redone["cells"][3]["asr"], doc["cells"][3]["asr"]);
}

TEST(FlGridCli, AFailedCellIsNamedAndLeftOutOfTheStatistics) {
  test::TempDir dir;
  // Krum with f = 1 needs 5 updates; 3 clients give 3: that cell fails, the median one runs.
  auto r = run_tdml("fl grid --attacks none --aggregators krum,median --seeds 0 --jobs 2 "
                    "--krum-f 1" + kTinyCell + " --out " + dir.path());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tdml: error: fl grid: 1 of 2 cells failed: none__krum__iid__s0"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("FAILED: exited with status 1"), std::string::npos) << r.output;
  EXPECT_NE(util::read_file(dir / "cells/none__krum__iid__s0/cell.log").find("2f + 3"),
            std::string::npos);
  const auto csv = util::read_file(dir / "grid.csv");
  EXPECT_NE(csv.find("\nnone,,krum,false,iid,1,0,none__krum__iid__s0,0,,,,,"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nnone,,median,false,iid,1,1,,1,"), std::string::npos) << csv;
  const auto doc = nlohmann::json::parse(util::read_file(dir / "grid.json"));
  EXPECT_EQ(doc["status"], "failed");
  EXPECT_EQ(doc["cells"][0]["status"], "failed");
  EXPECT_NE(doc["cells"][0]["error"].get<std::string>().find("2f + 3"), std::string::npos);
}

TEST(FlGridCli, RefusesGridOwnedFlagsAndBadTokensBeforeAnyCell) {
  test::TempDir dir;
  const std::string out = " --out " + dir / "g";
  const std::pair<const char*, const char*> cases[] = {
      {"--seeds 0 --seed 3", "fl grid: --seed is set per cell by the grid (use --seeds)"},
      {"--attack backdoor", "--attack is set per cell by the grid (use --attacks)"},
      {"--malicious=2", "--malicious is set per cell by the grid (use --attacks NAME:K)"},
      {"--alpha 0.1", "--alpha is set per cell by the grid (use --alphas)"},
      {"--attacks none,frobnicate:2", "--attacks frobnicate:2: "},
      {"--aggregators mean,nope", "--aggregators nope: unknown aggregator 'nope' (choices: mean"},
      {"--alphas iid,x", "--alphas x: expected iid or a Dirichlet alpha > 0"},
      {"--seeds 0,a", "--seeds a: expected a non-negative integer seed"},
      {"--jobs 0", "--jobs must be >= 1"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_tdml(std::string("fl grid ") + args + kTinyCell + out);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("tdml: error: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(grid_count_of(r.output, "\n"), 1u) << r.output;
    EXPECT_FALSE(fs::exists(dir / "g")) << args << ": ran before refusing";
  }
}

TEST(FlGridCli, HelpExplainsTheGridAndTdmlListsIt) {
  auto r = run_tdml("fl grid --help");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* want : {"NAME:K", "RULE+bucketing", "--partition dirichlet --alpha X",
                           "Student t", "--eval-trigger", "--jobs", "--bucket-size",
                           "completed", "tdml fl --help"}) {
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
  }
  EXPECT_NE(run_tdml("--help").output.find("fl grid"), std::string::npos);
}

// SIGTERM (as Ctrl-C's SIGINT): the running cell is stopped, nothing is summarised, and the same
// command afterwards runs it from scratch.
TEST(FlGridCli, SigtermStopsTheRunningCellAndARerunResumes) {
  test::TempDir dir;
  const std::string cell = dir / "cells/none__median__iid__s0";
  const std::string grid = "'" + test::tdml_binary() + "' fl grid --aggregators median" +
                           kTinyCellOptions + " --out " + dir.path();
  auto r = test::run_shell(grid + " --rounds 50 > " + dir / "log" + " 2>&1 & pid=$!; " +
                           "for i in $(seq 400); do [ -e " + cell + "/cell.log ] && break; " +
                           "sleep 0.05; done; kill -TERM $pid; wait $pid; echo rc=$?");
  EXPECT_NE(r.output.find("rc=1"), std::string::npos) << r.output;
  const auto log = util::read_file(dir / "log");
  EXPECT_NE(log.find("interrupted by signal 15: stopped the running jobs none__median__iid__s0"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(dir / "grid.csv"));
  auto rerun = test::run_shell(grid + " --rounds 1");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("0 completed before, 1 to run"), std::string::npos) << rerun.output;
  EXPECT_TRUE(fs::exists(dir / "grid.csv"));
}

}  // namespace
}  // namespace tdml::study
