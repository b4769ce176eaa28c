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
