// Fuzz target: canonical JSON (ledger/canonical_json.h), the encoding every ledger hash and
// signature is computed over. Input: any bytes, parsed as JSON the way the ledger parses a line.
//
// Properties: encoding what the parser accepts never fails except with tdml::Error; the encoding
// parses back to an equal value and re-encodes to the same bytes (one spelling per value);
// python_float_repr round-trips every finite double.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "tdml/ledger/canonical_json.h"

namespace {

// Python's encoder writes NaN/Infinity, which JSON (and nlohmann's parser) has no spelling for.
bool has_non_finite(const nlohmann::json& j) {
  if (j.is_number_float()) return !std::isfinite(j.get<double>());
  if (j.is_structured()) {
    for (const auto& e : j) {
      if (has_non_finite(e)) return true;
    }
  }
  return false;
}

void check_float_repr(const std::uint8_t* data, std::size_t size) {
  if (size < sizeof(double)) return;
  double x;
  std::memcpy(&x, data, sizeof x);
  const std::string s = tdml::ledger::python_float_repr(x);
  if (!std::isfinite(x)) return;
  const double back = std::strtod(s.c_str(), nullptr);
  FUZZ_CHECK(std::memcmp(&back, &x, sizeof x) == 0, s.c_str());
}

}  // namespace

TDML_FUZZ_TARGET(canonical_json) {
  check_float_repr(data, size);
  const nlohmann::json value = nlohmann::json::parse(data, data + size, nullptr, false);
  if (value.is_discarded()) return 0;
  std::string once;
  if (!tdml::fuzz::accepts([&] { once = tdml::ledger::canonical_json(value); })) return 0;
  const nlohmann::json back = nlohmann::json::parse(once, nullptr, false);
  if (back.is_discarded()) {
    FUZZ_CHECK(has_non_finite(value), once.c_str());
    return 0;
  }
  FUZZ_CHECK(back == value, once.c_str());
  FUZZ_CHECK(tdml::ledger::canonical_json(back) == once, once.c_str());
  return 0;
}
