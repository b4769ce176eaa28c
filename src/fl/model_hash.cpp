#include "tdml/fl/model_hash.h"

#include <unordered_map>
#include <utility>

#include "tdml/ledger/hash.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"

namespace tdml::fl {

GlobalModelHash::GlobalModelHash(const torch::nn::Module& m) {
  // Where each tensor sits in the flat vectors: parameters and floating buffers in registration
  // order (FlatLayout), keyed by storage (state_dict's tensors share the module's).
  std::unordered_map<const void*, std::pair<bool, std::int64_t>> where;
  for (const auto& p : m.parameters(/*recurse=*/true)) {
    where[p.data_ptr()] = {false, params_};
    params_ += p.numel();
  }
  for (const auto& b : m.buffers(/*recurse=*/true)) {
    if (!b.is_floating_point()) continue;
    where[b.data_ptr()] = {true, buffers_};
    buffers_ += b.numel();
  }
  for (const auto& [name, t] : ledger::floating_entries(models::state_dict(m))) {
    auto it = where.find(t.data_ptr());
    TDML_CHECK(it != where.end(), "global model hash: " << name << " is not in the flat layout");
    entries_.push_back({name, it->second.first, it->second.second, t.sizes().vec()});
  }
}

std::string GlobalModelHash::operator()(const torch::Tensor& params,
                                        const torch::Tensor& buffers) const {
  TDML_CHECK(params.numel() == params_ && buffers.numel() == buffers_,
             "global model hash: got " << params.numel() << " parameters and " << buffers.numel()
                                       << " buffer values, the model has " << params_ << " and "
                                       << buffers_);
  const auto p = params.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const auto b = buffers.detach().to(torch::kCPU, torch::kFloat).contiguous();
  models::StateDict sd;
  sd.reserve(entries_.size());
  for (const auto& e : entries_) {
    const auto& flat = e.buffer ? b : p;
    std::int64_t n = 1;
    for (auto d : e.shape) n *= d;
    sd.emplace_back(e.name, flat.narrow(0, e.offset, n).view(e.shape));
  }
  return ledger::model_hash(sd);
}

}  // namespace tdml::fl
