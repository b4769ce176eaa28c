#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

using tdml::test::run_tdml;

TEST(ModelsCli, TableListsModelsWithExactCounts) {
  auto r = run_tdml("models");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* row :
       {"tinycnn              113866       455464", "smallcifarcnn        289194      1156776",
        "resnet50           23528522     94114088"}) {
    EXPECT_NE(r.output.find(row), std::string::npos) << row << "\n" << r.output;
  }
}

TEST(ModelsCli, JsonHasCountsKeysAndBlocks) {
  auto r = run_tdml("models --json --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["num_classes"], 10);
  ASSERT_EQ(j["models"].size(), 3u);
  EXPECT_EQ(j["models"][0]["name"], "tinycnn");
  EXPECT_EQ(j["models"][0]["parameters"], 113866);
  EXPECT_EQ(j["models"][1]["parameters"], 289194);
  EXPECT_EQ(j["models"][1]["state_dict_keys"], 44);
  EXPECT_EQ(j["models"][2]["name"], "resnet50");
  EXPECT_EQ(j["models"][2]["parameters"], 23528522);
  EXPECT_EQ(j["models"][2]["bytes"], 94114088);
  EXPECT_EQ(j["models"][2]["state_dict_keys"], 320);
  EXPECT_EQ(j["models"][2]["blocks"], 18);
}

TEST(ModelsCli, ClassesOptionChangesTheHead) {
  auto r = run_tdml("models --json --classes 100");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["models"][0]["parameters"], 113866 + 90 * 129);
  auto bad = run_tdml("models --classes 0");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("number of classes must be positive"), std::string::npos) << bad.output;
}
