#pragma once
// Tensors on the wire: little-endian float32 bytes (federation.proto).
#include <torch/torch.h>

#include <cstring>
#include <string>

namespace tdml::federation {

// An empty tensor (a model without buffers) has no storage: its data_ptr is null, which
// memcpy must not be given even for 0 bytes (UndefinedBehaviorSanitizer reports it).
inline std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  if (c.numel() == 0) return {};
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * 4);
}

inline torch::Tensor bytes_tensor(const std::string& b) {
  auto t = torch::empty({static_cast<std::int64_t>(b.size() / 4)}, torch::kFloat32);
  if (!b.empty()) std::memcpy(t.data_ptr(), b.data(), b.size());
  return t;
}

}  // namespace tdml::federation
