#pragma once
// For the ledger fuzz targets: the keys of the seed ledgers in fuzz/corpus/ledger/ (made by
// `tdml keys gen --clients 2` for fuzzing only; they sign nothing else), and the seed ledger
// the head target checks heads against.
#include <memory>
#include <string>

#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"

namespace tdml::fuzz {

inline constexpr char kServerSecretHex[] =
    "bdf04b7b8f09289a0fa98f9221553606e72cd46c4796d837a322017c89f332eb";
inline constexpr const char* kClientPublicHex[] = {
    "6438051717cd4787b46969479de92bc7fbd552e6a8cd4825da50603a1313b8db",
    "30d8957da5d9c9a2ddfd0f845649a35b7497c0d1d67d86bc8545304237fb70c7"};

// The server's key pair and the clients' public keys.
inline const ledger::KeyRing& seed_keys() {
  static const ledger::KeyRing ring = [] {
    ledger::KeyRing r(ledger::Scheme::kEd25519);
    r.add(ledger::kServerKeyId, ledger::from_hex(kServerSecretHex));
    int k = 0;
    for (const char* pub : kClientPublicHex) {
      r.add(ledger::client_key_id(k++), "", ledger::from_hex(pub));
    }
    return r;
  }();
  return ring;
}

inline std::shared_ptr<const ledger::Signer> seed_server_signer() {
  return seed_keys().signer(ledger::kServerKeyId);
}

// A complete, signed FL ledger (2 rounds) from `tdml fl --ledger` with seed_keys().
inline std::string seed_ledger_path() { return TDML_FUZZ_DIR "/corpus/ledger/fl_2rounds.jsonl"; }

}  // namespace tdml::fuzz
