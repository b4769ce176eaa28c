#pragma once
// For the checkpoint fuzz targets: a loaded tensor must view only bytes of its own storage (a
// view past its end would read, and copy_ would write from, memory that is not the file's).
#include <torch/torch.h>

#include <string>

#include "fuzz_support.h"
#include "tdml/models/state_dict.h"

namespace tdml::fuzz {

inline void check_tensor_in_bounds(const std::string& name, const torch::Tensor& t) {
  FUZZ_CHECK(t.defined(), name.c_str());
  FUZZ_CHECK(t.storage_offset() >= 0, name.c_str());
  if (t.numel() == 0) return;
  // The largest element offset the view reaches, in elements from the storage's start.
  // Overflow of that offset counts as out of bounds.
  std::int64_t last = t.storage_offset(), step = 0, bytes = 0;
  bool overflow = false;
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    FUZZ_CHECK(t.size(d) >= 0 && t.stride(d) >= 0, name.c_str());
    overflow |= __builtin_mul_overflow(t.size(d) - 1, t.stride(d), &step);
    overflow |= __builtin_add_overflow(last, step, &last);
  }
  overflow |= __builtin_add_overflow(last, 1, &last);
  overflow |= __builtin_mul_overflow(last, static_cast<std::int64_t>(t.element_size()), &bytes);
  FUZZ_CHECK(!overflow, name.c_str());
  FUZZ_CHECK(bytes <= static_cast<std::int64_t>(t.storage().nbytes()), name.c_str());
}

inline void check_tensors_in_bounds(const models::StateDict& sd) {
  for (const auto& [name, t] : sd) check_tensor_in_bounds(name, t);
}

}  // namespace tdml::fuzz
