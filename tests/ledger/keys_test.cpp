// Key files: permissions, manifest contents, loading for signing and for verifying.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "ledger_fixture.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

using namespace tdml::ledger;
using tdml::test::run_tdml;

namespace {
unsigned mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}
}  // namespace

TEST(LedgerKeys, SaveWritesPrivateSecretsAndPublicManifest) {
  tdml::test::TempDir dir;
  auto ring = KeyRing::generate(Scheme::kEd25519, 3);
  ring.save(dir / "keys");
  for (const char* id : {"server", "client-0", "client-1", "client-2"}) {
    EXPECT_EQ(mode_of(dir / "keys/" + std::string(id) + ".key"), 0600u) << id;
  }
  auto manifest = nlohmann::json::parse(tdml::util::read_file(dir / "keys/keys.json"));
  EXPECT_EQ(manifest["scheme"], "ed25519");
  ASSERT_EQ(manifest["keys"].size(), 4u);
  // No secret in the manifest.
  const std::string secret_hex =
      nlohmann::json::parse(tdml::util::read_file(dir / "keys/server.key"))["secret"];
  EXPECT_EQ(tdml::util::read_file(dir / "keys/keys.json").find(secret_hex), std::string::npos);
  EXPECT_THROW(ring.save(dir / "keys"), tdml::Error);  // no silent overwrite
}

TEST(LedgerKeys, LoadedKeysSignAndPublicOnlyKeysVerify) {
  tdml::test::TempDir dir;
  KeyRing::generate(Scheme::kEd25519, 2).save(dir / "keys");
  auto full = KeyRing::load(dir / "keys");
  EXPECT_TRUE(full.has_secret("client-1"));
  std::string sig = full.signer("client-1")->sign("m");

  std::filesystem::create_directories(dir / "public");
  std::filesystem::copy_file(dir / "keys/keys.json", dir / "public/keys.json");
  auto pub = KeyRing::load(dir / "public");
  EXPECT_FALSE(pub.has_secret("client-1"));
  EXPECT_THROW(pub.signer("client-1"), tdml::Error);
  EXPECT_TRUE(pub.verifier("client-1")->verify("m", sig));
  EXPECT_FALSE(pub.verifier("client-0")->verify("m", sig));
  EXPECT_EQ(pub.verifier("client-9"), nullptr);
}

TEST(LedgerKeys, HmacVerificationNeedsTheSecret) {
  tdml::test::TempDir dir;
  KeyRing::generate(Scheme::kHmac, 1).save(dir / "keys");
  auto manifest = nlohmann::json::parse(tdml::util::read_file(dir / "keys/keys.json"));
  EXPECT_FALSE(manifest["keys"][0].contains("public"));
  std::filesystem::remove(dir / "keys/client-0.key");
  auto ring = KeyRing::load(dir / "keys");
  EXPECT_TRUE(ring.has("client-0"));
  EXPECT_EQ(ring.verifier("client-0"), nullptr);
  EXPECT_NE(ring.verifier("server"), nullptr);
}

TEST(LedgerKeys, SecretReadableByOthersIsRefused) {
  tdml::test::TempDir dir;
  KeyRing::generate(Scheme::kEd25519, 1).save(dir / "keys");
  ::chmod((dir / "keys/client-0.key").c_str(), 0644);
  try {
    KeyRing::load(dir / "keys");
    FAIL() << "a 0644 key file was accepted";
  } catch (const tdml::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("client-0.key has mode 0644"), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
  }
  ::chmod((dir / "keys/client-0.key").c_str(), 0640);
  EXPECT_THROW(KeyRing::load(dir / "keys"), tdml::Error);
}

TEST(LedgerKeys, SecretNotMatchingManifestIsRefused) {
  tdml::test::TempDir dir;
  KeyRing::generate(Scheme::kEd25519, 1).save(dir / "a");
  KeyRing::generate(Scheme::kEd25519, 1).save(dir / "b");
  std::filesystem::copy_file(dir / "b/client-0.key", dir / "a/client-0.key",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THROW(KeyRing::load(dir / "a"), tdml::Error);
}

TEST(LedgerKeysCli, GenWritesKeysAndRefusesOverwrite) {
  tdml::test::TempDir dir;
  auto r = run_tdml("keys gen --clients 3 --out '" + (dir / "k") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto ring = KeyRing::load(dir / "k");
  EXPECT_EQ(ring.ids().size(), 4u);
  EXPECT_EQ(ring.scheme(), Scheme::kEd25519);
  EXPECT_EQ(mode_of(dir / "k/client-2.key"), 0600u);
  // The secret never reaches the output.
  const std::string secret =
      nlohmann::json::parse(tdml::util::read_file(dir / "k/server.key"))["secret"];
  EXPECT_EQ(r.output.find(secret), std::string::npos);
  r = run_tdml("keys gen --clients 3 --out '" + (dir / "k") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("keys already exist"), std::string::npos) << r.output;
  r = run_tdml("keys gen --clients 2 --sign rsa --out '" + (dir / "x") + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}
