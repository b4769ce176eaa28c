// Fuzz target: a federation receipt as a client reads it from its receipts.jsonl or from the
// server's stream (federation/protocol.h: Receipt::from_json, verify_receipt). Input: any bytes,
// parsed as JSON.
//
// Properties: from_json returns or throws tdml::Error; a receipt that parses re-encodes to
// JSON that parses back to the same receipt; verify_receipt never throws, and accepts a receipt
// only when its signature is exactly the server's signature of its fields (Ed25519 signatures
// are deterministic): no other bytes pass as the server's word.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "ledger_keys.h"
#include "tdml/federation/protocol.h"
#include "tdml/ledger/signer.h"

TDML_FUZZ_TARGET(receipt) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  tdml::federation::Receipt r;
  if (!tdml::fuzz::accepts([&] { r = tdml::federation::Receipt::from_json(j); })) return 0;
  tdml::federation::Receipt back;
  FUZZ_CHECK(tdml::fuzz::accepts([&] { back = tdml::federation::Receipt::from_json(r.to_json()); }),
             "a parsed receipt does not parse back");
  FUZZ_CHECK(back.to_json() == r.to_json(), "a receipt changed through JSON");
  const auto& keys = tdml::fuzz::seed_keys();
  const auto server = keys.signer(tdml::ledger::kServerKeyId);
  bool valid = false;
  try {
    valid = tdml::federation::verify_receipt(*server, r);
  } catch (...) {
    FUZZ_CHECK(false, "verify_receipt threw");
  }
  if (valid) {
    auto resigned = r;
    tdml::federation::sign_receipt(*server, resigned);
    FUZZ_CHECK(resigned.signature == r.signature, "a receipt verified that the server never signed");
  }
  return 0;
}
