#pragma once
// What an FL client signs about its update, and the server-side check before aggregation.
//
// The signed message is "tdml.update.v1:" + canonical JSON of
//   {"base_model":<hash of the global model the client started from>,"client":<id>,
//    "round":<round>,"samples":<sample count>,"update":<SHA-256 of the update's bytes>}
// so a signature cannot be replayed for another round, client, base model or sample count.
// A federation's claims also carry its run id ("run", message prefix "tdml.update.v2:"), so a
// signature cannot be replayed into another run either.
#include <cstdint>
#include <string>

#include "tdml/ledger/keys.h"

namespace tdml::ledger {

struct UpdateClaim {
  std::string client_id;        // key id, e.g. "client-3"
  std::int64_t round = 0;       // FL round (as recorded in the ledger block)
  std::int64_t samples = 0;     // training samples behind the update
  std::string update_hash;      // model_hash() of the update tensors (hex)
  std::string base_model_hash;  // model_hash() of the global model the client started from
  std::string run_id;           // the federation's run id ("" = v1 claim without one)
};

// The exact bytes that are signed.
std::string update_message(const UpdateClaim& claim);

// The client's signature of its claim, as hex (what ClientEntry::signature holds).
std::string sign_update(const Signer& client_signer, const UpdateClaim& claim);

// Server side: true only when `signature_hex` is a valid signature of `claim` by the key
// claim.client_id in `keys`. False (never throws) for an empty or malformed signature, an
// unknown client, a missing secret (hmac) or a signature by any other key.
bool verify_update_signature(const KeyRing& keys, const UpdateClaim& claim,
                             const std::string& signature_hex);

}  // namespace tdml::ledger
