#pragma once
// The hashes the ledger records: tensors, state dicts, configs (SHA-256 from util/sha256.h).
// All digests are lowercase hex strings of 64 characters. Functions are thread-safe.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tdml/models/state_dict.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {

// SHA-256 and hex live in util (data and train hash too); the ledger names them as before.
using util::from_hex;
using util::Sha256;
using util::sha256_hex;
using util::to_hex;

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
