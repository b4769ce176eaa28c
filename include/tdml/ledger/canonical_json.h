#pragma once
// Canonical JSON: byte-identical to Python's
//   json.dumps(obj, sort_keys=True, separators=(",", ":"))            (ensure_ascii=True)
// which is what the study's json_dumps_canonical writes, so hashes of records agree between
// tdml and Python. Rules: keys sorted by code point, no whitespace, non-ASCII and control
// characters escaped as \uXXXX (lowercase hex, surrogate pairs above U+FFFF), floats as Python's
// repr (shortest round-trip: 0.1, 1.0, 1e-06, 1e+16, -0.0; NaN/Infinity/-Infinity as Python).
// Thread-safe (pure functions).
#include <nlohmann/json.hpp>
#include <string>

namespace tdml::ledger {

// Serializes `value`. Throws tdml::Error on a string that is not valid UTF-8 or on binary values.
std::string canonical_json(const nlohmann::json& value);

// Python's repr(float(x)): "0.1", "1.0", "1e-06", "1.5e+300", "nan" -> "NaN" (json spelling),
// "inf" -> "Infinity", "-inf" -> "-Infinity".
std::string python_float_repr(double x);

}  // namespace tdml::ledger
