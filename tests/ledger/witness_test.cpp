// A witness countersigns a server's heads only along one history: the next head must extend
// the last it signed. A fork (the same key signing another history) and a rollback are refused,
// and an auditor who trusts the witness checks a ledger against its countersigned head.
#include "tdml/ledger/witness.h"

#include <gtest/gtest.h>

#include "ledger_fixture.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/proofs.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::ledger::testing {
namespace {

void witness_append(const std::string& path, const KeyRing& keys, int from, int to,
                    const std::string& tag) {
  auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
  append_rounds(*l, path, keys, from, to, 3, tag);
}

TEST(LedgerWitness, CountersignsOneHistoryAndRefusesForksAndRollbacks) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const auto w = make_ed25519_signer("witness-1", from_hex(sha256_hex("witness")));
  const auto server = keys.verifier(kServerKeyId);
  const auto path = write_ledger(dir.path(), keys, 3, 3);
  const auto store = dir / "witness";
  const auto base_ledger = util::read_file(path);
  const auto base_head = util::read_file(head_path(path));
  witness_head(SignedHead::read(head_path(path)), *w, store, server.get(), nullptr);

  witness_append(path, keys, 4, 5, "a");  // the ledger grows: countersigned with a proof
  const auto grown = SignedHead::read(head_path(path));
  EXPECT_THROW(witness_head(grown, *w, store, server.get(), nullptr), Error);  // no proof
  const auto proof = prove_consistency(path, SignedHead::read(store + "/last.head"));
  const auto c = witness_head(grown, *w, store, server.get(), &proof);
  EXPECT_TRUE(c.verify(*w));
  EXPECT_EQ(SignedHead::read(store + "/cosigned-5.json").root, grown.root);

  // A fork: back to 3 blocks, then another round 4..6 signed by the same server key.
  util::write_file_atomic(path, base_ledger);
  util::write_file_atomic(head_path(path), base_head);
  witness_append(path, keys, 4, 6, "fork");
  const auto forked = SignedHead::read(head_path(path));
  // The server's best try: a "consistency proof" from the countersigned head to the fork.
  const auto fork_proof = prove_consistency(path, SignedHead::read(store + "/last.head"));
  try {
    witness_head(forked, *w, store, server.get(), &fork_proof);
    FAIL() << "a fork was countersigned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing"), std::string::npos) << e.what();
  }
  // A rollback to the 3-block head is refused too.
  util::write_file_atomic(head_path(path), base_head);
  EXPECT_THROW(witness_head(SignedHead::read(head_path(path)), *w, store, server.get(), nullptr),
               Error);
}

TEST(LedgerWitness, VerifyAgainstACountersignedHead) {
  test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  keys.save(dir / "keys");
  const auto path = write_ledger(dir.path(), keys, 3, 3);
  auto g = test::run_tdml("keys gen --id witness-1 --out '" + (dir / "w") + "' -q");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  auto r = test::run_tdml("ledger witness --head '" + head_path(path) + "' --key '" +
                          (dir / "w/witness-1.key") + "' --store '" + (dir / "store") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  witness_append(path, keys, 4, 4, "b");
  const std::string verify = "ledger verify '" + path + "' --keys '" + (dir / "keys") +
                             "' --trusted-head '" + (dir / "store/cosigned-3.json") +
                             "' --witness-pubkey '" + (dir / "w/witness-1.pub.json") + "'";
  r = test::run_tdml(verify);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("extends the trusted head of 3 blocks"), std::string::npos) << r.output;
  // Another witness key: the countersignature does not verify.
  g = test::run_tdml("keys gen --id witness-1 --out '" + (dir / "other") + "' -q");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  r = test::run_tdml("ledger verify '" + path + "' --keys '" + (dir / "keys") +
                     "' --trusted-head '" + (dir / "store/cosigned-3.json") +
                     "' --witness-pubkey '" + (dir / "other/witness-1.pub.json") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("witness signature does not verify"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tdml::ledger::testing
