#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.h"
#include "tdml/util/fs.h"

namespace {

using tdml::test::run_tdml;
using tdml::test::TempDir;

TEST(DataCli, MissingOrUnknownSubcommandIsUsageError) {
  auto r = run_tdml("data");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("tdml: error: missing subcommand: tdml data bench|fetch|info|split|synth\n"),
            std::string::npos)
      << r.output;
  r = run_tdml("data frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown subcommand 'data frobnicate'"), std::string::npos) << r.output;
  r = run_tdml("data --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Usage: tdml data"), std::string::npos);
}

TEST(DataCli, BadOptionsExit2) {
  auto r = run_tdml("data synth");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--out DIR is required"), std::string::npos) << r.output;
  TempDir t;
  r = run_tdml("data synth --out " + t.path() + " --train 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--train must be >= 5"), std::string::npos) << r.output;
  r = run_tdml("data synth --out " + t.path() + " --train many");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_tdml("data info --bogus");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_tdml("data bench --data synthetic --batch-size 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(DataCli, BadDataDirExit1WithOneLine) {
  TempDir t;
  auto r = run_tdml("data info --data " + t.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind("tdml: error: CIFAR-10 folder " + t.path() + " has the wrong layout", 0),
            0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  r = run_tdml("data info --data " + t.path() + "/missing");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
}

TEST(DataCli, SynthThenInfoCountsPerClass) {
  TempDir t;
  auto r = run_tdml("data synth --out " + t.path() + " --train 100 --test 20 --seed 7");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(t.path() + "/cifar-10-batches-bin"), std::string::npos);
  r = run_tdml("data info --data " + t.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train       100"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" 10 10 10 10 10 10 10 10 10 10\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" 2 2 2 2 2 2 2 2 2 2\n"), std::string::npos) << r.output;
  // Same seed, same bytes through the CLI too.
  TempDir u;
  ASSERT_EQ(run_tdml("data synth --out " + u.path() + " --train 100 --test 20 --seed 7").exit_code,
            0);
  EXPECT_EQ(tdml::util::read_file(t / "cifar-10-batches-bin/data_batch_3.bin"),
            tdml::util::read_file(u / "cifar-10-batches-bin/data_batch_3.bin"));
}

TEST(DataCli, BenchRunsOnSyntheticData) {
  auto r = run_tdml("data bench --data synthetic --batch-size 64 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tdml pipeline: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("img/s (batch 64, workers 2)"), std::string::npos) << r.output;
}

}  // namespace
