// Signed tree heads and Merkle proofs over a real ledger: every block provable, every mutation
// of a proof caught, and the attacks an auditor pins a head or a key against: rollback, a fork,
// key substitution, and a verify without any key.
#include "tdml/ledger/proofs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ledger_fixture.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/genesis.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::ledger::testing {
namespace {

using test::run_tdml;

std::string proofs_read(const std::string& p) { return util::read_file(p); }

// A ledger of `blocks` rounds written into dir; returns its path.
std::string proofs_ledger(const test::TempDir& dir, const KeyRing& keys, int blocks) {
  return write_ledger(dir.path(), keys, blocks, 3);
}

TEST(LedgerProofs, EveryBlockAndClientEntryIsProvableAgainstTheSignedHead) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const auto path = proofs_ledger(dir, keys, 7);
  const auto head = SignedHead::read(head_path(path));
  EXPECT_EQ(head.size, 7);
  const auto server = keys.verifier(kServerKeyId);
  for (int i = 0; i < 7; ++i) {
    const auto p = prove_inclusion(path, i, "client-1");
    const auto c = check_proof(p, head, server.get());
    EXPECT_TRUE(c.ok) << i << ": " << c.reason;
    EXPECT_NE(c.summary.find("client-1's entry"), std::string::npos) << c.summary;
  }
  EXPECT_THROW(prove_inclusion(path, 7), tdml::Error);
  EXPECT_THROW(prove_inclusion(path, 0, "client-9"), tdml::Error);
}

TEST(LedgerProofs, EveryMutationOfAnInclusionProofFails) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const auto path = proofs_ledger(dir, keys, 6);
  const auto head = SignedHead::read(head_path(path));
  const auto server = keys.verifier(kServerKeyId);
  const auto good = prove_inclusion(path, 3, "client-0");
  ASSERT_TRUE(check_proof(good, head, server.get()).ok);
  std::vector<std::pair<std::string, nlohmann::json>> bad;
  auto p = good;
  p["index"] = 2;
  bad.push_back({"wrong index", p});
  p = good;
  p["leaf"] = p["leaf"].get<std::string>().replace(10, 1, "X");
  bad.push_back({"edited leaf", p});
  p = good;
  auto node = p["path"][0].get<std::string>();
  node[0] = node[0] == '0' ? '1' : '0';
  p["path"][0] = node;
  bad.push_back({"flipped node", p});
  p = good;
  p["path"].push_back(std::string(64, 'a'));
  bad.push_back({"extra node", p});
  p = good;
  p["path"].erase(p["path"].size() - 1);
  bad.push_back({"missing node", p});
  p = good;
  p["path"] = nlohmann::json::array();
  bad.push_back({"empty path", p});
  p = good;
  p["head"]["size"] = 5;
  p["head"]["index"] = 4;
  bad.push_back({"other tree size", p});
  p = good;
  p["client"]["samples"] = 1;
  bad.push_back({"edited client entry", p});
  p = good;
  p["head"]["sig"] = std::string(128, '0');
  bad.push_back({"forged head signature", p});
  for (const auto& [what, proof] : bad) {
    EXPECT_FALSE(check_proof(proof, head, server.get()).ok) << what;
  }
  // Against another ledger's head it fails too.
  test::TempDir other;
  const auto other_path = proofs_ledger(other, fixed_keys(Scheme::kEd25519, 3, "x"), 6);
  EXPECT_FALSE(check_proof(good, SignedHead::read(head_path(other_path)), nullptr).ok);
}

TEST(LedgerProofs, ConsistencyProofShowsTheLedgerOnlyGrew) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const auto path = proofs_ledger(dir, keys, 3);
  const auto old_head = SignedHead::read(head_path(path));
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    append_rounds(*l, path, keys, 4, 9, 3);
  }
  const auto server = keys.verifier(kServerKeyId);
  const auto p = prove_consistency(path, old_head);
  const auto c = check_proof(p, old_head, server.get());
  EXPECT_TRUE(c.ok) << c.reason;
  EXPECT_NE(c.summary.find("9 blocks extends the trusted head of 3"), std::string::npos);
  auto q = p;
  q["old_size"] = 2;
  EXPECT_FALSE(check_proof(q, old_head, server.get()).ok);
  q = p;
  q["path"].erase(0);
  EXPECT_FALSE(check_proof(q, old_head, server.get()).ok);
}

// Rollback: an older ledger and its (validly signed) head put back. A fork: the same key signs
// another history. Both verify on their own; a pinned earlier head catches them.
TEST(LedgerProofs, TrustedHeadCatchesRollbackAndFork) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const auto path = proofs_ledger(dir, keys, 3);
  const auto old_ledger = proofs_read(path);
  const auto old_head_text = proofs_read(head_path(path));
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    append_rounds(*l, path, keys, 4, 5, 3);
  }
  const auto seen = SignedHead::read(head_path(path));  // the auditor kept this head
  VerifyOptions vo;
  vo.keys = &keys;
  vo.trusted_head = &seen;
  EXPECT_TRUE(verify_ledger(path, vo).ok) << verify_ledger(path, vo).summary();

  util::write_file_atomic(path, old_ledger);
  util::write_file_atomic(head_path(path), old_head_text);
  VerifyOptions plain;
  plain.keys = &keys;
  EXPECT_TRUE(verify_ledger(path, plain).ok);  // on its own the rolled-back ledger verifies
  auto r = verify_ledger(path, vo);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("rolled back"), std::string::npos) << r.reason;

  {  // a fork: blocks 4 and 5 replaced by others, signed by the same server key
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    append_rounds(*l, path, keys, 4, 5, 3, "fork");
  }
  EXPECT_TRUE(verify_ledger(path, plain).ok);
  r = verify_ledger(path, vo);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("forked"), std::string::npos) << r.reason;
}

// The whole ledger re-signed with fresh keys (accuracy edited) verifies with those keys, but not
// against the server key the auditor pinned; and verify without any key refuses to say OK.
TEST(LedgerProofs, PinnedServerKeyCatchesKeySubstitutionAndNoKeyIsNotOk) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  keys.save(dir / "real");
  const auto path = proofs_ledger(dir, keys, 3);
  const auto pub = nlohmann::json::parse(proofs_read(dir / "real/keys.json"));
  std::string server_pub;
  for (const auto& k : pub["keys"]) {
    if (k["id"] == "server") server_pub = k["public"];
  }
  ASSERT_EQ(server_pub.size(), 64u);
  auto v = run_tdml("ledger verify '" + path + "' --server-pubkey " + server_pub);
  EXPECT_EQ(v.exit_code, 1) << v.output;  // no --enrolled: client signatures cannot be checked
  EXPECT_NE(v.output.find("not in the key manifest"), std::string::npos) << v.output;

  test::TempDir forged;
  const auto fresh = fixed_keys(Scheme::kEd25519, 3, "attacker");
  fresh.save(forged / "keys");
  write_ledger(forged.path(), fresh, 3, 3);
  v = run_tdml("ledger verify '" + (forged / "ledger.jsonl") + "' --keys '" + (forged / "keys") +
               "'");
  EXPECT_EQ(v.exit_code, 0) << v.output;  // with the attacker's own keys it verifies
  v = run_tdml("ledger verify '" + (forged / "ledger.jsonl") + "' --server-pubkey " + server_pub);
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_NE(v.output.find("server signature is invalid"), std::string::npos) << v.output;

  v = run_tdml("ledger verify '" + path + "'");
  EXPECT_EQ(v.exit_code, 2) << v.output;
  EXPECT_NE(v.output.find("--no-signatures"), std::string::npos) << v.output;
  v = run_tdml("ledger verify '" + path + "' --no-signatures");
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("signatures NOT checked"), std::string::npos) << v.output;
}

TEST(LedgerProofs, CliProvesAndChecksOffline) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  keys.save(dir / "keys");
  const auto path = proofs_ledger(dir, keys, 4);
  util::write_file_atomic(dir / "old.head", proofs_read(head_path(path)));
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    append_rounds(*l, path, keys, 5, 5, 3);
  }
  auto r = run_tdml("ledger prove '" + path + "' --index 2 --client client-2 --out '" +
                    (dir / "p.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_tdml("ledger check-proof '" + (dir / "p.json") + "' --head '" + head_path(path) + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("proof OK: block 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NOT checked"), std::string::npos) << r.output;
  r = run_tdml("ledger consistency '" + path + "' --old-head '" + (dir / "old.head") + "' --out '" +
               (dir / "c.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_tdml("ledger check-proof '" + (dir / "c.json") + "' --head '" + (dir / "old.head") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("extends the trusted head of 4"), std::string::npos) << r.output;
  // The proof of block 2 is not a proof against the older head.
  r = run_tdml("ledger check-proof '" + (dir / "p.json") + "' --head '" + (dir / "old.head") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("proof INVALID"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tdml::ledger::testing

namespace tdml::ledger::testing {
namespace {

// A run's ledger starts with a genesis that pins the run id, the trust mode and every key; an
// auditor who pins only the server's public key checks every signature, and a second run is
// never appended to it unnoticed.
TEST(LedgerGenesis, PinsRunAndKeysAndRefusesASecondRun) {
  test::TempDir dir;
  const std::string run =
      "fl --data synthetic --model tinycnn --clients 3 --per-client 20 --rounds 2 --batch-size 10 "
      "--limit-test-batches 1 --eval-batch-size 20 --threads 1 -q --out '" +
      (dir / "run") + "' --ledger '" + (dir / "run/ledger.jsonl") + "'";
  auto r = run_tdml(run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = read_lines(dir / "run/ledger.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  const auto g = Genesis::from_json(nlohmann::json::parse(lines[0]));
  EXPECT_EQ(g.trust, "simulation");
  EXPECT_EQ(g.run_kind, "fl");
  ASSERT_EQ(g.keys.size(), 4u);
  EXPECT_EQ(g.keys[0].id, "server");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["run_id"], g.run_id);
  const auto server_pub = util::to_hex(g.public_key("server"));
  auto v =
      run_tdml("ledger verify '" + (dir / "run/ledger.jsonl") + "' --server-pubkey " + server_pub);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("6 client signatures valid"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("trust simulation"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("prove nothing against it"), std::string::npos) << v.output;

  // Another key pinned: the genesis names another server key.
  v = run_tdml("ledger verify '" + (dir / "run/ledger.jsonl") + "' --server-pubkey " +
               std::string(64, 'a'));
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_NE(v.output.find("genesis names another server key"), std::string::npos) << v.output;

  // A second run into the same ledger is refused (fl has no --resume).
  r = run_tdml(run);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
  EXPECT_EQ(read_lines(dir / "run/ledger.jsonl").size(), 3u);
}

}  // namespace
}  // namespace tdml::ledger::testing
