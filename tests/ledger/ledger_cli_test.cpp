// `tdml ledger verify|show`: exit codes and the one-line summary an auditor reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "ledger_fixture.h"
#include "tdml/ledger/canonical_json.h"

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
  // A warning (this test ledger has no genesis block), then the one-line summary.
  EXPECT_NE(r.output.find("no genesis block"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nledger OK: 4 blocks"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;

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
  EXPECT_NE(r.output.find("ledger BROKEN at block 1: "), std::string::npos) << r.output;

  r = run_tdml("ledger frobnicate");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(LedgerCli, BenchRunsSmall) {
  tdml::test::TempDir dir;
  auto r = run_tdml("ledger bench --blocks 5 --clients 3 --fsync=false --out '" + (dir / "b") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ledger OK: 5 blocks"), std::string::npos) << r.output;
}

// The ledger format is checkable without tdml: scripts/ledger/verify_ledger.py (hashlib and
// the cryptography package) re-derives hashes and checks the Ed25519 signatures.
TEST(LedgerCli, PythonReferenceVerifierAgrees) {
  TDML_REQUIRE(std::system("/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1") == 0,
               "/usr/bin/python3 with the cryptography package");
  tdml::test::TempDir dir;
  auto keys = KeyRing::generate(Scheme::kEd25519, 3);
  keys.save(dir / "keys");
  const auto path = write_ledger(dir.path(), keys, 3, 3);
  // The source tree from this file's path: tests/ledger/ledger_cli_test.cpp.
  const auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  const std::string script = (root / "scripts/ledger/verify_ledger.py").string();
  const std::string cmd =
      "/usr/bin/python3 '" + script + "' '" + path + "' '" + (dir / "keys") + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  auto lines = read_lines(path);
  auto j = nlohmann::json::parse(lines[1]);
  j["clients"][0]["samples"] = 1;  // edited: Python must notice too
  lines[1] = canonical_json(j);
  write_lines(path, lines);
  EXPECT_NE(std::system((cmd + " >/dev/null 2>&1").c_str()), 0);
}
