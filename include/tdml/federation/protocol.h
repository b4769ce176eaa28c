#pragma once
// What the parties of a federation sign, and how tensors travel (src/federation/federation.proto
// is the wire format; this header keeps protobuf out of every other file).
//
// A client signs its update claim (ledger/update_signature.h, v2 with the run id):
//   "tdml.update.v2:" + canonical JSON {base_model, client, round, run, samples, update}.
// The server signs a receipt for every update it admitted, once the round's block is in the
// ledger: "tdml.receipt.v1:" + canonical JSON {block, client, round, run, update}.
// A client keeps its receipts, one JSON object a line, in OUT/receipts.jsonl.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/ledger/keys.h"
#include "tdml/ledger/signer.h"
#include "tdml/ledger/update_signature.h"

namespace tdml::federation {

struct Receipt {
  std::string run_id;
  int round = 0;
  std::string client_id;
  std::string update_hash;
  std::int64_t block_index = 0;
  std::string signature;  // hex, by the server's key

  nlohmann::json to_json() const;
  static Receipt from_json(const nlohmann::json& j);  // throws tdml::Error if malformed
};

// The exact bytes the server signs for a receipt.
std::string receipt_message(const Receipt& r);
// Sets r.signature.
void sign_receipt(const ledger::Signer& server, Receipt& r);
bool verify_receipt(const ledger::Verifier& server, const Receipt& r);

// `tdml ledger check-receipt`: the receipt is the server's (server_public: its 32-byte key), the
// ledger verifies from that key alone (ledger/verify.h, the clients' keys from the genesis), and
// block r.block_index of it is round r.round of run r.run_id with an admitted entry (accepted,
// clipped or flagged) of r.client_id for exactly r.update_hash. "" when all holds, else why not.
// Throws tdml::Error only when the ledger cannot be read.
std::string check_receipt(const Receipt& r, const std::string& ledger_path,
                          const std::string& server_public);


// What the server expects of an update in the round it is waiting for.
struct UpdateExpectation {
  std::string run_id;
  int round = 0;
  int attempt = 0;
  std::int64_t params = 0;    // float32 parameters of the model
  std::int64_t buffers = 0;   // float32 buffers of the model
  std::string client_id;      // who sent it (the stream's enrolled client)
  std::string base_model_hash;
  const ledger::KeyRing* keys = nullptr;  // the enrolled public keys; null: no signature check
};

struct WireCheck {
  std::string refused;          // "" when admitted, else why not
  ledger::UpdateClaim claim;    // what the signature was checked against (once parsed)
  std::string signature;        // the signature sent (hex)
};

// The server's checks of what a client sent on its stream (serialized wire::ClientMessages, as
// gRPC hands them over, in order), as the server applies them: each parses (else the stream
// ends); an Update announces exactly the model's parameter and buffer bytes, and its chunks
// follow on from each other up to those bytes; a whole update is for the expected run, round
// and attempt with a sample count >= 1 (NetworkSource's checks; a refused update leaves the
// client waiting for a valid one); the first that passes is the round's, and its signature must
// verify over the claim rebuilt from the bytes received (the round engine's check). `refused`
// says why when nothing was admitted (the last refusal). Never throws, for any bytes.
WireCheck check_client_messages(const std::vector<std::string>& messages,
                                const UpdateExpectation& e);

}  // namespace tdml::federation
