#pragma once
// SHA-256 (OpenSSL EVP) and the hashes the ledger records: bytes, tensors, state dicts, configs.
// All digests are lowercase hex strings of 64 characters. Functions are thread-safe; a Sha256
// object is not (one owner).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tdml/models/state_dict.h"

namespace tdml::ledger {

// Incremental SHA-256: update() any number of times, then hex() or digest() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The 32-byte digest; the object cannot be updated afterwards.
  std::string digest();
  std::string hex() { return to_hex(digest()); }

  static std::string to_hex(std::string_view bytes);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// SHA-256 of `bytes` as lowercase hex.
std::string sha256_hex(std::string_view bytes);

// Hex <-> bytes. from_hex throws tdml::Error on odd length or a non-hex character (naming `what`).
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex, const std::string& what = "hex string");

// SHA-256 of a tensor's raw bytes: contiguous, on the CPU, in native (little-endian) order.
std::string tensor_hash(const torch::Tensor& t);

// The model hash: SHA-256 over, for each entry in order, its name (UTF-8) then its raw bytes as
// in tensor_hash. Python computes the same with
//   h = hashlib.sha256()
//   for k, v in sd.items(): h.update(k.encode()); h.update(v.detach().cpu().contiguous()
//                                                          .numpy().tobytes())
// Also used for FL updates (the "update hash" a client signs).
std::string model_hash(const models::StateDict& sd);

// SHA-256 of the canonical JSON of a configuration (see canonical_json.h).
std::string config_hash(const nlohmann::json& config);

}  // namespace tdml::ledger
