// Fuzz target: key files (ledger/key_files.h, ledger/keys.h). Input: the bytes of a file given as
// each kind of key file in turn: a secret key ID.key (mode 0600), a public key ID.pub.json, an
// enrollment enrolled.json and a key ring manifest DIR/keys.json.
//
// Properties: each reader returns or throws tdml::Error; what it returns is well-formed (a valid id
// and a 32-byte key).
#include <cstdint>

#include "fuzz_support.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/keys.h"

namespace {

void check_key(const std::string& id, const std::string& key) {
  FUZZ_CHECK(tdml::ledger::valid_key_id(id), id.c_str());
  FUZZ_CHECK(key.size() == 32, id.c_str());
}

}  // namespace

TDML_FUZZ_TARGET(key_files) {
  namespace fz = tdml::fuzz;
  namespace ledger = tdml::ledger;
  static const std::string dir = fz::scratch_subdir("keys");
  static const std::string ring_dir = fz::scratch_subdir("ring");

  const std::string secret = fz::write_bytes(dir + "/party.key", data, size, 0600);
  tdml::fuzz::accepts([&] {
    const auto k = ledger::read_secret_key(secret);
    check_key(k.id, k.secret);
  });
  const std::string pub = fz::write_bytes(dir + "/party.pub.json", data, size);
  tdml::fuzz::accepts([&] {
    const auto k = ledger::read_public_key(pub);
    check_key(k.id, k.public_key);
  });
  const std::string enrolled = fz::write_bytes(dir + "/enrolled.json", data, size);
  tdml::fuzz::accepts([&] {
    for (const auto& k : ledger::read_enrollment(enrolled)) check_key(k.id, k.public_key);
  });
  fz::write_bytes(ring_dir + "/keys.json", data, size);
  tdml::fuzz::accepts([&] {
    const auto ring = ledger::KeyRing::load(ring_dir);
    for (const auto& id : ring.ids()) {
      ring.verifier(id);
      FUZZ_CHECK(ring.has(id), id.c_str());
    }
  });
  return 0;
}
