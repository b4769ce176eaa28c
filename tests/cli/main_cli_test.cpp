#include <gtest/gtest.h>

#include "support/test_support.h"

using tdml::test::run_tdml;

TEST(Cli, NoArgumentsPrintsUsageAndExits2) {
  auto r = run_tdml("");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Usage: tdml <command>"), std::string::npos) << r.output;
}

TEST(Cli, UnknownCommandIsOneLineError) {
  auto r = run_tdml("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "tdml: error: unknown command 'frobnicate' (see 'tdml --help')\n");
}

TEST(Cli, VersionPrints) {
  auto r = run_tdml("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.rfind("tdml ", 0), 0u);
}

// Every group (bench, data, keys, ledger) dispatches the same way: its commands are listed and
// a missing or unknown one is one error line with exit 2.
TEST(Cli, EveryGroupListsItsCommandsTheSameWay) {
  for (const char* group : {"bench", "data", "keys", "ledger"}) {
    auto r = run_tdml(group);
    EXPECT_EQ(r.exit_code, 2) << group;
    EXPECT_NE(r.output.find(std::string("tdml: error: missing subcommand: tdml ") + group),
              std::string::npos)
        << r.output;
    r = run_tdml(std::string(group) + " frobnicate");
    EXPECT_EQ(r.exit_code, 2) << group;
    EXPECT_NE(r.output.find(std::string("unknown subcommand '") + group + " frobnicate'"),
              std::string::npos)
        << r.output;
    r = run_tdml(std::string(group) + " --help");
    EXPECT_EQ(r.exit_code, 0) << group;
    EXPECT_NE(r.output.find(std::string("Usage: tdml ") + group + " <subcommand>"),
              std::string::npos)
        << r.output;
  }
}

// One grammar for sizes and lists (apps/cli_values.h), whichever command reads them.
TEST(Cli, SizesAndListsShareOneGrammar) {
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {"bench allreduce --nproc 2 --sizes 4Q", "--sizes 4Q: unknown unit 'Q'"},
      {"bench allreduce --nproc 2 --sizes 6", "not a positive multiple of 4"},
      {"bench allreduce --nproc 2 --sizes 4K,", "expected a comma-separated list"},
      {"autobatch --mem-budget 12X", "--mem-budget 12X: unknown unit 'X'"},
      {"sweep --batch-sizes 8,x", "--batch-sizes 8,x: 'x' is not an integer"},
      {"bench scaling --nprocs 1,two --out /tmp/tdml-never", "'two' is not an integer"},
  };
  for (const auto& c : cases) {
    auto r = run_tdml(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

// Names and defaults agree across commands: --timeout is the collective timeout, rounds,
// downloads and child jobs have their own names, and the seed's default is 0 everywhere.
TEST(Cli, SharedFlagsMeanTheSameEverywhere) {
  for (const char* cmd : {"train", "bench allreduce"}) {
    auto r = run_tdml(std::string(cmd) + " --help");
    ASSERT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.output.find("--timeout arg"), std::string::npos) << cmd;
    EXPECT_EQ(r.output.find("--dist-timeout"), std::string::npos) << cmd;
  }
  // fl runs no collective (--nproc is a federation): its deadline is per round.
  const auto fl = run_tdml("fl --help").output;
  EXPECT_NE(fl.find("--round-timeout arg"), std::string::npos) << fl;
  EXPECT_EQ(fl.find("--timeout arg"), std::string::npos) << fl;
  EXPECT_NE(run_tdml("data fetch --help").output.find("--download-timeout"), std::string::npos);
  EXPECT_NE(run_tdml("bench scaling --help").output.find("--job-timeout"), std::string::npos);
  // An option's help, wrapped lines joined: from its name to the next option.
  auto help_of = [](const std::string& help, const std::string& flag) {
    const auto at = help.find(flag + " ");
    if (at == std::string::npos) return std::string();
    std::string text = help.substr(at, help.find("\n  -", at) - at);
    std::string joined;
    for (char c : text) {
      if (c == '\n') c = ' ';
      if (!(c == ' ' && !joined.empty() && joined.back() == ' ')) joined += c;
    }
    return joined;
  };
  for (const char* cmd : {"train", "fl", "sweep", "autobatch", "data synth"}) {
    const auto seed = help_of(run_tdml(std::string(cmd) + " --help").output, "--seed");
    ASSERT_FALSE(seed.empty()) << cmd;
    EXPECT_NE(seed.find("(default: 0)"), std::string::npos) << cmd << ": " << seed;
  }
  // --optimizer adamw changes the learning rate's default: --help says so instead of a number.
  const auto lr = help_of(run_tdml("train --help").output, "--lr");
  EXPECT_NE(lr.find("0.1 with sgd, 3e-4 with adamw"), std::string::npos) << lr;
}
