#include "tdml/federation/protocol.h"

#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/util/error.h"

namespace tdml::federation {

nlohmann::json Receipt::to_json() const {
  return {{"run_id", run_id},           {"round", round},
          {"client", client_id},        {"update_hash", update_hash},
          {"block_index", block_index}, {"signature", signature}};
}

Receipt Receipt::from_json(const nlohmann::json& j) {
  try {
    Receipt r;
    r.run_id = j.at("run_id").get<std::string>();
    r.round = j.at("round").get<int>();
    r.client_id = j.at("client").get<std::string>();
    r.update_hash = j.at("update_hash").get<std::string>();
    r.block_index = j.at("block_index").get<std::int64_t>();
    r.signature = j.at("signature").get<std::string>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed receipt: ") + e.what());
  }
}

std::string receipt_message(const Receipt& r) {
  const nlohmann::json j = {{"block", r.block_index},
                            {"client", r.client_id},
                            {"round", r.round},
                            {"run", r.run_id},
                            {"update", r.update_hash}};
  return "tdml.receipt.v1:" + ledger::canonical_json(j);
}

void sign_receipt(const ledger::Signer& server, Receipt& r) {
  r.signature = ledger::to_hex(server.sign(receipt_message(r)));
}

bool verify_receipt(const ledger::Verifier& server, const Receipt& r) {
  std::string sig;
  try {
    sig = ledger::from_hex(r.signature);
  } catch (const Error&) {
    return false;
  }
  return server.verify(receipt_message(r), sig);
}

}  // namespace tdml::federation
