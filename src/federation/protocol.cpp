#include "tdml/federation/protocol.h"

#include <fstream>

#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/verify.h"
#include "tdml/util/error.h"

#include <limits>

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
    // Integers only: a float (1e300) converted to int is undefined behaviour (found by the
    // receipt fuzz target).
    const auto& round = j.at("round");
    if (!round.is_number_integer() || round.get<std::int64_t>() < 0 ||
        round.get<std::int64_t>() > std::numeric_limits<int>::max() ||
        !j.at("block_index").is_number_integer()) {
      throw Error("malformed receipt: round and block_index must be non-negative integers");
    }
    r.round = round.get<int>();
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

std::string check_receipt(const Receipt& r, const std::string& ledger_path,
                          const std::string& server_public) {
  const auto server = ledger::make_ed25519_verifier(ledger::kServerKeyId, server_public);
  if (!verify_receipt(*server, r)) return "the receipt's signature is not the server's";
  ledger::KeyRing keys(ledger::Scheme::kEd25519);
  keys.add(ledger::kServerKeyId, "", server_public);
  ledger::VerifyOptions vo;
  vo.keys = &keys;
  vo.keys_from_genesis = true;
  const auto report = ledger::verify_ledger(ledger_path, vo);
  if (!report.ok) return "the ledger does not verify: " + report.summary();
  if (report.run_id != r.run_id) return "the ledger is of another run than the receipt";
  std::ifstream in(ledger_path);
  std::string line;
  for (std::int64_t k = 0; k <= r.block_index && std::getline(in, line); ++k) {
  }
  if (r.block_index < 0 || r.block_index >= report.blocks) {
    return "the ledger has no block " + std::to_string(r.block_index);
  }
  const auto block = nlohmann::json::parse(line);
  if (block.value("round", -1) != r.round) {
    return "block " + std::to_string(r.block_index) + " is not round " + std::to_string(r.round);
  }
  for (const auto& e : block.value("clients", nlohmann::json::array())) {
    if (e.value("id", "") != r.client_id) continue;
    const auto status = e.value("status", "");
    if (e.value("update_hash", "") != r.update_hash) {
      return "the block records another update of " + r.client_id + " than the receipt";
    }
    if (status != "accepted" && status != "clipped" && status != "flagged") {
      return "the block records " + r.client_id + "'s update as " + status;
    }
    return "";
  }
  return "block " + std::to_string(r.block_index) + " has no entry for " + r.client_id;
}

}  // namespace tdml::federation
