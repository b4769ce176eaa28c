#include "tdml/ledger/signer.h"

#include <openssl/rand.h>

#include "tdml/util/error.h"

namespace tdml::ledger {

std::string scheme_name(Scheme s) { return s == Scheme::kEd25519 ? "ed25519" : "hmac"; }

Scheme parse_scheme(const std::string& name) {
  if (name == "ed25519") return Scheme::kEd25519;
  if (name == "hmac") return Scheme::kHmac;
  throw UsageError("unknown signature scheme '" + name + "' (use ed25519 or hmac)");
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  TDML_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1,
             "OpenSSL: RAND_bytes failed (no entropy?)");
  return out;
}

}  // namespace tdml::ledger
