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

// The model hash (encoding v2, docs/ledger.md): SHA-256 over the domain tag "tdml.model.v2\n",
// the entry count, then for each entry in order: its name (UTF-8), its dtype as PyTorch names it
// without "torch." ("float32", "int64", ...), its dimension count, each dimension, its byte
// length and its raw little-endian bytes (as in tensor_hash). Every count, length and dimension
// is an unsigned 64-bit little-endian integer and every string is preceded by its byte length,
// so no two different state dicts share an encoding. scripts/ledger/verify_ledger.py
// (model_hash) computes the same in Python. Unsupported dtypes (complex, ...): tdml::Error.
inline constexpr std::string_view kModelHashDomain = "tdml.model.v2\n";
std::string model_hash(const models::StateDict& sd);

// The floating-point entries of `sd` in order (parameters and BatchNorm running statistics,
// without integer counters such as num_batches_tracked): what a federated global model is
// (fl/model_hash.h), so model_hash(floating_entries(sd)) is an FL block's model hash.
models::StateDict floating_entries(const models::StateDict& sd);

// SHA-256 of the canonical JSON of a configuration (see canonical_json.h).
std::string config_hash(const nlohmann::json& config);

}  // namespace tdml::ledger
