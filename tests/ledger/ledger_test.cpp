// Writing ledgers: chain fields, head record, durability (torn lines, repair), locking, resume.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "ledger_fixture.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

using namespace tdml::ledger;
using namespace tdml::ledger::testing;

TEST(LedgerAppend, BlocksChainAndVerify) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 3);
  const std::string path = dir / "ledger.jsonl";
  auto l = Ledger::open(path, keys.signer(kServerKeyId));
  auto rec = make_round(keys, 1, sha256_hex("init"), 3, /*reject_last=*/true);
  const std::string h0 = l->append(rec);
  EpochRecord e{"ddp", 1, sha256_hex("model"), config_hash({{"lr", 0.1}}), {{"loss", 1.25}}};
  const std::string h1 = l->append(e);
  EXPECT_EQ(l->size(), 2);
  EXPECT_EQ(l->last_hash(), h1);

  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  auto b0 = nlohmann::json::parse(lines[0]), b1 = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(b0["hash"], h0);
  EXPECT_EQ(b0["index"], 0);
  EXPECT_EQ(b0["prev_hash"], genesis_hash());
  EXPECT_EQ(b0["kind"], "fl_round");
  EXPECT_EQ(b0["scheme"], "ed25519");
  EXPECT_EQ(b0["aggregator"]["name"], "trimmed_mean");
  EXPECT_EQ(b0["clients"][1]["status"], "clipped");
  EXPECT_EQ(b0["clients"][2]["status"], "refused");
  EXPECT_EQ(b1["prev_hash"], h0);
  EXPECT_EQ(b1["kind"], "train_epoch");
  EXPECT_EQ(b1["mode"], "ddp");
  // The hash is SHA-256 of the canonical body without hash and server_sig.
  auto body = b1;
  body.erase("hash");
  body.erase("server_sig");
  EXPECT_EQ(sha256_hex(canonical_json(body)), h1);
  EXPECT_EQ(lines[1], canonical_json(b1));

  auto head = nlohmann::json::parse(tdml::util::read_file(head_path(path)));
  EXPECT_EQ(head["index"], 1);
  EXPECT_EQ(head["hash"], h1);
  l.reset();
  auto r = verify_with(path, keys);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.blocks, 2);
  EXPECT_EQ(r.client_signatures, 2);
  EXPECT_EQ(r.rejected, 1);
  EXPECT_EQ(r.summary().rfind("ledger OK: 2 blocks", 0), 0u) << r.summary();
}

TEST(LedgerAppend, HeadPathNextToLedger) {
  EXPECT_EQ(head_path("/r/ledger.jsonl"), "/r/ledger.head");
  EXPECT_EQ(head_path("/r/log"), "/r/log.head");
}

TEST(LedgerAppend, NonFiniteMetricsAreStoredAsStringsAndVerify) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 1);
  const std::string path = dir / "ledger.jsonl";
  auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
  l->append(EpochRecord{
      "single", 1, sha256_hex("m"), sha256_hex("c"), {{"loss", NAN}, {"grad", INFINITY}}});
  l.reset();
  auto b = nlohmann::json::parse(read_lines(path)[0]);
  EXPECT_EQ(b["metrics"]["loss"], "NaN");
  EXPECT_EQ(b["metrics"]["grad"], "Infinity");
  EXPECT_TRUE(verify_with(path, keys).ok);
}

TEST(LedgerAppend, HmacLedgerVerifiesWithSecretsOnly) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kHmac, 3);
  const auto path = write_ledger(dir.path(), keys, 3, 3);
  auto r = verify_with(path, keys);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_NE(read_lines(path)[0].find("\"scheme\":\"hmac\""), std::string::npos);
  // An Ed25519 key ring cannot vouch for an HMAC ledger.
  auto ed = fixed_keys(Scheme::kEd25519, 3);
  r = verify_with(path, ed);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("signed with hmac"), std::string::npos) << r.reason;
}

TEST(LedgerAppend, ServerSignerMustBeServerKey) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 1);
  EXPECT_THROW(Ledger::open(dir / "l.jsonl", keys.signer("client-0")), tdml::Error);
}

TEST(LedgerWriters, SecondWriterIsRefused) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 1);
  const std::string path = dir / "ledger.jsonl";
  auto first = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
  try {
    Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{true, true});
    FAIL() << "second writer was allowed";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already open by another writer"), std::string::npos);
  }
  first.reset();  // releasing the lock lets the next writer in
  EXPECT_NO_THROW(Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{true, true}));
}

TEST(LedgerWriters, ReopenContinuesTheChain) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const auto path = write_ledger(dir.path(), keys, 3, 2);
  auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
  EXPECT_EQ(l->size(), 3);
  append_rounds(*l, path, keys, 4, 4, 2);
  l.reset();
  auto r = verify_with(path, keys);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.blocks, 4);
}

TEST(LedgerWriters, ReopenRefusesABrokenChain) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const auto path = write_ledger(dir.path(), keys, 3, 2);
  auto lines = read_lines(path);
  lines.erase(lines.begin() + 1);
  write_lines(path, lines);
  EXPECT_THROW(Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{true, true}),
               tdml::Error);
}

// A crash mid-append: a prefix of the line without its newline. verify reports it, --repair
// truncates it keeping every complete block, and the writer can then continue.
TEST(LedgerDurability, TornLineDetectedAndRepaired) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const auto path = write_ledger(dir.path(), keys, 3, 2);
  const std::string good = tdml::util::read_file(path);
  const std::string next = read_lines(path)[2];
  std::ofstream(path, std::ios::app | std::ios::binary) << next.substr(0, next.size() / 2);

  auto r = verify_with(path, keys);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 3);
  EXPECT_NE(r.reason.find("torn last line"), std::string::npos);
  EXPECT_THROW(Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{true, true}),
               tdml::Error);

  VerifyOptions o;
  o.keys = &keys;
  o.repair = true;
  r = verify_ledger(path, o);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.repaired);
  EXPECT_EQ(r.blocks, 3);
  EXPECT_EQ(tdml::util::read_file(path), good);
  // What was cut is kept beside the ledger.
  int kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("ledger.jsonl.repaired-", 0) == 0) {
      ++kept;
      EXPECT_EQ(tdml::util::read_file(e.path().string()), next.substr(0, next.size() / 2));
    }
  }
  EXPECT_EQ(kept, 1);
  EXPECT_NO_THROW(Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{true, true}));
}

// A complete signed block that only lost its newline is restored, not deleted.
TEST(LedgerDurability, RepairRestoresABlockThatOnlyLostItsNewline) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const auto path = write_ledger(dir.path(), keys, 3, 2);
  const std::string good = tdml::util::read_file(path);
  tdml::util::write_file_atomic(path, good.substr(0, good.size() - 1));
  VerifyOptions o;
  o.keys = &keys;
  o.repair = true;
  {  // not while a writer holds the ledger
    auto writer_lock = ::open((path + ".lock").c_str(), O_RDWR);
    ASSERT_GE(writer_lock, 0);
    ASSERT_EQ(::flock(writer_lock, LOCK_EX), 0);
    EXPECT_THROW(verify_ledger(path, o), tdml::Error);
    ::close(writer_lock);
  }
  auto r = verify_ledger(path, o);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.blocks, 3);
  EXPECT_EQ(tdml::util::read_file(path), good);
}

// A crash after the line but before the head: head one behind is accepted with a warning, and
// re-signed by the next writer. A head two behind is an old head (rollback): refused.
TEST(LedgerDurability, HeadOneBehindIsAWarningTwoIsAnError) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const std::string path = dir / "ledger.jsonl";
  std::vector<std::string> heads;
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    for (int i = 1; i <= 3; ++i) {
      append_rounds(*l, path, keys, i, i, 2);
      heads.push_back(tdml::util::read_file(head_path(path)));
    }
  }
  tdml::util::write_file_atomic(head_path(path), heads[1]);
  auto r = verify_with(path, keys);
  EXPECT_TRUE(r.ok) << r.summary();
  ASSERT_EQ(r.warnings.size(), 2u);  // no genesis (a bare chain), and the head
  EXPECT_NE(r.warnings[1].find("one behind"), std::string::npos);

  tdml::util::write_file_atomic(head_path(path), heads[0]);
  r = verify_with(path, keys);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("old head"), std::string::npos) << r.reason;

  tdml::util::write_file_atomic(head_path(path), heads[1]);
  Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true}).reset();  // re-signs
  const auto resigned = SignedHead::read(head_path(path));
  const auto last = SignedHead::from_json(nlohmann::json::parse(heads[2]));
  EXPECT_EQ(resigned.size, 3);
  EXPECT_EQ(resigned.root, last.root);
  EXPECT_EQ(resigned.hash, last.hash);
  // A head signed by another key is not re-signed: the writer refuses to continue.
  auto other = fixed_keys(Scheme::kEd25519, 2, "other");
  EXPECT_THROW(Ledger::open(path, other.signer(kServerKeyId), LedgerOptions{false, true}),
               tdml::Error);
}

TEST(LedgerVerify, WithoutKeysChecksChainButSaysSignaturesUnchecked) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  const auto path = write_ledger(dir.path(), keys, 2, 2);
  auto r = verify_ledger(path);
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.signatures_checked);
  EXPECT_NE(r.summary().find("signatures NOT checked"), std::string::npos);
  auto lines = read_lines(path);
  lines.pop_back();
  write_lines(path, lines);
  EXPECT_FALSE(verify_ledger(path).ok);
}

TEST(LedgerVerify, EmptyLedgerFails) {
  tdml::test::TempDir dir;
  std::ofstream(dir / "ledger.jsonl").close();
  auto r = verify_ledger(dir / "ledger.jsonl");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("no blocks"), std::string::npos);
  EXPECT_THROW(verify_ledger(dir / "missing.jsonl"), tdml::Error);
}
