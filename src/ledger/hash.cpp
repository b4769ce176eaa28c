#include "tdml/ledger/hash.h"

#include <cstdint>

#include "tdml/ledger/canonical_json.h"
#include "tdml/util/error.h"

namespace tdml::ledger {

namespace {
void update_tensor(Sha256& h, const torch::Tensor& t) {
  // Raw bytes as stored (x86/ARM are little-endian; PyTorch's .numpy().tobytes() agrees).
  auto c = t.detach().to(torch::kCPU).contiguous();
  h.update(c.data_ptr(), c.numel() * c.element_size());
}
}  // namespace

std::string tensor_hash(const torch::Tensor& t) {
  Sha256 h;
  update_tensor(h, t);
  return h.hex();
}

namespace {
// PyTorch's dtype name without "torch." (str(t.dtype)[6:] in Python).
std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "float32";
    case torch::kDouble:
      return "float64";
    case torch::kHalf:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kLong:
      return "int64";
    case torch::kInt:
      return "int32";
    case torch::kShort:
      return "int16";
    case torch::kChar:
      return "int8";
    case torch::kByte:
      return "uint8";
    case torch::kBool:
      return "bool";
    default:
      throw Error(std::string("model hash: unsupported dtype ") + c10::toString(t));
  }
}

void update_u64(Sha256& h, std::uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  h.update(b, sizeof b);
}

void update_string(Sha256& h, const std::string& s) {
  update_u64(h, s.size());
  h.update(s);
}
}  // namespace

std::string model_hash(const models::StateDict& sd) {
  Sha256 h;
  h.update(kModelHashDomain);
  update_u64(h, sd.size());
  for (const auto& [name, t] : sd) {
    update_string(h, name);
    update_string(h, dtype_name(t.scalar_type()));
    update_u64(h, static_cast<std::uint64_t>(t.dim()));
    for (auto d : t.sizes()) update_u64(h, static_cast<std::uint64_t>(d));
    update_u64(h, static_cast<std::uint64_t>(t.numel() * t.element_size()));
    update_tensor(h, t);
  }
  return h.hex();
}

models::StateDict floating_entries(const models::StateDict& sd) {
  models::StateDict out;
  for (const auto& e : sd) {
    if (e.second.is_floating_point()) out.push_back(e);
  }
  return out;
}

std::string config_hash(const nlohmann::json& config) { return sha256_hex(canonical_json(config)); }

}  // namespace tdml::ledger
