// A federation of real processes on loopback: `tdml fl server` and `tdml fl client`s, each
// client with its own key and shard; certificates made at test time with openssl.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/test_support.h"
#include "tdml/data/source.h"
#include "tdml/fl/shards.h"
#include "tdml/ledger/key_files.h"

namespace tdml::test {
namespace {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  return nlohmann::json::parse(in, nullptr, false);
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// The recipe every test's server and simulation share (small and fast).
const char* kRecipe =
    "--model tinycnn --rounds 2 --seed 7 --aggregator median --detect=false --augment=false "
    "--batch-size 32 --limit-test-batches 1 --eval-batch-size 100 --threads 1 --max-norm 0";

// kRecipe with another round count.
std::string recipe_with_rounds(int rounds) {
  std::string r = kRecipe;
  return r.replace(r.find("--rounds 2"), 10, "--rounds " + std::to_string(rounds));
}

class Federation : public ::testing::Test {
 protected:
  // Keys for the server and three clients, the enrolment, and shards of synthetic data, made
  // with the library calls behind `tdml keys gen --id`, `keys enroll` and `data split` (each
  // `tdml` process costs about a second of start-up: Debian's LibTorch loads 335 libraries).
  void SetUp() override {
    ledger::write_key_pair(path("server-keys"), "server");
    std::vector<ledger::PublicKey> clients;
    for (int k = 0; k < 3; ++k) {
      clients.push_back(ledger::write_key_pair(path("keys"), "client-" + std::to_string(k)));
    }
    ledger::write_enrollment(path("enrolled.json"), clients);
    fl::SplitOptions split;
    split.partition.clients = 3;
    split.partition.per_client = 48;
    split.partition.seed = 1;
    const data::DataSplits d = data::load_data("synthetic");
    fl::write_shards(d.train, d.test, d.description, path("shards"), split);
  }

  // A shell line that starts the server in the background ($SERVER its pid), waits for its
  // port ($PORT), then starts the clients given as "k:ENV" (ENV: variables for that client;
  // $Ck its pid), runs `then` (more shell), and waits for them all.
  std::string federation(const std::string& server_flags, const std::vector<std::string>& clients,
                         bool faults = false, const std::string& then = "") const {
    const auto b = tdml_binary();
    std::ostringstream s;
    s << "cd " << dir_.path() << "; rm -f port; " << b
      << " fl server --listen 127.0.0.1:0 --port-file port --enrolled enrolled.json"
      << " --key server-keys/server.key --data shards/server --out server " << kRecipe << " "
      << server_flags << " > server.out 2>&1 & SERVER=$!; "
      << "for i in $(seq 100); do [ -s port ] && break; sleep 0.1; done; PORT=$(cat port); "
      << "PIDS=''; ";
    for (const auto& c : clients) {
      const auto k = c.substr(0, c.find(':'));
      const auto env = c.find(':') == std::string::npos ? "" : c.substr(c.find(':') + 1);
      s << client(k, env, faults) << " & C" << k << "=$!; PIDS=\"$PIDS $!\"; ";
    }
    s << then << " wait $SERVER; RC=$?; for p in $PIDS; do wait $p; done; cat server.out; exit $RC";
    return s.str();
  }

  // The command of client k (output appended to ck.out) with the variables `env`.
  std::string client(const std::string& k, const std::string& env, bool faults) const {
    return env + " " + (faults ? std::string(TDML_FAULT_BIN) : tdml_binary()) +
           " fl client --server 127.0.0.1:$PORT --id client-" + k + " --key keys/client-" + k +
           ".key --data shards/client-" + k + " --out c" + k +
           " --threads 1 --connect-timeout 20 " + client_flags_ + " >> c" + k + ".out 2>&1";
  }

  // Client k's receipts equal the ledger's record of its updates: one receipt for each update
  // the ledger took (its round, update hash and block), none for any other, none twice.
  void expect_receipts_match_the_ledger(int k) const {
    const auto id = "client-" + std::to_string(k);
    std::multiset<std::string> taken, receipts;
    const auto blocks = read_lines(path("server/ledger.jsonl"));
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      for (const auto& e : blocks[b].value("clients", nlohmann::json::array())) {
        const auto status = e["status"].get<std::string>();
        if (e["id"] == id && (status == "accepted" || status == "clipped" || status == "flagged")) {
          taken.insert(std::to_string(blocks[b]["round"].get<int>()) + " " +
                       e["update_hash"].get<std::string>() + " " + std::to_string(b));
        }
      }
    }
    for (const auto& r : read_lines(path("c" + std::to_string(k) + "/receipts.jsonl"))) {
      receipts.insert(std::to_string(r["round"].get<int>()) + " " +
                      r["update_hash"].get<std::string>() + " " +
                      std::to_string(r["block_index"].get<std::int64_t>()));
    }
    EXPECT_FALSE(taken.empty());
    EXPECT_EQ(receipts, taken) << id;
  }

  std::string path(const std::string& p) const { return dir_ / p; }
  void server_killed_then_resumed(const std::string& fault, const std::string& extra = "");

  TempDir dir_;
  std::string client_flags_ = "--insecure";
};

TEST_F(Federation, LoopbackRunEqualsTheInProcessSimulationOnTheSameShards) {
  client_flags_ += " --server-pubkey " + path("server-keys/server.pub.json");
  const auto r = run_shell(federation("--insecure --min-clients 3", {"0", "1", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto sim = run_tdml(std::string("fl --shards ") + path("shards") + " " + kRecipe +
                            " --out " + path("sim"));
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  const auto net = read_json_file(path("server/metrics.json"));
  const auto ref = read_json_file(path("sim/metrics.json"));
  ASSERT_TRUE(net.is_object() && ref.is_object());
  EXPECT_EQ(net["status"], "completed");
  ASSERT_EQ(net["rounds"].size(), 2u);
  EXPECT_EQ(net["rounds"][1]["sampled"], nlohmann::json({0, 1, 2}));
  EXPECT_FALSE(net["final_model_hash"].get<std::string>().empty());
  EXPECT_EQ(net["final_model_hash"], ref["final_model_hash"]);
  EXPECT_GT(net["rounds"][0]["comm_bytes_up"].get<double>(), 3 * 4 * 1000.0);
  // Every client got a receipt per round, naming the ledger block of that round.
  for (int k = 0; k < 3; ++k) {
    const auto receipts = read_lines(path("c" + std::to_string(k) + "/receipts.jsonl"));
    ASSERT_EQ(receipts.size(), 2u) << "client " << k;
    EXPECT_EQ(receipts[1]["round"], 2);
    EXPECT_EQ(receipts[1]["client"], "client-" + std::to_string(k));
    const auto cm = read_json_file(path("c" + std::to_string(k) + "/metrics.json"));
    EXPECT_EQ(cm["status"], "completed");
    EXPECT_EQ(cm["receipts"], 2);
    EXPECT_EQ(cm["receipts_verified"], true);
  }
  // Each client proves its receipts against the ledger from the server's public key alone; an
  // edited receipt fails.
  const auto check = std::string("ledger check-receipt ") + path("c1/receipts.jsonl") +
                     " --ledger " + path("server/ledger.jsonl") + " --server-pubkey " +
                     path("server-keys/server.pub.json");
  auto cr = run_tdml(check);
  EXPECT_EQ(cr.exit_code, 0) << cr.output;
  EXPECT_NE(cr.output.find("receipts OK: 2 of 2 in the ledger"), std::string::npos) << cr.output;
  auto edited = read_lines(path("c1/receipts.jsonl"));
  edited[1]["update_hash"] = std::string(64, 'a');
  std::ofstream(path("c1/receipts.jsonl")) << edited[0].dump() << "\n" << edited[1].dump() << "\n";
  cr = run_tdml(check);
  EXPECT_EQ(cr.exit_code, 1) << cr.output;
  EXPECT_NE(cr.output.find("not the server's"), std::string::npos) << cr.output;
  const auto blocks = read_lines(path("server/ledger.jsonl"));
  ASSERT_GE(blocks.size(), 2u);
  EXPECT_EQ(blocks.back()["sampled"], nlohmann::json({"client-0", "client-1", "client-2"}));
  EXPECT_FALSE(blocks.back()["run_id"].get<std::string>().empty());
}

TEST_F(Federation, ClientKilledMidRunIsDroppedAndTheRunCompletes) {
  const auto r =
      run_shell(federation("--insecure --min-clients 2 --min-available 3 --round-timeout 20",
                           {"0", "1", "2:TDML_TEST_FL_DIE_ROUND=2"}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["status"], "completed");
  EXPECT_EQ(net["rounds"][1]["dropped"], nlohmann::json({2}));
  const auto blocks = read_lines(path("server/ledger.jsonl"));
  bool dropped = false;
  for (const auto& c : blocks.back()["clients"]) {
    if (c["id"] == "client-2") dropped = c["status"] == "dropped";
  }
  EXPECT_TRUE(dropped) << blocks.back().dump();
}

TEST_F(Federation, ClientPastTheDeadlineIsLateAndNotAggregated) {
  // A 2-second deadline (longer in a sanitizer build, whose clients train slower); client-2
  // waits twice that before it trains round 1.
  const auto deadline = std::to_string(static_cast<int>(2 * time_scale()));
  const auto delay = std::to_string(static_cast<int>(4 * time_scale()));
  const auto r = run_shell(federation(
      "--insecure --min-clients 2 --min-available 3 --round-timeout " + deadline,
      {"0", "1", "2:TDML_TEST_FL_DELAY_ROUND=1 TDML_TEST_FL_DELAY_S=" + delay}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["rounds"][0]["late"], nlohmann::json({2})) << net["rounds"][0].dump() << r.output;
  EXPECT_EQ(net["rounds"][0]["aggregated"], nlohmann::json({0, 1}));
}

TEST_F(Federation, AClientBusyPastTheKeepaliveButWithinTheDeadlineIsTaken) {
  // An 8-second deadline: the server pings every 2 s and gives up on a peer after 2 s more.
  // client-2 is busy for 6 s before it sends (as a slow trainer is): its connection must stay
  // answered meanwhile (a read is always pending), so its update counts.
  const auto deadline = std::to_string(static_cast<int>(8 * time_scale()));
  const auto delay = std::to_string(static_cast<int>(6 * time_scale()));
  const auto r = run_shell(federation(
      "--insecure --min-clients 3 --min-available 3 --max-round-retries 0 --round-timeout " +
          deadline,
      {"0", "1", "2:TDML_TEST_FL_DELAY_ROUND=1 TDML_TEST_FL_DELAY_S=" + delay}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["rounds"][0]["dropped"], nlohmann::json::array()) << net["rounds"][0].dump();
  EXPECT_EQ(net["rounds"][0]["aggregated"], nlohmann::json({0, 1, 2}));
}

TEST_F(Federation, AReceiptLostInFlightIsSentAgainWhenTheClientReconnects) {
  // client-2's connection drops just as round 1's receipt arrives: it reconnects, and the server
  // sends every receipt it issued to client-2 again; the client keeps one of each.
  client_flags_ += " --server-pubkey " + path("server-keys/server.pub.json");
  const auto r = run_shell(federation(
      std::string("--insecure --min-clients 2 --min-available 3 --round-timeout 20 ") +
          recipe_with_rounds(3),
      {"0", "1", "2:TDML_TEST_FL_LOSE_RECEIPT_ROUND=1"}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(path("c2.out"));
  std::stringstream c2;
  c2 << in.rdbuf();
  EXPECT_NE(c2.str().find("connection lost"), std::string::npos) << c2.str();
  for (int k = 0; k < 3; ++k) expect_receipts_match_the_ledger(k);
  const auto receipts = read_lines(path("c2/receipts.jsonl"));
  ASSERT_FALSE(receipts.empty());
  EXPECT_EQ(receipts[0]["round"], 1);
  EXPECT_EQ(read_json_file(path("c2/metrics.json"))["receipts"], receipts.size());
  const auto cr = run_tdml("ledger check-receipt " + path("c2/receipts.jsonl") + " --ledger " +
                           path("server/ledger.jsonl") + " --server-pubkey " +
                           path("server-keys/server.pub.json"));
  EXPECT_EQ(cr.exit_code, 0) << cr.output;
}

TEST_F(Federation, AClientRestartedAfterTheEndGetsItsReceiptsOnceAndItsTornLineIsCut) {
  // client-2 is SIGKILLed in round 3 before it answers; its receipts.jsonl then gets a torn
  // line, and it is started again with the same --out, by which time the run is over: the
  // lingering server sends it its receipts (again) and Done.
  const auto then = std::string("wait $C2; printf '{\"run_id\":\"to' >> c2/receipts.jsonl; ") +
                    client("2", "", false) + " & PIDS=\"$PIDS $!\"; ";
  const auto r = run_shell(federation(
      std::string("--insecure --min-clients 2 --min-available 3 --round-timeout 20 "
                  "--linger 30 ") + recipe_with_rounds(3),
      {"0", "1", "2:TDML_TEST_FL_DIE_ROUND=3"}, true, then));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int k = 0; k < 3; ++k) expect_receipts_match_the_ledger(k);
  const auto receipts = read_lines(path("c2/receipts.jsonl"));  // parses: the torn line is gone
  ASSERT_EQ(receipts.size(), 2u);
  const auto cm = read_json_file(path("c2/metrics.json"));
  EXPECT_EQ(cm["status"], "completed");
  EXPECT_EQ(cm["restarts"], 1);
  EXPECT_EQ(cm["receipts"], 2);
  EXPECT_EQ(cm["rounds"].size(), 3u);  // the first process's: round 3 computed, killed unsent
  std::ifstream in(path("c2.out"));
  std::stringstream c2;
  c2 << in.rdbuf();
  EXPECT_NE(c2.str().find("torn line"), std::string::npos) << c2.str();
}

TEST_F(Federation, QuorumNeverMetRetriesThenFailsWithOneClearError) {
  const auto r = run_shell(
      federation("--insecure --min-clients 3 --join-timeout 1 --max-round-retries 1", {"0", "1"}));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("quorum not met"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("retrying with a new sample"), std::string::npos) << r.output;
  EXPECT_EQ(read_json_file(path("server/metrics.json"))["status"], "failed");
}

TEST_F(Federation, AClientSigningWithAnotherKeyIsRefusedAndTheOthersGoOn) {
  // client-2 presents client-2's id but signs with a key of its own making.
  ASSERT_EQ(run_shell("cd " + dir_.path() + " && " + tdml_binary() +
                      " keys gen --id client-2 --out forged >/dev/null && cp forged/client-2.key "
                      "keys/client-2.key")
                .exit_code,
            0);
  const auto r =
      run_shell(federation("--insecure --min-clients 2 --min-available 3", {"0", "1", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["rounds"][0]["refused"], nlohmann::json({2}));
  EXPECT_EQ(net["rounds"][0]["aggregated"], nlohmann::json({0, 1}));
  EXPECT_NE(r.output.find("client 2 refused: bad signature"), std::string::npos) << r.output;
}

TEST_F(Federation, GarbledShortAndOversizedUpdatesAreRefusedAndTheServerServesTheOthers) {
  // client-1 flips a byte after signing, client-2 sends 4 bytes too few: refused, then late.
  auto r = run_shell(
      federation("--insecure --min-clients 1 --min-available 3 --round-timeout " +
                     std::to_string(static_cast<int>(8 * time_scale())),
                 {"0", "1:TDML_TEST_FL_UPDATE=garble", "2:TDML_TEST_FL_UPDATE=short"}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["rounds"][0]["aggregated"], nlohmann::json({0}));
  EXPECT_EQ(net["rounds"][0]["refused"], nlohmann::json({1}));
  EXPECT_EQ(net["rounds"][0]["late"], nlohmann::json({2})) << net["rounds"][0].dump() << r.output;
  EXPECT_NE(r.output.find("client-2's update refused: update of"), std::string::npos) << r.output;
  // client-2 sends 1 MiB more than the model: gRPC refuses the message, the client is dropped.
  run_shell("rm -rf " + path("server"));
  r = run_shell(federation("--insecure --min-clients 2 --min-available 3 --round-timeout 20",
                           {"0", "1", "2:TDML_TEST_FL_UPDATE=oversize"}, true));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["status"], "completed");
  EXPECT_EQ(net["rounds"][0]["aggregated"], nlohmann::json({0, 1}));
  EXPECT_EQ(net["rounds"][0]["dropped"], nlohmann::json({2}));
}

TEST_F(Federation, AClientRefusesAReceiptTheServersKeyDidNotSign) {
  // The client pins another key as the server's: the first receipt fails and the client exits.
  ASSERT_EQ(run_shell("cd " + dir_.path() + " && " + tdml_binary() +
                      " keys gen --id server --out impostor >/dev/null")
                .exit_code,
            0);
  client_flags_ += " --server-pubkey " + path("impostor/server.pub.json");
  run_shell(federation("--insecure --min-clients 1 --join-timeout 3 --max-round-retries 0", {"0"}));
  std::ifstream in(path("c0.out"));
  std::stringstream c0;
  c0 << in.rdbuf();
  EXPECT_NE(c0.str().find("does not verify"), std::string::npos) << c0.str();
  EXPECT_EQ(read_json_file(path("c0/metrics.json"))["status"], "failed");
}

TEST_F(Federation, AnUnenrolledClientIsRefusedWithAClearError) {
  ASSERT_EQ(run_shell("cd " + dir_.path() + " && " + tdml_binary() +
                      " keys gen --id client-9 --out keys >/dev/null && cp -r shards/client-0 "
                      "shards/client-9")
                .exit_code,
            0);
  const auto r = run_shell(federation("--insecure --min-clients 3", {"0", "1", "2", "9"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(path("c9.out"));
  std::stringstream c9;
  c9 << in.rdbuf();
  EXPECT_NE(c9.str().find("not enrolled"), std::string::npos) << c9.str();
}

TEST_F(Federation, TheServerRefusesToHoldAClientSecret) {
  ASSERT_EQ(run_shell("cp " + path("keys/client-1.key") + " " + path("server-keys/")).exit_code, 0);
  const auto r = run_tdml("fl server --insecure --enrolled " + path("enrolled.json") + " --key " +
                          path("server-keys/server.key") + " --data " + path("shards/server") +
                          " --out " + path("server"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("public keys only"), std::string::npos) << r.output;
}

// The server SIGKILLed at `fault` (a TDML_TEST_FL_SERVER_DIE_* variable) in round 1, restarted
// with the same command: the run ends as an uninterrupted one, its ledger whole.
void Federation::server_killed_then_resumed(const std::string& fault, const std::string& extra) {
  const auto b = tdml_binary();
  auto recipe = recipe_with_rounds(3);
  if (extra.find("--aggregator ") != std::string::npos) {
    recipe.erase(recipe.find("--aggregator median"), 19);
  }
  recipe += " " + extra;
  const std::string server =
      " fl server --listen 127.0.0.1:$PORT --enrolled enrolled.json "
      "--key server-keys/server.key --data shards/server --out server "
      "--insecure --min-clients 3 " +
      recipe;
  std::ostringstream s;
  s << "cd " << dir_.path() << "; PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); "
    << "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'); " << fault << "=1 "
    << TDML_FAULT_BIN << server << " > s1.out 2>&1 & S=$!; PIDS=''; for k in 0 1 2; do " << b
    << " fl client --server 127.0.0.1:$PORT --insecure --id client-$k --key keys/client-$k.key"
    << " --data shards/client-$k --out c$k --threads 1 --connect-timeout 60 > c$k.out 2>&1 & "
    << "PIDS=\"$PIDS $!\"; done; wait $S; echo first server exit $?; " << b << server
    << " > s2.out 2>&1; RC=$?; for p in $PIDS; do wait $p; done; cat s1.out s2.out; exit $RC";
  const auto r = run_shell(s.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("first server exit 137"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resuming run"), std::string::npos) << r.output;
  const auto sim =
      run_tdml("fl --shards " + path("shards") + " " + recipe + " --out " + path("sim"));
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  const auto net = read_json_file(path("server/metrics.json"));
  EXPECT_EQ(net["status"], "completed");
  EXPECT_EQ(net["resumed_after_round"], 1);
  EXPECT_EQ(net["rounds"].size(), 3u);
  EXPECT_EQ(net["final_model_hash"], read_json_file(path("sim/metrics.json"))["final_model_hash"]);
  const auto blocks = read_lines(path("server/ledger.jsonl"));
  ASSERT_EQ(blocks.size(), 4u);  // the genesis and one block a round
  EXPECT_EQ(blocks[0]["kind"], "genesis");
  EXPECT_EQ(blocks[0]["trust"], "federation");
  EXPECT_EQ(blocks[0]["run_id"], blocks[3]["run_id"]);
  EXPECT_EQ(blocks[3]["round"], 3);
  // A third party audits it from the server's public key alone (the genesis lists the clients').
  const auto v = run_tdml("ledger verify " + path("server/ledger.jsonl") + " --server-pubkey " +
                          path("server-keys/server.pub.json"));
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("9 client signatures valid"), std::string::npos) << v.output;
  // These tests talk plaintext (--insecure): the genesis says so, and so does verify.
  EXPECT_EQ(blocks[0]["transport"], "grpc-insecure");
  EXPECT_NE(v.output.find("(trust federation, transport grpc-insecure)"), std::string::npos)
      << v.output;
  EXPECT_NE(v.output.find("PLAINTEXT"), std::string::npos) << v.output;
  // No receipt lost with the first server: the resumed one sends those of the rounds in the
  // ledger again (a kill between the block and its receipts loses them otherwise).
  for (int k = 0; k < 3; ++k) expect_receipts_match_the_ledger(k);
}

TEST_F(Federation, AServerKilledAfterARoundResumesAndEndsAsAnUninterruptedRun) {
  server_killed_then_resumed("TDML_TEST_FL_SERVER_DIE_AFTER_ROUND");
}

// What the next round depends on beyond the model (FedAvgM's momentum, cclip's centre) is
// restored too.
TEST_F(Federation, AResumedServerRestoresItsMomentumAndClippingCentre) {
  server_killed_then_resumed("TDML_TEST_FL_SERVER_DIE_AFTER_ROUND",
                             "--server-opt avgm --server-momentum 0.9 --aggregator cclip");
}

// Killed between appending round 1's block and committing its state: the restart finds the
// pending state, sees the block in the ledger, and resumes after round 1 (no round twice).
TEST_F(Federation, AServerKilledBetweenItsBlockAndItsStateResumesWithoutARoundTwice) {
  server_killed_then_resumed("TDML_TEST_FL_SERVER_DIE_AFTER_BLOCK");
}

// TLS: a CA, a server certificate for 127.0.0.1, and a client that trusts another CA.
class FederationTls : public Federation {
 protected:
  void SetUp() override {
    Federation::SetUp();
    const auto r = run_shell(
        "set -e; cd " + dir_.path() +
        "; for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
        "/CN=$ca -keyout $ca.key -out $ca.crt 2>/dev/null; done; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out "
        "server.csr 2>/dev/null; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.crt 2>/dev/null; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=client-0 -keyout client.key -out "
        "client.csr 2>/dev/null; openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -days 2 -out client.crt 2>/dev/null");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string tls_server() const {
    return "--tls-cert " + path("server.crt") + " --tls-key " + path("server.key");
  }
};

TEST_F(FederationTls, RunsOverTlsAndAClientTrustingAnotherCaCannotJoin) {
  client_flags_ = "--tls-ca " + path("ca.crt");
  const auto r = run_shell(federation(tls_server() + " --min-clients 2", {"0", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(path("server/metrics.json"))["config"]["transport"], "grpc-tls");
  EXPECT_EQ(read_lines(path("server/ledger.jsonl"))[0]["transport"], "grpc-tls");
  const auto v = run_tdml("ledger verify " + path("server/ledger.jsonl") + " --server-pubkey " +
                          path("server-keys/server.pub.json"));
  EXPECT_NE(v.output.find("transport grpc-tls"), std::string::npos) << v.output;
  EXPECT_EQ(v.output.find("PLAINTEXT"), std::string::npos) << v.output;
  run_shell("rm -rf " + path("server"));
  client_flags_ = "--tls-ca " + path("other.crt") + " --connect-timeout 2";
  const auto bad = run_shell(federation(tls_server() + " --min-clients 1 --join-timeout 3 "
                                                       "--max-round-retries 0",
                                        {"0"}));
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  std::ifstream in(path("c0.out"));
  std::stringstream c0;
  c0 << in.rdbuf();
  EXPECT_NE(c0.str().find("no connection"), std::string::npos) << c0.str();
}

TEST_F(FederationTls, MutualTlsAdmitsACertifiedClientAndRefusesOneWithoutACertificate) {
  const std::string mtls = tls_server() + " --tls-client-ca " + path("ca.crt");
  client_flags_ = "--tls-ca " + path("ca.crt") + " --tls-client-cert " + path("client.crt") +
                  " --tls-client-key " + path("client.key");
  const auto r = run_shell(federation(mtls + " --min-clients 1", {"0"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(path("server/metrics.json"))["config"]["transport"], "grpc-mtls");
  run_shell("rm -rf " + path("server"));
  client_flags_ = "--tls-ca " + path("ca.crt") + " --connect-timeout 2";
  const auto bad = run_shell(
      federation(mtls + " --min-clients 1 --join-timeout 3 --max-round-retries 0", {"0"}));
  EXPECT_NE(bad.exit_code, 0) << bad.output;
}

}  // namespace
}  // namespace tdml::test
