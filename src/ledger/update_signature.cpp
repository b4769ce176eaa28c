#include "tdml/ledger/update_signature.h"

#include <nlohmann/json.hpp>

#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/util/error.h"

namespace tdml::ledger {

std::string update_message(const UpdateClaim& claim) {
  nlohmann::json j = {{"base_model", claim.base_model_hash},
                      {"client", claim.client_id},
                      {"round", claim.round},
                      {"samples", claim.samples},
                      {"update", claim.update_hash}};
  if (claim.run_id.empty()) return "tdml.update.v1:" + canonical_json(j);
  j["run"] = claim.run_id;
  return "tdml.update.v2:" + canonical_json(j);
}

std::string sign_update(const Signer& client_signer, const UpdateClaim& claim) {
  if (client_signer.key_id() != claim.client_id) {
    throw Error("key " + client_signer.key_id() + " cannot sign the update of " + claim.client_id);
  }
  return to_hex(client_signer.sign(update_message(claim)));
}

bool verify_update_signature(const KeyRing& keys, const UpdateClaim& claim,
                             const std::string& signature_hex) {
  if (signature_hex.empty()) return false;
  auto verifier = keys.verifier(claim.client_id);
  if (!verifier) return false;
  std::string sig;
  try {
    sig = from_hex(signature_hex);
  } catch (const Error&) {
    return false;
  }
  return verifier->verify(update_message(claim), sig);
}

}  // namespace tdml::ledger
