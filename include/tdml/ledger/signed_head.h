#pragma once
// A signed tree head (RFC 9162 style): what the ledger's server vouches for after every block,
// in the head file next to the ledger (ledger.h head_path) and in every proof.
//   {"hash":<last block hash>,"index":<last block index>,"root":<Merkle root, hex>,
//    "run_id":<the run>,"sig":<hex>,"size":<blocks>,"time":<UTC ISO-8601>}
// sig = the server key's signature of "tdml.head.v2:" + canonical JSON of every field but sig.
// The Merkle tree's leaves are the ledger's lines (merkle.h: leaf = SHA-256(0x00 || line)).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/ledger/signer.h"

namespace tdml::ledger {

struct SignedHead {
  std::string run_id;       // genesis run id ("" for a ledger without one)
  std::int64_t size = 0;    // blocks covered
  std::string root;         // Merkle root of those blocks (64 lower-case hex)
  std::int64_t index = -1;  // size - 1
  std::string hash;         // hash of block `index`
  std::string time;         // when it was signed
  std::string sig;          // hex

  // The signed message (every field but sig).
  std::string message() const;
  void sign(const Signer& server);
  bool verify(const Verifier& server) const;  // never throws
  nlohmann::json to_json() const;
  // Throws tdml::Error naming the missing or malformed field (sizes, lower-case hex).
  static SignedHead from_json(const nlohmann::json& j);
  // Reads a head file (or a head given as the JSON text itself); throws tdml::Error.
  static SignedHead read(const std::string& path);
};

}  // namespace tdml::ledger
