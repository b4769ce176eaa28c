// `tdml fl grid`'s library half: tokens, cells, and the summary of the cells' metrics.json
// files (hand-written here; fl_grid_cli_test.cpp runs real cells).
#include "tdml/study/fl_grid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <sstream>

#include "support/test_support.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::study {
namespace {

using nlohmann::json;

TEST(FlGrid, ExpandsTokensIntoNamedCellsInOrder) {
  const auto axes =
      parse_grid_axes("none,backdoor+model-replacement:1,alie", "median,cclip+bucketing",
                      "iid,0.50", "0,2");
  ASSERT_EQ(axes.attacks.size(), 3u);
  EXPECT_EQ(axes.attacks[1].name, "backdoor+model-replacement");
  EXPECT_EQ(axes.attacks[1].malicious, 1);
  EXPECT_EQ(axes.attacks[2].malicious, -1);  // tdml fl's default count
  EXPECT_TRUE(axes.aggregators[1].bucketing);
  EXPECT_EQ(axes.aggregators[1].rule, "cclip");
  EXPECT_FALSE(axes.alphas[1].iid);
  EXPECT_DOUBLE_EQ(axes.alphas[1].alpha, 0.5);

  const auto cells = expand_grid(axes);
  ASSERT_EQ(cells.size(), 3u * 2 * 2 * 2);
  // Attacks outermost, seeds innermost.
  EXPECT_EQ(cells[0].name(), "none__median__iid__s0");
  EXPECT_EQ(cells[1].name(), "none__median__iid__s2");
  EXPECT_EQ(cells[2].name(), "none__median__a0.5__s0");
  EXPECT_EQ(cells[4].name(), "none__cclip+bucketing__iid__s0");
  EXPECT_EQ(cells[8 + 7].name(), "backdoor+model-replacement_1__cclip+bucketing__a0.5__s2");
  EXPECT_EQ(cells[16].name(), "alie__median__iid__s0");
  EXPECT_EQ(cells[8 + 7].label(), "backdoor+model-replacement:1 cclip+bucketing a0.5 s2");
  EXPECT_EQ(alpha_token(axes.alphas[1]), "0.5");
  EXPECT_EQ(attack_token(axes.attacks[1]), "backdoor+model-replacement:1");
  for (const auto& c : cells) {
    EXPECT_EQ(c.name().find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-_."),
              std::string::npos)
        << c.name();
  }
}

TEST(FlGrid, BadTokensAreUsageErrorsNamingFlagAndToken) {
  struct Case {
    const char *attacks, *aggregators, *alphas, *seeds, *message;
  } cases[] = {
      {"alie:x", "mean", "iid", "0", "--attacks alie:x: 'x' is not a number of malicious"},
      {"alie:0", "mean", "iid", "0", "--attacks alie:0"},
      {"none:1", "mean", "iid", "0", "none has no malicious clients"},
      {"Alie", "mean", "iid", "0", "'Alie' is not an attack name"},
      {"alie,,ipm", "mean", "iid", "0", "expected a comma-separated list"},
      {"alie,", "mean", "iid", "0", "expected a comma-separated list"},
      {"", "mean", "iid", "0", "--attacks: empty list"},
      {"alie:2,alie:02", "mean", "iid", "0", "'alie:02' is given twice"},
      {"none", "median+buckets", "iid", "0", "'+buckets' is not a modifier"},
      {"none", "me an", "iid", "0", "'me an' is not an aggregator name"},
      {"none", "mean", "0", "0", "--alphas 0: expected iid or a Dirichlet alpha > 0"},
      {"none", "mean", "nan", "0", "--alphas nan"},
      {"none", "mean", "0.5,0.50", "0", "'0.50' is given twice"},
      {"none", "mean", "iid", "-1", "--seeds -1: expected a non-negative integer"},
      {"none", "mean", "iid", "1.5", "--seeds 1.5"},
  };
  for (const auto& c : cases) {
    try {
      parse_grid_axes(c.attacks, c.aggregators, c.alphas, c.seeds);
      ADD_FAILURE() << "accepted " << c.attacks << " " << c.aggregators << " " << c.alphas << " "
                    << c.seeds;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

// A tdml fl metrics.json with the fields the grid reads.
std::string fake_fl_cell(double final_acc, std::optional<double> asr,
                         std::vector<std::optional<double>> precision,
                         const std::string& status = "completed",
                         const std::string& finished = "2026-01-01T00:01:03Z") {
  json rounds = json::array();
  for (std::size_t i = 0; i < precision.size(); ++i) {
    json det = {{"precision", precision[i] ? json(*precision[i]) : json(nullptr)},
                {"recall", i == 0 ? json(1.0) : json(nullptr)}};
    rounds.push_back({{"round", i + 1},
                      {"seconds", 10.0},
                      {"test_accuracy", i + 1 == precision.size() ? final_acc : 0.01},
                      {"backdoor", asr ? json({{"asr_non_target", *asr}, {"asr_all", 0.9}})
                                       : json(nullptr)},
                      {"detection", det}});
  }
  json doc = {{"schema", 1},      {"kind", "fl"},   {"status", status},
              {"rounds", rounds}, {"created", "2026-01-01T00:00:00Z"}};
  if (!finished.empty()) doc["finished"] = finished;
  if (status == "failed") doc["error"] = "krum: needs n >= 2f + 3 updates";
  return doc.dump(2);
}

TEST(FlGrid, ReadsACellsFinalAccuracyAsrDetectionAndWallTime) {
  test::TempDir dir;
  util::write_file_atomic(dir / "m.json", fake_fl_cell(0.4, 0.25, {0.5, std::nullopt, 1.0}));
  const auto c = read_cell_result(dir / "m.json");
  EXPECT_EQ(c.status, "completed");
  EXPECT_EQ(c.rounds, 3);
  EXPECT_DOUBLE_EQ(*c.accuracy, 0.4);  // the last round's, not the first's 0.01
  EXPECT_DOUBLE_EQ(*c.asr, 0.25);
  EXPECT_DOUBLE_EQ(*c.precision, 0.75);  // (0.5 + 1.0) / 2: the null round left out
  EXPECT_DOUBLE_EQ(*c.recall, 1.0);
  EXPECT_DOUBLE_EQ(*c.wall_s, 63.0);  // finished - created
  // Cut short (no "finished"): the rounds' seconds.
  util::write_file_atomic(dir / "r.json", fake_fl_cell(0.4, std::nullopt, {std::nullopt, std::nullopt}, "running", ""));
  const auto r = read_cell_result(dir / "r.json");
  EXPECT_EQ(r.status, "running");
  EXPECT_FALSE(r.asr);
  EXPECT_FALSE(r.precision);
  EXPECT_DOUBLE_EQ(*r.wall_s, 20.0);
  EXPECT_EQ(read_cell_result(dir / "nothing.json").status, "missing");
  util::write_file_atomic(dir / "bad.json", "{\"kind\": \"fl\", ");
  EXPECT_EQ(read_cell_result(dir / "bad.json").status, "unreadable");
}

// none and backdoor:1 x mean x iid x seeds 0, 1, 2; the backdoor cell of seed 2 failed.
TEST(FlGrid, SummarisesSeedsWithBaselinesAndLeavesFailedCellsOut) {
  test::TempDir dir;
  const auto axes = parse_grid_axes("none,backdoor:1", "mean", "iid", "0,1,2");
  const double clean_acc[] = {0.50, 0.52, 0.54}, clean_asr[] = {0.10, 0.20, 0.30};
  const double bd_acc[] = {0.40, 0.44}, bd_asr[] = {0.90, 0.70};
  std::vector<GridRecord> records;
  for (const auto& cell : expand_grid(axes)) {
    const auto path = dir / (cell.name() + ".json");
    const auto s = cell.seed;
    if (cell.attack.name == "none") {
      util::write_file_atomic(path, fake_fl_cell(clean_acc[s], clean_asr[s], {std::nullopt}));
    } else if (s < 2) {
      util::write_file_atomic(path, fake_fl_cell(bd_acc[s], bd_asr[s], {1.0, 0.5}));
    } else {
      util::write_file_atomic(path, fake_fl_cell(0.1, 0.1, {1.0}, "failed"));
    }
    records.push_back({cell, {"tdml", "fl", "--seed", std::to_string(s)}, read_cell_result(path),
                       s == 2 && cell.attack.name != "none" ? "exited with status 1" : ""});
  }
  GridSummaryOptions o{axes, {"tdml", "fl", "grid", "--seeds", "0,1,2"}, 2, json::array()};
  const auto doc = grid_summary_json(o, records);
  EXPECT_EQ(doc["kind"], "fl-grid");
  EXPECT_EQ(doc["status"], "failed");
  EXPECT_NE(doc["statistics"]["ci95"].get<std::string>().find("Student t with n - 1"),
            std::string::npos);
  ASSERT_EQ(doc["cells"].size(), 6u);
  EXPECT_EQ(doc["cells"][3]["name"], "backdoor_1__mean__iid__s0");
  EXPECT_DOUBLE_EQ(doc["cells"][3]["asr_baseline"].get<double>(), 0.10);  // none, seed 0
  EXPECT_EQ(doc["cells"][5]["status"], "failed");
  EXPECT_EQ(doc["cells"][5]["error"], "krum: needs n >= 2f + 3 updates");
  ASSERT_EQ(doc["groups"].size(), 2u);

  const auto& clean = doc["groups"][0];
  EXPECT_EQ(clean["completed"], 3);
  EXPECT_DOUBLE_EQ(clean["accuracy"]["mean"].get<double>(), 0.52);
  EXPECT_NEAR(clean["accuracy"]["std"].get<double>(), 0.02, 1e-12);
  const double half3 = 4.302652729749464 * 0.02 / std::sqrt(3.0);
  EXPECT_NEAR(clean["accuracy"]["ci95_low"].get<double>(), 0.52 - half3, 1e-12);
  EXPECT_TRUE(clean["precision"]["mean"].is_null());  // every round null
  EXPECT_EQ(clean["precision"]["n"], 0);

  const auto& bd = doc["groups"][1];
  EXPECT_EQ(bd["attack"], "backdoor");
  EXPECT_EQ(bd["malicious"], 1);
  EXPECT_EQ(bd["seeds"], 3);
  EXPECT_EQ(bd["completed"], 2);
  EXPECT_EQ(bd["failed_cells"], json({"backdoor_1__mean__iid__s2"}));
  EXPECT_EQ(bd["accuracy"]["n"], 2);
  EXPECT_DOUBLE_EQ(bd["accuracy"]["mean"].get<double>(), 0.42);
  EXPECT_NEAR(bd["asr"]["mean"].get<double>(), 0.80, 1e-12);
  // Baselines of the same seeds (0, 1): 0.10 and 0.20; paired differences 0.80 and 0.50.
  EXPECT_NEAR(bd["asr_baseline"]["mean"].get<double>(), 0.15, 1e-12);
  EXPECT_NEAR(bd["asr_minus_baseline"]["mean"].get<double>(), 0.65, 1e-12);
  EXPECT_NEAR(bd["asr_minus_baseline"]["std"].get<double>(), std::sqrt(0.045), 1e-12);
  EXPECT_NEAR(bd["precision"]["mean"].get<double>(), 0.75, 1e-12);
  EXPECT_DOUBLE_EQ(bd["wall_s"]["mean"].get<double>(), 63.0);
  EXPECT_NEAR(bd["wall_s"]["std"].get<double>(), 0.0, 1e-12);

  const auto csv = grid_summary_csv(doc);
  std::vector<std::string> lines;
  std::stringstream ss(csv);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u) << csv;
  EXPECT_EQ(lines[0].rfind("attack,malicious,aggregator,bucketing,alpha,seeds,completed,"
                           "failed_cells,accuracy_n,accuracy_mean,accuracy_std,",
                           0),
            0u)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("none,,mean,false,iid,3,3,,3,0.52,0.02,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("backdoor,1,mean,false,iid,3,2,backdoor_1__mean__iid__s2,2,0.42,", 0),
            0u)
      << lines[2];
  // The same cells give the same bytes.
  EXPECT_EQ(grid_summary_json(o, records).dump(2), doc.dump(2));
  EXPECT_EQ(grid_summary_csv(grid_summary_json(o, records)), csv);
}

}  // namespace
}  // namespace tdml::study
