#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/util/fs.h"

using tdml::test::run_tdml;

TEST(TrainCli, BadOptionValuesExit2WithOneLine) {
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {"train --epochs 0", "tdml: error: --epochs must be >= 1\n"},
      {"train --optimizer lion", "tdml: error: --optimizer lion: expected sgd or adamw\n"},
      {"train --model vgg --data synthetic", "unknown model"},
      {"train --amp fp8", "tdml: error: --amp fp8: expected off, bf16 or fp16\n"},
      {"train --device cuda --data synthetic", "CUDA is not available"},
      {"train --epochs two", "tdml: error: "},
      {"train --no-such-flag", "tdml: error: "},
  };
  for (const auto& c : cases) {
    // On a GPU machine `--device cuda` is valid: that case only applies without CUDA.
    if (std::string(c.args).find("--device cuda") != std::string::npos &&
        torch::cuda::is_available()) {
      continue;
    }
    auto r = run_tdml(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

TEST(TrainCli, MissingDataDirectoryExits1NamingIt) {
  auto r = run_tdml("train --data /nonexistent/cifar --out /tmp/tdml-never");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/cifar"), std::string::npos) << r.output;
}

TEST(TrainCli, HelpListsOptionsAndExits0) {
  auto r = run_tdml("train --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--model", "--epochs", "--batch-size", "--lr", "--optimizer", "--schedule",
                          "--augment", "--seed", "--threads", "--device", "--amp", "--channels-last",
                          "--limit-train-batches", "--out", "--data", "--save", "--resume"}) {
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
  }
}

TEST(TrainCli, TrainThenEvalTheCheckpoint) {
  tdml::test::TempDir dir;
  auto r = run_tdml("train --model tinycnn --data synthetic --epochs 1 --limit-train-batches 3 "
                    "--limit-test-batches 1 --save -q --out " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto e = run_tdml("eval --checkpoint " + dir / "checkpoint.pt" + " --data synthetic --json -q");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  auto j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j["model"], "tinycnn");
  EXPECT_EQ(j["confusion_matrix"].size(), 10u);
}

TEST(InfoCli, ReportsGlooAndJson) {
  TDML_REQUIRE_GLOO();
  auto r = run_tdml("info --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["c10d"]["gloo"]["init_test"], "ok");
  EXPECT_GT(j["cpu"]["cores"].get<int>(), 0);
  EXPECT_TRUE(j["env"].contains("MASTER_ADDR"));
}

// --data auto with no CIFAR-10 and no network fails with one line naming both ways out; it never
// trains on synthetic data on its own. (The proxy on a closed loopback port makes the download
// fail at once, network or not.)
TEST(TrainCli, DataAutoWithoutDataOrNetworkFailsNamingFetchAndSynthetic) {
  tdml::test::TempDir dir;
  const std::string cmd = "cd '" + dir.path() +
                          "' && env -u TDML_DATA https_proxy=http://127.0.0.1:9 "
                          "HTTPS_PROXY=http://127.0.0.1:9 '" +
                          tdml::test::tdml_binary() +
                          "' train --data auto --epochs 1 --limit-train-batches 1 --out run";
  const auto r = tdml::test::run_shell(cmd);
  const std::string& out = r.output;
  EXPECT_EQ(r.exit_code, 1) << out;
  EXPECT_NE(out.find("tdml: error: --data auto: no CIFAR-10"), std::string::npos) << out;
  EXPECT_NE(out.find("tdml data fetch"), std::string::npos) << out;
  EXPECT_NE(out.find("--data synthetic"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "run/metrics.json")) << out;
}
