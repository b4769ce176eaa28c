// Every tampering the issue lists is caught by verify_ledger, one test each.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <functional>

#include "ledger_fixture.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/merkle.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/fs.h"

using namespace tdml::ledger;
using namespace tdml::ledger::testing;

namespace {

class LedgerTamper : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = fixed_keys(Scheme::kEd25519, 4);
    path_ = write_ledger(dir_.path(), keys_, 6, 4);
    lines_ = read_lines(path_);
    ASSERT_EQ(lines_.size(), 6u);
    ASSERT_TRUE(verify_with(path_, keys_).ok) << verify_with(path_, keys_).summary();
  }
  // Rewrites line i with `edit` applied to its parsed JSON, keeping the stored hash.
  void edit_json(std::size_t i, const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(lines_[i]);
    edit(j);
    lines_[i] = canonical_json(j);
    write_lines(path_, lines_);
  }
  // An attacker re-hashing every block from `from` on and signing with its own server key.
  void rechain(std::size_t from, const Signer& forger) {
    std::string prev = from == 0
                           ? genesis_hash()
                           : nlohmann::json::parse(lines_[from - 1])["hash"].get<std::string>();
    for (std::size_t i = from; i < lines_.size(); ++i) {
      auto j = nlohmann::json::parse(lines_[i]);
      j.erase("hash");
      j.erase("server_sig");
      j["index"] = i;
      j["prev_hash"] = prev;
      prev = sha256_hex(canonical_json(j));
      j["hash"] = prev;
      j["server_sig"] = to_hex(forger.sign(block_message(prev)));
      lines_[i] = canonical_json(j);
    }
    write_lines(path_, lines_);
    // ... and signing a head over the rewritten lines, as a server holding its key can.
    MerkleTree tree;
    for (const auto& line : lines_) tree.append(merkle_leaf_hash(line));
    SignedHead h;
    h.size = static_cast<std::int64_t>(lines_.size());
    h.index = h.size - 1;
    h.root = to_hex(tree.root());
    h.hash = prev;
    h.time = "2026-01-01T00:00:00Z";
    h.sign(forger);
    tdml::util::write_file_atomic(head_path(path_), canonical_json(h.to_json()) + "\n");
  }
  // The server, with its own real key, rewriting its blocks from `from` on.
  void lie_from(std::size_t from) { rechain(from, *keys_.signer(kServerKeyId)); }
  VerifyReport verify() { return verify_with(path_, keys_); }

  tdml::test::TempDir dir_;
  KeyRing keys_;
  std::string path_;
  std::vector<std::string> lines_;
};

TEST_F(LedgerTamper, EditedMetric) {
  edit_json(3, [](nlohmann::json& j) { j["metrics"]["test_acc"] = 0.99; });
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 3);
  EXPECT_NE(r.reason.find("hash does not match"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, EditedStatus) {
  edit_json(1, [](nlohmann::json& j) { j["clients"][3]["status"] = "accepted"; });
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 1);
}

TEST_F(LedgerTamper, EditedModelHash) {
  edit_json(5, [](nlohmann::json& j) { j["model_after"] = sha256_hex("other model"); });
  EXPECT_EQ(verify().bad_block, 5);
}

TEST_F(LedgerTamper, EditedHashField) {
  edit_json(2, [](nlohmann::json& j) { j["hash"] = sha256_hex("x"); });
  EXPECT_EQ(verify().bad_block, 2);
}

TEST_F(LedgerTamper, NonCanonicalWhitespace) {
  lines_[4].insert(1, " ");
  write_lines(path_, lines_);
  auto r = verify();
  EXPECT_EQ(r.bad_block, 4);
  EXPECT_NE(r.reason.find("canonical"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, DeletedBlock) {
  lines_.erase(lines_.begin() + 2);
  write_lines(path_, lines_);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 2);
}

TEST_F(LedgerTamper, DuplicatedBlock) {
  lines_.insert(lines_.begin() + 3, lines_[3]);
  write_lines(path_, lines_);
  EXPECT_EQ(verify().bad_block, 4);
}

TEST_F(LedgerTamper, ReorderedBlocks) {
  std::swap(lines_[1], lines_[2]);
  write_lines(path_, lines_);
  EXPECT_EQ(verify().bad_block, 1);
}

TEST_F(LedgerTamper, InsertedBlockRechainedWithForgedKey) {
  lines_.insert(lines_.begin() + 2, lines_[2]);
  auto forger = make_ed25519_signer("server", from_hex(sha256_hex("attacker")));
  rechain(2, *forger);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 2);
  EXPECT_NE(r.reason.find("server signature is invalid"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, TruncatedLastLine) {
  const auto size = std::filesystem::file_size(path_);
  std::filesystem::resize_file(path_, size - 20);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 5);
  EXPECT_NE(r.reason.find("torn last line"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, DroppedTailBlocksCaughtByHead) {
  lines_.resize(4);  // still a perfectly valid chain of 4 blocks
  write_lines(path_, lines_);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("blocks were removed from the end"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, MissingHead) {
  std::filesystem::remove(head_path(path_));
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("missing"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, WrongKey) {
  auto other = fixed_keys(Scheme::kEd25519, 4, "someone-else");
  auto r = verify_with(path_, other);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 0);
  EXPECT_NE(r.reason.find("server signature"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, WrongClientKeyOnly) {
  // Same server key, one client's key replaced: its signatures no longer verify.
  KeyRing ring(Scheme::kEd25519);
  ring.add(kServerKeyId, from_hex(sha256_hex("test/server")));
  ring.add("client-0", from_hex(sha256_hex("test/client-0")));
  ring.add("client-1", from_hex(sha256_hex("intruder/client-1")));
  ring.add("client-2", from_hex(sha256_hex("test/client-2")));
  ring.add("client-3", from_hex(sha256_hex("test/client-3")));
  auto r = verify_with(path_, ring);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 0);
  EXPECT_NE(r.reason.find("client-1's update signature is invalid"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, SignatureMovedBetweenClients) {
  // A malicious server swaps two clients' signatures and signs the block itself: the block and
  // chain are valid, the client signatures are not.
  const std::string path = dir_ / "forged.jsonl";
  auto l = Ledger::open(path, keys_.signer(kServerKeyId), LedgerOptions{false, true});
  auto rec = make_round(keys_, 1, sha256_hex("init"), 4);
  std::swap(rec.clients[0].signature, rec.clients[2].signature);
  l->append(rec);
  l.reset();
  auto r = verify_with(path, keys_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 0);
  EXPECT_NE(r.reason.find("client-0's update signature is invalid"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, RejectedEntryMarkedAcceptedByServer) {
  const std::string path = dir_ / "forged.jsonl";
  auto l = Ledger::open(path, keys_.signer(kServerKeyId), LedgerOptions{false, true});
  auto rec = make_round(keys_, 1, sha256_hex("init"), 4, /*reject_last=*/true);
  rec.clients[3].status = UpdateStatus::kAccepted;  // a bad signature recorded as accepted
  l->append(rec);
  l.reset();
  EXPECT_FALSE(verify_with(path, keys_).ok);
}

// A lying server re-signs its own blocks: what it may not claim is still caught.
TEST_F(LedgerTamper, LyingServerMarksAnHonestClientRefused) {
  edit_json(3, [](nlohmann::json& j) { j["clients"][0]["status"] = "refused"; });
  lie_from(3);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 3);
  EXPECT_NE(r.reason.find("marked refused but its signature is valid"), std::string::npos)
      << r.reason;
}

TEST_F(LedgerTamper, LyingServerDropsASampledClientsEntry) {
  edit_json(3, [](nlohmann::json& j) {
    j["sampled"] = {"client-0", "client-1", "client-2", "client-3"};
    j["clients"].erase(2);
  });
  lie_from(3);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("sampled client client-2 has no entry"), std::string::npos) << r.reason;
  // An entry for a client that was not sampled is refused as well.
  edit_json(4, [](nlohmann::json& j) { j["sampled"] = {"client-0", "client-1"}; });
  lie_from(3);
  EXPECT_FALSE(verify().ok);
}

// The server swaps the global model between rounds 3 and 4: it sends round 4's clients another
// model, which they sign as their base, and signs the block itself. Every signature is valid;
// block 3 (round 4) does not start from the model round 3 ended with.
TEST(LedgerModelContinuity, ServerSwappingTheModelBetweenRoundsIsCaught) {
  tdml::test::TempDir dir;
  const auto keys = fixed_keys(Scheme::kEd25519, 3);
  const std::string path = write_ledger(dir.path(), keys, 3, 3);
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    l->append(make_round(keys, 4, sha256_hex("another model"), 3));
  }
  auto r = verify_with(path, keys);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 3);
  EXPECT_NE(r.reason.find("is not the previous round's model_after"), std::string::npos)
      << r.reason;
}

TEST_F(LedgerTamper, LyingServerReplaysARoundInALaterBlock) {
  lines_.push_back(lines_[1]);  // round 2's entries, signatures and all, again as block 6
  lie_from(6);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 6);
  EXPECT_NE(r.reason.find("must strictly increase"), std::string::npos) << r.reason;
}

// The same signature in upper case would verify as the same bytes: refused, so a ledger that
// verifies has exactly one spelling.
TEST_F(LedgerTamper, UpperCaseSignatureIsRefused) {
  edit_json(2, [](nlohmann::json& j) {
    auto sig = j["clients"][0]["signature"].get<std::string>();
    for (auto& ch : sig) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    j["clients"][0]["signature"] = sig;
  });
  lie_from(2);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_block, 2);
  EXPECT_NE(r.reason.find("signature is invalid"), std::string::npos) << r.reason;
}

TEST_F(LedgerTamper, EditedHeadRecord) {
  auto head = tdml::util::read_file(head_path(path_));
  auto j = nlohmann::json::parse(head);
  j["index"] = 4;  // consistently one block back: only the signature can tell
  j["size"] = 5;
  j["hash"] = nlohmann::json::parse(lines_[4])["hash"];
  tdml::util::write_file_atomic(head_path(path_), canonical_json(j) + "\n");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("head record signature is invalid"), std::string::npos) << r.reason;
}

// Flipping any single byte of the ledger or the head is caught.
TEST(LedgerTamperEveryByte, AnyEditedByteIsCaught) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 1);
  const auto path = write_ledger(dir.path(), keys, 2, 1);
  for (const std::string& file : {path, head_path(path)}) {
    const std::string original = tdml::util::read_file(file);
    for (std::size_t i = 0; i < original.size(); ++i) {
      std::string bad = original;
      bad[i] = bad[i] == 'a' ? 'b' : 'a';
      std::ofstream(file, std::ios::trunc | std::ios::binary) << bad;
      ASSERT_FALSE(verify_with(path, keys).ok) << file << " byte " << i << " edited undetected";
    }
    std::ofstream(file, std::ios::trunc | std::ios::binary) << original;
  }
  EXPECT_TRUE(verify_with(path, keys).ok);
}

TEST(LedgerModelFile, MatchesOnlyTheLastBlocksModel) {
  tdml::test::TempDir dir;
  auto keys = fixed_keys(Scheme::kEd25519, 2);
  tdml::models::StateDict sd = {{"fc.weight", torch::ones({3, 2})}, {"fc.bias", torch::zeros({3})}};
  const std::string path = dir / "ledger.jsonl";
  {
    auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
    auto rec = make_round(keys, 1, sha256_hex("init"), 2);
    rec.model_after = model_hash(sd);
    l->append(rec);
  }
  tdml::models::save_tensors(dir / "final.pt", sd);
  VerifyOptions o;
  o.keys = &keys;
  o.model_path = dir / "final.pt";
  auto r = verify_ledger(path, o);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.model_checked);

  sd[1].second[0] = 1e-3f;
  tdml::models::save_tensors(dir / "other.pt", sd);
  o.model_path = dir / "other.pt";
  r = verify_ledger(path, o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("model file"), std::string::npos) << r.reason;
}

}  // namespace
