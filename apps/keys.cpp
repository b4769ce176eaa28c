// `tdml keys gen`: signing keys for the server and each FL client (see tdml/ledger/keys.h).
#include "tdml/ledger/keys.h"

#include <iostream>
#include <string>

#include "command.h"
#include "tdml/util/error.h"

namespace {
using namespace tdml;

int gen(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Write a secret key (mode 0600) per client and for the server, "
                        "and a public manifest keys.json");
  opts.add_options()("clients", "number of FL clients", cxxopts::value<int>())(
      "out", "key directory (created)", cxxopts::value<std::string>())(
      "sign", "ed25519 (public verification) or hmac (shared secrets)",
      cxxopts::value<std::string>()->default_value("ed25519"))("force",
                                                               "overwrite keys already in --out");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("clients") || !a.count("out")) {
    throw UsageError("tdml keys gen needs --clients N and --out DIR");
  }
  const auto scheme = ledger::parse_scheme(a["sign"].as<std::string>());
  const auto dir = a["out"].as<std::string>();
  const int clients = a["clients"].as<int>();
  ledger::KeyRing::generate(scheme, clients).save(dir, a.count("force") > 0);
  std::cout << "wrote " << ledger::scheme_name(scheme) << " keys for server and " << clients
            << " clients to " << dir << " (public manifest: " << dir << "/keys.json)" << std::endl;
  return 0;
}

const app::Registration reg("keys gen", "Generate signing keys for the server and FL clients", gen);

}  // namespace
