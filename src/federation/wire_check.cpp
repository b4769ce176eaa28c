#include "federation/wire_check.h"

#include "tdml/ledger/hash.h"
#include "tdml/ledger/update_signature.h"
#include "federation/tensor_bytes.h"

namespace tdml::federation {

std::string check_update(const wire::Update& u, const UpdateExpectation& e) {
  if (u.run_id() != e.run_id) return "update for another run";
  if (u.round() != e.round || u.attempt() != e.attempt) return "update for another round";
  if (static_cast<std::int64_t>(u.update().size()) != e.params * 4) {
    return "update of " + std::to_string(u.update().size()) + " bytes (the model has " +
           std::to_string(e.params * 4) + ")";
  }
  if (static_cast<std::int64_t>(u.buffers().size()) != e.buffers * 4) {
    return "buffers of " + std::to_string(u.buffers().size()) + " bytes (the model has " +
           std::to_string(e.buffers * 4) + ")";
  }
  if (u.samples() < 1) return "sample count " + std::to_string(u.samples());
  return "";
}

WireCheck check_client_message(const std::string& bytes, const UpdateExpectation& e) {
  WireCheck out;
  wire::ClientMessage m;
  if (!m.ParseFromString(bytes)) {
    out.refused = "not a client message";
    return out;
  }
  if (!m.has_update()) {
    out.refused = "not an update";
    return out;
  }
  const auto& u = m.update();
  out.refused = check_update(u, e);
  if (!out.refused.empty()) return out;
  // What the round engine then checks (fl/ledger_hooks.cpp admit): the client's signature over
  // its claim, with the update hash computed from the bytes received.
  ledger::UpdateClaim claim;
  claim.client_id = e.client_id;
  claim.round = e.round;
  claim.samples = u.samples();
  claim.update_hash = ledger::tensor_hash(bytes_tensor(u.update()));
  claim.base_model_hash = e.base_model_hash;
  claim.run_id = e.run_id;
  out.claim = claim;
  out.signature = u.signature();
  if (e.keys && !ledger::verify_update_signature(*e.keys, claim, u.signature())) {
    out.refused = u.signature().empty() ? "missing signature" : "bad signature";
  }
  return out;
}

}  // namespace tdml::federation
