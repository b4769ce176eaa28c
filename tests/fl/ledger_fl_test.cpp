// `tdml fl --ledger`: every client signs its update, the server verifies before aggregating, a
// forging client's updates are rejected and recorded, and the ledger verifies afterwards.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "tdml/util/fs.h"

namespace tdml::fl {
namespace {

using test::run_tdml;
using test::TempDir;

std::vector<nlohmann::json> blocks(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(util::read_file(path));
  for (std::string line; std::getline(in, line);) {
    auto b = nlohmann::json::parse(line);
    if (b["kind"] != "genesis") out.push_back(b);  // the rounds' blocks
  }
  return out;
}

const char kRun[] =
    "fl --data synthetic --model tinycnn --clients 4 --per-client 40 --rounds 2 --local train "
    "--batch-size 20 --attack none --aggregator median --limit-test-batches 1 --eval-batch-size 50 "
    "--threads 1 -q ";

TEST(FlLedger, ForgingClientIsRejectedAndRecordedAndTheLedgerVerifies) {
  TempDir dir;
  const std::string out = dir / "run";
  auto r = run_tdml(std::string(kRun) + "--out '" + out + "' --ledger '" + out +
                    "/ledger.jsonl' --forge-client 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto bs = blocks(out + "/ledger.jsonl");
  ASSERT_EQ(bs.size(), 2u);
  for (const auto& b : bs) {
    EXPECT_EQ(b["kind"], "fl_round");
    ASSERT_EQ(b["clients"].size(), 4u);
    for (const auto& c : b["clients"]) {
      if (c["id"] == "client-2") {
        EXPECT_EQ(c["status"], "refused");
        EXPECT_EQ(c["reason"], "bad signature");
      } else {
        EXPECT_NE(c["status"], "refused") << c.dump();
      }
    }
  }
  // The metrics agree: client 2 was refused and never aggregated.
  auto m = nlohmann::json::parse(util::read_file(out + "/metrics.json"));
  EXPECT_EQ(m["rounds"][0]["refused"], nlohmann::json::array({2}));
  // Round 2 starts from round 1's result.
  EXPECT_NE(bs[1]["model_before"], bs[0]["model_before"]);
  EXPECT_EQ(bs[1]["model_before"], bs[0]["model_after"]);  // model continuity
  EXPECT_EQ(bs[1]["model_after"], m["final_model_hash"]);

  // Fresh keys were written to --out/keys; an auditor verifies with the public manifest only.
  auto v = run_tdml("ledger verify '" + out + "/ledger.jsonl' --keys '" + out + "/keys'");
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("2 refused or rejected updates"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("6 client signatures valid"), std::string::npos) << v.output;

  // Marking the forged update "accepted" afterwards is caught: its signature does not verify.
  auto text = util::read_file(out + "/ledger.jsonl");
  const auto at = text.find("\"reason\":\"bad signature\",\"samples\":40,\"score\"");
  ASSERT_NE(at, std::string::npos) << text.substr(0, 400);
  const auto st = text.find("\"status\":\"refused\"", at);
  ASSERT_NE(st, std::string::npos);
  text.replace(st, 18, "\"status\":\"accepted\"");
  util::write_file_atomic(out + "/ledger.jsonl", text);
  v = run_tdml("ledger verify '" + out + "/ledger.jsonl' --keys '" + out + "/keys'");
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_EQ(v.output.rfind("ledger BROKEN at block 1", 0), 0u) << v.output;
}

}  // namespace
}  // namespace tdml::fl
