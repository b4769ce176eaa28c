#include "tdml/ledger/hash.h"

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

std::string model_hash(const models::StateDict& sd) {
  Sha256 h;
  for (const auto& [name, t] : sd) {
    h.update(name);
    update_tensor(h, t);
  }
  return h.hex();
}

std::string config_hash(const nlohmann::json& config) { return sha256_hex(canonical_json(config)); }

}  // namespace tdml::ledger
