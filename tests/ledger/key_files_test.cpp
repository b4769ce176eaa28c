// One key pair per party: file modes, refusals of exposed or foreign secrets, enrollment, and a
// server key ring that verifies clients without holding their secrets.
#include "tdml/ledger/key_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "tdml/ledger/hash.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

using namespace tdml::ledger;
using tdml::test::run_tdml;
using tdml::test::TempDir;

namespace {

unsigned key_file_mode(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

// The message of the tdml::Error `f` throws ("" when it throws none).
template <typename F>
std::string key_error_of(F&& f) {
  try {
    f();
  } catch (const tdml::Error& e) {
    return e.what();
  }
  return "";
}

// A secret key file with the given JSON text, mode 0600.
std::string write_private(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
  return path;
}

nlohmann::json json_of(const std::string& path) {
  return nlohmann::json::parse(tdml::util::read_file(path));
}

}  // namespace

TEST(KeyFiles, WriteKeyPairWritesPrivateSecretAndPublicFile) {
  TempDir dir;
  const PublicKey pub = write_key_pair(dir / "k", "client-3");
  EXPECT_EQ(key_file_mode(dir / "k/client-3.key"), 0600u);
  const auto secret_json = json_of(dir / "k/client-3.key");
  EXPECT_EQ(secret_json["id"], "client-3");
  EXPECT_EQ(secret_json["scheme"], "ed25519");
  const auto pub_json = json_of(dir / "k/client-3.pub.json");
  EXPECT_EQ(pub_json,
            nlohmann::json(
                {{"id", "client-3"}, {"scheme", "ed25519"}, {"public", to_hex(pub.public_key)}}));
  const SecretKey sk = read_secret_key(dir / "k/client-3.key");
  EXPECT_EQ(sk.id, "client-3");
  ASSERT_EQ(sk.secret.size(), 32u);
  EXPECT_EQ(ed25519_public_key(sk.secret), pub.public_key);
  EXPECT_EQ(to_hex(sk.secret), secret_json["secret"]);
  EXPECT_EQ(tdml::util::read_file(dir / "k/client-3.pub.json").find(to_hex(sk.secret)),
            std::string::npos);
  const PublicKey read_back = read_public_key(dir / "k/client-3.pub.json");
  EXPECT_EQ(read_back.id, "client-3");
  EXPECT_EQ(read_back.public_key, pub.public_key);

  EXPECT_NE(key_error_of([&] { write_key_pair(dir / "k", "client-3"); }).find("already exists"),
            std::string::npos);
  EXPECT_NE(write_key_pair(dir / "k", "client-3", /*overwrite=*/true).public_key, pub.public_key);
}

TEST(KeyFiles, BadIdsAreUsageErrors) {
  TempDir dir;
  for (const std::string& id :
       std::vector<std::string>{"", "../x", ".hidden", "a/b", "a b", std::string(65, 'a')}) {
    EXPECT_THROW(write_key_pair(dir.path(), id), tdml::UsageError) << id;
  }
  EXPECT_NO_THROW(write_key_pair(dir.path(), std::string(64, 'a')));
  EXPECT_NO_THROW(write_key_pair(dir.path(), "Org_1.client-7"));
}

TEST(KeyFiles, SecretThatGroupOrOthersCanReachIsRefused) {
  TempDir dir;
  write_key_pair(dir.path(), "c");
  const std::string path = dir / "c.key";
  ::chmod(path.c_str(), 0644);
  const std::string msg = key_error_of([&] { read_secret_key(path); });
  EXPECT_NE(msg.find("c.key has mode 0644"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chmod 600 " + path), std::string::npos) << msg;
  for (unsigned mode : {0640u, 0620u, 0604u, 0602u}) {
    ::chmod(path.c_str(), mode);
    EXPECT_THROW(read_secret_key(path), tdml::Error) << std::oct << mode;
  }
  ::chmod(path.c_str(), 0400);
  EXPECT_NO_THROW(read_secret_key(path));
}

TEST(KeyFiles, SymlinkedSecretIsRefused) {
  TempDir dir;
  write_key_pair(dir.path(), "c");
  std::filesystem::create_symlink(dir / "c.key", dir / "link.key");
  const std::string msg = key_error_of([&] { read_secret_key(dir / "link.key"); });
  EXPECT_NE(msg.find("link.key is a symbolic link"), std::string::npos) << msg;
}

TEST(KeyFiles, SecretOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  TempDir dir;
  write_key_pair(dir.path(), "c");
  ASSERT_EQ(::chown((dir / "c.key").c_str(), 65534, 65534), 0);
  const std::string msg = key_error_of([&] { read_secret_key(dir / "c.key"); });
  EXPECT_NE(msg.find("belongs to uid 65534, not to the current user"), std::string::npos) << msg;
}

TEST(KeyFiles, SecretOfTheWrongSizeOrSpellingIsRefused) {
  TempDir dir;
  const std::string good(64, 'a');
  auto key = [](const std::string& hex) {
    return "{\"id\":\"c\",\"scheme\":\"ed25519\",\"secret\":\"" + hex + "\"}";
  };
  EXPECT_NO_THROW(read_secret_key(write_private(dir / "ok.key", key(good))));
  const std::string short_msg =
      key_error_of([&] { read_secret_key(write_private(dir / "short.key", key(good.substr(2)))); });
  EXPECT_NE(short_msg.find("short.key: the secret must be 32 bytes"), std::string::npos)
      << short_msg;
  EXPECT_EQ(short_msg.find(good.substr(2)), std::string::npos)
      << "the secret leaked: " << short_msg;
  EXPECT_THROW(read_secret_key(write_private(dir / "upper.key", key(std::string(64, 'A')))),
               tdml::Error);
  const std::string big = "{\"pad\":\"" + std::string(5000, 'x') + "\"," + key(good).substr(1);
  const std::string big_msg =
      key_error_of([&] { read_secret_key(write_private(dir / "big.key", big)); });
  EXPECT_NE(big_msg.find("too large for a key file"), std::string::npos) << big_msg;
  const std::string hmac = "{\"id\":\"c\",\"scheme\":\"hmac\",\"secret\":\"" + good + "\"}";
  EXPECT_THROW(read_secret_key(write_private(dir / "hmac.key", hmac)), tdml::Error);
}

TEST(KeyFiles, NaturalOrderComparesNumbersAsNumbers) {
  EXPECT_TRUE(natural_less("client-2", "client-10"));
  EXPECT_FALSE(natural_less("client-10", "client-2"));
  EXPECT_TRUE(natural_less("client-9", "client-10"));
  EXPECT_TRUE(natural_less("a", "b"));
  EXPECT_TRUE(natural_less("client", "client-0"));
  EXPECT_FALSE(natural_less("client-3", "client-3"));
  EXPECT_TRUE(natural_less("org1-client-9", "org2-client-1"));
}

TEST(KeyEnrollment, SortsIdsNaturallyAndRoundTrips) {
  TempDir dir;
  std::vector<std::string> files;
  for (const char* id : {"client-10", "client-2", "client-1"}) {
    write_key_pair(dir.path(), id);
    files.push_back(public_key_path(dir.path(), id));
  }
  const auto keys = read_public_keys(files);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].id, "client-1");
  EXPECT_EQ(keys[1].id, "client-2");
  EXPECT_EQ(keys[2].id, "client-10");
  write_enrollment(dir / "enrolled.json", keys);
  const auto j = json_of(dir / "enrolled.json");
  EXPECT_EQ(j["scheme"], "ed25519");
  EXPECT_EQ(j["clients"][2]["id"], "client-10");
  EXPECT_EQ(j["clients"][2]["public"], to_hex(keys[2].public_key));
  EXPECT_EQ(j["clients"][2].size(), 2u);  // id and public only
  const auto back = read_enrollment(dir / "enrolled.json");
  ASSERT_EQ(back.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].id, keys[i].id);
    EXPECT_EQ(back[i].public_key, keys[i].public_key);
  }
}

TEST(KeyEnrollment, RefusesSecretsDuplicatesBadKeysAndSchemes) {
  TempDir dir;
  write_key_pair(dir.path(), "a");
  write_key_pair(dir.path(), "b");
  // The secret file itself, and a secret renamed to look public.
  std::string msg = key_error_of([&] { read_public_keys({dir / "a.key"}); });
  EXPECT_NE(msg.find(dir / "a.key"), std::string::npos) << msg;
  std::filesystem::copy_file(dir / "a.key", dir / "sneaky.pub.json");
  msg = key_error_of([&] { read_public_keys({dir / "b.pub.json", dir / "sneaky.pub.json"}); });
  EXPECT_NE(msg.find("sneaky.pub.json holds a \"secret\""), std::string::npos) << msg;
  const std::string secret_hex = json_of(dir / "a.key")["secret"];
  EXPECT_EQ(msg.find(secret_hex), std::string::npos) << "the secret leaked: " << msg;
  // The same id twice.
  std::filesystem::copy_file(dir / "a.pub.json", dir / "again.pub.json");
  msg = key_error_of([&] { read_public_keys({dir / "a.pub.json", dir / "again.pub.json"}); });
  EXPECT_NE(msg.find("duplicate key id 'a' in " + (dir / "a.pub.json") + " and " +
                     (dir / "again.pub.json")),
            std::string::npos)
      << msg;
  // A short key and an unknown scheme.
  std::ofstream(dir / "short.pub.json") << R"({"id":"s","scheme":"ed25519","public":"abcd"})";
  msg = key_error_of([&] { read_public_keys({dir / "short.pub.json"}); });
  EXPECT_NE(msg.find("short.pub.json: the public key must be 32 bytes"), std::string::npos) << msg;
  auto rsa = json_of(dir / "b.pub.json");
  rsa["scheme"] = "rsa";
  std::ofstream(dir / "rsa.pub.json") << rsa.dump();
  msg = key_error_of([&] { read_public_keys({dir / "rsa.pub.json"}); });
  EXPECT_NE(msg.find("rsa.pub.json: unknown key scheme 'rsa'"), std::string::npos) << msg;
}

TEST(KeyEnrollment, ReadEnrollmentRefusesAnEntryWithASecret) {
  TempDir dir;
  write_key_pair(dir.path(), "a");
  write_enrollment(dir / "e.json", read_public_keys({public_key_path(dir.path(), "a")}));
  auto j = json_of(dir / "e.json");
  j["clients"][0]["secret"] = json_of(dir / "a.key")["secret"];
  std::ofstream(dir / "e.json") << j.dump();
  const std::string msg = key_error_of([&] { read_enrollment(dir / "e.json"); });
  EXPECT_NE(msg.find("entry 0 (a) holds a secret"), std::string::npos) << msg;
  j["clients"][0].erase("secret");
  j["clients"].push_back(j["clients"][0]);
  std::ofstream(dir / "e.json") << j.dump();
  EXPECT_NE(key_error_of([&] { read_enrollment(dir / "e.json"); }).find("duplicate key id 'a'"),
            std::string::npos);
}

TEST(KeyEnrollment, ServerKeyRingVerifiesClientsWithoutTheirSecrets) {
  TempDir dir;
  write_key_pair(dir / "server", "server");
  std::vector<std::string> pubs;
  for (const char* id : {"client-0", "client-1"}) {
    write_key_pair(dir / id, id);  // each party in its own folder
    pubs.push_back(public_key_path(dir / id, id));
  }
  write_enrollment(dir / "enrolled.json", read_public_keys(pubs));
  const SecretKey server = read_secret_key(dir / "server/server.key");
  const KeyRing ring =
      enrolled_key_ring(read_enrollment(dir / "enrolled.json"), server.id, server.secret);
  EXPECT_TRUE(ring.has_secret("server"));
  EXPECT_FALSE(ring.has_secret("client-0"));
  EXPECT_FALSE(ring.has_secret("client-1"));
  EXPECT_THROW(ring.signer("client-1"), tdml::Error);

  const SecretKey c1 = read_secret_key(dir / "client-1/client-1.key");
  const std::string sig = make_ed25519_signer(c1.id, c1.secret)->sign("tdml.update.v2:m");
  EXPECT_TRUE(ring.verifier("client-1")->verify("tdml.update.v2:m", sig));
  EXPECT_FALSE(ring.verifier("client-0")->verify("tdml.update.v2:m", sig));
  EXPECT_FALSE(ring.verifier("client-1")->verify("tdml.update.v2:x", sig));
  EXPECT_TRUE(ring.verifier("server")->verify("r", ring.signer("server")->sign("r")));

  // A client enrolled under the server's id cannot take its place.
  auto clients = read_enrollment(dir / "enrolled.json");
  clients.push_back({"server", clients[0].public_key});
  EXPECT_NE(key_error_of([&] {
              enrolled_key_ring(clients, server.id, server.secret);
            }).find("the server's own id"),
            std::string::npos);
}

TEST(KeysCli, GenIdWritesOnePartysKeyAndRefusesOverwrite) {
  TempDir dir;
  auto r = run_tdml("keys gen --id client-1 --out '" + (dir / "k") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(key_file_mode(dir / "k/client-1.key"), 0600u);
  const std::string secret = json_of(dir / "k/client-1.key")["secret"];
  EXPECT_EQ(r.output.find(secret), std::string::npos) << "the secret reached the output";
  EXPECT_NE(r.output.find(json_of(dir / "k/client-1.pub.json")["public"].get<std::string>()),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "k/keys.json"));
  r = run_tdml("keys gen --id client-1 --out '" + (dir / "k") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("client-1.key already exists"), std::string::npos) << r.output;
  EXPECT_EQ(json_of(dir / "k/client-1.key")["secret"], secret);
  r = run_tdml("keys gen --id client-1 --force --out '" + (dir / "k") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(json_of(dir / "k/client-1.key")["secret"], secret);
}

TEST(KeysCli, BadGenOptionsAreOneLineUsageErrors) {
  TempDir dir;
  for (const std::string args :
       {"--id a --clients 2", "--id ../x", "--id a --sign hmac", "--id a"}) {
    const bool has_out = args != "--id a";
    auto r = run_tdml("keys gen " + args + (has_out ? " --out '" + (dir / "k") + "'" : ""));
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": " << r.output;
  }
  auto r = run_tdml("keys gen --id a --clients 2 --out '" + (dir / "k") + "'");
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "k"));
}

TEST(KeysCli, EnrollWritesSortedPublicKeysAndRefusesSecrets) {
  TempDir dir;
  for (const char* id : {"client-10", "client-2"}) {
    ASSERT_EQ(
        run_tdml(std::string("keys gen --id ") + id + " --out '" + dir.path() + "'").exit_code, 0);
  }
  auto r = run_tdml("keys enroll --out '" + (dir / "enrolled.json") + "' '" +
                    (dir / "client-10.pub.json") + "' '" + (dir / "client-2.pub.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = json_of(dir / "enrolled.json");
  ASSERT_EQ(j["clients"].size(), 2u);
  EXPECT_EQ(j["clients"][0]["id"], "client-2");
  EXPECT_EQ(j["clients"][1]["id"], "client-10");

  r = run_tdml("keys enroll --out '" + (dir / "bad.json") + "' '" + (dir / "client-2.pub.json") +
               "' '" + (dir / "client-10.key") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tdml: error: " + (dir / "client-10.key") + " is a secret key file"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
  r = run_tdml("keys enroll --out '" + (dir / "bad.json") + "' '" + (dir / "client-2.pub.json") +
               "' '" + (dir / "client-2.pub.json") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("duplicate key id 'client-2'"), std::string::npos) << r.output;
  r = run_tdml("keys enroll --out '" + (dir / "bad.json") + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(KeysCli, GroupListsGenAndEnroll) {
  auto r = run_tdml("keys");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("tdml: error: missing subcommand: tdml keys enroll|gen\n"),
            std::string::npos)
      << r.output;
}
