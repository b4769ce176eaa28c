// `tdml keys gen|enroll`: signing keys, either a whole key ring (server + clients, see
// tdml/ledger/keys.h) or one party's own pair, and the enrollment a federation server pins
// (tdml/ledger/key_files.h).
#include "tdml/ledger/keys.h"

#include <iostream>
#include <string>
#include <vector>

#include "command.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/key_files.h"
#include "tdml/util/error.h"

namespace {
using namespace tdml;

// --id ID: this party's key pair only.
int gen_party_key(const cxxopts::ParseResult& a) {
  if (a["sign"].as<std::string>() != "ed25519") {
    throw UsageError("tdml keys gen --id writes ed25519 keys only (drop --sign)");
  }
  const auto dir = a["out"].as<std::string>();
  const auto id = a["id"].as<std::string>();
  const auto pub = ledger::write_key_pair(dir, id, a.count("force") > 0);
  std::cout << "wrote ed25519 key of " << id << " to " << ledger::secret_key_path(dir, id)
            << " (secret, 0600) and " << ledger::public_key_path(dir, id) << " (public "
            << ledger::to_hex(pub.public_key) << ")" << std::endl;
  return 0;
}

int gen(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Write a secret key (mode 0600) per client and for the server, and a "
                        "public manifest keys.json; or, with --id, one party's own key pair");
  opts.add_options()("clients", "number of FL clients (a key ring)", cxxopts::value<int>())(
      "id", "one party's key: writes OUT/ID.key (0600) and OUT/ID.pub.json",
      cxxopts::value<std::string>())("out", "key directory (created)",
                                     cxxopts::value<std::string>())(
      "sign", "ed25519 (public verification) or hmac (shared secrets)",
      cxxopts::value<std::string>()->default_value("ed25519"))("force",
                                                               "overwrite keys already in --out");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (a.count("clients") && a.count("id")) {
    throw UsageError("tdml keys gen takes --clients N (a key ring) or --id ID (one party), not both");
  }
  if (a.count("id") && a.count("out")) return gen_party_key(a);
  if (!a.count("clients") || !a.count("out")) {
    throw UsageError("tdml keys gen needs --clients N (or --id ID) and --out DIR");
  }
  const auto scheme = ledger::parse_scheme(a["sign"].as<std::string>());
  const auto dir = a["out"].as<std::string>();
  const int clients = a["clients"].as<int>();
  ledger::KeyRing::generate(scheme, clients).save(dir, a.count("force") > 0);
  std::cout << "wrote " << ledger::scheme_name(scheme) << " keys for server and " << clients
            << " clients to " << dir << " (public manifest: " << dir << "/keys.json)" << std::endl;
  return 0;
}

int keys_enroll(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Collect clients' public keys (ID.pub.json from tdml keys gen --id) into "
                        "the enrollment a federation server accepts");
  opts.add_options()("out", "enrollment file to write (e.g. enrolled.json)",
                     cxxopts::value<std::string>())(
      "files", "public key files", cxxopts::value<std::vector<std::string>>());
  opts.parse_positional({"files"});
  opts.positional_help("A.pub.json B.pub.json ...");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("out") || !a.count("files")) {
    throw UsageError("tdml keys enroll needs --out FILE and one or more ID.pub.json files");
  }
  const auto out = a["out"].as<std::string>();
  const auto keys = ledger::read_public_keys(a["files"].as<std::vector<std::string>>());
  ledger::write_enrollment(out, keys);
  std::cout << "enrolled " << keys.size() << " clients (" << keys.front().id << " .. "
            << keys.back().id << ") in " << out << std::endl;
  return 0;
}

const app::Registration keys_reg("keys gen", "Generate signing keys for the server and FL clients", gen);
const app::Registration keys_enroll_reg("keys enroll",
                                        "Collect clients' public keys into a server's enrollment",
                                        keys_enroll);

}  // namespace
