#include "federation/wire_check.h"

#include "tdml/ledger/hash.h"
#include "tdml/ledger/update_signature.h"

namespace tdml::federation {

std::string check_update_sizes(const wire::Update& u, std::int64_t params, std::int64_t buffers) {
  if (u.update_bytes() != params * 4) {
    return "update of " + std::to_string(u.update_bytes()) + " bytes (the model has " +
           std::to_string(params * 4) + ")";
  }
  if (u.buffers_bytes() != buffers * 4) {
    return "buffers of " + std::to_string(u.buffers_bytes()) + " bytes (the model has " +
           std::to_string(buffers * 4) + ")";
  }
  return "";
}

std::string check_update(const wire::Update& u, const UpdateExpectation& e) {
  if (u.run_id() != e.run_id) return "update for another run";
  if (u.round() != e.round || u.attempt() != e.attempt) return "update for another round";
  if (auto why = check_update_sizes(u, e.params, e.buffers); !why.empty()) return why;
  if (u.samples() < 1) return "sample count " + std::to_string(u.samples());
  return "";
}

UpdateReader::Step UpdateReader::read(const wire::ClientMessage& m) {
  if (m.has_update()) {
    chunks_.reset();
    update_ = m.update();
    why_ = check_update_sizes(update_, params_, buffers_);
    if (!why_.empty()) return Step::kRefused;
    chunks_ = ChunkAssembler({update_.update_bytes(), update_.buffers_bytes()});
  } else if (m.has_chunk()) {
    if (!chunks_.active()) return Step::kMore;  // of a refused update (or stray): dropped
    why_ = chunks_.add(m.chunk().offset(), m.chunk().data());
    if (!why_.empty()) return Step::kRefused;
  } else {
    return Step::kUnexpected;
  }
  if (!chunks_.complete()) return Step::kMore;
  auto parts = chunks_.take();
  update_tensor_ = parts[0];
  buffers_tensor_ = parts[1];
  return Step::kComplete;
}

WireCheck check_client_messages(const std::vector<std::string>& messages,
                                const UpdateExpectation& e) {
  // As NetworkSource reads a stream: a refused update leaves the client waiting, and the first
  // whole update that passes the checks is the one the round takes.
  WireCheck out;
  out.refused = "no complete update";
  UpdateReader reader(e.params, e.buffers);
  for (const auto& bytes : messages) {
    wire::ClientMessage m;
    if (!m.ParseFromString(bytes)) {
      out.refused = "not a client message";
      return out;  // gRPC ends the stream
    }
    const auto step = reader.read(m);
    if (step == UpdateReader::Step::kRefused) out.refused = reader.why();
    if (step != UpdateReader::Step::kComplete) continue;
    const auto& u = reader.update();
    if (auto why = check_update(u, e); !why.empty()) {
      out.refused = why;
      continue;
    }
    // What the round engine then checks (fl/ledger_hooks.cpp admit): the client's signature
    // over its claim, with the update hash computed from the bytes received.
    ledger::UpdateClaim claim;
    claim.client_id = e.client_id;
    claim.round = e.round;
    claim.samples = u.samples();
    claim.update_hash = ledger::tensor_hash(reader.update_tensor());
    claim.base_model_hash = e.base_model_hash;
    claim.run_id = e.run_id;
    out.claim = claim;
    out.signature = u.signature();
    out.refused.clear();
    if (e.keys && !ledger::verify_update_signature(*e.keys, claim, u.signature())) {
      out.refused = u.signature().empty() ? "missing signature" : "bad signature";
    }
    return out;
  }
  return out;
}

}  // namespace tdml::federation
