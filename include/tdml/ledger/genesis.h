#pragma once
// Block 0 of a ledger (kind "genesis"): what an auditor pins the rest of the run to.
//   run_id        128 random bits (32 lower-case hex): in every later block, every client claim,
//                 receipt and head, so nothing is replayed across runs
//   run_kind      "fl" | "train"
//   trust         "federation": each party made and holds its own key (the server only public
//                 keys); "simulation": one operator made and held every key, so a client's
//                 signature proves nothing against the operator (verify says so)
//   config_hash   config_hash() of the run's configuration
//   data_hash     SHA-256 of the data manifest (the shards' manifest.json; "" when none)
//   tdml_version  the writer's version
//   keys          [{"id","public","fingerprint"}]: the server first, then every enrolled
//                 client (ed25519: public key hex and SHA-256 of it; hmac: ids only)
// The genesis is signed like every block (the server key), so a verifier who pins the server's
// public key gets every client's key from it.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/ledger/keys.h"

namespace tdml::ledger {

inline constexpr const char kGenesisKind[] = "genesis";

struct GenesisKey {
  std::string id;
  std::string public_key;  // 32 raw bytes (empty for hmac)
};

struct Genesis {
  std::string run_id;
  std::string run_kind = "fl";
  std::string trust = "simulation";
  // How the parties talked: "grpc-tls", "grpc-mtls" or "grpc-insecure" (plaintext, loopback
  // tests only) for a federation; "" where no network was involved (then not written).
  std::string transport;
  std::string config_hash;
  std::string data_hash;
  std::vector<GenesisKey> keys;  // server first

  nlohmann::json to_json() const;  // the block body (the ledger adds index, hash, ...)
  // Throws tdml::Error naming what is malformed.
  static Genesis from_json(const nlohmann::json& body);
  // The public key of `id` (raw), or "" when the genesis does not list it.
  std::string public_key(const std::string& id) const;
};

// 128 random bits as 32 lower-case hex digits.
std::string new_run_id();

// The key list of a key ring: "server" first, then the others in natural id order.
std::vector<GenesisKey> genesis_keys(const KeyRing& keys);

}  // namespace tdml::ledger
