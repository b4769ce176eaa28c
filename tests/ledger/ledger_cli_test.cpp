// `tdml ledger verify|show`: exit codes and the one-line summary an auditor reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "ledger_fixture.h"

using namespace tdml::ledger;
using namespace tdml::ledger::testing;
using tdml::test::run_tdml;

TEST(LedgerCli, VerifyOkThenBrokenAndShowTable) {
  tdml::test::TempDir dir;
  auto keys = KeyRing::generate(Scheme::kEd25519, 3);
  keys.save(dir / "keys");
  const auto path = write_ledger(dir.path(), keys, 4, 3);
  // Only the public manifest goes to the auditor.
  std::filesystem::create_directories(dir / "pub");
  std::filesystem::copy_file(dir / "keys/keys.json", dir / "pub/keys.json");

  auto r = run_tdml("ledger verify '" + path + "' --keys '" + (dir / "pub") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ledger OK: 4 blocks", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  r = run_tdml("ledger show '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("accepted"), std::string::npos);
  EXPECT_NE(r.output.find("test_acc=0.35"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 5) << r.output;

  auto lines = read_lines(path);
  std::swap(lines[1], lines[2]);
  write_lines(path, lines);
  r = run_tdml("ledger verify '" + path + "' --keys '" + (dir / "pub") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("ledger BROKEN at block 1: ", 0), 0u) << r.output;

  r = run_tdml("ledger frobnicate");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(LedgerCli, BenchRunsSmall) {
  tdml::test::TempDir dir;
  auto r = run_tdml("ledger bench --blocks 5 --clients 3 --no-fsync --out '" + (dir / "b") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ledger OK: 5 blocks"), std::string::npos) << r.output;
}
